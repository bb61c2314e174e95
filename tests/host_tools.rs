//! The real tools of a Debian host judge what deployer renders: `nginx -t`,
//! `nft -c`, `systemd-analyze verify` and `security`, `sshd -t`. Each runs in
//! private mount and network namespaces, with the render overlaid on this
//! machine's own paths, so nothing here touches the machine's configuration.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::checkers::{nft_check, nginx_check, site_of, systemd_verify, units};
use common::{SPECS, hosts, in_namespaces, render_for_this_machine as render, require, text};

/// Rendered hosts of every spec, with the spec's name.
fn rendered() -> Vec<(String, tempfile::TempDir)> {
    SPECS
        .iter()
        .map(|(name, spec)| (name.to_string(), render(spec)))
        .collect()
}

#[test]
fn nginx_accepts_every_rendered_site() {
    require("nginx");
    let mut checked = 0;
    for (spec, out) in rendered() {
        for (host, dir) in hosts(&out) {
            let Some(site) = site_of(&dir) else { continue };
            let result = nginx_check(out.path(), &dir, &site);
            assert!(
                result.status.success(),
                "{spec}/{host}: nginx -t failed:\n{}",
                text(&result)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "one site per spec's load balancer");
}

/// `nginx -t` on examples/hello's site with `nginx_lines` added to its
/// `nginx` section; also the site's text.
fn hello_site_with(nginx_lines: &str) -> (std::process::Output, String) {
    let dir = tempfile::TempDir::new().unwrap();
    let hello = Path::new(common::ROOT).join("examples/hello");
    let spec = fs::read_to_string(hello.join("deployer.yaml"))
        .unwrap()
        .replace("app:\n", &format!("app:\n  source: {}\n", hello.display()))
        .replace("nginx:\n", &format!("nginx:\n{nginx_lines}"));
    let spec_path = dir.path().join("deployer.yaml");
    fs::write(&spec_path, spec).unwrap();
    let out = render(spec_path.to_str().unwrap());
    let (_, host_dir) = hosts(&out).remove(0);
    let site = site_of(&host_dir).unwrap();
    (
        nginx_check(out.path(), &host_dir, &site),
        fs::read_to_string(site).unwrap(),
    )
}

#[test]
fn nginx_accepts_sticky_sessions() {
    require("nginx");
    let (result, site) = hello_site_with("  sticky_sessions: true\n");
    assert!(result.status.success(), "{}", text(&result));
    assert!(
        site.contains("hash $binary_remote_addr consistent;"),
        "{site}"
    );
    assert!(!site.contains("least_conn"), "{site}");
}

/// nginx.extra is raw text for nginx: only `nginx -t` can judge it, and it does.
#[test]
fn nginx_rejects_an_invalid_extra_snippet() {
    require("nginx");
    let (result, _) = hello_site_with("  extra: \"proxy_buffering maybe;\"\n");
    assert!(!result.status.success());
    assert!(
        text(&result).contains("proxy_buffering"),
        "{}",
        text(&result)
    );
}

#[test]
fn nftables_accepts_every_rendered_ruleset() {
    require("nft");
    let mut checked = 0;
    for (spec, out) in rendered() {
        for (host, dir) in hosts(&out) {
            let result = nft_check(&dir);
            assert!(
                result.status.success(),
                "{spec}/{host}: nft -c failed:\n{}",
                text(&result)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 7);
}

/// Units run through `/usr/bin/env`, so they verify on a host before the
/// Node runtime or pm2 is installed; verify must print nothing at all.
#[test]
fn systemd_verifies_every_rendered_unit() {
    require("systemd-analyze");
    let mut checked = 0;
    for (spec, out) in rendered() {
        for (host, dir) in hosts(&out) {
            let result = systemd_verify(&dir);
            let output = text(&result);
            assert!(
                result.status.success() && output.trim().is_empty(),
                "{spec}/{host}: verify:\n{output}"
            );
            checked += units(&dir).len();
        }
    }
    assert!(checked >= 12, "only {checked} units verified");
}

/// The exposure `systemd-analyze security` gives a unit, read offline from
/// the rendered tree.
fn exposure(root: &Path, unit: &str) -> f64 {
    let result = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--root={}", root.display()))
        .arg(unit)
        .output()
        .unwrap();
    let output = text(&result);
    output
        .lines()
        .find_map(|l| {
            l.split_once("Overall exposure level for ")
                .map(|(_, rest)| rest)
        })
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure for {unit}:\n{output}"))
}

#[test]
fn every_node_process_runs_in_a_sandbox_scoring_at_most_one() {
    require("systemd-analyze");
    let mut checked = Vec::new();
    for (spec, out) in rendered() {
        for (host, dir) in hosts(&out) {
            for unit in units(&dir) {
                let name = unit.file_name().unwrap().to_str().unwrap();
                // deployer's own units, not Node.js processes: `deployer-*`
                // and each app's health checks (`APP-health`; a worker's
                // would be the template `APP-health@`).
                if name.starts_with("deployer-")
                    || name.ends_with("-health.service")
                    || name.ends_with("-health.timer")
                {
                    continue;
                }
                let instance = name.replace("@.service", "@1.service");
                let score = exposure(&dir, &instance);
                assert!(
                    score <= 1.0,
                    "{spec}/{host}: {instance} exposure {score} > 1.0"
                );
                checked.push(format!("{spec}/{host}/{instance}={score}"));
            }
        }
    }
    assert!(checked.len() >= 8, "{checked:?}");
}

/// deployer's own helper units (alerts, health checks, ACME, the firewall)
/// and Debian's nginx.service with deployer's drop-in: each scores at most
/// 5.0 (Debian's nginx alone: 9.6).
#[test]
fn helper_units_and_nginx_run_in_sandboxes_scoring_at_most_five() {
    require("systemd-analyze");
    let stock = Path::new("/lib/systemd/system/nginx.service");
    assert!(
        stock.exists(),
        "Debian's nginx.service, as tests/run installs it"
    );
    let mut checked = Vec::new();
    for (spec, out) in rendered() {
        for (host, dir) in hosts(&out) {
            let mut helpers: Vec<String> = units(&dir)
                .iter()
                .map(|u| u.file_name().unwrap().to_str().unwrap().to_string())
                .filter(|n| {
                    (n.starts_with("deployer-") || n.ends_with("-health.service"))
                        && n.ends_with(".service")
                })
                .map(|n| n.replace("@.service", "@x.service"))
                .collect();
            if dir.join("etc/systemd/system/nginx.service.d").is_dir() {
                let lib = dir.join("lib/systemd/system");
                fs::create_dir_all(&lib).unwrap();
                fs::copy(stock, lib.join("nginx.service")).unwrap();
                helpers.push("nginx.service".into());
            }
            for unit in helpers {
                let score = exposure(&dir, &unit);
                assert!(score <= 5.0, "{spec}/{host}: {unit} exposure {score} > 5.0");
                checked.push(format!("{spec}/{host}/{unit}={score}"));
            }
        }
    }
    for kind in [
        "deployer-alert@x",
        "deployer-firewall",
        "deployer-acme",
        "-health",
        "nginx",
    ] {
        assert!(
            checked
                .iter()
                .any(|c| c.contains(&format!("{kind}.service"))),
            "{kind} not checked: {checked:?}"
        );
    }
}

#[test]
fn sshd_accepts_the_hardening_drop_in() {
    require("sshd");
    require("ssh-keygen");
    let out = render(SPECS[2].1);
    let key = out.path().join("host_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    for (host, dir) in hosts(&out) {
        let config = out.path().join(format!("{host}.sshd_config"));
        let drop_in = dir.join("etc/ssh/sshd_config.d/00-deployer.conf");
        fs::write(
            &config,
            format!("Include {}\nHostKey {}\n", drop_in.display(), key.display()),
        )
        .unwrap();
        // sshd -t wants its privilege separation directory.
        let script = format!(
            "mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd
             sshd -t -f {config}
             sshd -T -f {config} -C user=root,host=test,addr=192.0.2.1 >{config}.effective
             grep -qx 'port 2222' {config}.effective
             grep -qx 'loglevel VERBOSE' {config}.effective
             grep -qx 'hostkey /etc/ssh/ssh_host_ed25519_key' {config}.effective
             ! grep '^hostkey ' {config}.effective | grep -v -e ed25519 -e {key} | grep -q .",
            config = config.display(),
            key = key.display()
        );
        let result = in_namespaces(&script);
        assert!(
            result.status.success(),
            "{host}: sshd -t failed:\n{}",
            text(&result)
        );
    }
}

/// nginx strings: each value, quoted by deployer for nginx, comes back
/// unchanged as a response header from a real nginx (in a private network
/// namespace, on its loopback).
#[test]
fn nginx_sends_every_quoted_value_as_written() {
    require("nginx");
    require("curl");
    let values = [
        "plain",
        "it's \"quoted\"",
        "back\\slash\\",
        "a; b} {c",
        "default-src 'self'; report-uri /csp",
        "ünïcødé ✓",
        "# not a comment",
        "tab\there",
    ];
    let dir = tempfile::TempDir::new().unwrap();
    let headers: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "        add_header X-V{i} {};\n",
                deployer::dialect::nginx::string(v).unwrap()
            )
        })
        .collect();
    let conf = dir.path().join("nginx.conf");
    fs::write(
        &conf,
        format!(
            "daemon off;\npid {pid};\nerror_log stderr;\nevents {{}}\nhttp {{\n    access_log off;\n    server {{\n        listen 127.0.0.1:8080;\n{headers}        return 204;\n    }}\n}}\n",
            pid = dir.path().join("nginx.pid").display()
        ),
    )
    .unwrap();
    let result = in_namespaces(&format!(
        "ip link set lo up
         nginx -c {conf} -e stderr </dev/null >/dev/null 2>&1 &
         trap 'kill $!' EXIT
         curl -sS --retry 20 --retry-connrefused --retry-delay 0 -D - -o /dev/null http://127.0.0.1:8080/",
        conf = conf.display()
    ));
    let answer = text(&result);
    assert!(result.status.success(), "{answer}");
    for (i, value) in values.iter().enumerate() {
        assert!(
            answer.contains(&format!("X-V{i}: {value}\r\n")),
            "X-V{i} is not {value:?}:\n{answer}"
        );
    }
}

/// apt reads the NodeSource source deployer writes as the repository the
/// spec names: `apt-get --print-uris` lists what it would fetch, offline.
#[test]
fn apt_reads_the_nodesource_source_as_written() {
    let dir = tempfile::TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    fs::write(
        &spec,
        "app:\n  name: shop\n  start: node server.js\n\
         runtime:\n  node:\n    source: nodesource\n    version: 22\n\
         \x20   repository: http://[2001:db8::1]:8097/nodesource/\n\
         hosts:\n  - name: web1\n    address: 203.0.113.10\n",
    )
    .unwrap();
    let out = render(spec.to_str().unwrap());
    let list = out
        .path()
        .join("out/web1/etc/apt/sources.list.d/nodesource.list");
    let said = apt_would_fetch(&list);
    assert!(
        said.contains("'http://[2001:db8::1]:8097/nodesource/node_22.x/dists/nodistro/InRelease'"),
        "{said}"
    );
}

/// pm2 reads the ecosystem deployer writes as JSON with Node.js's own
/// parser: every environment value comes back as the spec gave it.
#[test]
fn node_reads_the_pm2_ecosystem_as_written() {
    require("node");
    let out = render(SPECS[2].1);
    let ecosystem = out
        .path()
        .join("out/edge1/etc/deployer/shop-api/ecosystem.json");
    let result = Command::new("node")
        .arg("-e")
        .arg("const e = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')); process.stdout.write(e.apps[0].env.GREETING)")
        .arg(&ecosystem)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", text(&result));
    assert_eq!(
        String::from_utf8_lossy(&result.stdout),
        "it's a \"quoted\" $value with 100%"
    );
}

/// examples/hello's spec with `replace` applied, rendered: the render and
/// its one host's directory.
fn hello_rendered(replace: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::TempDir::new().unwrap();
    let hello = Path::new(common::ROOT).join("examples/hello");
    let mut spec = fs::read_to_string(hello.join("deployer.yaml"))
        .unwrap()
        .replace("app:\n", &format!("app:\n  source: {}\n", hello.display()));
    for (from, to) in replace {
        assert!(spec.contains(from), "{from}");
        spec = spec.replace(from, to);
    }
    let spec_path = dir.path().join("deployer.yaml");
    fs::write(&spec_path, spec).unwrap();
    let out = render(spec_path.to_str().unwrap());
    let (_, host_dir) = hosts(&out).remove(0);
    (out, host_dir)
}

/// Networks that overlap (`0.0.0.0/0` and `10.0.0.0/8`) are merged before
/// they become nftables sets, which refuse overlapping intervals.
#[test]
fn overlapping_networks_make_a_ruleset_nft_accepts() {
    require("nft");
    let (_out, dir) = hello_rendered(&[(
        "hosts:\n",
        "network:\n  ssh_from: [0.0.0.0/0, 10.0.0.0/8, 2001:db8::/32, 2001:db8:1::/48]\n  private: [10.0.0.0/24, 10.0.0.0/25, 10.0.1.0/24]\nhosts:\n",
    )]);
    let rules = fs::read_to_string(dir.join("etc/deployer/firewall.d/hello.nft")).unwrap();
    assert!(rules.contains("ip saddr { 10.0.0.0/23 } accept"), "{rules}");
    let result = nft_check(&dir);
    assert!(result.status.success(), "{}", text(&result));
}

/// A long domain gets the hash bucket nginx needs for it.
#[test]
fn nginx_takes_the_longest_names() {
    require("nginx");
    let long = format!("{}.{}.example.com", "a".repeat(63), "b".repeat(63));
    let (out, dir) = hello_rendered(&[("domain: hello.lab.test", &format!("domain: {long}"))]);
    let site = site_of(&dir).unwrap();
    let result = nginx_check(out.path(), &dir, &site);
    assert!(result.status.success(), "{}", text(&result));
}

/// pm2 gets node's options apart from the script it runs.
#[test]
fn pm2_runs_the_script_with_nodes_options_apart() {
    let (_out, dir) = hello_rendered(&[(
        "  start: node server.js\n",
        "  start: node --max-old-space-size=512 server.js --port-file=x\n  process_manager: pm2\n",
    )]);
    let ecosystem: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dir.join("etc/deployer/hello/ecosystem.json")).unwrap(),
    )
    .unwrap();
    let web = &ecosystem["apps"][0];
    assert_eq!(web["script"], "server.js");
    assert_eq!(
        web["node_args"],
        serde_json::json!(["--max-old-space-size=512"])
    );
    assert_eq!(web["args"], serde_json::json!(["--port-file=x"]));
}

