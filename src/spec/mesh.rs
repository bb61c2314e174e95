//! `network.mesh: wireguard`: where the provider gives no private network,
//! the hosts make one. Its addresses are the hosts' private addresses, so
//! everything that reaches another host privately (upstreams, Redis, the
//! ACME peer port, `firewall.open`) goes through it unchanged.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use sha2::{Digest, Sha256};

use super::{Ip, Spec};
use crate::dialect::terminal::shown;

/// The mesh's network unless `network.mesh_cidr` names one: a /24 in
/// 10.0.0.0/8 away from the ranges Docker, Podman and Kubernetes take.
pub const DEFAULT_CIDR: &str = "10.213.7.0/24";

/// The WireGuard interface on every host of the mesh.
pub const INTERFACE: &str = "wg-deployer";

/// A peer whose latest handshake is older than this is unreachable: with
/// a keepalive every 25 s, WireGuard shakes hands again every two minutes
/// and drops a session after three.
pub const HANDSHAKE_STALE_SECS: u32 = 180;

/// The narrowest and widest mesh networks deployer numbers hosts in.
const NARROWEST: u8 = 29;
const WIDEST: u8 = 16;

/// Gives every host without a `private_address` the mesh address its name
/// gives it, and makes the mesh the private network. Does nothing without
/// a mesh, with a mesh network validation refuses, or beside a written
/// `network.private`, which validation refuses next to a mesh (rather than
/// echo it at every host).
pub fn resolve(spec: &mut Spec) {
    if spec.network.mesh.is_none()
        || !spec.network.private.is_empty()
        || cidr_problem(spec).is_some()
    {
        return;
    }
    let IpNet::V4(net) = spec.network.mesh_cidr.0 else {
        return;
    };
    spec.network.private = vec![spec.network.mesh_cidr];
    spec.network.private_is_the_mesh = true;
    for host in spec
        .hosts
        .iter_mut()
        .filter(|h| h.private_address.is_none())
    {
        host.private_address = Some(Ip(IpAddr::V4(derived(&host.name, net))));
        host.mesh_derived = true;
    }
}

/// The address `name` has in `net`: one of its host addresses, picked by a
/// digest of the name, so that it never moves as other hosts come and go.
fn derived(name: &str, net: Ipv4Net) -> Ipv4Addr {
    let digest = Sha256::digest(name.as_bytes());
    let word = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    Ipv4Addr::from(u32::from(net.network()) + 1 + word % usable(net.prefix_len()))
}

/// What is wrong with the mesh of a resolved spec: `(key, message)`.
pub fn problems(spec: &Spec) -> Vec<(String, String)> {
    if let Some(problem) = cidr_problem(spec) {
        return vec![problem];
    }
    let mut found = Vec::new();
    let cidr = spec.network.mesh_cidr;
    if !spec.network.private_is_the_mesh {
        found.push((
            "network.private".to_string(),
            format!("with network.mesh the mesh ({cidr}) is the private network: leave network.private out"),
        ));
    }
    let IpNet::V4(net) = cidr.0 else {
        return found;
    };
    let mut taken: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
    for host in spec.hosts.iter().filter(|h| !h.mesh_derived) {
        if let Some(Ip(IpAddr::V4(ip))) = host.private_address {
            taken.insert(ip, &host.name);
        }
    }
    for (i, host) in spec.hosts.iter().enumerate() {
        let at = format!("hosts[{i}]");
        match host.address.parse::<IpAddr>() {
            Err(_) => found.push((
                format!("{at}.address"),
                format!(
                    "`{}`: with network.mesh the other hosts reach this one at its address, and their firewalls admit WireGuard from it: give its public IP address",
                    shown(&host.address)
                ),
            )),
            Ok(ip) if !reachable(ip) || cidr.0.contains(&ip) => found.push((
                format!("{at}.address"),
                format!(
                    "{ip} cannot be where the other hosts of the mesh reach this one{}: give its public IP address",
                    if cidr.0.contains(&ip) {
                        format!(" (it is inside the mesh's own network, {cidr})")
                    } else {
                        String::new()
                    }
                ),
            )),
            Ok(_) => {}
        }
        let Some(Ip(IpAddr::V4(ip))) = host.private_address else {
            continue;
        };
        if !host.mesh_derived && (ip == net.network() || ip == net.broadcast()) {
            found.push((
                format!("{at}.private_address"),
                format!("{ip} is the mesh network's own address, which no host may have: pin one between {} and {}", Ipv4Addr::from(u32::from(net.network()) + 1), Ipv4Addr::from(u32::from(net.broadcast()) - 1)),
            ));
        }
        if host.mesh_derived {
            match taken.get(&ip) {
                Some(other) => found.push((
                    format!("{at}.private_address"),
                    format!(
                        "{ip}, the mesh address its name gives `{}`, is `{other}`'s too: pin a free one, e.g. `private_address: {}`",
                        host.name,
                        free_after(ip, net, &taken)
                    ),
                )),
                None => {
                    taken.insert(ip, &host.name);
                }
            }
        }
    }
    found
}

