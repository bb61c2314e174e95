//! Hosts, networks, SSH, the firewall, every port a host listens on, and
//! the host baseline (`host.*`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::{Problems, check_user, push};
use crate::dialect::terminal::shown;
use crate::spec::text::{NAME_RULE, domain_ok, safe_name};
use crate::spec::{Cidr, Host, Instances, ProcessManager, Proto, Role, Spec};
use crate::spec::{baseline, mesh};

pub(super) fn check(spec: &Spec, p: &mut Problems) {
    check_ports(spec, p);
    check_network(spec, p);
    check_hosts(spec, p);
    check_roles(spec, p);
    if let Some(user) = &spec.ssh.user {
        check_user(user, "ssh.user", p);
    }
    check_allow_users(spec, p);
    check_baseline(spec, p);
    let confirm = spec.firewall.confirm_within.0;
    if !(Duration::from_secs(10)..=Duration::from_secs(3600)).contains(&confirm) {
        push(
            p,
            "firewall.confirm_within",
            "must be 10s to 1h: long enough for a new SSH connection, short enough to wait out",
        );
    }
}

/// Public ranges given as `network.private`: app ports are open to them.
/// A mesh of hosts at IPv4 and at IPv6 addresses: those reach each other
/// only if each has both.
pub(super) fn warnings(spec: &Spec) -> Problems {
    let mut p = Problems::new();
    let families: BTreeSet<bool> = spec
        .hosts
        .iter()
        .filter_map(|h| h.address.parse::<IpAddr>().ok())
        .map(|ip| ip.is_ipv4())
        .collect();
    if spec.network.mesh.is_some() && families.len() > 1 {
        push(
            &mut p,
            "hosts",
            "the mesh's hosts are at IPv4 and at IPv6 addresses: WireGuard reaches each at the one address given, so a host with IPv4 only cannot reach one given as IPv6, and the other way round",
        );
    }
    for (i, net) in spec.network.private.iter().enumerate() {
        if width_problem(net).is_none() && !net.is_private() {
            push(
                &mut p,
                format!("network.private[{i}]"),
                format!(
                    "{net} is not a private range: the app's ports are open to every address in it; private networks lie in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 or fc00::/7"
                ),
            );
        }
    }
    p
}

/// Why `net` is too wide to be a private network.
fn width_problem(net: &Cidr) -> Option<String> {
    let (widest, family) = match net.0 {
        IpNet::V4(_) => (8, "IPv4"),
        IpNet::V6(_) => (32, "IPv6"),
    };
    if net.0.prefix_len() == 0 {
        Some(format!(
            "{net} is every address: the app's ports would be open to the internet; name the network your hosts share, e.g. `10.0.0.0/24`"
        ))
    } else if net.0.prefix_len() < widest {
        Some(format!(
            "{net} is wider than a /{widest}, more than any private {family} network: name the network your hosts share, e.g. `10.0.0.0/24`"
        ))
    } else {
        None
    }
}

/// A port (or a range of them) that something on a host listens on.
struct Claim {
    proto: Proto,
    first: u32,
    last: u32,
    /// The key that chose it; `None` for ports deployer fixes (80, 443, …).
    key: Option<String>,
    /// What it is, in a message: "the app's ports 3000-3003".
    what: String,
}

