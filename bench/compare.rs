//! deployer against pyinfra (and Ansible) doing the same job on the same lab
//! hosts: what deployer puts on a host for examples/hello on Debian's
//! Node.js (packages, user, directories, deployer's own rendered files, the
//! release, the services). The pyinfra deploy and the Ansible playbook in
//! bench/compare/ copy the files `deployer render` wrote, so every tool
//! converges to the same content. Run as root: `cargo bench --bench compare`
//! (BENCH_RUNS=3, BENCH_HOSTS=1,10,30, BENCH_TOOLS=deployer,pyinfra; add
//! `ansible` to BENCH_TOOLS for Ansible). It takes the lab, in turn with the
//! lab tests, and rewrites its own section of bench/RESULTS.md.
//!
//! Measured: `runs` first converges of a fresh host, next to the bare
//! `apt-get install` of the same packages on a fresh host, each followed by
//! a no-op rerun; then for each larger count, one first converge of that
//! many fresh hosts at once and `runs` no-op reruns. Every converge is
//! checked (the site answers over HTTPS on every host) and every no-op too
//! (the tool reports no change), so a tool cannot win by doing less.
//!
//! Packages: the first run downloads every package the tools install from
//! Debian once, into a flat repository on this machine (apt-ftparchive's
//! index, served on 198.18.0.1). Every fresh host's apt uses only that
//! repository, so a timed run's apt time does not hinge on the network,
//! whichever tool runs apt.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use deployer::lab;
use tempfile::TempDir;

/// Every package the job installs, and the Python Ansible's modules need.
const PACKAGES: &[&str] = &[
    "cracklib-runtime",
    "libpam-pwquality",
    "apt-listchanges",
    "debsums",
    "libpam-tmpdir",
    "unattended-upgrades",
    "nftables",
    "openssh-server",
    "nodejs",
    "npm",
    "nginx",
    "openssl",
    "curl",
    "jq",
];
const ANSIBLE_PACKAGES: &[&str] = &["python3", "python3-apt"];
/// The tools' virtual environment, kept between runs like the lab's image.
const VENV: &str = "/var/cache/deployer-bench/venv";
/// The packages every timed run installs, served to the lab's hosts.
const MIRROR: &str = "/var/cache/deployer-bench/mirror";
const MIRROR_PORT: &str = "8096";
/// No tool run may take longer; a hung run fails the benchmark.
const MAX_RUN: Duration = Duration::from_secs(900);
const DOMAIN: &str = "hello.lab.test";

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Tool {
    Deployer,
    Ansible,
    Pyinfra,
}

impl Tool {
    fn named(name: &str) -> Tool {
        match name.trim() {
            "deployer" => Tool::Deployer,
            "ansible" => Tool::Ansible,
            "pyinfra" => Tool::Pyinfra,
            other => panic!("BENCH_TOOLS: `{other}` is none of deployer, ansible, pyinfra"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tool::Deployer => "deployer",
            Tool::Ansible => "Ansible",
            Tool::Pyinfra => "pyinfra",
        }
    }
}

/// One timed run of a process tree.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    /// User + system CPU of the tool and every process it waited for.
    cpu: Duration,
    /// The largest single process's peak RSS (the kernel's ru_maxrss).
    max_rss_kib: u64,
    /// The peak of the whole tree's summed RSS, sampled every 20 ms.
    tree_rss_kib: u64,
    /// CPU this whole machine spent meanwhile: the tool, and the lab's
    /// hosts answering it (sshd, their shells and tools), on the same cores.
    machine_cpu: Duration,
}

/// The job's inputs: the app and its spec, deployer's rendered files, the
/// release tarball, and each tool's inventory.
struct Job {
    dir: TempDir,
    spec: PathBuf,
    release_id: String,
    hosts: Vec<(String, String)>,
}

