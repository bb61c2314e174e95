//! Embeds `templates/` and `playbooks/` in the binary. Each file becomes an
//! `include_str!`, so rustc rebuilds when one changes; rerun-if-changed on the
//! directories catches files added or removed. Also says what
//! `deployer --version` prints besides the version: the source commit and
//! the build target.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// `git rev-parse ARGS` in `root`, if git and a repository are there.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("rev-parse")
        .args(args)
        .current_dir(root)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| text.trim().to_string())
}

/// DEPLOYER_BUILD_COMMIT (`dist/build` sets it, marking a modified tree;
/// a build from a source archive may too), else the checkout's HEAD.
fn build_info(root: &Path) {
    println!(
        "cargo:rustc-env=DEPLOYER_BUILD_TARGET={}",
        std::env::var("TARGET").expect("cargo sets it")
    );
    println!("cargo:rerun-if-env-changed=DEPLOYER_BUILD_COMMIT");
    let commit = std::env::var("DEPLOYER_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // Rebuilt when HEAD moves: HEAD, the branch it names, packed refs.
            let branch = git(root, &["--symbolic-full-name", "HEAD"]).unwrap_or_default();
            for name in ["HEAD", branch.as_str(), "packed-refs"] {
                if !name.is_empty()
                    && let Some(path) = git(root, &["--git-path", name]).map(|p| root.join(p))
                    && path.exists()
                {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
            git(root, &["--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DEPLOYER_BUILD_COMMIT={commit}");
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    build_info(&root);
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