/// Every host's ports, in one table: sshd, nginx's 80 and 443, the app's
/// ports, Redis, the ACME peer port and `firewall.open`. Two claims of one
/// port on one host are a problem at the later key.
fn check_ports(spec: &Spec, p: &mut Problems) {
    let app = &spec.app;
    if app.port < 1024 {
        return push(
            p,
            "app.port",
            "must be 1024-65535: the app runs unprivileged and nginx owns 80 and 443",
        );
    }
    let count = match app.process_manager {
        // pm2's cluster shares one port between its instances.
        ProcessManager::Pm2 => 1,
        ProcessManager::Systemd => app.instances.upper_bound(),
    };
    let last = u32::from(app.port) + count - 1;
    let span = match app.instances {
        Instances::Max if count > 1 => format!(
            "{}-{last} (`instances: max` may use up to {count} ports)",
            app.port
        ),
        _ if count > 1 => format!("{}-{last}", app.port),
        _ => app.port.to_string(),
    };
    if last > 65535 {
        push(
            p,
            "app.port",
            format!("the instances need ports {span}, past 65535"),
        );
    }
    let mut keyed_zero = vec![("network.ssh_port".to_string(), spec.network.ssh_port)];
    if spec.network.mesh.is_some() {
        keyed_zero.push(("network.mesh_port".to_string(), spec.network.mesh_port));
    }
    keyed_zero.extend(
        spec.services
            .redis
            .iter()
            .map(|r| ("services.redis.port".to_string(), r.port)),
    );
    keyed_zero.extend(
        spec.firewall
            .open
            .iter()
            .enumerate()
            .map(|(i, o)| (format!("firewall.open[{i}].port"), o.port)),
    );
    let mut any_zero = false;
    for (at, port) in keyed_zero {
        if port == 0 {
            any_zero = true;
            push(p, at, "must be 1-65535");
        }
    }
    if let Some(redis) = spec
        .services
        .redis
        .as_ref()
        .filter(|r| (1..1024).contains(&r.port))
    {
        push(
            p,
            "services.redis.port",
            format!(
                "must be 1024-65535: Redis runs as its own unprivileged user, which cannot listen on port {}",
                redis.port
            ),
        );
    }
    if any_zero {
        return;
    }
    let tcp = |port: u16, key: Option<&str>, what: String| Claim {
        proto: Proto::Tcp,
        first: port.into(),
        last: port.into(),
        key: key.map(String::from),
        what,
    };
    let mut found = BTreeSet::new();
    for host in &spec.hosts {
        let mut claims = Vec::new();
        if host.has(Role::Lb) {
            claims.push(tcp(80, None, "nginx's port 80".into()));
            claims.push(tcp(443, None, "nginx's port 443".into()));
            if spec.acme_peers() {
                let port = crate::spec::ACME_PEER_PORT;
                claims.push(tcp(
                    port,
                    None,
                    "the ACME peer port, where the load balancers answer each other's challenges"
                        .into(),
                ));
            }
        }
        if host.has(Role::App) {
            claims.push(Claim {
                proto: Proto::Tcp,
                first: app.port.into(),
                last,
                key: Some("app.port".into()),
                what: format!("the app's ports {span}"),
            });
        }
        claims.push(tcp(
            spec.network.ssh_port,
            Some("network.ssh_port"),
            "sshd's port (network.ssh_port)".into(),
        ));
        if spec.network.mesh.is_some() {
            claims.push(Claim {
                proto: Proto::Udp,
                first: spec.network.mesh_port.into(),
                last: spec.network.mesh_port.into(),
                key: Some("network.mesh_port".into()),
                what: "WireGuard's port (network.mesh_port)".into(),
            });
        }
        if let Some(redis) = spec.services.redis.as_ref().filter(|r| r.host == host.name) {
            claims.push(tcp(
                redis.port,
                Some("services.redis.port"),
                "Redis's port (services.redis.port)".into(),
            ));
        }
        for (i, open) in spec.firewall.open.iter().enumerate() {
            claims.push(Claim {
                proto: open.proto,
                first: open.port.into(),
                last: open.port.into(),
                key: Some(format!("firewall.open[{i}].port")),
                what: format!("firewall.open[{i}]"),
            });
        }
        for (j, claim) in claims.iter().enumerate() {
            for earlier in &claims[..j] {
                let overlap = claim.proto == earlier.proto
                    && claim.first <= earlier.last
                    && earlier.first <= claim.last;
                if !overlap {
                    continue;
                }
                // Reported at the later claim's key, or the earlier's when
                // the later one is deployer's own.
                let (at, other, port) = match (&claim.key, &earlier.key) {
                    (Some(key), _) => (key, earlier, claim.first.max(earlier.first)),
                    (None, Some(key)) => (key, claim, claim.first.max(earlier.first)),
                    (None, None) => continue,
                };
                found.insert((
                    at.clone(),
                    format!("port {port} clashes with {}", other.what),
                ));
            }
        }
    }
    for (at, message) in found {
        push(p, at, message);
    }
}

