//! The operator's terminal: input echoed in a message is escaped (no
//! control sequence, no line of its own, nothing invisible) and cut short.

/// How much of a value a message echoes.
const SHOWN_CHARS: usize = 60;

/// `text` as a message may echo it: control and invisible characters
/// escaped (`\n`, `\u{1b}`), so that input can neither break the
/// message's line nor drive the terminal, and cut short after
/// `SHOWN_CHARS` characters.
pub fn shown(text: &str) -> String {
    escape(text, SHOWN_CHARS)
}

/// `text` escaped as [`shown`] does, whole: for what must be echoed in
/// full, a file name, a key's path.
pub fn escaped(text: &str) -> String {
    escape(text, usize::MAX)
}

fn escape(text: &str, limit: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == limit {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if invisible(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `text` shown between double quotes.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", shown(text))
}

/// Control characters, and those that show as nothing or change how the
/// text around them shows: format characters (soft hyphen, zero-width,
/// bidirectional controls, byte-order mark, tags), variation selectors,
/// fillers, line and paragraph separators.
pub fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
            | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{2800}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}' | '\u{ffa0}' | '\u{fff9}'..='\u{fffb}' | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}')
}

/// `message` with every invisible character escaped, as [`shown`] does,
/// but its own line breaks and tabs: the last guard before any message
/// reaches the terminal.
pub fn sanitized(message: &str) -> String {
    message
        .chars()
        .map(|c| {
            if invisible(c) && c != '\n' && c != '\t' {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_reaches_the_terminal_raw() {
        assert_eq!(
            shown("a\u{1b}[31mb\nc\u{202e}d"),
            "a\\u{1b}[31mb\\nc\\u{202e}d"
        );
        assert_eq!(shown(&"x".repeat(100)).chars().count(), 61);
        assert_eq!(escaped(&"x\t".repeat(100)).len(), 300);
        assert_eq!(
            sanitized("line 1\nline\u{1b}[2J 2"),
            "line 1\nline\\u{1b}[2J 2"
        );
    }
}
