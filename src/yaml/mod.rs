//! YAML that remembers where each value was written, and a serde bridge that
//! reports every problem with its location.

mod de;
mod node;

pub use de::{Diagnostic, Typed, did_you_mean, from_node, locate, one_of};
pub use node::{Mark, Node, mark_at, parse};

/// How much of a value a message echoes.
const SHOWN_CHARS: usize = 60;

/// `text` as a message may echo it: control and invisible characters
/// escaped (`\n`, `\u{1b}`), so that input can neither break the
/// message's line nor drive the terminal, and cut short after
/// `SHOWN_CHARS` characters.
pub fn shown(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_CHARS {
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

/// Control characters, and those that change how text around them shows
/// (bidirectional overrides, zero-width, byte-order mark, line separators).
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `message` with every invisible character escaped, as [`shown`] does,
/// line breaks included: the last guard before a message reaches a terminal.
pub fn sanitized(message: &str) -> String {
    message
        .chars()
        .map(|c| {
            if invisible(c) {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `bytes` as the text of a YAML document, or where it stops being UTF-8.
pub fn text(bytes: &[u8]) -> Result<&str, Diagnostic> {
    std::str::from_utf8(bytes).map_err(|e| Diagnostic {
        mark: mark_at(bytes, e.valid_up_to()),
        path: String::new(),
        message: "not UTF-8 text: save the file as UTF-8".into(),
    })
}

/// Parses and deserializes `source`, text a person wrote: it is first
/// searched for characters YAML does not allow (and a byte-order mark),
/// which would end or hide part of it. A syntax error or an empty document
/// is the one diagnostic there is; otherwise the tree (to locate later
/// findings) and what typing it gave.
pub fn load<T: serde::de::DeserializeOwned>(source: &str) -> Result<(Node, Typed<T>), Diagnostic> {
    let parsed = match node::forbidden_character(source) {
        Some(error) => Err(error),
        None => parse(source),
    };
    let root = match parsed {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(Diagnostic {
                mark: Mark { line: 1, col: 1 },
                path: String::new(),
                message: "the file is empty".into(),
            });
        }
        Err(e) => {
            return Err(Diagnostic {
                mark: e.mark,
                path: String::new(),
                message: format!("YAML syntax: {}", e.message),
            });
        }
    };
    let typed = from_node(&root);
    Ok((root, typed))
}