/// What apt would fetch for the sources in `list` alone (it reads them
/// without error), as `apt-get update --print-uris` says.
fn apt_would_fetch(list: &Path) -> String {
    let lists = tempfile::TempDir::new().unwrap();
    fs::create_dir_all(lists.path().join("partial")).unwrap();
    let result = Command::new("apt-get")
        .args(["update", "--print-uris", "-o"])
        .arg(format!("Dir::Etc::SourceList={}", list.display()))
        .args(["-o", "Dir::Etc::SourceParts=/nonexistent", "-o"])
        .arg(format!("Dir::State::Lists={}", lists.path().display()))
        .output()
        .unwrap();
    let said = text(&result);
    assert!(result.status.success(), "{said}");
    said
}

/// A host whose apt has no source for its security archive, with
/// `apt.security_source: true`: the source deployer adds is one apt reads
/// as written (the release's `-security` suite from the host's mirror,
/// signed by the distribution's keyring), and it goes live only once apt
/// fetched and verified it.
#[test]
fn the_security_source_is_one_apt_reads() {
    use deployer::layout::AssumedCores;
    use deployer::platform::System;
    use deployer::render::Renderer;
    use deployer::render::context::{Existing, Platform, SecuritySource};
    use deployer::resource::Resource;
    require("apt-get");
    let loaded = deployer::spec::load(
        &Path::new(common::ROOT).join("examples/hello/deployer.yaml"),
        deployer::spec::Secrets::Skip,
    )
    .unwrap()
    .unwrap();
    let existing = Existing {
        platform: Platform::of(System::Debian13),
        security_source: Some(SecuritySource {
            uri: "http://[2001:db8::1]:8080/debian-security".into(),
            suite: "trixie-security".into(),
            components: "main non-free-firmware".into(),
            keyring: System::Debian13.archive_keyring().into(),
        }),
        ..Default::default()
    };
    let resources = deployer::deploy::desired(
        &Renderer::new().unwrap(),
        &loaded,
        &loaded.spec.hosts[0],
        &AssumedCores(2),
        &existing,
    )
    .unwrap();
    let source = resources
        .iter()
        .find_map(|r| match r {
            Resource::File(f) if f.path == "/etc/apt/sources.list.d/deployer-security.list" => {
                Some(f)
            }
            _ => None,
        })
        .unwrap();
    let check = source.check.as_ref().unwrap();
    assert!(
        check
            .run
            .contains("apt-get update -o APT::Update::Error-Mode=any"),
        "{check:?}"
    );
    let dir = tempfile::TempDir::new().unwrap();
    let list = dir.path().join("security.list");
    fs::write(&list, &source.content).unwrap();
    let said = apt_would_fetch(&list);
    assert!(
        said.contains(
            "'http://[2001:db8::1]:8080/debian-security/dists/trixie-security/InRelease'"
        ),
        "{said}"
    );
    assert!(
        source
            .content
            .contains("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "),
        "{}",
        source.content
    );
}

