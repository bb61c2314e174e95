//! What an app claims of a host it may share with other apps deployed from
//! other specs: the host's policy (one sshd, one firewall table, one kernel
//! baseline, one set of apt sources), the names its site answers, the ports
//! it takes, and what only one app per host may have. Each app's claims are written on the host
//! (`layout::CLAIMS/<app>.json`); the next app deployed there reads them,
//! composes the host-wide files with them (nginx.conf) and refuses what
//! cannot be shared.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::dialect::terminal::shown;
use crate::layout::{self, CoreCounts, Units};
use crate::spec::{
    ACME_PEER_PORT, Edge, Forward, Host, HostBaseline, NodeSource, OtherSites, Proto, Role, Spec,
    TlsMode, TlsProfile,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub app: String,
    pub policy: Policy,
    /// The site this host's nginx serves for the app (load balancers).
    pub site: Option<Site>,
    /// Ports the app listens on or opens here: `tcp/3000`.
    pub ports: BTreeSet<String>,
    /// Those of them open to the public (nginx's on a load balancer,
    /// `firewall.open`), which the exposure report expects.
    #[serde(default)]
    pub public: BTreeSet<String>,
    /// The unit files it writes: `shop@.service`, `shop-api@.service`.
    #[serde(default)]
    pub units: BTreeSet<String>,
    /// The Node.js this host runs for the app (app and worker hosts):
    /// `official 24`, `nodesource 22`, `distro`.
    pub node: Option<String>,
    /// What one app per host may have: `services.redis`, `tls.mode: acme`,
    /// `network.mesh`.
    pub only_one: BTreeSet<String>,
}

/// What every app on a host must agree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub ssh_port: u16,
    pub ssh_from: BTreeSet<String>,
    pub allow_users: BTreeSet<String>,
    pub forward: Forward,
    /// Which nginx sites found on the host nginx.conf includes.
    #[serde(default)]
    pub other_sites: OtherSites,
    /// `host` and `apt.security_source`: each renders a file the host has
    /// one of (modules in name order).
    #[serde(default)]
    pub host: HostBaseline,
    #[serde(default)]
    pub security_source: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// `domain` and `aliases`; empty: every name.
    pub names: Vec<String>,
    /// The TLS profile, when the site serves HTTPS.
    pub tls: Option<TlsProfile>,
    /// The proxies in front of nginx, which every site on the host shares:
    /// 80 and 443 take the PROXY protocol or not, and are open to all or
    /// to the proxies only.
    #[serde(default)]
    pub edge: Edge,
}

/// What the app of `spec` claims of `host`.
pub fn of(spec: &Spec, host: &Host, cores: &dyn CoreCounts) -> Claims {
    let mut ports: BTreeSet<String> = layout::ports(spec, host, cores)
        .into_iter()
        .map(|p| format!("tcp/{p}"))
        .collect();
    let mut only_one = BTreeSet::new();
    if let Some(redis) = spec.services.redis.as_ref().filter(|r| r.host == host.name) {
        ports.insert(format!("tcp/{}", redis.port));
        only_one.insert("services.redis".to_string());
    }
    if spec.network.mesh.is_some() {
        ports.insert(format!("udp/{}", spec.network.mesh_port));
        only_one.insert("network.mesh".to_string());
    }
    let lb = host.has(Role::Lb);
    if lb && spec.tls_mode() == TlsMode::Acme {
        only_one.insert("tls.mode: acme".to_string());
        if spec.acme_peers() {
            ports.insert(format!("tcp/{ACME_PEER_PORT}"));
        }
    }
    let mut public = BTreeSet::new();
    if lb {
        public.extend(["tcp/80".to_string(), "tcp/443".to_string()]);
    }
    for open in &spec.firewall.open {
        let proto = match open.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        ports.insert(format!("{proto}/{}", open.port));
        public.insert(format!("{proto}/{}", open.port));
    }
    let names = Units::new(spec, host, cores);
    let units = [
        names.web_template,
        names.pm2,
        names.health_service,
        names.health_timer,
    ]
    .into_iter()
    .chain(names.workers.into_iter().map(|w| w.template))
    .collect();
    let node = &spec.runtime.node;
    Claims {
        app: spec.app.name.clone(),
        policy: Policy {
            ssh_port: spec.network.ssh_port,
            ssh_from: spec
                .network
                .ssh_from
                .iter()
                .map(|c| c.0.to_string())
                .collect(),
            allow_users: spec.ssh.allow_users.iter().cloned().collect(),
            forward: spec.firewall.forward,
            other_sites: spec.nginx.other_sites,
            host: {
                let mut host = spec.host.clone();
                host.modules.sort();
                host.modules.dedup();
                host
            },
            security_source: spec.apt.security_source,
        },
        site: lb.then(|| Site {
            names: spec.site_names(),
            tls: (spec.tls_mode() != TlsMode::Off).then_some(spec.tls.profile),
            // In one order, once each: the same proxies however listed.
            edge: {
                let mut edge = spec.edge.clone();
                edge.trusted.sort();
                edge.trusted.dedup();
                edge
            },
        }),
        ports,
        public,
        units,
        node: (host.has(Role::App) || host.has(Role::Worker)).then(|| match node.source {
            NodeSource::Official => format!("official {}", node.version),
            NodeSource::Nodesource => format!("nodesource {}", node.version),
            NodeSource::Distro => "distro".to_string(),
        }),
        only_one,
    }
}

