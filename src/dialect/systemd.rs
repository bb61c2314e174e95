//! systemd unit files: the words of a command line (`ExecStart=`).

/// One argument of a systemd command line: `%` and `$` doubled (specifiers and
/// variables are expanded even inside quotes), quoted when it holds anything
/// the splitter would act on, and inside the quotes `\\` and `"` escaped and
/// control characters written as C escapes (`\\x0d`), which systemd
/// unescapes: no value can end the line.
pub fn word(word: &str) -> String {
    let literal = word.replace('%', "%%").replace('$', "$$");
    let plain = !literal.is_empty()
        && literal
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%$".contains(c));
    if plain {
        return literal;
    }
    let mut quoted = String::from("\"");
    for c in literal.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                let mut bytes = [0; 4];
                for b in c.encode_utf8(&mut bytes).bytes() {
                    quoted.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_literal() {
        assert_eq!(word("server.js"), "server.js");
        assert_eq!(word("--max-old-space-size=512"), "--max-old-space-size=512");
        assert_eq!(word("a b"), "\"a b\"");
        assert_eq!(word("100%"), "100%%");
        assert_eq!(word("$HOME"), "$$HOME");
        assert_eq!(word("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(word("back\\slash"), "\"back\\\\slash\"");
        assert_eq!(word("$(id)"), "\"$$(id)\"");
        assert_eq!(word(""), "\"\"");
        assert_eq!(word("a\r\nUser=root"), "\"a\\x0d\\x0aUser=root\"");
    }
}
