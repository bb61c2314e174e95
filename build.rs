//! Embeds `templates/` and `playbooks/` in the binary. Each file becomes an
//! `include_str!`, so rustc rebuilds when one changes; rerun-if-changed on the
//! directories catches files added or removed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("embedded.rs");
    let mut code = fs::File::create(&out).expect("OUT_DIR is writable");
    for (constant, dir) in [("TEMPLATES", "templates"), ("PLAYBOOKS", "playbooks")] {
        println!("cargo:rerun-if-changed={dir}");
        let base = root.join(dir);
        let mut found = Vec::new();
        files(&base, &mut found);
        writeln!(code, "pub static {constant}: &[(&str, &str)] = &[").unwrap();
        for path in found {
            let name = path
                .strip_prefix(&base)
                .unwrap()
                .to_str()
                .expect("UTF-8 file names");
            writeln!(
                code,
                "    ({name:?}, include_str!({:?})),",
                path.to_str().unwrap()
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    }
}
