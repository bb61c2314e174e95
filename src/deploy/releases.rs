//! The releases each app host keeps, and going back to one of them. A
//! rollback is an apply of the release alone: the same waves, rolling
//! restarts and health checks as a deploy, and a host whose instances do
//! not answer goes back to where it was.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;

use super::Reach;
use super::apply::{ApplyOutcome, ConvergeOptions, Order, converge};
use super::hosts::{self, run_parallel};
use super::plan::plan_all;
use super::prepare::{Prepared, Source, prepare};
use crate::plan::Plan;
use crate::release::Release;
use crate::release::history::{self, Kept};
use crate::resource::Resource;
use crate::spec::{Host, Loaded, Role};
use crate::ui::Console;

/// One host's releases, the latest to go live first.
#[derive(Serialize)]
pub struct HostReleases {
    pub host: String,
    pub releases: Vec<Kept>,
}

/// `deployer releases`.
pub fn releases(loaded: &Loaded, reach: &Reach) -> Result<Vec<HostReleases>> {
    Ok(
        read_all(loaded, reach, Duration::ZERO, &Console::default())?
            .into_iter()
            .map(|(host, _, releases)| HostReleases {
                host: host.name,
                releases,
            })
            .collect(),
    )
}

/// Where a rollback takes one host.
#[derive(Debug, Clone)]
pub struct RollbackTarget {
    pub host: String,
    /// The release it was on.
    pub from: Option<String>,
    pub to: String,
}

/// `deployer rollback [--to ID]`: each host's target, and how the apply
/// of those targets ended. `show_plan` prints the plan before asking.
pub fn rollback(
    loaded: &Loaded,
    reach: &Reach,
    to: Option<&str>,
    options: &ConvergeOptions,
    console: &Console,
    show_plan: bool,
) -> Result<(Vec<RollbackTarget>, ApplyOutcome)> {
    let mut targets = Vec::new();
    let mut prepared = Vec::new();
    let mut problems = Vec::new();
    for (mut host, release, kept) in read_all(loaded, reach, options.lock_wait, console)? {
        match history::target(&kept, to) {
            Ok(target) => {
                targets.push(RollbackTarget {
                    host: host.name.clone(),
                    from: kept.iter().find(|k| k.current).map(|k| k.id.clone()),
                    to: target.id.clone(),
                });
                host.desired.resources = vec![Resource::Release(Release {
                    id: target.id.clone(),
                    ..release
                })];
                // The release alone: everything else stays as it is, and
                // what else is on the host does not concern it.
                host.desired.removal = None;
                host.desired.found.clear();
                host.desired.refusals.clear();
                host.desired.while_enabled.clear();
                prepared.push(host);
            }
            Err(e) => problems.push(format!("{}: {e:#}", host.name)),
        }
    }
    if !problems.is_empty() {
        bail!(
            "{}\nnothing was rolled back on any host",
            problems.join("\n")
        );
    }
    // Hosts can disagree after a partial rollout or rollback (one went back
    // by itself, another did not): each going to its own "previous" would
    // spread them further apart, so the operator names one.
    let mut chosen: Vec<&str> = targets.iter().map(|t| t.to.as_str()).collect();
    chosen.sort_unstable();
    chosen.dedup();
    if to.is_none() && chosen.len() > 1 {
        let each: Vec<String> = targets
            .iter()
            .map(|t| {
                format!(
                    "  {}: on {}, previous {}",
                    t.host,
                    t.from.as_deref().unwrap_or("nothing"),
                    t.to
                )
            })
            .collect();
        bail!(
            "the hosts do not agree on the release before the current one:\n{}\nchoose one for all with --to ID; nothing was rolled back",
            each.join("\n")
        );
    }
    let (planned, failures) = plan_all(prepared, reach.parallel);
    if let Some(first) = failures.into_iter().next() {
        return Err(first.context("planning failed; nothing was rolled back"));
    }
    let plan = Plan::new(planned.iter().map(|(_, p)| p.clone()).collect());
    if show_plan {
        console.show_plan(&plan);
    }
    if !console.confirm(options.yes, &plan)? {
        return Ok((targets, ApplyOutcome::Declined));
    }
    let (prepared, expected): (Vec<_>, HashMap<_, _>) = planned
        .into_iter()
        .map(|(host, plan)| (host, (plan.host.clone(), plan)))
        .unzip();
    let order = Order::Waves {
        batch: loaded.spec.rollout.batch,
    };
    let outcomes = converge(prepared, &expected, reach, options, order, console);
    Ok((targets, ApplyOutcome::Applied(outcomes)))
}

/// Each chosen app or worker host, connected, with its release resource and
/// the releases it keeps. Hosts named with --host must run the app.
/// A rollback first waits `lock_wait` for other runs' locks.
fn read_all(
    loaded: &Loaded,
    reach: &Reach,
    lock_wait: Duration,
    console: &Console,
) -> Result<Vec<(Prepared, Release, Vec<Kept>)>> {
    let runs_app = |h: &Host| h.has(Role::App) || h.has(Role::Worker);
    let chosen = hosts::select(loaded, reach)?;
    if let Some(other) = chosen
        .iter()
        .find(|h| !reach.hosts.is_empty() && !runs_app(h))
    {
        bail!(
            "{} runs no app (it is not an app or worker host), so it keeps no releases",
            other.name
        );
    }
    let chosen: Vec<&Host> = chosen.into_iter().filter(|h| runs_app(h)).collect();
    if chosen.is_empty() {
        bail!(
            "no host in {} has the app or worker role",
            loaded.file.display()
        );
    }
    super::lock::wait_until_free(loaded, &chosen, reach, lock_wait, console)?;
    let prepared = prepare(loaded, &chosen, reach, Source::Ignore)?;
    let outcomes = run_parallel(prepared, reach.parallel, false, |mut host| {
        let release = host
            .desired
            .resources
            .iter()
            .find_map(|r| match r {
                Resource::Release(release) => Some(release.clone()),
                _ => None,
            })
            .expect("app and worker hosts have a release");
        let output = host
            .transport
            .run_contained(&history::script(&release.root))?;
        if output.status != 0 {
            bail!(
                "{}: listing releases failed (exit {}):\n{}",
                host.name,
                output.status,
                output.stderr_tail()
            );
        }
        let kept = history::parse(&output.stdout)?;
        Ok((host, release, kept))
    });
    let (listed, failures) = hosts::partition(outcomes);
    if !failures.is_empty() {
        bail!("{}", hosts::lines(&failures));
    }
    Ok(listed)
}
