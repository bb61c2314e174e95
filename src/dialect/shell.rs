//! Scripts run by bash on a host: every value becomes one quoted word, and
//! content travels base64-encoded, so nothing in it can end a here-document.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// `value` as one POSIX shell word, whatever it holds (spaces, quotes, `$()`,
/// newlines): single-quoted, with embedded single quotes spliced in.
pub fn quote(value: &str) -> String {
    shell_words::quote(value).into_owned()
}

/// `bytes` random bytes, in hex: tokens and markers no input can predict.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the system's random source answers");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// A marker to end a quoted here-document carrying `content`: random, so no
/// content written before it was made can hold it, and checked all the same.
pub fn heredoc_marker(content: &str) -> String {
    loop {
        let marker = format!("DEPLOYER_EOF_{}", random_hex(16));
        if !content.lines().any(|line| line == marker) {
            return marker;
        }
    }
}

/// Ends the here-documents that carry [`base64_lines`]: `_` is not in
/// base64's alphabet, so no content can end one early.
pub const BASE64_END: &str = "DEPLOYER_EOF";

/// `data` in base64, in lines of 76, as `base64 -d` reads it from a
/// here-document ended by [`BASE64_END`].
pub fn base64_lines(data: &[u8]) -> String {
    BASE64
        .encode(data)
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect::<Vec<_>>()
        .join("\n")
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