fn check_network(spec: &Spec, p: &mut Problems) {
    if spec.network.ssh_from.is_empty() {
        push(
            p,
            "network.ssh_from",
            "is empty, so nobody could reach SSH; leave it out to allow anywhere, or list your networks",
        );
    }
    let has_private = spec.hosts.iter().any(|h| h.private_address.is_some());
    if has_private && spec.network.private.is_empty() {
        push(
            p,
            "network.private",
            "hosts have private addresses: name the network they share, e.g. `[10.0.0.0/24]`",
        );
    }
    for (i, net) in spec.network.private.iter().enumerate() {
        if let Some(problem) = width_problem(net) {
            push(p, format!("network.private[{i}]"), problem);
        }
    }
    if spec.network.mesh.is_some() {
        check_mesh(spec, p);
    }
}

/// The mesh numbers the hosts itself (`spec::mesh::resolve`, before these
/// checks) and reaches each at its public address.
fn check_mesh(spec: &Spec, p: &mut Problems) {
    for (at, message) in mesh::problems(spec) {
        push(p, at, message);
    }
}

/// More hosts than one spec can render in reasonable time.
const MAX_HOSTS: usize = 1000;

fn check_hosts(spec: &Spec, p: &mut Problems) {
    if spec.hosts.is_empty() {
        return push(
            p,
            "hosts",
            "list at least one host, e.g. `- {name: web1, address: 203.0.113.10}`",
        );
    }
    if spec.hosts.len() > MAX_HOSTS {
        return push(
            p,
            "hosts",
            format!(
                "{} hosts: at most {MAX_HOSTS} in one spec",
                spec.hosts.len()
            ),
        );
    }
    let mut names = HashSet::new();
    let mut addresses = BTreeMap::new();
    let mut private = BTreeMap::new();
    for (i, host) in spec.hosts.iter().enumerate() {
        let at = format!("hosts[{i}]");
        if !safe_name(&host.name) {
            push(
                p,
                format!("{at}.name"),
                format!(
                    "`{}` is not a safe name: use {NAME_RULE}",
                    shown(&host.name)
                ),
            );
        } else if !names.insert(host.name.as_str()) {
            push(
                p,
                format!("{at}.name"),
                format!("`{}` names another host too", host.name),
            );
        }
        if !address_ok(&host.address) {
            push(
                p,
                format!("{at}.address"),
                format!(
                    "`{}` is neither an IP address nor a DNS name",
                    shown(&host.address)
                ),
            );
        } else if let Some(other) = addresses.insert(host.address.as_str(), &host.name) {
            push(
                p,
                format!("{at}.address"),
                format!("`{}` is also the address of `{other}`", host.address),
            );
        }
        if let Some(ip) = &host.private_address {
            if !spec.network.private.is_empty()
                && !spec.network.private.iter().any(|net| net.contains(ip))
            {
                let nets: Vec<String> =
                    spec.network.private.iter().map(|n| n.to_string()).collect();
                push(
                    p,
                    format!("{at}.private_address"),
                    format!("{ip} is outside the private network ({})", nets.join(", ")),
                );
            }
            // Where a name's mesh address meets another host's, the mesh's
            // check says which to pin.
            if let Some((other, _)) = private
                .insert(*ip, (&host.name, host.mesh_derived))
                .filter(|(_, derived)| !derived && !host.mesh_derived)
            {
                push(
                    p,
                    format!("{at}.private_address"),
                    format!("{ip} is also the private address of `{other}`"),
                );
            }
        }
        let mut seen = HashSet::new();
        if host.roles.is_empty() {
            push(
                p,
                format!("{at}.roles"),
                "give at least one of `lb`, `app`, `worker`, or leave roles out for all three",
            );
        }
        for (j, role) in host.roles.iter().enumerate() {
            if !seen.insert(role) {
                push(p, format!("{at}.roles[{j}]"), "is listed twice");
            }
        }
        if let Some(user) = &host.user {
            check_user(user, &format!("{at}.user"), p);
        }
        if host.port == Some(0) {
            push(p, format!("{at}.port"), "must be 1-65535");
        }
    }
}

