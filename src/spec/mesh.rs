//! `network.mesh: wireguard`: where the provider gives no private network,
//! the hosts make one. Its addresses are the hosts' private addresses, so
//! everything that reaches another host privately (upstreams, Redis, the
//! ACME peer port, `firewall.open`) goes through it unchanged.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use sha2::{Digest, Sha256};

use super::{Ip, Spec};

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

/// Gives every host without a `private_address` its mesh address, and
/// makes the mesh the private network. Does nothing without a mesh, with a
/// mesh network validation refuses, or beside a `network.private`, which
/// validation refuses next to a mesh (rather than echo it at every host).
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
    let first = u32::from(net.network()) + 1;
    let slots = usable(net.prefix_len());
    let mut taken: BTreeSet<u32> = spec
        .hosts
        .iter()
        .filter_map(|h| match h.private_address {
            Some(Ip(IpAddr::V4(ip))) if net.contains(&ip) => Some(u32::from(ip)),
            _ => None,
        })
        .collect();
    let mut unpinned: Vec<usize> = (0..spec.hosts.len())
        .filter(|&i| spec.hosts[i].private_address.is_none())
        .collect();
    if taken.len() + unpinned.len() > slots as usize {
        return;
    }
    // Name order, so the same names get the same addresses whatever the
    // hosts' order in the file.
    unpinned.sort_by(|&a, &b| spec.hosts[a].name.cmp(&spec.hosts[b].name));
    for i in unpinned {
        let mut slot = slot_of(&spec.hosts[i].name, slots);
        while taken.contains(&(first + slot)) {
            slot = (slot + 1) % slots;
        }
        taken.insert(first + slot);
        spec.hosts[i].private_address = Some(Ip(IpAddr::V4(Ipv4Addr::from(first + slot))));
    }
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

/// Where a host's address starts looking: from a digest of its name, so it
/// stays when other hosts come and go (a later one that lands on a taken
/// address moves on to the next free one).
fn slot_of(name: &str, slots: u32) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    let word = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    word % slots
}

#[cfg(test)]
mod tests {
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
    fn a_full_network_numbers_everyone_once_around_the_pins() {
        // A /29 has six addresses: one pinned, five derived, all distinct.
        let names = ["a", "b", "c", "d", "e"];
        let mut hosts: Vec<(&str, Option<&str>)> = names.iter().map(|n| (*n, None)).collect();
        hosts.push(("pinned", Some("10.0.0.3")));
        let mut full = spec(&hosts, Some("10.0.0.0/29"));
        resolve(&mut full);
        let all: BTreeSet<String> = addresses(&full).into_iter().map(|(_, ip)| ip).collect();
        let expected: BTreeSet<String> = (1..=6).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(all, expected);
        let pinned = full.hosts.iter().find(|h| h.name == "pinned").unwrap();
        assert_eq!(pinned.private_address.unwrap().to_string(), "10.0.0.3");
    }

    #[test]
    fn networks_it_cannot_number_are_left_to_validation() {
        for cidr in ["fd00::/64", "10.0.0.0/30", "10.0.0.0/8"] {
            let mut refused = spec(&[("a", None)], Some(cidr));
            assert!(cidr_problem(&refused).is_some(), "{cidr}");
            resolve(&mut refused);
            assert!(refused.hosts[0].private_address.is_none(), "{cidr}");
            assert!(refused.network.private.is_empty(), "{cidr}");
        }
        let names: Vec<String> = (0..7).map(|i| format!("h{i}")).collect();
        let hosts: Vec<(&str, Option<&str>)> = names.iter().map(|n| (n.as_str(), None)).collect();
        let crowded = spec(&hosts, Some("10.0.0.0/29"));
        let (key, message) = cidr_problem(&crowded).unwrap();
        assert_eq!(key, "network.mesh_cidr");
        assert!(message.contains("room for 6 hosts"), "{message}");
    }
}
