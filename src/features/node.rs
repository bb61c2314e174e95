//! Node.js from the official release tarballs: the newest build of the chosen
//! line, checked against the line's SHASUMS256.txt, unpacked side by side
//! under /opt/nodejs (one directory per version) and made live by switching
//! the `current` symlink, which /usr/local/bin's node, npm and npx follow.
//! Or from NodeSource's signed apt repository ([`nodesource`]).

use serde::Serialize;

use super::{Conditional, apt};
use crate::dialect::shell::quote;
use crate::layout::{NODE_ROOT as ROOT, NODESOURCE_RELEASE};
use crate::spec::NodeRuntime;

const DEFAULT_MIRROR: &str = "https://nodejs.org/dist";

/// Installs the newest `runtime.version` line build unless `current` already
/// runs that line. A failed download or checksum leaves `current` as it was.
pub fn official_install(runtime: &NodeRuntime) -> Conditional {
    let mirror = runtime
        .mirror
        .as_deref()
        .unwrap_or(DEFAULT_MIRROR)
        .trim_end_matches('/');
    let major = runtime.version;
    Conditional {
        name: format!("install Node.js {major} (official build)"),
        run: format!(
            r#"set -eu
umask 022
case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "deployer: no official Node.js build for $(uname -m)" >&2; exit 1 ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base={base}
curl --globoff -fsS --retry 3 -o "$work/SHASUMS256.txt" "$base/SHASUMS256.txt"
line=$(grep -E "^[0-9a-f]{{64}}  node-v{major}\.[0-9]+\.[0-9]+-linux-$arch\.tar\.xz\$" "$work/SHASUMS256.txt" | head -n 1) || true
[ -n "$line" ] || {{ echo "deployer: $base/SHASUMS256.txt lists no node-v{major} tarball for linux-$arch" >&2; exit 1; }}
name=${{line##* }}
curl --globoff -fsS --retry 3 -o "$work/$name" "$base/$name"
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
        // The install names the directory `current` points to after the
        // tarball (node-vMAJOR.MINOR.PATCH-linux-ARCH), so no Node.js need
        // start in a plan; any other `current` is asked for its version.
        // `cd -P` reads the link without a program to start: a guard runs
        // in a subshell of its own, which the `cd` ends with.
        unless: format!(
            "{{ cd -P {ROOT}/current 2>/dev/null && case $PWD in */node-v{major}.*) test -x bin/node ;; *) false ;; esac; }} || {ROOT}/current/bin/node --version 2>/dev/null | grep -q '^v{major}\\.'"
        ),
        owns: vec![ROOT.to_string()],
    }
}

/// NodeSource's repository, and the fingerprint its signing key must have.
pub const NODESOURCE_REPOSITORY: &str = "https://deb.nodesource.com";
pub const NODESOURCE_FINGERPRINT: &str = "6F71F525282841EEDAF851B42F59B5F99B1BE0B4";

/// NodeSource's apt repository for one release line: what the playbook
/// writes and runs, in order. The key is fetched on the host and trusted
/// only with the pinned fingerprint; the source goes live only once apt
/// has fetched the repository and verified it with that key (the file's
/// check, on a private copy of the lists); then `nodejs` is installed from
/// it at the line's newest version, upgraded or downgraded as the line moves.
#[derive(Debug, Serialize)]
pub struct Nodesource {
    /// `REPOSITORY/node_MAJOR.x`, the source's URI (suite `nodistro`).
    pub uri: String,
    /// The repository's host, apt's `origin` for the pin.
    pub origin: String,
    pub fingerprint: String,
    /// Named by the fingerprint: a new pinned key never replaces the one a
    /// live source trusts before that source is checked against it.
    pub keyring: String,
    pub list: String,
    pub pin: String,
    /// Fetches the key and installs it if its fingerprint is the pinned one.
    pub trust_key: Conditional,
    /// Judges the staged source: the key, then an `apt-get update` of that
    /// source alone into throwaway lists.
    pub verify: NamedCheck,
    /// `apt-get install nodejs=VERSION`, the line's newest from the source.
    pub install: Conditional,
}

/// A file check with a name, as the playbook passes it on.
#[derive(Debug, Serialize)]
pub struct NamedCheck {
    pub name: String,
    pub run: String,
}

/// What the NodeSource source, pin and commands are for `runtime`.
pub fn nodesource(runtime: &NodeRuntime) -> Nodesource {
    let repository = runtime
        .repository
        .as_deref()
        .unwrap_or(NODESOURCE_REPOSITORY)
        .trim_end_matches('/');
    let fingerprint = runtime
        .key_fingerprint
        .as_deref()
        .unwrap_or(NODESOURCE_FINGERPRINT)
        .to_ascii_uppercase();
    let major = runtime.version;
    let uri = format!("{repository}/node_{major}.x");
    let keyring = format!("/etc/apt/keyrings/nodesource-{fingerprint}.gpg");
    let key_url = format!("{repository}/gpgkey/nodesource-repo.gpg.key");
    let fpr = quote(&fingerprint);
    let ring = quote(&keyring);
    // What apt answers, from the key and source as they stand, decides:
    // apt on trixie (sqv) rejects keys bound by SHA-1 signatures that a
    // fingerprint cannot tell from good ones.
    let trust_key = Conditional {
        name: format!("trust NodeSource's signing key {fingerprint}"),
        run: format!(
            r#"set -eu
umask 022
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt reads the staged key as its own unprivileged user; gpg's home stays private.
chmod 0755 "$work"
mkdir -m 0700 "$work/gnupg"
url={url}
curl --globoff -fsS --retry 3 -o "$work/key" "$url" || {{ echo "deployer: could not download NodeSource's signing key from $url" >&2; exit 1; }}
if grep -q -e '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$work/key"; then
  gpg --batch --quiet --homedir "$work/gnupg" --dearmor <"$work/key" >"$work/key.gpg"
else
  cp "$work/key" "$work/key.gpg"
fi
found=$({found})
if [ "$found" != {fpr} ]; then
  echo "deployer: the signing key at $url has the fingerprint ${{found:-(none: no OpenPGP key there)}}, not the pinned "{fpr}" (runtime.node.key_fingerprint); apt was not told to trust it and NodeSource's repository was not added" >&2
  exit 1
fi
echo "deb [signed-by=$work/key.gpg] "{uri}" nodistro main" >"$work/sources.list"
{fetch}
[ -n "$verified" ] || {{ printf '%s\n' "$said" | grep -E '^(E|W): ' >&2; echo "deployer: apt on this host could not fetch "{uri}" or verify it with the key "{fpr}" as $url serves it (apt's words above): apt was not told to trust the key, and the host's NodeSource source, if any, is as it was. A key apt refuses (say, bound by SHA-1 signatures) has to be re-signed by NodeSource; until then set runtime.node.source: official" >&2; exit 1; }}
install -d -m 0755 /etc/apt/keyrings {kept_dir}
install -m 0644 "$work/key.gpg" {ring}.new
install -m 0644 "$work/InRelease" {kept}.new
mv -f {kept}.new {kept}
mv -f {ring}.new {ring}"#,
            kept = quote(NODESOURCE_RELEASE),
            kept_dir = quote(NODESOURCE_RELEASE.rsplit_once('/').expect("a path").0),
            url = quote(&key_url),
            uri = quote(&uri),
            found = fingerprints("\"$work/key.gpg\""),
            fetch = apt::fetch("\"$work/sources.list\"", Some("\"$work/InRelease\"")),
        ),
        unless: format!(
            "[ \"$({})\" = {fpr} ] && {}",
            fingerprints(&ring),
            apt_still_accepts(&ring)
        ),
        owns: vec![keyring.clone(), NODESOURCE_RELEASE.to_string()],
    };
    let verify = NamedCheck {
        name: format!("apt verifies {uri} with the key {fingerprint}"),
        run: format!(
            r#"[ "$({found})" = {fpr} ] || {{ echo "deployer: "{ring}" does not hold exactly the key "{fpr}"; NodeSource's repository was not added" >&2; exit 1; }}
{fetch}
[ -n "$verified" ] || {{ printf '%s\n' "$said" | grep -E '^(E|W): ' >&2; echo "deployer: apt could not fetch "{uri}" or verify it with the key "{fpr}"; NodeSource's repository was not added" >&2; exit 1; }}"#,
            found = fingerprints(&ring),
            uri = quote(&uri),
            fetch = apt::fetch("{}", None),
        ),
    };
    let install = Conditional {
        name: format!("install Node.js {major} (NodeSource)"),
        run: format!(
            r#"set -eu
apt-get update -qq -o DPkg::Lock::Timeout=600
version=$(apt-cache madison nodejs | awk -F '|' -v uri={uri} '{{ gsub(/ /, "", $2); sub(/^ +/, "", $3) }} index($3, uri " ") == 1 {{ print $2 }}' | grep -E '^{major}\.' | sort -V | tail -n 1)
[ -n "$version" ] || {{ echo "deployer: "{uri}" offers no nodejs {major}.x package for this host; nothing was installed" >&2; exit 1; }}
apt-get install -y -qq --no-install-recommends --allow-downgrades -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "nodejs=$version" >/dev/null
/usr/bin/node --version | grep -q '^v{major}\.' || {{ echo "deployer: nodejs $version is installed, but /usr/bin/node says $(/usr/bin/node --version 2>&1)" >&2; exit 1; }}
for old in /etc/apt/keyrings/nodesource-*.gpg; do [ "$old" = {ring} ] || rm -f "$old"; done"#,
            uri = quote(&uri),
        ),
        // NodeSource's nodejs carries npm; Debian's needs Debian's npm package.
        unless: format!(
            "dpkg-query -W -f='${{db:Status-Abbrev}}${{Version}}' nodejs 2>/dev/null | grep -q '^ii *{major}\\.' && test -x /usr/bin/npm && ! dpkg-query -W -f='${{db:Status-Abbrev}}' npm 2>/dev/null | grep -q '^ii'"
        ),
        // A package, which other things may need: it stays.
        owns: Vec::new(),
    };
    Nodesource {
        origin: origin(repository),
        uri,
        fingerprint,
        keyring,
        list: "/etc/apt/sources.list.d/nodesource.list".into(),
        pin: "/etc/apt/preferences.d/nodesource".into(),
        trust_key,
        verify,
        install,
    }
}

/// A shell test, without the network, that apt still accepts the key in
/// `ring`: where apt checks signatures with sqv (Debian 13 on), the
/// repository's InRelease kept when the key was trusted must pass sqv under
/// apt's policy today, which a policy since turned against the key's
/// binding signatures (SHA-1) fails. True where there is nothing to judge.
fn apt_still_accepts(ring: &str) -> String {
    format!(
        r#"{{ ! command -v sqv >/dev/null || [ ! -s {release} ] || {{ policy=/etc/crypto-policies/back-ends/apt-sequoia.config; [ -e "$policy" ] || policy=/usr/share/apt/default-sequoia.config; out=$(mktemp -d); SEQUOIA_CRYPTO_POLICY="$policy" sqv --keyring {ring} --cleartext --output "$out/m" {release} >/dev/null 2>&1; judged=$?; rm -rf "$out"; [ "$judged" = 0 ]; }}; }}"#,
        ring = quote(ring),
        release = quote(NODESOURCE_RELEASE),
    )
}

/// A shell command printing the fingerprints of the primary keys in `file`
/// (a shell word), space-separated: a keyring that holds any other key
/// besides the pinned one does not match.
fn fingerprints(file: &str) -> String {
    format!(
        r#"home=$(mktemp -d) && GNUPGHOME="$home" gpg --batch --with-colons --show-keys {file} 2>/dev/null | awk -F: '$1 == "pub" {{ primary = 1; next }} primary && $1 == "fpr" {{ print $10; primary = 0 }}' | paste -sd ' '; rm -rf "$home""#
    )
}

/// The host of an http(s) URL: what apt calls a source's origin (an IPv6
/// address without its brackets). The spec's check made it a URL.
fn origin(repository: &str) -> String {
    match url::Url::parse(repository)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Ipv6(address)) => address.to_string(),
        Some(host) => host.to_string(),
        None => repository.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::testing::{bash, check_of};

    /// The install's guard, run as a plan runs it, against a root of this
    /// test's own: `current` as the install makes it, a line's other
    /// build, a build of another name, and none.
    #[test]
    fn the_install_is_skipped_only_for_the_lines_build() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().to_str().unwrap();
        let runtime = NodeRuntime {
            version: 24,
            ..NodeRuntime::default()
        };
        let guard = check_of(&official_install(&runtime).unless.replace(ROOT, dir));
        let satisfied = |target: &str, says: Option<&str>| {
            let _ = std::fs::remove_file(format!("{dir}/current"));
            if !target.is_empty() {
                std::fs::create_dir_all(format!("{dir}/{target}/bin")).unwrap();
                std::os::unix::fs::symlink(target, format!("{dir}/current")).unwrap();
                let node = format!("{dir}/{target}/bin/node");
                let _ = std::fs::remove_file(&node);
                if let Some(version) = says {
                    std::fs::write(&node, format!("#!/bin/sh\necho {version}\n")).unwrap();
                    std::fs::set_permissions(
                        &node,
                        std::os::unix::fs::PermissionsExt::from_mode(0o755),
                    )
                    .unwrap();
                }
            }
            bash(&guard)
        };
        assert!(satisfied("node-v24.11.1-linux-x64", Some("v24.11.1")));
        assert!(!satisfied("node-v24.11.1-linux-x64", None));
        assert!(!satisfied("node-v22.21.0-linux-x64", Some("v22.21.0")));
        assert!(satisfied("built-by-hand", Some("v24.1.0")));
        assert!(!satisfied("built-by-hand", Some("v2.4.0")));
        assert!(!satisfied("", None));
    }

    #[test]
    fn the_origin_is_the_repositorys_host() {
        assert_eq!(origin("https://deb.nodesource.com"), "deb.nodesource.com");
        assert_eq!(origin("http://198.18.0.1:8097/nodesource"), "198.18.0.1");
        assert_eq!(origin("http://[2001:db8::1]:8097/"), "2001:db8::1");
        assert_eq!(
            origin("https://user@mirror.example.org:443/x"),
            "mirror.example.org"
        );
    }
}
