//! The real tools of a Debian host judge what deployer renders: `nginx -t`,
//! `nft -c`, `systemd-analyze verify` and `security`, `sshd -t`. Each runs in
//! private mount and network namespaces, with the render overlaid on this
//! machine's own paths, so nothing here touches the machine's configuration.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{SPECS, files, hosts, in_namespaces, render, require, text};

/// Rendered hosts of every spec, with the spec's name.
fn rendered() -> Vec<(String, tempfile::TempDir)> {
    SPECS
        .iter()
        .map(|(name, spec)| (name.to_string(), render(spec)))
        .collect()
}

/// Unit files, drop-ins (`UNIT.d/*.conf`) aside.
fn units(host: &Path) -> Vec<PathBuf> {
    files(host)
        .into_iter()
        .filter(|f| f.parent() == Some(Path::new("etc/systemd/system")))
        .map(|f| host.join(f))
        .collect()
}

/// A self-signed certificate at the paths the site expects, as an overlay layer.
fn certificate_layer(dir: &Path, site: &str) -> PathBuf {
    let cert_of = |key: &str| -> String {
        site.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim_end_matches(';').trim().to_string())
            .unwrap_or_else(|| panic!("the site has no {key}"))
    };
    let layer = dir.join("certs");
    let cert = cert_of("ssl_certificate ");
    let key = cert_of("ssl_certificate_key ");
    let in_layer = |p: &str| {
        layer.join(
            p.strip_prefix("/etc/")
                .expect("certificates live under /etc"),
        )
    };
    fs::create_dir_all(in_layer(&cert).parent().unwrap()).unwrap();
    common::self_signed(&in_layer(&key), &in_layer(&cert), "/CN=deployer-test", None);
    layer
}

/// `nginx -t` on a rendered host, with a throwaway certificate where the
/// site expects one; also proves nginx read our site, not the machine's.
fn nginx_check(out: &Path, host_dir: &Path, site: &Path) -> std::process::Output {
    let site_text = fs::read_to_string(site).unwrap();
    let certs = if site_text.contains("ssl_certificate ") {
        certificate_layer(out, &site_text)
    } else {
        out.join("no-certs")
    };
    fs::create_dir_all(&certs).unwrap();
    let upstream = site_text
        .lines()
        .find(|l| l.starts_with("upstream "))
        .unwrap()
        .to_string();
    in_namespaces(&format!(
        "mount -t overlay overlay -o lowerdir={etc}:{certs}:/etc /etc
         nginx -t -q
         nginx -T 2>/dev/null | grep -qF '{upstream}'",
        etc = host_dir.join("etc").display(),
        certs = certs.display(),
    ))
}

fn site_of(host_dir: &Path) -> Option<PathBuf> {
    files(host_dir)
        .into_iter()
        .find(|f| f.starts_with("etc/nginx/deployer"))
        .map(|f| host_dir.join(f))
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
    let out = common::render(spec_path.to_str().unwrap());
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
            let ruleset = dir.join("etc/deployer/firewall.nft");
            // As a minimal Debian (no netbase) sees it: no protocol names.
            let result = in_namespaces(&format!(
                "if [ -e /etc/protocols ]; then mount --bind /dev/null /etc/protocols; fi\nnft -c -f {}",
                ruleset.display()
            ));
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
            let units: Vec<String> = units(&dir)
                .iter()
                .map(|u| u.display().to_string())
                .collect();
            let result = in_namespaces(&format!(
                "systemd-analyze verify --man=no {}",
                units.join(" ")
            ));
            let output = text(&result);
            assert!(
                result.status.success() && output.trim().is_empty(),
                "{spec}/{host}: verify:\n{output}"
            );
            checked += units.len();
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
                if name.starts_with("deployer-") {
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
             sshd -T -f {config} -C user=root,host=test,addr=192.0.2.1 | grep -qx 'port 2222'",
            config = config.display()
        );
        let result = in_namespaces(&script);
        assert!(
            result.status.success(),
            "{host}: sshd -t failed:\n{}",
            text(&result)
        );
    }
}
