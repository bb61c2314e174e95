//! Where things live on a host and what they are called: the paths and the
//! unit names deployer manages, computed here once and read by templates,
//! playbooks, releases, `status` and `logs` alike.

use serde::Serialize;

use crate::spec::{Host, ProcessManager, Role, Spec};

/// Where official Node.js builds are unpacked, side by side.
pub const NODE_ROOT: &str = "/opt/nodejs";

/// Every app's firewall rules, which the host's table includes.
const FIREWALL_RULES: &str = "/etc/deployer/firewall.d";

/// Every app's health checks, one script each.
const HEALTH_SCRIPTS: &str = "/usr/local/lib/deployer/health.d";

/// Every app's alert channels, one script each, which the host's alert
/// script picks from (its template says how).
const ALERT_CHANNELS: &str = "/usr/local/lib/deployer/alert.d";

/// What every app deployed on a host claims of it, one JSON file each.
pub const CLAIMS: &str = "/var/lib/deployer/claims";

/// NodeSource's InRelease as apt verified it when deployer last trusted the
/// repository's key: later plans judge the key against it again, offline.
pub const NODESOURCE_RELEASE: &str = "/var/lib/deployer/nodesource/InRelease";

/// The security archive's apt source deployer adds (`apt.security_source`).
pub const SECURITY_SOURCE: &str = "/etc/apt/sources.list.d/deployer-security.list";

/// The WireGuard mesh's directory (`network.mesh`): its configuration and
/// the host's key pair, which the host makes and keeps.
const MESH: &str = "/etc/deployer/mesh";

/// The mesh's public key, which the survey reads for the other hosts.
pub const MESH_PUBLIC_KEY: &str = "/etc/deployer/mesh/public.key";

/// The pm2 release deployer is tested with; a new pin installs beside the old.
pub const PM2_VERSION: &str = "7.0.4";

/// Where things live on a host. One place, so templates and playbooks agree.
#[derive(Debug, Clone, Serialize)]
pub struct Paths {
    /// `/srv/<app>`: releases, `current`, `shared`.
    pub root: String,
    pub current: String,
    /// Survives releases; the only directory the app may write.
    pub shared: String,
    /// `/etc/deployer/<app>`: env files, pm2 ecosystem.
    pub config: String,
    pub env_file: String,
    pub secrets_file: String,
    pub ecosystem: String,
    /// The certificate chain and key nginx serves, whatever the TLS mode.
    pub tls_dir: String,
    pub tls_cert: String,
    pub tls_key: String,
    /// Webroot for ACME HTTP-01 challenges.
    pub acme_root: String,
    /// A private ACME server's CA, for dehydrated's curl.
    pub acme_ca: String,
    /// The app's state directory under /var/lib (`StateDirectory=`), in
    /// deployer's namespace so it can never be a directory the system owns.
    pub state_directory: String,
    pub pm2_home: String,
    /// Commands, through env (PATH has /usr/local/bin, where the pinned
    /// pm2 is linked) so units verify before pm2 is installed.
    pub pm2: String,
    pub pm2_runtime: String,
    /// Where the pinned pm2 is installed.
    pub pm2_prefix: String,
    /// The host's firewall policy, and the directory of every app's rules
    /// it includes, and this app's.
    pub firewall: String,
    pub firewall_rules_dir: String,
    pub firewall_rules: String,
    /// What the app claims of the host (names, ports, host policy), in the
    /// directory where every app's claims are, which the others read.
    pub claims_dir: String,
    pub claims: String,
    /// The security archive's source deployer adds (`apt.security_source`).
    pub security_source: String,
    /// The live official Node.js build's programs.
    pub node_bin: String,
    /// The health timer's failure counts, one file per unit
    /// (`StateDirectory=deployer/health`).
    pub health_state: String,
    /// One round of the app's health checks, in the directory of every
    /// app's.
    pub health_scripts: String,
    pub health_script: String,
    /// Where the app's alerts go, in the directory the host's alert
    /// script reads every app's from.
    pub alert_channels_dir: String,
    pub alert_channels: String,
    /// The mesh: wg-quick's configuration (named after the interface, as
    /// wg-quick requires) and the key pair.
    pub mesh_dir: String,
    pub mesh_config: String,
    pub mesh_private_key: String,
    pub mesh_public_key: String,
    /// The mesh's checks: one round (a script), and who was alerted about
    /// (`RuntimeDirectory=deployer/mesh`: nothing of it stays on disk once
    /// the mesh leaves the spec, and a reboot announces a peer still away
    /// again).
    pub mesh_check: String,
    pub mesh_state: String,
}

