//! `deployer render`: the files each host gets, pinned by snapshots, and the
//! command's own behaviour.

mod common;

use std::fs;

use std::path::Path;
use std::process::Output;

use common::{ROOT, SPECS, assert_says, deployer, files, hosts, mode, render, text};
use tempfile::TempDir;

/// `deployer render -f SPEC --out OUT EXTRA...`
fn render_to(out: &Path, spec: &str, extra: &[&str]) -> Output {
    let mut args = vec!["render", "-f", spec, "--out", out.to_str().unwrap()];
    args.extend(extra);
    deployer(&args)
}

/// Every rendered file of every spec, byte for byte, plus the list of files
/// with their modes and the resource summary. A template change shows up
/// here as a reviewable diff (`cargo insta review`).
#[test]
fn every_rendered_file_matches_its_snapshot() {
    for (name, spec) in SPECS {
        let out = render(spec);
        let mut listing = String::new();
        for (host, dir) in hosts(&out) {
            for file in files(&dir) {
                let path = dir.join(&file);
                listing.push_str(&format!("{:04o} {host}/{}\n", mode(&path), file.display()));
                let snapshot = format!("{name}__{host}__{}", file.display()).replace('/', "__");
                insta::assert_snapshot!(snapshot, fs::read_to_string(&path).unwrap());
            }
        }
        insta::assert_snapshot!(format!("{name}__files"), listing);
    }
}

#[test]
fn the_summary_lists_every_resource_kind() {
    let out = tempfile::TempDir::new().unwrap();
    let result = render_to(out.path(), SPECS[1].1, &[]);
    let summary = text(&result).replace(out.path().to_str().unwrap(), "OUT");
    insta::assert_snapshot!("cluster__summary", summary);
}

#[test]
fn instances_max_follows_the_assumed_cores() {
    let out = tempfile::TempDir::new().unwrap();
    let result = render_to(out.path(), SPECS[0].1, &["--cpus", "4"]);
    assert!(result.status.success(), "{}", text(&result));
    let site = fs::read_to_string(out.path().join("web1/etc/nginx/deployer/hello.conf")).unwrap();
    for port in 3000..3004 {
        assert!(
            site.contains(&format!("server 127.0.0.1:{port} ")),
            "{port} missing:\n{site}"
        );
    }
    assert!(!site.contains("127.0.0.1:3004"));
}

#[test]
fn a_rerender_replaces_the_previous_one() {
    let out = tempfile::TempDir::new().unwrap();
    let stale = out.path().join("web1/etc/stale.conf");
    assert!(render_to(out.path(), SPECS[0].1, &[]).status.success());
    fs::write(&stale, "left over").unwrap();
    assert!(render_to(out.path(), SPECS[0].1, &[]).status.success());
    assert!(
        !stale.exists(),
        "files of an earlier render must not survive"
    );
}

#[test]
fn render_refuses_a_directory_it_did_not_write() {
    let out = tempfile::TempDir::new().unwrap();
    fs::write(out.path().join("precious.txt"), "keep me").unwrap();
    let result = render_to(out.path(), SPECS[0].1, &[]);
    assert_eq!(result.status.code(), Some(1));
    assert!(
        text(&result).contains("was not written by `deployer render`"),
        "{}",
        text(&result)
    );
    assert!(out.path().join("precious.txt").exists());
}

#[test]
fn an_unknown_host_gets_a_suggestion() {
    let out = tempfile::TempDir::new().unwrap();
    let result = render_to(out.path(), SPECS[1].1, &["--host", "app3"]);
    assert_eq!(result.status.code(), Some(1));
    assert_eq!(
        text(&result).trim(),
        "error: no host `app3` in examples/cluster/deployer.yaml (did you mean `app1`?); hosts are one of `lb1`, `app1`, `app2`"
    );
}

#[test]
fn one_host_only() {
    let out = tempfile::TempDir::new().unwrap();
    let result = render_to(out.path(), SPECS[1].1, &["--host", "lb1"]);
    assert!(result.status.success(), "{}", text(&result));
    assert!(out.path().join("lb1").is_dir());
    assert!(!out.path().join("app1").exists());
}