/// Whether other hosts can reach `ip` over a network at all.
fn reachable(ip: IpAddr) -> bool {
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    };
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || link_local)
}

/// The first address after `ip` in `net` that no host has (wrapping).
fn free_after(ip: Ipv4Addr, net: Ipv4Net, taken: &BTreeMap<Ipv4Addr, &str>) -> Ipv4Addr {
    let first = u32::from(net.network()) + 1;
    let slots = usable(net.prefix_len());
    (1..slots)
        .map(|step| Ipv4Addr::from(first + (u32::from(ip) - first + step) % slots))
        .find(|candidate| !taken.contains_key(candidate))
        .unwrap_or(ip)
}

/// What is wrong with `network.mesh_cidr` for this spec: `(key, message)`.
pub fn cidr_problem(spec: &Spec) -> Option<(String, String)> {
    let cidr = spec.network.mesh_cidr;
    let at = "network.mesh_cidr".to_string();
    let IpNet::V4(net) = cidr.0 else {
        return Some((
            at,
            format!(
                "{cidr}: the mesh numbers its hosts in IPv4; give a network such as `10.213.7.0/24`"
            ),
        ));
    };
    if !(WIDEST..=NARROWEST).contains(&net.prefix_len()) {
        return Some((
            at,
            format!(
                "{cidr}: give a network from /{WIDEST} to /{NARROWEST}, such as `10.213.7.0/24`"
            ),
        ));
    }
    if !cidr.is_private() {
        return Some((
            at,
            format!(
                "{cidr} is not private address space: give a network inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"
            ),
        ));
    }
    let room = usable(net.prefix_len()) as usize;
    (spec.hosts.len() > room).then(|| {
        (
            at,
            format!(
                "{cidr} has room for {room} hosts and the spec has {}: give a wider network",
                spec.hosts.len()
            ),
        )
    })
}

