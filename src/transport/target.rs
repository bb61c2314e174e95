//! Where and how to connect to a host: the spec's settings merged with the
//! operator's `~/.ssh/config` (HostName, User, Port, IdentityFile, ProxyJump).
//! The spec's per-host settings win, then `~/.ssh/config`, then the spec's
//! defaults.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use ssh2_config::{HostParams, ParseRule, SshConfig};

use crate::spec::{Host, KnownHosts, Loaded, expand_home, operator_home};

#[derive(Debug, Clone)]
pub struct Target {
    /// The spec's name for the host, used in every message.
    pub label: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Private keys to offer after the agent, in order.
    pub identities: Vec<PathBuf>,
    pub known_hosts: PathBuf,
    pub accept_new: bool,
    pub jump: Option<Box<Target>>,
    /// Unlocks encrypted identity files (from `DEPLOYER_SSH_PASSPHRASE`);
    /// without it, a terminal is asked.
    pub passphrase: Option<String>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

/// Connection settings from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub accept_new_host_keys: bool,
    /// `~/.ssh/config` unless set.
    pub ssh_config: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

fn load_config(options: &Options) -> Result<SshConfig> {
    let path = options
        .ssh_config
        .clone()
        .unwrap_or_else(|| operator_home().join(".ssh/config"));
    if !path.exists() {
        return Ok(SshConfig::default());
    }
    let file = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
    SshConfig::default()
        .parse(&mut BufReader::new(file), ParseRule::ALLOW_UNKNOWN_FIELDS)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn resolve(loaded: &Loaded, host: &Host, options: &Options) -> Result<Target> {
    let config = load_config(options)?;
    let spec = &loaded.spec;
    let base = loaded.file.parent().unwrap_or(Path::new("."));
    let known_hosts = spec
        .ssh
        .known_hosts_file
        .as_deref()
        .map(|p| expand_home(p, base))
        .unwrap_or_else(|| operator_home().join(".ssh/known_hosts"));
    let explicit_identity = spec.ssh.identity.as_deref().map(|p| expand_home(p, base));
    let defaults = Hop {
        user: host.user.clone().or_else(|| spec.ssh.user.clone()),
        port: host.port,
        fallback_port: spec.network.ssh_port,
        identity: explicit_identity,
    };
    let options = Options {
        accept_new_host_keys: options.accept_new_host_keys
            || spec.ssh.known_hosts == KnownHosts::AcceptNew,
        ..options.clone()
    };
    build(
        &config,
        &host.name,
        &host.address,
        &defaults,
        &known_hosts,
        &options,
        0,
    )
}

/// What the spec says of one hop; the config fills the gaps.
struct Hop {
    user: Option<String>,
    port: Option<u16>,
    fallback_port: u16,
    identity: Option<PathBuf>,
}

fn build(
    config: &SshConfig,
    label: &str,
    address: &str,
    hop: &Hop,
    known_hosts: &Path,
    options: &Options,
    depth: usize,
) -> Result<Target> {
    if depth > 4 {
        bail!("{label}: more than 4 ProxyJump hops; is there a loop in your ssh config?");
    }
    let params: HostParams = config.query(address);
    let mut identities: Vec<PathBuf> = hop.identity.iter().cloned().collect();
    identities.extend(params.identity_file.clone().unwrap_or_default());
    if identities.is_empty() {
        identities = ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|k| operator_home().join(".ssh").join(k))
            .collect();
    }
    let jump = match params.proxy_jump.as_ref().and_then(|hops| hops.first()) {
        Some(spec) if spec != "none" => {
            let (user, host, port) = split_jump(spec);
            let jump_hop = Hop {
                user,
                port,
                fallback_port: 22,
                identity: hop.identity.clone(),
            };
            // One jump host serves many targets (one login, `jump.rs`):
            // its name is its own, not the first target's.
            let jump_label = format!("jump host {host}");
            Some(Box::new(build(
                config,
                &jump_label,
                &host,
                &jump_hop,
                known_hosts,
                options,
                depth + 1,
            )?))
        }
        _ => None,
    };
    Ok(Target {
        label: label.to_string(),
        address: params
            .host_name
            .clone()
            .unwrap_or_else(|| address.to_string()),
        port: hop.port.or(params.port).unwrap_or(hop.fallback_port),
        user: hop
            .user
            .clone()
            .or(params.user.clone())
            .unwrap_or_else(|| "root".into()),
        identities,
        known_hosts: known_hosts.to_path_buf(),
        accept_new: options.accept_new_host_keys,
        jump,
        passphrase: std::env::var(super::PASSPHRASE_VARIABLE).ok(),
        connect_timeout: options.connect_timeout,
        command_timeout: options.command_timeout,
    })
}

/// `user@host:port`, each part but the host optional.
fn split_jump(spec: &str) -> (Option<String>, String, Option<u16>) {
    let (user, rest) = match spec.split_once('@') {
        Some((user, rest)) => (Some(user.to_string()), rest),
        None => (None, spec),
    };
    match rest.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            (user, host.to_string(), port.parse().ok())
        }
        _ => (user, rest.to_string(), None),
    }
}

impl Target {
    /// `web1 (root@198.18.0.10:22)`
    pub fn describe(&self) -> String {
        format!(
            "{} ({}@{}:{})",
            self.label, self.user, self.address, self.port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_specs() {
        assert_eq!(split_jump("bastion"), (None, "bastion".into(), None));
        assert_eq!(
            split_jump("ops@bastion:2200"),
            (Some("ops".into()), "bastion".into(), Some(2200))
        );
    }

    #[test]
    fn the_ssh_config_fills_what_the_spec_leaves_open() {
        let text = "Host web1.example.com\n  HostName 198.18.0.10\n  User deploy\n  Port 2222\n  IdentityFile /keys/web\n  ProxyJump ops@bastion:2200\nHost bastion\n  HostName 198.18.0.2\n";
        let config = SshConfig::default()
            .parse(&mut text.as_bytes(), ParseRule::ALLOW_UNKNOWN_FIELDS)
            .unwrap();
        let options = Options {
            accept_new_host_keys: false,
            ssh_config: None,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
        };
        let resolve_web1 = |hop: &Hop| {
            build(
                &config,
                "web1",
                "web1.example.com",
                hop,
                Path::new("/kh"),
                &options,
                0,
            )
            .unwrap()
        };
        let hop = Hop {
            user: None,
            port: None,
            fallback_port: 22,
            identity: None,
        };
        let target = resolve_web1(&hop);
        assert_eq!(
            (target.address.as_str(), target.port, target.user.as_str()),
            ("198.18.0.10", 2222, "deploy")
        );
        assert_eq!(target.identities, [PathBuf::from("/keys/web")]);
        let jump = target.jump.unwrap();
        assert_eq!(
            (jump.address.as_str(), jump.port, jump.user.as_str()),
            ("198.18.0.2", 2200, "ops")
        );
        // Named for itself: one login there serves every target behind it.
        assert_eq!(jump.label, "jump host bastion");

        let spec_wins = Hop {
            user: Some("root".into()),
            port: Some(22),
            fallback_port: 22,
            identity: None,
        };
        let target = resolve_web1(&spec_wins);
        assert_eq!((target.port, target.user.as_str()), (22, "root"));
    }
}
