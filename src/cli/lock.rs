//! `deployer lock status|release`: who holds each host's deploy lock.

use anyhow::Result;

use super::args::ConnectArgs;
use super::{Cli, exit, load};
use crate::deploy::{self, LockAction, Outcome};
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
    let (args, action) = match action {
        Action::Status(args) => (args, LockAction::Status),
        Action::Release(args) => (args, LockAction::Release),
    };
    let mut code = exit::OK;
    for outcome in deploy::lock(&loaded, &args.reach(), action)? {
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
