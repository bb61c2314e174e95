//! `tls.mode: acme`: dehydrated (Debian's package) obtains the certificate
//! over HTTP-01 on each load balancer and renews it from a timer there; its
//! hook puts the new chain and key where nginx reads them and reloads nginx.
//! With several load balancers each obtains its own certificate, and a
//! challenge that reaches the wrong one is asked of the others over the
//! private network (`spec::ACME_PEER_PORT`).
//!
//! With `tls.dns`, lego (Debian's package, which speaks to DNS providers'
//! APIs; dehydrated needs provider code of its own) obtains it over DNS-01
//! instead, from a script that also installs it; each load balancer still
//! obtains its own.

use std::net::SocketAddr;

use serde::Serialize;

use super::{Conditional, tls};
use crate::dialect::shell::quote;
use crate::layout::Paths;
use crate::spec::dns::Dns;
use crate::spec::{ACME_PEER_PORT, Host, Ip, Loaded, Role, SecretValues};

/// Renewal starts this long before expiry (dehydrated's RENEW_DAYS).
const RENEW_DAYS: u32 = 30;
const RENEW_SECS: u32 = RENEW_DAYS * 86_400;

#[derive(Debug, Serialize)]
pub struct AcmeView {
    pub directory: String,
    pub email: String,
    /// A private ACME server's CA, as PEM.
    pub ca: Option<String>,
    /// `domains.txt`: the names, then `> CERT_NAME`.
    pub domains_line: String,
    pub renew_days: u32,
    /// Where challenge files go: `.well-known/acme-challenge` under nginx's root.
    pub challenges: String,
    /// A stand-in certificate so nginx starts before the first issue.
    pub placeholder: Conditional,
    pub obtain: Conditional,
    /// Records the certificate nginx serves (see [`tls::record`]): the
    /// hook and lego's script run it once they install one.
    pub record: String,
    /// Holds for a certificate that is current by the check of names
    /// files that held only the names (deployer before the record), or of
    /// a record that failed: it is recorded, not obtained again.
    pub unrecorded: String,
    /// This host's `address:port` for peers' challenges; with peers only.
    pub peer_listen: Option<String>,
    /// The other load balancers' `address:port`.
    pub peers: Vec<String>,
    /// What the ACME client keeps between runs: its account.
    pub account: String,
    /// With `tls.dns`: lego over DNS-01.
    pub dns: Option<DnsView>,
}

#[derive(Debug, Serialize)]
pub struct DnsView {
    /// lego's command line up to its subcommand, shell-quoted: each
    /// credential goes to lego alone, as `NAME_FILE=` the root-only file
    /// holding it (lego reads `NAME` from there), never as its value.
    pub lego: String,
    /// The credentials' values, by name, each written to its own file.
    pub values: SecretValues,
    /// The credentials' files: the directory, then `(name, path)`.
    pub credentials_dir: String,
    pub credentials: Vec<(String, String)>,
    /// Where lego leaves a new chain and key.
    pub issued_cert: String,
    pub issued_key: String,
    /// What the script logs when a new certificate is live.
    pub logged: String,
}

/// Where the DNS provider's credentials live on the host, one file each.
const CREDENTIALS_DIR: &str = "/etc/deployer/acme-dns";

/// Where lego's script lives; the ACME unit runs it too.
pub const DNS_SCRIPT: &str = "/usr/local/lib/deployer/acme-dns";

