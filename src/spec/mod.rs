//! `deployer.yaml`: its types and their safe defaults (here), and loading
//! with every problem reported at once (`load.rs`).
//!
//! Every field is documented in the README's YAML reference; keep the two in step.

pub mod baseline;
pub mod dns;
pub mod edge;
mod files;
mod load;
pub mod mesh;
pub mod node_lines;
mod provided_cert;
mod reserved;
mod secrets;
pub mod source;
pub mod text;
mod validate;
mod values;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use files::{expand_home, operator_home};
pub use load::{Invalid, Loaded, Secrets, check, load, schema_text};
pub use provided_cert::ProvidedCert;
pub use secrets::{Secret, Source as SecretSource, Values as SecretValues};
pub use values::{Batch, Cidr, Duration, Instances, Ip, Trusted};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Spec {
    pub app: App,
    #[serde(default)]
    pub runtime: Runtime,
    /// The public name of the site; without it nginx answers any name.
    pub domain: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub network: Network,
    pub hosts: Vec<Host>,
    #[serde(default)]
    pub ssh: Ssh,
    #[serde(default)]
    pub nginx: Nginx,
    #[serde(default)]
    pub edge: Edge,
    #[serde(default)]
    pub monitoring: Monitoring,
    #[serde(default)]
    pub firewall: Firewall,
    #[serde(default)]
    pub rollout: Rollout,
    #[serde(default)]
    pub services: Services,
    #[serde(default)]
    pub apt: Apt,
    #[serde(default)]
    pub host: HostBaseline,
}

/// The hardening every host of the spec gets besides the app's own: kernel
/// settings, kernel modules nobody needs, core dumps, idle shells, and
/// checking tools. The settings are files deployer owns: taking one out
/// here takes it off the host. Packages stay, as every package does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HostBaseline {
    /// Kernel settings (sysctl) that replace deployer's or add to them,
    /// e.g. `net.ipv4.conf.all.rp_filter: 2` for asymmetric routing; the
    /// value `default` drops one of deployer's, leaving the kernel's.
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
    /// Kernel modules to keep loadable among those deployer blocks (`sctp`,
    /// say): dccp, sctp, rds, tipc, cramfs, freevxfs, jffs2, hfs, hfsplus,
    /// usb-storage, firewire-core.
    #[serde(default)]
    pub modules: Vec<String>,
    /// Keep core dumps (off by default: a dump holds the process's secrets).
    #[serde(default)]
    pub core_dumps: bool,
    /// How long an interactive login shell may sit idle before it ends
    /// (bash's `TMOUT`, read-only); `0s` lets idle shells stay open.
    #[serde(
        default = "HostBaseline::default_idle_timeout",
        serialize_with = "Duration::serialize_as_text"
    )]
    pub idle_timeout: Duration,
    /// Give each login session a private temporary directory
    /// (`libpam-tmpdir`: `TMPDIR=/tmp/user/UID`); `false` does not install
    /// it (a host that has it keeps it).
    #[serde(default = "HostBaseline::default_pam_tmpdir")]
    pub pam_tmpdir: bool,
}

impl Default for HostBaseline {
    fn default() -> Self {
        HostBaseline {
            sysctl: BTreeMap::new(),
            modules: Vec::new(),
            core_dumps: false,
            idle_timeout: HostBaseline::default_idle_timeout(),
            pam_tmpdir: true,
        }
    }
}

impl HostBaseline {
    /// 15 minutes, the CIS benchmarks' limit.
    fn default_idle_timeout() -> Duration {
        Duration::secs(15 * 60)
    }
    fn default_pam_tmpdir() -> bool {
        true
    }
}

/// The hosts' package sources.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Apt {
    /// On a host with no apt source for its distribution's security archive,
    /// add one (`/etc/apt/sources.list.d/deployer-security.sources`, from the
    /// mirror the host already uses), so that unattended-upgrades has security
    /// fixes to install. Without it, plans and `status` warn about such hosts.
    #[serde(default)]
    pub security_source: bool,
}

