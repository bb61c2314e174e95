//! `deployer status`: what each host is running, read in one round trip:
//! the managed units (state, since when, restarts, health), the current
//! release, whether the firewall is loaded, the certificate's expiry.

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use super::hosts::{self, ConnectArgs};
use super::{Cli, exit, load};
use crate::render::context::Paths;
use crate::shell::quote;
use crate::spec::{Loaded, Role, Secrets};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// One JSON document on stdout.
    #[arg(long, env = "DEPLOYER_JSON")]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct HostStatus {
    host: String,
    /// The release `current` points at.
    release: Option<String>,
    firewall_loaded: bool,
    certificate: Option<Certificate>,
    units: Vec<UnitStatus>,
    /// What needs attention; empty when all is well.
    problems: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Certificate {
    expires: String,
    days_left: i64,
}

#[derive(Debug, Serialize)]
struct UnitStatus {
    name: String,
    active: String,
    since: String,
    restarts: u32,
    /// Failed health checks in a row, for web instances the timer checks.
    failed_checks: Option<u32>,
}

/// Fewer days left than this is a problem.
const CERT_WARN_DAYS: i64 = 14;

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let loaded = load(cli, Secrets::Skip)?;
    let hosts = hosts::select(&loaded, &args.connect)?;
    let outcomes = hosts::run_parallel(hosts, args.connect.parallel.into(), false, |host| {
        let mut transport = hosts::connect(&loaded, host, &args.connect)?;
        let output = transport.run(&script(&loaded), &mut |_| {})?;
        if output.status != 0 {
            bail!(
                "{}: reading its status failed:\n{}",
                host.name,
                output.stderr_tail()
            );
        }
        let mut status = parse(&host.name, &output.stdout)
            .with_context(|| format!("{}: unexpected status report", host.name))?;
        status.problems = problems(&loaded, host.has(Role::Lb), &status);
        Ok(status)
    });
    let (statuses, failures) = hosts::partition(outcomes);
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

/// The app's units: web instances `APP@PORT`, workers `APP-WORKER@N`, `APP-pm2`.
pub(super) fn app_unit_patterns(app: &str) -> [String; 2] {
    [format!("{app}@*"), format!("{app}-*")]
}

/// One script: `KIND<TAB>fields` lines.
fn script(loaded: &Loaded) -> String {
    let app = &loaded.spec.app.name;
    let paths = Paths::new(app);
    let [web, others] = app_unit_patterns(app);
    let patterns = [
        web,
        others,
        "nginx.service".into(),
        "redis-server.service".into(),
        "deployer-firewall.service".into(),
        "deployer-health.timer".into(),
    ]
    .map(|p| quote(&p))
    .join(" ");
    let cert = quote(&paths.tls_cert);
    let health = quote(&paths.health_state);
    format!(
        r#"export LC_ALL=C
for unit in $(systemctl list-units --all --plain --no-legend --type=service,timer {patterns} | awk '{{print $1}}'); do
  printf 'U\t%s' "$unit"
  systemctl show -p ActiveState -p NRestarts -p ActiveEnterTimestamp -- "$unit" | while IFS= read -r pair; do printf '\t%s' "$pair"; done
  printf '\n'
done
printf 'R\t%s\n' "$(readlink {current} 2>/dev/null || true)"
for file in {health}/*; do [ -f "$file" ] && printf 'H\t%s\t%s\n' "${{file##*/}}" "$(cat "$file")"; done
if [ -f {cert} ]; then
  end=$(openssl x509 -enddate -noout -in {cert} | cut -d= -f2)
  printf 'C\t%s\t%s\n' "$(date -u -d "$end" +%s)" "$(date -u -d "$end" +%Y-%m-%d)"
fi
if nft list table inet deployer >/dev/null 2>&1; then printf 'F\t1\n'; else printf 'F\t0\n'; fi
printf 'N\t%s\n' "$(date -u +%s)"
"#,
        current = quote(&paths.current),
    )
}

