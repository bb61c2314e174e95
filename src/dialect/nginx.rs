//! nginx configuration strings.

/// A double-quoted nginx string. `$` is left alone: nginx expands variables
/// in header values on purpose.
pub fn string(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}