/// Host addresses in an IPv4 network of this prefix: all but the network's
/// own and its broadcast address.
fn usable(prefix: u8) -> u32 {
    (1u32 << (32 - prefix)) - 2
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn spec(hosts: &[(&str, Option<&str>)], cidr: Option<&str>) -> Spec {
        let hosts: Vec<serde_json::Value> = hosts
            .iter()
            .enumerate()
            .map(|(i, (name, private))| {
                let mut host =
                    serde_json::json!({"name": name, "address": format!("198.18.0.{}", 10 + i)});
                if let Some(p) = private {
                    host["private_address"] = serde_json::json!(p);
                }
                host
            })
            .collect();
        let mut network = serde_json::json!({"mesh": "wireguard"});
        if let Some(c) = cidr {
            network["mesh_cidr"] = serde_json::json!(c);
        }
        serde_json::from_value(serde_json::json!({
            "app": {"name": "a", "source": ".", "start": "node s.js", "port": 3000},
            "network": network,
            "hosts": hosts,
        }))
        .unwrap()
    }

    fn addresses(spec: &Spec) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = spec
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.private_address.unwrap().to_string()))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn addresses_follow_names_not_the_other_hosts() {
        let mut three = spec(&[("lb1", None), ("app1", None), ("app2", None)], None);
        resolve(&mut three);
        assert_eq!(three.network.private, vec![three.network.mesh_cidr]);
        assert!(three.network.private_is_the_mesh);
        assert!(three.hosts.iter().all(|h| h.mesh_derived));
        assert_eq!(problems(&three), []);
        let net: IpNet = DEFAULT_CIDR.parse().unwrap();
        let found = addresses(&three);
        for (_, ip) in &found {
            assert!(net.contains(&ip.parse::<IpAddr>().unwrap()), "{ip}");
        }
        // Reordered, one removed, one added: the others keep theirs.
        let mut other = spec(&[("app3", None), ("app2", None), ("lb1", None)], None);
        resolve(&mut other);
        let kept: Vec<_> = addresses(&other)
            .into_iter()
            .filter(|(n, _)| n != "app3")
            .collect();
        let before: Vec<_> = found.into_iter().filter(|(n, _)| n != "app1").collect();
        assert_eq!(kept, before);
    }

    #[test]
    fn names_that_meet_at_one_address_are_refused_with_a_free_one_to_pin() {
        // In a /29, the names a..g cannot all have addresses of their own.
        let names = ["a", "b", "c", "d", "e", "f"];
        let mut crowded = spec(
            &names.iter().map(|n| (*n, None)).collect::<Vec<_>>(),
            Some("10.0.0.0/29"),
        );
        resolve(&mut crowded);
        let found = problems(&crowded);
        assert!(
            !found.is_empty(),
            "six names in six addresses collide somewhere"
        );
        for (key, message) in &found {
            assert!(key.ends_with(".private_address"), "{key}");
            assert!(
                message.contains("pin a free one, e.g. `private_address: 10.0.0."),
                "{message}"
            );
        }
        // Pinning each suggestion in turn ends with every host apart.
        let mut pins: Vec<(String, String)> = Vec::new();
        for _ in 0..names.len() {
            let hosts: Vec<(&str, Option<&str>)> = names
                .iter()
                .map(|n| {
                    (
                        *n,
                        pins.iter().find(|(p, _)| p == n).map(|(_, ip)| ip.as_str()),
                    )
                })
                .collect();
            let mut pinned = spec(&hosts, Some("10.0.0.0/29"));
            resolve(&mut pinned);
            let Some((key, message)) = problems(&pinned).into_iter().next() else {
                let all: BTreeSet<String> =
                    addresses(&pinned).into_iter().map(|(_, ip)| ip).collect();
                assert_eq!(all.len(), names.len());
                return;
            };
            let i: usize = key["hosts[".len()..key.find(']').unwrap()].parse().unwrap();
            let ip = message
                .rsplit("private_address: ")
                .next()
                .unwrap()
                .trim_end_matches('`');
            pins.push((names[i].to_string(), ip.to_string()));
        }
        panic!("the suggestions did not settle: {pins:?}");
    }

    #[test]
    fn pins_and_addresses_the_mesh_cannot_use_are_refused() {
        let mut edges = spec(
            &[
                ("net", Some("10.0.0.0")),
                ("bcast", Some("10.0.0.255")),
                ("ok", Some("10.0.0.9")),
            ],
            Some("10.0.0.0/24"),
        );
        resolve(&mut edges);
        let keys: Vec<String> = problems(&edges).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["hosts[0].private_address", "hosts[1].private_address"]
        );
        for address in [
            "127.0.0.2",
            "0.0.0.0",
            "169.254.169.254",
            "224.0.0.1",
            "10.213.7.9",
            "fe80::1",
            "web1.example.com",
        ] {
            let mut bad = spec(&[("web1", None)], None);
            bad.hosts[0].address = address.to_string();
            resolve(&mut bad);
            let found = problems(&bad);
            assert_eq!(found.len(), 1, "{address}: {found:?}");
            assert_eq!(found[0].0, "hosts[0].address", "{address}");
        }
        let mut written = spec(&[("web1", None)], None);
        written.network.private = vec![written.network.mesh_cidr];
        resolve(&mut written);
        assert_eq!(problems(&written)[0].0, "network.private");
        assert!(written.hosts[0].private_address.is_none());
    }

    #[test]
    fn networks_it_cannot_number_are_left_to_validation() {
        for cidr in [
            "fd00::/64",
            "10.0.0.0/30",
            "10.0.0.0/8",
            "169.254.0.0/16",
            "127.0.0.0/24",
            "224.0.0.0/24",
            "8.8.8.0/24",
        ] {
            let mut refused = spec(&[("a", None)], Some(cidr));
            assert!(cidr_problem(&refused).is_some(), "{cidr}");
            resolve(&mut refused);
            assert!(refused.hosts[0].private_address.is_none(), "{cidr}");
            assert!(refused.network.private.is_empty(), "{cidr}");
            assert_eq!(problems(&refused)[0].0, "network.mesh_cidr");
        }
        let names: Vec<String> = (0..7).map(|i| format!("h{i}")).collect();
        let hosts: Vec<(&str, Option<&str>)> = names.iter().map(|n| (n.as_str(), None)).collect();
        let crowded = spec(&hosts, Some("10.0.0.0/29"));
        let (key, message) = cidr_problem(&crowded).unwrap();
        assert_eq!(key, "network.mesh_cidr");
        assert!(message.contains("room for 6 hosts"), "{message}");
    }
}
