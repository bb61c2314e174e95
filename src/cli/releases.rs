//! `deployer releases`: the releases each app host keeps.

use anyhow::Result;

use super::args::ConnectArgs;
use super::{Cli, exit, load};
use crate::deploy;
use crate::spec::Secrets;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print the releases as JSON.
    #[arg(long, env = "DEPLOYER_JSON")]
    json: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let loaded = load(cli, Secrets::Skip)?;
    let hosts = deploy::releases(&loaded, &args.connect.reach())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&hosts).expect("releases serialize")
        );
        return Ok(exit::OK);
    }
    for host in hosts {
        println!("{}:", host.host);
        if host.releases.is_empty() {
            println!("  no release yet");
        }
        for release in host.releases {
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
