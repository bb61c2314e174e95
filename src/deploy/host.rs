//! What happens on one host: plan it (facts in one round trip, then a diff),
//! or apply it (lock and facts in one round trip, then one converge script).

use anyhow::{Result, bail};

use super::exposure::Exposure;
use super::removal::Removal;
use crate::converge;
use crate::plan::HostPlan;
use crate::protocol::{self, Tag};
use crate::resource::owned::{self, Pruning};
use crate::resource::{Resource, diff, facts};
use crate::safety::lock::{self, Lease};
use crate::safety::lockout::{self, LockoutGuard};
use crate::transport::Transport;

/// What one host must have, and what its plan is judged by.
pub struct Desired {
    pub resources: Vec<Resource>,
    /// What new SSH connections must look like (and deployer's state directory).
    pub guard: LockoutGuard,
    /// What the spec expects the host to listen on publicly.
    pub exposure: Exposure,
    /// The app whose manifest lists what deployer made here.
    pub app: String,
    /// What leaves the host that the spec no longer declares: what stays,
    /// and why each thing goes. `None` when `resources` are only part of
    /// what the spec makes (a rollback's release): nothing is removed and
    /// the manifest is left as it is.
    pub removal: Option<Removal>,
    /// What was on the host before deployer, and what happens to each
    /// (nginx sites, other rule sets): the plan's `found` lines.
    pub found: Vec<String>,
    /// What on the host stops this plan (another firewall manager, a site
    /// nginx could not serve beside the app's), with what to do.
    pub refusals: Vec<String>,
    /// What stops this plan while a unit is enabled (Debian's nftables
    /// service that flushes every table): (unit, why). The facts script
    /// asks systemd about these units with the resources' own.
    pub while_enabled: Vec<(String, String)>,
}

impl Desired {
    /// The units the facts script asks about besides the resources' own.
    fn units_asked(&self) -> Vec<&str> {
        self.while_enabled
            .iter()
            .map(|(unit, _)| unit.as_str())
            .collect()
    }
}

fn host_plan(host: &str, desired: &Desired, facts: &facts::Facts) -> Result<(HostPlan, Pruning)> {
    let Desired {
        resources,
        guard,
        exposure,
        app,
        removal,
        found,
        refusals,
        while_enabled,
    } = desired;
    if let Some(why) = facts.login.as_ref().and_then(|l| guard.refusal(l)) {
        bail!("{host}: {why}");
    }
    // systemd's UnitFileState: as of its last reload, which `systemctl
    // enable` and package scripts make; a link made by hand waits for one.
    let enabled = while_enabled
        .iter()
        .filter(|(unit, _)| {
            facts
                .services
                .get(unit)
                .is_some_and(|s| diff::is_enabled(&s.unit_file_state))
        })
        .map(|(_, why)| why.clone());
    let refusals: Vec<String> = refusals.iter().cloned().chain(enabled).collect();
    if !refusals.is_empty() {
        bail!("{host}: {}", refusals.join(&format!("\n{host}: ")));
    }
    let in_host = |e: anyhow::Error| anyhow::anyhow!("{host}: {e:#}");
    let mut changes = diff::changes(resources, facts).map_err(in_host)?;
    let (removals, kept, pruning) = match removal {
        Some(removal) => owned::prune(
            resources,
            facts,
            &guard.state_dir,
            app,
            removal.keep,
            &|id| removal.reasons.why(id),
        )
        .map_err(in_host)?,
        None => (Vec::new(), Vec::new(), Pruning::default()),
    };
    changes.extend(removals);
    let mut handlers = diff::handlers(resources, &changes, &facts.pending);
    handlers.extend(pruning.handlers());
    handlers.sort();
    handlers.dedup();
    let first_release = resources.iter().any(|r| match r {
        Resource::Release(release) => facts
            .releases
            .get(&release.root)
            .is_some_and(|now| now.current.is_none()),
        _ => false,
    });
    let plan = HostPlan {
        host: host.to_string(),
        facts_digest: facts.digest.clone(),
        desired_digest: diff::desired_digest(resources),
        handlers,
        changes,
        exposed: exposure.unexpected(&facts.listening),
        kept,
        found: found.clone(),
        first_release,
    };
    Ok((plan, pruning))
}

/// Reads the host's facts and works out what would change. Changes nothing.
pub fn plan(host: &str, transport: &mut dyn Transport, desired: &Desired) -> Result<HostPlan> {
    let resources = &desired.resources;
    let script = facts::script(
        resources,
        &desired.guard.state_dir,
        &desired.app,
        &desired.units_asked(),
        &desired.exposure.unreported(),
    );
    let output = transport.run_contained(&script)?;
    if output.status != 0 {
        bail!(
            "{host}: gathering facts failed (exit {}):\n{}",
            output.status,
            output.stderr_tail()
        );
    }
    let facts = facts::parse(&output.stdout, resources, &desired.units_asked())
        .map_err(|e| anyhow::anyhow!("{host}: {e:#}"))?;
    host_plan(host, desired, &facts).map(|(plan, _)| plan)
}

/// What an apply did on one host.
#[derive(Debug, Clone)]
pub struct Applied {
    pub plan: HostPlan,
    /// What the converge script said on stderr (package managers, systemctl).
    pub log: String,
}

/// A host to apply, and how to reach it again.
pub struct HostAccess<'a> {
    pub host: &'a str,
    pub transport: &'a mut dyn Transport,
    /// Opens a new connection, to confirm a firewall or sshd change.
    pub reconnect: &'a dyn Fn() -> Result<Box<dyn Transport>>,
}

