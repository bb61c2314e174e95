//! How input appears in messages: echoed safely (escaped, cut short), and
//! with the closest valid word when it is misspelled.

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

/// The closest of `candidates` to a misspelled `word`, if any is close.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // Reversed so that `max_by`, which keeps the last of equals, keeps the first.
    candidates
        .iter()
        .rev()
        .map(|c| (strsim::normalized_damerau_levenshtein(word, c), *c))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

pub fn one_of(candidates: &[&str]) -> String {
    let quoted: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
    match quoted.as_slice() {
        [] => "nothing".into(),
        [only] => only.clone(),
        [rest @ .., last] => format!("one of {}, {last}", rest.join(", ")),
    }
}

pub(super) fn suggestion(word: &str, candidates: &[&str]) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}
