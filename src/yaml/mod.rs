//! YAML that remembers where each value was written, and a serde bridge that
//! reports every problem with its location.

mod de;
mod node;
mod words;

pub use de::{Diagnostic, Typed, from_node, locate};
pub use node::{Mark, Node, mark_at, parse};
pub use words::{did_you_mean, one_of};

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
