//! `deployer logs`: the app's journal (web instances, workers, pm2) from
//! each chosen host, every line prefixed with its host.

use std::sync::Mutex;

use anyhow::Result;

use super::args::ConnectArgs;
use super::{Cli, exit, load};
use crate::deploy;
use crate::spec::Secrets;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Keep streaming new lines until interrupted (`-f` is `--file`).
    #[arg(long, env = "DEPLOYER_LOGS_FOLLOW")]
    pub follow: bool,
    /// How many of the latest lines to show first.
    #[arg(
        short = 'n',
        long,
        default_value_t = 100,
        value_name = "N",
        env = "DEPLOYER_LOGS_LINES"
    )]
    pub lines: u32,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let loaded = load(cli, Secrets::Skip)?;
    let out = Mutex::new(std::io::stdout());
    let failures = deploy::logs(
        &loaded,
        &args.connect.reach(),
        args.follow,
        args.lines,
        &out,
    )?;
    for failure in &failures {
        eprintln!("error: {failure:#}");
    }
    Ok(if failures.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}
