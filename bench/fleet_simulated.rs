//! Toward a thousand hosts, simulated: what deployer itself costs per host
//! when the hosts are not the bottleneck. Run: `cargo bench --bench
//! fleet-simulated` (as root: it writes one converged host under a
//! temporary directory). BENCH_HOSTS=1000 by default.
//!
//! A spec of examples/hello with 1,000 hosts goes through what `deployer
//! plan` does once connected: every host's files rendered from the
//! playbooks (`deploy::desired`, one after the other as the CLI does), then
//! every host planned (`single::plan`: the facts script made, run, parsed
//! and diffed) at `--parallel` 10, 50 and 200. The hosts' side is a
//! stand-in transport that answers the facts script with the facts of one
//! converged host: that host's files, directories and symlinks, re-rooted
//! under a temporary directory (see `rerooted.rs`) and read once by the
//! real facts script on this machine. Every host must plan as converged.
//! One file names its host (the alert channels' `host=`); it is left out
//! of every host so that one host's facts stand for all. Not included: the
//! SSH login and the survey (the lab benchmarks measure those).
//!
//! Each `--parallel` runs in a process of its own, so that its peak memory
//! is its own: CPU (user + sys) of that process over the plan, its peak
//! resident memory (VmHWM), the most file descriptors open at once
//! (sampled every 2 ms), and the wall time.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "process.rs"]
mod process;
#[path = "rerooted.rs"]
mod rerooted;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use deployer::deploy::{self, Desired, HostAccess, single};
use deployer::layout::AssumedCores;
use deployer::render::Renderer;
use deployer::resource::{Resource, facts};
use deployer::safety::lock::Lease;
use deployer::spec::{Loaded, Secrets};
use deployer::transport::{Local, Output, Transport};
use tempfile::TempDir;

const PARALLEL: &[usize] = &[10, 50, 200];

/// The hosts' side: every script gets the converged host's facts.
struct Converged<'a>(&'a str);

impl Transport for Converged<'_> {
    fn run(&mut self, _script: &str, _on_line: &mut dyn FnMut(&str)) -> Result<Output> {
        Ok(Output {
            stdout: self.0.to_string(),
            stderr: String::new(),
            status: 0,
        })
    }
}

/// Sets its flag when dropped.
struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// examples/hello with `hosts` hosts, web1 to webN.
fn fleet(dir: &Path, hosts: usize) -> Loaded {
    let hello = Path::new(common::ROOT).join("examples/hello");
    let text = std::fs::read_to_string(hello.join("deployer.yaml")).unwrap();
    let (head, _) = text
        .split_once("hosts:\n")
        .expect("hello lists its hosts last");
    let mut spec = head.replace("app:\n", &format!("app:\n  source: {}\n", hello.display()));
    spec.push_str("hosts:\n");
    for i in 0..hosts {
        spec.push_str(&format!(
            "  - name: web{}\n    address: 198.18.{}.{}\n",
            i + 1,
            i / 250,
            i % 250 + 1
        ));
    }
    let file = dir.join("deployer.yaml");
    std::fs::write(&file, spec).unwrap();
    deployer::spec::load(&file, Secrets::Read)
        .expect("readable")
        .unwrap_or_else(|invalid| panic!("{invalid}"))
}

