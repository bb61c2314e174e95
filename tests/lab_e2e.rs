//! End to end in the lab: real Debian hosts (systemd, sshd, nginx, nftables)
//! booted on this machine, converged by the real binary over SSH, checked as
//! an operator would: through nginx, from the public and the private side,
//! by unit start times.
//!
//! The app is shipped by deployer from a copy of examples/hello, on Debian's
//! Node.js. The lab is machine-wide, so each test holds it alone, start to end,
//! by a lock on a file that test runs from other checkouts take turns on too.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::standins::{AptRepo, DnsApi, NodeMirror, Pebble, Webhook};
use common::{ROOT, app_copy, assert_says, deployer, must, reach, text, wait_until};
use tempfile::TempDir;

/// Held (`flock`, exclusive) by the test that has the lab; the kernel lets
/// go of it however that test's process ends.
const LAB_LOCK: &str = "/run/lock/deployer-lab-tests.lock";

/// The lab, held by one test, up for `spec`; torn down however the test ends.
struct Lab {
    _held: fs::File,
}

impl Lab {
    /// The lab up for `spec` on the current Debian stable, as `lab up` boots by default.
    fn up(spec: &str) -> (Lab, String) {
        Lab::up_on(spec, "debian-13")
    }

    /// The lab up for `spec`, its hosts running `os` (`debian-12`).
    fn up_on(spec: &str, os: &str) -> (Lab, String) {
        common::require("systemd-nspawn");
        common::require("curl");
        let held = fs::File::create(LAB_LOCK).unwrap();
        held.lock().unwrap();
        deployer(&["lab", "down"]);
        let lab = Lab { _held: held };
        let up = must(deployer(&["lab", "up", "-f", spec, "--os", os]), "lab up");
        (lab, up)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = deployer(&["lab", "down"]);
        if !out.status.success() {
            eprintln!("lab down failed: {}", text(&out));
        }
    }
}

/// Runs `script` on a lab host as root.
fn on(host: &str, script: &str) -> String {
    must(
        deployer(&["lab", "ssh", host, "--", script]),
        &format!("on {host}: {script}"),
    )
}

/// `curl -s` from this machine (the public side) with `args`: its output.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A site served over HTTPS by a lab host with a self-signed certificate,
/// reached by its name as a browser would, trusting exactly that certificate.
struct Site {
    domain: &'static str,
    address: &'static str,
    ca: tempfile::NamedTempFile,
}

impl Site {
    fn new(domain: &'static str, host: &str, address: &'static str) -> Site {
        Site::of_app("hello", domain, host, address)
    }

    /// `app`'s site, whose certificate its host made.
    fn of_app(app: &str, domain: &'static str, host: &str, address: &'static str) -> Site {
        let ca = tempfile::NamedTempFile::new().unwrap();
        fs::write(
            ca.path(),
            on(host, &format!("cat /etc/nginx/tls/{app}/fullchain.pem")),
        )
        .unwrap();
        Site {
            domain,
            address,
            ca,
        }
    }

    fn get(&self, path: &str) -> String {
        self.curl(&[&format!("https://{}{path}", self.domain)])
    }

    fn curl(&self, args: &[&str]) -> String {
        let resolve = format!("{}:443:{}", self.domain, self.address);
        let mut all = vec![
            "--cacert",
            self.ca.path().to_str().unwrap(),
            "--resolve",
            &resolve,
        ];
        all.extend_from_slice(args);
        curl(&all)
    }

    /// What plain HTTP answers: status and where it redirects.
    fn plain_http(&self) -> String {
        curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-H",
            &format!("Host: {}", self.domain),
            &format!("http://{}/some/path?q=1", self.address),
        ])
    }
}

/// The same from the private side, through the lab's client namespace.
fn get_from_private(url: &str) -> String {
    from_private(&[url])
}

/// `curl -s` from the private side with `args`: its output.
fn from_private(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            "dlab-client",
            "curl",
            "-s",
            "--max-time",
            "5",
        ])
        .args(args)
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

/// examples/hello's spec, shipping a copy of its app from `dir`, with
/// `app_lines` added to its `app` section.
fn hello_yaml(dir: &Path, app_lines: &str) -> String {
    fs::read_to_string(Path::new(ROOT).join("examples/hello/deployer.yaml"))
        .unwrap()
        .replace(
            "  start: node server.js\n",
            &format!(
                "  source: {}\n  start: node server.js\n{app_lines}",
                app_copy(dir)
            ),
        )
}

/// Replaces `from` with `to` in the copy of the example app's server.js
/// under `dir` (`app_copy`); `moved` says why when `from` is not there.
fn edit_app(dir: &Path, from: &str, to: &str, moved: &str) {
    let server = dir.join("app/server.js");
    let source = fs::read_to_string(&server).unwrap();
    let edited = source.replace(from, to);
    assert_ne!(edited, source, "{moved}");
    fs::write(&server, edited).unwrap();
}