#[test]
fn the_pm2_ecosystem_is_valid_json_with_the_environment() {
    let out = render(SPECS[2].1);
    let path = out
        .path()
        .join("out/edge1/etc/deployer/shop-api/ecosystem.json");
    let ecosystem: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let web = &ecosystem["apps"][0];
    assert_eq!(web["exec_mode"], "cluster");
    assert_eq!(web["instances"], 3);
    assert_eq!(web["wait_ready"], true);
    assert_eq!(web["env"]["NODE_ENV"], "production");
    assert_eq!(web["env"]["GREETING"], "it's a \"quoted\" $value with 100%");
    let path = out
        .path()
        .join("out/jobs1/etc/deployer/shop-api/ecosystem.json");
    let workers: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let names: Vec<&str> = workers["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shop-api-mailer", "shop-api-reports"]);
}

#[test]
fn secrets_never_reach_the_rendered_files() {
    let out = render(SPECS[2].1);
    for (_, dir) in hosts(&out) {
        for file in files(&dir) {
            let content = fs::read_to_string(dir.join(&file)).unwrap();
            for secret in ["DATABASE_URL", "SESSION_SECRET"] {
                assert!(
                    !content.contains(secret),
                    "{} names {secret}",
                    file.display()
                );
            }
        }
    }
}

/// What each host's playbooks expand to, contents aside: every package,
/// user, directory, file (with its check and handlers), service and command.
#[test]
fn every_host_resource_list_matches_its_snapshot() {
    use deployer::layout::AssumedCores;
    use deployer::render::Renderer;
    let renderer = Renderer::new().unwrap();
    for (name, spec) in SPECS {
        let loaded = deployer::spec::load(
            &Path::new(common::ROOT).join(spec),
            deployer::spec::Secrets::Skip,
        )
        .unwrap()
        .unwrap();
        for host in &loaded.spec.hosts {
            let resources = deployer::deploy::desired(
                &renderer,
                &loaded,
                host,
                &AssumedCores(2),
                &Default::default(),
            )
            .unwrap();
            let json = serde_json::to_string_pretty(&resources).unwrap();
            insta::assert_snapshot!(format!("{name}__{}__resources", host.name), json);
        }
    }
}

/// `runtime.node.source: nodesource`: the apt source and pin as written,
/// and the commands that trust the key and install Node.js, with the check
/// that keeps the source off until apt verified the repository. Every
/// script parses; Debian's npm is not installed (NodeSource's nodejs
/// carries npm); pm2 is installed once NodeSource's Node.js is there.
#[test]
fn nodesource_renders_a_verified_source_a_pin_and_the_install() {
    use deployer::layout::AssumedCores;
    use deployer::render::Renderer;
    use deployer::resource::Resource;
    let dir = tempfile::TempDir::new().unwrap();
    let spec = dir.path().join("deployer.yaml");
    fs::write(
        &spec,
        "app:\n  name: shop\n  start: node server.js\n  process_manager: pm2\n\
         runtime:\n  node:\n    source: nodesource\n    version: 22\n\
         \x20   repository: https://mirror.example.org/nodesource/\n\
         \x20   key_fingerprint: 6f71f525282841eedaf851b42f59b5f99b1be0b4\n\
         hosts:\n  - name: web1\n    address: 203.0.113.10\n",
    )
    .unwrap();
    let out = render(spec.to_str().unwrap());
    let etc = out.path().join("out/web1/etc/apt");
    insta::assert_snapshot!(
        "nodesource__list",
        fs::read_to_string(etc.join("sources.list.d/nodesource.list")).unwrap()
    );
    insta::assert_snapshot!(
        "nodesource__pin",
        fs::read_to_string(etc.join("preferences.d/nodesource")).unwrap()
    );

    let loaded = deployer::spec::load(&spec, deployer::spec::Secrets::Skip)
        .unwrap()
        .unwrap();
    let host = &loaded.spec.hosts[0];
    let resources = deployer::deploy::desired(
        &Renderer::new().unwrap(),
        &loaded,
        host,
        &AssumedCores(2),
        &Default::default(),
    )
    .unwrap();
    let packages: Vec<&str> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Package(p) => Some(p.name.as_str()),
            _ => None,
        })
        .collect();
    assert!(packages.contains(&"gpg"), "{packages:?}");
    assert!(
        !packages.contains(&"npm") && !packages.contains(&"nodejs"),
        "nodejs comes from the source, npm with it: {packages:?}"
    );
    let node: Vec<&Resource> = resources
        .iter()
        .filter(|r| {
            let name = r.id().target;
            name.contains("NodeSource") || name.contains("nodesource") || name.contains("pm2 ")
        })
        .collect();
    insta::assert_snapshot!(
        "nodesource__resources",
        serde_json::to_string_pretty(&node).unwrap()
    );
    // Commands run under sh; their checks in the scripts' bash.
    let mut scripts = Vec::new();
    for resource in &node {
        match resource {
            Resource::Command(c) => {
                scripts.push(("sh", c.run.clone()));
                scripts.extend(c.unless.clone().map(|check| ("bash", check)));
            }
            Resource::File(f) => scripts.extend(f.check.iter().map(|c| ("sh", c.run.clone()))),
            _ => {}
        }
    }
    assert_eq!(scripts.len(), 7, "trust, check, install, pm2: {node:?}");
    for (shell, script) in scripts {
        let parsed = std::process::Command::new(shell)
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(parsed.status.success(), "{}\n{script}", text(&parsed));
    }
}

