//! What `plan`, `apply` and `lock` share: choosing hosts, connecting to them
//! in parallel, reading the facts rendering depends on, rendering, and
//! running per-host work with a bound on parallelism.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::playbook;
use crate::release;
use crate::render::Renderer;
use crate::render::context::{self, Facts};
use crate::resource::Resource;
use crate::resource::guard::Guard;
use crate::spec::{Host, Loaded, Role};
use crate::transport::target::{self, Options, Target};
use crate::transport::{Local, Ssh, Transport};
use crate::yaml::{did_you_mean, one_of};

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

/// A host ready for work: connected, with what it must have.
pub struct Prepared {
    pub name: String,
    pub transport: Box<dyn Transport>,
    /// For a second, new connection.
    pub connector: Connector,
    pub resources: Vec<Resource>,
    /// What new SSH connections must look like (and deployer's state directory).
    pub guard: Guard,
}

/// How to open a connection to a host, again if need be.
#[derive(Clone)]
pub enum Connector {
    Local,
    Ssh(Box<Target>),
}

impl Connector {
    pub fn open(&self) -> Result<Box<dyn Transport>> {
        Ok(match self {
            Connector::Local => Box::new(Local),
            Connector::Ssh(target) => Box::new(Ssh::connect(target)?),
        })
    }

    /// A connection that gives up within `limit`, so that it fails while
    /// the lockout guard still waits rather than getting in after a revert.
    pub fn open_within(&self, limit: Duration) -> Result<Box<dyn Transport>> {
        match self {
            Connector::Ssh(target) if target.connect_timeout > limit => {
                let mut quick = target.clone();
                quick.connect_timeout = limit;
                Connector::Ssh(quick).open()
            }
            _ => self.open(),
        }
    }
}

/// What [`prepare`] does with the app's source.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Packed and attached to each host's release: plan, apply.
    Ship,
    /// Left alone: the command works with releases already on the hosts.
    Ignore,
}

/// The host called `name`, or an error that suggests the closest one.
pub fn named<'a>(loaded: &'a Loaded, name: &str) -> Result<&'a Host> {
    let hosts = &loaded.spec.hosts;
    if let Some(host) = hosts.iter().find(|h| h.name == name) {
        return Ok(host);
    }
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    let hint = did_you_mean(name, &names)
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    bail!(
        "no host `{name}` in {}{hint}; hosts are {}",
        loaded.file.display(),
        one_of(&names)
    )
}

/// The hosts named with --host, in spec order; all without.
pub fn select<'a>(loaded: &'a Loaded, args: &ConnectArgs) -> Result<Vec<&'a Host>> {
    for wanted in &args.hosts {
        named(loaded, wanted)?;
    }
    let chosen: Vec<&Host> = loaded
        .spec
        .hosts
        .iter()
        .filter(|h| args.hosts.is_empty() || args.hosts.contains(&h.name))
        .collect();
    if args.connection == Connection::Local && chosen.len() != 1 {
        let names: Vec<&str> = loaded.spec.hosts.iter().map(|h| h.name.as_str()).collect();
        bail!(
            "--connection local works on this machine as one host: choose it with --host ({})",
            one_of(&names)
        );
    }
    Ok(chosen)
}

fn options(args: &ConnectArgs) -> Options {
    Options {
        accept_new_host_keys: args.accept_new_host_keys,
        // The lab's hosts are described entirely by the lab.
        ssh_config: if args.lab {
            Some("/dev/null".into())
        } else {
            args.ssh_config.clone()
        },
        connect_timeout: Duration::from_secs(args.connect_timeout),
        command_timeout: Duration::from_secs(args.command_timeout),
    }
}

pub fn connector(loaded: &Loaded, host: &Host, args: &ConnectArgs) -> Result<Connector> {
    match args.connection {
        Connection::Local => Ok(Connector::Local),
        Connection::Ssh => {
            let mut target = target::resolve(loaded, host, &options(args))?;
            if args.lab {
                target.identities = vec![crate::lab::key()];
                target.known_hosts = crate::lab::known_hosts();
                target.user = "root".into();
                target.accept_new = false;
                target.jump = None;
            }
            Ok(Connector::Ssh(Box::new(target)))
        }
    }
}

