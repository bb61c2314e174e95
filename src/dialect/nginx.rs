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
/// read as nginx reads words (a quote opens a string only at the start of
/// a word, `\\` escapes the next character, `${...}` is a variable, `#`
/// at the start of a word comments to the end of the line), every quote is
/// closed, every `{` follows a directive and is closed by its `}`, no `}`
/// closes a block it did not open (the one around them), the last
/// directive ends with `;` or `}`, and no control characters appear but
/// tabs and line breaks. What they set at their own level: the names of
/// those directives, in order.
pub fn directives(text: &str) -> Result<Vec<String>, String> {
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(format!(
            "holds the control character U+{:04X}; write directives as text",
            c as u32
        ));
    }
    let mut depth = 0usize;
    let mut line = 1;
    // Inside a directive (a word seen, no `;`, `{` or `}` yet), and a word.
    let (mut statement, mut word) = (false, false);
    // The names of the directives at depth 0, and whether one is being read.
    let (mut names, mut naming) = (Vec::<String>::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        }
        if naming && (c.is_whitespace() || "\\#\"'${};".contains(c)) {
            naming = false;
        }
        match c {
            '\\' => {
                if chars.next() == Some('\n') {
                    line += 1;
                }
                (statement, word) = (true, true);
            }
            '#' if !word => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '"' | '\'' if !word => {
                let mut closed = false;
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            chars.next();
                        }
                        '\n' => line += 1,
                        q if q == c => {
                            closed = true;
                            break;
                        }
                        _ => {}
                    }
                }
                if !closed {
                    return Err("a quoted string is not closed".into());
                }
                (statement, word) = (true, false);
            }
            '$' if chars.peek() == Some(&'{') => {
                if !chars.by_ref().any(|v| v == '}') {
                    return Err("a `${` variable is not closed by `}`".into());
                }
                (statement, word) = (true, true);
            }
            '{' => {
                if !statement {
                    return Err(format!(
                        "line {line}: a block `{{` needs a directive before it"
                    ));
                }
                depth += 1;
                (statement, word) = (false, false);
            }
            '}' => {
                if statement {
                    return Err(format!(
                        "line {line}: the directive before this `}}` does not end with `;`"
                    ));
                }
                if depth == 0 {
                    return Err(format!(
                        "line {line}: this `}}` closes a block it did not open; raw directives stay inside the HTTPS server block"
                    ));
                }
                depth -= 1;
                word = false;
            }
            ';' => (statement, word) = (false, false),
            c if c.is_whitespace() => word = false,
            _ => {
                if !statement && depth == 0 {
                    names.push(String::new());
                    naming = true;
                }
                if naming && let Some(name) = names.last_mut() {
                    name.push(c);
                }
                (statement, word) = (true, true);
            }
        }
    }
    if depth > 0 {
        return Err(format!(
            "{depth} block(s) are not closed: each `{{` needs its `}}`"
        ));
    }
    if statement {
        return Err("the last directive does not end with `;` or a block".into());
    }
    Ok(names)
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
            "add_header X-A a\"b;",
            "return 200 a\\;b;",
        ] {
            assert!(directives(good).is_ok(), "{good}");
        }
        for bad in [
            "} server { listen 8080; }",
            "location / {",
            "return 200 \"x;",
            "gzip on",
            "add_header X \"a\0b\";",
            "{}",
            "${HOME}",
            "add_header X-A a\";\n}\nserver { listen 80; root /; add_header X-B b\";",
            "add_header X-A a';\n}\nserver { listen 80; add_header X-B b';",
            "gzip on }",
        ] {
            assert!(directives(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            directives(
                "gzip on; # real_ip_header\nlocation / { real_ip_header X; }\n  real_ip_header 'CF-Connecting-IP';"
            )
            .unwrap(),
            ["gzip", "location", "real_ip_header"]
        );
    }
}