fn parse(host: &str, report: &str) -> Result<HostStatus> {
    let mut status = HostStatus {
        host: host.to_string(),
        release: None,
        firewall_loaded: false,
        certificate: None,
        units: Vec::new(),
        problems: Vec::new(),
    };
    let mut failed_checks = Vec::new();
    let (mut expires_at, mut now) = (None, None);
    for line in report.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["U", name, pairs @ ..] => {
                let value = |key: &str| {
                    pairs
                        .iter()
                        .find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
                        .unwrap_or_default()
                        .to_string()
                };
                status.units.push(UnitStatus {
                    name: name.to_string(),
                    active: value("ActiveState"),
                    since: value("ActiveEnterTimestamp"),
                    restarts: value("NRestarts").parse().unwrap_or(0),
                    failed_checks: None,
                });
            }
            ["R", target] => {
                status.release = target
                    .rsplit('/')
                    .next()
                    .filter(|id| !id.is_empty())
                    .map(String::from);
            }
            ["H", unit, count] => {
                failed_checks.push((unit.to_string(), count.parse().context("health count")?))
            }
            ["C", epoch, date] => {
                expires_at = Some(epoch.parse::<i64>().context("certificate expiry")?);
                status.certificate = Some(Certificate {
                    expires: date.to_string(),
                    days_left: 0,
                });
            }
            ["F", loaded] => status.firewall_loaded = *loaded == "1",
            ["N", epoch] => now = Some(epoch.parse::<i64>().context("host clock")?),
            _ => bail!("{line:?}"),
        }
    }
    if let (Some(cert), Some(expires_at), Some(now)) = (&mut status.certificate, expires_at, now) {
        cert.days_left = (expires_at - now).div_euclid(86_400);
    }
    for (unit, count) in failed_checks {
        if let Some(u) = status.units.iter_mut().find(|u| u.name == unit) {
            u.failed_checks = Some(count);
        }
    }
    Ok(status)
}

fn problems(loaded: &Loaded, lb: bool, status: &HostStatus) -> Vec<String> {
    let mut problems = Vec::new();
    if !status.firewall_loaded {
        problems.push("the firewall is not loaded".to_string());
    }
    for unit in &status.units {
        if unit.active != "active" {
            problems.push(format!("{} is {}", unit.name, unit.active));
        }
        if let Some(n) = unit.failed_checks.filter(|n| *n > 0) {
            problems.push(format!("{} failed its last {n} health check(s)", unit.name));
        }
    }
    if lb && loaded.spec.tls_mode() != crate::spec::TlsMode::Off {
        match &status.certificate {
            None => problems.push("no TLS certificate".to_string()),
            Some(c) if c.days_left < CERT_WARN_DAYS => {
                problems.push(format!(
                    "the TLS certificate expires in {} day(s)",
                    c.days_left
                ));
            }
            Some(_) => {}
        }
    }
    problems
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
        if status.firewall_loaded {
            "loaded"
        } else {
            "NOT LOADED"
        },
    );
    if let Some(cert) = &status.certificate {
        line(
            &mut out,
            "tls",
            &format!("expires {} ({} days)", cert.expires, cert.days_left),
        );
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back() {
        let report = "U\thello@3000.service\tActiveState=active\tNRestarts=2\tActiveEnterTimestamp=Wed 2026-11-25 14:48:43 UTC\n\
                      U\tnginx.service\tActiveState=failed\tNRestarts=0\tActiveEnterTimestamp=\n\
                      R\t/srv/hello/releases/3f9a8c1b2d4e\n\
                      H\thello@3000.service\t0\n\
                      C\t1800000000\t2027-01-15\n\
                      F\t1\n\
                      N\t1799136000\n";
        let status = parse("web1", report).unwrap();
        assert_eq!(status.release.as_deref(), Some("3f9a8c1b2d4e"));
        assert!(status.firewall_loaded);
        assert_eq!(status.certificate.as_ref().unwrap().days_left, 10);
        assert_eq!(status.units[0].restarts, 2);
        assert_eq!(status.units[0].failed_checks, Some(0));
        assert_eq!(status.units[1].active, "failed");
        let text = human(&status);
        assert!(text.contains("hello@3000.service: active since Wed 2026-11-25 14:48:43 UTC, 2 restart(s), healthy"), "{text}");
    }
}
