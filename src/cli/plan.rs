//! `deployer plan`: what would change on each host, as diffs. Changes nothing.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::args::ConnectArgs;
use super::{Cli, exit, load};
use crate::deploy;
use crate::spec::Secrets;
use crate::ui::use_color;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Print the plan as JSON (its format: docs/plan-json.md).
    #[arg(long, env = "DEPLOYER_JSON")]
    json: bool,
    /// Exit 0 when nothing would change, 2 when something would, 1 on error.
    #[arg(long, env = "DEPLOYER_DETAILED_EXITCODE")]
    detailed_exitcode: bool,
    /// Save the plan, for `deployer apply FILE`.
    #[arg(long, value_name = "FILE", env = "DEPLOYER_PLAN_OUT")]
    out: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let mut loaded = load(cli, Secrets::Read)?;
    args.connect.adapt(&mut loaded)?;
    let deploy::Planned { plan, failures } = deploy::plan(&loaded, &args.connect.reach())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).expect("plans serialize")
        );
    } else {
        print!("{}", plan.human(use_color()));
    }
    for failure in &failures {
        eprintln!("error: {failure:#}");
    }
    if !failures.is_empty() {
        if args.out.is_some() {
            bail!(
                "the plan was not saved: {} host(s) could not be planned",
                failures.len()
            );
        }
        return Ok(exit::FAILED);
    }
    if let Some(out) = &args.out {
        plan.save(out)?;
        eprintln!(
            "Saved the plan to {}; `deployer apply {}` applies exactly it.",
            out.display(),
            out.display()
        );
    }
    Ok(if args.detailed_exitcode && !plan.is_converged() {
        exit::CHANGES
    } else {
        exit::OK
    })
}
