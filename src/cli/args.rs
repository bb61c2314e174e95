//! Options several commands share, and what they tell the deploy layer.

use std::path::PathBuf;
use std::time::Duration;

use crate::deploy::{ConvergeOptions, LabAccess, Reach};
use crate::lab;
use crate::spec::Loaded;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Each host over SSH.
    Ssh,
    /// This machine, as the one host chosen with --host (for baking images).
    Local,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Only these hosts (repeatable); all of them by default.
    #[arg(
        long = "host",
        value_name = "NAME",
        env = "DEPLOYER_HOSTS",
        value_delimiter = ','
    )]
    pub hosts: Vec<String>,
    #[arg(long, value_enum, default_value_t = Connection::Ssh, env = "DEPLOYER_CONNECTION")]
    pub connection: Connection,
    /// Target the lab (`deployer lab up`): its SSH key and known_hosts, as root.
    #[arg(long, env = "DEPLOYER_LAB")]
    pub lab: bool,
    /// Pin host keys seen for the first time into known_hosts.
    #[arg(long, env = "DEPLOYER_ACCEPT_NEW_HOST_KEYS")]
    pub accept_new_host_keys: bool,
    /// The OpenSSH client config to honour.
    #[arg(long, value_name = "FILE", env = "DEPLOYER_SSH_CONFIG")]
    pub ssh_config: Option<PathBuf>,
    /// Seconds to reach a host and log in.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECS",
        env = "DEPLOYER_CONNECT_TIMEOUT"
    )]
    pub connect_timeout: u64,
    /// Seconds one round trip may take (package installs are the slowest).
    #[arg(
        long,
        default_value_t = 1800,
        value_name = "SECS",
        env = "DEPLOYER_COMMAND_TIMEOUT"
    )]
    pub command_timeout: u64,
    /// Where deployer keeps its state (the deploy lock) on hosts.
    #[arg(
        long,
        default_value = "/var/lib/deployer",
        value_name = "DIR",
        env = "DEPLOYER_STATE_DIR",
        hide = true
    )]
    pub state_dir: String,
    /// Hosts worked on at once.
    #[arg(long, default_value_t = 10, value_name = "N", env = "DEPLOYER_PARALLEL", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
}

impl ConnectArgs {
    /// The spec as the hosts reached this way get it: with `--lab`, official
    /// Node.js builds come from the lab's mirror, as lab hosts do not reach
    /// nodejs.org (a spec naming its own mirror keeps it).
    pub fn adapt(&self, loaded: &mut Loaded) -> anyhow::Result<()> {
        if let Some(major) = self.lab.then(|| lab::official_node_line(loaded)).flatten() {
            lab::node_mirror::ensure(major, &|step| eprintln!("lab: {step}"))?;
            loaded.spec.runtime.node.mirror = Some(lab::node_mirror::url());
        }
        Ok(())
    }

    pub fn reach(&self) -> Reach {
        Reach {
            hosts: self.hosts.clone(),
            local: self.connection == Connection::Local,
            lab: self.lab.then(|| LabAccess {
                key: lab::key(),
                known_hosts: lab::known_hosts(),
            }),
            accept_new_host_keys: self.accept_new_host_keys,
            ssh_config: self.ssh_config.clone(),
            connect_timeout: Duration::from_secs(self.connect_timeout),
            command_timeout: Duration::from_secs(self.command_timeout),
            state_dir: self.state_dir.clone(),
            parallel: usize::from(self.parallel),
        }
    }
}

/// What every command that changes hosts takes.
#[derive(clap::Args, Debug)]
pub struct ConvergeArgs {
    /// Apply without asking (required when not on a terminal).
    #[arg(long, short = 'y', env = "DEPLOYER_YES")]
    pub yes: bool,
    /// Seconds the deploy lock lives unless renewed; a crashed run's lock expires after it.
    #[arg(
        long,
        default_value_t = 1800,
        value_name = "SECS",
        env = "DEPLOYER_LOCK_TTL"
    )]
    pub lock_ttl: u64,
    /// How long to wait for another run's deploy lock (`10m`, `90s`), saying
    /// who holds it, before planning; for CI jobs that queue. 0: fail at once.
    #[arg(
        long,
        default_value = "0s",
        value_name = "DURATION",
        value_parser = humantime::parse_duration,
        env = "DEPLOYER_LOCK_WAIT"
    )]
    pub lock_wait: std::time::Duration,
    /// No progress lines.
    #[arg(long, short = 'q', env = "DEPLOYER_QUIET")]
    pub quiet: bool,
}

impl ConvergeArgs {
    pub fn options(&self, fail_fast: bool) -> ConvergeOptions {
        ConvergeOptions {
            yes: self.yes,
            lock_ttl: self.lock_ttl,
            lock_wait: self.lock_wait,
            fail_fast,
        }
    }
}
