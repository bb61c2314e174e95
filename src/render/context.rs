//! What the templates and playbooks see for one host: the spec itself, plus
//! everything derived from it (ports, upstreams, paths, firewall sets), worked
//! out here so that templates only lay text out.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::claims::{self, Claims, Site};
use crate::dialect;
use crate::features::{self, Conditional, acme::AcmeView, node::Nodesource};
use crate::layout::{self, CoreCounts, Paths, Units};
use crate::platform::{self, System};
use crate::release::{self, Release};
use crate::spec::{
    Cidr, Host, Loaded, NodeSource, ProcessManager, REDIS_URL, Role, SecretValues, Spec, TlsMode,
    TlsProfile, baseline, mesh,
};

#[derive(Debug, Serialize)]
pub struct Context<'a> {
    /// Templates see the spec without `hosts`: what a host needs of the
    /// others is in its own views, and every host serialized into every
    /// host's context made rendering a fleet take time by the square.
    #[serde(serialize_with = "spec_without_hosts")]
    pub spec: &'a Spec,
    pub host: HostView<'a>,
    pub app: AppView,
    pub tls: TlsView,
    pub paths: Paths,
    /// The app's units on this host.
    pub units: Units,
    /// `address:port` of every instance this host's nginx proxies to.
    pub upstream: Vec<String>,
    /// Seconds nginx keeps an instance out after it failed (`fail_timeout`).
    pub upstream_fail_timeout: u64,
    pub firewall: FirewallView,
    pub edge: EdgeView,
    /// `runtime.node.source: official` on an app or worker host.
    pub node_install: Option<Conditional>,
    /// `runtime.node.source: nodesource` on an app or worker host.
    pub nodesource: Option<Nodesource>,
    /// The check of the security archive's source deployer adds, when it
    /// adds one: apt fetches and verifies it alone.
    pub security_source_check: Option<String>,
    /// The host baseline: kernel settings, blocked modules, core dumps.
    pub baseline: BaselineView,
    /// pm2 mode on an app or worker host.
    pub pm2_install: Option<Conditional>,
    /// `network.mesh`: this host's end of the WireGuard mesh.
    pub mesh: Option<MeshView>,
    /// `app.secrets`' values (and `REDIS_URL`); empty when the command did
    /// not read them.
    pub secrets: SecretValues,
    /// `services.redis`, on the host that runs it.
    pub redis: Option<RedisView>,
    /// What the health timer checks: each web instance's health URL.
    pub health_checks: Vec<HealthCheck>,
    /// `app.health.timeout`, in seconds, for curl.
    pub health_timeout: f64,
    /// `app.health.interval`, as systemd reads it.
    pub health_interval: String,
    /// The release resource of an app or worker host, as the playbook lists it
    /// (its id and archive are added once the source is packed).
    pub release: Option<Release>,
    /// What was on the host before deployer that its files make room for.
    pub existing: &'a Existing,
    /// What nginx.conf sets for every site on the host.
    pub nginx: NginxView,
    /// The host's system.
    pub system: SystemView,
    /// What this app claims of the host, for the apps deployed after it.
    pub claims: Claims,
}

/// What deployer found on a host and keeps working there: the nginx sites
/// its nginx.conf includes after the app's (full paths), and the claims of
/// the other apps deployed there. Empty when rendering without hosts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Existing {
    pub platform: Platform,
    pub nginx_sites: Vec<String>,
    pub other_apps: Vec<Claims>,
    /// The security archive's source, when the host has none and the spec
    /// says to add it (`apt.security_source`).
    pub security_source: Option<SecuritySource>,
    /// `network.mesh`: every surveyed host's WireGuard public key, by host
    /// name (a host that has not made its key pair yet has none).
    pub mesh_keys: BTreeMap<String, String>,
    /// An Ubuntu host whose apt does not use `universe`, where some of the
    /// baseline's packages are.
    pub no_universe: bool,
}

