//! Files a spec names, and the spec itself, read with limits: only regular
//! files (not a FIFO or `/dev/zero`), and only up to a size, so no file can
//! hang deployer or exhaust its memory.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The operator's home directory (`$HOME`).
pub fn operator_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// A path the operator wrote: `~/x` in their home; a relative one against
/// `base` (the spec's directory).
pub fn expand_home(written: &str, base: &Path) -> PathBuf {
    match written.strip_prefix("~/") {
        Some(rest) => operator_home().join(rest),
        None => base.join(written),
    }
}

/// deployer.yaml: far more than any spec needs.
pub const SPEC_LIMIT: u64 = 4 << 20;
/// A PEM file (certificates, a key) or a dotenv file.
pub const SMALL_FILE_LIMIT: u64 = 1 << 20;

/// The bytes of the regular file at `path`, at most `limit` of them; the
/// error says why not, naming the file.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let shown = crate::dialect::terminal::shown(&path.display().to_string());
    // Asked before opening: opening a FIFO would wait for a writer.
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, a socket or a device)"
        };
        return Err(format!("{shown} is {what}; name a regular file"));
    }
    let too_big = || {
        format!(
            "{shown} is larger than {} KiB, more than such a file can hold: is it the right file?",
            limit >> 10
        )
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    let file = File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

/// As [`read`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, String> {
    String::from_utf8(read(path, limit)?).map_err(|_| {
        format!(
            "{} is not UTF-8 text",
            crate::dialect::terminal::shown(&path.display().to_string())
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, "hello").unwrap();
        assert_eq!(read_text(&small, 5).unwrap(), "hello");
        assert!(read(&small, 4).unwrap_err().contains("larger than"));
        assert!(read(dir.path(), 5).unwrap_err().contains("a directory"));
        assert!(
            read(Path::new("/dev/zero"), 5)
                .unwrap_err()
                .contains("not a regular file")
        );
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        assert!(read(&fifo, 5).unwrap_err().contains("not a regular file"));
    }
}