/// What differs between the systems deployer supports, as each host's
/// render shows it: nginx's http2 syntax follows the nginx the system
/// installs (1.25.1 made it a directive), and unattended-upgrades takes
/// the system's own security pocket. An unknown system is refused.
#[test]
fn each_supported_system_gets_its_own_syntax() {
    let spec = format!("{ROOT}/examples/hello/deployer.yaml");
    for (os, directive, origin) in [
        (
            "debian-12",
            false,
            "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
        ),
        (
            "debian-13",
            true,
            "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
        ),
        (
            "ubuntu-24.04",
            false,
            "origin=Ubuntu,archive=${distro_codename}-security,label=Ubuntu",
        ),
        (
            "ubuntu-26.04",
            true,
            "origin=Ubuntu,archive=${distro_codename}-security,label=Ubuntu",
        ),
    ] {
        let out = TempDir::new().unwrap();
        let result = render_to(out.path(), &spec, &["--os", os]);
        assert!(result.status.success(), "{os}: {}", text(&result));
        let web1 = out.path().join("web1");
        let site = fs::read_to_string(web1.join("etc/nginx/deployer/hello.conf")).unwrap();
        let main = fs::read_to_string(web1.join("etc/nginx/nginx.conf")).unwrap();
        if directive {
            assert!(
                site.contains("    listen 443 ssl;\n") && site.contains("    http2 on;\n"),
                "{os}: {site}"
            );
            assert!(
                main.contains("listen 443 ssl default_server;"),
                "{os}: {main}"
            );
            assert!(
                !site.contains(" http2;") && !main.contains("ssl http2"),
                "{os}"
            );
        } else {
            assert!(
                site.contains("    listen 443 ssl http2;\n") && !site.contains("http2 on;"),
                "{os}: {site}"
            );
            assert!(
                main.contains("listen 443 ssl http2 default_server;"),
                "{os}: {main}"
            );
        }
        // systemd 254 on takes RestartMode=direct: a crash-restart does not
        // set off OnFailure= (the alert) each time.
        let unit = fs::read_to_string(web1.join("etc/systemd/system/hello@.service")).unwrap();
        assert_eq!(
            unit.contains("RestartMode=direct\n"),
            os != "debian-12",
            "{os}: {unit}"
        );
        // A request misdirected over another site's HTTP/2 connection.
        assert!(
            main.contains("        location / {\n            return 421;\n        }"),
            "{os}: {main}"
        );
        let upgrades =
            fs::read_to_string(web1.join("etc/apt/apt.conf.d/52deployer-unattended-upgrades"))
                .unwrap();
        assert!(upgrades.contains(origin), "{os}: {upgrades}");
        assert_eq!(
            upgrades.matches("origin=").count(),
            if os.starts_with("ubuntu") { 1 } else { 2 }
        );
    }
    let out = TempDir::new().unwrap();
    let refused = render_to(out.path(), &spec, &["--os", "debian-11"]);
    assert_says(
        &refused,
        64,
        &["debian-12, debian-13, ubuntu-24.04, ubuntu-26.04"],
    );
}

