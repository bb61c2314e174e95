//! YAML that remembers where each value was written, and a serde bridge that
//! reports every problem with its location.

mod de;
mod node;

pub use de::{Diagnostic, Typed, did_you_mean, from_node, locate, one_of};
pub use node::{Mark, Node, parse};

/// Parses and deserializes `source`. A syntax error or an empty document is
/// the one diagnostic there is; otherwise the tree (to locate later findings)
/// and what typing it gave.
pub fn load<T: serde::de::DeserializeOwned>(source: &str) -> Result<(Node, Typed<T>), Diagnostic> {
    let root = match parse(source) {
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