pub fn connect(loaded: &Loaded, host: &Host, args: &ConnectArgs) -> Result<Box<dyn Transport>> {
    connector(loaded, host, args)?.open()
}

/// The spec's rules for new SSH connections, for the lockout guard.
fn guard(spec: &crate::spec::Spec, state_dir: &str) -> Guard {
    Guard {
        ssh_from: spec.network.ssh_from.iter().map(|c| c.0).collect(),
        ssh_port: Some(spec.network.ssh_port),
        allow_users: spec.ssh.allow_users.clone(),
        confirm_within: spec.firewall.confirm_within.0,
        state_dir: state_dir.to_string(),
    }
}

/// Core counts read from the hosts, for `instances: max`.
struct Probed(HashMap<String, u32>);

impl Facts for Probed {
    fn cpus(&self, host: &str) -> u32 {
        self.0.get(host).copied().unwrap_or(1)
    }
}

fn probe_cpus(transport: &mut dyn Transport, host: &str) -> Result<u32> {
    let output = transport.run("nproc\n", &mut |_| {})?;
    output
        .stdout
        .trim()
        .parse()
        .with_context(|| format!("{host}: `nproc` answered {:?}", output.stdout.trim()))
}

/// Connects to `hosts` (and, when a dedicated load balancer's upstream
/// depends on them, to the app hosts whose core counts it needs), then
/// renders what each chosen host must have. Any failure stops everything
/// before a host is touched.
pub fn prepare(
    loaded: &Loaded,
    hosts: &[&Host],
    args: &ConnectArgs,
    source: Source,
) -> Result<Vec<Prepared>> {
    let spec = &loaded.spec;
    let runs_node = hosts
        .iter()
        .any(|h| h.has(Role::App) || h.has(Role::Worker));
    // What plan and apply render goes to the hosts: without the secrets'
    // values, the secrets file would be empty. (The other commands apply
    // no files.)
    anyhow::ensure!(
        source == Source::Ignore || spec.app.secrets.is_empty() || loaded.secrets.is_some(),
        "internal: the secrets' values were not read before connecting"
    );
    // Packed before connecting: a bad source stops the run with nothing done.
    let shipped = (runs_node && source == Source::Ship)
        .then(|| release::pack(&loaded.resolve(&spec.app.source)))
        .transpose()?;
    let needs_cores = spec.app.instances == crate::spec::Instances::Max
        || spec
            .app
            .workers
            .iter()
            .any(|w| w.instances == crate::spec::Instances::Max);
    let dedicated_lb = hosts.iter().any(|h| h.has(Role::Lb) && !h.has(Role::App));
    let mut to_connect: Vec<&Host> = hosts.to_vec();
    if needs_cores && dedicated_lb && args.connection == Connection::Ssh {
        for host in spec.hosts.iter().filter(|h| h.has(Role::App)) {
            if !to_connect.iter().any(|c| c.name == host.name) {
                to_connect.push(host);
            }
        }
    }
    let connected = run_parallel(to_connect, args.parallel.into(), false, |host| {
        let connector = connector(loaded, host, args)?;
        let mut transport = connector.open()?;
        let cpus = if needs_cores {
            probe_cpus(transport.as_mut(), &host.name)?
        } else {
            1
        };
        Ok((host, (transport, connector), cpus))
    });
    let (connected, failures) = partition(connected);
    if !failures.is_empty() {
        bail!("{}\nnothing was changed on any host", lines(&failures));
    }
    let mut cores = HashMap::new();
    let mut transports = Vec::new();
    for (host, transport, cpus) in connected {
        cores.insert(host.name.clone(), cpus);
        transports.push((host, transport));
    }
    if args.connection == Connection::Local {
        // This machine stands in for every host it is asked about.
        let local = cores.values().copied().next().unwrap_or(1);
        for host in &spec.hosts {
            cores.insert(host.name.clone(), local);
        }
    }
    let facts = Probed(cores);
    let renderer = Renderer::new()?;
    let mut prepared = Vec::new();
    for host in hosts {
        let (_, (transport, connector)) = transports.remove(
            transports
                .iter()
                .position(|(h, _)| h.name == host.name)
                .expect("connected"),
        );
        let context = context::build(loaded, host, &facts);
        let mut resources = playbook::expand(&renderer, &context)?;
        for resource in &mut resources {
            if let (Resource::Release(release), Some(shipped)) = (resource, &shipped) {
                release.id.clone_from(&shipped.id);
                release.archive.clone_from(&shipped.archive);
            }
        }
        prepared.push(Prepared {
            name: host.name.clone(),
            transport,
            connector,
            resources,
            guard: guard(spec, &args.state_dir),
        });
    }
    Ok(prepared)
}

