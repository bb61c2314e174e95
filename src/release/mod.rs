//! Releases: the app's code shipped into `ROOT/releases/ID`, built there by
//! the app's user, then made `ROOT/current` with the instances restarted one
//! at a time, each waiting for its health check; a failed check switches
//! back. This module holds what a release is for a host ([`Release`]),
//! packing the source ([`pack`]), the converge's steps ([`script`]) and the
//! releases a host keeps ([`history`]).

pub mod history;
pub mod pack;
pub mod script;

use serde::{Deserialize, Serialize};

use crate::layout::{self, CoreCounts, Paths, Units};
use crate::spec::{Host, ProcessManager, Role, Spec};

pub use pack::{Shipped, pack};

/// How long nginx keeps an instance it saw fail out of rotation. Short: a
/// restarted instance is back in rotation soon after it answers, and a
/// rollout waits this long after each instance's health check before
/// stopping the next, so nginx never finds every instance out at once.
pub const UPSTREAM_FAIL_TIMEOUT_SECS: u64 = 2;

/// The release resource: what a host keeps of the app's code and how it
/// goes live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Filled in from the packed source (empty in an offline render).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// `/srv/<app>`: holds `releases/` and `current`.
    pub root: String,
    /// Runs the build and owns nothing after it.
    pub user: String,
    /// Run by `sh -c` in the new release, as `user`.
    pub build: String,
    /// `npm audit --audit-level` after the build; no audit when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<String>,
    /// Releases kept on the host, the current one included.
    pub keep: u32,
    /// The web units go live with `systemctl reload` (pm2 starts new
    /// workers before it stops old ones), not restart.
    #[serde(default)]
    pub reload: bool,
    /// Restarted (or reloaded) first, in order, each checked.
    #[serde(default)]
    pub web: Vec<Instance>,
    /// Restarted after the web instances.
    #[serde(default)]
    pub workers: Vec<String>,
    pub health_path: String,
    /// Seconds to wait after an instance passed its check before the next
    /// one stops: load balancers take it back into rotation meanwhile.
    #[serde(default)]
    pub settle_secs: u64,
    /// Seconds an instance has to answer its health check after a start.
    pub startup_secs: u64,
    /// Seconds one health request may take.
    pub timeout_secs: u64,
    #[serde(skip)]
    pub archive: Vec<u8>,
}

/// A web instance: its unit and where its health check is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub unit: String,
    pub address: String,
    pub port: u16,
}

impl Release {
    /// The release an app or worker host keeps; `None` on other hosts. Its
    /// id and archive are filled in once the source is packed.
    pub fn for_host(
        spec: &Spec,
        host: &Host,
        cores: &dyn CoreCounts,
        units: &Units,
        paths: &Paths,
    ) -> Option<Release> {
        if !host.has(Role::App) && !host.has(Role::Worker) {
            return None;
        }
        let app = &spec.app;
        let instance = |unit: &str, port: u16| Instance {
            unit: unit.to_string(),
            address: layout::bind_address(host),
            port,
        };
        let ports = layout::ports(spec, host, cores);
        let (web, workers) = match app.process_manager {
            ProcessManager::Systemd => (
                units
                    .web
                    .iter()
                    .zip(&ports)
                    .map(|(unit, port)| instance(unit, *port))
                    .collect(),
                units
                    .workers
                    .iter()
                    .filter(|_| host.has(Role::Worker))
                    .flat_map(|w| w.instances.iter().cloned())
                    .collect(),
            ),
            // One unit runs pm2's whole cluster, reloaded (new workers ready
            // before old ones go) and then checked on the shared port; a host
            // with workers only has nothing to check, so it restarts.
            ProcessManager::Pm2 => match ports.first() {
                Some(&port) => (vec![instance(&units.pm2, port)], Vec::new()),
                None => (Vec::new(), vec![units.pm2.clone()]),
            },
        };
        Some(Release {
            id: String::new(),
            root: paths.root.clone(),
            user: app.name.clone(),
            build: app.build.clone(),
            audit: app.audit.npm_level().map(String::from),
            keep: app.keep_releases,
            reload: app.process_manager == ProcessManager::Pm2,
            settle_secs: UPSTREAM_FAIL_TIMEOUT_SECS,
            web,
            workers,
            health_path: app.health.path.clone(),
            startup_secs: app.health.startup.0.as_secs().max(1),
            timeout_secs: app.health.timeout.0.as_secs().max(1),
            archive: Vec::new(),
        })
    }
}