impl Job {
    fn new(hosts: usize) -> Job {
        let dir = TempDir::new().unwrap();
        let app = dir.path().join("app");
        fs::create_dir_all(&app).unwrap();
        let example = Path::new(common::ROOT).join("examples/hello");
        for entry in fs::read_dir(&example).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if name != "deployer.yaml" && name != "node_modules" {
                run("cp", &["-r", path.to_str().unwrap(), app.to_str().unwrap()]);
            }
        }
        let hosts: Vec<(String, String)> = (0..hosts)
            .map(|i| (format!("web{}", i + 1), format!("198.18.0.{}", 10 + i)))
            .collect();
        // The example's spec with its hosts replaced; the audit gate asks
        // the npm registry, which the other tools do not, so it is off.
        // Debian's Node.js, as the other tools install it.
        let example_spec = fs::read_to_string(example.join("deployer.yaml")).unwrap();
        let mut spec = example_spec[..example_spec.find("\nhosts:\n").unwrap()]
            .replace("\napp:\n", "\napp:\n  audit: \"off\"\n")
            .replace("    version: 24\n", "    source: distro\n");
        assert!(
            spec.contains("source: distro"),
            "examples/hello's runtime moved"
        );
        spec.push_str("\nhosts:\n");
        for (name, address) in &hosts {
            spec.push_str(&format!("  - name: {name}\n    address: {address}\n"));
        }
        fs::write(app.join("deployer.yaml"), spec).unwrap();
        let spec = app.join("deployer.yaml");

        let rendered = dir.path().join("rendered");
        let out = common::deployer(&[
            "render",
            "-f",
            spec.to_str().unwrap(),
            "--out",
            rendered.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "render: {}", common::text(&out));

        // The release: the same tree deployer ships, named by its digest.
        let listing = Command::new("tar")
            .args([
                "--sort=name",
                "--mtime=@0",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
            ])
            .args(["-C", app.to_str().unwrap(), "-c", "."])
            .output()
            .unwrap();
        assert!(listing.status.success(), "tar: {}", common::text(&listing));
        let release_id = digest(&listing.stdout);
        let stage = dir.path().join("stage");
        fs::create_dir_all(&stage).unwrap();
        run(
            "cp",
            &[
                "-r",
                app.to_str().unwrap(),
                stage.join(&release_id).to_str().unwrap(),
            ],
        );
        run(
            "tar",
            &[
                "-C",
                stage.to_str().unwrap(),
                "-czf",
                dir.path().join("release.tar.gz").to_str().unwrap(),
                &release_id,
            ],
        );
        let job = Job {
            dir,
            spec,
            release_id,
            hosts,
        };
        job.inventories();
        job
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn inventories(&self) {
        let key = lab::key();
        let known = lab::known_hosts();
        let mut ini = String::from("[all]\n");
        for (name, address) in &self.hosts {
            ini.push_str(&format!("{name} ansible_host={address}\n"));
        }
        ini.push_str(&format!(
            "[all:vars]\nansible_user=root\nansible_ssh_private_key_file={}\nansible_ssh_common_args='-o UserKnownHostsFile={}'\n",
            key.display(),
            known.display()
        ));
        fs::write(self.path("inventory.ini"), ini).unwrap();
        let mut py = format!(
            "common = {{\n    \"ssh_user\": \"root\",\n    \"ssh_key\": \"{}\",\n    \"ssh_known_hosts_file\": \"{}\",\n    \"ssh_strict_host_key_checking\": \"yes\",\n    \"rendered\": \"{}\",\n    \"release_archive\": \"{}\",\n    \"release_id\": \"{}\",\n    \"packages\": [{}],\n}}\nhosts = [\n",
            key.display(),
            known.display(),
            self.path("rendered"),
            self.path("release.tar.gz"),
            self.release_id,
            PACKAGES
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", "),
        );
        for (name, address) in &self.hosts {
            py.push_str(&format!(
                "    (\"{name}\", {{\"ssh_hostname\": \"{address}\", **common}}),\n"
            ));
        }
        py.push_str("]\n");
        fs::write(self.path("inventory.py"), py).unwrap();
    }