/// The release a site serves, as the example app reports it.
fn serving(answer: &str) -> &str {
    answer
        .strip_prefix("hello from ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("nothing")
}

#[test]
fn the_cluster_converges_serves_through_the_private_network_and_stays_converged() {
    cluster_end_to_end("debian-13");
}

/// The same on Debian 12, which hosts still run.
#[test]
fn the_cluster_converges_on_debian_12() {
    cluster_end_to_end("debian-12");
}

/// Requests to examples/cluster's site reach both app hosts.
fn both_app_hosts_answer(site: &Site) {
    let answers: Vec<String> = (0..8).map(|_| site.get("/")).collect();
    for host in ["app1", "app2"] {
        assert!(
            answers
                .iter()
                .any(|a| a.contains(&format!("on {host} port"))),
            "{host} never answered: {answers:?}"
        );
    }
}

fn cluster_end_to_end(os: &str) {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    let app = app_copy(dir.path());
    // Sessions in Redis on app1, its password from a command; alerts to a
    // receiver on this machine, health checked every 2s.
    let redis = format!(
        "services:\n  redis:\n    host: app1\nmonitoring:\n  webhook: {}\n  alert_after: 2\n",
        Webhook::URL
    );
    let secrets = "  health:\n    interval: 2s\n    timeout: 1s\n  secrets:\n    - name: REDIS_PASSWORD\n      command: echo 'lab redis p@ssword'\n";
    let write_spec = |log_level: &str, extra: &str| {
        let text = fs::read_to_string(Path::new(ROOT).join("examples/cluster/deployer.yaml"))
            .unwrap()
            .replace(
                "  source: ../hello\n",
                &format!("  source: {app}\n  env:\n    LOG_LEVEL: {log_level}\n{secrets}"),
            )
            + &redis
            + extra;
        fs::write(&spec, text).unwrap();
    };
    write_spec("info", "");
    let spec_arg = spec.to_str().unwrap();

    let (_lab, up) = Lab::up_on(spec_arg, os);
    let webhook = Webhook::listen();
    assert!(
        up.contains("lb1: up at 198.18.0.20, private 198.19.0.20"),
        "{up}"
    );

    // First apply converges all three hosts.
    let apply = deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]);
    let report = must(apply, "the first apply");
    assert!(
        report.contains("Apply:") && report.contains("0 failed"),
        "{report}"
    );

    // The load balancer spreads requests over both app hosts, through the private network.
    let site = Site::new("cluster.lab.test", "lb1", "198.18.0.20");
    both_app_hosts_answer(&site);
    let headers = site
        .curl(&["-D", "-", "-o", "/dev/null", "https://cluster.lab.test/"])
        .to_lowercase();
    for header in [
        "strict-transport-security: max-age=",
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
    assert_eq!(reach("198.18.0.20", 443), Some(true), "HTTPS on the lb");
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

    // State lives in Redis, not in a process: a session written through one
    // instance is read through another, on the other host.
    let session = "http://198.19.0.21:3000/session/lab-visitor";
    assert_eq!(
        from_private(&[
            "-X",
            "PUT",
            "--data",
            "cart=3",
            "-w",
            "%{http_code}",
            session
        ]),
        "204"
    );
    assert_eq!(
        get_from_private("http://198.19.0.22:3001/session/lab-visitor"),
        "cart=3"
    );
    // Redis listens on app1's loopback and private address only, and the
    // firewall keeps the public side out.
    assert_eq!(
        reach("198.18.0.21", 6379),
        None,
        "Redis from the public side"
    );
    let listening = on("app1", "ss -Hltn 'sport = 6379' | awk '{print $4}' | sort");
    assert_eq!(listening, "127.0.0.1:6379\n198.19.0.21:6379\n");
    let unauthenticated = on("app1", "redis-cli -h 198.19.0.21 ping 2>&1 || true");
    assert!(unauthenticated.contains("NOAUTH"), "{unauthenticated}");

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
    assert!(
        site.get("/").contains("hello from"),
        "the site still serves"
    );
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

    // A release whose health check fails: the first host rolls itself back,
    // the rollout stops there, and the site serves the old release throughout.
    write_spec("warn", "");
    let good = serving(&site.get("/")).to_string();
    edit_app(
        dir.path(),
        "res.writeHead(shuttingDown ? 503 : 200",
        "res.writeHead(500",
        "the example's health route moved",
    );
    assert_says(
        &deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        1,
        &[
            "app1: FAILED",
            "hello@3000.service did not answer /healthz",
            "rolled back to release",
            "app2: skipped after a failure elsewhere",
        ],
    );
    let answers: Vec<String> = (0..8).map(|_| site.get("/")).collect();
    assert!(answers.iter().all(|a| serving(a) == good), "{answers:?}");
    for host in ["app1", "app2"] {
        assert!(
            on(host, "readlink /srv/hello/current")
                .trim()
                .ends_with(&good),
            "{host} is back on {good}"
        );
    }
    // The failed release is marked, and a rollback never picks it.
    let listed = must(
        deployer(&["releases", "-f", spec_arg, "--lab", "--host", "app1"]),
        "releases",
    );
    assert!(listed.contains("failed its health check"), "{listed}");
    assert!(listed.contains(&format!("* {good}")), "{listed}");
    assert_says(
        &deployer(&["rollback", "-f", spec_arg, "--lab", "--yes"]),
        1,
        &[
            "app1: no earlier release to go back to",
            "nothing was rolled back on any host",
        ],
    );
    // Monitoring: an instance killed again and again makes systemd give up
    // (a `failed` alert) and the health timer alert (`unhealthy`); once it
    // is back, the timer says so (`recovered`). systemd's start limit (5
    // starts in 60 s) counts in a fixed window that opens at the first start
    // after the last window ran out, which may have been the rollout's restart
    // up to a minute ago: a fixed number of kills could straddle a window's
    // end and never reach the limit (seen on Debian 12, restart counter at
    // 7). So the host kills the instance until systemd gives up, at most 20
    // times (two windows' worth); `unhealthy` then takes `alert_after` (2)
    // failed checks of the health timer. Only alerts sent from here on
    // count: earlier checks may have alerted already. The restart below
    // brings a `recovered` alert only once the count of failed checks is
    // back at `alert_after`: the instance may have answered between kills
    // (a `recovered` then, the count reset) after its `unhealthy` alert.
    let alerted = |event: &str| webhook.count(event, "app2", "hello@3001.service");
    let failed_checks = || {
        on(
            "app2",
            "cat /var/lib/deployer/health/hello@3001.service 2>/dev/null || echo 0",
        )
        .trim()
        .parse::<u32>()
        .unwrap_or(0)
    };
    let (failed, unhealthy) = (alerted("failed"), alerted("unhealthy"));
    on(
        "app2",
        "for i in $(seq 20); do systemctl -q is-failed hello@3001.service && exit 0; \
         systemctl kill -s KILL hello@3001.service 2>/dev/null; sleep 2.5; done; \
         echo 'systemd never gave up on hello@3001.service'; exit 1",
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !(alerted("failed") > failed && alerted("unhealthy") > unhealthy && failed_checks() >= 2)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no failed and unhealthy alerts and 2 failed checks in a row in 60 s; the webhook got {:?}; app2's journal:\n{}",
            webhook.alerts(),
            on(
                "app2",
                "journalctl --no-pager -n 80 -o short-precise | grep -v sshd"
            )
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_says(
        &deployer(&["status", "-f", spec_arg, "--lab"]),
        1,
        &["app2\n", "hello@3001.service is failed"],
    );
    let recovered = alerted("recovered");
    on(
        "app2",
        "systemctl reset-failed hello@3001.service && systemctl start hello@3001.service",
    );
    wait_until(Duration::from_secs(30), "a recovered alert", || {
        alerted("recovered") > recovered
    });
    // All well again: `status` says so, per host, as JSON too.
    let status = must(
        deployer(&["status", "-f", spec_arg, "--lab", "--json"]),
        "status",
    );
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    for host in status.as_array().unwrap() {
        assert_eq!(host["problems"], serde_json::json!([]), "{host}");
        assert_eq!(host["firewall_loaded"], true, "{host}");
    }
    assert_eq!(status[1]["host"], "app1");
    assert_eq!(status[1]["release"], good.as_str());
    // A self-signed certificate lives 90 days.
    assert!((88..=90).contains(&status[0]["certificate"]["days_left"].as_i64().unwrap()));
    let logs = must(
        deployer(&[
            "logs", "-f", spec_arg, "--lab", "--host", "app1", "-n", "50",
        ]),
        "logs",
    );
    assert!(
        logs.contains("app1: ") && logs.contains("listening on 198.19.0.21:3000"),
        "{logs}"
    );
    let alert = webhook
        .alerts()
        .into_iter()
        .find(|a| a["event"] == "failed")
        .unwrap();
    assert_eq!(alert["app"], "hello");
    assert!(
        alert["log"]
            .to_string()
            .contains("Start request repeated too quickly"),
        "{alert}"
    );
}

/// The peer, on this machine's side, of a lab host's public interface.
fn public_link(host: &str) -> String {
    let peer = must(
        Command::new("ip")
            .args(["netns", "exec", &format!("dlab-{host}")])
            .args(["cat", "/sys/class/net/pub0/iflink"])
            .output()
            .unwrap(),
        "reading pub0's peer",
    );
    let links = must(
        Command::new("ip").args(["-o", "link"]).output().unwrap(),
        "ip link",
    );
    links
        .lines()
        .find_map(|line| {
            let (index, rest) = line.split_once(": ")?;
            (index == peer.trim()).then(|| rest.split(['@', ':']).next().unwrap().to_string())
        })
        .expect("pub0's peer is on this machine")
}

fn set_link(link: &str, state: &str) {
    must(
        Command::new("ip")
            .args(["link", "set", "dev", link, state])
            .output()
            .unwrap(),
        &format!("ip link set {link} {state}"),
    );
}

/// Starts an apply and takes the host's public link down as soon as the
/// converge starts installing packages, until the apply gives up. Returns
/// the apply's exit code and its progress lines.
fn apply_cut_midway(spec: &str, host: &str) -> (Option<i32>, String) {
    let link = public_link(host);
    let mut apply = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["apply", "-f", spec, "--lab", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    let mut cut = false;
    for line in BufReader::new(apply.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if !cut && line.starts_with(&format!("{host}: install ")) {
            set_link(&link, "down");
            cut = true;
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = apply.wait().unwrap();
    set_link(&link, "up");
    assert!(cut, "the apply never reached its package step:\n{log}");
    (status.code(), log)
}

/// `openssl x509 -noout -<what>` of the certificate web1 serves for `name`,
/// which must verify for that name against `root`.
fn served_certificate(root: &str, name: &str, what: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 198.18.0.10:443 -servername {name} -verify_return_error -verify_hostname {name} -CAfile {root} </dev/null 2>/dev/null | openssl x509 -noout -{what}"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the certificate served for {name}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// After a renewal on web1: the certificate served (its `serial`) is no
/// longer `first`, the host logged a second new certificate, and the host
/// is still converged.
fn renewed(spec: &str, serial: impl Fn() -> String, first: &str) {
    // nginx's reload is asynchronous: old workers finish what they hold.
    wait_until(Duration::from_secs(10), "the renewed certificate", || {
        serial() != first
    });
    let logged = on("web1", "journalctl -t deployer --no-pager -o cat");
    assert_eq!(
        logged
            .matches("ACME: a new certificate for hello.lab.test is live; nginx reloaded")
            .count(),
        2,
        "{logged}"
    );
    let plan = deployer(&["plan", "-f", spec, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

/// `tls.mode: acme` against a real ACME server: the host obtains a
/// certificate over HTTP-01 that chains to the server's root, nginx serves
/// it, a forced renewal replaces it and reloads nginx, and the host stays
/// converged.
#[test]
fn acme_certificates_are_obtained_served_and_renewed() {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    fs::write(&spec, hello_yaml(dir.path(), "")).unwrap();
    let spec_arg = spec.to_str().unwrap();
    let (_lab, _) = Lab::up(spec_arg);
    let pebble = Pebble::start();
    let yaml = hello_yaml(dir.path(), "").replace(
        "tls:\n  mode: self-signed\n",
        &format!(
            "tls:\n  mode: acme\n  email: ops@lab.test\n  acme_directory: {}\n  acme_ca: {}\n",
            Pebble::DIRECTORY,
            pebble.ca()
        ),
    );
    assert!(yaml.contains("mode: acme"), "{yaml}");
    fs::write(&spec, yaml).unwrap();
    must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the first apply",
    );
    let root = pebble.root();
    let served = |what: &str| served_certificate(&root, "hello.lab.test", what);
    let first = served("serial");
    let page = curl(&[
        "--cacert",
        &root,
        "--resolve",
        "hello.lab.test:443:198.18.0.10",
        "https://hello.lab.test/",
    ]);
    assert!(page.starts_with("hello from "), "{page}");
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));

    // The host renews by itself (its timer runs this), reloading nginx.
    on(
        "web1",
        "systemctl is-enabled deployer-acme.timer && dehydrated --cron --force --keep-going >/dev/null",
    );
    renewed(spec_arg, || served("serial"), &first);
    let status = must(deployer(&["status", "-f", spec_arg, "--lab"]), "status");
    assert!(status.contains("tls       expires"), "{status}");
}

/// `tls.dns` against a real ACME server: the host obtains a certificate for
/// the domain and a wildcard over DNS-01, through a DNS provider's API that
/// takes the credentials the spec names (from an env file on the operator's
/// side, root-only on the host, in no plan or output); nginx serves it for any name
/// under the wildcard; the renewal unit replaces it and reloads nginx; the
/// host stays converged.
#[test]
fn dns_01_certificates_cover_a_wildcard_and_are_renewed_by_the_host() {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    fs::write(&spec, hello_yaml(dir.path(), "")).unwrap();
    let spec_arg = spec.to_str().unwrap();
    let (_lab, _) = Lab::up(spec_arg);
    let pebble = Pebble::start();
    let password = "dns-api-password-7f3a";
    let api = DnsApi::start("lab", password);
    fs::write(
        dir.path().join("dns.env"),
        format!(
            "HTTPREQ_ENDPOINT={}\nHTTPREQ_USERNAME=lab\nHTTPREQ_PASSWORD={password}\n",
            DnsApi::ENDPOINT
        ),
    )
    .unwrap();
    let credentials: String = ["HTTPREQ_ENDPOINT", "HTTPREQ_USERNAME", "HTTPREQ_PASSWORD"]
        .iter()
        .map(|name| format!("      - name: {name}\n        file: dns.env\n"))
        .collect();
    let yaml = hello_yaml(dir.path(), "").replace(
        "tls:\n  mode: self-signed\n",
        &format!(
            "aliases: [\"*.hello.lab.test\"]\ntls:\n  mode: acme\n  email: ops@lab.test\n  acme_directory: {}\n  acme_ca: {}\n  dns:\n    provider: httpreq\n    credentials:\n{credentials}    resolvers: [{}]\n    propagation_check: false\n",
            Pebble::DIRECTORY,
            pebble.ca(),
            DnsApi::RESOLVER,
        ),
    );
    assert!(yaml.contains("provider: httpreq"), "{yaml}");
    fs::write(&spec, yaml).unwrap();
    let applied = must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the first apply",
    );
    assert!(!applied.contains(password), "{applied}");
    let requests = api.requests();
    assert!(
        requests.iter().all(|(_, _, allowed)| *allowed)
            && requests
                .iter()
                .filter(|(path, name, _)| path == "/present"
                    && name == "_acme-challenge.hello.lab.test.")
                .count()
                == 2,
        "the API saw: {requests:?}"
    );
    let stored = on(
        "web1",
        "stat -c '%a %U' /etc/deployer/acme-dns /etc/deployer/acme-dns/HTTPREQ_PASSWORD && cat /etc/deployer/acme-dns/HTTPREQ_PASSWORD",
    );
    assert_eq!(
        stored.trim(),
        format!("700 root\n600 root\n{password}"),
        "{stored}"
    );

    let root = pebble.root();
    let served = |name: &str, what: &str| served_certificate(&root, name, what);
    let names = served("shop.hello.lab.test", "ext subjectAltName");
    assert!(
        names.contains("DNS:hello.lab.test") && names.contains("DNS:*.hello.lab.test"),
        "{names}"
    );
    let first = served("hello.lab.test", "serial");
    let page = curl(&[
        "--cacert",
        &root,
        "--resolve",
        "shop.hello.lab.test:443:198.18.0.10",
        "https://shop.hello.lab.test/",
    ]);
    assert!(page.starts_with("hello from "), "{page}");
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(!text(&plan).contains(password), "{}", text(&plan));

    // The host's renewal unit, as its timer starts it, once the certificate
    // is due (here: its names no longer match those recorded).
    on(
        "web1",
        "systemctl is-enabled deployer-acme.timer && rm /etc/nginx/tls/hello/acme.names && systemctl start deployer-acme.service",
    );
    renewed(spec_arg, || served("hello.lab.test", "serial"), &first);
}

/// One GitHub Actions runner, as a workflow's steps see it: its own home
/// and temporary directory, `$GITHUB_OUTPUT`, and the directories steps add
/// to PATH through `$GITHUB_PATH`. deployer comes only from its Install step.
struct Runner {
    dir: TempDir,
    spec: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Runner {
    fn new(spec: &Path, env: &[(&'static str, String)]) -> Runner {
        let dir = TempDir::new().unwrap();
        fs::create_dir(dir.path().join("temp")).unwrap();
        Runner {
            dir,
            spec: spec.to_path_buf(),
            env: env.to_vec(),
        }
    }

    fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// A step's `run`, as the runner's bash runs it, from the checkout.
    fn run(&self, script: &str) -> std::process::Output {
        // Later lines of $GITHUB_PATH come first, before the system's PATH.
        let added = fs::read_to_string(self.file("github_path")).unwrap_or_default();
        let mut path: Vec<&str> = added.lines().rev().collect();
        let system = std::env::var("PATH").unwrap();
        path.push(&system);
        Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(self.spec.parent().unwrap())
            .env("PATH", path.join(":"))
            .env("HOME", self.dir.path())
            .env("RUNNER_TEMP", self.file("temp"))
            .env("GITHUB_PATH", self.file("github_path"))
            .env("GITHUB_OUTPUT", self.file("github_output"))
            .env("DEPLOYER_FILE", &self.spec)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    /// What the steps so far wrote to `$GITHUB_OUTPUT`; cleared.
    fn outputs(&self) -> String {
        let outputs = fs::read_to_string(self.file("github_output")).unwrap_or_default();
        let _ = fs::remove_file(self.file("github_output"));
        outputs
    }
}

/// The GitHub Actions workflow in docs/ci/, its steps run as written
/// (bash -eo pipefail, `$GITHUB_OUTPUT`, `$GITHUB_PATH`) on two emulated
/// runners against the lab: deployer installed from the static binary
/// `dist/build` makes, served by the lab and checked against its
/// SHA256SUMS line (a wrong one installs nothing); a plan that reports
/// changes, an apply, a plan that reports none.
#[test]
fn ci_workflow_installs_plans_applies_and_plans_again() {
    let artifacts = common::dist::artifacts();
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    fs::write(&spec, hello_yaml(dir.path(), "")).unwrap();
    let (_lab, _) = Lab::up(spec.to_str().unwrap());
    let _served = common::standins::http_server(&artifacts.dir, 8096);
    let workflow = fs::read_to_string(Path::new(ROOT).join("docs/ci/github-actions.yml")).unwrap();
    let (_, typed) = deployer::yaml::load::<serde_json::Value>(&workflow).unwrap();
    let workflow = typed.value.expect("the workflow is YAML");
    let step = |job: &str, name: &str| -> String {
        workflow["jobs"][job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["run"].as_str())
            .unwrap_or_else(|| panic!("no step {name} in job {job}"))
            .to_string()
    };
    let url = format!("http://198.18.0.1:8096/{}", artifacts.binary);
    let env = |sha256: &str| {
        [
            ("DEPLOYER_LAB", "true".to_string()),
            ("DEPLOYER_URL", url.clone()),
            ("DEPLOYER_SHA256", sha256.to_string()),
        ]
    };

    let unset = Runner::new(&spec, &[("DEPLOYER_URL", String::new())]);
    let refused = unset.run(&step("plan", "Install deployer"));
    assert!(
        !refused.status.success()
            && text(&refused).contains("set DEPLOYER_URL and DEPLOYER_SHA256"),
        "{}",
        text(&refused)
    );

    let tampered = Runner::new(&spec, &env(&"0".repeat(64)));
    let refused = tampered.run(&step("plan", "Install deployer"));
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("WARNING: 1 computed checksum did NOT match"),
        "{}",
        text(&refused)
    );
    assert!(
        !tampered.file(".local/bin/deployer").exists(),
        "a binary whose checksum differs is not installed"
    );

    let planner = Runner::new(&spec, &env(&artifacts.binary_sha256));
    let install = must(
        planner.run(&step("plan", "Install deployer")),
        "the Install step",
    );
    assert!(install.contains("x86_64-unknown-linux-musl"), "{install}");
    let which = must(planner.run("command -v deployer"), "deployer on the PATH");
    assert_eq!(
        which.trim(),
        planner.file(".local/bin/deployer").to_str().unwrap()
    );
    let plan = step("plan", "Plan");
    must(planner.run(&plan), "the Plan step");
    assert_eq!(planner.outputs(), "changes=true\n");
    assert!(dir.path().join("plan.json").exists(), "the plan artifact");

    let applier = Runner::new(&spec, &env(&artifacts.binary_sha256));
    must(
        applier.run(&step("apply", "Install deployer")),
        "the Install step",
    );
    must(applier.run(&step("apply", "Apply")), "the Apply step");

    must(planner.run(&plan), "the Plan step again");
    assert_eq!(planner.outputs(), "changes=false\n");
}

/// Copies the local `file` to `path` on a lab host, with `mode`, through
/// the lab's SSH.
fn put(host: &str, file: &Path, path: &str, mode: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["lab", "ssh", host, "--"])
        .arg(format!(
            "install -d \"$(dirname {path})\" && cat > {path} && chmod {mode} {path}"
        ))
        .stdin(fs::File::open(file).unwrap())
        .output()
        .unwrap();
    must(out, &format!("copying {} to {host}:{path}", file.display()));
}

/// The artifacts `dist/build` makes, on a bare lab host (no Rust; its
/// shared libraries hidden, so nothing but the binary itself runs): the
/// static binary validates a spec and plans another lab host over SSH;
/// the .deb installs with apt and puts the binary, its man page and its
/// completions in their places, and leaves with it.
#[test]
fn the_static_binary_and_the_debian_package_work_on_a_bare_host() {
    let artifacts = common::dist::artifacts();
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    let two_hosts = hello_yaml(dir.path(), "") + "  - name: web2\n    address: 198.18.0.11\n";
    fs::write(&spec, &two_hosts).unwrap();
    let (_lab, _) = Lab::up(spec.to_str().unwrap());

    // web1 plays the operator's machine: the binary, the spec and the app,
    // the key and the known hosts in root's ~/.ssh.
    put(
        "web1",
        &artifacts.path(&artifacts.binary),
        "/opt/bin/deployer",
        "0755",
    );
    let remote_spec = two_hosts.replace(dir.path().join("app").to_str().unwrap(), "app");
    fs::write(dir.path().join("remote.yaml"), remote_spec).unwrap();
    put(
        "web1",
        &dir.path().join("remote.yaml"),
        "/root/work/deployer.yaml",
        "0644",
    );
    for name in common::HELLO_APP {
        put(
            "web1",
            &dir.path().join("app").join(name),
            &format!("/root/work/app/{name}"),
            "0644",
        );
    }
    put(
        "web1",
        &deployer::lab::key(),
        "/root/.ssh/id_ed25519",
        "0600",
    );
    put(
        "web1",
        &deployer::lab::known_hosts(),
        "/root/.ssh/known_hosts",
        "0644",
    );
    assert!(on("web1", "command -v cargo rustc || echo none").contains("none"));
    // A private mount namespace with every shared library hidden: any
    // dynamically linked program fails to start there.
    let bare = |command: &str| {
        on(
            "web1",
            &format!(
                "cd /root/work && unshare --mount --propagation private sh -euc \
                 'mount -t tmpfs bare /usr/lib/x86_64-linux-gnu; {command}' 2>&1"
            ),
        )
    };
    assert!(
        bare("/usr/bin/ls / || echo dynamic programs fail").contains("dynamic programs fail"),
        "the libraries are hidden"
    );
    let valid = bare("/opt/bin/deployer validate");
    assert!(
        valid.contains("deployer.yaml is valid: app `hello` on 2 host(s)"),
        "{valid}"
    );
    let plan = bare("/opt/bin/deployer plan --host web2");
    assert!(plan.contains("web2"), "{plan}");
    assert!(!plan.contains("web1"), "only web2 is planned:\n{plan}");
    assert!(
        plan.contains("/etc/nginx/nginx.conf"),
        "a bare host has all to do:\n{plan}"
    );

    the_package_installs_and_leaves("web1", artifacts);
}

/// The .deb, on `host`: installed with apt, the same version as the static
/// binary, its man page and completions in their places; removed with apt.
fn the_package_installs_and_leaves(host: &str, artifacts: &common::dist::Artifacts) {
    put(
        host,
        &artifacts.path(&artifacts.deb),
        "/root/deployer.deb",
        "0644",
    );
    on(
        host,
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /root/deployer.deb",
    );
    let version = on(host, "deployer --version");
    let built = must(
        Command::new(artifacts.path(&artifacts.binary))
            .arg("--version")
            .output()
            .unwrap(),
        "the static binary's version",
    );
    assert_eq!(version, built);
    assert!(version.contains("(commit "), "{version}");
    let man = on(host, "deployer man");
    assert!(man.contains(".TH deployer 1"), "{man}");
    assert_eq!(on(host, "zcat /usr/share/man/man1/deployer.1.gz"), man);
    for file in [
        "/usr/share/bash-completion/completions/deployer",
        "/usr/share/zsh/vendor-completions/_deployer",
        "/usr/share/fish/vendor_completions.d/deployer.fish",
    ] {
        assert!(
            on(host, &format!("cat {file}")).contains("deployer"),
            "{file}"
        );
    }
    on(
        host,
        "DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq deployer",
    );
    assert_eq!(
        on(
            host,
            "ls /usr/bin/deployer /usr/share/man/man1/deployer.1.gz 2>/dev/null || true"
        ),
        ""
    );
}

/// The .deb on Debian 12, as on Debian 13 above.
#[test]
fn the_debian_package_installs_on_debian_12() {
    let artifacts = common::dist::artifacts();
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    fs::write(&spec, hello_yaml(dir.path(), "")).unwrap();
    let (_lab, _) = Lab::up_on(spec.to_str().unwrap(), "debian-12");
    assert_eq!(
        on("web1", ". /etc/os-release && echo $VERSION_CODENAME").trim(),
        "bookworm"
    );
    the_package_installs_and_leaves("web1", artifacts);
}

/// A stand-in for a change that passes every check yet shuts out new SSH
/// connections: whenever FILE holds MARKER, the host does BREAK; once it no
/// longer does, MEND. Installed on a lab host as a systemd path unit.
fn sabotage(host: &str, name: &str, file: &str, marker: &str, break_it: &str, mend: &str) {
    on(
        host,
        &format!(
            r#"cat >/usr/local/sbin/sabotage-{name} <<'SCRIPT'
#!/bin/sh
if grep -q '{marker}' '{file}'; then {break_it}; else {mend}; fi
SCRIPT
chmod 0755 /usr/local/sbin/sabotage-{name}
printf '[Path]\nPathChanged={file}\n' >/etc/systemd/system/sabotage-{name}.path
printf '[Service]\nType=oneshot\nExecStart=/usr/local/sbin/sabotage-{name}\n' >/etc/systemd/system/sabotage-{name}.service
systemctl daemon-reload
systemctl start sabotage-{name}.path"#
        ),
    );
}

/// The lockout guard: a spec that shuts the operator out is refused before
/// anything changes; a firewall or sshd change that breaks new connections
/// anyway is put back by the host itself; a good one is confirmed.
#[test]
fn firewall_and_sshd_changes_cannot_lock_the_operator_out() {
    lockout_guard("debian-13");
}

/// The same on Debian 12, whose sshd and nftables are older.
#[test]
fn firewall_and_sshd_changes_cannot_lock_the_operator_out_on_debian_12() {
    lockout_guard("debian-12");
}

fn lockout_guard(os: &str) {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    let good = hello_yaml(dir.path(), "") + "firewall:\n  confirm_within: 10s\n";
    fs::write(&spec, &good).unwrap();
    let spec_arg = spec.to_str().unwrap();
    let (_lab, _) = Lab::up_on(spec_arg, os);

    // SSH sources that leave out this machine: refused, nothing applied.
    fs::write(
        &spec,
        good.replace(
            "hosts:\n",
            "network:\n  ssh_from: [203.0.113.0/24]\n\nhosts:\n",
        ),
    )
    .unwrap();
    let refusal = "web1: network.ssh_from (203.0.113.0/24) leaves out 198.18.0.1, the address this SSH connection comes from";
    assert_says(&deployer(&["plan", "-f", spec_arg, "--lab"]), 1, &[refusal]);
    assert_says(
        &deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        1,
        &[refusal],
    );
    assert_eq!(
        on(
            "web1",
            "test -e /etc/deployer && echo changed || echo untouched"
        ),
        "untouched\n"
    );

    // A good first apply is confirmed by a new connection: nothing left
    // armed. (-vv: timed progress lines; what the host's tools said to
    // stderr would follow them, and this converge has them say nothing.)
    fs::write(&spec, &good).unwrap();
    let applied = deployer(&["apply", "-f", spec_arg, "--lab", "--yes", "-vv"]);
    assert_says(
        &applied,
        0,
        &[
            "web1: applied",
            "web1: [",
            "] confirm with a new SSH connection",
        ],
    );
    assert_eq!(
        on(
            "web1",
            "systemctl is-active deployer-lockout-guard.timer || true; test -e /var/lib/deployer/guard || echo disarmed"
        ),
        "inactive\ndisarmed\n"
    );

    // A ruleset that passes the checks but drops new SSH connections.
    sabotage(
        "web1",
        "firewall",
        "/etc/deployer/firewall.d/hello.nft",
        "dport 9999",
        "nft add table inet sabotage && nft add chain inet sabotage input '{ type filter hook input priority -10; }' && nft add rule inet sabotage input tcp dport 22 ct state new drop",
        "nft delete table inet sabotage 2>/dev/null || true",
    );
    // An sshd setting that passes `sshd -t` but turns this machine's key away.
    sabotage(
        "web1",
        "sshd",
        "/etc/ssh/sshd_config.d/00-deployer.conf",
        "AllowUsers root admin",
        "echo 'DenyUsers root' >/etc/ssh/sshd_config.d/99-sabotage.conf",
        "rm -f /etc/ssh/sshd_config.d/99-sabotage.conf",
    );
    let before = on(
        "web1",
        "sha256sum /etc/deployer/firewall.nft /etc/deployer/firewall.d/hello.nft /etc/ssh/sshd_config.d/00-deployer.conf",
    );
    let breaking = [
        good.replace(
            "firewall:\n",
            "firewall:\n  open:\n    - port: 9999\n      from: [192.0.2.0/24]\n",
        ),
        good.replace("hosts:\n", "ssh:\n  allow_users: [root, admin]\n\nhosts:\n"),
    ];
    for (yaml, cause) in breaking
        .iter()
        .zip(["connection timed out", "refused every key"])
    {
        fs::write(&spec, yaml).unwrap();
        assert_says(
            &deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
            1,
            &[
                "web1: after the firewall/sshd change, a new SSH connection failed",
                cause,
                "the host put the previous firewall and sshd settings back by itself and accepts new connections again",
            ],
        );
        assert_eq!(
            on(
                "web1",
                "sha256sum /etc/deployer/firewall.nft /etc/deployer/firewall.d/hello.nft /etc/ssh/sshd_config.d/00-deployer.conf"
            ),
            before,
            "the previous files are back"
        );
        let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
        assert_eq!(plan.status.code(), Some(2), "still to do: {}", text(&plan));
    }
    let logged = on("web1", "journalctl -t deployer --no-pager -o cat");
    assert_eq!(
        logged
            .matches("lockout guard: no new SSH connection confirmed")
            .count(),
        2,
        "{logged}"
    );

    // The good spec again: nothing to do.
    fs::write(&spec, &good).unwrap();
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));

    // A database someone bound to every address: the plan points it out.
    on(
        "web1",
        "systemd-run --quiet --unit=stray-db node -e \"require('net').createServer().listen(5432, '0.0.0.0')\" && sleep 1",
    );
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_says(
        &plan,
        0,
        &[
            // The process as `ss` names it: `node` or, from Node.js 24 on,
            // its main thread's name.
            "! exposed: *:5432/tcp (",
            ") is not in the spec: the firewall keeps it from outside clients; bind it to loopback or the private address",
        ],
    );
    // Named: the facts asked `ss` for processes, which a host listening
    // only where the spec expects is spared.
    assert!(!text(&plan).contains("unknown process"), "{}", text(&plan));
    let json = must(
        deployer(&["plan", "-f", spec_arg, "--lab", "--json"]),
        "plan --json",
    );
    assert!(json.contains(r#""exposed": ["#), "{json}");
}

#[test]
fn hello_serves_https_survives_a_dropped_connection_and_a_reboot() {
    hello_end_to_end("debian-13", "    http2 on;\n");
}

/// The same on Debian 12, whose nginx 1.22 takes http2 on `listen`.
#[test]
fn hello_serves_https_survives_a_dropped_connection_and_a_reboot_on_debian_12() {
    hello_end_to_end("debian-12", " ssl http2;\n");
}

/// examples/hello on `os`, its nginx configured with `http2`, the line of
/// the site that only this host's nginx takes without a warning.
fn hello_end_to_end(os: &str, http2: &str) {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    // The build makes temporary files, as bundlers do: it runs as the
    // app's user, who cannot write root's temporary directory (which
    // libpam-tmpdir names in TMPDIR, TMP, TEMP and TEMPDIR).
    let yaml = hello_yaml(
        dir.path(),
        "  build: npm ci --omit=dev && mktemp && node -e 'fs.mkdtempSync(os.tmpdir() + \"/build-\")'\n",
    );
    // Node.js from the official tarballs, through a mirror of this test's
    // that can also lie about them.
    let yaml = yaml.replace(
        "    version: 24\n",
        &format!("    version: 20\n    mirror: {}\n", NodeMirror::URL),
    );
    fs::write(&spec, yaml).unwrap();
    let spec_arg = spec.to_str().unwrap();
    let (_lab, _) = Lab::up_on(spec_arg, os);
    let mirror = NodeMirror::serve();

    // The connection drops while the host installs packages: the apply fails
    // cleanly; the host finishes (or fails) on its own and frees its lock.
    let (code, log) = apply_cut_midway(spec_arg, "web1");
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("web1: FAILED"), "{log}");
    wait_until(
        Duration::from_secs(600),
        "the detached converge ends",
        || {
            deployer(&[
                "lab",
                "ssh",
                "web1",
                "--",
                "test -s /var/lib/deployer/apply/status",
            ])
            .status
            .success()
        },
    );
    // The rerun converges, and the one after finds nothing to do.
    must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the rerun after the drop",
    );
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(
        text(&plan).contains("warning: runtime.node.version: Node.js 20 reached its end of life"),
        "{}",
        text(&plan)
    );
    let installed = mirror
        .line
        .split_once("  ")
        .unwrap()
        .1
        .trim_end_matches(".tar.xz");
    assert_eq!(on("web1", "readlink /opt/nodejs/current").trim(), installed);
    assert_eq!(
        on(
            "web1",
            "runuser -u hello -- node --version && npm --version >/dev/null && echo npm"
        )
        .trim(),
        format!("{}\nnpm", installed.split('-').nth(1).unwrap())
    );
    // A download that does not match SHASUMS256.txt is refused and leaves
    // the runtime as it was; the honest mirror repairs it.
    on("web1", "rm /opt/nodejs/current");
    mirror.publish(false);
    assert_says(
        &deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        1,
        &["does not match its SHA-256"],
    );
    assert_eq!(
        on("web1", "ls /opt/nodejs").trim(),
        installed,
        "nothing unpacked"
    );
    mirror.publish(true);
    must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the apply with an honest mirror",
    );
    assert_eq!(on("web1", "readlink /opt/nodejs/current").trim(), installed);

    // HTTPS answers by name with the host's certificate; HTTP redirects to it.
    let site = Site::new("hello.lab.test", "web1", "198.18.0.10");
    assert!(site.get("/").contains("hello from"), "HTTPS serves the app");
    let checked = on("web1", "nginx -t 2>&1");
    assert!(
        checked.contains("test is successful") && !checked.contains("[warn]"),
        "{checked}"
    );
    assert!(
        on("web1", "cat /etc/nginx/deployer/hello.conf").contains(http2),
        "this nginx's http2 syntax"
    );
    assert_eq!(
        site.plain_http(),
        "301 https://hello.lab.test/some/path?q=1"
    );
    // Every instance answers through nginx: one per core of the host.
    let cores: u16 = on("web1", "nproc").trim().parse().unwrap();
    let answers: Vec<String> = (0..6 * cores).map(|_| site.get("/")).collect();
    for port in 3000..3000 + cores {
        assert!(
            answers.iter().any(|a| a.contains(&format!("port {port} "))),
            "instance {port} never answered: {answers:?}"
        );
    }
    assert_eq!(
        reach("198.18.0.10", 3000),
        None,
        "the app port is dropped from the public side"
    );

    // A reboot brings everything back: units enabled, firewall loaded, site up.
    on("web1", "touch /run/before-reboot");
    let _ = deployer(&["lab", "ssh", "web1", "--", "systemctl reboot"]);
    wait_until(Duration::from_secs(120), "web1 comes back", || {
        deployer(&["lab", "ssh", "web1", "--", "test ! -e /run/before-reboot"])
            .status
            .success()
    });
    wait_until(Duration::from_secs(60), "HTTPS after the reboot", || {
        site.get("/").contains("hello from")
    });
    let units = format!(
        "nginx deployer-firewall hello-jobs@1 {}",
        (3000..3000 + cores)
            .map(|p| format!("hello@{p}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(
        on("web1", &format!("systemctl is-active {units} | sort -u")).trim(),
        "active"
    );
    assert!(on("web1", "nft list tables").contains("inet deployer"));

    // A changed source is a new release, rolled out instance by instance.
    let v1 = serving(&site.get("/")).to_string();
    assert_eq!(v1.len(), 12, "a release id: {v1}");
    let server = dir.path().join("app/server.js");
    fs::write(
        &server,
        fs::read_to_string(&server).unwrap() + "// release 2\n",
    )
    .unwrap();
    let rolled = must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the second release",
    );
    assert!(rolled.contains("web1: applied 1 to create"), "{rolled}");
    let answers: Vec<String> = (0..4 * cores).map(|_| site.get("/")).collect();
    let v2 = serving(&answers[0]).to_string();
    assert!(v2 != v1 && v2.len() == 12, "{answers:?}");
    assert!(answers.iter().all(|a| serving(a) == v2), "{answers:?}");
    assert_eq!(
        on("web1", "ls /srv/hello/releases | sort")
            .split_whitespace()
            .count(),
        2,
        "both releases kept"
    );
    assert_eq!(
        reach("198.18.0.10", 3000),
        None,
        "the firewall is back before anyone checks"
    );

    // Rollback goes to the release live before, instance by instance, and back again by id.
    let releases = |expected_current: &str| {
        let listed: serde_json::Value = serde_json::from_str(&must(
            deployer(&["releases", "-f", spec_arg, "--lab", "--json"]),
            "releases",
        ))
        .unwrap();
        let kept = listed[0]["releases"].as_array().unwrap().clone();
        let current: Vec<&str> = kept
            .iter()
            .filter(|r| r["current"] == true)
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(current, [expected_current], "{listed}");
        assert_eq!(kept.len(), 2, "{listed}");
    };
    releases(&v2);
    let back = must(
        deployer(&["rollback", "-f", spec_arg, "--lab", "--yes"]),
        "rollback",
    );
    assert!(back.contains(&format!("current: {v2} -> {v1}")), "{back}");
    let answers: Vec<String> = (0..4 * cores).map(|_| site.get("/")).collect();
    assert!(answers.iter().all(|a| serving(a) == v1), "{answers:?}");
    releases(&v1);
    let listed = must(deployer(&["releases", "-f", spec_arg, "--lab"]), "releases");
    assert!(listed.contains(&format!("* {v1}")), "{listed}");
    let drifted = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(
        drifted.status.code(),
        Some(2),
        "the source is ahead: {}",
        text(&drifted)
    );
    let forward: serde_json::Value = serde_json::from_str(&must(
        deployer(&[
            "rollback",
            "-f",
            spec_arg,
            "--lab",
            "--yes",
            "--json",
            "--to",
            &v2[..6],
        ]),
        "rollback --to",
    ))
    .unwrap();
    assert_eq!(forward[0]["result"], "switched", "{forward}");
    assert_eq!(forward[0]["from"], v1.as_str(), "{forward}");
    assert!(serving(&site.get("/")) == v2);
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));

    the_auditors_pass("web1", &site, &["hello@3000", "hello-jobs@1"]);
}

/// The external auditors, run against converged `host` as an operator
/// would run them: ssh-audit and sslyze from outside, gixy-ng on the host's
/// nginx configuration and `systemd-analyze security` on the host.
/// `app_units` are the app's and workers' (≤ 1.0 each); nginx and every
/// unit deployer wrote score ≤ 5.0. lynis, on the host, scores ≥ 80.
fn the_auditors_pass(host: &str, site: &Site, app_units: &[&str]) {
    // ssh-audit: no failure, no warning. The connection-rate test is left
    // out: the firewall throttles new SSH connections on purpose.
    let audit = Command::new(common::auditor("bin/ssh-audit"))
        .args(["--skip-rate-test", site.address])
        .output()
        .unwrap();
    assert!(audit.status.success(), "ssh-audit:\n{}", text(&audit));

    // sslyze: Mozilla's intermediate configuration, all but trust (the
    // certificate is self-signed: no public CA vouches for it).
    let target = format!("{}{{{}}}", site.domain, site.address);
    let scan = Command::new(common::auditor("bin/sslyze"))
        .args(["--mozilla_config=intermediate", &target])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&scan.stdout);
    let verdict = said
        .split("COMPLIANCE AGAINST")
        .nth(1)
        .unwrap_or_else(|| panic!("sslyze:\n{}", text(&scan)));
    let problems: Vec<&str> = verdict
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("* "))
        .collect();
    assert!(
        verdict.contains(&format!("{}:443: FAILED - Not compliant", site.domain))
            && problems.len() == 1
            && problems[0].starts_with("* certificate_path_validation:"),
        "sslyze:\n{said}"
    );

    // gixy-ng reads the host's /etc/nginx where nginx reads it.
    let copy = TempDir::new().unwrap();
    let tarball = copy.path().join("nginx.tar");
    let fetched = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["lab", "ssh", host, "--", "tar -C /etc -cf - nginx"])
        .stdout(fs::File::create(&tarball).unwrap())
        .status()
        .unwrap();
    assert!(fetched.success(), "fetching /etc/nginx from {host}");
    let gixy = common::in_namespaces(&format!(
        "mkdir {dir}/etc && tar -C {dir}/etc -xf {tarball}
         mount -t overlay overlay -o lowerdir={dir}/etc:/etc /etc
         {gixy} -f json /etc/nginx/nginx.conf",
        dir = copy.path().display(),
        tarball = tarball.display(),
        gixy = common::auditor("bin/gixy").display(),
    ));
    let findings: serde_json::Value = serde_json::from_slice(&gixy.stdout)
        .unwrap_or_else(|_| panic!("gixy said:\n{}", text(&gixy)));
    assert_eq!(findings, serde_json::json!([]), "gixy on {host}");

    // systemd-analyze security, on the host.
    let exposure = |unit: &str| -> f64 {
        let said = on(host, &format!("systemd-analyze security --no-pager {unit}"));
        said.lines()
            .find_map(|l| l.strip_prefix("→ Overall exposure level for "))
            .and_then(|l| l.split(": ").nth(1))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{unit}: {said}"))
    };
    for unit in app_units {
        let score = exposure(unit);
        assert!(score <= 1.0, "{unit} scores {score}");
    }
    let written = on(
        host,
        "cd /etc/systemd/system && grep -l '^# Managed by deployer' *.service",
    );
    let written: Vec<&str> = written.split_whitespace().collect();
    assert!(written.len() >= 4, "deployer's units: {written:?}");
    for unit in written.iter().chain(&["nginx.service"]) {
        let unit = unit.replace("@.service", "@audit.service");
        let score = exposure(&unit);
        assert!(score <= 5.0, "{unit} scores {score}");
    }

    lynis_scores_at_least_80(host);
}

