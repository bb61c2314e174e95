//! systemd `EnvironmentFile=` values.

/// A value for an environment file: single quotes keep it literal; double
/// quotes, with `\ " $ \`` escaped, when it holds a single quote. An env
/// file has no way to write a line break or another control character
/// (tabs aside): such a value is refused.
pub fn value(value: &str) -> Result<String, String> {
    if value
        .chars()
        .any(|c| (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err("an environment file value must be one line without control characters".into());
    }
    if !value.contains('\'') {
        return Ok(format!("'{value}'"));
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_literal() {
        assert_eq!(value("plain").unwrap(), "'plain'");
        assert_eq!(value("a $HOME `x` \"q\"").unwrap(), "'a $HOME `x` \"q\"'");
        assert_eq!(value("it's $x").unwrap(), "\"it's \\$x\"");
        assert_eq!(value("").unwrap(), "''");
        assert!(value("a\nB=1").is_err());
    }
}