    /// The command that converges (or reruns) every host of the job.
    fn command(&self, tool: Tool) -> Command {
        let compare = Path::new(common::ROOT).join("bench/compare");
        match tool {
            Tool::Deployer => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_deployer"));
                // As many hosts at once as pyinfra and Ansible are given.
                c.args(["apply", "--lab", "--yes", "--parallel"])
                    .arg(self.hosts.len().to_string())
                    .arg("-f")
                    .arg(&self.spec);
                c.env_remove("DEPLOYER_FILE");
                c
            }
            Tool::Ansible => {
                let mut c = Command::new(Path::new(VENV).join("bin/ansible-playbook"));
                c.env("ANSIBLE_CONFIG", compare.join("ansible/ansible.cfg"))
                    .args(["-i", &self.path("inventory.ini")])
                    .args(["--forks", &self.hosts.len().to_string()])
                    .args(["-e", &format!("rendered={}", self.path("rendered"))])
                    .args([
                        "-e",
                        &format!("release_archive={}", self.path("release.tar.gz")),
                    ])
                    .args(["-e", &format!("release_id={}", self.release_id)])
                    .arg(compare.join("ansible/hello.yml"));
                c
            }
            Tool::Pyinfra => {
                let mut c = Command::new(Path::new(VENV).join("bin/pyinfra"));
                c.args(["-y", "--parallel", &self.hosts.len().to_string()])
                    .arg(self.path("inventory.py"))
                    .arg(compare.join("pyinfra/hello.py"));
                c
            }
        }
    }

    /// Runs `tool` once, timed; with `noop`, fails unless it changed nothing.
    fn run(&self, tool: Tool, noop: bool) -> Sample {
        let (sample, output) = measure(self.command(tool));
        let changed = match tool {
            Tool::Deployer => !output.contains("Nothing to do: every host matches the spec."),
            Tool::Ansible => output
                .lines()
                .filter(|l| l.contains(" changed="))
                .any(|l| !l.contains(" changed=0 ")),
            Tool::Pyinfra => pyinfra_changed(&output),
        };
        if noop {
            assert!(!changed, "{} was not a no-op:\n{output}", tool.label());
        }
        eprintln!(
            "  {}{}: {:.2} s",
            tool.label(),
            if noop { " no-op" } else { " converge" },
            sample.wall.as_secs_f64()
        );
        sample
    }

    /// Checks that every host serves the app over HTTPS.
    fn serves(&self) {
        for (name, address) in &self.hosts {
            let out = Command::new("curl")
                .args([
                    "-ksS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "10",
                ])
                .args(["--resolve", &format!("{DOMAIN}:443:{address}")])
                .arg(format!("https://{DOMAIN}/healthz"))
                .output()
                .unwrap();
            let code = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                code,
                "200",
                "{name} does not serve the app: {}",
                common::text(&out)
            );
        }
    }
}

/// pyinfra's summary table ends with "Grand total  <hosts> <success>
/// <error> <no change>", where success counts the operations that changed
/// something ("-" for none).
fn pyinfra_changed(output: &str) -> bool {
    let total = output
        .lines()
        .find(|l| l.trim_start().starts_with("Grand total"))
        .expect("pyinfra printed its summary table");
    let cells: Vec<&str> = total.split_whitespace().collect();
    cells[cells.len() - 3] != "-"
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    hash.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        common::text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `command` to its end and measures it and its process tree.
fn measure(mut command: Command) -> (Sample, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    command
        .stdin(Stdio::null())
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap());
    let busy_before = machine_busy();
    let started = Instant::now();
    let child = command.spawn().expect("the tool starts");
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(tree_rss_kib(pid), Ordering::Relaxed);
                if started.elapsed() > MAX_RUN {
                    // SAFETY: kill(2) on our own child's pid, which wait4 has not reaped yet.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    let machine_cpu = machine_busy().saturating_sub(busy_before);
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    drop(child);
    assert_eq!(reaped, pid as i32, "wait4");
    let output = fs::read_to_string(log.path()).unwrap_or_default();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed (status {status}, after {wall:?}):\n{output}"
    );
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let sample = Sample {
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
        tree_rss_kib: peak.load(Ordering::Relaxed),
        machine_cpu,
    };
    (sample, output)
}

/// The CPU time every core of this machine has spent busy since boot
/// (/proc/stat: all but idle and iowait).
fn machine_busy() -> Duration {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// The summed RSS of `root` and its descendants, from /proc.
fn tree_rss_kib(root: u32) -> u64 {
    let mut parent = HashMap::new();
    let mut rss = HashMap::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("PPid:") {
                parent.insert(pid, v.trim().parse::<u32>().unwrap_or(0));
            } else if let Some(v) = line.strip_prefix("VmRSS:") {
                rss.insert(
                    pid,
                    v.trim().trim_end_matches(" kB").parse::<u64>().unwrap_or(0),
                );
            }
        }
    }
    let in_tree = |mut pid: u32| {
        while pid > 1 {
            if pid == root {
                return true;
            }
            pid = parent.get(&pid).copied().unwrap_or(0);
        }
        false
    };
    rss.iter()
        .filter(|(pid, _)| in_tree(**pid))
        .map(|(_, kib)| kib)
        .sum()
}