/// lynis, run on `host` from a copy of the pinned package, scores ≥ 80.
/// A lab host shares this machine's kernel, so the kernel-wide settings
/// (every one of lynis' sysctl keys but `net.*`, which each network
/// namespace has its own of) are this machine's, not the host's: lynis
/// skips them, and each that the host has must be set to lynis' value by
/// deployer's sysctl file, which a VM applies at boot. Except
/// `kernel.modules_disabled`, which deployer leaves alone on purpose: it
/// would keep nftables and WireGuard from loading their modules.
fn lynis_scores_at_least_80(host: &str) {
    const LEFT_ALONE: &[&str] = &["kernel.modules_disabled"];
    let kit = common::auditor("lynis");
    let profile = fs::read_to_string(kit.join("default.prf")).unwrap();
    let kernel_wide: Vec<(&str, &str)> = profile
        .lines()
        .filter_map(|l| l.strip_prefix("config-data=sysctl;"))
        .filter_map(|l| {
            let mut fields = l.split(';');
            Some((fields.next()?, fields.next()?))
        })
        .filter(|(key, _)| !key.starts_with("net."))
        .collect();
    assert!(kernel_wide.len() > 10, "lynis' profile: {kernel_wide:?}");
    let skips: String = kernel_wide
        .iter()
        .map(|(key, _)| format!("skip-test=KRNL-6000:{key}\n"))
        .collect();
    let keys: Vec<&str> = kernel_wide.iter().map(|(key, _)| *key).collect();

    let mut tarball = Command::new("tar")
        .args(["-C", kit.to_str().unwrap(), "-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let copied = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args([
            "lab",
            "ssh",
            host,
            "--",
            "rm -rf /var/tmp/lynis && mkdir /var/tmp/lynis && tar -C /var/tmp/lynis -xf - \
             && chown -R root:root /var/tmp/lynis",
        ])
        .stdin(tarball.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(
        tarball.wait().unwrap().success(),
        "tar of {}",
        kit.display()
    );
    assert!(copied.status.success(), "copying lynis: {}", text(&copied));

    let settings = on(
        host,
        &format!(
            "for key in {}; do ! sysctl -n $key >/dev/null 2>&1 || echo $key; done",
            keys.join(" ")
        ),
    );
    let file = on(host, "cat /etc/sysctl.d/60-deployer-hardening.conf");
    for key in settings.lines().filter(|key| !LEFT_ALONE.contains(key)) {
        let wanted = kernel_wide.iter().find(|(k, _)| *k == key).unwrap().1;
        let set = file
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("deployer's sysctl file does not set {key}:\n{file}"));
        assert!(
            wanted.split('|').any(|w| w == set),
            "deployer sets {key} = {set}, lynis wants {wanted}"
        );
    }

    let report = on(
        host,
        &format!(
            "rm -f /var/log/lynis-report.dat && cd /var/tmp/lynis \
             && printf '{skips}' >custom.prf \
             && {{ ./lynis audit system --quick --no-colors >/dev/null 2>&1 || true; }} \
             && cat /var/log/lynis-report.dat"
        ),
    );
    let index: u32 = report
        .lines()
        .find_map(|l| l.strip_prefix("hardening_index="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("lynis on {host}:\n{report}"));
    let advice: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("suggestion[]=") || l.starts_with("warning[]="))
        .collect();
    eprintln!("lynis on {host}: hardening index {index}");
    assert!(
        index >= 80,
        "lynis on {host}: {index}\n{}",
        advice.join("\n")
    );
}

