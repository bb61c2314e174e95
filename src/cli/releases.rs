//! `deployer releases` and `deployer rollback`: the releases each app host
//! keeps, and going back to one of them. A rollback is an apply of the
//! release alone: the same waves, rolling restarts and health checks as a
//! deploy, and a host whose instances do not answer goes back to where it was.

use std::collections::HashMap;

use anyhow::{Result, bail};
use serde::Serialize;

use super::apply::{ConvergeArgs, Order, confirmed, converge, report};
use super::hosts::{self, ConnectArgs, Outcome, Prepared, Source};
use super::plan::{plan_all, use_color};
use super::{Cli, exit, load};
use crate::plan::Plan;
use crate::release::history::{self, Kept};
use crate::resource::{Release, Resource};
use crate::spec::{Host, Loaded, Role, Secrets};

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print the releases as JSON.
    #[arg(long, env = "DEPLOYER_JSON")]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    /// The release to go back to: an id, or the start of one. By default,
    /// the latest to go live before the current one that did not fail.
    #[arg(long, value_name = "ID", env = "DEPLOYER_ROLLBACK_TO")]
    to: Option<String>,
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    converge: ConvergeArgs,
    /// Print what happened on each host as JSON (with --yes).
    #[arg(long, env = "DEPLOYER_JSON")]
    json: bool,
}

/// One host's releases, the latest to go live first.
#[derive(Serialize)]
struct HostReleases {
    host: String,
    releases: Vec<Kept>,
}

pub fn list(cli: &Cli, args: &ListArgs) -> Result<u8> {
    let loaded = load(cli, Secrets::Skip)?;
    let listed = read_all(&loaded, &args.connect)?;
    if args.json {
        let hosts: Vec<HostReleases> = listed
            .into_iter()
            .map(|(host, _, releases)| HostReleases {
                host: host.name,
                releases,
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&hosts).expect("releases serialize")
        );
        return Ok(exit::OK);
    }
    for (host, _, releases) in listed {
        println!("{}:", host.name);
        if releases.is_empty() {
            println!("  no release yet");
        }
        for release in releases {
            let note = match (release.current, release.failed) {
                (true, true) => "  current (failed its last health check)",
                (true, false) => "  current",
                (false, true) => "  failed its health check",
                (false, false) => "",
            };
            println!(
                "  {} {}  went live {}{note}",
                if release.current { '*' } else { ' ' },
                release.id,
                release.switched_at
            );
        }
    }
    Ok(exit::OK)
}

/// What a rollback did on one host, for --json.
#[derive(Serialize)]
struct RolledBack {
    host: String,
    from: Option<String>,
    to: String,
    /// `switched`, `unchanged`, `failed` or `skipped`.
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn rollback(cli: &Cli, args: &RollbackArgs) -> Result<u8> {
    // Only the release resource is applied: no secrets needed.
    let loaded = load(cli, Secrets::Skip)?;
    if args.json && !args.converge.yes {
        bail!("--json leaves no room to confirm: add --yes");
    }
    let mut targets = Vec::new();
    let mut prepared = Vec::new();
    let mut problems = Vec::new();
    for (mut host, release, kept) in read_all(&loaded, &args.connect)? {
        match history::target(&kept, args.to.as_deref()) {
            Ok(target) => {
                let from = kept.iter().find(|k| k.current).map(|k| k.id.clone());
                targets.push((host.name.clone(), from, target.id.clone()));
                host.resources = vec![Resource::Release(Release {
                    id: target.id.clone(),
                    ..release
                })];
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
    let mut chosen: Vec<&str> = targets.iter().map(|(_, _, to)| to.as_str()).collect();
    chosen.sort_unstable();
    chosen.dedup();
    if args.to.is_none() && chosen.len() > 1 {
        let each: Vec<String> = targets
            .iter()
            .map(|(host, from, to)| {
                format!(
                    "  {host}: on {}, previous {to}",
                    from.as_deref().unwrap_or("nothing")
                )
            })
            .collect();
        bail!(
            "the hosts do not agree on the release before the current one:\n{}\nchoose one for all with --to ID; nothing was rolled back",
            each.join("\n")
        );
    }
    let rerun = match chosen.as_slice() {
        [one] => format!("deployer rollback --to {one}"),
        _ => "deployer rollback".to_string(),
    };
    let (planned, failures) = plan_all(&loaded, prepared, args.connect.parallel.into());
    if let Some(first) = failures.into_iter().next() {
        return Err(first.context("planning failed; nothing was rolled back"));
    }
    let plan = Plan::new(planned.iter().map(|(_, p)| p.clone()).collect());
    if !args.json {
        print!("{}", plan.human(use_color()));
    }
    if !confirmed(args.converge.yes, &plan)? {
        eprintln!("Nothing was rolled back.");
        return Ok(exit::FAILED);
    }
    let (prepared, expected): (Vec<_>, HashMap<_, _>) = planned
        .into_iter()
        .map(|(host, plan)| (host, (plan.host.clone(), plan)))
        .unzip();
    let order = Order::Waves {
        batch: usize::from(loaded.spec.rollout.batch),
    };
    let outcomes = converge(
        prepared,
        &expected,
        &args.connect,
        &args.converge,
        order,
        cli.verbose,
    );
    if !args.json {
        return report(outcomes, &rerun);
    }
    let mut failed = false;
    let results: Vec<RolledBack> = targets
        .into_iter()
        .zip(&outcomes)
        .map(|((host, from, to), outcome)| {
            let (result, error) = match outcome {
                Outcome::Done(applied) if applied.plan.is_converged() => ("unchanged", None),
                Outcome::Done(_) => ("switched", None),
                Outcome::Failed(e) => ("failed", Some(format!("{e:#}"))),
                Outcome::Skipped(_) => ("skipped", None),
            };
            failed |= matches!(result, "failed" | "skipped");
            RolledBack {
                host,
                from,
                to,
                result,
                error,
            }
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&results).expect("results serialize")
    );
    Ok(if failed { exit::FAILED } else { exit::OK })
}

/// Each chosen app or worker host, connected, with its release resource and
/// the releases it keeps. Hosts named with --host must run the app.
fn read_all(loaded: &Loaded, connect: &ConnectArgs) -> Result<Vec<(Prepared, Release, Vec<Kept>)>> {
    let runs_app = |h: &Host| h.has(Role::App) || h.has(Role::Worker);
    let chosen = hosts::select(loaded, connect)?;
    if let Some(other) = chosen
        .iter()
        .find(|h| !connect.hosts.is_empty() && !runs_app(h))
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
    let prepared = hosts::prepare(loaded, &chosen, connect, Source::Ignore)?;
    let outcomes = hosts::run_parallel(prepared, connect.parallel.into(), false, |mut host| {
        let release = host
            .resources
            .iter()
            .find_map(|r| match r {
                Resource::Release(release) => Some(release.clone()),
                _ => None,
            })
            .expect("app and worker hosts have a release");
        let output = host
            .transport
            .run(&history::script(&release.root), &mut |_| {})?;
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
