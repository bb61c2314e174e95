//! Helpers shared by the integration tests: run the real binary, walk what it
//! rendered, and run host tools against it inside throwaway namespaces.
#![allow(dead_code)] // each test crate uses its own subset

pub mod checkers;
pub mod dist;
pub mod sshd;
pub mod standins;

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use deployer::resource::{self, Dir, File, Mode, Resource, Symlink};
use deployer::safety::lock::Lease;
use tempfile::TempDir;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The specs every rendering test covers: both examples and the fixture that
/// sets every option away from its default.
pub const SPECS: &[(&str, &str)] = &[
    ("hello", "examples/hello/deployer.yaml"),
    ("cluster", "examples/cluster/deployer.yaml"),
    ("full", "tests/fixtures/full/deployer.yaml"),
];

pub fn deployer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(args)
        .current_dir(ROOT)
        .env_remove("DEPLOYER_FILE")
        .output()
        .expect("the deployer binary runs")
}

/// What examples/hello's app is made of.
pub const HELLO_APP: &[&str] = &[
    "server.js",
    "worker.js",
    "sessions.js",
    "package.json",
    "package-lock.json",
];

/// A copy of examples/hello in `dir`/app, to ship and to edit between releases.
pub fn app_copy(dir: &Path) -> String {
    let app = dir.join("app");
    fs::create_dir_all(&app).unwrap();
    for name in HELLO_APP {
        fs::copy(
            Path::new(ROOT).join("examples/hello").join(name),
            app.join(name),
        )
        .unwrap();
    }
    app.to_str().unwrap().to_string()
}

/// Renders `spec` (relative to the crate root) for every host.
pub fn render(spec: &str) -> TempDir {
    render_for(spec, &[])
}

/// `render`, for the system this machine runs (`debian-12`), whose tools
/// (nginx, sshd) judge what is rendered.
pub fn render_for_this_machine(spec: &str) -> TempDir {
    let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let os = format!("{}-{}", field("ID"), field("VERSION_ID"));
    render_for(spec, &["--os", &os])
}

fn render_for(spec: &str, extra: &[&str]) -> TempDir {
    let out = TempDir::new().unwrap();
    let out_arg = out.path().join("out");
    let mut args = vec!["render", "-f", spec, "--out", out_arg.to_str().unwrap()];
    args.extend(extra);
    let result = deployer(&args);
    assert!(
        result.status.success(),
        "render {spec} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

/// Each host's directory of a render, by host name.
pub fn hosts(render: &TempDir) -> Vec<(String, PathBuf)> {
    let mut hosts: Vec<_> = fs::read_dir(render.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    hosts.sort();
    hosts
}

/// Every file under `dir`, as paths relative to it, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// PATH with the admin directories, where nginx, nft and sshd live, whatever
/// the PATH the tests were started with.
fn admin_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/local/sbin:/usr/sbin:/sbin")
}

/// A tool the README's test command installs; its absence is a failure, not a skip.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .env("PATH", admin_path())
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: run `tests/run`, which installs the tools the tests use"
    );
}

/// Runs `script` with sh in private mount and network namespaces, so that
/// overlays and checks never touch this machine's own configuration.
pub fn in_namespaces(script: &str) -> Output {
    require("unshare");
    Command::new("unshare")
        .args([
            "--mount",
            "--net",
            "--propagation",
            "private",
            "sh",
            "-euc",
            script,
        ])
        .env("PATH", admin_path())
        .output()
        .expect("unshare runs")
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts that `output` exited with `code` and said each of `expected`
/// (on stdout or stderr).
pub fn assert_says(output: &Output, code: i32, expected: &[&str]) {
    let all = text(output);
    assert_eq!(output.status.code(), Some(code), "{all}");
    for wanted in expected {
        assert!(all.contains(wanted), "no `{wanted}` in:\n{all}");
    }
}

pub fn path(root: &TempDir, rest: &str) -> String {
    format!("{}/{rest}", root.path().display())
}

pub fn lease(root: &TempDir) -> Lease {
    Lease::new(&path(root, "state"), 600)
}

/// A small host: a directory, two files (one with awkward characters in its
/// name and content), a symlink and a command run unless its file exists.
pub fn sample_host(root: &TempDir, config: &str) -> Vec<Resource> {
    vec![
        Resource::Dir(Dir {
            path: path(root, "srv/app"),
            owner: "root".into(),
            group: "root".into(),
            mode: Mode(0o750),
            data: false,
        }),
        Resource::File(File::new(path(root, "etc/app/app.conf"), 0o640, config)),
        Resource::File(File::new(
            path(root, "etc/app/it's a $(name).txt"),
            0o600,
            "line 1\n'quoted' \"twice\" $HOME `id`\n",
        )),
        Resource::Symlink(Symlink {
            path: path(root, "srv/app/current"),
            target: path(root, "srv/app/releases/1"),
        }),
        Resource::Command(resource::Command::creates(
            format!(
                "touch {}",
                deployer::dialect::shell::quote(&path(root, "srv/app/initialised"))
            ),
            path(root, "srv/app/initialised"),
        )),
    ]
}

/// A P-256 key and a self-signed certificate for `subject` (and `san`, an
/// `openssl -addext` subjectAltName value), valid two days.
pub fn self_signed(key: &Path, cert: &Path, subject: &str, san: Option<&str>) {
    require("openssl");
    let mut command = Command::new("openssl");
    command
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", subject, "-keyout"])
        .arg(key)
        .arg("-out")
        .arg(cert);
    if let Some(san) = san {
        command.args(["-addext", &format!("subjectAltName={san}")]);
    }
    let made = command.output().unwrap();
    assert!(made.status.success(), "{}", text(&made));
}

/// Polls `ready` every half second for up to `limit`.
pub fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn must(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `command`, made to be killed when the test that starts it ends, however
/// it ends: a server a killed test run left behind would hold its port and
/// answer the next run's test in its place.
pub fn dies_with_test(command: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe, and the closure touches nothing
    // else between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    }
}

/// Whether a TCP connection from this machine is accepted: `Some(true)`
/// accepted, `Some(false)` refused (a host answered: nothing listens),
/// `None` no answer at all (dropped by a firewall).
pub fn reach(address: &str, port: u16) -> Option<bool> {
    let address: SocketAddr = format!("{address}:{port}").parse().unwrap();
    match TcpStream::connect_timeout(&address, Duration::from_secs(2)) {
        Ok(_) => Some(true),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(false),
        Err(_) => None,
    }
}

/// `path` in `target/auditors`, where tests/run installs the external
/// auditors (the pinned virtual environment).
pub fn auditor(path: &str) -> PathBuf {
    let path = Path::new(ROOT).join("target/auditors").join(path);
    assert!(
        path.exists(),
        "{} is missing: tests/run installs the auditors",
        path.display()
    );
    path
}
