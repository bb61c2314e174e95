//! `deployer destroy`: the app taken off its hosts through the same plan
//! machinery. Everything its manifest lists goes (its data and account
//! only with `--purge`); packages stay, since other things may need them.

use anyhow::Result;

use super::apply::{ApplyOutcome, ConvergeOptions, Order, Reviewed, converge, review};
use super::plan::plan_all;
use super::prepare::{Source, prepare};
use super::removal::Removal;
use super::{Reach, hosts};
use crate::resource::Resource;
use crate::safety::lockout::LockoutGuard;
use crate::spec::Loaded;
use crate::ui::Console;

pub fn destroy(
    loaded: &Loaded,
    reach: &Reach,
    purge: bool,
    options: &ConvergeOptions,
    console: &Console,
) -> Result<ApplyOutcome> {
    let chosen = hosts::select(loaded, reach)?;
    super::lock::wait_until_free(loaded, &chosen, reach, options.lock_wait, console)?;
    let mut prepared = prepare(loaded, &chosen, reach, Source::Ignore)?;
    let mut packages = Vec::new();
    for host in &mut prepared {
        let desired = &mut host.desired;
        let names: Vec<String> = desired
            .resources
            .iter()
            .filter_map(|r| match r {
                Resource::Package(p) => Some(p.name.clone()),
                _ => None,
            })
            .collect();
        packages.push((host.name.clone(), names));
        desired.resources.clear();
        desired.removal = Some(Removal::destroy(purge));
        // Taking the app off leaves room for anything else on the host.
        desired.found.clear();
        desired.refusals.clear();
        desired.while_enabled.clear();
        // What SSH looks like afterwards is sshd's own default, which the
        // spec no longer shapes: any new connection confirms.
        desired.guard = LockoutGuard {
            confirm_within: desired.guard.confirm_within,
            ..LockoutGuard::permissive(&reach.state_dir)
        };
    }
    let (mut planned, failures) = plan_all(prepared, reach.parallel);
    if let Some(first) = failures.into_iter().next() {
        return Err(first.context("planning failed; nothing was removed"));
    }
    for (host, plan) in &mut planned {
        if let Some((_, names)) = packages.iter().find(|(name, _)| *name == host.name)
            && !names.is_empty()
        {
            plan.kept.push(format!(
                "packages {} (other things may need them)",
                names.join(", ")
            ));
        }
    }
    let (prepared, expected) = match review(planned, options, console)? {
        Reviewed::Go(prepared, expected) => (prepared, expected),
        Reviewed::Converged => return Ok(ApplyOutcome::Converged),
        Reviewed::Declined => return Ok(ApplyOutcome::Declined),
    };
    Ok(ApplyOutcome::Applied(converge(
        prepared,
        &expected,
        reach,
        options,
        Order::Parallel {
            fail_fast: options.fail_fast,
        },
        console,
    )))
}
