//! The host baseline every host of a spec gets besides the app: the part of
//! dev-sec's os-hardening and of the CIS Debian benchmark that fits a web
//! host. `host.sysctl`, `host.modules` and `host.core_dumps` adjust it.

use super::HostBaseline;

/// Kernel settings: no redirects or source routing, reverse-path
/// filtering, SYN cookies, martians logged; kernel pointers and the kernel
/// log hidden, ptrace limited to parents, unprivileged BPF off; links,
/// FIFOs and regular files in sticky directories protected; no setuid
/// core dumps (and a dump allowed by `host.sysctl` named after its
/// process); no line disciplines loaded on demand by an unprivileged TTY;
/// no perf events for unprivileged users; address-space randomization
/// kept on; Ctrl-Alt-Del handed to systemd rather than rebooting at once.
/// Forwarding is left alone (containers, VPNs).
pub const SYSCTL: &[(&str, &str)] = &[
    ("net.ipv4.conf.all.rp_filter", "1"),
    ("net.ipv4.conf.default.rp_filter", "1"),
    ("net.ipv4.conf.all.accept_redirects", "0"),
    ("net.ipv4.conf.default.accept_redirects", "0"),
    ("net.ipv4.conf.all.secure_redirects", "0"),
    ("net.ipv4.conf.default.secure_redirects", "0"),
    ("net.ipv4.conf.all.send_redirects", "0"),
    ("net.ipv4.conf.default.send_redirects", "0"),
    ("net.ipv4.conf.all.accept_source_route", "0"),
    ("net.ipv4.conf.default.accept_source_route", "0"),
    ("net.ipv4.conf.all.log_martians", "1"),
    ("net.ipv4.conf.default.log_martians", "1"),
    ("net.ipv4.icmp_echo_ignore_broadcasts", "1"),
    ("net.ipv4.icmp_ignore_bogus_error_responses", "1"),
    ("net.ipv4.tcp_syncookies", "1"),
    ("net.ipv6.conf.all.accept_redirects", "0"),
    ("net.ipv6.conf.default.accept_redirects", "0"),
    ("net.ipv6.conf.all.accept_source_route", "0"),
    ("net.ipv6.conf.default.accept_source_route", "0"),
    ("kernel.kptr_restrict", "2"),
    ("kernel.dmesg_restrict", "1"),
    ("kernel.yama.ptrace_scope", "1"),
    ("kernel.unprivileged_bpf_disabled", "1"),
    ("net.core.bpf_jit_harden", "2"),
    ("kernel.sysrq", "0"),
    ("kernel.perf_event_paranoid", "3"),
    ("kernel.randomize_va_space", "2"),
    ("kernel.core_uses_pid", "1"),
    ("kernel.ctrl-alt-del", "0"),
    ("dev.tty.ldisc_autoload", "0"),
    ("fs.protected_hardlinks", "1"),
    ("fs.protected_symlinks", "1"),
    ("fs.protected_fifos", "2"),
    ("fs.protected_regular", "2"),
    ("fs.suid_dumpable", "0"),
];

/// Network protocols, filesystems and removable-storage drivers a web host
/// does not use, made unloadable: each has had holes a local user (or a
/// plugged device) could reach by loading it.
pub const BLOCKED_MODULES: &[&str] = &[
    "dccp",
    "sctp",
    "rds",
    "tipc",
    "cramfs",
    "freevxfs",
    "jffs2",
    "hfs",
    "hfsplus",
    "usb-storage",
    "firewire-core",
];

/// What `host.sysctl` gives to drop one of deployer's settings.
pub const DEFAULT: &str = "default";

/// The kernel settings for `host`: deployer's, replaced or dropped by
/// `host.sysctl`, then the spec's own, in name order.
pub fn sysctl(host: &HostBaseline) -> Vec<(String, String)> {
    let mut settings: std::collections::BTreeMap<String, String> = SYSCTL
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (key, value) in &host.sysctl {
        if value == DEFAULT {
            settings.remove(key);
        } else {
            settings.insert(key.clone(), value.clone());
        }
    }
    settings.into_iter().collect()
}

/// The modules deployer blocks on `host`.
pub fn blocked_modules(host: &HostBaseline) -> Vec<&'static str> {
    BLOCKED_MODULES
        .iter()
        .copied()
        .filter(|m| !host.modules.iter().any(|kept| kept == m))
        .collect()
}

/// A sysctl key as `sysctl.d` takes it: dotted words of letters, digits,
/// `_` and `-` (interface names), at most 128 characters.
pub fn key_ok(key: &str) -> bool {
    key.len() <= 128
        && key.contains('.')
        && key.split('.').all(|word| {
            !word.is_empty()
                && !word.starts_with('-')
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// A sysctl value: words of letters, digits and `_ . : , -`, separated by
/// single spaces (`4096 87380 6291456`), at most 256 characters.
pub fn value_ok(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value.split(' ').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:,-".contains(c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_replaces_drops_and_adds_settings() {
        let host = HostBaseline {
            sysctl: [
                ("net.ipv4.conf.all.rp_filter", "2"),
                ("kernel.sysrq", DEFAULT),
                ("vm.max_map_count", "262144"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            modules: vec!["sctp".into()],
            ..HostBaseline::default()
        };
        let settings = sysctl(&host);
        let get = |key: &str| {
            settings
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("net.ipv4.conf.all.rp_filter"), Some("2"));
        assert_eq!(get("kernel.sysrq"), None);
        assert_eq!(get("vm.max_map_count"), Some("262144"));
        assert_eq!(get("kernel.kptr_restrict"), Some("2"));
        assert!(!blocked_modules(&host).contains(&"sctp"));
        assert!(blocked_modules(&host).contains(&"dccp"));
    }

    #[test]
    fn keys_and_values_are_what_sysctl_d_takes() {
        for good in [
            "net.ipv4.conf.eth0-1.rp_filter",
            "vm.swappiness",
            "kernel.yama.ptrace_scope",
        ] {
            assert!(key_ok(good), "{good}");
        }
        for bad in [
            "swappiness",
            "vm..x",
            "vm.x y",
            "vm.x=1",
            "-vm.x",
            "vm.x\n",
            "vm/x",
        ] {
            assert!(!key_ok(bad), "{bad:?}");
        }
        for good in ["1", "4096 87380 6291456", "fq_codel", "0-3"] {
            assert!(value_ok(good), "{good}");
        }
        for bad in ["", "1  2", "a;b", "1\n", "$x", " 1"] {
            assert!(!value_ok(bad), "{bad:?}");
        }
    }
}