/// The lab with `job`'s hosts, booted afresh, and the package mirror they
/// install from; both down however the run ends.
struct Lab {
    mirror: Option<std::process::Child>,
}

impl Lab {
    fn fresh(job: &Job) -> Lab {
        common::deployer(&["lab", "down"]);
        let out = common::deployer(&["lab", "up", "-f", job.spec.to_str().unwrap()]);
        assert!(out.status.success(), "lab up: {}", common::text(&out));
        let mut lab = Lab { mirror: None };
        if Path::new(MIRROR).join("Release").exists() {
            // On the lab's side of this machine only: 198.18.0.1 exists once the lab is up.
            lab.mirror = Some(
                Command::new("python3")
                    .args(["-m", "http.server", MIRROR_PORT, "--bind", "198.18.0.1"])
                    .args(["--directory", MIRROR])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("python3 serves the mirror"),
            );
            lab.wait_for_mirror();
            for (name, _) in &job.hosts {
                use_mirror(name);
            }
        }
        lab
    }

    /// Until the mirror answers: a host's apt that asks sooner is refused
    /// and finds no package (python starts in a second or more on a busy
    /// machine).
    fn wait_for_mirror(&mut self) {
        let address: std::net::SocketAddr = format!("198.18.0.1:{MIRROR_PORT}").parse().unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err() {
            let mirror = self.mirror.as_mut().expect("a mirror");
            if let Some(status) = mirror.try_wait().unwrap() {
                panic!("the mirror ended: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the mirror does not answer on {address}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut mirror) = self.mirror.take() {
            let _ = mirror.kill();
            let _ = mirror.wait();
        }
        common::deployer(&["lab", "down"]);
    }
}

fn host_root(name: &str) -> PathBuf {
    Path::new(lab::DIR).join("hosts").join(name)
}

/// Points a fresh host's apt at the mirror, with no package lists yet, so
/// that every tool's apt fetches the mirror's index (Ansible's and
/// pyinfra's `cache_valid_time` find no cache to trust).
fn use_mirror(name: &str) {
    let root = host_root(name);
    fs::write(
        root.join("etc/apt/sources.list"),
        format!("deb [trusted=yes] http://198.18.0.1:{MIRROR_PORT}/ ./\n"),
    )
    .unwrap();
    let lists = root.join("var/lib/apt/lists");
    for entry in fs::read_dir(&lists).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().is_some_and(|n| n != "lock") {
            fs::remove_file(path).unwrap();
        }
    }
}

/// Installs every package the job needs on a fresh host, timed: the apt
/// part of a first converge, with no tool around it.
fn apt_alone(job: &Job) -> Sample {
    let (_, address) = &job.hosts[0];
    let (sample, _) = measure(ssh(
        address,
        &format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {} >/dev/null",
            PACKAGES.join(" ")
        ),
    ));
    eprintln!("  apt-get alone: {:.2} s", sample.wall.as_secs_f64());
    sample
}

fn ssh(address: &str, script: &str) -> Command {
    let mut ssh = Command::new("ssh");
    ssh.args(["-i", lab::key().to_str().unwrap()])
        .args([
            "-o",
            &format!("UserKnownHostsFile={}", lab::known_hosts().display()),
        ])
        .args(["-o", "BatchMode=yes", &format!("root@{address}"), script]);
    ssh
}

/// Builds the mirror, once per list of packages: a fresh host downloads
/// every package any of the tools installs (with what they depend on) from
/// Debian, and those .deb files become a flat repository indexed by
/// apt-ftparchive.
fn build_mirror(job: &Job) {
    let all: Vec<&str> = PACKAGES.iter().chain(ANSIBLE_PACKAGES).copied().collect();
    let listed = Path::new(MIRROR).join("packages");
    if Path::new(MIRROR).join("Release").exists()
        && fs::read_to_string(&listed).is_ok_and(|l| l == all.join(" "))
    {
        return;
    }
    eprintln!("building the package mirror ({MIRROR})");
    // The host downloads from Debian: a stale mirror must not be served.
    let _ = fs::remove_dir_all(MIRROR);
    let _lab = Lab::fresh(job);
    let (name, address) = &job.hosts[0];
    let out = ssh(
        address,
        &format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only --no-install-recommends {}",
            all.join(" ")
        ),
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "downloading the packages: {}",
        common::text(&out)
    );
    let building = format!("{MIRROR}.new");
    let _ = fs::remove_dir_all(&building);
    fs::create_dir_all(&building).unwrap();
    for deb in fs::read_dir(host_root(name).join("var/cache/apt/archives")).unwrap() {
        let deb = deb.unwrap().path();
        if deb.extension().is_some_and(|e| e == "deb") {
            fs::copy(&deb, Path::new(&building).join(deb.file_name().unwrap())).unwrap();
        }
    }
    let index = |args: &[&str], file: &str| {
        let out = Command::new("apt-ftparchive")
            .args(args)
            .current_dir(&building)
            .output()
            .expect("apt-ftparchive (apt-utils) runs");
        assert!(
            out.status.success(),
            "apt-ftparchive: {}",
            common::text(&out)
        );
        fs::write(Path::new(&building).join(file), out.stdout).unwrap();
    };
    index(&["packages", "."], "Packages");
    index(&["release", "."], "Release");
    fs::write(Path::new(&building).join("packages"), all.join(" ")).unwrap();
    fs::rename(&building, MIRROR).unwrap();
}

