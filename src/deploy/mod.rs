//! The deploy layer: what each command does, as one function apiece that
//! the command line calls. An apply runs one way through it:
//! prepare (pack the source, connect, render and expand each host's
//! playbooks) → plan every host (facts, diff and removals, exposure) →
//! converge in waves under the deploy lock → report. `destroy` plans the
//! same way with nothing desired.

mod apply;
mod destroy;
mod exposure;
mod host;
mod hosts;
mod lock;
mod plan;
mod prepare;
mod releases;
mod removal;
mod render;
mod status;
mod survey;

use std::path::PathBuf;
use std::time::Duration;

pub use apply::{ApplyOutcome, ConvergeOptions, apply};
pub use destroy::destroy;
pub use exposure::Exposure;
pub use host::{Applied, Desired, HostAccess};
pub use hosts::{Outcome, named};
pub use lock::{LockAction, lock};
pub use plan::{Planned, plan};
pub use prepare::{Prepared, desired};
pub use releases::{HostReleases, RollbackTarget, releases, rollback};
pub use removal::Removal;
pub use render::{RenderedHost, render};
pub use status::{Certificate, HostStatus, MeshPeerStatus, MeshStatus, UnitStatus, logs, status};

/// Single hosts, for tests and benchmarks that drive one host directly.
pub mod single {
    pub use super::host::{apply, plan};
}

/// How to reach the hosts, as the command line says.
#[derive(Debug, Clone)]
pub struct Reach {
    /// Only these hosts; all when empty.
    pub hosts: Vec<String>,
    /// This machine stands in for the one host chosen (`--connection local`).
    pub local: bool,
    /// Target the lab's hosts with its key and known_hosts, as root.
    pub lab: Option<LabAccess>,
    /// Pin host keys seen for the first time.
    pub accept_new_host_keys: bool,
    /// The OpenSSH client config to honour (`~/.ssh/config` by default).
    pub ssh_config: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// How long one round trip may take.
    pub command_timeout: Duration,
    /// Where deployer keeps its state (the deploy lock) on hosts.
    pub state_dir: String,
    /// Hosts worked on at once.
    pub parallel: usize,
}

/// The lab's credentials (`deployer lab up` made them).
#[derive(Debug, Clone)]
pub struct LabAccess {
    pub key: PathBuf,
    pub known_hosts: PathBuf,
}
