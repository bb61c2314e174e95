//! `tls.dns`: certificates by DNS-01, through lego (Debian's package) and a
//! DNS provider's API, for wildcard names and sites whose port 80 the ACME
//! server cannot reach (behind a CDN).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Secret;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Dns {
    /// lego's code of the DNS provider, e.g. `cloudflare`, `route53`,
    /// `hetzner` (`lego dnshelp` lists them).
    pub provider: String,
    /// The provider's credentials, as lego's variables name them (e.g.
    /// `CF_DNS_API_TOKEN`), with their values from the operator's side as in
    /// `app.secrets`.
    #[serde(default)]
    pub credentials: Vec<Secret>,
    /// DNS servers (`IP` or `IP:port`) lego asks for the challenge record;
    /// the host's own by default.
    #[serde(default)]
    pub resolvers: Vec<String>,
    /// Wait until every authoritative name server has the record (lego's
    /// default); `false` goes on once `resolvers` answer at all, for
    /// split-horizon DNS or a test DNS server.
    #[serde(default = "Dns::default_propagation_check")]
    pub propagation_check: bool,
}

impl Dns {
    fn default_propagation_check() -> bool {
        true
    }
}

/// The DNS providers of lego 4.9.1, which Debian 12 and 13 ship, as
/// `lego dnshelp` lists them. `manual` is left out: it asks on a terminal,
/// and deployer runs lego unattended.
pub const PROVIDERS: &[&str] = &[
    "acme-dns",
    "alidns",
    "allinkl",
    "arvancloud",
    "auroradns",
    "autodns",
    "azure",
    "bindman",
    "bluecat",
    "checkdomain",
    "civo",
    "clouddns",
    "cloudflare",
    "cloudns",
    "cloudxns",
    "conoha",
    "constellix",
    "desec",
    "designate",
    "digitalocean",
    "dnsimple",
    "dnsmadeeasy",
    "dnspod",
    "dode",
    "domeneshop",
    "dreamhost",
    "duckdns",
    "dyn",
    "dynu",
    "easydns",
    "edgedns",
    "epik",
    "exec",
    "exoscale",
    "freemyip",
    "gandi",
    "gandiv5",
    "gcloud",
    "gcore",
    "glesys",
    "godaddy",
    "hetzner",
    "hostingde",
    "hosttech",
    "httpreq",
    "hurricane",
    "hyperone",
    "ibmcloud",
    "iij",
    "iijdpf",
    "infoblox",
    "infomaniak",
    "internetbs",
    "inwx",
    "ionos",
    "iwantmyname",
    "joker",
    "lightsail",
    "linode",
    "liquidweb",
    "loopia",
    "luadns",
    "mydnsjp",
    "mythicbeasts",
    "namecheap",
    "namedotcom",
    "namesilo",
    "nearlyfreespeech",
    "netcup",
    "netlify",
    "nicmanager",
    "nifcloud",
    "njalla",
    "ns1",
    "oraclecloud",
    "otc",
    "ovh",
    "pdns",
    "porkbun",
    "rackspace",
    "regru",
    "rfc2136",
    "rimuhosting",
    "route53",
    "safedns",
    "sakuracloud",
    "scaleway",
    "selectel",
    "servercow",
    "simply",
    "sonic",
    "stackpath",
    "tencentcloud",
    "transip",
    "variomedia",
    "vegadns",
    "vercel",
    "versio",
    "vinyldns",
    "vkcloud",
    "vscale",
    "vultr",
    "wedos",
    "yandex",
    "yandexcloud",
    "zoneee",
    "zonomi",
];

/// What is wrong with a credential's name, if anything. lego gets each as
/// `NAME_FILE`, the path of the file holding its value (it reads `NAME` from
/// there), so only names of that form that lego reads as settings, or that
/// Go reads, could change how it runs.
pub fn credential_name_problem(name: &str) -> Option<&'static str> {
    let upper = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !upper {
        Some("lego's variables are upper case letters, digits and `_`, such as CF_DNS_API_TOKEN")
    } else if name.starts_with("LEGO_") {
        Some("LEGO_ variables are lego's own settings, not a provider's credentials")
    } else if name == "SSL_CERT" {
        Some("lego would take SSL_CERT_FILE, its path, as the CAs it trusts")
    } else {
        None
    }
}