/// pm2 mode: the pinned pm2 keeps the cluster; secrets reach its workers and
/// nothing else; a release goes live with `pm2 reload` (pm2 itself keeps
/// running), a failing one is rolled back, and `rollback` goes back further.
#[test]
fn pm2_reloads_releases_and_secrets_rolls_back_and_rotates_its_logs() {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    let session_file = dir.path().join("session-secret");
    let env_file = dir.path().join("prod.env");
    fs::write(&session_file, "session-s3cret-one\n").unwrap();
    fs::write(&env_file, "API_TOKEN='token s3cret from a file'\n").unwrap();
    let secrets = format!(
        "  process_manager: pm2\n  secrets:\n    - name: SESSION_SECRET\n      command: cat {}\n    - name: API_TOKEN\n      file: {}\n",
        session_file.display(),
        env_file.display()
    );
    let yaml = hello_yaml(dir.path(), &secrets).replace("  instances: max\n", "  instances: 2\n");
    fs::write(&spec, yaml).unwrap();
    let spec_arg = spec.to_str().unwrap();
    let (_lab, _) = Lab::up(spec_arg);
    let mut shown = vec![must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the first apply",
    )];
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let pm2 = |what: &str| {
        on(
            "web1",
            &format!("runuser -u hello -- env PM2_HOME=/var/lib/deployer-hello/pm2 pm2 {what}"),
        )
    };
    let list: serde_json::Value = serde_json::from_str(&pm2("jlist")).unwrap();
    let online = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == name && p["pm2_env"]["status"] == "online")
            .count()
    };
    assert_eq!(online("hello"), 2, "{list}");
    assert_eq!(online("hello-jobs"), 1, "{list}");
    assert!(pm2("--version").trim().starts_with("7."));
    let site = Site::new("hello.lab.test", "web1", "198.18.0.10");
    let v1 = serving(&site.get("/")).to_string();
    assert_eq!(v1.len(), 12, "{}", site.get("/"));
    let pm2_pid = || on("web1", "systemctl show -p MainPID --value hello-pm2");

    // The secrets reach every web worker from a root-only file...
    let workers_see = || {
        let list: serde_json::Value = serde_json::from_str(&pm2("jlist")).unwrap();
        let pids: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "hello")
            .map(|p| p["pid"].to_string())
            .collect();
        assert_eq!(pids.len(), 2, "{list}");
        on(
            "web1",
            &format!(
                "for pid in {}; do tr '\\0' '\\n' </proc/$pid/environ | grep -E '^(SESSION_SECRET|API_TOKEN)='; done | sort -u",
                pids.join(" ")
            ),
        )
    };
    assert_eq!(
        workers_see(),
        "API_TOKEN=token s3cret from a file\nSESSION_SECRET=session-s3cret-one\n"
    );
    assert_eq!(
        on("web1", "stat -c '%a %U:%G' /etc/deployer/hello/secrets.env"),
        "600 root:root\n"
    );
    // ...and a new value is a secret change in the plan, live after a
    // restart (pm2 reloads keep the environment pm2 started with).
    fs::write(&session_file, "session-s3cret-two\n").unwrap();
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_says(
        &plan,
        2,
        &["/etc/deployer/hello/secrets.env", "(secret changed)"],
    );
    shown.push(text(&plan));
    shown.push(text(&deployer(&[
        "plan", "-f", spec_arg, "--lab", "--json",
    ])));
    shown.push(must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the secret's rotation",
    ));
    assert_eq!(
        workers_see(),
        "API_TOKEN=token s3cret from a file\nSESSION_SECRET=session-s3cret-two\n"
    );
    let before = pm2_pid();
    // Nowhere else: not in what deployer printed, the logs, the process
    // list, or any file but the secrets file.
    let values = ["session-s3cret-one", "session-s3cret-two", "token s3cret"];
    for (output, value) in shown.iter().flat_map(|o| values.map(|v| (o, v))) {
        assert!(!output.contains(value), "{value} shown:\n{output}");
    }
    let found = on(
        "web1",
        // `[t]`: the patterns do not match this script's own command line.
        "for value in 'session-s3cre[t]' 'token.s3cre[t]'; do journalctl --no-pager -o cat | grep -c \"$value\" || true; \
         ps -eo args | grep -c \"$value\" || true; \
         grep -rlE \"$value\" /etc /var/lib /var/log /tmp /srv || true; done",
    );
    assert_eq!(
        found,
        "0\n0\n/etc/deployer/hello/secrets.env\n0\n0\n/etc/deployer/hello/secrets.env\n"
    );

    // v2 goes live by reload: new workers, same pm2.
    let server = dir.path().join("app/server.js");
    let source = fs::read_to_string(&server).unwrap();
    fs::write(&server, source.clone() + "// release 2\n").unwrap();
    let rolled = must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the second release",
    );
    assert!(rolled.contains("web1: applied"), "{rolled}");
    let v2 = serving(&site.get("/")).to_string();
    assert!(v2 != v1 && v2.len() == 12);
    assert!((0..8).all(|_| serving(&site.get("/")) == v2));
    assert_eq!(pm2_pid(), before, "reloaded, not restarted");

    // v3 fails its health check: switched back to v2 and reloaded.
    fs::write(
        &server,
        source.replace(
            "res.writeHead(shuttingDown ? 503 : 200",
            "res.writeHead(500",
        ),
    )
    .unwrap();
    assert_says(
        &deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        1,
        &[&format!("rolled back to release {v2}")],
    );
    assert!((0..8).all(|_| serving(&site.get("/")) == v2));

    // rollback skips the failed v3 and goes to v1.
    must(
        deployer(&["rollback", "-f", spec_arg, "--lab", "--yes"]),
        "rollback",
    );
    assert!((0..8).all(|_| serving(&site.get("/")) == v1));
    assert_eq!(pm2_pid(), before, "a rollback reloads too");

    // pm2's log files are rotated by logrotate, as the app's user.
    let rotated = on(
        "web1",
        "logrotate -d /etc/logrotate.d/deployer-hello-pm2 2>&1",
    );
    assert!(
        rotated.contains("considering log /var/lib/deployer-hello/pm2/logs/hello-out.log"),
        "{rotated}"
    );
    assert!(!rotated.contains("error:"), "{rotated}");
}

