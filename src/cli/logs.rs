//! `deployer logs`: the app's journal (web instances, workers, pm2) from
//! each chosen host, every line prefixed with its host.

use std::io::Write as _;
use std::sync::Mutex;

use anyhow::{Result, bail};

use super::hosts::{self, ConnectArgs, Outcome};
use super::{Cli, exit, load, status};
use crate::shell::quote;
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
    let [web, others] = status::app_unit_patterns(&loaded.spec.app.name);
    let script = format!(
        "exec journalctl --no-pager --output=short-iso --lines={} {} -u {} -u {}\n",
        args.lines,
        if args.follow { "--follow" } else { "" },
        quote(&web),
        quote(&others),
    );
    let hosts = hosts::select(&loaded, &args.connect)?;
    let out = Mutex::new(std::io::stdout());
    let outcomes = hosts::run_parallel(hosts, args.connect.parallel.into(), false, |host| {
        let mut transport = hosts::connect(&loaded, host, &args.connect)?;
        let output = transport.run(&script, &mut |line| {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(out, "{}: {line}", host.name);
        })?;
        if output.status != 0 {
            bail!(
                "{}: journalctl failed:\n{}",
                host.name,
                output.stderr_tail()
            );
        }
        Ok(())
    });
    let mut code = exit::OK;
    for outcome in outcomes {
        if let Outcome::Failed(e) = outcome {
            eprintln!("error: {e:#}");
            code = exit::FAILED;
        }
    }
    Ok(code)
}
