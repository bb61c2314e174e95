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

use super::Conditional;
use crate::dialect::shell::quote;
use crate::layout::Paths;
use crate::spec::dns::Dns;
use crate::spec::{ACME_PEER_PORT, Host, Ip, Loaded, Role, SecretValues};

/// Renewal starts this long before expiry (dehydrated's RENEW_DAYS).
const RENEW_DAYS: u32 = 30;

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
    /// The names the certificate covers, one line, and where they are kept.
    pub names: String,
    pub names_file: String,
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
    let names_file = quote(&names_path);
    let names_text = names.join(" ");
    let cert = quote(&paths.tls_cert);
    let dns = spec
        .tls
        .dns
        .as_ref()
        .map(|dns| dns_view(loaded, dns, &names_path));
    let issued = match &dns {
        Some(dns) => dns.issued_cert.clone(),
        None => format!("/var/lib/dehydrated/certs/{app}/fullchain.pem"),
    };
    // The check both the apply and lego's script make.
    let current = format!(
        "cmp -s {issued} {cert} && openssl x509 -in {cert} -noout -checkend {secs} && test \"$(cat {names_file})\" = {names}",
        issued = quote(&issued),
        secs = RENEW_DAYS * 86_400,
        names = quote(&names_text)
    );
    let (run, owns, account) = match &dns {
        Some(_) => (
            DNS_SCRIPT.to_string(),
            vec![format!("{}/certificates", lego_dir(app)), names_path],
            format!("{}/accounts", lego_dir(app)),
        ),
        None => (
            format!(
                "dehydrated --register --accept-terms >/dev/null && dehydrated --cron --keep-going && printf '%s\\n' {names} >{names_file}",
                names = quote(&names_text)
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
            unless: format!("test -s {cert}"),
            owns: self_signed.owns,
        },
        obtain: Conditional {
            name: "obtain the certificate from the ACME server".into(),
            run,
            unless: current,
            owns,
        },
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

fn dns_view(loaded: &Loaded, dns: &Dns, names_file: &str) -> DnsView {
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
        names: names.join(" "),
        names_file: names_file.to_string(),
        logged: format!(
            "ACME: a new certificate for {} is live; nginx reloaded",
            names.first().map_or("", String::as_str)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(view.obtain.unless.starts_with(
            "cmp -s /var/lib/deployer/lego/shop/certificates/_.example.com.crt /etc/nginx/tls/shop/fullchain.pem && "
        ));
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
}
