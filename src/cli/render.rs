//! `deployer render`: every file each host gets, written locally for review.

use std::path::PathBuf;

use anyhow::Result;

use super::{Cli, load};
use crate::deploy::{self, RenderedHost};
use crate::dialect::terminal::escaped;
use crate::platform::{SYSTEMS, System};
use crate::resource::{Kind, Resource};
use crate::spec::Secrets;

#[derive(clap::Args)]
pub struct Args {
    /// Only this host.
    #[arg(long, env = "DEPLOYER_RENDER_HOST")]
    host: Option<String>,
    /// Where to write; each host gets OUT/<host>/.
    #[arg(long, env = "DEPLOYER_RENDER_OUT")]
    out: PathBuf,
    /// CPU cores to assume for `instances: max` (read from the hosts at plan time).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024), env = "DEPLOYER_RENDER_CPUS")]
    cpus: u32,
    /// The hosts' system, which some files follow (nginx's http2 syntax,
    /// unattended-upgrades' origins); plan and apply read it from the hosts.
    #[arg(long, default_value = "debian-13", value_parser = system, env = "DEPLOYER_RENDER_OS")]
    os: System,
}

fn system(slug: &str) -> Result<System, String> {
    System::from_slug(slug)
        .ok_or_else(|| format!("one of {}", SYSTEMS.map(|s| s.slug()).join(", ")))
}

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let loaded = load(cli, Secrets::Skip)?;
    for host in deploy::render(&loaded, args.host.as_deref(), args.cpus, args.os, &args.out)? {
        print_summary(&host);
    }
    Ok(())
}

fn print_summary(host: &RenderedHost) {
    let resources = &host.resources;
    let names = |kind: Kind| -> Vec<String> {
        resources
            .iter()
            .map(Resource::id)
            .filter(|id| id.kind == kind)
            .map(|id| id.target)
            .collect()
    };
    let secrets: Vec<&str> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::File(f) if f.secret => Some(f.path.as_str()),
            _ => None,
        })
        .collect();
    println!(
        "{}: wrote {} files under {}",
        host.name,
        names(Kind::File).len() - secrets.len(),
        escaped(&host.dir.display().to_string())
    );
    if !secrets.is_empty() {
        println!("  secret, not written: {}", secrets.join(", "));
    }
    for (kind, title) in [
        (Kind::Package, "packages"),
        (Kind::User, "users"),
        (Kind::Dir, "directories"),
        (Kind::Service, "services"),
    ] {
        let list = names(kind);
        if !list.is_empty() {
            println!("  {title}: {}", list.join(", "));
        }
    }
}
