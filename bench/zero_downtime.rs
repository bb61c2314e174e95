//! Zero-downtime releases: continuous HTTPS load against a lab site while
//! `deployer apply` rolls a new release out, compared with steady state.
//! Run as root: `cargo bench --bench zero-downtime` (BENCH_STEADY_SECS=10,
//! BENCH_CONNECTIONS=4). It takes the lab: run nothing else on it meanwhile.
//!
//! Scenarios: examples/hello (one host: nginx and the instances) in systemd
//! and in pm2 mode, and examples/cluster (a load balancer and two app hosts).
//! The load is this program's own keep-alive HTTPS client, `connections`
//! threads each sending one request at a time to the site's public address.
//! It is bounded in time and count and sends only to the lab's hosts. A
//! failed request is a connect, TLS or I/O error, or a status other than 2xx.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use tempfile::TempDir;

/// No phase runs longer, whatever happens.
const MAX_PHASE: Duration = Duration::from_secs(300);
/// Nor sends more requests per connection.
const MAX_REQUESTS_PER_CONNECTION: usize = 500_000;

struct Scenario {
    label: &'static str,
    example: &'static str,
    domain: &'static str,
    /// The public address of the host running nginx.
    address: &'static str,
    pm2: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        label: "1 host (nginx + instances)",
        example: "hello",
        domain: "hello.lab.test",
        address: "198.18.0.10",
        pm2: false,
    },
    Scenario {
        label: "1 host, pm2",
        example: "hello",
        domain: "hello.lab.test",
        address: "198.18.0.10",
        pm2: true,
    },
    Scenario {
        label: "lb + 2 app hosts",
        example: "cluster",
        domain: "cluster.lab.test",
        address: "198.18.0.20",
        pm2: false,
    },
];

/// What one phase of load saw.
struct Measured {
    latencies: Vec<Duration>,
    failures: Vec<String>,
    elapsed: Duration,
}

impl Measured {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(index).copied().unwrap_or_default()
    }

    fn row(&self, label: &str, phase: &str) -> String {
        let sent = self.latencies.len() + self.failures.len();
        format!(
            "| {label} | {phase} | {sent} | {} | {:.0} | {:.1} ms | {:.1} ms |",
            self.failures.len(),
            sent as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50).as_secs_f64() * 1000.0,
            self.percentile(0.99).as_secs_f64() * 1000.0,
        )
    }
}

fn deployer(args: &[&str]) -> String {
    let out = common::deployer(args);
    assert!(
        out.status.success(),
        "deployer {args:?} failed:\n{}",
        common::text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One keep-alive HTTPS connection's worth of requests until `stop`.
fn client(
    address: SocketAddr,
    domain: &str,
    stop: &AtomicBool,
    deadline: Instant,
) -> (Vec<Duration>, Vec<String>) {
    let mut tls = SslConnector::builder(SslMethod::tls()).expect("openssl");
    // The lab's certificate is self-signed; the test suite checks it, not this.
    tls.set_verify(SslVerifyMode::NONE);
    let tls = tls.build();
    let request = format!("GET / HTTP/1.1\r\nHost: {domain}\r\nUser-Agent: deployer-bench\r\n\r\n");
    let (mut latencies, mut failures) = (Vec::new(), Vec::new());
    let mut connection = None;
    while !stop.load(Ordering::Relaxed)
        && Instant::now() < deadline
        && latencies.len() + failures.len() < MAX_REQUESTS_PER_CONNECTION
    {
        let started = Instant::now();
        if connection.is_none() {
            let opened = TcpStream::connect_timeout(&address, Duration::from_secs(2))
                .map_err(|e| format!("connect: {e}"))
                .and_then(|tcp| {
                    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    tcp.set_nodelay(true).ok();
                    tls.connect(domain, tcp).map_err(|e| format!("TLS: {e}"))
                });
            match opened {
                Ok(stream) => connection = Some(BufReader::new(stream)),
                Err(e) => {
                    failures.push(e);
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
        }
        let reader = connection.as_mut().expect("connected");
        match exchange(reader, &request) {
            Ok((status, keep_alive)) => {
                if (200..300).contains(&status) {
                    latencies.push(started.elapsed());
                } else {
                    failures.push(format!("status {status}"));
                }
                if !keep_alive {
                    connection = None;
                }
            }
            Err(e) => {
                failures.push(format!("I/O: {e}"));
                connection = None;
            }
        }
    }
    (latencies, failures)
}

/// Sends one request and reads its response: (status, keep the connection).
fn exchange<S: Read + Write>(
    reader: &mut BufReader<S>,
    request: &str,
) -> std::io::Result<(u16, bool)> {
    reader.get_mut().write_all(request.as_bytes())?;
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("closed before a response"));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let (mut length, mut chunked, mut keep_alive) = (0usize, false, true);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                "connection" => keep_alive = !value.trim().eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    if chunked {
        // Chunks: a hex size line, the data and CRLF; a zero size, then trailers.
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                break;
            }
            std::io::copy(
                &mut reader.by_ref().take(size as u64 + 2),
                &mut std::io::sink(),
            )?;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                break;
            }
        }
    } else {
        let read = std::io::copy(
            &mut reader.by_ref().take(length as u64),
            &mut std::io::sink(),
        )?;
        if read != length as u64 {
            return Err(std::io::Error::other("closed mid-body"));
        }
    }
    Ok((status, keep_alive))
}