/// A host's desired state as the simulation compares it.
fn simulated(
    renderer: &Renderer,
    loaded: &Loaded,
    i: usize,
    root: &Path,
    lease: &Lease,
) -> Desired {
    let host = &loaded.spec.hosts[i];
    let resources = deploy::desired(
        renderer,
        loaded,
        host,
        &AssumedCores(2),
        &Default::default(),
    )
    .expect("renders");
    let resources = resources
        .into_iter()
        .filter(|r| !matches!(r, Resource::File(f) if f.path.starts_with("/usr/local/lib/deployer/alert.d/")))
        .collect();
    rerooted::desired(resources, root, lease)
}

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One measurement, in this process: prints `RESULT hosts parallel cpu_s
/// wall_s render_cpu_s peak_mib fds`.
fn measure(hosts: usize, parallel: usize) {
    let root = TempDir::new().unwrap();
    let lease = Lease::new(&format!("{}/var/lib/deployer", root.path().display()), 600);
    let spec_dir = TempDir::new().unwrap();
    let loaded = fleet(spec_dir.path(), hosts);
    let renderer = Renderer::new().unwrap();

    // One host made converged for real, and its facts read once.
    let first = simulated(&renderer, &loaded, 0, root.path(), &lease);
    let reconnect = || Ok(Box::new(Local) as Box<dyn Transport>);
    let applied = single::apply(
        HostAccess {
            host: "web1",
            transport: &mut Local,
            reconnect: &reconnect,
        },
        &first,
        None,
        &lease,
        &mut |_| {},
    )
    .expect("the converged host is made");
    assert!(
        !applied.plan.changes.is_empty(),
        "the first apply made the host"
    );
    let script = facts::script(
        &first.resources,
        &first.guard.state_dir,
        &first.app,
        &[],
        &first.exposure.unreported(),
    );
    let answer = Local.run(&script, &mut |_| {}).unwrap();
    assert_eq!(answer.status, 0, "{}", answer.stderr);
    let answer = answer.stdout;

    let most_fds = AtomicUsize::new(open_fds());
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let cpu_before = process::own_cpu();
    let (render_cpu, wall) = thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                most_fds.fetch_max(open_fds(), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(2));
            }
        });
        // The sampler stops however this ends, a failed assertion too.
        let _stop = Stop(&done);
        // As the CLI's prepare: every host rendered, one after the other.
        let desired: Vec<Desired> = (0..hosts)
            .map(|i| simulated(&renderer, &loaded, i, root.path(), &lease))
            .collect();
        let render_cpu = process::own_cpu() - cpu_before;
        // As its plan: at most `parallel` hosts at once.
        let (next, converged) = (AtomicUsize::new(0), AtomicUsize::new(0));
        thread::scope(|workers| {
            for _ in 0..parallel.min(hosts) {
                workers.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(desired) = desired.get(i) else { break };
                        let name = &loaded.spec.hosts[i].name;
                        let plan =
                            single::plan(name, &mut Converged(&answer), desired).expect("plans");
                        assert!(
                            plan.is_converged(),
                            "{name} is not converged: {:?}",
                            plan.changes
                        );
                        converged.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(converged.load(Ordering::Relaxed), hosts);
        (render_cpu, started.elapsed())
    });
    let cpu = process::own_cpu() - cpu_before;
    println!(
        "RESULT {hosts} {parallel} {:.3} {:.3} {:.3} {:.1} {}",
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        render_cpu.as_secs_f64(),
        peak_memory_mib(),
        most_fds.load(Ordering::Relaxed)
    );
}

fn main() {
    let hosts: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(1000);
    if let Ok(parallel) = std::env::var("FLEET_PARALLEL") {
        measure(hosts, parallel.parse().unwrap());
        return;
    }
    println!(
        "Planning {hosts} simulated converged hosts (examples/hello; the hosts answer at once), deployer's own costs:\n"
    );
    println!(
        "| --parallel | CPU per host | of which rendering | wall | peak memory | most fds open |\n|---|---|---|---|---|---|"
    );
    for parallel in PARALLEL {
        let out = Command::new(std::env::current_exe().unwrap())
            .env("FLEET_PARALLEL", parallel.to_string())
            .env("BENCH_HOSTS", hosts.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fields: Vec<&str> = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .expect("a result")
            .split(' ')
            .collect();
        let number = |i: usize| fields[i].parse::<f64>().unwrap();
        println!(
            "| {parallel} | {:.2} ms | {:.2} ms | {:.2} s | {:.0} MiB | {} |",
            number(2) * 1000.0 / hosts as f64,
            number(4) * 1000.0 / hosts as f64,
            number(3),
            number(5),
            fields[6]
        );
    }
}
