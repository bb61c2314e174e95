//! YAML that deployer writes (`deployer init`'s spec).

use std::fmt::Write as _;

/// `text` as one double-quoted YAML scalar: `\` and `"` escaped, and every
/// character YAML does not allow as is (control characters, DEL, the C1
/// range, line and paragraph separators, byte-order marks, non-characters)
/// written as an escape, so no answer can end the scalar or start a key.
pub fn scalar(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// YAML 1.2's printable characters (`c-printable`), less the byte-order
/// mark, which a reader may drop.
fn printable(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFEFE | 0xFF00..=0xFFFD | 0x10000..=0x10FFFF)
        && !matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_reads_back_as_itself() {
        for text in [
            "plain",
            "it's \"quoted\"",
            "back\\slash",
            "a: b\nc: d",
            "tab\there\r\u{0}\u{7f}\u{85}\u{2028}\u{feff}\u{fffe}",
            "ünïcødé 🚀",
            "# not a comment",
            "- [x]",
            "",
        ] {
            let yaml = format!("key: {}\n", scalar(text));
            let root = crate::yaml::parse(&yaml).unwrap().unwrap();
            let typed = crate::yaml::from_node::<std::collections::BTreeMap<String, String>>(&root);
            assert_eq!(typed.value.unwrap()["key"], text, "{yaml}");
        }
    }
}