impl Paths {
    pub fn new(app: &str) -> Self {
        let root = format!("/srv/{app}");
        let config = format!("/etc/deployer/{app}");
        // Under /etc/nginx, so that `nginx -t` over a staged copy of that
        // directory judges a new certificate together with the new config.
        let tls = format!("/etc/nginx/tls/{app}");
        Paths {
            current: format!("{root}/current"),
            shared: format!("{root}/shared"),
            env_file: format!("{config}/app.env"),
            secrets_file: format!("{config}/secrets.env"),
            ecosystem: format!("{config}/ecosystem.json"),
            tls_cert: format!("{tls}/fullchain.pem"),
            tls_key: format!("{tls}/privkey.pem"),
            tls_dir: tls,
            acme_root: "/var/lib/deployer/acme".into(),
            acme_ca: "/etc/deployer/acme-ca.pem".into(),
            state_directory: format!("deployer-{app}"),
            pm2_home: format!("/var/lib/deployer-{app}/pm2"),
            pm2: "/usr/bin/env pm2".into(),
            pm2_runtime: "/usr/bin/env pm2-runtime".into(),
            pm2_prefix: format!("/opt/pm2/{PM2_VERSION}"),
            firewall: "/etc/deployer/firewall.nft".into(),
            firewall_rules_dir: FIREWALL_RULES.into(),
            firewall_rules: format!("{FIREWALL_RULES}/{app}.nft"),
            claims_dir: CLAIMS.into(),
            claims: format!("{CLAIMS}/{app}.json"),
            security_source: SECURITY_SOURCE.into(),
            node_bin: format!("{NODE_ROOT}/current/bin"),
            health_state: "/var/lib/deployer/health".into(),
            health_scripts: HEALTH_SCRIPTS.into(),
            health_script: format!("{HEALTH_SCRIPTS}/{app}"),
            alert_channels_dir: ALERT_CHANNELS.into(),
            alert_channels: format!("{ALERT_CHANNELS}/{app}"),
            mesh_dir: MESH.into(),
            mesh_config: format!("{MESH}/{}.conf", crate::spec::mesh::INTERFACE),
            mesh_private_key: format!("{MESH}/private.key"),
            mesh_public_key: MESH_PUBLIC_KEY.into(),
            mesh_check: "/usr/local/lib/deployer/mesh-check".into(),
            mesh_state: "/run/deployer/mesh".into(),
            root,
            config,
        }
    }
}

/// Each host's CPU cores, which `instances: max` follows: read from the
/// hosts at plan time, assumed by an offline render.
pub trait CoreCounts {
    fn cores(&self, host: &str) -> u32;
}

/// What an offline render assumes of every host.
pub struct AssumedCores(pub u32);

impl CoreCounts for AssumedCores {
    fn cores(&self, _host: &str) -> u32 {
        self.0
    }
}

/// The ports the app's web processes listen on at `host`: one per systemd
/// instance, pm2's cluster sharing the first; none without the app role.
pub fn ports(spec: &Spec, host: &Host, cores: &dyn CoreCounts) -> Vec<u16> {
    if !host.has(Role::App) {
        return Vec::new();
    }
    let count = match spec.app.process_manager {
        ProcessManager::Pm2 => 1,
        ProcessManager::Systemd => spec.app.instances.resolve(cores.cores(&host.name)),
    };
    (0..count).map(|i| spec.app.port + i as u16).collect()
}

/// Where the app listens on `host`: its private address, else loopback.
pub fn bind_address(host: &Host) -> String {
    host.private_address
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// The app's units on one host.
#[derive(Debug, Clone, Serialize)]
pub struct Units {
    /// `APP@.service`, the web instances' template (systemd).
    pub web_template: String,
    /// `APP@PORT.service`, one per port on an app host (systemd).
    pub web: Vec<String>,
    /// Each worker's units (systemd), in spec order; they run on worker
    /// hosts only.
    pub workers: Vec<WorkerUnits>,
    /// `APP-pm2.service`, pm2's one unit.
    pub pm2: String,
    /// Every unit that runs the app on this host, web instances first:
    /// what a new runtime, environment or secret restarts.
    pub app: Vec<String>,
    /// `APP-health.service` and its timer: the app's health checks.
    pub health_service: String,
    pub health_timer: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkerUnits {
    /// `APP-WORKER@.service`, its template.
    pub template: String,
    /// `APP-WORKER@N.service`, N from 1.
    pub instances: Vec<String>,
}

/// `APP-WORKER`: what a worker's units are named after.
pub fn worker_prefix(app: &str, worker: &str) -> String {
    format!("{app}-{worker}")
}

impl Units {
    pub fn new(spec: &Spec, host: &Host, cores: &dyn CoreCounts) -> Units {
        let app = &spec.app;
        let systemd = app.process_manager == ProcessManager::Systemd;
        let web: Vec<String> = ports(spec, host, cores)
            .into_iter()
            .filter(|_| systemd)
            .map(|port| format!("{}@{port}.service", app.name))
            .collect();
        let workers: Vec<WorkerUnits> = app
            .workers
            .iter()
            .filter(|_| systemd)
            .map(|w| {
                let prefix = worker_prefix(&app.name, &w.name);
                WorkerUnits {
                    template: format!("{prefix}@.service"),
                    instances: (1..=w.instances.resolve(cores.cores(&host.name)))
                        .map(|i| format!("{prefix}@{i}.service"))
                        .collect(),
                }
            })
            .collect();
        let pm2 = format!("{}-pm2.service", app.name);
        let runs_node = host.has(Role::App) || host.has(Role::Worker);
        let all = if !runs_node {
            Vec::new()
        } else if systemd {
            let workers = workers.iter().filter(|_| host.has(Role::Worker));
            web.iter()
                .chain(workers.flat_map(|w| &w.instances))
                .cloned()
                .collect()
        } else {
            vec![pm2.clone()]
        };
        Units {
            web_template: format!("{}@.service", app.name),
            web,
            workers,
            pm2,
            app: all,
            health_service: health_service(&app.name),
            health_timer: format!("{}-health.timer", app.name),
        }
    }
}

/// `APP-health.service`: one round of the app's health checks, run by its
/// timer; inactive between rounds.
pub fn health_service(app: &str) -> String {
    format!("{app}-health.service")
}

/// Shell patterns of every unit the app `app` can have on any host (web
/// `APP@PORT`, workers `APP-WORKER@N`, `APP-pm2`), for `status` and `logs`,
/// which read hosts without knowing their cores.
pub fn unit_patterns(app: &str) -> [String; 2] {
    [format!("{app}@*"), format!("{app}-*")]
}