/// Ansible and pyinfra at the pinned versions, in a virtual environment.
fn install_tools() {
    let requirements = Path::new(common::ROOT).join("bench/compare/requirements.txt");
    if !Path::new(VENV).join("bin/pip").exists() {
        let out = Command::new("python3")
            .args(["-m", "venv", VENV])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "python3 -m venv failed (on Debian: apt-get install python3-venv): {}",
            common::text(&out)
        );
    }
    run(
        &format!("{VENV}/bin/pip"),
        &["install", "-q", "-r", requirements.to_str().unwrap()],
    );
}

/// Median, min and max of one measure over runs.
fn spread<T>(samples: &[T], of: impl Fn(&T) -> f64) -> (f64, f64, f64) {
    let mut values: Vec<f64> = samples.iter().map(of).collect();
    values.sort_by(f64::total_cmp);
    let median = match values.len() % 2 {
        1 => values[values.len() / 2],
        _ => (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0,
    };
    (median, values[0], values[values.len() - 1])
}

fn seconds(samples: &[Sample]) -> String {
    let (median, min, max) = spread(samples, |s| s.wall.as_secs_f64());
    format!("{median:.2} s ({min:.2}–{max:.2})")
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let memory = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024 / 1024);
    format!(
        "{} logical cores ({cpu}), {memory} GiB, {}; {}; {}; {}; {}",
        thread::available_parallelism().map_or(0, |n| n.get()),
        first_line("uname", &["-sr"]),
        first_line(env!("CARGO_BIN_EXE_deployer"), &["--version"]),
        first_line(&format!("{VENV}/bin/ansible-playbook"), &["--version"]),
        first_line(&format!("{VENV}/bin/pyinfra"), &["--version"]),
        first_line("ssh", &["-V"]),
    )
}

fn main() {
    let runs = env_number("BENCH_RUNS", 3).max(1);
    let counts: Vec<usize> = std::env::var("BENCH_HOSTS")
        .unwrap_or_else(|_| "1,10,30".into())
        .split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .expect("BENCH_HOSTS: counts such as 1,10,30")
        })
        .map(|n| n.clamp(1, 200))
        .collect();
    assert_eq!(counts.first(), Some(&1), "BENCH_HOSTS starts with 1");
    let tools: Vec<Tool> = std::env::var("BENCH_TOOLS")
        .unwrap_or_else(|_| "deployer,pyinfra".into())
        .split(',')
        .map(Tool::named)
        .collect();
    // The lab is machine-wide: take turns with the lab tests.
    let held = fs::File::create("/run/lock/deployer-lab-tests.lock").unwrap();
    held.lock().unwrap();
    install_tools();
    let one = Job::new(1);
    build_mirror(&one);

    // One host, a fresh one per run and tool, interleaved so that drift
    // over the run spreads over every tool alike.
    let mut apt = Vec::new();
    let mut results: Vec<Count> = Vec::new();
    let mut single = Count::new(1);
    for round in 1..=runs {
        eprintln!("round {round} of {runs}: 1 fresh host");
        {
            let _lab = Lab::fresh(&one);
            apt.push(apt_alone(&one));
        }
        for &tool in &tools {
            let _lab = Lab::fresh(&one);
            single
                .first
                .entry(tool)
                .or_default()
                .push(one.run(tool, false));
            one.serves();
            single.idle.entry(tool).or_default().push(idle_load());
            single
                .noop
                .entry(tool)
                .or_default()
                .push(one.run(tool, true));
        }
    }
    results.push(single);
    save(runs, &tools, &apt, &results);

    // More hosts: each tool converges its own fresh hosts, then reruns.
    for &many in counts.iter().skip(1) {
        let wide = Job::new(many);
        let mut count = Count::new(many);
        for &tool in &tools {
            eprintln!("{many} fresh hosts: {}", tool.label());
            let _lab = Lab::fresh(&wide);
            count
                .first
                .entry(tool)
                .or_default()
                .push(wide.run(tool, false));
            wide.serves();
            count.idle.entry(tool).or_default().push(idle_load());
            for _ in 0..runs {
                count
                    .noop
                    .entry(tool)
                    .or_default()
                    .push(wide.run(tool, true));
            }
        }
        results.push(count);
        save(runs, &tools, &apt, &results);
    }
    println!("{}", report(runs, &tools, &apt, &results));
}

