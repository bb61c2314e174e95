//! Names Debian and Ubuntu already use, which deployer's derived names must
//! not take over: the app's name becomes an account and its group,
//! `/srv/<app>`, `/var/lib/<app>` (pm2's home) and the units `<app>@.service`,
//! `<app>-pm2.service` and `<app>-<worker>@.service`. The lists hold what a
//! base system and the common server packages install; plans also refuse,
//! host by host, units and accounts that exist and were not made by deployer.

/// Accounts and groups of Debian's base-passwd, systemd, and the server
/// packages people run beside an app (and deployer's own).
const ACCOUNTS: &[&str] = &[
    "_apt",
    "_chrony",
    "_laurel",
    "_ssh",
    "adm",
    "admin",
    "audio",
    "avahi",
    "backup",
    "bin",
    "cdrom",
    "chrony",
    "clickhouse",
    "containerd",
    "crontab",
    "daemon",
    "debian",
    "deployer",
    "dialout",
    "dip",
    "disk",
    "dnsmasq",
    "docker",
    "elasticsearch",
    "fax",
    "floppy",
    "fwupd-refresh",
    "games",
    "gnats",
    "grafana",
    "input",
    "irc",
    "kmem",
    "kvm",
    "landscape",
    "list",
    "lp",
    "lxd",
    "mail",
    "man",
    "memcache",
    "messagebus",
    "mongodb",
    "mysql",
    "netdev",
    "news",
    "nginx",
    "node",
    "nogroup",
    "nobody",
    "ntp",
    "operator",
    "plugdev",
    "polkitd",
    "pollinate",
    "postfix",
    "postdrop",
    "postgres",
    "prometheus",
    "proxy",
    "rabbitmq",
    "redis",
    "render",
    "root",
    "sasl",
    "sgx",
    "shadow",
    "snap_daemon",
    "snapd",
    "src",
    "ssl-cert",
    "sshd",
    "staff",
    "sudo",
    "sync",
    "sys",
    "syslog",
    "tape",
    "tcpdump",
    "tss",
    "tty",
    "ubuntu",
    "users",
    "usbmux",
    "utmp",
    "uucp",
    "uuidd",
    "video",
    "voice",
    "www-data",
];

/// Directories under /var/lib that packages and the base system own.
const STATE_DIRS: &[&str] = &[
    "apt",
    "aspell",
    "ca-certificates",
    "cloud",
    "containerd",
    "dbus",
    "dhcp",
    "dictionaries-common",
    "docker",
    "dpkg",
    "emacsen-common",
    "git",
    "grub",
    "ispell",
    "logrotate",
    "machines",
    "man-db",
    "misc",
    "mysql",
    "nginx",
    "ntp",
    "chrony",
    "os-prober",
    "pam",
    "polkit-1",
    "portables",
    "postgresql",
    "private",
    "python",
    "redis",
    "sgml-base",
    "shells.state",
    "snapd",
    "sudo",
    "systemd",
    "ucf",
    "udisks2",
    "unattended-upgrades",
    "update-notifier",
    "ubuntu-advantage",
    "usbutils",
    "vim",
    "xml-core",
];

