//! No-op apply: how long `deployer apply` takes on hosts that are already
//! converged, on 1 host, on 10 hosts at once, and on 30 hosts at once behind
//! one jump host. Run: `cargo bench --bench noop-apply`.
//!
//! The hosts are OpenSSH servers on loopback (this machine), each with its
//! own temporary root holding what `examples/hello` puts on a host: every
//! file, directory and symlink of its playbooks, re-rooted, and its packages
//! (read through dpkg, already installed here). Units and the user are left
//! out: this machine has no systemd to ask, and creating a user would change
//! it. Each run does what the CLI does: connect and log in, read the cores,
//! take the lock and read the facts, release the lock.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "process.rs"]
mod process;
#[path = "rerooted.rs"]
mod rerooted;

use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::sshd::{Keys, known};
use deployer::deploy::{self, Applied, Desired, HostAccess, single};
use deployer::layout::AssumedCores;
use deployer::render::Renderer;
use deployer::resource::facts;
use deployer::safety::lock::Lease;
use deployer::transport::target::Target;
use deployer::transport::{Local, Ssh, Transport};
use tempfile::TempDir;

const HOSTS: usize = 10;
/// Behind one jump host, whose sshd (like the tests') refuses an 11th login
/// in progress: `MaxStartups 10`.
const JUMPED: usize = 30;

/// What examples/hello puts on its host, moved under `root`, with no
/// lockout rules or exposure to check.
fn hello_under(root: &Path, lease: &Lease) -> Desired {
    let loaded = deployer::spec::load(
        &Path::new(common::ROOT).join("examples/hello/deployer.yaml"),
        deployer::spec::Secrets::Read,
    )
    .expect("readable")
    .expect("valid");
    let host = &loaded.spec.hosts[0];
    let resources = deploy::desired(
        &Renderer::new().unwrap(),
        &loaded,
        host,
        &AssumedCores(2),
        &Default::default(),
    )
    .unwrap();
    rerooted::desired(resources, root, lease)
}

/// One host's apply as the CLI calls it.
fn apply(
    target: &Target,
    ssh: &mut Ssh,
    desired: &Desired,
    lease: &Lease,
) -> anyhow::Result<Applied> {
    let reconnect = || Ok(Box::new(Ssh::connect(target)?) as Box<dyn Transport>);
    let access = HostAccess {
        host: &target.label,
        transport: ssh,
        reconnect: &reconnect,
    };
    single::apply(access, desired, None, lease, &mut |_| {})
}

/// One no-op apply as the CLI runs it: (total, connect).
fn noop_apply(target: &Target, desired: &Desired, lease: &Lease) -> (Duration, Duration) {
    let started = Instant::now();
    let mut ssh = Ssh::connect(target).expect("connect");
    let connected = started.elapsed();
    let cores = ssh.run("nproc\n", &mut |_| {}).expect("nproc");
    assert_eq!(cores.status, 0);
    let applied = apply(target, &mut ssh, desired, lease).expect("apply");
    assert!(
        applied.plan.is_converged(),
        "not converged: {:?}",
        applied.plan.changes
    );
    (started.elapsed(), connected)
}

/// Where one no-op apply's time goes, round trip by round trip.
struct Breakdown {
    connect: Vec<Duration>,
    empty_round_trip: Vec<Duration>,
    facts_over_ssh: Vec<Duration>,
    facts_locally: Vec<Duration>,
}

fn breakdown(target: &Target, desired: &Desired, runs: usize) -> Breakdown {
    let script = facts::script(
        &desired.resources,
        "/var/lib/deployer",
        &desired.app,
        &[],
        &desired.exposure.unreported(),
    );
    let mut b = Breakdown {
        connect: vec![],
        empty_round_trip: vec![],
        facts_over_ssh: vec![],
        facts_locally: vec![],
    };
    for _ in 0..runs {
        let started = Instant::now();
        let mut ssh = Ssh::connect(target).expect("connect");
        b.connect.push(started.elapsed());
        let started = Instant::now();
        ssh.run("true\n", &mut |_| {}).unwrap();
        b.empty_round_trip.push(started.elapsed());
        let started = Instant::now();
        assert_eq!(ssh.run(&script, &mut |_| {}).unwrap().status, 0);
        b.facts_over_ssh.push(started.elapsed());
        let started = Instant::now();
        assert_eq!(Local.run(&script, &mut |_| {}).unwrap().status, 0);
        b.facts_locally.push(started.elapsed());
    }
    b
}

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1],
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Hosts to apply to, and what must live as long as they do: their
/// servers and roots.
struct Fleet {
    hosts: Arc<Vec<(Target, Desired, Lease)>>,
    _servers: Vec<common::sshd::Server>,
    _roots: Vec<TempDir>,
}