fn address_ok(address: &str) -> bool {
    address.parse::<IpAddr>().is_ok() || domain_ok(address)
}

fn check_roles(spec: &Spec, p: &mut Problems) {
    if spec.hosts.is_empty() {
        return;
    }
    let with = |role| spec.hosts.iter().filter(move |h: &&Host| h.has(role));
    if with(Role::App).next().is_none() {
        push(p, "hosts", "no host has the `app` role");
    }
    if with(Role::Lb).next().is_none() {
        push(
            p,
            "hosts",
            "no host has the `lb` role: nginx must front the app",
        );
    }
    if !spec.app.workers.is_empty() && with(Role::Worker).next().is_none() {
        push(
            p,
            "hosts",
            "app.workers are defined but no host has the `worker` role",
        );
    }
    // A dedicated load balancer reaches the app hosts over the private network.
    let dedicated_lbs: Vec<&Host> = with(Role::Lb).filter(|h| !h.has(Role::App)).collect();
    if let Some(lb) = dedicated_lbs.first() {
        for (i, host) in spec.hosts.iter().enumerate() {
            let on_path = host.has(Role::App) || host.has(Role::Lb);
            if on_path && host.private_address.is_none() {
                push(
                    p,
                    format!("hosts[{i}].private_address"),
                    format!(
                        "required: `{}` proxies to the app hosts over the private network",
                        lb.name
                    ),
                );
            }
        }
    }
}

/// With `ssh.allow_users`, every account deployer logs in as must be one.
fn check_allow_users(spec: &Spec, p: &mut Problems) {
    let allowed = &spec.ssh.allow_users;
    for (i, user) in allowed.iter().enumerate() {
        check_user(user, &format!("ssh.allow_users[{i}]"), p);
    }
    if allowed.is_empty() {
        return;
    }
    let logins = spec
        .ssh
        .user
        .iter()
        .map(|u| ("ssh.user".to_string(), u))
        .chain(
            spec.hosts
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.user.as_ref().map(|u| (format!("hosts[{i}].user"), u))),
        );
    for (at, user) in logins {
        if !allowed.contains(user) {
            push(
                p,
                "ssh.allow_users",
                format!(
                    "leaves out `{}` ({at}), whom deployer logs in as: add it, or nobody could apply again",
                    shown(user)
                ),
            );
        }
    }
}

/// `host.*`: sysctl keys and values as sysctl.d takes them, an idle
/// timeout bash's `TMOUT` takes, modules among those deployer blocks.
fn check_baseline(spec: &Spec, p: &mut Problems) {
    for (key, value) in &spec.host.sysctl {
        let at = format!("host.sysctl.{key}");
        if !baseline::key_ok(key) {
            push(
                p,
                &at,
                "a kernel setting is dotted words of letters, digits, `_` and `-`, such as `net.ipv4.conf.all.rp_filter`",
            );
        } else if value == baseline::DEFAULT && !baseline::SYSCTL.iter().any(|(k, _)| k == key) {
            push(
                p,
                &at,
                "`default` drops one of deployer's settings, and deployer sets no such key",
            );
        } else if !baseline::value_ok(value) {
            push(
                p,
                &at,
                "a value is words of letters, digits and `_ . : , -` separated by single spaces, such as `1` or `4096 87380 6291456`",
            );
        }
    }
    let idle = spec.host.idle_timeout.0;
    if idle.subsec_nanos() != 0
        || (idle != Duration::ZERO
            && !(Duration::from_secs(60)..=Duration::from_secs(24 * 3600)).contains(&idle))
    {
        push(
            p,
            "host.idle_timeout",
            "must be whole seconds from 1m to 24h (such as `15m`), or `0s` to let idle shells stay open",
        );
    }
    for (i, module) in spec.host.modules.iter().enumerate() {
        if !baseline::BLOCKED_MODULES.contains(&module.as_str()) {
            push(
                p,
                format!("host.modules[{i}]"),
                format!(
                    "deployer blocks only {}: `{}` is loadable already",
                    baseline::BLOCKED_MODULES.join(", "),
                    shown(module)
                ),
            );
        }
    }
}
