//! Host keys against an OpenSSH known_hosts file: strict by default, unknown
//! keys pinned only when asked, a changed key always a hard error that shows
//! both fingerprints.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use ssh2::{CheckResult, HostKeyType, KnownHostFileKind, Session};

/// How known_hosts names a host: `host`, or `[host]:port` off port 22.
pub fn entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:...` as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(key)))
}

fn key_type(kind: HostKeyType) -> Option<&'static str> {
    match kind {
        HostKeyType::Rsa => Some("ssh-rsa"),
        HostKeyType::Ecdsa256 => Some("ecdsa-sha2-nistp256"),
        HostKeyType::Ecdsa384 => Some("ecdsa-sha2-nistp384"),
        HostKeyType::Ecdsa521 => Some("ecdsa-sha2-nistp521"),
        HostKeyType::Ed25519 => Some("ssh-ed25519"),
        _ => None,
    }
}

/// Whether a known_hosts host field names `name`, hashed (`|1|salt|hash`) or not.
fn names(field: &str, name: &str) -> bool {
    field
        .split(',')
        .any(|pattern| match pattern.strip_prefix("|1|") {
            Some(hashed) => {
                let Some((salt, hash)) = hashed.split_once('|') else {
                    return false;
                };
                let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
                    return false;
                };
                let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(&hash).is_ok()
            }
            None => pattern == name,
        })
}

/// Fingerprints of the keys `file` holds for `name`.
fn known_fingerprints(file: &Path, name: &str) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('@'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (hosts, kind, key) = (fields.next()?, fields.next()?, fields.next()?);
            let key = STANDARD.decode(key).ok()?;
            names(hosts, name).then(|| format!("{} ({kind})", fingerprint(&key)))
        })
        .collect()
}

/// Checks the key `session` was offered for `host:port` (named `label` in
/// messages). With `accept_new`, an unknown key is appended to `file`.
pub fn verify(
    session: &Session,
    label: &str,
    host: &str,
    port: u16,
    file: &Path,
    accept_new: bool,
) -> Result<()> {
    let (key, kind) = session
        .host_key()
        .context("the server offered no host key")?;
    let offered = fingerprint(key);
    let mut known = session.known_hosts().context("reading known hosts")?;
    if file.exists() {
        known
            .read_file(file, KnownHostFileKind::OpenSSH)
            .with_context(|| format!("reading {}", file.display()))?;
    }
    let name = entry_name(host, port);
    let offered_type = key_type(kind).unwrap_or("an unsupported type");
    let types = known_types(file, host, port);
    match known.check_port(host, port, key) {
        CheckResult::Match => Ok(()),
        // libssh2 calls a key of a type known_hosts holds none of for the
        // host a mismatch; it is a key not yet known.
        CheckResult::Mismatch if !types.iter().any(|t| t == offered_type) => bail!(
            "{label}: {name} offers a {offered_type} host key ({offered}), and {} knows only {} for it. \
             If the host's sshd changed its keys, add this one (`ssh-keyscan -t {offered_type} -p {port} {host}`, \
             checked against the host's own fingerprint) and connect again",
            file.display(),
            types.join(", "),
        ),
        CheckResult::Mismatch => bail!(
            "{label}: THE HOST KEY OF {name} HAS CHANGED. Offered: {offered}; known in {}: {}. \
             This can be an attack; if the host was really reinstalled, remove the old entry \
             (`ssh-keygen -R '{name}' -f {}`) and connect again.",
            file.display(),
            known_fingerprints(file, &name).join(", "),
            file.display(),
        ),
        CheckResult::NotFound if accept_new => {
            let kind =
                key_type(kind).with_context(|| format!("{label}: unsupported host key type"))?;
            append(file, &format!("{name} {kind} {}\n", STANDARD.encode(key)))
                .with_context(|| format!("{label}: pinning the host key in {}", file.display()))
        }
        CheckResult::NotFound => bail!(
            "{label}: the host key of {name} ({offered}) is not in {}. Check it, then run again \
             with --accept-new-host-keys to pin it, or add it yourself (ssh-keyscan)",
            file.display()
        ),
        CheckResult::Failure => bail!(
            "{label}: checking the host key against {} failed",
            file.display()
        ),
    }
}

/// The key types `file` knows for `host:port`.
pub fn known_types(file: &Path, host: &str, port: u16) -> Vec<String> {
    let name = entry_name(host, port);
    let text = fs::read_to_string(file).unwrap_or_default();
    let mut types: Vec<String> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('@'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (hosts, kind) = (fields.next()?, fields.next()?);
            names(hosts, &name).then(|| kind.to_string())
        })
        .collect();
    types.dedup();
    types
}

/// libssh2's host key methods, known types first, as OpenSSH orders them:
/// a server offering several keys then shows one known_hosts can judge.
/// None when nothing is known (libssh2's own order).
pub fn method_preference(known: &[String]) -> Option<String> {
    const ALL: [&str; 7] = [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-rsa",
    ];
    // known_hosts calls every RSA key `ssh-rsa`; it signs with SHA-2 too.
    let is_known = |method: &str| {
        known
            .iter()
            .any(|k| k == method || (k == "ssh-rsa" && method.starts_with("rsa-sha2-")))
    };
    if !ALL.iter().any(|m| is_known(m)) {
        return None;
    }
    let (first, rest): (Vec<&str>, Vec<&str>) = ALL.iter().partition(|m| is_known(m));
    Some([first, rest].concat().join(","))
}

/// Adds the host keys a verified connection to `host:port` read from the
/// host (`(type, base64)`, as its `.pub` files say) to `file`, where `file`
/// knows no key of that type for the host: sshd may stop offering the type
/// deployer pinned first (the sshd drop-in offers ed25519 only). A known
/// key of the same type is left alone, mismatch or not: only a connection
/// decides about that. Says what it added.
pub fn learn(file: &Path, host: &str, port: u16, keys: &[(String, String)]) -> Result<Vec<String>> {
    let name = entry_name(host, port);
    let known_types = known_types(file, host, port);
    let mut learned = Vec::new();
    for (kind, key) in keys {
        let Ok(decoded) = STANDARD.decode(key) else {
            continue;
        };
        let supported = [
            HostKeyType::Ed25519,
            HostKeyType::Ecdsa256,
            HostKeyType::Ecdsa384,
            HostKeyType::Ecdsa521,
            HostKeyType::Rsa,
        ]
        .into_iter()
        .filter_map(key_type)
        .any(|k| k == kind);
        if !supported || known_types.contains(kind) {
            continue;
        }
        append(file, &format!("{name} {kind} {key}\n"))
            .with_context(|| format!("adding {name}'s {kind} key to {}", file.display()))?;
        learned.push(format!("{kind} {}", fingerprint(&decoded)));
    }
    Ok(learned)
}

fn append(file: &Path, line: &str) -> Result<()> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    out.write_all(line.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_key_types_are_asked_for_first() {
        assert_eq!(method_preference(&[]), None);
        assert_eq!(
            method_preference(&["ecdsa-sha2-nistp256".into()]).as_deref(),
            Some(
                "ecdsa-sha2-nistp256,ssh-ed25519,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa"
            )
        );
        assert_eq!(
            method_preference(&["ssh-rsa".into()]).as_deref(),
            Some(
                "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521"
            )
        );
    }

    #[test]
    fn a_verified_hosts_other_key_types_are_learned_once() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("known_hosts");
        let ecdsa = STANDARD.encode(b"an ecdsa key");
        let ed25519 = STANDARD.encode(b"an ed25519 key");
        fs::write(
            &file,
            format!("[198.18.0.10]:2222 ecdsa-sha2-nistp256 {ecdsa}\n"),
        )
        .unwrap();
        let keys = [
            ("ssh-ed25519".to_string(), ed25519.clone()),
            (
                "ecdsa-sha2-nistp256".to_string(),
                STANDARD.encode(b"another"),
            ),
            ("ssh-dss".to_string(), ed25519.clone()),
        ];
        let learned = learn(&file, "198.18.0.10", 2222, &keys).unwrap();
        assert_eq!(
            learned,
            [format!("ssh-ed25519 {}", fingerprint(b"an ed25519 key"))]
        );
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            format!(
                "[198.18.0.10]:2222 ecdsa-sha2-nistp256 {ecdsa}\n[198.18.0.10]:2222 ssh-ed25519 {ed25519}\n"
            )
        );
        assert!(learn(&file, "198.18.0.10", 2222, &keys).unwrap().is_empty());
        // Another port is another host.
        assert_eq!(
            learn(&file, "198.18.0.10", 22, &keys[..1]).unwrap().len(),
            1
        );
    }

    #[test]
    fn hashed_and_plain_names_match() {
        // `ssh-keygen -H` of "[198.18.0.10]:2222" with this salt.
        let salt = STANDARD.decode("c2FsdHNhbHRzYWx0c2FsdHNhbHQ=").unwrap();
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[198.18.0.10]:2222");
        let hashed = format!(
            "|1|{}|{}",
            STANDARD.encode(&salt),
            STANDARD.encode(mac.finalize().into_bytes())
        );
        assert!(names(&hashed, "[198.18.0.10]:2222"));
        assert!(!names(&hashed, "198.18.0.10"));
        assert!(names("web1,198.18.0.10", "198.18.0.10"));
        assert!(!names("web1", "web2"));
    }

    #[test]
    fn entry_names_and_fingerprints() {
        assert_eq!(entry_name("h", 22), "h");
        assert_eq!(entry_name("h", 2222), "[h]:2222");
        // The SHA-256 of nothing, as OpenSSH prints fingerprints.
        assert_eq!(
            fingerprint(b""),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }
}
