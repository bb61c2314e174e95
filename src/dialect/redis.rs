//! redis.conf arguments.

/// A redis.conf argument, double-quoted: `\` and `"` escaped.
pub fn string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