/// Every setting nginx.conf gives in `http {}` that nginx refuses twice is
/// in the list the survey holds found files against.
#[test]
fn nginx_conf_settings_are_all_known_to_the_survey() {
    let repeatable = [
        "include",
        "access_log",
        "proxy_hide_header",
        "map",
        "log_format",
        "server",
    ];
    let mut seen = Vec::new();
    for (spec, path) in SPECS {
        let out = render(path);
        for (host, dir) in hosts(&out) {
            let Ok(conf) = fs::read_to_string(dir.join("etc/nginx/nginx.conf")) else {
                continue;
            };
            let http = conf.split("\nhttp {\n").nth(1).unwrap();
            for line in http
                .lines()
                .filter(|l| l.starts_with("    ") && !l.starts_with("     "))
            {
                let directive = line.trim().split([' ', ';']).next().unwrap();
                if directive.starts_with('#') || directive == "}" || repeatable.contains(&directive)
                {
                    continue;
                }
                assert!(
                    deployer::render::NGINX_CONF_SETS.contains(&directive),
                    "{spec}/{host}: nginx.conf sets `{directive}`, which NGINX_CONF_SETS lacks"
                );
                seen.push(directive.to_string());
            }
        }
    }
    // The bucket size is set only for names longer than these specs have.
    for known in deployer::render::NGINX_CONF_SETS
        .iter()
        .filter(|k| **k != "server_names_hash_bucket_size")
    {
        assert!(
            seen.iter().any(|s| s == known),
            "`{known}` is in no rendered nginx.conf"
        );
    }
}

/// Ubuntu starts sshd from ssh.socket, whose addresses a generator takes
/// from sshd_config when systemd reloads: a change to deployer's sshd
/// drop-in (a new Port) reloads systemd and restarts the socket where the
/// host uses it, and the lockout guard's revert does the same. Debian's
/// sshd listens by itself and only reloads.
#[test]
fn sshd_changes_reach_ubuntus_socket() {
    use deployer::layout::AssumedCores;
    use deployer::platform::System;
    use deployer::render::Renderer;
    use deployer::render::context::{Existing, Platform};
    use deployer::resource::Resource;
    let loaded = deployer::spec::load(
        &Path::new(ROOT).join("examples/hello/deployer.yaml"),
        deployer::spec::Secrets::Skip,
    )
    .unwrap()
    .unwrap();
    let host = &loaded.spec.hosts[0];
    for (system, notify) in [
        (System::Debian13, &["reload ssh.service"][..]),
        (
            System::Ubuntu2404,
            &[
                "daemon-reload",
                "reload ssh.service",
                "try-restart ssh.socket",
            ][..],
        ),
        (
            System::Ubuntu2604,
            &[
                "daemon-reload",
                "reload ssh.service",
                "try-restart ssh.socket",
            ][..],
        ),
    ] {
        let existing = Existing {
            platform: Platform::of(system),
            ..Default::default()
        };
        let resources = deployer::deploy::desired(
            &Renderer::new().unwrap(),
            &loaded,
            host,
            &AssumedCores(2),
            &existing,
        )
        .unwrap();
        let drop_in = resources
            .iter()
            .find_map(|r| match r {
                Resource::File(f) if f.path == "/etc/ssh/sshd_config.d/00-deployer.conf" => Some(f),
                _ => None,
            })
            .unwrap();
        assert_eq!(drop_in.notify, notify, "{system}");
        assert!(drop_in.guarded, "{system}: the lockout guard reverts it");
    }
}
