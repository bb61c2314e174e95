//! `deployer destroy`: take the app off its hosts.

use anyhow::Result;

use super::args::{ConnectArgs, ConvergeArgs};
use super::{Cli, exit, load, report};
use crate::deploy::{self, ApplyOutcome};
use crate::spec::Secrets;
use crate::ui::Console;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    converge: ConvergeArgs,
    /// Also remove the app's data (releases, shared/, its state), its
    /// account, and the ACME account.
    #[arg(long, env = "DEPLOYER_PURGE")]
    purge: bool,
    /// Once a host fails, start no other (those under way finish).
    #[arg(long, env = "DEPLOYER_FAIL_FAST")]
    fail_fast: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let loaded = load(cli, Secrets::Skip)?;
    let console = Console {
        quiet: args.converge.quiet,
        verbose: cli.verbose,
    };
    let outcome = deploy::destroy(
        &loaded,
        &args.connect.reach(),
        args.purge,
        &args.converge.options(args.fail_fast),
        &console,
    )?;
    Ok(match outcome {
        ApplyOutcome::Converged => {
            println!("Nothing to do: nothing of the app is left on these hosts.");
            exit::OK
        }
        ApplyOutcome::Declined => {
            eprintln!("Nothing was removed.");
            exit::FAILED
        }
        ApplyOutcome::Applied(outcomes) => report::applied(&outcomes, "deployer destroy"),
    })
}