/// ssh-audit (pinned) against a real sshd reading deployer's drop-in, on
/// loopback in a private network namespace: no failure, no warning. Its
/// connection-rate test is left out: on a host, deployer's firewall is what
/// throttles new SSH connections, and a timing test on a busy machine
/// would flake.
#[test]
fn ssh_audit_finds_nothing_to_warn_about() {
    require("sshd");
    let ssh_audit = common::auditor("bin/ssh-audit");
    let out = render(SPECS[0].1);
    for (host, dir) in hosts(&out) {
        let config = out.path().join(format!("{host}.audited_sshd_config"));
        // The first Port and ListenAddress win over the drop-in's.
        fs::write(
            &config,
            format!(
                "Port 2200\nListenAddress 127.0.0.1\nPidFile none\nInclude {}\n",
                dir.join("etc/ssh/sshd_config.d/00-deployer.conf").display()
            ),
        )
        .unwrap();
        let result = in_namespaces(&format!(
            "ip link set lo up
             mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd
             $(command -v sshd) -D -e -f {config} >/dev/null 2>&1 &
             sshd=$!
             for _ in $(seq 100); do ss -Hltn 'sport = :2200' | grep -q . && break; sleep 0.1; done
             status=0
             {ssh_audit} --skip-rate-test -p 2200 127.0.0.1 || status=$?
             kill $sshd
             exit $status",
            config = config.display(),
            ssh_audit = ssh_audit.display(),
        ));
        assert!(
            result.status.success(),
            "{host}: ssh-audit (exit {:?}):\n{}",
            result.status.code(),
            text(&result)
        );
    }
}