/// Backing services deployer runs for the app.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Services {
    /// Shared state (sessions, caches, queues) outside the web processes.
    pub redis: Option<Redis>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Redis {
    /// The host that runs it.
    pub host: String,
    /// The entry of `app.secrets` holding its password.
    #[serde(default = "Redis::default_password")]
    pub password: String,
    #[serde(default = "Redis::default_port")]
    pub port: u16,
}

/// Where load balancers answer each other's ACME challenges, on their
/// private addresses (with `tls.mode: acme` and more than one of them).
pub const ACME_PEER_PORT: u16 = 8402;

/// The variable that tells the app where Redis is, password included.
pub const REDIS_URL: &str = "REDIS_URL";

impl Redis {
    fn default_password() -> String {
        "REDIS_PASSWORD".into()
    }
    fn default_port() -> u16 {
        6379
    }
}

/// How a new release reaches several hosts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Rollout {
    /// Hosts switched at once, after the first host alone turned healthy:
    /// a number, or a share of the rollout's hosts (`25%`).
    #[serde(default = "Rollout::default_batch")]
    pub batch: Batch,
}

impl Rollout {
    fn default_batch() -> Batch {
        Batch::Hosts(1)
    }
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            batch: Self::default_batch(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct App {
    /// Names the unit files, the user, and the directories on the hosts.
    pub name: String,
    /// The directory shipped to the hosts, relative to deployer.yaml.
    #[serde(default = "App::default_source")]
    pub source: String,
    /// Run by a shell in the release directory on the host.
    #[serde(default = "App::default_build")]
    pub build: String,
    /// After the build, `npm audit --omit=dev` refuses a release with a
    /// vulnerability of this level or worse.
    #[serde(default)]
    pub audit: AuditLevel,
    /// Releases kept on each host, the current one included.
    #[serde(default = "App::default_keep_releases")]
    pub keep_releases: u32,
    /// Run without a shell: a program and its arguments, e.g. `node server.js`.
    pub start: String,
    /// The first instance's port; instance N listens on `port + N`.
    #[serde(default = "App::default_port")]
    pub port: u16,
    #[serde(default)]
    pub instances: Instances,
    #[serde(default)]
    pub process_manager: ProcessManager,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variables whose values come from the operator's side, never from here.
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub workers: Vec<Worker>,
    /// Networks the app may reach besides loopback and the private network,
    /// e.g. an API's or a managed database's; `0.0.0.0/0` and `::/0` for any.
    #[serde(default)]
    pub egress: Vec<Cidr>,
}

impl App {
    fn default_source() -> String {
        ".".into()
    }
    fn default_build() -> String {
        "npm ci --omit=dev".into()
    }
    fn default_port() -> u16 {
        3000
    }
    fn default_keep_releases() -> u32 {
        5
    }
}

/// `npm audit --audit-level`, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditLevel {
    Off,
    Low,
    Moderate,
    #[default]
    High,
    Critical,
}

impl AuditLevel {
    /// The `--audit-level` value; `None` when off.
    pub fn npm_level(self) -> Option<&'static str> {
        match self {
            AuditLevel::Off => None,
            AuditLevel::Low => Some("low"),
            AuditLevel::Moderate => Some("moderate"),
            AuditLevel::High => Some("high"),
            AuditLevel::Critical => Some("critical"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProcessManager {
    #[default]
    Systemd,
    Pm2,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Health {
    #[serde(default = "Health::default_path")]
    pub path: String,
    #[serde(default = "Health::default_interval")]
    pub interval: Duration,
    #[serde(default = "Health::default_timeout")]
    pub timeout: Duration,
    /// How long a started instance has to answer its health check.
    #[serde(default = "Health::default_startup")]
    pub startup: Duration,
}

impl Health {
    fn default_path() -> String {
        "/healthz".into()
    }
    fn default_interval() -> Duration {
        Duration::secs(10)
    }
    fn default_timeout() -> Duration {
        Duration::secs(3)
    }
    fn default_startup() -> Duration {
        Duration::secs(30)
    }
}

impl Default for Health {
    fn default() -> Self {
        Health {
            path: Self::default_path(),
            interval: Self::default_interval(),
            timeout: Self::default_timeout(),
            startup: Self::default_startup(),
        }
    }
}

/// A background process: no port, never behind nginx.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Worker {
    pub name: String,
    pub start: String,
    #[serde(default = "Worker::default_instances")]
    pub instances: Instances,
}

impl Worker {
    fn default_instances() -> Instances {
        Instances::Count(1)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Runtime {
    #[serde(default)]
    pub node: NodeRuntime,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NodeRuntime {
    /// The major release line, e.g. 22.
    #[serde(default = "NodeRuntime::default_version")]
    pub version: u32,
    #[serde(default)]
    pub source: NodeSource,
    /// Where `official` tarballs and their SHASUMS256 come from.
    pub mirror: Option<String>,
    /// `nodesource`: the repository's base URL (it holds `node_<major>.x`
    /// and `gpgkey/nodesource-repo.gpg.key`); NodeSource's own by default.
    pub repository: Option<String>,
    /// `nodesource`: the fingerprint (40 hex digits) the repository's
    /// signing key must have before apt trusts it; NodeSource's by default.
    pub key_fingerprint: Option<String>,
}

impl NodeRuntime {
    fn default_version() -> u32 {
        24
    }
}

impl Default for NodeRuntime {
    fn default() -> Self {
        NodeRuntime {
            version: Self::default_version(),
            source: NodeSource::default(),
            mirror: None,
            repository: None,
            key_fingerprint: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeSource {
    /// The release tarball, verified against SHASUMS256.
    #[default]
    Official,
    /// NodeSource's signed apt repository.
    Nodesource,
    /// Debian's own package.
    Distro,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Tls {
    /// Defaults to `acme` when a domain is set, `self-signed` otherwise.
    pub mode: Option<TlsMode>,
    /// The ACME account's contact.
    pub email: Option<String>,
    /// Certificate chain and key on the operator's machine (mode `files`).
    pub cert: Option<String>,
    pub key: Option<String>,
    #[serde(default)]
    pub profile: TlsProfile,
    /// The ACME server's directory URL (mode `acme`).
    #[serde(default = "Tls::default_acme_directory")]
    pub acme_directory: String,
    /// A PEM file of the CA that signs a private ACME server's HTTPS.
    pub acme_ca: Option<String>,
    /// Mode `acme` by DNS-01 (lego and a DNS provider's API) instead of
    /// HTTP-01: needed for wildcard names.
    pub dns: Option<dns::Dns>,
}

impl Tls {
    fn default_acme_directory() -> String {
        "https://acme-v02.api.letsencrypt.org/directory".into()
    }
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            mode: None,
            email: None,
            cert: None,
            key: None,
            profile: TlsProfile::default(),
            acme_directory: Self::default_acme_directory(),
            acme_ca: None,
            dns: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    Acme,
    Files,
    SelfSigned,
    Off,
}

/// Mozilla's server-side TLS profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsProfile {
    #[default]
    Intermediate,
    Modern,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Network {
    /// The network the hosts share; app ports are open only to it.
    #[serde(default)]
    pub private: Vec<Cidr>,
    /// Who may reach SSH.
    #[serde(default = "Network::default_ssh_from")]
    pub ssh_from: Vec<Cidr>,
    /// The port sshd listens on.
    #[serde(default = "Network::default_ssh_port")]
    pub ssh_port: u16,
    /// A private network deployer makes where the provider gives none:
    /// `wireguard`, a full mesh of the spec's hosts.
    pub mesh: Option<MeshKind>,
    /// The mesh's addresses (IPv4, /16 to /29); each host's follows from
    /// its name unless its `private_address` pins one.
    #[serde(default = "Network::default_mesh_cidr")]
    pub mesh_cidr: Cidr,
    /// The UDP port WireGuard listens on, open to the other hosts only.
    #[serde(default = "Network::default_mesh_port")]
    pub mesh_port: u16,
    /// `private` is the mesh's network, as `mesh::resolve` set it (rather
    /// than written in the spec, which a mesh refuses).
    #[serde(skip)]
    #[schemars(skip)]
    pub private_is_the_mesh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MeshKind {
    Wireguard,
}

impl Network {
    fn default_ssh_from() -> Vec<Cidr> {
        vec![
            Cidr("0.0.0.0/0".parse().expect("valid")),
            Cidr("::/0".parse().expect("valid")),
        ]
    }
    fn default_ssh_port() -> u16 {
        22
    }
    fn default_mesh_cidr() -> Cidr {
        Cidr(mesh::DEFAULT_CIDR.parse().expect("valid"))
    }
    fn default_mesh_port() -> u16 {
        51820
    }
}

impl Default for Network {
    fn default() -> Self {
        Network {
            private: Vec::new(),
            ssh_from: Self::default_ssh_from(),
            ssh_port: Self::default_ssh_port(),
            mesh: None,
            mesh_cidr: Self::default_mesh_cidr(),
            mesh_port: Self::default_mesh_port(),
            private_is_the_mesh: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Host {
    pub name: String,
    /// The public address or DNS name deployer connects to.
    pub address: String,
    pub private_address: Option<Ip>,
    /// `private_address` is the mesh address its name gives it
    /// (`mesh::resolve`), not one the spec pins.
    #[serde(skip)]
    #[schemars(skip)]
    pub mesh_derived: bool,
    /// Defaults to every role.
    #[serde(default = "Role::all")]
    pub roles: Vec<Role>,
    /// SSH user and port for this host, overriding `ssh.user` and `network.ssh_port`.
    pub user: Option<String>,
    pub port: Option<u16>,
}

impl Host {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// nginx: TLS and the public entry point.
    Lb,
    /// The web instances.
    App,
    /// The background workers.
    Worker,
}

impl Role {
    fn all() -> Vec<Role> {
        vec![Role::Lb, Role::App, Role::Worker]
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Ssh {
    /// Defaults to the `User` of `~/.ssh/config`, else root.
    pub user: Option<String>,
    /// A private key file on the operator's machine; the agent is tried first.
    pub identity: Option<String>,
    #[serde(default)]
    pub known_hosts: KnownHosts,
    /// Defaults to `~/.ssh/known_hosts`.
    pub known_hosts_file: Option<String>,
    /// The only accounts sshd lets in (`AllowUsers`); anyone with a key when empty.
    #[serde(default)]
    pub allow_users: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum KnownHosts {
    /// An unknown or changed host key stops the run.
    #[default]
    Strict,
    /// Unknown keys are pinned on first use; changed keys still stop the run.
    AcceptNew,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Nginx {
    #[serde(rename = "static")]
    pub static_files: Option<StaticFiles>,
    /// nginx size syntax: `1m`, `512k`.
    #[serde(default = "Nginx::default_max_body")]
    pub max_body: String,
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// Each client sticks to one instance (nginx hashes its address), for
    /// websockets and in-process sessions across several instances.
    #[serde(default)]
    pub sticky_sessions: bool,
    /// Extra response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Raw nginx directives added to the HTTPS server block; checked by `nginx -t`.
    pub extra: Option<String>,
    /// Sites that were on a host before deployer (sites-enabled, conf.d):
    /// kept being served beside the app's site, or not.
    #[serde(default)]
    pub other_sites: OtherSites,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OtherSites {
    /// deployer's nginx.conf includes them after its own sites.
    #[default]
    Include,
    /// They stay on disk, unserved.
    Ignore,
}

impl Nginx {
    fn default_max_body() -> String {
        "1m".into()
    }
}

impl Default for Nginx {
    fn default() -> Self {
        Nginx {
            static_files: None,
            max_body: Self::default_max_body(),
            rate_limit: RateLimit::default(),
            sticky_sessions: false,
            other_sites: OtherSites::default(),
            headers: BTreeMap::new(),
            extra: None,
        }
    }
}

/// The proxies in front of nginx: a CDN or a cloud load balancer. nginx
/// takes the client's address from what they say, and only from them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Edge {
    /// Their networks, or `cloudflare` for the networks Cloudflare
    /// publishes (kept in deployer with the date they were taken).
    #[serde(default)]
    pub trusted: Vec<Trusted>,
    /// They send the PROXY protocol (a cloud TCP load balancer) rather than
    /// `X-Forwarded-For`: nginx then expects it on every connection to 80
    /// and 443, from them and from anyone else.
    #[serde(default)]
    pub proxy_protocol: bool,
    /// The firewall admits 80 and 443 from them (and the private network)
    /// only, so that nobody bypasses them by calling the host directly.
    #[serde(default)]
    pub only: bool,
}

impl Edge {
    /// `trusted`, each preset replaced by its networks.
    pub fn networks(&self) -> Vec<Cidr> {
        self.trusted.iter().flat_map(|t| t.0.networks()).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct StaticFiles {
    /// A directory of the release, e.g. `public`.
    pub dir: String,
    /// The URL prefix it is served under.
    #[serde(default = "StaticFiles::default_url")]
    pub url: String,
}

impl StaticFiles {
    fn default_url() -> String {
        "/static/".into()
    }
}

/// Requests per second per client address, with a burst allowance.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default = "RateLimit::default_enabled")]
    pub enabled: bool,
    #[serde(default = "RateLimit::default_rps")]
    pub rps: u32,
    #[serde(default = "RateLimit::default_burst")]
    pub burst: u32,
}

impl RateLimit {
    fn default_enabled() -> bool {
        true
    }
    fn default_rps() -> u32 {
        20
    }
    fn default_burst() -> u32 {
        50
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            enabled: Self::default_enabled(),
            rps: Self::default_rps(),
            burst: Self::default_burst(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Monitoring {
    /// Receives alerts as JSON POSTs.
    pub webhook: Option<String>,
    pub email: Option<String>,
    /// Failed health checks in a row that make an alert.
    #[serde(default = "Monitoring::default_alert_after")]
    pub alert_after: u32,
}

impl Monitoring {
    fn default_alert_after() -> u32 {
        3
    }
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            webhook: None,
            email: None,
            alert_after: Self::default_alert_after(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Firewall {
    /// Extra ports to open, each to chosen sources.
    #[serde(default)]
    pub open: Vec<OpenPort>,
    /// How long a firewall or sshd change has, once applied, to be confirmed
    /// by a new SSH connection before the host puts the old one back.
    #[serde(default = "Firewall::default_confirm_within")]
    pub confirm_within: Duration,
    /// Packets the host routes for others (containers, VMs, a VPN): left to
    /// whatever set that up, or dropped.
    #[serde(default)]
    pub forward: Forward,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Forward {
    /// deployer's table has no forward chain.
    #[default]
    Leave,
    /// deployer's table drops every forwarded packet.
    Drop,
}

impl Firewall {
    fn default_confirm_within() -> Duration {
        Duration::secs(60)
    }
}

impl Default for Firewall {
    fn default() -> Self {
        Firewall {
            open: Vec::new(),
            confirm_within: Self::default_confirm_within(),
            forward: Forward::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct OpenPort {
    pub port: u16,
    #[serde(default)]
    pub proto: Proto,
    /// Defaults to the private network.
    #[serde(default)]
    pub from: Vec<Cidr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    #[default]
    Tcp,
    Udp,
}

impl Spec {
    /// `domain` and its aliases: the names the site answers and its certificate covers.
    pub fn site_names(&self) -> Vec<String> {
        self.domain.iter().chain(&self.aliases).cloned().collect()
    }

    pub fn tls_mode(&self) -> TlsMode {
        self.tls.mode.unwrap_or(match self.domain {
            Some(_) => TlsMode::Acme,
            None => TlsMode::SelfSigned,
        })
    }

    /// Whether the load balancers answer each other's HTTP-01 challenges on
    /// ACME_PEER_PORT: with `tls.mode: acme` over HTTP-01 and several of them.
    pub fn acme_peers(&self) -> bool {
        self.tls_mode() == TlsMode::Acme
            && self.tls.dns.is_none()
            && self.hosts.iter().filter(|h| h.has(Role::Lb)).count() > 1
    }
}