/// `runtime.node.source: nodesource` against a signed repository on this
/// machine: a key without the pinned fingerprint and a repository signed by
/// another key are both refused with nothing added to apt, whose updates
/// keep working; the honest repository's Node.js (with its npm, Debian's
/// npm absent) runs the app, pinned to that repository, and stays converged.
#[test]
fn nodesource_installs_node_only_from_a_repository_it_verified() {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    let spec_arg = spec.to_str().unwrap();
    let hello = hello_yaml(dir.path(), "");
    fs::write(&spec, &hello).unwrap();
    let (_lab, _) = Lab::up(spec_arg);
    let repo = AptRepo::serve();
    let major = repo.version.split('.').next().unwrap().to_string();
    let use_repository = |path: &str, fingerprint: &str| {
        let yaml = hello.replace(
            "    version: 24\n",
            &format!(
                "    source: nodesource\n    version: {major}\n    repository: {}{path}\n    key_fingerprint: {fingerprint}\n",
                AptRepo::URL
            ),
        );
        fs::write(&spec, yaml).unwrap();
    };
    let apply = || deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]);
    let nothing_added = |when: &str| {
        assert_eq!(
            on(
                "web1",
                "find /etc/apt/sources.list.d /etc/apt/preferences.d -name '*nodesource*'; apt-get update -qq && echo apt works"
            )
            .trim(),
            "apt works",
            "{when}: no NodeSource source or pin, and apt updates"
        );
    };

    // The key served is not the one pinned.
    let wrong = "0123456789ABCDEF0123456789ABCDEF01234567";
    use_repository("", wrong);
    assert_says(
        &apply(),
        1,
        &[&format!(
            "has the fingerprint {}, not the pinned {wrong}",
            repo.fingerprint
        )],
    );
    nothing_added("a key with another fingerprint");
    assert_eq!(
        on(
            "web1",
            "find /etc/apt/keyrings -name 'nodesource*' 2>/dev/null || true"
        )
        .trim(),
        "",
        "no key kept"
    );

    // The key is the pinned one, but another key signed the repository.
    use_repository("/forged", &repo.fingerprint);
    assert_says(
        &apply(),
        1,
        &[
            &repo.other_fingerprint[24..],
            &format!("or verify it with the key {}", repo.fingerprint),
            "apt was not told to trust the key",
        ],
    );
    nothing_added("a repository signed by another key");

    // The honest repository.
    use_repository("", &repo.fingerprint.to_lowercase());
    must(apply(), "the apply from the honest repository");
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    if major == "20" {
        assert!(
            text(&plan)
                .contains("warning: runtime.node.version: Node.js 20 reached its end of life"),
            "{}",
            text(&plan)
        );
    }
    let site = Site::new("hello.lab.test", "web1", "198.18.0.10");
    assert!(site.get("/").contains("hello from"), "HTTPS serves the app");
    let node = repo.version.split('-').next().unwrap();
    assert_eq!(
        on(
            "web1",
            "runuser -u hello -- node --version && command -v node npm"
        )
        .trim(),
        format!("v{node}\n/usr/bin/node\n/usr/bin/npm")
    );
    let policy = on("web1", "apt-cache policy nodejs");
    assert!(
        policy.contains(&format!("Installed: {}", repo.version))
            && policy.contains(&format!(
                " {} 600\n        500 {}/node_{major}.x nodistro/main amd64 Packages",
                repo.version,
                AptRepo::URL
            )),
        "installed from the lab repository, pinned: {policy}"
    );
    let npm = on(
        "web1",
        "dpkg-query -W -f='${db:Status-Abbrev}' npm 2>/dev/null || true",
    );
    assert!(
        !npm.starts_with("ii"),
        "Debian's npm is not installed: {npm}"
    );

    // apt's policy turns against a key it trusted (Debian 13's sqv refuses
    // SHA-1 bindings since 2026-02-01): a host still holding the key so
    // bound is noticed without the network. While the repository serves it
    // so, the apply fails saying why and what to do; once NodeSource
    // re-signs it, the key is fetched again and the host converges.
    let ring = format!("/etc/apt/keyrings/nodesource-{}.gpg", repo.fingerprint);
    repo.publish_key("SHA1");
    on(
        "web1",
        &format!(
            "curl -fsS {}/gpgkey/nodesource-repo.gpg.key | gpg --dearmor >{ring}.new && mv {ring}.new {ring}",
            AptRepo::URL
        ),
    );
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(
        text(&plan).contains(&format!(
            "trust NodeSource's signing key {}",
            repo.fingerprint
        )),
        "{}",
        text(&plan)
    );
    assert_says(
        &apply(),
        1,
        &[
            "is not bound",
            "has to be re-signed by NodeSource; until then set runtime.node.source: official",
        ],
    );
    repo.publish_key("SHA512");
    must(apply(), "the apply once the key is re-signed");
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert_eq!(
        on("web1", "apt-get update -qq && node --version").trim(),
        format!("v{node}"),
        "apt updates from NodeSource again"
    );

    // A pin that no longer matches the key served fails, and changes nothing.
    use_repository("", wrong);
    assert_says(&apply(), 1, &["not the pinned"]);
    assert_eq!(
        on("web1", "apt-get update -qq && node --version").trim(),
        format!("v{node}"),
        "apt still updates, Node.js still runs"
    );
}

