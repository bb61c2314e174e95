//! `deployer status`: what each host is running; exits 1 when something
//! needs attention.

use anyhow::Result;

use super::args::ConnectArgs;
use super::{Cli, exit, load};
use crate::deploy::{self, HostStatus};
use crate::spec::Secrets;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// One JSON document on stdout.
    #[arg(long, env = "DEPLOYER_JSON")]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let loaded = load(cli, Secrets::Skip)?;
    let (statuses, failures) = deploy::status(&loaded, &args.connect.reach())?;
    let healthy = failures.is_empty() && statuses.iter().all(|s| s.problems.is_empty());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
    } else {
        for status in &statuses {
            print!("{}", human(status));
        }
    }
    for failure in &failures {
        eprintln!("error: {failure:#}");
    }
    Ok(if healthy { exit::OK } else { exit::FAILED })
}

fn human(status: &HostStatus) -> String {
    let mut out = format!("{}\n", status.host);
    let line = |out: &mut String, label: &str, value: &str| {
        out.push_str(&format!("  {label:<9} {value}\n"));
    };
    line(
        &mut out,
        "release",
        status.release.as_deref().unwrap_or("none"),
    );
    line(
        &mut out,
        "firewall",
        match (status.firewall_loaded, status.web_open_to_all) {
            (false, _) => "NOT LOADED",
            (true, Some(false)) => {
                "loaded; 80 and 443 from the proxies in front and the private network only"
            }
            (true, _) => "loaded",
        },
    );
    if let Some(cert) = &status.certificate {
        line(
            &mut out,
            "tls",
            &format!("expires {} ({} days)", cert.expires, cert.days_left),
        );
    }
    if let Some(mesh) = &status.mesh {
        let peers: Vec<String> = mesh
            .peers
            .iter()
            .map(|p| match p.handshake_ago {
                Some(ago) => format!("{} {ago} s ago", p.host),
                None => format!("{} never", p.host),
            })
            .collect();
        let state = if mesh.up { "up" } else { "DOWN" };
        let value = if peers.is_empty() {
            format!("{state}, no peers")
        } else {
            format!("{state}; latest handshakes: {}", peers.join(", "))
        };
        line(&mut out, "mesh", &value);
    }
    for (i, unit) in status.units.iter().enumerate() {
        let health = match unit.failed_checks {
            Some(0) => ", healthy".to_string(),
            Some(n) => format!(", {n} failed health check(s)"),
            None => String::new(),
        };
        let value = format!(
            "{}: {} since {}, {} restart(s){health}",
            unit.name, unit.active, unit.since, unit.restarts
        );
        line(&mut out, if i == 0 { "units" } else { "" }, &value);
    }
    if status.problems.is_empty() {
        line(&mut out, "status", "ok");
    } else {
        line(&mut out, "status", &status.problems.join("; "));
    }
    for warning in &status.warnings {
        line(&mut out, "warning", warning);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{MeshPeerStatus, MeshStatus, UnitStatus};

    #[test]
    fn a_unit_line_says_state_restarts_and_health() {
        let status = HostStatus {
            host: "web1".into(),
            release: Some("3f9a8c1b2d4e".into()),
            firewall_loaded: true,
            web_open_to_all: Some(true),
            security_updates: Some(false),
            certificate: None,
            mesh: Some(MeshStatus {
                up: true,
                peers: vec![
                    MeshPeerStatus {
                        host: "app1".into(),
                        handshake_ago: Some(40),
                    },
                    MeshPeerStatus {
                        host: "app2".into(),
                        handshake_ago: None,
                    },
                ],
            }),
            units: vec![UnitStatus {
                name: "hello@3000.service".into(),
                active: "active".into(),
                since: "Wed 2026-11-25 14:48:43 UTC".into(),
                restarts: 2,
                failed_checks: Some(0),
            }],
            problems: Vec::new(),
            warnings: vec!["apt has no source for the system's security archive".into()],
        };
        let text = human(&status);
        assert!(
            text.contains("  status    ok\n  warning   apt has no source"),
            "{text}"
        );
        assert!(
            text.contains("  mesh      up; latest handshakes: app1 40 s ago, app2 never\n"),
            "{text}"
        );
        assert!(text.contains("hello@3000.service: active since Wed 2026-11-25 14:48:43 UTC, 2 restart(s), healthy"), "{text}");
    }
}