pub fn view(loaded: &Loaded, host: &Host, paths: &Paths) -> AcmeView {
    let self_signed = super::tls::self_signed(&loaded.spec.site_names(), host, paths);
    let spec = &loaded.spec;
    let names = spec.site_names();
    let app = &spec.app.name;
    let names_path = format!("{}/acme.names", paths.tls_dir);
    let names_text = names.join(" ");
    let dns = spec.tls.dns.as_ref().map(|dns| dns_view(loaded, dns));
    let issued = match &dns {
        Some(dns) => dns.issued_cert.clone(),
        None => format!("/var/lib/dehydrated/certs/{app}/fullchain.pem"),
    };
    // Wherever a certificate goes live (the hook, lego's script, the
    // apply), the names file records its names, its expiry and itself.
    let record = tls::record(&paths.tls_cert, &names_path, &names_text);
    let cert = quote(&paths.tls_cert);
    // The check both the apply and lego's script make: the certificate
    // nginx serves is the one recorded for these names, with more than
    // RENEW_DAYS left, and the last one the client obtained.
    let current = format!(
        "{} && {{ IFS= read -r -d '' issued || [ -n \"$issued\" ]; }} 2>/dev/null <{} && [ \"$issued\" = \"$current\" ]",
        tls::recorded(&paths.tls_cert, &names_path, &names_text, RENEW_SECS),
        quote(&issued),
    );
    // The check of names files that held only the names (deployer before
    // the record), or a record that failed: a certificate it holds is
    // recorded rather than obtained again, with no ACME server asked.
    let unrecorded = format!(
        "{{ IFS= read -r names; }} 2>/dev/null <{names_file} && [ \"$names\" = {names} ] && cmp -s {issued} {cert} && openssl x509 -in {cert} -noout -checkend {RENEW_SECS} >/dev/null 2>&1",
        names_file = quote(&names_path),
        names = quote(&names_text),
        issued = quote(&issued),
    );
    let (run, owns, account) = match &dns {
        Some(_) => (
            DNS_SCRIPT.to_string(),
            vec![format!("{}/certificates", lego_dir(app)), names_path],
            format!("{}/accounts", lego_dir(app)),
        ),
        None => (
            format!(
                "{{ {unrecorded} || {{ dehydrated --register --accept-terms >/dev/null && dehydrated --cron --keep-going; }}; }} && {record}"
            ),
            vec![format!("/var/lib/dehydrated/certs/{app}"), names_path],
            "/var/lib/dehydrated/accounts".to_string(),
        ),
    };
    let address = |ip: &Ip| SocketAddr::new(ip.0, ACME_PEER_PORT).to_string();
    let peers: Vec<String> = spec
        .hosts
        .iter()
        .filter(|h| spec.acme_peers() && h.has(Role::Lb) && h.name != host.name)
        .filter_map(|h| h.private_address.as_ref().map(address))
        .collect();
    AcmeView {
        directory: spec.tls.acme_directory.clone(),
        email: spec.tls.email.clone().unwrap_or_default(),
        ca: loaded.acme_ca.clone(),
        domains_line: format!("{names_text} > {app}"),
        renew_days: RENEW_DAYS,
        challenges: format!("{}/.well-known/acme-challenge", paths.acme_root),
        placeholder: Conditional {
            name: "make a stand-in certificate until ACME issues one".into(),
            run: self_signed.run,
            unless: format!("test -s {}", quote(&paths.tls_cert)),
            owns: self_signed.owns,
        },
        obtain: Conditional {
            name: "obtain the certificate from the ACME server".into(),
            run,
            unless: current,
            owns,
        },
        record,
        unrecorded,
        peer_listen: (!peers.is_empty())
            .then(|| host.private_address.as_ref().map(address))
            .flatten(),
        peers,
        account,
        dns,
    }
}

/// lego's directory for the app: its account, and the certificates it got.
fn lego_dir(app: &str) -> String {
    format!("/var/lib/deployer/lego/{app}")
}