pub enum Outcome<R> {
    Done(R),
    Failed(anyhow::Error),
    /// Not started: another host failed and --fail-fast was given.
    Skipped(String),
}

/// Runs `work` on each item, at most `parallel` at once, returning outcomes
/// in the items' order. With `fail_fast`, items not yet started when one
/// fails are skipped; those under way finish.
pub fn run_parallel<T, R, F>(
    items: Vec<T>,
    parallel: usize,
    fail_fast: bool,
    work: F,
) -> Vec<Outcome<R>>
where
    T: Send + Describe,
    R: Send,
    F: Fn(T) -> Result<R> + Sync,
{
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate().collect::<VecDeque<_>>());
    let results: Mutex<Vec<Option<Outcome<R>>>> = Mutex::new((0..count).map(|_| None).collect());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(count).max(1) {
            scope.spawn(|| {
                loop {
                    let Some((index, item)) = queue.lock().expect("queue lock").pop_front() else {
                        break;
                    };
                    let outcome = if stop.load(Ordering::SeqCst) {
                        Outcome::Skipped(item.describe())
                    } else {
                        match work(item) {
                            Ok(r) => Outcome::Done(r),
                            Err(e) => {
                                if fail_fast {
                                    stop.store(true, Ordering::SeqCst);
                                }
                                Outcome::Failed(e)
                            }
                        }
                    };
                    results.lock().expect("results lock")[index] = Some(outcome);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|o| o.expect("every item ran"))
        .collect()
}

/// What finished and what failed, each in the items' order; skipped items
/// are left out (the caller reports them, or ran without fail-fast).
pub fn partition<R>(outcomes: Vec<Outcome<R>>) -> (Vec<R>, Vec<anyhow::Error>) {
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Done(r) => done.push(r),
            Outcome::Failed(e) => failures.push(e),
            Outcome::Skipped(_) => {}
        }
    }
    (done, failures)
}

/// Failures one per line, each with its causes.
pub fn lines(failures: &[anyhow::Error]) -> String {
    failures
        .iter()
        .map(|e| format!("{e:#}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A name for an item that was skipped.
pub trait Describe {
    fn describe(&self) -> String;
}

impl Describe for &Host {
    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl Describe for Prepared {
    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Describe for u32 {
        fn describe(&self) -> String {
            format!("item {self}")
        }
    }

    fn run(fail_fast: bool, parallel: usize) -> Vec<String> {
        let outcomes = run_parallel((1..=5).collect(), parallel, fail_fast, |n: u32| {
            if n == 2 {
                bail!("item 2 failed")
            } else {
                Ok(n * 10)
            }
        });
        outcomes
            .into_iter()
            .map(|o| match o {
                Outcome::Done(v) => format!("done {v}"),
                Outcome::Failed(e) => e.to_string(),
                Outcome::Skipped(what) => format!("skipped {what}"),
            })
            .collect()
    }

    #[test]
    fn outcomes_keep_the_items_order_and_other_hosts_finish() {
        assert_eq!(
            run(false, 3),
            ["done 10", "item 2 failed", "done 30", "done 40", "done 50"]
        );
    }

    #[test]
    fn fail_fast_starts_nothing_after_a_failure() {
        assert_eq!(
            run(true, 1),
            [
                "done 10",
                "item 2 failed",
                "skipped item 3",
                "skipped item 4",
                "skipped item 5"
            ]
        );
    }
}
