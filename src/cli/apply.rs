//! `deployer apply [FILE]`: converge the hosts, a saved plan's or a fresh one.

use std::path::PathBuf;

use anyhow::Result;

use super::args::{ConnectArgs, ConvergeArgs};
use super::{Cli, exit, load, report};
use crate::deploy::{self, ApplyOutcome};
use crate::spec::Secrets;
use crate::ui::Console;

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

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let mut loaded = load(cli, Secrets::Read)?;
    args.connect.adapt(&mut loaded)?;
    let console = Console {
        quiet: args.converge.quiet,
        verbose: cli.verbose,
    };
    let outcome = deploy::apply(
        &loaded,
        &args.connect.reach(),
        args.plan.as_deref(),
        &args.converge.options(args.fail_fast),
        &console,
    )?;
    Ok(match outcome {
        ApplyOutcome::Converged => {
            println!("Nothing to do: every host matches the spec.");
            exit::OK
        }
        ApplyOutcome::Declined => {
            eprintln!("Nothing was applied.");
            exit::FAILED
        }
        ApplyOutcome::Applied(outcomes) => report::applied(&outcomes, "deployer apply"),
    })
}