/// A real systemd reads what deployer quotes for it: each argument of a
/// unit's command line (`dialect::systemd`) and each value of an
/// environment file (`dialect::env`) comes back exactly as given.
#[test]
fn systemd_reads_quoted_commands_and_environment_files_as_written() {
    use base64::Engine as _;
    let (_lab, _) = Lab::up("examples/hello/deployer.yaml");
    let values = [
        "plain",
        "a b",
        "it's",
        "\"quoted\"",
        "back\\slash\\",
        "100%",
        "%n%i",
        "$HOME",
        "${X}",
        "a;b|c&d",
        "`id`",
        "tab\there",
        "ünïcødé ✓",
        "=",
        "-x",
        "",
    ];
    let mut script = String::from("for a; do printf '[%s]\\n' \"$a\"; done");
    for i in 0..values.len() {
        script.push_str(&format!("; printf '<%s>\\n' \"$V{i}\""));
    }
    let mut command = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        script,
        "sh".to_string(),
    ];
    command.extend(values.iter().map(|v| v.to_string()));
    let exec_start: Vec<String> = command
        .iter()
        .map(|w| deployer::dialect::systemd::word(w))
        .collect();
    let unit = format!(
        "[Service]\nType=oneshot\nEnvironmentFile=/run/round-trip.env\nStandardOutput=file:/run/round-trip.out\nExecStart={}\n",
        exec_start.join(" ")
    );
    let env: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("V{i}={}\n", deployer::dialect::env::value(v).unwrap()))
        .collect();
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let answer = on(
        "web1",
        &format!(
            "echo {unit} | base64 -d >/run/systemd/system/round-trip.service && echo {env} | base64 -d >/run/round-trip.env && systemctl daemon-reload && systemctl start round-trip.service && cat /run/round-trip.out",
            unit = b64(&unit),
            env = b64(&env),
        ),
    );
    let mut expected: String = values.iter().map(|v| format!("[{v}]\n")).collect();
    expected.extend(values.iter().map(|v| format!("<{v}>\n")));
    assert_eq!(answer, expected, "the unit:\n{unit}\nthe env file:\n{env}");
}

/// On a server that already runs things, deployer takes over no unit and
/// no account it did not make: the plan refuses, naming the host and what
/// is in the way, and changes nothing.
#[test]
fn a_plan_refuses_units_and_accounts_deployer_did_not_make() {
    let (_lab, _) = Lab::up("examples/hello/deployer.yaml");
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    fs::write(&spec, hello_yaml(dir.path(), "")).unwrap();
    let spec = spec.to_str().unwrap();
    let plan = || deployer(&["plan", "-f", spec, "--lab"]);
    for (setup, said, undo) in [
        (
            "printf '[Service]\\nExecStart=/bin/true\\n' >/etc/systemd/system/hello@.service",
            "web1: /etc/systemd/system/hello@.service exists and was not written by deployer",
            "rm /etc/systemd/system/hello@.service",
        ),
        (
            "printf '[Service]\\nExecStart=/bin/true\\n' >/usr/lib/systemd/system/hello-jobs@.service",
            "web1: /etc/systemd/system/hello-jobs@.service is the unit /usr/lib/systemd/system/hello-jobs@.service too, which deployer did not write",
            "rm /usr/lib/systemd/system/hello-jobs@.service",
        ),
        (
            "useradd --create-home hello",
            "web1: the account `hello` exists and was not made by deployer (its home is /home/hello",
            "userdel --remove hello",
        ),
        (
            "groupadd hello",
            "web1: a group `hello` exists that deployer did not make",
            "groupdel hello",
        ),
    ] {
        on("web1", setup);
        assert_says(&plan(), 1, &[said]);
        on("web1", undo);
    }
    let clean = plan();
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
}

/// Requests sent to `site`'s home page while `during` runs, one at a time
/// (at most 3000, for at most ten minutes): what `during` returned, how
/// many answered 200, and what else came back.
fn under_requests<T>(site: &Site, during: impl FnOnce() -> T) -> (T, usize, Vec<String>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            let (mut ok, mut failures) = (0, Vec::new());
            while !stop.load(Ordering::Relaxed)
                && std::time::Instant::now() < deadline
                && ok + failures.len() < 3000
            {
                // A failure says when and why (curl's error), for the log.
                let status = site.curl(&[
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code} after %{time_total} s %{errormsg}",
                    &format!("https://{}/", site.domain),
                ]);
                if status.starts_with("200 ") {
                    ok += 1;
                } else {
                    let at = std::time::UNIX_EPOCH.elapsed().unwrap().as_secs_f64();
                    failures.push(format!("at {at:.3} (Unix time): {status}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (ok, failures)
        });
        let outcome = during();
        stop.store(true, Ordering::Relaxed);
        let (ok, failures) = client.join().expect("the client");
        (outcome, ok, failures)
    })
}

/// The app's and deployer's units on a host (loaded or not, the app's
/// running; the health check's own come and go on its timer), the paths
/// deployer writes to, and its manifest: what a host converged from a spec
/// must look like, however it got there.
fn footprint(host: &str) -> String {
    on(
        host,
        "systemctl list-units --all --plain --no-legend --no-pager 'hello*' 'deployer*' | awk '{print $1, $2}' | grep -v '^deployer-lockout-guard'
         systemctl list-units --state=active --plain --no-legend --no-pager 'hello*' | awk '{print $1}'
         systemctl list-unit-files --no-legend --no-pager 'hello*' 'deployer*' | awk '{print $1, $2}'
         find /etc/systemd/system /etc/deployer /etc/nginx/deployer /etc/nginx/tls /etc/nginx/snippets /usr/local/lib/deployer /usr/local/bin /opt /etc/logrotate.d -name '*deployer*' -o -path '*hello*' -o -path '/opt/*' -o -path '/usr/local/bin/*' | sort
         cat /var/lib/deployer/owned/hello",
    )
}

/// Asserts that web1's plan for `spec` says each of `wanted`.
fn plan_says(spec: &str, wanted: &[&str]) {
    let plan = must(
        deployer(&["plan", "-f", spec, "--lab", "--host", "web1"]),
        "the plan",
    );
    for line in wanted {
        assert!(plan.contains(line), "no `{line}` in:\n{plan}");
    }
}

/// What leaves the spec leaves the host: fewer instances and a worker
/// gone (the site answering every request meanwhile), pm2 and back, each
/// converging to what a fresh host converged from the same spec has; then
/// `destroy` takes the app off, keeping its data and a hand-made file, and
/// a plan shows the whole install again; `--purge` takes the data too.
#[test]
fn what_leaves_the_spec_leaves_the_host_and_destroy_takes_the_app_off() {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    let base = hello_yaml(dir.path(), "") + "  - name: web2\n    address: 198.18.0.11\n";
    let two = base.replace("instances: max", "instances: 2");
    let one = two.replace("instances: 2", "instances: 1").replace(
        "  workers:\n    - name: jobs\n      start: node worker.js\n",
        "",
    );
    assert_ne!(one, two, "the worker is gone");
    let pm2 = one.replace(
        "  start: node server.js\n",
        "  start: node server.js\n  process_manager: pm2\n",
    );
    let spec_arg = spec.to_str().unwrap();
    let apply = |yaml: &str, host: &str| {
        fs::write(&spec, yaml).unwrap();
        must(
            deployer(&["apply", "-f", spec_arg, "--lab", "--yes", "--host", host]),
            &format!("apply on {host}"),
        )
    };
    fs::write(&spec, &two).unwrap();
    let (_lab, _) = Lab::up(spec_arg);
    apply(&two, "web1");
    let site = Site::new("hello.lab.test", "web1", "198.18.0.10");
    assert!(serving(&site.get("/")).len() > 1, "{}", site.get("/"));
    assert!(
        on(
            "web1",
            "systemctl is-active hello@3001.service hello-jobs@1.service"
        )
        .contains("active")
    );

    // Two instances to one, the worker gone: planned with reasons, applied
    // while requests keep coming.
    fs::write(&spec, &one).unwrap();
    plan_says(
        spec_arg,
        &[
            "- service hello@3001.service (no longer in the spec: app.instances gives 1 instance on this host, stop and disable)",
            "- service hello-jobs@1.service (no longer in the spec: worker `jobs` is not in app.workers, stop and disable)",
            "- file /etc/systemd/system/hello-jobs@.service (no longer in the spec: worker `jobs` is not in app.workers)",
        ],
    );
    let (_, answered, failed) = under_requests(&site, || apply(&one, "web1"));
    assert!(answered > 20, "only {answered} requests went through");
    assert_eq!(failed, Vec::<String>::new(), "{answered} answered");
    assert_eq!(
        on(
            "web1",
            "systemctl is-active hello@3001.service hello-jobs@1.service || true"
        ),
        "inactive\ninactive\n"
    );
    assert!(!on("web1", "cat /etc/nginx/deployer/hello.conf").contains(":3001"));
    assert_eq!(
        on(
            "web1",
            "ls /etc/systemd/system/hello-jobs@.service 2>&1 || true"
        )
        .trim(),
        "ls: cannot access '/etc/systemd/system/hello-jobs@.service': No such file or directory"
    );

    // To pm2 and back: each step converges, the other manager's pieces go.
    apply(&pm2, "web1");
    assert_eq!(
        on("web1", "systemctl is-active hello-pm2.service").trim(),
        "active"
    );
    assert_eq!(
        on("web1", "systemctl is-active hello@3000.service || true").trim(),
        "inactive"
    );
    assert!(
        site.get("/").starts_with("hello from "),
        "{}",
        site.get("/")
    );
    apply(&one, "web1");
    assert_eq!(
        on("web1", "systemctl is-active hello-pm2.service || true").trim(),
        "inactive"
    );
    assert_eq!(
        on(
            "web1",
            "find /opt /usr/local/bin -mindepth 1 -maxdepth 1 | sort; ls /etc/deployer/hello"
        ),
        "/opt/nodejs\n/usr/local/bin/node\n/usr/local/bin/npm\n/usr/local/bin/npx\napp.env\n",
        "pm2, its links and its ecosystem are gone; Node.js stays"
    );
    assert!(
        site.get("/").starts_with("hello from "),
        "{}",
        site.get("/")
    );
    let plan = deployer(&[
        "plan",
        "-f",
        spec_arg,
        "--lab",
        "--host",
        "web1",
        "--detailed-exitcode",
    ]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));

    // web1 went the long way; web2 is converged from the same spec at once.
    apply(&one, "web2");
    assert_eq!(footprint("web1"), footprint("web2"));

    // destroy: the app leaves; its data, the packages and a hand-made
    // file stay; Debian's nginx.conf comes back.
    on("web1", "echo '# mine' >/etc/nginx/deployer/mine.conf");
    let destroyed = must(
        deployer(&[
            "destroy", "-f", spec_arg, "--lab", "--yes", "--host", "web1",
        ]),
        "destroy",
    );
    assert!(
        destroyed.contains("kept: dir /srv/hello (data: `deployer destroy --purge` removes it)"),
        "{destroyed}"
    );
    assert!(destroyed.contains("kept: packages "), "{destroyed}");
    assert!(destroyed.contains("- file /etc/nginx/nginx.conf (deployer destroy, the file that was there before deployer comes back)"), "{destroyed}");
    assert_eq!(on("web1", "cat /etc/nginx/deployer/mine.conf"), "# mine\n");
    assert!(!on("web1", "cat /etc/nginx/nginx.conf").contains("Managed by deployer"));
    assert_eq!(
        on(
            "web1",
            "{ systemctl list-units --plain --no-legend 'hello*' 'deployer-*'; systemctl list-unit-files --no-legend 'hello*' 'deployer-*'; } | grep -v lockout-guard || true"
        ),
        ""
    );
    assert_eq!(
        on(
            "web1",
            "nft list table inet deployer >/dev/null 2>&1 || echo gone"
        )
        .trim(),
        "gone"
    );
    assert_eq!(
        on(
            "web1",
            "ls -A /etc/ssh/sshd_config.d; test -e /etc/deployer || echo gone"
        ),
        "gone\n"
    );
    assert_eq!(
        on("web1", "ls /srv/hello").trim(),
        "current\nreleases\nshared"
    );
    assert!(on("web1", "systemctl is-active nginx.service").contains("active"));
    // web2 is untouched.
    assert_eq!(
        on("web2", "systemctl is-active hello@3000.service").trim(),
        "active"
    );

    // A plan now shows the whole install again.
    plan_says(
        spec_arg,
        &[
            "+ file /etc/systemd/system/hello@.service",
            "+ file /etc/nginx/deployer/hello.conf",
            "~ file /etc/nginx/nginx.conf",
            "> service hello@3000.service",
        ],
    );

    // --purge: the data and the app's account go as well.
    let purged = must(
        deployer(&[
            "destroy", "-f", spec_arg, "--lab", "--yes", "--host", "web1", "--purge",
        ]),
        "destroy --purge",
    );
    assert!(
        purged.contains("- dir /srv/hello (deployer destroy, with everything in it)"),
        "{purged}"
    );
    assert_eq!(
        on("web1", "ls /srv; getent passwd hello || echo no user").trim(),
        "no user"
    );
    // All deployer still remembers: its directory that holds the hand-made file.
    assert_eq!(
        on("web1", "cut -f1,2 /var/lib/deployer/owned/hello"),
        "dir\t/etc/nginx/deployer\n"
    );
}

