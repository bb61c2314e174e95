//! `tls.mode: files`: the operator's certificate chain and key, read and
//! judged before anything is applied: the key matches, the names are covered,
//! the certificate is in date.

use std::fmt;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::pkey::PKey;
use openssl::x509::X509;

/// Fewer days left than this earns a warning.
const WARN_DAYS: i32 = 30;

/// A checked chain and key, as PEM text.
#[derive(Clone)]
pub struct ProvidedCert {
    pub chain: String,
    pub key: String,
    /// When the leaf certificate expires, as OpenSSL prints it.
    pub not_after: String,
    pub days_left: i32,
}

/// Never prints the key.
impl fmt::Debug for ProvidedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvidedCert")
            .field("not_after", &self.not_after)
            .field("days_left", &self.days_left)
            .finish_non_exhaustive()
    }
}

impl ProvidedCert {
    pub fn warning(&self) -> Option<String> {
        (self.days_left < WARN_DAYS).then(|| {
            format!(
                "tls.cert expires in {} day(s), on {}: renew it soon",
                self.days_left, self.not_after
            )
        })
    }
}

/// Reads `chain` and `key` (the files `tls.cert` and `tls.key` name) and
/// checks them for `names`. Problems come as `(key, message)`.
pub fn read(chain: &Path, key: &Path, names: &[String]) -> Result<ProvidedCert, (String, String)> {
    let problem = |at: &str, message: String| (at.to_string(), message);
    let text = |at: &str, path: &Path| {
        super::files::read_text(path, super::files::SMALL_FILE_LIMIT).map_err(|e| problem(at, e))
    };
    let chain_pem = text("tls.cert", chain)?;
    let key_pem = text("tls.key", key)?;
    let certs = certificates(&chain_pem).map_err(|e| {
        let file = crate::dialect::terminal::shown(&chain.display().to_string());
        problem("tls.cert", format!("{file} {e}"))
    })?;
    let leaf = &certs[0];
    let private = PKey::private_key_from_pem(key_pem.as_bytes()).map_err(|_| {
        problem(
            "tls.key",
            format!(
                "{} is not an unencrypted PEM private key (nginx cannot read an encrypted one)",
                key.display()
            ),
        )
    })?;
    let matches = leaf
        .public_key()
        .map(|public| public.public_eq(&private))
        .unwrap_or(false);
    if !matches {
        return Err(problem(
            "tls.key",
            format!(
                "{} is not the key of the certificate in {}: their public keys differ",
                key.display(),
                chain.display()
            ),
        ));
    }
    let covered: Vec<String> = leaf
        .subject_alt_names()
        .map(|sans| {
            sans.iter()
                .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&str> = names
        .iter()
        .filter(|name| !covered.iter().any(|pattern| covers(pattern, name)))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let has = if covered.is_empty() {
            "no DNS names".to_string()
        } else {
            covered.join(", ")
        };
        return Err(problem(
            "tls.cert",
            format!(
                "the certificate does not cover {} (it names {has}); get one for `domain` and every alias",
                missing.join(", ")
            ),
        ));
    }
    let now = Asn1Time::days_from_now(0).expect("the current time is representable");
    let not_after = leaf.not_after().to_string();
    if leaf.not_before() > now {
        return Err(problem(
            "tls.cert",
            format!(
                "the certificate is not valid yet: from {}",
                leaf.not_before()
            ),
        ));
    }
    let left = now
        .diff(leaf.not_after())
        .expect("certificate times compare");
    if left.days < 0 || (left.days == 0 && left.secs <= 0) {
        return Err(problem(
            "tls.cert",
            format!("the certificate expired on {not_after}; renew it"),
        ));
    }
    // What nginx serves is the certificates alone, as OpenSSL writes them:
    // nothing else in the file (a comment, a key) reaches the host.
    let chain = certs
        .iter()
        .map(|c| {
            c.to_pem()
                .map(|pem| String::from_utf8_lossy(&pem).into_owned())
        })
        .collect::<Result<String, _>>()
        .map_err(|e| problem("tls.cert", format!("cannot write the chain: {e}")))?;
    Ok(ProvidedCert {
        chain,
        key: key_pem,
        not_after,
        days_left: left.days,
    })
}

/// The certificates of a PEM text, which must hold at least one and no
/// private key: a chain is published (0644, shown in plans), a key never.
pub fn certificates(pem: &str) -> Result<Vec<X509>, String> {
    if pem.contains("PRIVATE KEY-----") {
        return Err("holds a PRIVATE KEY as well as certificates: this file is published, so keep the certificates here and move the key to its own file, named by `tls.key`"
            .into());
    }
    let certs = X509::stack_from_pem(pem.as_bytes()).unwrap_or_default();
    if certs.is_empty() {
        return Err("holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into());
    }
    Ok(certs)
}

/// Whether a certificate name covers a host name: equal, or a wildcard for
/// exactly one leftmost label (`*.example.com` covers `a.example.com`).
fn covers(pattern: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if pattern == name {
        return true;
    }
    match (pattern.strip_prefix("*."), name.split_once('.')) {
        (Some(parent), Some((label, rest))) => !label.is_empty() && label != "*" && rest == parent,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("example.com", "EXAMPLE.com"));
        assert!(covers("*.example.com", "www.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("www.example.com", "example.com"));
    }
}
