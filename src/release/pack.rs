//! What is shipped of the app's source directory, packed as one gzip'd tar
//! stream, named by a hash of its content. The same source gives the same
//! id, so an unchanged app makes no new release and no restart.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// Written into every release on the host: its id, for the app to report.
pub const REVISION_FILE: &str = "REVISION";

#[derive(Clone)]
pub struct Shipped {
    /// The first 12 hex digits of the content hash.
    pub id: String,
    pub archive: Vec<u8>,
    pub files: usize,
}

/// Packs what `source` ships (`spec::source::shipped`), sorted by path,
/// each file with its executable bit; no owners or times, so the archive depends on content only.
pub fn pack(source: &Path) -> Result<Shipped> {
    let paths = crate::spec::source::shipped(source)?;

    let mut hash = Sha256::new();
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for path in &paths {
        let relative = path.strip_prefix(source).expect("walked from source");
        let name = relative
            .to_str()
            .with_context(|| format!("{}: the name is not UTF-8", path.display()))?;
        let content = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(path)?.permissions().mode() & 0o111 != 0
        };
        let mode = if executable { 0o755 } else { 0o644 };
        // Length-prefixed fields: no two trees hash alike.
        for field in [name.as_bytes(), &content] {
            hash.update((field.len() as u64).to_le_bytes());
            hash.update(field);
        }
        hash.update([u8::from(executable)]);
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        tar.append_data(&mut header, name, content.as_slice())
            .with_context(|| format!("packing {name}"))?;
    }
    let id: String = hash
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut revision = tar::Header::new_gnu();
    revision.set_size(id.len() as u64 + 1);
    revision.set_mode(0o644);
    revision.set_mtime(0);
    tar.append_data(&mut revision, REVISION_FILE, format!("{id}\n").as_bytes())?;
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    Ok(Shipped {
        id,
        archive: gz.finish()?,
        files: paths.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_id_follows_the_content_and_skips_what_is_never_shipped() {
        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path();
        fs::write(root.join("server.js"), "a").unwrap();
        fs::create_dir_all(root.join("node_modules/x")).unwrap();
        fs::write(root.join("node_modules/x/index.js"), "dep").unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join(".git/HEAD"), "ref").unwrap();
        fs::write(root.join(".deployignore"), "*.log\n").unwrap();
        fs::write(root.join("debug.log"), "noise").unwrap();
        let first = pack(root).unwrap();
        assert_eq!(first.files, 2, "server.js and .deployignore");
        assert_eq!(first.id.len(), 12);

        fs::write(root.join("debug.log"), "more noise").unwrap();
        fs::write(root.join("node_modules/x/index.js"), "dep 2").unwrap();
        assert_eq!(
            pack(root).unwrap().id,
            first.id,
            "ignored files do not count"
        );
        fs::write(root.join("server.js"), "b").unwrap();
        assert_ne!(pack(root).unwrap().id, first.id);
    }
}
