//! systemd `EnvironmentFile=` values.

/// A value for an environment file: single quotes keep it literal; double
/// quotes, with `\ " $ \`` escaped, when it holds a single quote.
pub fn value(value: &str) -> String {
    if !value.contains('\'') {
        return format!("'{value}'");
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_literal() {
        assert_eq!(value("plain"), "'plain'");
        assert_eq!(value("a $HOME `x` \"q\""), "'a $HOME `x` \"q\"'");
        assert_eq!(value("it's $x"), "\"it's \\$x\"");
        assert_eq!(value(""), "''");
    }
}
