//! `tls.mode: files`: the operator's chain and key are judged before anything
//! is rendered or applied, and the key never reaches the rendered output.

mod common;

use std::fs;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509, X509NameBuilder};
use tempfile::TempDir;

use common::{assert_says, deployer, text};

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A self-issued certificate for `names`, valid between two Unix times.
fn certificate(key: &PKey<Private>, names: &[&str], from: i64, until: i64) -> String {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, names[0]).unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    cert.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(key).unwrap();
    cert.set_not_before(&Asn1Time::from_unix(from).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::from_unix(until).unwrap())
        .unwrap();
    let mut san = SubjectAlternativeName::new();
    for n in names {
        san.dns(n);
    }
    let san = san.build(&cert.x509v3_context(None, None)).unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(key, MessageDigest::sha256()).unwrap();
    String::from_utf8(cert.build().to_pem().unwrap()).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const DAY: i64 = 86_400;

/// A spec in `dir` for shop.example.com and www.shop.example.com, reading
/// `cert.pem` and `key.pem` beside it, outside the shipped source (`app/`).
fn spec(dir: &Path, chain: &str, key: &PKey<Private>) -> String {
    fs::create_dir(dir.join("app")).unwrap();
    fs::write(dir.join("app/server.js"), "").unwrap();
    fs::write(dir.join("cert.pem"), chain).unwrap();
    fs::write(dir.join("key.pem"), key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let spec = dir.join("deployer.yaml");
    fs::write(
        &spec,
        "app:\n  name: shop\n  source: app\n  start: node server.js\n\
         domain: shop.example.com\naliases: [www.shop.example.com]\n\
         tls:\n  mode: files\n  cert: cert.pem\n  key: key.pem\n\
         hosts:\n  - name: web1\n    address: 198.18.0.10\n",
    )
    .unwrap();
    spec.to_str().unwrap().to_string()
}

const NAMES: &[&str] = &["shop.example.com", "*.shop.example.com"];

/// Validation fails with exactly one problem, at `line:col` and `key`.
fn refused(spec: &str, at: &str, message: &str) {
    let result = deployer(&["validate", "-f", spec]);
    assert_says(&result, 65, &[&format!("{spec}:{at}: {message}")]);
}

#[test]
fn a_matching_certificate_is_rendered_but_its_key_is_not() {
    let dir = TempDir::new().unwrap();
    let key = key();
    let chain = certificate(&key, NAMES, now() - DAY, now() + 90 * DAY);
    let spec = spec(dir.path(), &chain, &key);
    let out = dir.path().join("out");
    let result = deployer(&["render", "-f", &spec, "--out", out.to_str().unwrap()]);
    assert!(result.status.success(), "{}", text(&result));
    assert!(
        text(&result).contains("secret, not written: /etc/nginx/tls/shop/privkey.pem"),
        "{}",
        text(&result)
    );
    let served = fs::read_to_string(out.join("web1/etc/nginx/tls/shop/fullchain.pem")).unwrap();
    assert_eq!(served, chain);
    assert!(!out.join("web1/etc/nginx/tls/shop/privkey.pem").exists());
    let key_pem = String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    for file in common::files(&out) {
        let content = fs::read(out.join(&file)).unwrap();
        assert!(
            !String::from_utf8_lossy(&content).contains(key_pem.lines().nth(1).unwrap()),
            "{} holds the private key",
            file.display()
        );
    }
}

#[test]
fn a_certificate_close_to_expiry_is_a_warning() {
    let dir = TempDir::new().unwrap();
    let key = key();
    let chain = certificate(&key, NAMES, now() - DAY, now() + 10 * DAY + 3600);
    let spec = spec(dir.path(), &chain, &key);
    let result = deployer(&["validate", "-f", &spec]);
    assert!(result.status.success(), "{}", text(&result));
    assert!(
        text(&result).contains("warning: tls.cert expires in 10 day(s)"),
        "{}",
        text(&result)
    );
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let dir = TempDir::new().unwrap();
    let chain = certificate(&key(), NAMES, now() - DAY, now() + 90 * DAY);
    let spec = spec(dir.path(), &chain, &key());
    let key_path = dir.path().join("key.pem");
    refused(
        &spec,
        "10:8: tls.key",
        &format!(
            "{} is not the key of the certificate in {}: their public keys differ",
            key_path.display(),
            dir.path().join("cert.pem").display()
        ),
    );
}

#[test]
fn an_expired_certificate_is_refused() {
    let dir = TempDir::new().unwrap();
    let key = key();
    let chain = certificate(&key, NAMES, now() - 100 * DAY, now() - DAY);
    let spec = spec(dir.path(), &chain, &key);
    refused(&spec, "9:9: tls.cert", "the certificate expired on");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let dir = TempDir::new().unwrap();
    let key = key();
    let chain = certificate(&key, &["shop.example.org"], now() - DAY, now() + 90 * DAY);
    let spec = spec(dir.path(), &chain, &key);
    refused(
        &spec,
        "9:9: tls.cert",
        "the certificate does not cover shop.example.com, www.shop.example.com (it names shop.example.org); get one for `domain` and every alias",
    );
}

#[test]
fn a_file_that_is_no_certificate_is_refused() {
    let dir = TempDir::new().unwrap();
    let key = key();
    let spec = spec(dir.path(), "not a certificate\n", &key);
    refused(
        &spec,
        "9:9: tls.cert",
        &format!(
            "{} holds no PEM certificate",
            dir.path().join("cert.pem").display()
        ),
    );
}

/// Many operators keep the certificate and its key in one file: as
/// `tls.cert`, it would publish the key (fullchain.pem is 0644 and shown
/// in plans). It is refused, with the way out.
#[test]
fn a_chain_holding_a_private_key_is_refused_with_advice() {
    let dir = TempDir::new().unwrap();
    let key = key();
    let combined = certificate(&key, NAMES, now() - DAY, now() + 90 * DAY)
        + &String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let spec = spec(dir.path(), &combined, &key);
    refused(
        &spec,
        "9:9: tls.cert",
        &format!(
            "{} holds a PRIVATE KEY as well as certificates: this file is published, so keep the certificates here and move the key to its own file, named by `tls.key`",
            dir.path().join("cert.pem").display()
        ),
    );
}

/// Only the certificates reach the host, as OpenSSL writes them: nothing
/// else in the operator's file (a comment, other text) is published.
#[test]
fn only_the_certificates_of_the_chain_are_rendered() {
    let dir = TempDir::new().unwrap();
    let key = key();
    let chain = certificate(&key, NAMES, now() - DAY, now() + 90 * DAY);
    let spec = spec(dir.path(), &format!("notes: renew in May\n{chain}"), &key);
    let out = dir.path().join("out");
    let result = deployer(&["render", "-f", &spec, "--out", out.to_str().unwrap()]);
    assert!(result.status.success(), "{}", text(&result));
    let served = fs::read_to_string(out.join("web1/etc/nginx/tls/shop/fullchain.pem")).unwrap();
    assert_eq!(served, chain);
}
