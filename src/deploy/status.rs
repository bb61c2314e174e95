//! What each host is running, read in one round trip (`status`): the
//! managed units (state, since when, restarts, health), the current
//! release, whether the firewall is loaded, the certificate's expiry; and
//! the app's journal (`logs`).

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use super::Reach;
use super::hosts::{self, Outcome, run_parallel};
use super::prepare::desired;
use super::survey;
use crate::dialect::shell::quote;
use crate::layout::{AssumedCores, Paths, health_service, unit_patterns};
use crate::protocol::{self, Tag};
use crate::render::Renderer;
use crate::resource::Resource;
use crate::spec::{Host, Loaded, Role, TlsMode, mesh};

#[derive(Debug, Serialize)]
pub struct HostStatus {
    pub host: String,
    /// The release `current` points at.
    pub release: Option<String>,
    pub firewall_loaded: bool,
    /// On a load balancer, whether the loaded firewall admits 80 and 443
    /// from anyone, rather than from `edge.trusted` and the private network
    /// only (`edge.only`); `None` elsewhere, or where it is not loaded.
    pub web_open_to_all: Option<bool>,
    /// Whether apt has a source for the release's security archive; `None`
    /// where the host's sources could not be read.
    pub security_updates: Option<bool>,
    pub certificate: Option<Certificate>,
    /// `network.mesh`: this host's end of it.
    pub mesh: Option<MeshStatus>,
    pub units: Vec<UnitStatus>,
    /// What needs attention; empty when all is well.
    pub problems: Vec<String>,
    /// Worth the operator's attention, though all runs as it should.
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Certificate {
    pub expires: String,
    pub days_left: i64,
}

#[derive(Debug, Serialize)]
pub struct UnitStatus {
    pub name: String,
    pub active: String,
    pub since: String,
    pub restarts: u32,
    /// Failed health checks in a row, for web instances the timer checks.
    pub failed_checks: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct MeshStatus {
    /// Its interface exists.
    pub up: bool,
    pub peers: Vec<MeshPeerStatus>,
}

#[derive(Debug, Serialize)]
pub struct MeshPeerStatus {
    pub host: String,
    /// Seconds since the latest handshake with it; `None`: none yet.
    pub handshake_ago: Option<i64>,
}

/// Fewer days left than this is a problem.
const CERT_WARN_DAYS: i64 = 14;

/// `deployer status`: each chosen host's status, and the hosts that could
/// not be read.
pub fn status(loaded: &Loaded, reach: &Reach) -> Result<(Vec<HostStatus>, Vec<anyhow::Error>)> {
    let chosen = hosts::select(loaded, reach)?;
    let renderer = Renderer::new()?;
    let scripts = chosen
        .iter()
        .map(|host| {
            Ok((
                host.name.clone(),
                script(loaded, &units(&renderer, loaded, host)?),
            ))
        })
        .collect::<Result<HashMap<_, _>>>()?;
    let outcomes = run_parallel(chosen, reach.parallel, false, |host| {
        let mut transport = hosts::connect(loaded, host, reach)?;
        let output = transport.run_contained(&scripts[&host.name])?;
        if output.status != 0 {
            bail!(
                "{}: reading its status failed:\n{}",
                host.name,
                output.stderr_tail()
            );
        }
        let mut status = parse(&host.name, &output.stdout)
            .with_context(|| format!("{}: unexpected status report", host.name))?;
        if !host.has(Role::Lb) {
            status.web_open_to_all = None;
        }
        status.problems = problems(loaded, host.has(Role::Lb), &status);
        if status.security_updates == Some(false) {
            status.warnings.push(
                "apt has no source for the system's security archive: unattended upgrades find no security fixes to install (add one, or set apt.security_source: true and apply)"
                    .to_string(),
            );
        }
        Ok(status)
    });
    Ok(hosts::partition(outcomes))
}

/// The units a host's status shows: the app's (whatever their count) and
/// every other unit its playbooks keep running.
fn units(renderer: &Renderer, loaded: &Loaded, host: &Host) -> Result<Vec<String>> {
    let app = &loaded.spec.app.name;
    let managed = desired(
        renderer,
        loaded,
        host,
        &AssumedCores(1),
        &Default::default(),
    )?;
    let mut units: Vec<String> = unit_patterns(app).into();
    let [web, others] = unit_patterns(app).map(|p| p.trim_end_matches('*').to_string());
    units.extend(managed.iter().filter_map(|r| match r {
        Resource::Service(s) if !s.name.starts_with(&web) && !s.name.starts_with(&others) => {
            Some(s.name.clone())
        }
        _ => None,
    }));
    Ok(units)
}

/// One script, one record per fact.
fn script(loaded: &Loaded, units: &[String]) -> String {
    let paths = Paths::new(&loaded.spec.app.name);
    let patterns = units.iter().map(|u| quote(u)).collect::<Vec<_>>().join(" ");
    let cert = quote(&paths.tls_cert);
    let health = quote(&paths.health_state);
    format!(
        r##"export LC_ALL=C
for unit in $(systemctl list-units --all --plain --no-legend --type=service,timer {patterns} | awk '{{print $1}}'); do
  printf '{unit}\t%s' "$unit"
  systemctl show -p ActiveState -p NRestarts -p ActiveEnterTimestamp -- "$unit" | while IFS= read -r pair; do printf '\t%s' "$pair"; done
  printf '\n'
done
printf '{release}\t%s\n' "$(readlink {current} 2>/dev/null || true)"
for file in {app_health}; do [ -f "$file" ] && printf '{health_tag}\t%s\t%s\n' "${{file##*/}}" "$(cat "$file")"; done
if [ -f {cert} ]; then
  end=$(openssl x509 -enddate -noout -in {cert} | cut -d= -f2)
  printf '{certificate}\t%s\t%s\n' "$(date -u -d "$end" +%s)" "$(date -u -d "$end" +%Y-%m-%d)"
fi
if nft list table inet deployer >/dev/null 2>&1; then
  # A rule that admits 80 and 443 from anyone, as nft lists it.
  printf '{firewall}\t1\t%s\n' "$(nft list chain inet deployer input | grep -cE '^\s*tcp dport \{{ 80, 443 \}} accept$')"
else
  printf '{firewall}\t0\t0\n'
fi
printf '{clock}\t%s\n' "$(date -u +%s)"
if [ -f {mesh_config} ]; then
  declare -A shook=()
  if handshakes=$(wg show {interface} latest-handshakes 2>/dev/null); then up=1; else up=0; fi
  while read -r key at; do [ -n "$key" ] && shook[$key]=$at; done <<<"$handshakes"
  printf '{mesh}\t%s\n' "$up"
  # Each peer's name is the comment above its key.
  name=
  while IFS= read -r line; do
    case $line in
      "# "*) name=${{line#"# "}} ;;
      "PublicKey = "*) key=${{line#"PublicKey = "}}; printf '{meshpeer}\t%s\t%s\n' "$name" "${{shook[$key]:-0}}" ;;
    esac
  done <{mesh_config}
fi
{os_release}
{apt_probe}
"##,
        os_release = survey::OS_RELEASE,
        apt_probe = survey::apt_probe(false),
        current = quote(&paths.current),
        // Only this app's units' counts: other apps on the host have theirs.
        app_health = unit_patterns(&loaded.spec.app.name)
            .map(|p| format!("{health}/{}*", quote(p.trim_end_matches('*'))))
            .join(" "),
        unit = Tag::Unit,
        release = Tag::Current,
        health_tag = Tag::Health,
        certificate = Tag::Certificate,
        firewall = Tag::Firewall,
        clock = Tag::Clock,
        mesh = Tag::Mesh,
        meshpeer = Tag::MeshPeer,
        mesh_config = quote(&paths.mesh_config),
        interface = mesh::INTERFACE,
    )
}

fn parse(host: &str, report: &str) -> Result<HostStatus> {
    let mut status = HostStatus {
        host: host.to_string(),
        release: None,
        firewall_loaded: false,
        web_open_to_all: None,
        security_updates: None,
        certificate: None,
        mesh: None,
        units: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let mut failed_checks = Vec::new();
    let mut handshakes = Vec::new();
    let (mut expires_at, mut now) = (None, None);
    for line in report.lines() {
        let record = protocol::record(line);
        match record.as_ref().map(|r| (r.tag, r.fields.as_slice())) {
            Some((Tag::Unit, [name, pairs @ ..])) => {
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
            Some((Tag::Current, [target])) => {
                status.release = target
                    .rsplit('/')
                    .next()
                    .filter(|id| !id.is_empty())
                    .map(String::from);
            }
            Some((Tag::Health, [unit, count])) => {
                failed_checks.push((unit.to_string(), count.parse().context("health count")?))
            }
            Some((Tag::Certificate, [epoch, date])) => {
                expires_at = Some(epoch.parse::<i64>().context("certificate expiry")?);
                status.certificate = Some(Certificate {
                    expires: date.to_string(),
                    days_left: 0,
                });
            }
            Some((Tag::Firewall, [loaded, open_to_all])) => {
                status.firewall_loaded = *loaded == "1";
                status.web_open_to_all = status
                    .firewall_loaded
                    .then(|| open_to_all.parse::<u32>().is_ok_and(|n| n > 0));
            }
            Some((Tag::Clock, [epoch])) => now = Some(epoch.parse::<i64>().context("host clock")?),
            Some((Tag::Mesh, [up])) => {
                status.mesh = Some(MeshStatus {
                    up: *up == "1",
                    peers: Vec::new(),
                })
            }
            Some((Tag::MeshPeer, [name, at])) => handshakes.push((
                name.to_string(),
                at.parse::<i64>().context("handshake time")?,
            )),
            Some((Tag::Apt, [security, _, _])) => status.security_updates = Some(*security == "1"),
            _ => bail!("{line:?}"),
        }
    }
    if let (Some(cert), Some(expires_at), Some(now)) = (&mut status.certificate, expires_at, now) {
        cert.days_left = (expires_at - now).div_euclid(86_400);
    }
    if let (Some(mesh), Some(now)) = (&mut status.mesh, now) {
        mesh.peers = handshakes
            .into_iter()
            .map(|(host, at)| MeshPeerStatus {
                host,
                handshake_ago: (at > 0).then(|| (now - at).max(0)),
            })
            .collect();
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
    if lb && loaded.spec.edge.only && status.web_open_to_all == Some(true) {
        problems.push(
            "80 and 443 are open to anyone, though edge.only admits the proxies in front only: apply to close them"
                .to_string(),
        );
    }

    if loaded.spec.network.mesh.is_some() && status.mesh.is_none() {
        problems.push("network.mesh is not set up on this host yet: apply".to_string());
    }
    if let Some(mesh) = &status.mesh {
        if !mesh.up {
            problems.push(format!("the mesh ({}) is down", mesh::INTERFACE));
        }
        for peer in &mesh.peers {
            match peer.handshake_ago {
                None => problems.push(format!("mesh: no handshake with {} yet", peer.host)),
                Some(ago) if ago > i64::from(mesh::HANDSHAKE_STALE_SECS) => {
                    problems.push(format!("mesh: no handshake with {} for {ago} s", peer.host))
                }
                Some(_) => {}
            }
        }
    }

    let health = health_service(&loaded.spec.app.name);
    for unit in &status.units {
        // The health checks' unit runs on its timer: between rounds it is
        // inactive, and only a failed round is a problem.
        let fine = if unit.name == health {
            unit.active != "failed"
        } else {
            unit.active == "active"
        };
        if !fine {
            problems.push(format!("{} is {}", unit.name, unit.active));
        }
        if let Some(n) = unit.failed_checks.filter(|n| *n > 0) {
            problems.push(format!("{} failed its last {n} health check(s)", unit.name));
        }
    }
    if lb && loaded.spec.tls_mode() != TlsMode::Off {
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

/// `deployer logs`: the app's journal from each chosen host, each line
/// written to `out` prefixed with its host; the hosts that failed.
pub fn logs(
    loaded: &Loaded,
    reach: &Reach,
    follow: bool,
    lines: u32,
    out: &Mutex<dyn std::io::Write + Send>,
) -> Result<Vec<anyhow::Error>> {
    let [web, others] = unit_patterns(&loaded.spec.app.name);
    let script = format!(
        "exec journalctl --no-pager --output=short-iso --lines={lines} {} -u {} -u {}\n",
        if follow { "--follow" } else { "" },
        quote(&web),
        quote(&others),
    );
    let chosen = hosts::select(loaded, reach)?;
    let outcomes = run_parallel(chosen, reach.parallel, false, |host| {
        let mut transport = hosts::connect(loaded, host, reach)?;
        let output = transport.run(&script, &mut |line| {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(out, "{}: {line}", host.name);
        })?;
        if output.status != 0 {
            bail!(
                "{}: journalctl failed:\n{}",
                host.name,
                output.stderr_tail()
            );
        }
        Ok(())
    });
    Ok(outcomes
        .into_iter()
        .filter_map(|o| match o {
            Outcome::Failed(e) => Some(e),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back() {
        let report = "unit\thello@3000.service\tActiveState=active\tNRestarts=2\tActiveEnterTimestamp=Wed 2026-11-25 14:48:43 UTC\n\
                      unit\tnginx.service\tActiveState=failed\tNRestarts=0\tActiveEnterTimestamp=\n\
                      current\t/srv/hello/releases/3f9a8c1b2d4e\n\
                      health\thello@3000.service\t0\n\
                      certificate\t1800000000\t2027-01-15\n\
                      firewall\t1\t0\n\
                      clock\t1799136000\n\
                      apt\t0\thttp://mirror.example.org/debian\tmain\n";
        let status = parse("web1", report).unwrap();
        assert_eq!(status.security_updates, Some(false));
        assert_eq!(status.release.as_deref(), Some("3f9a8c1b2d4e"));
        assert!(status.firewall_loaded);
        assert_eq!(status.web_open_to_all, Some(false));
        assert_eq!(status.certificate.as_ref().unwrap().days_left, 10);
        assert_eq!(status.units[0].restarts, 2);
        assert_eq!(status.units[0].failed_checks, Some(0));
        assert_eq!(status.units[1].active, "failed");
        assert!(status.mesh.is_none());
    }

    #[test]
    fn the_mesh_reports_each_peers_latest_handshake() {
        let report = "firewall\t1\t0\nclock\t1799136000\nmesh\t1\n\
                      meshpeer\tapp1\t1799135960\nmeshpeer\tapp2\t0\nmeshpeer\tdb1\t1799135000\n";
        let status = parse("lb1", report).unwrap();
        let mesh = status.mesh.as_ref().unwrap();
        assert!(mesh.up);
        let ago: Vec<_> = mesh
            .peers
            .iter()
            .map(|p| (p.host.as_str(), p.handshake_ago))
            .collect();
        assert_eq!(
            ago,
            [("app1", Some(40)), ("app2", None), ("db1", Some(1000))]
        );
        let loaded = crate::spec::check(
            std::path::Path::new("deployer.yaml"),
            "app: {name: a, source: ., start: node s.js, port: 3000}\nnetwork: {mesh: wireguard}\nhosts: [{name: lb1, address: 198.18.0.20}]\n",
            crate::spec::Secrets::Skip,
        )
        .unwrap();
        let found = problems(&loaded, false, &status);
        assert!(
            found.contains(&"mesh: no handshake with app2 yet".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"mesh: no handshake with db1 for 1000 s".to_string()),
            "{found:?}"
        );
        assert!(!found.iter().any(|p| p.contains("app1")), "{found:?}");
        let not_yet = parse("lb1", "firewall\t1\t0\nclock\t1799136000\n").unwrap();
        assert_eq!(
            problems(&loaded, false, &not_yet),
            ["network.mesh is not set up on this host yet: apply"]
        );
    }
}
