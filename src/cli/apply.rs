//! `deployer apply [FILE]`: converge the hosts, a saved plan's or a fresh one.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use super::hosts::{self, ConnectArgs, Outcome};
use super::plan::{plan_all, use_color};
use super::progress::Progress;
use super::{Cli, exit, load};
use crate::engine;
use crate::lock::Lease;
use crate::plan::{HostPlan, Plan};
use crate::spec::Secrets;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A plan saved by `deployer plan --out`: applied only while the hosts
    /// and the spec are still what it saw.
    plan: Option<PathBuf>,
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    converge: ConvergeArgs,
    /// Once a host fails, start no other (those under way finish).
    #[arg(long, env = "DEPLOYER_FAIL_FAST")]
    fail_fast: bool,
}

/// What every command that changes hosts takes.
#[derive(clap::Args, Debug)]
pub struct ConvergeArgs {
    /// Apply without asking (required when not on a terminal).
    #[arg(long, short = 'y', env = "DEPLOYER_YES")]
    pub yes: bool,
    /// Seconds the deploy lock lives unless renewed; a crashed run's lock expires after it.
    #[arg(
        long,
        default_value_t = 1800,
        value_name = "SECS",
        env = "DEPLOYER_LOCK_TTL"
    )]
    pub lock_ttl: u64,
    /// No progress lines.
    #[arg(long, short = 'q', env = "DEPLOYER_QUIET")]
    pub quiet: bool,
}

/// How the hosts are taken through their plans.
pub enum Order {
    /// All at once, at most this many in parallel; with `fail_fast`, none
    /// starts after a failure.
    Parallel { parallel: usize, fail_fast: bool },
    /// A release rollout: see [`in_waves`].
    Waves { batch: usize },
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let loaded = load(cli, Secrets::Read)?;
    let saved = args.plan.as_deref().map(Plan::load).transpose()?;
    let mut connect = args.connect.clone();
    if let Some(saved) = &saved {
        if !connect.hosts.is_empty() {
            bail!("a saved plan names its hosts; leave out --host");
        }
        connect.hosts = saved.hosts.iter().map(|h| h.host.clone()).collect();
    }
    let hosts = hosts::select(&loaded, &connect)?;
    let prepared = hosts::prepare(&loaded, &hosts, &connect, hosts::Source::Ship)?;
    let parallel = usize::from(connect.parallel);

    let (prepared, expected): (Vec<_>, HashMap<String, HostPlan>) = match saved {
        Some(saved) => (
            prepared,
            saved
                .hosts
                .into_iter()
                .map(|h| (h.host.clone(), h))
                .collect(),
        ),
        None => {
            let (planned, failures) = plan_all(&loaded, prepared, parallel);
            if let Some(first) = failures.into_iter().next() {
                return Err(first.context("planning failed; nothing was applied"));
            }
            let plan = Plan::new(planned.iter().map(|(_, p)| p.clone()).collect());
            print!("{}", plan.human(use_color()));
            if plan.is_converged() {
                println!("Nothing to do: every host matches the spec.");
                return Ok(exit::OK);
            }
            if !confirmed(args.converge.yes, &plan)? {
                eprintln!("Nothing was applied.");
                return Ok(exit::FAILED);
            }
            planned
                .into_iter()
                .map(|(host, plan)| ((host), (plan.host.clone(), plan)))
                .unzip()
        }
    };

    let ships_release = expected
        .values()
        .any(|plan| plan.changes.iter().any(|c| c.kind == "release"));
    let order = if ships_release {
        Order::Waves {
            batch: usize::from(loaded.spec.rollout.batch),
        }
    } else {
        Order::Parallel {
            parallel,
            fail_fast: args.fail_fast,
        }
    };
    let outcomes = converge(
        prepared,
        &expected,
        &connect,
        &args.converge,
        order,
        cli.verbose,
    );
    report(outcomes, "deployer apply")
}