/// Why `mine` cannot share a host with `other`'s app: one line per
/// conflict, naming the key and the other app.
pub fn conflicts(mine: &Claims, other: &Claims) -> Vec<String> {
    // The other app's claims come from the host: shown escaped.
    let them = format!("app `{}`", shown(&other.app));
    let mut found = Vec::new();
    // A setting the host has one of: every app on it must say the same.
    let one_per_host = |has: &'static str| {
        let them = &them;
        move |key: &str, here: String, there: String| {
            format!(
                "{key} is {here} in this spec and {there} for {them}, deployed here too: the host has {has}, so every app on it must say the same"
            )
        }
    };
    let policy = one_per_host("one sshd and one firewall");
    let baseline = one_per_host("one kernel, one apt and one way to log in");
    let (a, b) = (&mine.policy, &other.policy);
    if a.ssh_port != b.ssh_port {
        found.push(policy(
            "network.ssh_port",
            a.ssh_port.to_string(),
            b.ssh_port.to_string(),
        ));
    }
    if a.ssh_from != b.ssh_from {
        found.push(policy(
            "network.ssh_from",
            list(&a.ssh_from),
            list(&b.ssh_from),
        ));
    }
    if a.allow_users != b.allow_users {
        found.push(policy(
            "ssh.allow_users",
            list(&a.allow_users),
            list(&b.allow_users),
        ));
    }
    if a.other_sites != b.other_sites {
        found.push(format!(
            "nginx.other_sites is {} in this spec and {} for {them}, deployed here too: nginx.conf either includes the sites found on the host or not, for every app on it",
            format!("{:?}", a.other_sites).to_lowercase(),
            format!("{:?}", b.other_sites).to_lowercase(),
        ));
    }
    if a.forward != b.forward {
        found.push(policy(
            "firewall.forward",
            format!("{:?}", a.forward).to_lowercase(),
            format!("{:?}", b.forward).to_lowercase(),
        ));
    }
    let (x, y) = (&a.host, &b.host);
    if x.sysctl != y.sysctl {
        let settings = |m: &BTreeMap<String, String>| {
            list(&m.iter().map(|(k, v)| format!("{k}: {v}")).collect())
        };
        found.push(baseline(
            "host.sysctl",
            settings(&x.sysctl),
            settings(&y.sysctl),
        ));
    }
    if x.modules != y.modules {
        let modules = |m: &[String]| list(&m.iter().cloned().collect());
        found.push(baseline(
            "host.modules",
            modules(&x.modules),
            modules(&y.modules),
        ));
    }
    let scalars = [
        (
            "host.core_dumps",
            x.core_dumps.to_string(),
            y.core_dumps.to_string(),
        ),
        (
            "host.idle_timeout",
            x.idle_timeout.to_string(),
            y.idle_timeout.to_string(),
        ),
        (
            "host.pam_tmpdir",
            x.pam_tmpdir.to_string(),
            y.pam_tmpdir.to_string(),
        ),
        (
            "apt.security_source",
            a.security_source.to_string(),
            b.security_source.to_string(),
        ),
    ];
    for (key, here, there) in scalars {
        if here != there {
            found.push(baseline(key, here, there));
        }
    }
    if let (Some(a), Some(b)) = (&mine.site, &other.site) {
        if a.names.is_empty() || b.names.is_empty() {
            found.push(format!(
                "{} no `domain`, so it would answer every name nginx serves here, beside {them}: give {} a domain",
                if a.names.is_empty() { "this spec has" } else { "the other app has" },
                if a.names.is_empty() { "this app" } else { "it" },
            ));
        }
        for name in a.names.iter().filter(|n| b.names.contains(n)) {
            found.push(format!(
                "the name {} is {them}'s on this host already",
                shown(name)
            ));
        }
        if let (Some(x), Some(y)) = (a.tls, b.tls)
            && x != y
        {
            found.push(format!(
                "tls.profile is {} here and {} for {them}: nginx on one host speaks one TLS profile",
                format!("{x:?}").to_lowercase(),
                format!("{y:?}").to_lowercase()
            ));
        }
        if a.edge != b.edge {
            let said = |edge: &Edge| {
                if edge.trusted.is_empty() {
                    "none".to_string()
                } else {
                    format!(
                        "{} (proxy_protocol: {}, only: {})",
                        list(&edge.trusted.iter().map(|t| t.to_string()).collect()),
                        edge.proxy_protocol,
                        edge.only
                    )
                }
            };
            found.push(format!(
                "edge is {} here and {} for {them}: ports 80 and 443 of one host have one set of proxies in front",
                said(&a.edge),
                said(&b.edge)
            ));
        }
    }
    for port in mine.ports.intersection(&other.ports) {
        found.push(format!(
            "port {} is taken by {them} on this host",
            shown(port)
        ));
    }
    for unit in mine.units.intersection(&other.units) {
        found.push(format!(
            "both would write the unit {}: {them}'s names are this app's (an app named after another's worker, or the reverse)",
            shown(unit)
        ));
    }
    if let (Some(x), Some(y)) = (&mine.node, &other.node)
        && x != y
    {
        found.push(format!(
            "runtime.node gives Node.js `{x}` and {them} runs `{}` here: a host has one Node.js (/usr/local/bin/node), so both specs must say the same",
            shown(y)
        ));
    }
    for what in mine
        .only_one
        .intersection(&other.only_one)
        .map(|w| shown(w))
    {
        found.push(format!(
            "{what}: {them} has it on this host already, and only one app per host may (for now)"
        ));
    }
    found
}