/// What a host ran before deployer, set up as an operator or Docker would:
/// a blog in nginx's sites-enabled, and a "container" (a network namespace
/// with its own nginx) whose port 80 is published on 8080 by a DNAT rule,
/// with masquerading for its way out.
const ALREADY_THERE: &str = r#"set -e
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq nginx nftables >/dev/null
mkdir -p /srv/blog /srv/ctr
echo 'the blog' >/srv/blog/index.html
cat >/etc/nginx/sites-available/blog <<'END'
server {
    listen 80;
    listen [::]:80;
    server_name blog.lab.test;
    root /srv/blog;
}
END
ln -sf ../sites-available/blog /etc/nginx/sites-enabled/blog
systemctl reload nginx
ip netns add ctr
ip link add ctr0 type veth peer name eth0 netns ctr
ip addr add 172.17.0.1/24 dev ctr0
ip link set ctr0 up
ip -n ctr addr add 172.17.0.2/24 dev eth0
ip -n ctr link set eth0 up
ip -n ctr link set lo up
ip -n ctr route add default via 172.17.0.1
nft -f - <<'END'
table ip dockerish {
    chain prerouting {
        type nat hook prerouting priority dstnat;
        tcp dport 8080 dnat to 172.17.0.2:80
    }
    chain postrouting {
        type nat hook postrouting priority srcnat;
        ip saddr 172.17.0.0/24 oif != "ctr0" masquerade
    }
}
END
echo 'the container' >/srv/ctr/index.html
cat >/srv/ctr/nginx.conf <<'END'
pid /run/ctr-nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    server { listen 80; root /srv/ctr; }
}
END
systemd-run --quiet --unit=ctr-web -p NetworkNamespacePath=/run/netns/ctr nginx -c /srv/ctr/nginx.conf -g 'daemon off;'
"#;

/// A host that already serves a site and forwards a published port to a
/// container keeps both, and the container's way out, once deployer's apply
/// converged it; an active ufw, or a site claiming the default server,
/// stops the plan with what to do.
#[test]
fn a_host_that_already_runs_things_keeps_them() {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    fs::write(&spec, hello_yaml(dir.path(), "")).unwrap();
    let spec_arg = spec.to_str().unwrap();
    let (_lab, _) = Lab::up(spec_arg);
    // The lab host's /proc/sys is read-only inside: routing is switched on
    // from its namespace, as a container runtime's host would have it.
    must(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                "dlab-web1",
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .output()
            .unwrap(),
        "ip_forward",
    );
    on("web1", ALREADY_THERE);
    let outside = TempDir::new().unwrap();
    fs::write(outside.path().join("egress.txt"), "out and back\n").unwrap();
    let port = common::sshd::free_port();
    let _server = common::standins::http_server(outside.path(), port);
    let blog = || curl(&["-H", "Host: blog.lab.test", "http://198.18.0.10/"]);
    let container = || curl(&["http://198.18.0.10:8080/"]);
    let egress = || {
        on(
            "web1",
            &format!(
                "ip netns exec ctr bash -c 'exec 3<>/dev/tcp/198.18.0.1/{port}; printf \"GET /egress.txt HTTP/1.0\\r\\n\\r\\n\" >&3; timeout 5 cat <&3' | tail -n 1"
            ),
        )
    };
    let all_there = || {
        wait_until(Duration::from_secs(10), "the blog answers", || {
            blog() == "the blog\n"
        });
        assert_eq!(container(), "the container\n", "the published port");
        assert_eq!(egress(), "out and back\n", "the container's way out");
    };
    all_there();

    // Another firewall manager, Debian's nftables service enabled with its
    // `flush ruleset`, or a site deployer's could not sit beside, stops the
    // plan, saying what to do.
    on(
        "web1",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ufw >/dev/null && ufw allow 22/tcp >/dev/null && ufw --force enable && systemctl enable -q nftables.service",
    );
    on(
        "web1",
        "sed -i 's/listen 80;/listen 80 default_server;/' /etc/nginx/sites-available/blog",
    );
    assert_says(
        &deployer(&["plan", "-f", spec_arg, "--lab"]),
        1,
        &[
            "web1: ufw is active",
            "(`ufw disable`)",
            "web1: nftables.service is active",
            "(`systemctl disable nftables`;",
            "web1: the nginx site /etc/nginx/sites-enabled/blog claims `default_server`",
            "nginx.other_sites: ignore",
        ],
    );
    on(
        "web1",
        "ufw --force disable && systemctl disable -q nftables.service && sed -i 's/listen 80 default_server;/listen 80;/' /etc/nginx/sites-available/blog && systemctl reload nginx",
    );

    plan_says(
        spec_arg,
        &[
            "= found: nginx site /etc/nginx/sites-enabled/blog: kept, served beside the app's site",
            "= found: nftables table ip dockerish: kept; deployer's table filters only what reaches this host's own sockets, not what it forwards",
            "+    include \"/etc/nginx/sites-enabled/blo[g]\";",
        ],
    );
    must(
        deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]),
        "the apply",
    );
    all_there();
    let site = Site::new("hello.lab.test", "web1", "198.18.0.10");
    assert!(site.get("/").starts_with("hello from"), "{}", site.get("/"));
    assert_eq!(reach("198.18.0.10", 3000), None, "the app port is dropped");
    assert!(on("web1", "nft list tables").contains("table ip dockerish"));
    let plan = deployer(&["plan", "-f", spec_arg, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

/// A second app, from a spec of its own, for web1: a copy of the example
/// app named `name` on `port`, answering `domain`, alerting to the lab's
/// webhook.
fn second_app_yaml(dir: &Path, name: &str, port: u16, domain: &str) -> String {
    format!(
        "app:\n  name: {name}\n  source: {}\n  start: node server.js\n  port: {port}\n  instances: 1\n  health:\n    path: /healthz\n\
         runtime:\n  node:\n    source: distro\ndomain: {domain}\ntls:\n  mode: self-signed\n\
         monitoring:\n  webhook: {}\nhosts:\n  - name: web1\n    address: 198.18.0.10\n",
        app_copy(dir),
        Webhook::URL
    )
}

/// Two apps from two specs share web1 through one nginx, each on its own
/// name, each alerted about its own units (and both about nginx); a third
/// spec wanting a name and a port already taken is refused; destroying
/// one leaves the other serving and converged.
#[test]
fn two_apps_share_a_host_and_one_leaves_without_the_other_noticing() {
    let dir = TempDir::new().unwrap();
    let hello = dir.path().join("hello.yaml");
    let notes = dir.path().join("notes.yaml");
    let clash = dir.path().join("clash.yaml");
    let hello_dir = dir.path().join("hello");
    let notes_dir = dir.path().join("notes");
    let clash_dir = dir.path().join("clash");
    for d in [&hello_dir, &notes_dir, &clash_dir] {
        fs::create_dir(d).unwrap();
    }
    // Both on Debian's Node.js (20 on trixie), which one host shares.
    fs::write(
        &hello,
        hello_yaml(&hello_dir, "")
            .replace("    version: 24\n", "    source: distro\n")
            .replace(
                "\nhosts:\n",
                &format!("\nmonitoring:\n  webhook: {}\nhosts:\n", Webhook::URL),
            ),
    )
    .unwrap();
    fs::write(
        &notes,
        second_app_yaml(&notes_dir, "notes", 4000, "notes.lab.test"),
    )
    .unwrap();
    fs::write(
        &clash,
        second_app_yaml(&clash_dir, "clash", 3000, "hello.lab.test"),
    )
    .unwrap();
    let [hello, notes, clash] = [&hello, &notes, &clash].map(|p| p.to_str().unwrap().to_string());
    let (_lab, _) = Lab::up(&hello);
    let webhook = Webhook::listen();
    let converged = |spec: &str| {
        let plan = deployer(&["plan", "-f", spec, "--lab", "--detailed-exitcode"]);
        assert_eq!(plan.status.code(), Some(0), "{spec}: {}", text(&plan));
    };

    must(
        deployer(&["apply", "-f", &hello, "--lab", "--yes"]),
        "hello",
    );
    assert!(on("web1", "node --version").starts_with("v20."));
    let planned = must(deployer(&["plan", "-f", &notes, "--lab"]), "notes' plan");
    assert!(
        planned.contains("= found: app `hello`: deployed here too, from another spec"),
        "{planned}"
    );
    must(
        deployer(&["apply", "-f", &notes, "--lab", "--yes"]),
        "notes",
    );
    converged(&hello);
    converged(&notes);
    let hello_site = Site::new("hello.lab.test", "web1", "198.18.0.10");
    let notes_site = Site::of_app("notes", "notes.lab.test", "web1", "198.18.0.10");
    assert!(
        hello_site.get("/").starts_with("hello from"),
        "{}",
        hello_site.get("/")
    );
    assert!(
        notes_site.get("/").contains(" port 4000 "),
        "{}",
        notes_site.get("/")
    );
    assert_eq!(
        on(
            "web1",
            "ls /etc/deployer/firewall.d /etc/nginx/deployer | sort | grep -v '^$' | grep -v ':$'"
        )
        .trim(),
        "hello.conf\nhello.nft\nnotes.conf\nnotes.nft"
    );

    // Each app hears about its own units; both about the host's.
    on(
        "web1",
        "/usr/local/lib/deployer/alert failed notes@4000.service 'a test' && /usr/local/lib/deployer/alert failed nginx.service 'a test'",
    );
    wait_until(Duration::from_secs(10), "three alerts", || {
        webhook.alerts().len() >= 3
    });
    let mut heard: Vec<String> = webhook
        .alerts()
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["app"].as_str().unwrap(),
                a["unit"].as_str().unwrap()
            )
        })
        .collect();
    heard.sort();
    assert_eq!(
        heard,
        [
            "hello nginx.service",
            "notes nginx.service",
            "notes notes@4000.service"
        ]
    );

    // A third app wanting hello's name and port is refused, naming both.
    assert_says(
        &deployer(&["plan", "-f", &clash, "--lab"]),
        1,
        &[
            "web1: app `clash` cannot share this host with app `hello`: the name hello.lab.test is app `hello`'s on this host already",
            "web1: app `clash` cannot share this host with app `hello`: port tcp/3000 is taken by app `hello` on this host",
        ],
    );

    // notes leaves; hello neither changes nor stops answering.
    let before = started("web1", "hello@3000.service nginx.service");
    let (_, answered, failed) = under_requests(&hello_site, || {
        must(
            deployer(&["destroy", "-f", &notes, "--lab", "--yes"]),
            "destroy notes",
        )
    });
    assert!(answered > 5, "only {answered} requests went through");
    assert_eq!(failed, Vec::<String>::new());
    assert_eq!(
        started("web1", "hello@3000.service nginx.service"),
        before,
        "nothing of hello's restarted"
    );
    assert_eq!(notes_site.get("/"), "", "notes is gone");
    assert!(hello_site.get("/").starts_with("hello from"));
    assert_eq!(
        on("web1", "ls /etc/deployer/firewall.d /etc/nginx/deployer /var/lib/deployer/claims | sort | grep -v '^$' | grep -v ':$'").trim(),
        "hello.conf\nhello.json\nhello.nft"
    );
    assert!(
        on(
            "web1",
            "systemctl list-units --all --plain --no-legend 'notes*'"
        )
        .trim()
        .is_empty()
    );
    converged(&hello);
}

