//! Quoting for every value that reaches a remote shell.

/// `value` as one POSIX shell word, whatever it holds (spaces, quotes, `$()`,
/// newlines): single-quoted, with embedded single quotes spliced in.
pub fn quote(value: &str) -> String {
    shell_words::quote(value).into_owned()
}

#[cfg(test)]
mod tests {
    use super::quote;
    use std::process::Command;

    /// Each value survives a real shell unchanged.
    #[test]
    fn values_survive_a_real_shell() {
        let values = [
            "plain",
            "with space",
            "it's",
            "\"double\"",
            "$(reboot)",
            "`id`",
            "$HOME ${PATH}",
            "line\nbreak",
            "back\\slash",
            "semi;colon && or || pipe | amp &",
            "glob * ? [a]",
            "",
            "-n",
            "tab\there",
            "ünïcødé",
        ];
        for value in values {
            let script = format!("printf '%s' {}", quote(value));
            let out = Command::new("sh").args(["-c", &script]).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), value, "{script}");
        }
    }
}