/// This host's end of the mesh (`network.mesh`).
#[derive(Debug, Serialize)]
pub struct MeshView {
    pub interface: &'static str,
    /// Its mesh address with the mesh's prefix: `10.213.7.40/24`.
    pub address: String,
    pub port: u16,
    /// The other hosts whose public key is known.
    pub peers: Vec<MeshPeer>,
    /// The other hosts that have no key pair yet: they become peers once
    /// they made one (the same apply's second round).
    pub waiting: Vec<String>,
    pub key_pair: Conditional,
    /// Seconds without a handshake after which a peer is unreachable.
    pub stale_after: u32,
}

#[derive(Debug, Serialize)]
pub struct MeshPeer {
    pub name: String,
    pub public_key: String,
    /// `public address:port`.
    pub endpoint: String,
    /// Its mesh address alone: `10.213.7.9/32`.
    pub allowed_ip: String,
}

/// The host baseline as its files say it (`spec::baseline`).
#[derive(Debug, Serialize)]
pub struct BaselineView {
    /// `(key, value)` in name order.
    pub sysctl: Vec<(String, String)>,
    pub blocked_modules: Vec<&'static str>,
    pub core_dumps_off: bool,
    /// Seconds an idle login shell lives (`TMOUT`); 0: no limit.
    pub idle_timeout_secs: u64,
    pub pam_tmpdir: bool,
}

/// An apt source of the release's security archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecuritySource {
    pub uri: String,
    /// `trixie-security`.
    pub suite: String,
    /// As the host's main source has them: `main contrib`.
    pub components: String,
    pub keyring: String,
}

/// The host's system, and its nginx when one is installed already (else
/// the release's own is what will be).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Platform {
    pub system: System,
    pub nginx: Option<(u32, u32, u32)>,
}

impl Default for Platform {
    /// What a render without a host assumes: Debian 13, the current stable.
    fn default() -> Self {
        Platform::of(System::Debian13)
    }
}

impl Platform {
    /// `system`, as deployer installs it.
    pub fn of(system: System) -> Platform {
        Platform {
            system,
            nginx: None,
        }
    }
}

/// The host's system, as templates tell releases apart.
#[derive(Debug, Serialize)]
pub struct SystemView {
    /// `Debian 13 (trixie)`.
    pub name: String,
    pub ubuntu: bool,
    /// Its systemd takes `RestartMode=direct` (`platform::System::restart_mode`).
    pub restart_mode: bool,
}

/// What nginx.conf sets for every site on the host: this app's and the
/// other apps' deployed there.
#[derive(Debug, Serialize)]
pub struct NginxView {
    /// `http2 on;` in servers, rather than `listen ... http2` (nginx
    /// 1.25.1 and later, which warn about the parameter).
    pub http2_directive: bool,
    /// Some site serves HTTPS, with this profile (apps on one host agree).
    pub tls_profile: Option<TlsProfile>,
    /// Some site has names: a default server refuses the others.
    pub catch_all: bool,
    /// `server_names_hash_bucket_size` when nginx's default (64 on x86_64)
    /// cannot hold the longest name of any site.
    pub names_bucket: Option<usize>,
    /// Every connection to 80 and 443 starts with the PROXY protocol
    /// (`edge.proxy_protocol`; apps on one host agree): each server listening
    /// there says so, or nginx warns.
    pub proxy_protocol: bool,
}

/// `edge`, as a site's servers take it.
#[derive(Debug, Serialize)]
pub struct EdgeView {
    /// Whom nginx believes about the client's address (`set_real_ip_from`),
    /// presets replaced by their networks; empty: nginx is the edge.
    pub trusted: Vec<String>,
    /// Where they say it: `proxy_protocol` or `X-Forwarded-For`.
    pub header: &'static str,
}

#[derive(Debug, Serialize)]
pub struct HostView<'a> {
    pub name: &'a str,
    pub roles: Vec<Role>,
    pub lb: bool,
    pub app: bool,
    pub worker: bool,
    pub cpus: u32,
}

