//! End to end in the lab: real Debian hosts (systemd, sshd, nginx, nftables)
//! booted on this machine, converged by the real binary over SSH, checked as
//! an operator would: through nginx, from the public and the private side,
//! by unit start times.
//!
//! Until the releases issue ships the app and the TLS issue issues the
//! self-signed certificate, this test installs Debian's Node.js and the
//! example app on the app hosts by hand, and runs the cluster with
//! `tls.mode: off`. The lab is machine-wide, so one test owns it throughout.

mod common;

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{ROOT, deployer, text};
use tempfile::TempDir;

/// Tears the lab down however the test ends.
struct Lab;

impl Drop for Lab {
    fn drop(&mut self) {
        let out = deployer(&["lab", "down"]);
        if !out.status.success() {
            eprintln!("lab down failed: {}", text(&out));
        }
    }
}

fn must(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `script` on a lab host as root.
fn on(host: &str, script: &str) -> String {
    must(
        deployer(&["lab", "ssh", host, "--", script]),
        &format!("on {host}: {script}"),
    )
}

/// An HTTP GET of the cluster's site from this machine (the public side).
fn get(path: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            "-H",
            "Host: cluster.lab.test",
            &format!("http://198.18.0.20{path}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a TCP connection from this machine is accepted: `Some(true)`
/// accepted, `Some(false)` refused (a host answered: nothing listens),
/// `None` no answer at all (dropped by a firewall).
fn reach(address: &str, port: u16) -> Option<bool> {
    let address: SocketAddr = format!("{address}:{port}").parse().unwrap();
    match TcpStream::connect_timeout(&address, Duration::from_secs(2)) {
        Ok(_) => Some(true),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(false),
        Err(_) => None,
    }
}

/// The same from the private side, through the lab's client namespace.
fn get_from_private(url: &str) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            "dlab-client",
            "curl",
            "-s",
            "--max-time",
            "5",
            url,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn started(host: &str, units: &str) -> String {
    on(
        host,
        &format!("systemctl show -p ActiveEnterTimestampMonotonic {units}"),
    )
}

/// Until releases exist: Debian's Node.js and the example app in /srv/hello/current.
fn ship_app_by_hand(host: &str) {
    on(
        host,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs >/dev/null && mkdir -p /srv/hello/releases/1",
    );
    let tar = Command::new("tar")
        .args([
            "-C",
            &format!("{ROOT}/examples/hello"),
            "-cf",
            "-",
            "server.js",
            "worker.js",
            "package.json",
        ])
        .output()
        .unwrap();
    let mut ssh = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["lab", "ssh", host, "--", "tar -C /srv/hello/releases/1 -xf - && chmod -R a+rX /srv/hello/releases/1 && ln -sfn /srv/hello/releases/1 /srv/hello/current"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(ssh.stdin.as_mut().unwrap(), &tar.stdout).unwrap();
    drop(ssh.stdin.take());
    assert!(ssh.wait().unwrap().success(), "shipping the app to {host}");
}

#[test]
fn the_cluster_converges_serves_through_the_private_network_and_stays_converged() {
    common::require("systemd-nspawn");
    common::require("curl");
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    let write_spec = |log_level: &str, extra: &str| {
        let text = fs::read_to_string(Path::new(ROOT).join("examples/cluster/deployer.yaml"))
            .unwrap()
            .replace(
                "  source: ../hello\n",
                &format!("  source: {ROOT}/examples/hello\n  env:\n    LOG_LEVEL: {log_level}\n"),
            )
            .replace("  mode: self-signed\n", "  mode: off\n")
            + extra;
        fs::write(&spec, text).unwrap();
    };
    write_spec("info", "");
    let spec_arg = spec.to_str().unwrap();

    deployer(&["lab", "down"]);
    let _lab = Lab;
    let up = must(deployer(&["lab", "up", "-f", spec_arg]), "lab up");
    assert!(
        up.contains("lb1: up at 198.18.0.20, private 198.19.0.20"),
        "{up}"
    );
    for host in ["app1", "app2"] {
        ship_app_by_hand(host);
    }

    // First apply converges all three hosts.
    let apply = deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]);
    let report = must(apply, "the first apply");
    assert!(
        report.contains("Apply:") && report.contains("0 failed"),
        "{report}"
    );

    // The load balancer spreads requests over both app hosts, through the private network.
    let answers: Vec<String> = (0..8).map(|_| get("/")).collect();
    for host in ["app1", "app2"] {
        assert!(
            answers
                .iter()
                .any(|a| a.contains(&format!("on {host} port"))),
            "{host} never answered: {answers:?}"
        );
    }
    let headers = Command::new("curl")
        .args([
            "-s",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-H",
            "Host: cluster.lab.test",
            "http://198.18.0.20/",
        ])
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout).to_lowercase();
    for header in [
        "x-content-type-options: nosniff",
        "x-frame-options: sameorigin",
        "server: nginx\r",
    ] {
        assert!(
            headers.contains(header),
            "missing `{header}` in:\n{headers}"
        );
    }

    // Isolation: from the public side, SSH and the web answer, app ports do not;
    // from the private side the app answers.
    assert_eq!(reach("198.18.0.20", 22), Some(true), "SSH on the lb");
    assert_eq!(reach("198.18.0.20", 80), Some(true), "HTTP on the lb");
    assert_eq!(reach("198.18.0.21", 22), Some(true), "SSH on app1");
    assert_eq!(
        reach("198.18.0.21", 3000),
        None,
        "app1's port must be dropped from the public side"
    );
    assert_eq!(
        reach("198.18.0.21", 80),
        None,
        "app hosts serve no web publicly"
    );
    assert!(
        get_from_private("http://198.19.0.21:3000/").contains("on app1 port 3000"),
        "the private side reaches app1"
    );

    // A second apply changes nothing and restarts nothing.
    let before = (
        started("app1", "hello@3000 hello@3001 hello-jobs@1"),
        started("lb1", "nginx"),
    );
    let again = must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the second apply",
    );
    assert!(
        again.contains("Nothing to do: every host matches the spec."),
        "{again}"
    );
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert_eq!(
        (
            started("app1", "hello@3000 hello@3001 hello-jobs@1"),
            started("lb1", "nginx")
        ),
        before
    );

    // One env var changed: the app restarts, nginx does not.
    write_spec("warn", "");
    must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the env change",
    );
    assert_ne!(
        started("app1", "hello@3000 hello@3001 hello-jobs@1"),
        before.0,
        "the app restarted"
    );
    assert_eq!(started("lb1", "nginx"), before.1, "nginx did not");
    assert!(
        on(
            "app1",
            "cat /proc/$(systemctl show -p MainPID --value hello@3000)/environ | tr '\\0' '\\n'"
        )
        .contains("LOG_LEVEL=warn")
    );

    // An invalid nginx snippet fails at the gate; the live site keeps serving.
    write_spec("warn", "nginx:\n  extra: \"proxy_buffering maybe;\"\n");
    let refused = deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("lb1: failed at step `check nginx -t -q`"),
        "{}",
        text(&refused)
    );
    assert!(get("/").contains("hello from"), "the site still serves");
    assert_eq!(
        on(
            "lb1",
            "grep -c proxy_buffering /etc/nginx/deployer/hello.conf || true"
        )
        .trim(),
        "0"
    );

    // The app units are sandboxed as promised, measured on the host.
    let security = on(
        "app1",
        "systemd-analyze security hello@3000.service | tail -1",
    );
    let score: f64 = security
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(99.0);
    assert!(score <= 1.0, "{security}");
    assert_eq!(
        on(
            "app1",
            "ps -o user= -p $(systemctl show -p MainPID --value hello@3000)"
        )
        .trim(),
        "hello"
    );
}
