//! deployer runs from macOS laptops too: all its Rust code compiles for
//! x86_64 and aarch64 macOS. The C libraries cannot be built for macOS on
//! this Linux machine, so their build scripts are replaced by what they
//! would tell cargo (`links` overrides: link names, and OpenSSL 3's
//! configuration that the `openssl` crate reads); clang assembles the little
//! assembly a dependency carries.

mod common;

use std::process::Command;

use common::{require, text};

/// What `openssl-sys` reports for an OpenSSL 3.0 (Homebrew's, or Debian's).
const OPENSSL_CFGS: &str = r#"["openssl", "ossl101", "ossl102", "ossl102f", "ossl102h", "ossl110", "ossl110f", "ossl110g", "ossl110h", "ossl111", "ossl111b", "ossl111c", "ossl111d", "ossl300", "osslconf=\"OPENSSL_NO_IDEA\"", "osslconf=\"OPENSSL_NO_SSL3_METHOD\""]"#;

fn check_for(target: &str) {
    require("clang");
    let overrides = [
        format!("target.{target}.z.rustc-link-lib=[\"z\"]"),
        format!("target.{target}.ssh2.rustc-link-lib=[\"ssh2\"]"),
        format!("target.{target}.openssl.rustc-link-lib=[\"ssl\", \"crypto\"]"),
        format!("target.{target}.openssl.rustc-cfg={OPENSSL_CFGS}"),
        format!("target.{target}.openssl.conf=\"OPENSSL_NO_IDEA,OPENSSL_NO_SSL3_METHOD\""),
        format!("target.{target}.openssl.version_number=\"30000130\""),
    ];
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(common::ROOT)
        .args(["check", "--locked", "--lib", "--bins", "--target", target])
        .arg("--target-dir")
        .arg(std::path::Path::new(common::ROOT).join("target/platforms"))
        .env(format!("CC_{}", target.replace('-', "_")), "clang");
    for value in &overrides {
        cargo.args(["--config", value]);
    }
    let result = cargo.output().expect("cargo runs");
    assert!(
        result.status.success(),
        "cargo check --target {target} failed (is the target installed? `rustup target add {target}`, which tests/run does):\n{}",
        text(&result)
    );
}

#[test]
fn compiles_for_intel_macs() {
    check_for("x86_64-apple-darwin");
}

#[test]
fn compiles_for_apple_silicon() {
    check_for("aarch64-apple-darwin");
}