fn dns_view(loaded: &Loaded, dns: &Dns) -> DnsView {
    let spec = &loaded.spec;
    let names = spec.site_names();
    let dir = lego_dir(&spec.app.name);
    let credentials: Vec<(String, String)> = dns
        .credentials
        .iter()
        .map(|c| (c.name.clone(), format!("{CREDENTIALS_DIR}/{}", c.name)))
        .collect();
    let mut lego: Vec<String> = credentials
        .iter()
        .map(|(name, path)| format!("{name}_FILE={}", quote(path)))
        .collect();
    lego.extend([
        "lego".to_string(),
        "--accept-tos".into(),
        "--email".into(),
        quote(spec.tls.email.as_deref().unwrap_or_default()),
        "--server".into(),
        quote(&spec.tls.acme_directory),
        "--path".into(),
        quote(&dir),
        "--key-type".into(),
        "ec256".into(),
        "--dns".into(),
        quote(&dns.provider),
    ]);
    for resolver in &dns.resolvers {
        lego.extend(["--dns.resolvers".into(), quote(resolver)]);
    }
    if !dns.propagation_check {
        lego.push("--dns.disable-cp".into());
    }
    for name in &names {
        lego.extend(["--domains".into(), quote(name)]);
    }
    // lego names its files after the first name, a wildcard's `*` as `_`.
    let first = names.first().map_or(String::new(), |n| n.replace('*', "_"));
    DnsView {
        lego: lego.join(" "),
        values: loaded.dns_credentials.clone().unwrap_or_default(),
        credentials_dir: CREDENTIALS_DIR.into(),
        credentials,
        issued_cert: format!("{dir}/certificates/{first}.crt"),
        issued_key: format!("{dir}/certificates/{first}.key"),
        logged: format!(
            "ACME: a new certificate for {} is live; nginx reloaded",
            names.first().map_or("", String::as_str)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::testing::{bash, check_of};
    use crate::spec::Secrets;

    #[test]
    fn dns_01_runs_lego_with_every_name_quoted_and_finds_what_it_wrote() {
        let dir = tempfile::TempDir::new().unwrap();
        let yaml = r#"app:
  name: shop
  start: node server.js
domain: "*.example.com"
aliases: [example.com]
tls:
  email: ops@example.com
  dns:
    provider: cloudflare
    credentials: [CF_DNS_API_TOKEN]
    resolvers: ["[2606:4700::1111]:53"]
hosts:
  - name: web1
    address: 198.18.0.10
    private_address: 10.0.0.10
    roles: [lb]
  - name: web2
    address: 198.18.0.11
    private_address: 10.0.0.11
    roles: [lb, app]
network:
  private: [10.0.0.0/24]
"#;
        let file = dir.path().join("deployer.yaml");
        let loaded = crate::spec::check(&file, yaml, Secrets::Skip).unwrap();
        let view = view(&loaded, &loaded.spec.hosts[1], &Paths::new("shop"));
        let dns = view.dns.as_ref().unwrap();
        assert_eq!(
            dns.lego,
            "CF_DNS_API_TOKEN_FILE=/etc/deployer/acme-dns/CF_DNS_API_TOKEN \
             lego --accept-tos --email ops@example.com --server https://acme-v02.api.letsencrypt.org/directory \
             --path /var/lib/deployer/lego/shop --key-type ec256 --dns cloudflare \
             --dns.resolvers '[2606:4700::1111]:53' --domains '*.example.com' --domains example.com"
        );
        assert_eq!(
            dns.issued_cert,
            "/var/lib/deployer/lego/shop/certificates/_.example.com.crt"
        );
        assert_eq!(view.obtain.run, DNS_SCRIPT);
        assert!(view.obtain.unless.ends_with(
            " 2>/dev/null </var/lib/deployer/lego/shop/certificates/_.example.com.crt && [ \"$issued\" = \"$current\" ]"
        ), "{}", view.obtain.unless);
        // No challenge comes over HTTP, so none is passed to the other lb.
        assert!(view.peers.is_empty() && view.peer_listen.is_none());
    }

    /// Each credential lands alone in its root-only file, as lego reads it:
    /// the value and one newline.
    #[test]
    fn dns_01_credentials_land_whole_in_their_own_files() {
        let dir = tempfile::TempDir::new().unwrap();
        let yaml = r#"app:
  name: shop
  start: node server.js
domain: example.com
tls:
  email: ops@example.com
  dns:
    provider: cloudflare
    credentials:
      - name: CF_DNS_API_TOKEN
        command: printf '%s' "to'k en"
hosts:
  - name: web1
    address: 198.18.0.10
"#;
        let file = dir.path().join("deployer.yaml");
        let loaded = crate::spec::check(&file, yaml, Secrets::Read).unwrap();
        let renderer = crate::render::Renderer::new().unwrap();
        let resources = crate::deploy::desired(
            &renderer,
            &loaded,
            &loaded.spec.hosts[0],
            &crate::layout::AssumedCores(2),
            &Default::default(),
        )
        .unwrap();
        let credential = resources
            .iter()
            .find_map(|r| match r {
                crate::resource::Resource::File(f)
                    if f.path == "/etc/deployer/acme-dns/CF_DNS_API_TOKEN" =>
                {
                    Some(f)
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(credential.content, "to'k en\n");
        assert!(credential.secret);
        assert_eq!(credential.mode.0, 0o600);
    }

    /// The check every plan makes, the record that installing a
    /// certificate writes, and lego's check for a certificate from before
    /// the record, run by bash against certificates openssl makes here.
    #[test]
    fn a_certificate_is_current_while_recorded_issued_and_far_from_expiry() {
        let dir = tempfile::TempDir::new().unwrap();
        let at = |name: &str| format!("{}/{name}", dir.path().display());
        let yaml = "app:\n  name: shop\n  start: node server.js\ndomain: example.com\ntls:\n  email: ops@example.com\n  dns:\n    provider: cloudflare\n    credentials: [CF_DNS_API_TOKEN]\nhosts:\n  - name: web1\n    address: 198.18.0.10\n";
        let loaded =
            crate::spec::check(&dir.path().join("deployer.yaml"), yaml, Secrets::Skip).unwrap();
        let mut paths = Paths::new("shop");
        paths.tls_dir = dir.path().display().to_string();
        paths.tls_cert = at("fullchain.pem");
        let view = view(&loaded, &loaded.spec.hosts[0], &paths);
        let dns = view.dns.as_ref().unwrap();
        let here = |command: &str| command.replace(&dns.issued_cert, &at("issued.pem"));
        let check = check_of(&here(&view.obtain.unless));
        let (record, unrecorded) = (here(&view.record), here(&view.unrecorded));
        let issue = |days: u32| {
            let made = std::process::Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                .args([
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-subj",
                    "/CN=example.com",
                ])
                .args(["-days", &days.to_string(), "-keyout", &at("key.pem")])
                .args(["-out", &at("issued.pem")])
                .output()
                .unwrap();
            assert!(made.status.success());
            std::fs::copy(at("issued.pem"), &paths.tls_cert).unwrap();
        };
        let names_file = at("acme.names");
        issue(90);
        assert!(!bash(&check), "not recorded yet");
        std::fs::write(&names_file, "example.com\n").unwrap();
        assert!(bash(&unrecorded), "current by the names-only check");
        assert!(bash(&record), "recorded");
        let recorded = std::fs::read_to_string(&names_file).unwrap();
        let cert = std::fs::read_to_string(&paths.tls_cert).unwrap();
        assert!(recorded.starts_with("example.com\n") && recorded.ends_with(&cert));
        assert!(bash(&check), "current");
        // Another certificate obtained, not yet served.
        issue(90);
        std::fs::write(&paths.tls_cert, &cert).unwrap();
        assert!(!bash(&check), "the client has a newer one");
        std::fs::copy(at("issued.pem"), &paths.tls_cert).unwrap();
        assert!(!bash(&check), "served, not recorded");
        assert!(bash(&record) && bash(&check));
        // Fewer than RENEW_DAYS left, or other names.
        issue(RENEW_DAYS - 1);
        assert!(bash(&record) && !bash(&check), "due");
        assert!(!bash(&unrecorded), "due by the older check too");
        issue(90);
        assert!(bash(&record) && bash(&check));
        let other = recorded.replacen("example.com", "shop.example.com", 1);
        std::fs::write(&names_file, other).unwrap();
        assert!(!bash(&check), "other names");

        // dehydrated's obtain command records a current certificate from
        // before the record without asking the ACME server (no dehydrated
        // needed: here a stand-in that fails).
        let over_http = yaml.replace(
            "  dns:\n    provider: cloudflare\n    credentials: [CF_DNS_API_TOKEN]\n",
            "",
        );
        let loaded =
            crate::spec::check(&dir.path().join("deployer.yaml"), &over_http, Secrets::Skip)
                .unwrap();
        let view = super::view(&loaded, &loaded.spec.hosts[0], &paths);
        assert!(view.dns.is_none());
        let here = |command: &str| {
            command.replace(
                "/var/lib/dehydrated/certs/shop/fullchain.pem",
                &at("issued.pem"),
            )
        };
        let obtain = format!("dehydrated() {{ return 1; }}; {}", here(&view.obtain.run));
        std::fs::write(&names_file, "example.com\n").unwrap();
        assert!(bash(&obtain), "recorded");
        assert!(bash(&check_of(&here(&view.obtain.unless))), "current");
        std::fs::write(&names_file, "shop.example.com\n").unwrap();
        assert!(!bash(&obtain), "other names: asked of dehydrated");
    }
}
