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
    match known.check_port(host, port, key) {
        CheckResult::Match => Ok(()),
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