/// Writes what was measured so far, so that a later count that fails
/// (a lab too big for this machine) leaves the earlier ones recorded.
fn save(runs: usize, tools: &[Tool], apt: &[Sample], results: &[Count]) {
    let section = report(runs, tools, apt, results);
    let file = Path::new(common::ROOT).join("bench/RESULTS.md");
    let all = fs::read_to_string(&file).unwrap_or_default();
    fs::write(&file, with_section(&all, &section)).unwrap();
}

/// `all` with its section of this benchmark (from its heading to the next
/// top-level heading) replaced by `section`, or `section` first.
fn with_section(all: &str, section: &str) -> String {
    let start = all
        .find(HEADING)
        .or_else(|| all.find("# deployer, Ansible and pyinfra"));
    match start {
        Some(start) => {
            let end = all[start + 1..]
                .find("\n# ")
                .map_or(all.len(), |i| start + 1 + i + 1);
            format!("{}{section}\n{}", &all[..start], &all[end..])
        }
        None => format!("{section}\n{all}"),
    }
}

const HEADING: &str = "# deployer against pyinfra: the same job on 1 to many hosts";

/// What one count of hosts measured, per tool.
struct Count {
    hosts: usize,
    first: HashMap<Tool, Vec<Sample>>,
    noop: HashMap<Tool, Vec<Sample>>,
    /// The converged lab's own load before the no-ops: [`idle_load`].
    idle: HashMap<Tool, Vec<f64>>,
}

impl Count {
    fn new(hosts: usize) -> Count {
        Count {
            hosts,
            first: HashMap::new(),
            noop: HashMap::new(),
            idle: HashMap::new(),
        }
    }
}

/// How long the lab is watched idling.
const IDLE_WINDOW: Duration = Duration::from_secs(5);

/// The CPU seconds per second this machine spends with no tool running:
/// the lab's hosts' own timers and services, and whatever else runs here.
fn idle_load() -> f64 {
    let (busy_before, started) = (machine_busy(), Instant::now());
    thread::sleep(IDLE_WINDOW);
    machine_busy().saturating_sub(busy_before).as_secs_f64() / started.elapsed().as_secs_f64()
}