/// Runs `connections` clients against the site while `during` runs (or,
/// with none, for `steady`), then stops them and gathers what they saw.
fn under_load<T>(
    scenario: &Scenario,
    connections: usize,
    steady: Duration,
    during: Option<&dyn Fn() -> T>,
) -> (Measured, Option<T>) {
    let address: SocketAddr = format!("{}:443", scenario.address).parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + MAX_PHASE;
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let domain = scenario.domain;
            thread::spawn(move || client(address, domain, &stop, deadline))
        })
        .collect();
    let outcome = match during {
        Some(work) => Some(work()),
        None => {
            thread::sleep(steady);
            None
        }
    };
    stop.store(true, Ordering::Relaxed);
    let mut measured = Measured {
        latencies: Vec::new(),
        failures: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for client in clients {
        let (latencies, failures) = client.join().expect("client thread");
        measured.latencies.extend(latencies);
        measured.failures.extend(failures);
    }
    measured.elapsed = started.elapsed();
    (measured, outcome)
}

/// Takes the lab down however the run ends.
struct LabDown;

impl Drop for LabDown {
    fn drop(&mut self) {
        common::deployer(&["lab", "down"]);
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let steady = Duration::from_secs(env_number("BENCH_STEADY_SECS", 10));
    let connections = env_number("BENCH_CONNECTIONS", 4) as usize;
    let mut rows = Vec::new();
    for scenario in SCENARIOS {
        let dir = TempDir::new().unwrap();
        let app = common::app_copy(dir.path());
        let example = Path::new(common::ROOT)
            .join("examples")
            .join(scenario.example);
        let spec = dir.path().join("deployer.yaml");
        let yaml = fs::read_to_string(example.join("deployer.yaml")).unwrap();
        let yaml = match yaml.contains("  source: ../hello\n") {
            true => yaml.replace("  source: ../hello\n", &format!("  source: {app}\n")),
            false => yaml.replace(
                "  start: node server.js\n",
                &format!("  source: {app}\n  start: node server.js\n"),
            ),
        };
        // One client address sends all the load: nginx's per-client rate
        // limit would answer most of it with 429.
        let yaml = match yaml.contains("\nnginx:\n") {
            true => yaml.replace(
                "\nnginx:\n",
                "\nnginx:\n  rate_limit:\n    enabled: false\n",
            ),
            false => yaml + "\nnginx:\n  rate_limit:\n    enabled: false\n",
        };
        let yaml = match scenario.pm2 {
            true => yaml.replace("\napp:\n", "\napp:\n  process_manager: pm2\n"),
            false => yaml,
        };
        fs::write(&spec, yaml).unwrap();
        let spec = spec.to_str().unwrap();

        eprintln!("{}: lab up and first apply", scenario.label);
        common::deployer(&["lab", "down"]);
        let _down = LabDown;
        deployer(&["lab", "up", "-f", spec]);
        deployer(&["apply", "-f", spec, "--lab", "--yes", "--quiet"]);

        eprintln!("{}: steady state, {steady:?}", scenario.label);
        let (before, _) = under_load::<()>(scenario, connections, steady, None);
        rows.push(before.row(scenario.label, "steady"));

        eprintln!("{}: a new release rolls out under load", scenario.label);
        let server = Path::new(&app).join("server.js");
        fs::write(
            &server,
            fs::read_to_string(&server).unwrap() + "// release 2\n",
        )
        .unwrap();
        let apply = || {
            let started = Instant::now();
            let out = common::deployer(&["apply", "-f", spec, "--lab", "--yes", "--quiet"]);
            (out, started.elapsed())
        };
        let (during, applied) = under_load(scenario, connections, steady, Some(&apply));
        let (out, took) = applied.expect("the apply ran");
        assert!(
            out.status.success(),
            "the rollout failed:\n{}",
            common::text(&out)
        );
        rows.push(during.row(
            scenario.label,
            &format!("rollout ({:.0} s)", took.as_secs_f64()),
        ));
        let mut kinds: Vec<&String> = during.failures.iter().collect();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let count = during.failures.iter().filter(|f| *f == kind).count();
            eprintln!("  failed {count}×: {kind}");
        }
    }
    let host = Command::new("uname").arg("-srm").output().unwrap();
    println!(
        "\n{} connections, {} logical cores, {}",
        connections,
        thread::available_parallelism().map_or(0, |n| n.get()),
        String::from_utf8_lossy(&host.stdout).trim()
    );
    println!("| site | phase | requests | failed | req/s | p50 | p99 |");
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
