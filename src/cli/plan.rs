//! `deployer plan`: what would change on each host, as diffs. Changes nothing.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Result, bail};

use super::hosts::{self, ConnectArgs, Prepared};
use super::{Cli, exit, exposure, load};
use crate::engine;
use crate::plan::{HostPlan, Plan};
use crate::spec::{Loaded, Secrets};

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

/// Plans every prepared host in parallel, handing each back for reuse;
/// each plan also reports what the host exposes unexpectedly.
pub fn plan_all(
    loaded: &Loaded,
    prepared: Vec<Prepared>,
    parallel: usize,
) -> (Vec<(Prepared, HostPlan)>, Vec<anyhow::Error>) {
    let outcomes = hosts::run_parallel(prepared, parallel, false, |mut host| {
        let mut plan = engine::plan(
            &host.name,
            host.transport.as_mut(),
            &host.resources,
            &host.guard,
        )?;
        let spec_host = hosts::named(loaded, &host.name)?;
        plan.exposed = exposure::report(&loaded.spec, spec_host, &plan.listening);
        Ok((host, plan))
    });
    hosts::partition(outcomes)
}

/// Colour for people at a terminal that did not ask for none.
pub fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let loaded = load(cli, Secrets::Read)?;
    let hosts = hosts::select(&loaded, &args.connect)?;
    let prepared = hosts::prepare(&loaded, &hosts, &args.connect, hosts::Source::Ship)?;
    let (planned, failures) = plan_all(&loaded, prepared, args.connect.parallel.into());
    let plan = Plan::new(planned.into_iter().map(|(_, plan)| plan).collect());
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
