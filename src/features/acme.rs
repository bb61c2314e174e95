//! `tls.mode: acme`: dehydrated (Debian's package) obtains the certificate
//! over HTTP-01 on each load balancer and renews it from a timer there; its
//! hook puts the new chain and key where nginx reads them and reloads nginx.
//! With several load balancers each obtains its own certificate, and a
//! challenge that reaches the wrong one is asked of the others over the
//! private network (`spec::ACME_PEER_PORT`).

use std::net::SocketAddr;

use serde::Serialize;

use super::Conditional;
use crate::dialect::shell::quote;
use crate::layout::Paths;
use crate::spec::{ACME_PEER_PORT, Host, Ip, Loaded, Role};

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
}

pub fn view(loaded: &Loaded, host: &Host, paths: &Paths) -> AcmeView {
    let self_signed = super::tls::self_signed(&loaded.spec.site_names(), host, paths);
    let spec = &loaded.spec;
    let names = spec.site_names();
    let app = &spec.app.name;
    let cert_dir = format!("/var/lib/dehydrated/certs/{app}");
    let names_file = quote(&format!("{}/acme.names", paths.tls_dir));
    let names_text = names.join(" ");
    let cert = quote(&paths.tls_cert);
    let address = |ip: &Ip| SocketAddr::new(ip.0, ACME_PEER_PORT).to_string();
    let lbs: Vec<&Host> = spec.hosts.iter().filter(|h| h.has(Role::Lb)).collect();
    let peers: Vec<String> = lbs
        .iter()
        .filter(|h| h.name != host.name)
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
            run: format!(
                "dehydrated --register --accept-terms >/dev/null && dehydrated --cron --keep-going && printf '%s\\n' {names} >{names_file}",
                names = quote(&names_text)
            ),
            unless: format!(
                "cmp -s {issued} {cert} && openssl x509 -in {cert} -noout -checkend {secs} && test \"$(cat {names_file})\" = {names}",
                issued = quote(&format!("{cert_dir}/fullchain.pem")),
                secs = RENEW_DAYS * 86_400,
                names = quote(&names_text)
            ),
            owns: vec![cert_dir, format!("{}/acme.names", paths.tls_dir)],
        },
        peer_listen: (!peers.is_empty())
            .then(|| host.private_address.as_ref().map(address))
            .flatten(),
        peers,
    }
}
