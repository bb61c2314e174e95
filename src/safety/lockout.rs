//! The lockout guard: a change to a `guarded` file (the firewall, sshd) must
//! not cut the operator off. Before it is applied, the connection it comes
//! through must be one the new settings admit. While it is applied, a timer
//! on the host stands ready to put the old files back; only a NEW SSH
//! connection, opened once the change is live, stops it (the old connection
//! survives as established traffic, so it proves nothing).

use std::fmt::Write as _;
use std::time::Duration;

use ipnet::IpNet;

use crate::dialect::shell::{heredoc_marker, quote};
use crate::resource::diff::{Change, is_changed};
use crate::resource::facts::Login;
use crate::resource::{File, Resource};
use crate::spec::Spec;

/// The transient unit that reverts; `systemd-run` names its timer after it.
const UNIT: &str = "deployer-lockout-guard";

/// What [`LockoutGuard::confirm`] prints when the revert came first.
pub const REVERTED: &str = "DEPLOYER_GUARD_REVERTED";

/// Long enough for any converge script: the clock restarts at its end.
const WHILE_APPLYING: Duration = Duration::from_secs(30 * 60);

/// The guarded files among `resources` that `changes` touch: what the
/// converge arms the guard for and the apply must confirm.
pub fn changed_files<'a>(resources: &'a [Resource], changes: &[Change]) -> Vec<&'a File> {
    resources
        .iter()
        .filter_map(|r| match r {
            Resource::File(f) if f.guarded && is_changed(r, changes) => Some(f),
            _ => None,
        })
        .collect()
}

/// What the spec says new SSH connections must look like.
#[derive(Debug, Clone)]
pub struct LockoutGuard {
    /// `network.ssh_from`.
    pub ssh_from: Vec<IpNet>,
    /// `network.ssh_port`: where sshd listens and the firewall admits SSH;
    /// any port when `None`.
    pub ssh_port: Option<u16>,
    /// `ssh.allow_users`; anyone when empty.
    pub allow_users: Vec<String>,
    /// `firewall.confirm_within`.
    pub confirm_within: Duration,
    /// deployer's state directory on the host.
    pub state_dir: String,
}

impl LockoutGuard {
    /// The spec's rules for new SSH connections.
    pub fn new(spec: &Spec, state_dir: &str) -> LockoutGuard {
        LockoutGuard {
            ssh_from: spec.network.ssh_from.iter().map(|c| c.0).collect(),
            ssh_port: Some(spec.network.ssh_port),
            allow_users: spec.ssh.allow_users.clone(),
            confirm_within: spec.firewall.confirm_within.0,
            state_dir: state_dir.to_string(),
        }
    }

    /// Admits any connection: for callers with no spec (tests, benchmarks).
    pub fn permissive(state_dir: &str) -> LockoutGuard {
        LockoutGuard {
            ssh_from: ["0.0.0.0/0", "::/0"]
                .map(|n| n.parse().expect("a network"))
                .into(),
            ssh_port: None,
            allow_users: Vec::new(),
            confirm_within: Duration::from_secs(60),
            state_dir: state_dir.to_string(),
        }
    }

    /// Why the spec's firewall or sshd settings would shut out `login`, the
    /// connection deployer came through.
    pub fn refusal(&self, login: &Login) -> Option<String> {
        let admitted = |net: &IpNet| net.contains(&login.client);
        if !self.ssh_from.iter().any(admitted) {
            let from: Vec<String> = self.ssh_from.iter().map(ToString::to_string).collect();
            return Some(format!(
                "network.ssh_from ({}) leaves out {}, the address this SSH connection comes from: \
                 add it (e.g. `{}`) or apply from an address it admits",
                from.join(", "),
                login.client,
                IpNet::from(login.client)
            ));
        }
        if let Some(port) = self.ssh_port.filter(|p| *p != login.port) {
            return Some(format!(
                "this SSH connection reaches sshd on port {}, but the spec moves SSH to port {port} \
                 (network.ssh_port) and closes {}: set network.ssh_port back to {}, or move sshd by hand first",
                login.port, login.port, login.port
            ));
        }
        if !self.allow_users.is_empty() && !self.allow_users.contains(&login.user) {
            return Some(format!(
                "ssh.allow_users ({}) leaves out `{}`, the account deployer logs in as: add it",
                self.allow_users.join(", "),
                login.user
            ));
        }
        None
    }

    fn dir(&self) -> String {
        format!("{}/guard", self.state_dir)
    }