/// `count` OpenSSH servers on loopback, each holding a converged
/// examples/hello under its own root, reached through `jump` if given.
fn converged_hosts(keys: &Keys, count: usize, name: &str, jump: Option<&Target>) -> Fleet {
    let servers: Vec<_> = (0..count)
        .map(|i| keys.server(&format!("{name}{i}")))
        .collect();
    let known_hosts = keys.dir.path().join(format!("known_hosts_{name}"));
    let mut all: String = servers
        .iter()
        .map(|s| std::fs::read_to_string(known(keys, s, false)).unwrap())
        .collect();
    if let Some(jump) = jump {
        all += &std::fs::read_to_string(&jump.known_hosts).unwrap();
    }
    std::fs::write(&known_hosts, all).unwrap();
    let roots: Vec<TempDir> = (0..count).map(|_| TempDir::new().unwrap()).collect();
    let hosts: Vec<(Target, Desired, Lease)> = servers
        .iter()
        .zip(&roots)
        .enumerate()
        .map(|(i, (server, root))| {
            let target = Target {
                label: format!("{name}{i}"),
                jump: jump.map(|j| Box::new(j.clone())),
                ..keys.target(server, &known_hosts)
            };
            let lease = Lease::new(&format!("{}/var/lib/deployer", root.path().display()), 600);
            (target, hello_under(root.path(), &lease), lease)
        })
        .collect();
    for (target, desired, lease) in &hosts {
        let mut ssh = Ssh::connect(target).unwrap();
        apply(target, &mut ssh, desired, lease).unwrap();
    }
    Fleet {
        hosts: Arc::new(hosts),
        _servers: servers,
        _roots: roots,
    }
}

/// `runs` rounds of a no-op apply on every host at once: each round's wall
/// time, and this process's CPU per host.
fn in_parallel(
    hosts: &Arc<Vec<(Target, Desired, Lease)>>,
    runs: usize,
) -> (Vec<Duration>, Duration) {
    let mut rounds = Vec::new();
    let cpu_before = process::own_cpu();
    for _ in 0..runs {
        let started = Instant::now();
        let workers: Vec<_> = (0..hosts.len())
            .map(|i| {
                let hosts = Arc::clone(hosts);
                thread::spawn(move || noop_apply(&hosts[i].0, &hosts[i].1, &hosts[i].2))
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        rounds.push(started.elapsed());
    }
    let cpu_per_host = (process::own_cpu() - cpu_before) / (runs * hosts.len()) as u32;
    (rounds, cpu_per_host)
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(21);
    let keys = Keys::new();
    let fleet = converged_hosts(&keys, HOSTS, "host", None);
    let hosts = &fleet.hosts;
    let resources = hosts[0].1.resources.len();

    let mut one = Vec::new();
    for _ in 0..runs {
        one.push(noop_apply(&hosts[0].0, &hosts[0].1, &hosts[0].2).0);
    }
    let parts = breakdown(&hosts[0].0, &hosts[0].1, runs);
    let (ten, own_cpu_per_host) = in_parallel(hosts, runs);
    let (one_median, one_min, one_max) = stats(one);
    let (ten_median, ten_min, ten_max) = stats(ten);
    println!(
        "No-op apply of examples/hello's {resources} file/dir/symlink/package resources per host, {runs} runs each, hosts = sshd on loopback:\n"
    );
    println!("| hosts | median | min | max |\n|---|---|---|---|");
    println!(
        "| 1 | {} | {} | {} |",
        ms(one_median),
        ms(one_min),
        ms(one_max)
    );
    println!(
        "| {HOSTS} (parallel) | {} | {} | {} |",
        ms(ten_median),
        ms(ten_min),
        ms(ten_max)
    );
    println!(
        "\n10 hosts / 1 host = {:.2}x.\n",
        ten_median.as_secs_f64() / one_median.as_secs_f64()
    );
    // `ssh host true`, in process: the floor a no-op apply is held to.
    let bare: Vec<Duration> = parts
        .connect
        .iter()
        .zip(&parts.empty_round_trip)
        .map(|(connect, empty)| *connect + *empty)
        .collect();
    let bare = stats(bare).0;
    println!(
        "1 host's no-op / a bare login and `true` ({}) = {:.2}x.\n",
        ms(bare),
        one_median.as_secs_f64() / bare.as_secs_f64()
    );
    println!(
        "Where one host's time goes (medians; a no-op apply is connect + one shell running 3 scripts: cores, lock + facts, release):\n"
    );
    println!("| part | median |\n|---|---|");
    let rows = [
        (
            "connect: TCP, SSH handshake, host key, login",
            stats(parts.connect).0,
        ),
        (
            "an empty round trip (`true`), the session's first (starts its shell)",
            stats(parts.empty_round_trip).0,
        ),
        ("the facts script over SSH", stats(parts.facts_over_ssh).0),
        (
            "the same facts script run locally, no SSH",
            stats(parts.facts_locally).0,
        ),
        (
            "deployer's own CPU per host (SSH crypto, parsing, diffing), from the 10-host runs",
            own_cpu_per_host,
        ),
    ];
    for (part, time) in rows {
        println!("| {part} | {} |", ms(time));
    }
    println!(
        "\nThe {HOSTS} hosts here share this machine's {} cores with deployer, so the 10-host time includes every host's own \
         work (sshd, bash, the facts script) queued on those cores; on separate machines that work runs in parallel \
         and only deployer's own CPU adds up.",
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let jump_server = keys.server("jump");
    let jump = Target {
        label: "jump".into(),
        ..keys.target(&jump_server, &known(&keys, &jump_server, false))
    };
    let jumped = converged_hosts(&keys, JUMPED, "behind", Some(&jump));
    let (rounds, cpu_per_host) = in_parallel(&jumped.hosts, runs);
    let logins = keys.logins_at("jump");
    let (median, min, max) = stats(rounds);
    println!(
        "\n{JUMPED} hosts at once behind one jump host (its sshd: MaxStartups 10), {runs} rounds: median {} (min {}, max {}); \
         deployer's own CPU per host {}; logins at the jump host, the first converge included: {logins}; every apply succeeded.",
        ms(median),
        ms(min),
        ms(max),
        ms(cpu_per_host)
    );
}