fn report(runs: usize, tools: &[Tool], apt: &[Sample], counts: &[Count]) -> String {
    let mut out = String::new();
    let names: Vec<&str> = tools.iter().map(|t| t.label()).collect();
    let sizes: Vec<String> = counts.iter().map(|c| c.hosts.to_string()).collect();
    out.push_str(&format!(
        "{HEADING}\n\n\
         Generated by `cargo bench --bench compare` (as root; BENCH_RUNS={runs}, \
         BENCH_HOSTS={}, BENCH_TOOLS={}); see bench/README.md for what is measured and why.\n\n\
         Machine: {}.\n\n\
         Median of {runs} runs, (min–max), except a first converge of more than one host: \
         one run each. The hosts are lab containers on the same machine, so at 10 and 30 \
         hosts the hosts' own work (sshd, their shells, apt) shares its two cores with the tool.\n\n",
        sizes.join(","),
        names.join(","),
        machine()
    ));
    out.push_str(&format!(
        "| | {} |\n|---|{}\n",
        names.join(" | "),
        "---|".repeat(tools.len())
    ));
    let row = |label: String, cell: &dyn Fn(Tool) -> String| {
        let mut line = format!("| {label} |");
        for &tool in tools {
            line.push_str(&format!(" {} |", cell(tool)));
        }
        line + "\n"
    };
    let wall = |s: &[Sample]| spread(s, |s| s.wall.as_secs_f64()).0;
    let apt_median = spread(apt, |s| s.wall.as_secs_f64()).0;
    let single = &counts[0];
    out.push_str(&row(
        "first converge, 1 fresh host (apt included)".into(),
        &|t| seconds(&single.first[&t]),
    ));
    out.push_str(&row(
        format!("… beyond apt (`apt-get install` alone: {})", seconds(apt)),
        &|t| format!("{:.2} s", wall(&single.first[&t]) - apt_median),
    ));
    for count in &counts[1..] {
        out.push_str(&row(
            format!("first converge, {} fresh hosts", count.hosts),
            &|t| seconds(&count.first[&t]),
        ));
    }
    for count in counts {
        out.push_str(&row(
            format!("no-op rerun, {} host(s)", count.hosts),
            &|t| seconds(&count.noop[&t]),
        ));
    }
    for count in &counts[1..] {
        out.push_str(&row(
            format!("{} hosts ÷ 1 host (no-op)", count.hosts),
            &|t| format!("{:.1}×", wall(&count.noop[&t]) / wall(&single.noop[&t])),
        ));
    }
    let per_host = |count: &Count, t: Tool, of: fn(&Sample) -> f64| {
        format!(
            "{:.3} s",
            spread(&count.noop[&t], of).0 / count.hosts as f64
        )
    };
    for count in counts {
        out.push_str(&row(
            format!(
                "tool CPU per host (user + sys), no-op {} host(s)",
                count.hosts
            ),
            &|t| per_host(count, t, |s| s.cpu.as_secs_f64()),
        ));
    }
    for count in counts {
        out.push_str(&row(
            format!(
                "machine CPU per host (tool + hosts), no-op {} host(s)",
                count.hosts
            ),
            &|t| per_host(count, t, |s| s.machine_cpu.as_secs_f64()),
        ));
    }
    for count in counts {
        out.push_str(&row(
            format!(
                "… of which the idle lab and machine, {} host(s) (their load without a tool × the no-op's wall time)",
                count.hosts
            ),
            &|t| {
                let load = spread(&count.idle[&t], |l| *l).0;
                format!("{:.3} s", load * wall(&count.noop[&t]) / count.hosts as f64)
            },
        ));
    }
    let mib = |kib: f64| format!("{:.0} MiB", kib / 1024.0);
    let widest = counts.last().unwrap();
    for count in if widest.hosts > 1 {
        vec![single, widest]
    } else {
        vec![single]
    } {
        out.push_str(&row(
            format!("peak memory, process tree (no-op, {} host(s))", count.hosts),
            &|t| mib(spread(&count.noop[&t], |s| s.tree_rss_kib as f64).0),
        ));
    }
    out.push_str(&row(
        "peak memory, largest process (first converge, 1 host)".into(),
        &|t| mib(spread(&single.first[&t], |s| s.max_rss_kib as f64).0),
    ));
    let verdict = |met: bool| if met { "met" } else { "**missed**" };
    out.push_str("\nTargets for deployer:\n");
    for (other, factor) in [(Tool::Pyinfra, 3.0), (Tool::Ansible, 10.0)] {
        if tools.contains(&other) {
            let speedup = wall(&single.noop[&other]) / wall(&single.noop[&Tool::Deployer]);
            out.push_str(&format!(
                "- no-op on 1 host ≥ {factor}× faster than {}: {speedup:.1}× — {}\n",
                other.label(),
                verdict(speedup >= factor)
            ));
        }
    }
    if let Some(thirty) = counts.iter().find(|c| c.hosts == 30)
        && tools.contains(&Tool::Pyinfra)
    {
        let speedup = wall(&thirty.noop[&Tool::Pyinfra]) / wall(&thirty.noop[&Tool::Deployer]);
        out.push_str(&format!(
            "- no-op on 30 hosts ≥ 4× faster than pyinfra: {speedup:.1}× — {}\n",
            verdict(speedup >= 4.0)
        ));
    }
    for count in counts {
        let cpu = spread(&count.noop[&Tool::Deployer], |s| {
            s.machine_cpu.as_secs_f64()
        })
        .0 / count.hosts as f64;
        out.push_str(&format!(
            "- machine CPU (tool + hosts) per host per no-op ≤ 0.15 s, {} host(s): {cpu:.3} s — {}\n",
            count.hosts,
            verdict(cpu <= 0.15)
        ));
    }
    out
}