/// Takes the host's deploy lock, reads its facts, and converges it. With
/// `expected` (a saved plan), refuses unless the host and the spec are still
/// what that plan saw. `progress` sees each step as it starts.
pub fn apply(
    access: HostAccess,
    desired: &Desired,
    expected: Option<&HostPlan>,
    lease: &Lease,
    progress: &mut dyn FnMut(&str),
) -> Result<Applied> {
    let HostAccess {
        host,
        transport,
        reconnect,
    } = access;
    let (resources, guard) = (&desired.resources, &desired.guard);
    progress("lock and facts");
    // This connection is a new one: it confirms a change an earlier apply
    // left waiting.
    let script = format!(
        "{}acquire_lock || exit 75\n{{ {}}} >/dev/null\n{}",
        lease.functions(),
        guard.confirm(),
        facts::script(
            resources,
            &lease.state_dir,
            &desired.app,
            &desired.units_asked(),
            &desired.exposure.unreported()
        )
    );
    let output = transport.run_contained(&script)?;
    if output.status == 75 {
        match lock::holder(&output.stdout) {
            Some(holder) => lock::held(host, &holder)?,
            None => bail!(
                "{host}: could not take the deploy lock:\n{}",
                output.stderr_tail()
            ),
        }
    }
    let release = |transport: &mut dyn Transport| {
        transport.run_contained(&lease.release_script()).map(|_| ())
    };
    if output.status != 0 {
        release(transport)?;
        bail!(
            "{host}: gathering facts failed (exit {}):\n{}",
            output.status,
            output.stderr_tail()
        );
    }
    let planned = facts::parse(&output.stdout, resources, &desired.units_asked())
        .map_err(|e| anyhow::anyhow!("{host}: {e:#}"))
        .and_then(|facts| host_plan(host, desired, &facts));
    let (plan, pruning) = match planned {
        Ok(planned) => planned,
        Err(e) => {
            release(transport)?;
            return Err(e);
        }
    };
    if let Some(expected) = expected {
        let stale = if expected.desired_digest != plan.desired_digest {
            Some("the spec now renders differently")
        } else if expected.facts_digest != plan.facts_digest {
            Some("the host changed")
        } else {
            None
        };
        if let Some(why) = stale {
            release(transport)?;
            bail!(
                "{host}: the saved plan is stale ({why} since it was made); nothing was applied. Run `deployer plan` again"
            );
        }
    }
    if plan.is_converged() {
        release(transport)?;
        return Ok(Applied {
            plan,
            log: String::new(),
        });
    }
    let script = converge::detached(
        &converge::script(
            resources,
            &plan.changes,
            &plan.handlers,
            lease,
            guard,
            &pruning,
        ),
        &lease.state_dir,
    );
    let mut last_step = String::from("start");
    let output = transport.run(&script, &mut |line| {
        if let Some(step) = protocol::record(line).filter(|r| r.tag == Tag::Step) {
            last_step = step.fields.join("\t");
            progress(&last_step);
        }
    });
    let output = output.map_err(|e| {
        anyhow::anyhow!(
            "{host}: lost the connection during step `{last_step}`: {e:#}. The host carries on by itself \
             and frees the deploy lock when done (its log and exit status: {}/apply/). \
             Run `deployer apply` again once `deployer lock status` says free",
            lease.state_dir
        )
    })?;
    if output.status != 0 {
        bail!(
            "{host}: failed at step `{last_step}` (exit {}); steps before it are done, the rest were not attempted:\n{}",
            output.status,
            output.stderr_tail()
        );
    }
    if !lockout::changed_files(resources, &plan.changes).is_empty()
        || !pruning.guarded_files().is_empty()
    {
        progress("confirm with a new SSH connection");
        confirm(host, reconnect, guard)?;
    }
    Ok(Applied {
        plan,
        log: output.stderr,
    })
}

/// Calls off the revert through a new connection; without one, waits for
/// the host to revert and says whether it can be reached again.
fn confirm(
    host: &str,
    reconnect: &dyn Fn() -> Result<Box<dyn Transport>>,
    guard: &LockoutGuard,
) -> Result<()> {
    let attempt = || -> Result<bool> {
        let output = reconnect()?.run(&guard.confirm(), &mut |_| {})?;
        if output.status != 0 {
            bail!("exit {}: {}", output.status, output.stderr_tail());
        }
        Ok(!output.stdout.contains(lockout::REVERTED))
    };
    let shut_out = match attempt() {
        Ok(true) => return Ok(()),
        Ok(false) => bail!(
            "{host}: a new SSH connection got in only after {}s (firewall.confirm_within), \
             when the host had already put the previous firewall and sshd settings back. \
             Apply again to retry; raise firewall.confirm_within if connections are that slow",
            guard.confirm_within.as_secs()
        ),
        Err(e) => e,
    };
    let wait = guard.confirm_within + std::time::Duration::from_secs(5);
    std::thread::sleep(wait);
    let after = match attempt() {
        Ok(_) => "the host put the previous firewall and sshd settings back by itself and accepts new connections again".to_string(),
        Err(e) => format!("the host should have put the previous settings back by now, yet still refuses new connections ({e:#}): reach it through its console"),
    };
    bail!(
        "{host}: after the firewall/sshd change, a new SSH connection failed ({shut_out:#}); {after}. \
         Look at what the change does to SSH (network.ssh_from, network.ssh_port, firewall, ssh.allow_users) and apply again"
    )
}
