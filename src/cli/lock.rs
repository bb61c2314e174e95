//! `deployer lock status|release`: who holds each host's deploy lock.

use anyhow::{Result, bail};

use super::hosts::{self, ConnectArgs, Outcome};
use super::{Cli, exit, load};
use crate::lock::{self, now};
use crate::spec::Secrets;

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Show who holds each host's deploy lock.
    Status(ConnectArgs),
    /// Free the lock whoever holds it: only once you know its run is gone.
    Release(ConnectArgs),
}

pub fn run(cli: &Cli, action: &Action) -> Result<u8> {
    let loaded = load(cli, Secrets::Skip)?;
    let (args, script) = match action {
        Action::Status(args) => (args, lock::status_script(&args.state_dir)),
        Action::Release(args) => (args, lock::force_release_script(&args.state_dir)),
    };
    let hosts = hosts::select(&loaded, args)?;
    let outcomes = hosts::run_parallel(hosts, args.parallel.into(), false, |host| {
        let mut transport = hosts::connect(&loaded, host, args)?;
        let output = transport.run(&script, &mut |_| {})?;
        if output.status != 0 {
            bail!(
                "{}: reading the lock failed:\n{}",
                host.name,
                output.stderr_tail()
            );
        }
        let state = match output.stdout.lines().find_map(lock::parse_holder) {
            None => "free".to_string(),
            Some(holder) if matches!(action, Action::Release(_)) => {
                format!("released (was held by {})", holder.describe(now()))
            }
            Some(holder) => format!("locked by {}", holder.describe(now())),
        };
        Ok(format!("{}: {state}", host.name))
    });
    let mut code = exit::OK;
    for outcome in outcomes {
        match outcome {
            Outcome::Done(line) => println!("{line}"),
            Outcome::Failed(e) => {
                eprintln!("error: {e:#}");
                code = exit::FAILED;
            }
            Outcome::Skipped(_) => {}
        }
    }
    Ok(code)
}