/// Unit names (without `.service` or `@`) that Debian's and Ubuntu's
/// systemd, util-linux, openssh and common server packages ship.
const UNITS: &[&str] = &[
    "apparmor",
    "apport",
    "apt-daily",
    "apt-daily-upgrade",
    "atd",
    "autovt",
    "avahi-daemon",
    "basic",
    "blk-availability",
    "bluetooth",
    "boot-complete",
    "chrony",
    "cloud-config",
    "cloud-final",
    "cloud-init",
    "cloud-init-local",
    "console-getty",
    "console-setup",
    "container-getty",
    "containerd",
    "cron",
    "cryptdisks",
    "cryptdisks-early",
    "cryptsetup",
    "cryptsetup-pre",
    "ctrl-alt-del",
    "dbus",
    "debug-shell",
    "default",
    "deployer-acme",
    "deployer-alert",
    "deployer-firewall",
    "deployer-health",
    "deployer-lockout-guard",
    "dm-event",
    "dnsmasq",
    "docker",
    "dpkg-db-backup",
    "e2scrub",
    "e2scrub_all",
    "e2scrub_fail",
    "e2scrub_reap",
    "emergency",
    "exit",
    "factory-reset",
    "final",
    "first-boot-complete",
    "fstrim",
    "fwupd",
    "fwupd-refresh",
    "getty",
    "getty-pre",
    "getty-static",
    "graphical",
    "grub-common",
    "grub-initrd-fallback",
    "halt",
    "hibernate",
    "hwclock",
    "hybrid-sleep",
    "ifup",
    "ifupdown-pre",
    "ifupdown-wait-online",
    "irqbalance",
    "iscsid",
    "kexec",
    "keyboard-setup",
    "kmod",
    "kmod-static-nodes",
    "ldconfig",
    "local-fs",
    "local-fs-pre",
    "logrotate",
    "lvm2-lvmpolld",
    "lvm2-monitor",
    "lvm2-pvscan",
    "lxd",
    "lxd-agent",
    "machine",
    "machines",
    "man-db",
    "mariadb",
    "mdadm",
    "mdmonitor",
    "memcached",
    "modprobe",
    "multi-user",
    "multipathd",
    "mysql",
    "netplan-ovs-cleanup",
    "network",
    "network-online",
    "network-pre",
    "networkd-dispatcher",
    "networking",
    "nftables",
    "nginx",
    "nss-lookup",
    "nss-user-lookup",
    "ntp",
    "ntpsec",
    "open-iscsi",
    "openvpn",
    "openvpn-client",
    "openvpn-server",
    "packagekit",
    "paths",
    "php-fpm",
    "plymouth",
    "polkit",
    "postfix",
    "postgresql",
    "poweroff",
    "procps",
    "qemu-guest-agent",
    "quotaon",
    "rc-local",
    "reboot",
    "redis",
    "redis-sentinel",
    "redis-server",
    "remote-fs",
    "remote-fs-pre",
    "rescue",
    "rescue-ssh",
    "rpcbind",
    "rsync",
    "rsyslog",
    "serial-getty",
    "setvtrgb",
    "shutdown",
    "sigpwr",
    "sleep",
    "slices",
    "smartcard",
    "snapd",
    "sockets",
    "sound",
    "ssh",
    "sshd",
    "sudo",
    "suspend",
    "suspend-then-hibernate",
    "swap",
    "sysinit",
    "syslog",
    "sysstat",
    "system-update",
    "time-set",
    "time-sync",
    "timers",
    "ua-reboot-cmds",
    "ubuntu-advantage",
    "ubuntu-fan",
    "udisks2",
    "ufw",
    "umount",
    "unattended-upgrades",
    "user",
    "user-runtime-dir",
    "uuidd",
    "veritysetup",
    "wg-quick",
    "wpa_supplicant",
    "x11-common",
];

/// Unit name prefixes systemd keeps for itself.
const UNIT_PREFIXES: &[&str] = &["systemd-", "initrd-", "dbus-"];

/// Why the app's name `name` would take over something the system owns.
pub fn app_name(name: &str) -> Option<String> {
    if ACCOUNTS.contains(&name) {
        Some(format!(
            "`{name}` is a system account or group on Debian or Ubuntu; deployer makes an account of this name: choose another"
        ))
    } else if STATE_DIRS.contains(&name) {
        Some(format!(
            "/var/lib/{name} belongs to the system on Debian or Ubuntu; deployer keeps the app's state in /var/lib/<name>: choose another"
        ))
    } else {
        unit(name).map(|unit| {
            format!(
                "deployer would write {unit}@.service, which is a system unit on Debian or Ubuntu: choose another name"
            )
        })
    }
}

/// Why the units of worker `worker` of app `app` would take over a system unit.
pub fn worker_name(app: &str, worker: &str) -> Option<String> {
    let stem = format!("{app}-{worker}");
    unit(&stem).map(|unit| {
        format!(
            "deployer would write {unit}@.service, which is a system unit on Debian or Ubuntu: choose another worker name"
        )
    })
}

/// `stem` when a unit named after it (`stem`, `stem@`) is the system's.
fn unit(stem: &str) -> Option<&str> {
    let reserved = UNITS.contains(&stem)
        || UNIT_PREFIXES
            .iter()
            .any(|prefix| stem.starts_with(prefix) || format!("{stem}-") == *prefix);
    reserved.then_some(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names_are_refused_and_others_pass() {
        for name in [
            "user", "getty", "dpkg", "root", "www-data", "systemd", "redis", "apt",
        ] {
            assert!(app_name(name).is_some(), "{name}");
        }
        for name in ["hello", "shop-api", "billing", "web"] {
            assert!(app_name(name).is_none(), "{name}");
        }
        assert!(worker_name("systemd", "fsck").is_some());
        assert!(worker_name("serial", "getty").is_some());
        assert!(worker_name("user", "runtime-dir").is_some());
        assert!(worker_name("shop", "mailer").is_none());
    }
}