#[derive(Debug, Serialize)]
pub struct AppView {
    pub name: String,
    pub user: String,
    /// How many web processes run on this host.
    pub instances: u32,
    /// One per systemd instance; pm2's cluster shares the first.
    pub ports: Vec<u16>,
    /// Where the instances listen: the private address, else loopback.
    pub bind: String,
    /// `ExecStart=` value, quoted for systemd.
    pub exec_start: String,
    /// pm2: the script and its arguments (the start command without `node`).
    pub script: String,
    pub args: Vec<String>,
    /// pm2: the options node gets before the script (`--max-old-space-size=512`).
    pub node_args: Vec<String>,
    /// The environment every process gets, NODE_ENV included.
    pub env: BTreeMap<String, String>,
    /// `IPAddressAllow=`: loopback, the private network, app.egress.
    pub ip_allow: Vec<String>,
    pub workers: Vec<WorkerView>,
}

#[derive(Debug, Serialize)]
pub struct WorkerView {
    pub name: String,
    /// `APP-WORKER`, what its units are named after.
    pub unit: String,
    pub instances: u32,
    pub exec_start: String,
    pub script: String,
    pub args: Vec<String>,
    pub node_args: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct HealthCheck {
    pub unit: String,
    pub url: String,
}

#[derive(Debug, Serialize)]
pub struct RedisView {
    /// Loopback, and the private address when the host has one.
    pub bind: Vec<String>,
    pub port: u16,
    /// `requirepass`, quoted for redis.conf.
    pub requirepass: String,
}

#[derive(Debug, Serialize)]
pub struct TlsView {
    pub enabled: bool,
    pub mode: TlsMode,
    /// `server_name` values; `_` (any) without a domain.
    pub server_names: Vec<String>,
    /// `tls.mode: files`: the operator's chain and key, as PEM.
    pub chain: Option<String>,
    pub key: Option<String>,
    /// `tls.mode: self-signed`: the host makes its own certificate.
    pub self_signed: Option<Conditional>,
    /// `tls.mode: acme`, on load balancers.
    pub acme: Option<AcmeView>,
}

/// Address lists split by family, as nftables sets need them.
#[derive(Debug, Default, Serialize)]
pub struct Sources {
    pub v4: Vec<String>,
    pub v6: Vec<String>,
}

impl Sources {
    /// Overlapping or adjacent networks merged: nftables refuses a set of
    /// intervals that overlap.
    fn of(cidrs: &[Cidr]) -> Self {
        let nets: Vec<ipnet::IpNet> = cidrs.iter().map(|c| c.0).collect();
        let (v4, v6): (Vec<ipnet::IpNet>, Vec<ipnet::IpNet>) = ipnet::IpNet::aggregate(&nets)
            .into_iter()
            .partition(|net| matches!(net, ipnet::IpNet::V4(_)));
        Sources {
            v4: v4.iter().map(ToString::to_string).collect(),
            v6: v6.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FirewallView {
    pub ssh_port: u16,
    pub ssh_from: Sources,
    pub private: Sources,
    /// 80 and 443 are open on hosts that face the public: to all, or to
    /// `web_from` only (`edge.only`: the proxies in front and the private
    /// network).
    pub web: bool,
    pub web_from: Option<Sources>,
    /// The app's ports on this host, e.g. `3000-3003`; empty when it runs none.
    pub app_ports: String,
    /// Other ports for the private network only: Redis, ACME peers.
    pub private_services: Vec<PrivateService>,
    pub open: Vec<OpenView>,
    /// With a mesh, what comes from the private network must arrive on
    /// its interface.
    pub private_interface: Option<&'static str>,
    /// With a mesh, WireGuard's UDP port and the other hosts' public
    /// addresses, the only ones it admits.
    pub mesh: Option<MeshFirewall>,
}

#[derive(Debug, Serialize)]
pub struct MeshFirewall {
    pub port: u16,
    pub from: Sources,
}

#[derive(Debug, Serialize)]
pub struct PrivateService {
    pub port: u16,
    pub what: &'static str,
}

#[derive(Debug, Serialize)]
pub struct OpenView {
    pub proto: &'static str,
    pub port: u16,
    pub from: Sources,
    /// The mesh's interface, when `from` was left out (the private
    /// network) and the mesh is it.
    pub interface: Option<&'static str>,
}

/// What the templates and playbooks see for `host`, whose core count (and,
/// for a dedicated load balancer, the app hosts') `cores` gives, and where
/// `existing` was found.
pub fn build<'a>(
    loaded: &'a Loaded,
    host: &'a Host,
    cores: &dyn CoreCounts,
    existing: &'a Existing,
) -> Context<'a> {
    let spec = &loaded.spec;
    let paths = Paths::new(&spec.app.name);
    let units = Units::new(spec, host, cores);
    let release = Release::for_host(spec, host, cores, &units, &paths);
    let runs_node = host.has(Role::App) || host.has(Role::Worker);
    Context {
        host: HostView {
            name: &host.name,
            roles: host.roles.clone(),
            lb: host.has(Role::Lb),
            app: host.has(Role::App),
            worker: host.has(Role::Worker),
            cpus: cores.cores(&host.name),
        },
        app: app_view(spec, host, cores, &paths),
        tls: tls_view(loaded, host, &paths),
        upstream: upstream(spec, host, cores),
        upstream_fail_timeout: release::UPSTREAM_FAIL_TIMEOUT_SECS,
        firewall: firewall_view(spec, host, cores),
        edge: EdgeView {
            trusted: spec
                .edge
                .networks()
                .iter()
                .map(ToString::to_string)
                .collect(),
            header: if spec.edge.proxy_protocol {
                "proxy_protocol"
            } else {
                "X-Forwarded-For"
            },
        },
        node_install: (runs_node && spec.runtime.node.source == NodeSource::Official)
            .then(|| features::node::official_install(&spec.runtime.node)),
        nodesource: (runs_node && spec.runtime.node.source == NodeSource::Nodesource)
            .then(|| features::node::nodesource(&spec.runtime.node)),
        baseline: BaselineView {
            sysctl: baseline::sysctl(&spec.host),
            blocked_modules: baseline::blocked_modules(&spec.host),
            core_dumps_off: !spec.host.core_dumps,
            idle_timeout_secs: spec.host.idle_timeout.0.as_secs(),
            pam_tmpdir: spec.host.pam_tmpdir,
        },
        security_source_check: existing.security_source.as_ref().map(|source| {
            features::apt::source_check(&dialect::shell::quote(&format!(
                "{} {}",
                source.uri, source.suite
            )))
        }),
        pm2_install: (runs_node && spec.app.process_manager == ProcessManager::Pm2)
            .then(|| features::pm2::install(&paths)),
        mesh: mesh_view(spec, host, existing, &paths),
        health_checks: health_checks(spec, release.as_ref()),
        health_timeout: spec.app.health.timeout.0.as_secs_f64(),
        health_interval: format!("{}ms", spec.app.health.interval.0.as_millis()),
        secrets: secrets(loaded, host),
        redis: redis_view(loaded, host),
        release,
        units,
        paths,
        nginx: nginx_view(spec, existing),
        system: SystemView {
            name: existing.platform.system.to_string(),
            ubuntu: existing.platform.system.ubuntu(),
            restart_mode: existing.platform.system.restart_mode(),
        },
        claims: claims::of(spec, host, cores),
        spec,
        existing,
    }
}

fn spec_without_hosts<S: serde::Serializer>(spec: &&Spec, to: S) -> Result<S::Ok, S::Error> {
    /// Every field of `Spec` but `hosts`, by reference.
    #[derive(Serialize)]
    struct WithoutHosts<'a> {
        app: &'a crate::spec::App,
        runtime: &'a crate::spec::Runtime,
        domain: &'a Option<String>,
        aliases: &'a [String],
        tls: &'a crate::spec::Tls,
        network: &'a crate::spec::Network,
        ssh: &'a crate::spec::Ssh,
        nginx: &'a crate::spec::Nginx,
        edge: &'a crate::spec::Edge,
        monitoring: &'a crate::spec::Monitoring,
        firewall: &'a crate::spec::Firewall,
        rollout: &'a crate::spec::Rollout,
        services: &'a crate::spec::Services,
        apt: &'a crate::spec::Apt,
        host: &'a crate::spec::HostBaseline,
    }
    // Spelled out, so that a new field of Spec does not compile until it
    // is decided here.
    let Spec {
        app,
        runtime,
        domain,
        aliases,
        tls,
        network,
        hosts: _,
        ssh,
        nginx,
        edge,
        monitoring,
        firewall,
        rollout,
        services,
        apt,
        host,
    } = spec;
    WithoutHosts {
        app,
        runtime,
        domain,
        aliases,
        tls,
        network,
        ssh,
        nginx,
        edge,
        monitoring,
        firewall,
        rollout,
        services,
        apt,
        host,
    }
    .serialize(to)
}

fn nginx_view(spec: &Spec, existing: &Existing) -> NginxView {
    let mine = Site {
        names: spec.site_names(),
        tls: (spec.tls_mode() != TlsMode::Off).then_some(spec.tls.profile),
        edge: spec.edge.clone(),
    };
    let sites: Vec<&Site> = std::iter::once(&mine)
        .chain(existing.other_apps.iter().filter_map(|o| o.site.as_ref()))
        .collect();
    let names: Vec<String> = sites.iter().flat_map(|s| s.names.clone()).collect();
    let platform = existing.platform;
    NginxView {
        http2_directive: platform::http2_directive(
            platform.nginx.unwrap_or_else(|| platform.system.nginx()),
        ),
        tls_profile: sites.iter().find_map(|s| s.tls),
        catch_all: !names.is_empty(),
        names_bucket: names_bucket(&names),
        proxy_protocol: sites.iter().any(|s| s.edge.proxy_protocol),
    }
}

/// A host that runs the app proxies to its own instances; a dedicated load
/// balancer proxies to every app host over the private network.
fn upstream(spec: &Spec, host: &Host, cores: &dyn CoreCounts) -> Vec<String> {
    if !host.has(Role::Lb) {
        return Vec::new();
    }
    let targets: Vec<&Host> = if host.has(Role::App) {
        vec![host]
    } else {
        spec.hosts.iter().filter(|h| h.has(Role::App)).collect()
    };
    targets
        .into_iter()
        .flat_map(|target| {
            let address = layout::bind_address(target);
            let address = if address.contains(':') {
                format!("[{address}]")
            } else {
                address
            };
            layout::ports(spec, target, cores)
                .into_iter()
                .map(move |port| format!("{address}:{port}"))
        })
        .collect()
}

fn app_view(spec: &Spec, host: &Host, cores: &dyn CoreCounts, paths: &Paths) -> AppView {
    let app = &spec.app;
    let mut env = app.env.clone();
    env.entry("NODE_ENV".into())
        .or_insert_with(|| "production".into());
    let (node_args, script, args) = node_script(&app.start);
    let cpus = cores.cores(&host.name);
    AppView {
        name: app.name.clone(),
        user: app.name.clone(),
        instances: app.instances.resolve(cpus),
        ports: layout::ports(spec, host, cores),
        bind: layout::bind_address(host),
        exec_start: exec_start(&app.start, &paths.current),
        script,
        args,
        node_args,
        env,
        ip_allow: std::iter::once("localhost".to_string())
            .chain(
                spec.network
                    .private
                    .iter()
                    .chain(&app.egress)
                    .map(|c| c.to_string()),
            )
            .collect(),
        workers: app
            .workers
            .iter()
            .map(|w| {
                let (node_args, script, args) = node_script(&w.start);
                WorkerView {
                    unit: layout::worker_prefix(&app.name, &w.name),
                    name: w.name.clone(),
                    instances: w.instances.resolve(cpus),
                    exec_start: exec_start(&w.start, &paths.current),
                    script,
                    args,
                    node_args,
                }
            })
            .collect(),
    }
}

/// `node --opt=1 server.js --flag` → ([`--opt=1`], `server.js`, [`--flag`]):
/// pm2 runs the script itself, with node's options apart.
fn node_script(start: &str) -> (Vec<String>, String, Vec<String>) {
    let words = shell_words::split(start).unwrap_or_default();
    let mut words = words.into_iter().skip(1).peekable();
    let mut node_args = Vec::new();
    while let Some(option) = words.next_if(|w| w.starts_with('-')) {
        node_args.push(option);
    }
    (node_args, words.next().unwrap_or_default(), words.collect())
}

/// The start command as systemd reads it. Every program starts through
/// `/usr/bin/env`, so the unit passes `systemd-analyze verify` before the
/// runtime or the release is on the host; a relative program path is made
/// absolute under the release (systemd does not resolve it against
/// WorkingDirectory).
fn exec_start(start: &str, release: &str) -> String {
    let words = shell_words::split(start).unwrap_or_default();
    let mut out = vec!["/usr/bin/env".to_string()];
    for (i, word) in words.iter().enumerate() {
        match (i, word.starts_with('/'), word.contains('/')) {
            (0, false, true) => out.push(format!("{release}/{}", word.trim_start_matches("./"))),
            _ => out.push(word.clone()),
        }
    }
    out.iter()
        .map(|w| dialect::systemd::word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the health timer asks: each web instance of the release.
fn health_checks(spec: &Spec, release: Option<&Release>) -> Vec<HealthCheck> {
    let Some(release) = release else {
        return Vec::new();
    };
    release
        .web
        .iter()
        .map(|instance| {
            // SocketAddr puts an IPv6 address in brackets, as URLs need.
            let address = match instance.address.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, instance.port).to_string(),
                Err(_) => format!("{}:{}", instance.address, instance.port),
            };
            HealthCheck {
                unit: instance.unit.clone(),
                url: format!("http://{address}{}", spec.app.health.path),
            }
        })
        .collect()
}

/// The secrets an app or worker host's processes get: `app.secrets`, and
/// with `services.redis`, `REDIS_URL` (its password inside).
fn secrets(loaded: &Loaded, host: &Host) -> SecretValues {
    let mut values = loaded.secrets.clone().unwrap_or_default();
    let spec = &loaded.spec;
    let runs_node = host.has(Role::App) || host.has(Role::Worker);
    if let (Some(redis), true) = (&spec.services.redis, runs_node) {
        let server = spec.hosts.iter().find(|h| h.name == redis.host);
        let ip = server
            .and_then(|s| s.private_address)
            .map_or(IpAddr::from([127, 0, 0, 1]), |ip| ip.0);
        let password = values.get(&redis.password).unwrap_or_default();
        let password = utf8_percent_encode(password, NON_ALPHANUMERIC).to_string();
        values.insert(
            REDIS_URL.into(),
            format!("redis://:{password}@{}", SocketAddr::new(ip, redis.port)),
        );
    }
    values
}

fn redis_view(loaded: &Loaded, host: &Host) -> Option<RedisView> {
    let redis = loaded.spec.services.redis.as_ref()?;
    if redis.host != host.name {
        return None;
    }
    let mut bind = vec!["127.0.0.1".to_string()];
    bind.extend(host.private_address.map(|ip| ip.to_string()));
    let password = loaded
        .secrets
        .as_ref()
        .and_then(|s| s.get(&redis.password))
        .unwrap_or_default();
    Some(RedisView {
        bind,
        port: redis.port,
        requirepass: dialect::redis::string(password),
    })
}

fn tls_view(loaded: &Loaded, host: &Host, paths: &Paths) -> TlsView {
    let spec = &loaded.spec;
    let mode = spec.tls_mode();
    let names = spec.site_names();
    let server_names = if names.is_empty() {
        vec!["_".into()]
    } else {
        names.clone()
    };
    let provided = loaded.provided_cert.as_ref();
    TlsView {
        enabled: mode != TlsMode::Off,
        mode,
        server_names,
        chain: provided.map(|c| c.chain.clone()),
        key: provided.map(|c| c.key.clone()),
        self_signed: (mode == TlsMode::SelfSigned)
            .then(|| features::tls::self_signed(&names, host, paths)),
        acme: (mode == TlsMode::Acme && host.has(Role::Lb))
            .then(|| features::acme::view(loaded, host, paths)),
    }
}

/// The hash bucket size nginx needs for `names`: each entry takes a pointer,
/// the name and two bytes, aligned to a pointer, and a bucket ends with a
/// pointer; `None` while the default of 64 bytes is enough.
fn names_bucket(names: &[String]) -> Option<usize> {
    let longest = names.iter().map(String::len).max()?;
    let needed = (8 + longest + 2).div_ceil(8) * 8 + 8;
    (needed > 64).then(|| needed.next_power_of_two())
}

fn private_services(spec: &Spec, host: &Host) -> Vec<PrivateService> {
    let mut services = Vec::new();
    if let Some(redis) = spec.services.redis.as_ref().filter(|r| r.host == host.name) {
        services.push(PrivateService {
            port: redis.port,
            what: "Redis",
        });
    }
    if spec.acme_peers() && host.has(Role::Lb) {
        services.push(PrivateService {
            port: crate::spec::ACME_PEER_PORT,
            what: "ACME challenges the other load balancers ask for",
        });
    }
    services
}

fn firewall_view(spec: &Spec, host: &Host, cores: &dyn CoreCounts) -> FirewallView {
    let app_ports = match layout::ports(spec, host, cores).as_slice() {
        [] => String::new(),
        [only] => only.to_string(),
        [first, .., last] => format!("{first}-{last}"),
    };
    FirewallView {
        ssh_port: spec.network.ssh_port,
        ssh_from: Sources::of(&spec.network.ssh_from),
        private: Sources::of(&spec.network.private),
        web: host.has(Role::Lb),
        web_from: (host.has(Role::Lb) && spec.edge.only).then(|| {
            let mut from = spec.edge.networks();
            from.extend(spec.network.private.iter().copied());
            Sources::of(&from)
        }),
        app_ports,
        private_services: private_services(spec, host),
        open: spec
            .firewall
            .open
            .iter()
            .map(|o| OpenView {
                proto: match o.proto {
                    crate::spec::Proto::Tcp => "tcp",
                    crate::spec::Proto::Udp => "udp",
                },
                port: o.port,
                from: if o.from.is_empty() {
                    Sources::of(&spec.network.private)
                } else {
                    Sources::of(&o.from)
                },
                interface: spec
                    .network
                    .mesh
                    .filter(|_| o.from.is_empty())
                    .map(|_| mesh::INTERFACE),
            })
            .collect(),
        private_interface: spec.network.mesh.map(|_| mesh::INTERFACE),
        mesh: spec.network.mesh.map(|_| MeshFirewall {
            port: spec.network.mesh_port,
            from: Sources::of(
                &spec
                    .hosts
                    .iter()
                    .filter(|h| h.name != host.name)
                    .filter_map(|h| h.address.parse::<IpAddr>().ok())
                    .map(|ip| Cidr(ip.into()))
                    .collect::<Vec<_>>(),
            ),
        }),
    }
}

/// This host's end of the mesh: its address, and every other host that
/// has made its key pair as a peer. Validation made sure every host has a
/// mesh address and a public IP address.
fn mesh_view(spec: &Spec, host: &Host, existing: &Existing, paths: &Paths) -> Option<MeshView> {
    spec.network.mesh?;
    let prefix = spec.network.mesh_cidr.0.prefix_len();
    let mut peers = Vec::new();
    let mut waiting = Vec::new();
    for other in spec.hosts.iter().filter(|h| h.name != host.name) {
        let (Some(mesh_ip), Ok(public)) = (other.private_address, other.address.parse::<IpAddr>())
        else {
            continue;
        };
        match existing.mesh_keys.get(&other.name) {
            Some(key) => peers.push(MeshPeer {
                name: other.name.clone(),
                public_key: key.clone(),
                endpoint: SocketAddr::new(public, spec.network.mesh_port).to_string(),
                allowed_ip: format!(
                    "{}/{}",
                    mesh_ip.0,
                    if mesh_ip.0.is_ipv4() { 32 } else { 128 }
                ),
            }),
            None => waiting.push(other.name.clone()),
        }
    }
    Some(MeshView {
        interface: mesh::INTERFACE,
        address: format!("{}/{prefix}", host.private_address?.0),
        port: spec.network.mesh_port,
        peers,
        waiting,
        key_pair: features::mesh::key_pair(paths),
        stale_after: mesh::HANDSHAKE_STALE_SECS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_programs_live_in_the_release() {
        assert_eq!(
            exec_start("node server.js", "/srv/a/current"),
            "/usr/bin/env node server.js"
        );
        assert_eq!(
            exec_start("./bin/www --x 'a b'", "/srv/a/current"),
            "/usr/bin/env /srv/a/current/bin/www --x \"a b\""
        );
        assert_eq!(
            exec_start("/opt/app/bin/serve s.js", "/r"),
            "/usr/bin/env /opt/app/bin/serve s.js"
        );
    }

    #[test]
    fn node_scripts_for_pm2() {
        assert_eq!(
            node_script("node server.js -p 1"),
            (vec![], "server.js".into(), vec!["-p".into(), "1".into()])
        );
        assert_eq!(
            node_script("node --max-old-space-size=512 server.js"),
            (
                vec!["--max-old-space-size=512".into()],
                "server.js".into(),
                vec![]
            )
        );
    }

    #[test]
    fn redis_gets_its_password_quoted_and_the_app_a_url_with_it_encoded() {
        let yaml = r#"
app:
  name: shop
  start: node server.js
  secrets:
    - name: REDIS_PASSWORD
      command: printf '%s' 'p@ss w"rd\x'
services:
  redis:
    host: db1
network:
  private: [10.0.0.0/24]
hosts:
  - name: web1
    address: 198.18.0.10
    private_address: 10.0.0.10
    roles: [lb, app]
  - name: db1
    address: 198.18.0.11
    private_address: 10.0.0.11
    roles: [worker]
"#;
        let loaded = crate::spec::check(
            std::path::Path::new("/tmp/deployer.yaml"),
            yaml,
            crate::spec::Secrets::Read,
        )
        .unwrap();
        let [web, db] = [&loaded.spec.hosts[0], &loaded.spec.hosts[1]];
        let assumed = layout::AssumedCores(1);
        let existing = Existing::default();
        let url = "redis://:p%40ss%20w%22rd%5Cx@10.0.0.11:6379";
        assert_eq!(
            build(&loaded, web, &assumed, &existing)
                .secrets
                .get(REDIS_URL),
            Some(url)
        );
        assert!(build(&loaded, web, &assumed, &existing).redis.is_none());
        let on_db = build(&loaded, db, &assumed, &existing);
        assert_eq!(
            on_db.secrets.get(REDIS_URL),
            Some(url),
            "workers use it too"
        );
        let redis = on_db.redis.unwrap();
        assert_eq!(redis.requirepass, r#""p@ss w\"rd\\x""#);
        assert_eq!(redis.bind, ["127.0.0.1", "10.0.0.11"]);
    }
}
