//! Node.js from the official release tarballs: the newest build of the chosen
//! line, checked against the line's SHASUMS256.txt, unpacked side by side
//! under /opt/nodejs (one directory per version) and made live by switching
//! the `current` symlink, which /usr/local/bin's node, npm and npx follow.

use super::context::GuardedCommand;
use crate::shell::quote;
use crate::spec::NodeRuntime;

/// Where versions are unpacked, side by side.
pub const ROOT: &str = "/opt/nodejs";

const DEFAULT_MIRROR: &str = "https://nodejs.org/dist";

/// Installs the newest `runtime.version` line build unless `current` already
/// runs that line. A failed download or checksum leaves `current` as it was.
pub fn official_install(runtime: &NodeRuntime) -> GuardedCommand {
    let mirror = runtime
        .mirror
        .as_deref()
        .unwrap_or(DEFAULT_MIRROR)
        .trim_end_matches('/');
    let major = runtime.version;
    GuardedCommand {
        name: format!("install Node.js {major} (official build)"),
        run: format!(
            r#"set -eu
umask 022
case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "deployer: no official Node.js build for $(uname -m)" >&2; exit 1 ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base={base}
curl -fsS --retry 3 -o "$work/SHASUMS256.txt" "$base/SHASUMS256.txt"
line=$(grep -E "^[0-9a-f]{{64}}  node-v{major}\.[0-9]+\.[0-9]+-linux-$arch\.tar\.xz\$" "$work/SHASUMS256.txt" | head -n 1) || true
[ -n "$line" ] || {{ echo "deployer: $base/SHASUMS256.txt lists no node-v{major} tarball for linux-$arch" >&2; exit 1; }}
name=${{line##* }}
curl -fsS --retry 3 -o "$work/$name" "$base/$name"
(cd "$work" && printf '%s\n' "$line" | sha256sum --check --status) || {{ echo "deployer: $name does not match its SHA-256 in $base/SHASUMS256.txt; nothing was installed" >&2; exit 1; }}
dir={root}/${{name%.tar.xz}}
mkdir -p -m 0755 {root}
rm -rf "$dir.new"
mkdir -m 0755 "$dir.new"
tar -xJf "$work/$name" -C "$dir.new" --strip-components=1 --no-same-owner
chmod -R go-w "$dir.new"
rm -rf "$dir"
mv -T "$dir.new" "$dir"
ln -sfn "${{dir##*/}}" {root}/current.new
mv -Tf {root}/current.new {root}/current"#,
            base = quote(&format!("{mirror}/latest-v{major}.x")),
            root = ROOT,
        ),
        unless: format!("{ROOT}/current/bin/node --version 2>/dev/null | grep -q '^v{major}\\.'"),
    }
}
