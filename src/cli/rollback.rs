//! `deployer rollback [--to ID]`: back to an earlier release, rolled out
//! like a deploy.

use anyhow::{Result, bail};
use serde::Serialize;

use super::args::{ConnectArgs, ConvergeArgs};
use super::{Cli, exit, load, report};
use crate::deploy::{self, ApplyOutcome, Outcome};
use crate::spec::Secrets;
use crate::ui::Console;

#[derive(clap::Args, Debug)]
pub struct Args {
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

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    // Only the release resource is applied: no secrets needed.
    let loaded = load(cli, Secrets::Skip)?;
    if args.json && !args.converge.yes {
        bail!("--json leaves no room to confirm: add --yes");
    }
    let console = Console {
        quiet: args.converge.quiet,
        verbose: cli.verbose,
    };
    let (targets, outcome) = deploy::rollback(
        &loaded,
        &args.connect.reach(),
        args.to.as_deref(),
        &args.converge.options(false),
        &console,
        !args.json,
    )?;
    let outcomes = match outcome {
        ApplyOutcome::Applied(outcomes) => outcomes,
        ApplyOutcome::Converged | ApplyOutcome::Declined => {
            eprintln!("Nothing was rolled back.");
            return Ok(exit::FAILED);
        }
    };
    if !args.json {
        let mut chosen: Vec<&str> = targets.iter().map(|t| t.to.as_str()).collect();
        chosen.sort_unstable();
        chosen.dedup();
        let rerun = match chosen.as_slice() {
            [one] => format!("deployer rollback --to {one}"),
            _ => "deployer rollback".to_string(),
        };
        return Ok(report::applied(&outcomes, &rerun));
    }
    let mut failed = false;
    let results: Vec<RolledBack> = targets
        .into_iter()
        .zip(&outcomes)
        .map(|(target, outcome)| {
            let (result, error) = match outcome {
                Outcome::Done(applied) if applied.plan.is_converged() => ("unchanged", None),
                Outcome::Done(_) => ("switched", None),
                Outcome::Failed(e) => ("failed", Some(format!("{e:#}"))),
                Outcome::Skipped(_) => ("skipped", None),
            };
            failed |= matches!(result, "failed" | "skipped");
            RolledBack {
                host: target.host,
                from: target.from,
                to: target.to,
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
