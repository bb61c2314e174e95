//! What `app.source` ships: every file under it but history, dependencies
//! the host builds, and what its `.deployignore` files list. One rule for
//! packing a release and for judging whether a key would travel with it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

/// Patterns (gitignore syntax) of what is never shipped, in this file in
/// the source directory or any directory below it.
pub const IGNORE_FILE: &str = ".deployignore";

/// Directories never shipped: history, and dependencies the host builds.
const NEVER: &[&str] = &[".git", "node_modules"];

/// Every file `source` ships, sorted by path. A symbolic link is an
/// error: what it points to may lie outside the source.
pub fn shipped(source: &Path) -> Result<Vec<PathBuf>> {
    if !source.is_dir() {
        bail!(
            "app.source: {} is not a directory; it should hold the app (package.json, server.js...)",
            source.display()
        );
    }
    let mut paths = Vec::new();
    let walk = ignore::WalkBuilder::new(source)
        .standard_filters(false)
        .hidden(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .filter_entry(|entry| !NEVER.contains(&entry.file_name().to_str().unwrap_or("")))
        .build();
    for entry in walk {
        let entry = entry.with_context(|| format!("reading {}", source.display()))?;
        let file_type = entry.file_type();
        if file_type.is_some_and(|t| t.is_file()) {
            paths.push(entry.into_path());
        } else if file_type.is_some_and(|t| t.is_symlink()) {
            bail!(
                "{}: symbolic links are not shipped; copy the file or list it in {IGNORE_FILE}",
                entry.path().display()
            );
        }
    }
    paths.sort();
    Ok(paths)
}
