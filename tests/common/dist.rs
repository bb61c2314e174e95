//! What users install, as `dist/build` makes it: built once per test
//! process, from this checkout, so the tests exercise the very artifacts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{ROOT, text};

pub struct Artifacts {
    pub dir: PathBuf,
    /// The static Linux binary's file name, as SHA256SUMS names it.
    pub binary: String,
    pub binary_sha256: String,
    /// The Debian package's file name.
    pub deb: String,
}

impl Artifacts {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

pub fn artifacts() -> &'static Artifacts {
    static BUILT: OnceLock<Artifacts> = OnceLock::new();
    BUILT.get_or_init(|| {
        let build = Command::new(Path::new(ROOT).join("dist/build"))
            .current_dir(ROOT)
            .output()
            .expect("dist/build runs");
        assert!(
            build.status.success(),
            "dist/build failed:\n{}",
            text(&build)
        );
        let dir = Path::new(ROOT).join("target/artifacts");
        let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("dist/build wrote SHA256SUMS");
        let entry = |wanted: &dyn Fn(&str) -> bool| {
            sums.lines()
                .filter_map(|line| line.split_once("  "))
                .find(|(_, name)| wanted(name))
                .map(|(sum, name)| (sum.to_string(), name.to_string()))
                .unwrap_or_else(|| panic!("SHA256SUMS lacks an artifact:\n{sums}"))
        };
        let (binary_sha256, binary) = entry(&|name| name.ends_with("-x86_64-unknown-linux-musl"));
        let (_, deb) = entry(&|name| name.ends_with("_amd64.deb"));
        Artifacts {
            dir,
            binary,
            binary_sha256,
            deb,
        }
    })
}
