//! The exposure report: sockets a host listens on at public addresses that
//! the spec does not expect (say, a database bound to 0.0.0.0). The
//! firewall drops them (Docker's published ports aside: they are
//! forwarded); the report says what would be open without it.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::claims::Claims;
use crate::resource::facts::{Listening, Unreported};
use crate::spec::{Forward, Host, Proto, Role, Spec};

/// Docker's helper for published ports; the published traffic itself is
/// rewritten to the container before the input chain sees it.
const DOCKER_PROXY: &str = "docker-proxy";

/// DHCP clients listen on every address to hear the network's server.
const DHCP_CLIENTS: [u16; 2] = [68, 546];

/// What the spec expects one host to listen on, publicly or privately.
#[derive(Debug, Clone, Default)]
pub struct Exposure {
    /// `(protocol, port)` open to the public: SSH, 80/443 on load
    /// balancers, `firewall.open`, the mesh's WireGuard port.
    public: Vec<(&'static str, u16)>,
    /// Addresses that are not public: the host's private address and
    /// `network.private` (loopback always).
    private: Vec<IpNet>,
    /// `firewall.forward: drop`: Docker's published ports are dropped too.
    forward_dropped: bool,
    /// No report at all: for callers with no spec (tests, benchmarks).
    unchecked: bool,
}

impl Exposure {
    pub fn new(spec: &Spec, host: &Host) -> Exposure {
        let mut public = vec![("tcp", spec.network.ssh_port)];
        if host.has(Role::Lb) {
            public.extend([("tcp", 80), ("tcp", 443)]);
        }
        // WireGuard listens on every address; the firewall admits the other
        // hosts of the mesh only.
        if spec.network.mesh.is_some() {
            public.push(("udp", spec.network.mesh_port));
        }
        for open in &spec.firewall.open {
            let proto = match open.proto {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
            };
            public.push((proto, open.port));
        }
        let private = host
            .private_address
            .map(|ip| IpNet::from(ip.0))
            .into_iter()
            .chain(spec.network.private.iter().map(|net| net.0))
            .collect();
        Exposure {
            public,
            private,
            forward_dropped: spec.firewall.forward == Forward::Drop,
            unchecked: false,
        }
    }

    /// Also expects what other apps deployed on the host open publicly.
    pub fn sharing_with(mut self, others: &[Claims]) -> Exposure {
        for port in others.iter().flat_map(|o| &o.public) {
            let (proto, number) = port.split_once('/').unwrap_or(("tcp", port));
            let proto = if proto == "udp" { "udp" } else { "tcp" };
            if let Ok(number) = number.parse() {
                self.public.push((proto, number));
            }
        }
        self
    }

    /// Reports nothing.
    pub fn unchecked() -> Exposure {
        Exposure {
            unchecked: true,
            ..Exposure::default()
        }
    }

    /// What [`Exposure::unexpected`] never reports, whatever process
    /// listens: the facts script names processes only beyond it. The
    /// private networks are left to that report: a socket there costs one
    /// more `ss`, no wrong line.
    pub fn unreported(&self) -> Unreported {
        Unreported {
            everything: self.unchecked,
            addresses: self
                .private
                .iter()
                .filter(|net| net.prefix_len() == net.max_prefix_len())
                .map(IpNet::addr)
                .collect(),
            ports: (self.public.iter().copied())
                .chain(DHCP_CLIENTS.map(|port| ("udp", port)))
                .collect(),
        }
    }

    /// One line per socket in `listening` on a public address that is not
    /// expected.
    pub fn unexpected(&self, listening: &[Listening]) -> Vec<String> {
        if self.unchecked {
            return Vec::new();
        }
        let private = |address: Option<IpAddr>| {
            address.is_some_and(|ip| {
                ip.is_loopback() || self.private.iter().any(|net| net.contains(&ip))
            })
        };
        let mut lines: Vec<String> = listening
            .iter()
            .filter(|s| !private(s.address))
            .filter(|s| !self.public.contains(&(s.proto.as_str(), s.port)))
            .filter(|s| !(s.proto == "udp" && DHCP_CLIENTS.contains(&s.port)))
            .map(|s| {
                let socket = match s.address {
                    None => format!("*:{}", s.port),
                    Some(ip) => std::net::SocketAddr::new(ip, s.port).to_string(),
                };
                let process = process_name(&s.process);
                let what = if process == DOCKER_PROXY && !self.forward_dropped {
                    "a port Docker publishes: outside clients reach the container through forwarding, which deployer's firewall leaves alone \
                     (firewall.forward); publish it on 127.0.0.1 or the private address to keep it in"
                } else {
                    "the firewall keeps it from outside clients; bind it to loopback or the private address, or list it in firewall.open"
                };
                format!("{socket}/{} ({process}) is not in the spec: {what}", s.proto)
            })
            .collect();
        lines.sort();
        lines.dedup();
        lines
    }
}

/// `users:(("sshd",pid=33,fd=3))` -> `sshd`.
fn process_name(process: &str) -> &str {
    process
        .split('"')
        .nth(1)
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown process")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(proto: &str, address: Option<&str>, port: u16, name: &str) -> Listening {
        Listening {
            proto: proto.into(),
            address: address.map(|a| a.parse().unwrap()),
            port,
            process: format!("users:((\"{name}\",pid=1,fd=3))"),
        }
    }

    #[test]
    fn only_unexpected_public_sockets_are_reported() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "app": {"name": "shop", "start": "node server.js"},
            "network": {"private": ["10.0.0.0/24"]},
            "firewall": {"open": [{"port": 9100, "from": ["10.0.0.5"]}]},
            "hosts": [{"name": "web1", "address": "198.18.0.10", "private_address": "10.0.0.10", "roles": ["lb", "app"]}]
        }))
        .unwrap();
        let listening = [
            socket("tcp", None, 22, "sshd"),
            socket("tcp", None, 443, "nginx"),
            socket("tcp", Some("10.0.0.10"), 3000, "node"),
            socket("tcp", Some("127.0.0.1"), 6379, "redis-server"),
            socket("tcp", None, 9100, "node_exporter"),
            socket("udp", None, 68, "dhclient"),
            socket("tcp", None, 5432, "postgres"),
            socket("tcp", Some("::"), 5432, "postgres"),
            socket("tcp", Some("198.18.0.10"), 8080, "node"),
            socket("tcp", None, 8081, "docker-proxy"),
        ];
        assert_eq!(
            Exposure::new(&spec, &spec.hosts[0]).unexpected(&listening),
            [
                "*:5432/tcp (postgres) is not in the spec: the firewall keeps it from outside clients; bind it to loopback or the private address, or list it in firewall.open",
                "*:8081/tcp (docker-proxy) is not in the spec: a port Docker publishes: outside clients reach the container through forwarding, which deployer's firewall leaves alone (firewall.forward); publish it on 127.0.0.1 or the private address to keep it in",
                "198.18.0.10:8080/tcp (node) is not in the spec: the firewall keeps it from outside clients; bind it to loopback or the private address, or list it in firewall.open",
                "[::]:5432/tcp (postgres) is not in the spec: the firewall keeps it from outside clients; bind it to loopback or the private address, or list it in firewall.open",
            ]
        );
    }
}
