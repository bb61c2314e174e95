//! The exposure report: sockets a host listens on at public addresses that
//! the spec does not expect (say, a database bound to 0.0.0.0). The
//! firewall drops them; the report says what would be open without it.

use crate::resource::facts::Listening;
use crate::spec::{Host, Proto, Role, Spec};

/// DHCP clients listen on every address to hear the network's server.
const DHCP_CLIENTS: [u16; 2] = [68, 546];

/// One line per unexpected socket on `host`.
pub fn report(spec: &Spec, host: &Host, listening: &[Listening]) -> Vec<String> {
    let mut expected = vec![("tcp", spec.network.ssh_port)];
    if host.has(Role::Lb) {
        expected.extend([("tcp", 80), ("tcp", 443)]);
    }
    for open in &spec.firewall.open {
        let proto = match open.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        expected.push((proto, open.port));
    }
    let private = |socket: &Listening| match socket.address {
        None => false,
        Some(ip) => {
            ip.is_loopback()
                || host.private_address.is_some_and(|p| p.0 == ip)
                || spec.network.private.iter().any(|net| net.0.contains(&ip))
        }
    };
    let mut lines: Vec<String> = listening
        .iter()
        .filter(|s| !private(s))
        .filter(|s| !expected.contains(&(s.proto.as_str(), s.port)))
        .filter(|s| !(s.proto == "udp" && DHCP_CLIENTS.contains(&s.port)))
        .map(|s| {
            let socket = match s.address {
                None => format!("*:{}", s.port),
                Some(ip) => std::net::SocketAddr::new(ip, s.port).to_string(),
            };
            format!(
                "{socket}/{} ({}) is not in the spec: bind it to loopback or the private address, or list it in firewall.open",
                s.proto,
                process_name(&s.process)
            )
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines
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
        ];
        assert_eq!(
            report(&spec, &spec.hosts[0], &listening),
            [
                "*:5432/tcp (postgres) is not in the spec: bind it to loopback or the private address, or list it in firewall.open",
                "198.18.0.10:8080/tcp (node) is not in the spec: bind it to loopback or the private address, or list it in firewall.open",
                "[::]:5432/tcp (postgres) is not in the spec: bind it to loopback or the private address, or list it in firewall.open",
            ]
        );
    }
}