/// Behind an edge (issue: CDN and cloud load balancers): a lab host `cdn1`
/// plays the proxies in front of web1, with Debian's nginx: over HTTP, it
/// passes on as X-Forwarded-For the address a test header names (the
/// client it would have seen); on 443 it forwards TCP with the PROXY
/// protocol. web1's site then sees the client the edge names, and only
/// the edge can name one; rate limits count per real client; with
/// `edge.only` nobody reaches web1 around the edge; and taking `edge` out
/// of the spec opens 80/443 to all again.
#[test]
fn behind_an_edge_the_site_sees_the_real_client_and_only_the_edge_gets_in() {
    let dir = TempDir::new().unwrap();
    let hello = hello_yaml(dir.path(), "");
    // The test app says what nginx told it about the client.
    edit_app(
        dir.path(),
        "  if (req.url === '/healthz') {",
        "  if (req.url === '/whoami') {\n    res.writeHead(200, { 'content-type': 'text/plain' });\n    res.end(`${req.headers['x-real-ip']} ${req.headers['x-forwarded-for']}\\n`);\n    return;\n  }\n  if (req.url === '/healthz') {",
        "the example's request handler moved",
    );
    let write_spec = |edge: &str| {
        let spec = dir.path().join("deployer.yaml");
        fs::write(&spec, format!("{hello}{edge}")).unwrap();
        spec.to_str().unwrap().to_string()
    };
    // The lab boots the edge beside web1; the app's spec never names it.
    let lab_spec = dir.path().join("lab.yaml");
    fs::write(
        &lab_spec,
        format!("{hello}  - name: cdn1\n    address: 198.18.0.30\n    roles: [worker]\n"),
    )
    .unwrap();
    let (_lab, _) = Lab::up(lab_spec.to_str().unwrap());
    on(
        "cdn1",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-stream curl >/dev/null",
    );
    on(
        "cdn1",
        r#"cat >/etc/nginx/nginx.conf <<'CONF'
include /etc/nginx/modules-enabled/*.conf;
events {}
http {
    server {
        listen 80;
        location / {
            proxy_pass https://198.18.0.10;
            proxy_ssl_server_name on;
            proxy_ssl_name hello.lab.test;
            proxy_set_header Host hello.lab.test;
            proxy_set_header X-Forwarded-For $http_x_test_client;
        }
    }
}
stream {
    server {
        listen 443;
        proxy_pass 198.18.0.10:443;
        proxy_protocol on;
    }
}
CONF
nginx -t -q && systemctl restart nginx"#,
    );
    let through_edge = |client: &str| {
        curl(&[
            "-H",
            &format!("X-Test-Client: {client}"),
            "http://198.18.0.30/whoami",
        ])
    };
    let last_logged = || {
        on("web1", "tail -1 /var/log/nginx/access.log")
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string()
    };

    // X-Forwarded-For from the edge.
    let spec = write_spec("edge:\n  trusted: [198.18.0.30/32]\n");
    must(deployer(&["apply", "-f", &spec, "--lab", "--yes"]), "apply");
    let site = Site::new("hello.lab.test", "web1", "198.18.0.10");
    assert_eq!(through_edge("203.0.113.7"), "203.0.113.7 203.0.113.7\n");
    assert_eq!(last_logged(), "203.0.113.7");
    // Anyone else's header is not believed.
    assert_eq!(
        site.curl(&[
            "-H",
            "X-Forwarded-For: 203.0.113.66",
            "https://hello.lab.test/whoami"
        ]),
        "198.18.0.1 198.18.0.1\n"
    );
    assert_eq!(last_logged(), "198.18.0.1");
    // The rate limit (20/s, burst 50) counts each real client, not the edge:
    // one client's flood through the edge leaves another's request alone.
    let codes = on(
        "cdn1",
        "seq 300 | xargs -P 8 -I{} curl -s -o /dev/null --max-time 5 -w '%{http_code}\\n' -H 'X-Test-Client: 203.0.113.8' http://127.0.0.1/whoami | sort | uniq -c",
    );
    assert!(codes.contains(" 429"), "{codes}");
    assert_eq!(through_edge("203.0.113.9"), "203.0.113.9 203.0.113.9\n");

    // The PROXY protocol, and nobody around the edge.
    let spec =
        write_spec("edge:\n  trusted: [198.18.0.30/32]\n  proxy_protocol: true\n  only: true\n");
    must(deployer(&["apply", "-f", &spec, "--lab", "--yes"]), "apply");
    assert_eq!(
        on("web1", "nginx -t 2>&1 | grep -c warn || true").trim(),
        "0"
    );
    let via_edge = Site::new("hello.lab.test", "web1", "198.18.0.30");
    assert_eq!(via_edge.get("/whoami"), "198.18.0.1 198.18.0.1\n");
    assert_eq!(last_logged(), "198.18.0.1");
    assert_eq!(
        reach("198.18.0.10", 443),
        None,
        "web1 answers around the edge"
    );
    assert_eq!(site.get("/whoami"), "");
    assert_says(
        &deployer(&["status", "-f", &spec, "--lab"]),
        0,
        &["80 and 443 from the proxies in front and the private network only"],
    );
    let plan = deployer(&["plan", "-f", &spec, "--lab", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));

    // Without `edge`, nginx is the edge again, open to all.
    let spec = write_spec("");
    must(deployer(&["apply", "-f", &spec, "--lab", "--yes"]), "apply");
    assert_eq!(reach("198.18.0.10", 443), Some(true));
    assert_eq!(
        site.curl(&[
            "-H",
            "X-Forwarded-For: 203.0.113.66",
            "https://hello.lab.test/whoami"
        ]),
        "198.18.0.1 198.18.0.1\n"
    );
}

/// examples/cluster with `network.mesh: wireguard` in place of its private
/// network, shipping a copy of the example app from `dir`; `hosts` are the
/// example's hosts to keep, and `extra` is appended.
fn mesh_yaml(dir: &Path, hosts: &[&str], extra: &str) -> String {
    let example = fs::read_to_string(Path::new(ROOT).join("examples/cluster/deployer.yaml"))
        .unwrap()
        .replace(
            "  source: ../hello\n",
            &format!("  source: {}\n", app_copy(dir)),
        )
        .replace(
            "network:\n  private: [198.19.0.0/24]\n",
            "network:\n  mesh: wireguard\n",
        );
    assert!(
        example.contains("mesh: wireguard"),
        "examples/cluster's network moved"
    );
    let (head, listed) = example.split_once("hosts:\n").unwrap();
    let kept: Vec<&str> = listed
        .split("  - ")
        .filter(|h| {
            hosts
                .iter()
                .any(|name| h.starts_with(&format!("name: {name}\n")))
        })
        .collect();
    assert_eq!(kept.len(), hosts.len(), "examples/cluster's hosts moved");
    let kept: String = kept
        .iter()
        .map(|h| {
            let lines: Vec<&str> = h
                .lines()
                .filter(|l| !l.contains("private_address"))
                .collect();
            format!("  - {}\n", lines.join("\n"))
        })
        .collect();
    format!("{head}hosts:\n{kept}{extra}")
}

/// A host's mesh address, as its interface has it.
fn mesh_address(host: &str) -> String {
    let shown = on(host, "ip -4 -br address show dev wg-deployer");
    let cidr = shown.split_whitespace().nth(2).unwrap_or_default();
    cidr.split('/').next().unwrap_or_default().to_string()
}

/// The peers of a host's mesh that WireGuard knows, as `wg show` lists them.
fn mesh_peers(host: &str) -> Vec<String> {
    let mut peers: Vec<String> = on(host, "wg show wg-deployer peers")
        .lines()
        .map(String::from)
        .collect();
    peers.sort();
    peers
}

#[test]
fn a_mesh_is_the_private_network_where_the_provider_gives_none() {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    let spec_arg = spec.to_str().unwrap();
    let all = ["lb1", "app1", "app2"];
    // Sessions in Redis on app1, reached over the mesh.
    let write = |hosts: &[&str]| {
        let text = mesh_yaml(dir.path(), hosts, "services:\n  redis:\n    host: app1\n").replace(
            "  instances: 2\n",
            "  instances: 2\n  secrets:\n    - name: REDIS_PASSWORD\n      command: echo 'mesh redis secret'\n",
        );
        fs::write(&spec, text).unwrap();
    };
    write(&all);

    // The lab gives the hosts a public side only: no private bridge.
    let (_lab, up) = Lab::up(spec_arg);
    for (host, address) in [
        ("lb1", "198.18.0.20"),
        ("app1", "198.18.0.21"),
        ("app2", "198.18.0.22"),
    ] {
        assert!(up.contains(&format!("{host}: up at {address}\n")), "{up}");
        let links = on(
            host,
            "ip -br link | awk '{print $1}' | cut -d@ -f1 | sort | tr '\\n' ' '",
        );
        assert_eq!(
            links.trim(),
            "lo pub0",
            "{host} has a public link only: {links}"
        )
    }

    // One apply: each host makes its key pair, then a second round lists
    // every other host as a peer.
    let apply = deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]);
    let said = text(&apply);
    assert!(apply.status.success(), "{said}");
    assert!(said.contains("a second round adds them as peers"), "{said}");
    let keys: Vec<(String, String)> = all
        .iter()
        .map(|h| {
            (
                on(h, "cat /etc/deployer/mesh/private.key")
                    .trim()
                    .to_string(),
                on(h, "cat /etc/deployer/mesh/public.key")
                    .trim()
                    .to_string(),
            )
        })
        .collect();
    for (host, (private, public)) in all.iter().zip(&keys) {
        assert_eq!(private.len(), 44, "{host}'s private key");
        assert!(
            !said.contains(private.as_str()),
            "{host}'s private key in the apply's output"
        );
        assert!(
            said.contains(public.as_str()),
            "{host}'s public key is shown as a peer's"
        );
        assert_eq!(
            on(
                host,
                "stat -c '%a %U' /etc/deployer/mesh /etc/deployer/mesh/private.key"
            ),
            "700 root\n600 root\n"
        );
        let others: Vec<String> = all
            .iter()
            .zip(&keys)
            .filter(|(h, _)| h != &host)
            .map(|(_, (_, public))| public.clone())
            .collect();
        let mut others = others;
        others.sort();
        assert_eq!(mesh_peers(host), others, "{host}'s peers");
    }

    // The load balancer reaches both app hosts, over the mesh: the app
    // listens on its mesh address only.
    let site = Site::new("cluster.lab.test", "lb1", "198.18.0.20");
    both_app_hosts_answer(&site);
    for host in ["app1", "app2"] {
        let mesh = mesh_address(host);
        assert!(mesh.starts_with("10.213.7."), "{host}: {mesh}");
        let listening = on(host, "ss -Hltn 'sport = 3000' | awk '{print $4}'");
        assert_eq!(listening, format!("{mesh}:3000\n"), "{host}");
    }
    let upstream = on(
        "lb1",
        "grep -h 'server 10.213.7' /etc/nginx/deployer/hello.conf | wc -l",
    );
    assert_eq!(
        upstream.trim(),
        "4",
        "two instances on each app host, at mesh addresses"
    );

    // Sessions go to Redis on app1 over the mesh, whichever host answers.
    let put = site.curl(&[
        "-X",
        "PUT",
        "--data",
        "cart=7",
        "-w",
        "%{http_code}",
        "https://cluster.lab.test/session/mesh-visitor",
    ]);
    assert_eq!(put, "204");
    for _ in 0..6 {
        assert_eq!(site.get("/session/mesh-visitor"), "cart=7");
    }
    let mut redis_listens: Vec<String> = on("app1", "ss -Hltn 'sport = 6379' | awk '{print $4}'")
        .lines()
        .map(String::from)
        .collect();
    redis_listens.sort();
    assert_eq!(
        redis_listens,
        [
            format!("{}:6379", mesh_address("app1")),
            "127.0.0.1:6379".to_string()
        ]
    );

    // From the public side, the app and Redis stay closed; the firewall
    // admits WireGuard from the other hosts' public addresses only.
    for port in [3000, 3001, 6379] {
        assert_eq!(
            reach("198.18.0.21", port),
            None,
            "app1:{port} from the public side"
        );
    }
    assert_eq!(
        reach("198.18.0.22", 3000),
        None,
        "app2:3000 from the public side"
    );
    let wireguard_rule = on(
        "app1",
        "nft list chain inet deployer input | grep 'udp dport 51820'",
    );
    assert!(
        wireguard_rule.contains("ip saddr { 198.18.0.20, 198.18.0.22 } accept"),
        "{wireguard_rule}"
    );
    let app_rule = on(
        "app1",
        "nft list chain inet deployer input | grep 'dport 3000-3001'",
    );
    assert!(app_rule.contains("iifname \"wg-deployer\""), "{app_rule}");

    // A second apply changes nothing; status shows each peer's handshake.
    let again = deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]);
    assert_says(&again, 0, &["Nothing to do: every host matches the spec."]);
    assert!(!text(&again).contains("second round"), "{}", text(&again));
    let status = deployer(&["status", "-f", spec_arg, "--lab"]);
    assert_says(
        &status,
        0,
        &[
            "  mesh      up; latest handshakes: app1 ",
            "  mesh      up; latest handshakes: lb1 ",
        ],
    );

    // A host that leaves the spec leaves the others' peers, and comes back
    // with its key and address.
    let app2 = (mesh_address("app2"), keys[2].1.clone());
    write(&["lb1", "app1"]);
    let without = deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]);
    assert!(without.status.success(), "{}", text(&without));
    for host in ["lb1", "app1"] {
        assert!(
            !mesh_peers(host).contains(&app2.1),
            "{host} still lists app2"
        );
        assert_eq!(mesh_peers(host).len(), 1, "{host}");
    }
    let answers: Vec<String> = (0..6).map(|_| site.get("/")).collect();
    assert!(
        answers.iter().all(|a| a.contains("on app1 port")),
        "{answers:?}"
    );
    write(&all);
    let back = deployer(&["apply", "-f", spec_arg, "--lab", "--yes"]);
    assert!(back.status.success(), "{}", text(&back));
    assert!(
        !text(&back).contains("second round"),
        "app2 kept its key pair"
    );
    assert_eq!(
        (
            mesh_address("app2"),
            on("app2", "cat /etc/deployer/mesh/public.key")
                .trim()
                .to_string()
        ),
        app2
    );
    for host in ["lb1", "app1"] {
        assert!(
            mesh_peers(host).contains(&app2.1),
            "{host} lists app2 again"
        );
    }
    wait_until(
        Duration::from_secs(30),
        "app2 answers through the mesh again",
        || (0..4).any(|_| site.get("/").contains("on app2 port")),
    );
}