    /// Shell functions: `guard_arm SECONDS` (re)starts the revert timer.
    fn functions(&self) -> String {
        format!(
            r#"guard_arm() {{
  systemctl stop {unit}.timer {unit}.service 2>/dev/null || true
  systemctl reset-failed {unit}.timer {unit}.service 2>/dev/null || true
  systemd-run --quiet --unit={unit} --on-active="$1" --timer-property=AccuracySec=1s /bin/bash {dir}/revert
}}
"#,
            unit = UNIT,
            dir = quote(&self.dir()),
        )
    }

    /// Arms the guard for `files` (the guarded ones about to change): keeps
    /// their current copies and a revert script, and starts the timer with
    /// room for the whole apply. `handlers` are the files' notify lines.
    pub fn arm(&self, files: &[&File]) -> String {
        let dir = quote(&self.dir());
        let mut revert = String::from("set -u\n");
        let mut script = self.functions();
        let _ = writeln!(
            script,
            "step arm the lockout guard\nrm -rf {dir}\nmkdir -m 0700 {dir}"
        );
        let mut handlers: Vec<&str> = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let path = quote(&file.path);
            let kept = format!("{dir}/{i}");
            let _ = writeln!(script, "if [ -e {path} ]; then cp -a {path} {kept}; fi");
            let undo = file
                .revert_absent
                .as_deref()
                .map(|command| format!("; {command}"))
                .unwrap_or_default();
            let _ = writeln!(
                revert,
                "if [ -e {kept} ]; then cp -a {kept} {path}.deployer-new && mv -f {path}.deployer-new {path}; else rm -f {path}{undo}; fi"
            );
            for handler in &file.notify {
                if !handlers.contains(&handler.as_str()) {
                    handlers.push(handler);
                }
            }
        }
        // daemon-reload first, as the converge script orders them.
        handlers.sort_by_key(|h| *h != "daemon-reload");
        for handler in handlers {
            let _ = writeln!(revert, "systemctl {} || true", systemctl_words(handler));
        }
        let _ = writeln!(
            revert,
            "logger -t deployer -p auth.warning 'lockout guard: no new SSH connection confirmed the firewall/sshd change in time; the previous settings are back'\nrm -rf {dir}"
        );
        let marker = heredoc_marker(&revert);
        let _ = writeln!(
            script,
            "cat >{dir}/revert <<'{marker}'\n{revert}{marker}\nguard_arm {}",
            WHILE_APPLYING.as_secs()
        );
        script
    }

    /// At the end of a converge that armed the guard: the clock restarts,
    /// now for a new connection to confirm the change.
    pub fn await_confirmation(&self) -> String {
        format!(
            "if [ -d {dir} ]; then step await a new SSH connection; guard_arm {}; fi\n",
            self.confirm_within.as_secs(),
            dir = quote(&self.dir())
        )
    }

    /// Run through a connection that reached the host: it proves new
    /// connections get in, so a pending revert is called off. Prints
    /// [`REVERTED`] when there was none left to call off.
    pub fn confirm(&self) -> String {
        format!(
            "if [ -d {dir} ]; then systemctl stop {UNIT}.timer 2>/dev/null || true; rm -rf {dir}; else echo {REVERTED}; fi\n",
            dir = quote(&self.dir())
        )
    }
}

/// `restart UNIT` -> `restart 'UNIT'`, quoted for the shell.
fn systemctl_words(handler: &str) -> String {
    handler.split(' ').map(quote).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> LockoutGuard {
        LockoutGuard {
            ssh_from: vec!["198.18.0.0/24".parse().unwrap()],
            ssh_port: Some(22),
            allow_users: vec!["deploy".into()],
            confirm_within: Duration::from_secs(60),
            state_dir: "/var/lib/deployer".into(),
        }
    }

    fn login(client: &str, port: u16, user: &str) -> Login {
        Login {
            client: client.parse().unwrap(),
            port,
            user: user.into(),
        }
    }

    #[test]
    fn admits_only_what_the_spec_lets_in() {
        let guard = guard();
        assert_eq!(guard.refusal(&login("198.18.0.1", 22, "deploy")), None);
        let outside = guard.refusal(&login("203.0.113.9", 22, "deploy")).unwrap();
        assert!(outside.contains("leaves out 203.0.113.9"), "{outside}");
        assert!(outside.contains("`203.0.113.9/32`"), "{outside}");
        let port = guard.refusal(&login("198.18.0.1", 2222, "deploy")).unwrap();
        assert!(port.contains("moves SSH to port 22"), "{port}");
        let user = guard.refusal(&login("198.18.0.1", 22, "root")).unwrap();
        assert!(user.contains("leaves out `root`"), "{user}");
    }

    #[test]
    fn the_revert_puts_back_or_removes_then_runs_the_handlers() {
        let firewall = File {
            notify: vec!["restart deployer-firewall.service".into()],
            guarded: true,
            revert_absent: Some("nft delete table inet deployer".into()),
            ..File::new("/etc/deployer/firewall.nft", 0o600, "")
        };
        let unit = File {
            notify: vec![
                "daemon-reload".into(),
                "restart deployer-firewall.service".into(),
            ],
            guarded: true,
            ..File::new("/etc/systemd/system/deployer-firewall.service", 0o644, "")
        };
        let script = guard().arm(&[&firewall, &unit]);
        assert!(script.contains("if [ -e /etc/deployer/firewall.nft ]; then cp -a /etc/deployer/firewall.nft /var/lib/deployer/guard/0; fi"), "{script}");
        assert!(
            script.contains(
                "else rm -f /etc/deployer/firewall.nft; nft delete table inet deployer; fi"
            ),
            "{script}"
        );
        let reload = script.find("systemctl daemon-reload || true").unwrap();
        let restart = script
            .find("systemctl restart deployer-firewall.service || true")
            .unwrap();
        assert!(reload < restart, "{script}");
        assert_eq!(
            script
                .matches("systemctl restart deployer-firewall.service")
                .count(),
            1
        );
        assert!(script.contains("guard_arm 1800"), "{script}");
        assert!(guard().await_confirmation().contains("guard_arm 60"));
    }
}
