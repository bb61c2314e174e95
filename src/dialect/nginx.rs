//! nginx configuration: strings, and raw directives an operator adds.

/// A double-quoted nginx string: `\` and `"` escaped. nginx has no escape
/// for `$` (it starts a variable) and a control character has no place in a
/// header: such text is refused.
pub fn string(text: &str) -> Result<String, String> {
    if text.contains('$') || text.chars().any(|c| c.is_control() && c != '\t') {
        return Err("an nginx string here holds no `$` and no control characters".into());
    }
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    Ok(format!("\"{escaped}\""))
}

/// Whether `text` is whole nginx directives that stay where they are put:
/// every quote closed, every `{` closed by its `}` (never one too many,
/// which would close the block around them), the last directive ended by
/// `;` or `}`, and no control characters but tabs and line breaks.
pub fn directives(text: &str) -> Result<(), String> {
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(format!(
            "holds the control character U+{:04X}; write directives as text",
            c as u32
        ));
    }
    let (mut depth, mut quote, mut escaped, mut open_statement) = (0usize, None, false, false);
    let mut variable = false;
    for (line, text_line) in text.split('\n').enumerate() {
        // A `#` that starts a word starts a comment, to the end of the line.
        let mut word_start = true;
        let mut previous = None;
        for c in text_line.chars() {
            let starts_word = std::mem::replace(
                &mut word_start,
                c.is_whitespace() || matches!(c, ';' | '{' | '}'),
            );
            let before = previous.replace(c);
            if let Some(q) = quote {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    c if c == q => quote = None,
                    _ => {}
                }
                continue;
            }
            if variable {
                // `${name}`: the braces belong to the variable.
                variable = c != '}';
                continue;
            }
            match c {
                '#' if starts_word => break,
                '{' if before == Some('$') => {
                    variable = true;
                    open_statement = true;
                }
                '"' | '\'' => {
                    quote = Some(c);
                    open_statement = true;
                }
                '{' => {
                    if !open_statement {
                        return Err(format!(
                            "line {}: a block `{{` needs a directive before it",
                            line + 1
                        ));
                    }
                    depth += 1;
                    open_statement = false;
                }
                '}' => {
                    if depth == 0 {
                        return Err(format!(
                            "line {}: this `}}` closes a block it did not open; raw directives stay inside the HTTPS server block",
                            line + 1
                        ));
                    }
                    depth -= 1;
                    open_statement = false;
                }
                ';' => open_statement = false,
                c if c.is_whitespace() => {}
                _ => open_statement = true,
            }
        }
    }
    if quote.is_some() {
        return Err("a quoted string is not closed".into());
    }
    if depth > 0 {
        return Err(format!(
            "{depth} block(s) are not closed: each `{{` needs its `}}`"
        ));
    }
    if open_statement {
        return Err("the last directive does not end with `;` or a block".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_stay_inside_their_block() {
        for good in [
            "",
            "gzip on;",
            "location = /robots.txt {\n    return 200 \"User-agent: *\\nDisallow: /\\n\";\n}\n",
            "# a comment { with braces\nadd_header X-A 'b;}';\n",
            "if ($x) { return 404; }",
            "return 200 ${host}x;",
        ] {
            assert_eq!(directives(good), Ok(()), "{good}");
        }
        for bad in [
            "} server { listen 8080; }",
            "location / {",
            "return 200 \"x;",
            "gzip on",
            "add_header X \"a\0b\";",
            "{}",
            "${HOME}",
        ] {
            assert!(directives(bad).is_err(), "{bad:?}");
        }
    }
}