/// gixy-ng (pinned) reads every rendered nginx configuration where nginx
/// reads it (the render overlaid on /etc) and finds nothing, of any
/// severity. Its CVE list is not asked: it goes by nginx's version, which
/// Debian's security fixes leave as it was.
#[test]
fn gixy_finds_nothing_in_any_rendered_site() {
    let gixy = common::auditor("bin/gixy");
    let mut checked = 0;
    for (spec, out) in rendered() {
        for (host, dir) in hosts(&out) {
            if !dir.join("etc/nginx/nginx.conf").exists() {
                continue;
            }
            let result = in_namespaces(&format!(
                "mount -t overlay overlay -o lowerdir={etc}:/etc /etc
                 {gixy} -f json /etc/nginx/nginx.conf",
                etc = dir.join("etc").display(),
                gixy = gixy.display(),
            ));
            let said = String::from_utf8_lossy(&result.stdout);
            let findings: serde_json::Value = serde_json::from_str(&said)
                .unwrap_or_else(|_| panic!("{spec}/{host}: gixy said:\n{}", text(&result)));
            assert_eq!(findings, serde_json::json!([]), "{spec}/{host}");
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} nginx configurations read");
}

/// `network.mesh`: every host's ruleset (WireGuard's port for the other
/// hosts, the private ports through the mesh only) loads, the mesh's units
/// verify and score at most 5.0, and wg-quick reads the configuration.
#[test]
fn the_mesh_renders_what_nft_systemd_and_wg_quick_accept() {
    for tool in ["nft", "systemd-analyze", "wg-quick"] {
        require(tool);
    }
    let out = render("tests/fixtures/mesh/deployer.yaml");
    let mut checked = Vec::new();
    for (host, dir) in hosts(&out) {
        let nft = nft_check(&dir);
        assert!(nft.status.success(), "{host}: nft -c:\n{}", text(&nft));
        let verify = systemd_verify(&dir);
        assert!(
            verify.status.success() && text(&verify).trim().is_empty(),
            "{host}: verify:\n{}",
            text(&verify)
        );
        for unit in ["deployer-mesh.service", "deployer-mesh-check.service"] {
            let score = exposure(&dir, unit);
            assert!(score <= 5.0, "{host}: {unit} exposure {score} > 5.0");
        }
        // wg-quick names the interface after the file, as the unit does.
        let config = dir.join("etc/deployer/mesh/wg-deployer.conf");
        let stripped = Command::new("wg-quick")
            .arg("strip")
            .arg(&config)
            .output()
            .unwrap();
        assert!(stripped.status.success(), "{host}: {}", text(&stripped));
        let settings: Vec<String> = text(&stripped)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(String::from)
            .collect();
        // What wg syncconf gets: the port; the key and the peers' keys are
        // the hosts' (none offline).
        assert_eq!(settings, ["[Interface]", "ListenPort = 51999"], "{host}");
        checked.push(host);
    }
    assert_eq!(checked, ["app1", "db1", "lb1"]);
}