/// Applies each host's plan, under the deploy lock, with progress.
pub fn converge(
    prepared: Vec<hosts::Prepared>,
    expected: &HashMap<String, HostPlan>,
    connect: &ConnectArgs,
    args: &ConvergeArgs,
    order: Order,
    verbose: u8,
) -> Vec<Outcome<engine::Applied>> {
    let lease = Lease::new(&connect.state_dir, args.lock_ttl);
    let progress = Progress::new(args.quiet, verbose);
    let work = |mut host: hosts::Prepared| {
        let bar = progress.host(&host.name);
        let connector = host.connector.clone();
        let limit = host.guard.confirm_within / 2;
        let reconnect = move || connector.open_within(limit);
        let target = engine::Target {
            host: &host.name,
            transport: host.transport.as_mut(),
            reconnect: &reconnect,
            guard: &host.guard,
        };
        let result = engine::apply(
            target,
            &host.resources,
            expected.get(&host.name),
            &lease,
            &mut |step| bar.step(step),
        );
        if let (Ok(applied), 2..) = (&result, verbose) {
            // -vv: what the host's tools said along the way.
            for line in applied.log.lines() {
                eprintln!("{}: | {line}", host.name);
            }
        }
        match &result {
            Ok(applied) if applied.plan.is_converged() => bar.finish("no changes"),
            Ok(applied) => bar.finish(&format!("done: {}", applied.plan.summary())),
            Err(_) => bar.finish("FAILED"),
        }
        result
    };
    match order {
        Order::Waves { batch } => in_waves(prepared, batch, work),
        Order::Parallel {
            parallel,
            fail_fast,
        } => hosts::run_parallel(prepared, parallel, fail_fast, work),
    }
}

/// A new release goes to the first host alone, then `batch` hosts at a time;
/// a wave with a failure (a host that did not turn healthy rolled itself
/// back) stops the rollout, so no other host switches.
fn in_waves<F>(
    mut hosts: Vec<hosts::Prepared>,
    batch: usize,
    work: F,
) -> Vec<Outcome<engine::Applied>>
where
    F: Fn(hosts::Prepared) -> Result<engine::Applied> + Sync,
{
    let mut outcomes = Vec::new();
    let mut size = 1;
    while !hosts.is_empty() {
        let rest = hosts.split_off(size.min(hosts.len()));
        let wave = std::mem::replace(&mut hosts, rest);
        outcomes.extend(hosts::run_parallel(wave, size, false, &work));
        if outcomes.iter().any(|o| matches!(o, Outcome::Failed(_))) {
            outcomes.extend(hosts.drain(..).map(|h| Outcome::Skipped(h.name)));
        }
        size = batch.max(1);
    }
    outcomes
}

/// Asks on a terminal; refuses where nobody can answer.
pub fn confirmed(yes: bool, plan: &Plan) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to apply without --yes: standard input is not a terminal, so nobody can confirm the plan above"
        );
    }
    let changed = plan.hosts.iter().filter(|h| !h.is_converged()).count();
    dialoguer::Confirm::new()
        .with_prompt(format!(
            "Apply {} changes to {changed} host(s)?",
            plan.change_count()
        ))
        .default(false)
        .interact()
        .context("reading the answer")
}

/// Prints what happened on each host; `rerun` is the command that finishes the job.
pub fn report(outcomes: Vec<Outcome<engine::Applied>>, rerun: &str) -> Result<u8> {
    let (mut changed, mut failed, mut skipped, mut total) = (0, 0, 0, 0);
    for outcome in &outcomes {
        match outcome {
            Outcome::Done(applied) => {
                total += applied.plan.changes.len();
                changed += usize::from(!applied.plan.is_converged());
                println!(
                    "{}: {}",
                    applied.plan.host,
                    if applied.plan.is_converged() {
                        "no changes".to_string()
                    } else {
                        format!("applied {}", applied.plan.summary())
                    }
                );
            }
            Outcome::Failed(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
            }
            Outcome::Skipped(host) => {
                skipped += 1;
                eprintln!(
                    "{host}: skipped after a failure elsewhere (--fail-fast, or a rollout stopped); nothing was changed there"
                );
            }
        }
    }
    println!(
        "Apply: {total} change(s) on {changed} host(s); {failed} failed, {skipped} skipped, of {} host(s).",
        outcomes.len()
    );
    if failed + skipped > 0 {
        eprintln!("Fix the cause and run `{rerun}` again: it picks up where this run stopped.");
        return Ok(exit::FAILED);
    }
    Ok(exit::OK)
}