fn list(items: &BTreeSet<String>) -> String {
    if items.is_empty() {
        "empty".into()
    } else {
        format!(
            "[{}]",
            items
                .iter()
                .map(|i| shown(i))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(extra: serde_json::Value) -> Claims {
        let mut spec = serde_json::json!({
            "app": {"name": "shop", "start": "node server.js", "instances": 2},
            "domain": "shop.example.com",
            "tls": {"mode": "self-signed"},
            "hosts": [{"name": "web1", "address": "198.18.0.10"}]
        });
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let spec: Spec = serde_json::from_value(spec).unwrap();
        of(&spec, &spec.hosts[0], &layout::AssumedCores(2))
    }

    #[test]
    fn claims_say_what_the_app_takes_and_read_back() {
        let shop = claims(serde_json::json!({}));
        assert_eq!(
            shop.ports,
            ["tcp/3000".to_string(), "tcp/3001".into()].into()
        );
        assert_eq!(shop.node.as_deref(), Some("official 24"));
        assert_eq!(
            shop.site,
            Some(Site {
                names: vec!["shop.example.com".into()],
                tls: Some(TlsProfile::Intermediate),
                edge: Edge::default(),
            })
        );
        let json = serde_json::to_string(&shop).unwrap();
        assert_eq!(serde_json::from_str::<Claims>(&json).unwrap(), shop);
    }

    #[test]
    fn apps_that_say_different_things_of_one_host_conflict() {
        let shop = claims(serde_json::json!({}));
        let blog = claims(serde_json::json!({
            "app": {"name": "blog", "start": "node server.js", "port": 4000, "instances": 1},
            "domain": "blog.example.com",
        }));
        assert_eq!(conflicts(&shop, &blog), Vec::<String>::new());

        let greedy = claims(serde_json::json!({
            "app": {"name": "greedy", "start": "node server.js", "port": 3001},
            "aliases": ["shop.example.com"],
            "domain": "greedy.example.com",
            "network": {"ssh_from": ["10.0.0.0/8"]},
            "runtime": {"node": {"source": "distro"}},
            "tls": {"mode": "self-signed", "profile": "modern"},
            "host": {"sysctl": {"vm.swappiness": "10"}, "core_dumps": true,
                     "idle_timeout": "30m", "pam_tmpdir": false},
            "apt": {"security_source": true},
            "edge": {"trusted": ["cloudflare"], "only": true},
        }));
        let found = conflicts(&greedy, &shop);
        let all = found.join("\n");
        for expected in [
            "network.ssh_from is [10.0.0.0/8] in this spec and [0.0.0.0/0, ::/0] for app `shop`",
            "the name shop.example.com is app `shop`'s on this host already",
            "tls.profile is modern here and intermediate for app `shop`",
            "port tcp/3001 is taken by app `shop` on this host",
            "runtime.node gives Node.js `distro` and app `shop` runs `official 24` here",
            "host.sysctl is [vm.swappiness: 10] in this spec and empty for app `shop`",
            "host.core_dumps is true in this spec and false for app `shop`",
            "host.idle_timeout is 30m in this spec and 15m for app `shop`",
            "host.pam_tmpdir is false in this spec and true for app `shop`",
            "apt.security_source is true in this spec and false for app `shop`",
            "edge is [cloudflare] (proxy_protocol: false, only: true) here and none for app `shop`",
        ] {
            assert!(all.contains(expected), "no `{expected}` in:\n{all}");
        }
        assert_eq!(found.len(), 11, "{all}");

        // The same proxies, listed otherwise, are the same edge.
        let edge = |trusted: serde_json::Value| {
            claims(serde_json::json!({"edge": {"trusted": trusted}}))
                .site
                .unwrap()
                .edge
        };
        assert_eq!(
            edge(serde_json::json!(["cloudflare", "10.0.0.0/8"])),
            edge(serde_json::json!([
                "10.0.0.0/8",
                "cloudflare",
                "10.0.0.0/8"
            ]))
        );

        let anywhere = claims(serde_json::json!({
            "app": {"name": "any", "start": "node server.js", "port": 5000},
            "domain": null,
        }));
        assert!(conflicts(&anywhere, &shop)[0].contains("this spec has no `domain`"));
    }
}
