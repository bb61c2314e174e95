//! `deployer render`: every file each host gets, written locally for review.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::{Cli, load};
use crate::playbook;
use crate::render::Renderer;
use crate::render::context::{self, Assumed};
use crate::resource::Resource;
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
}

/// Marks a directory as render output, so a rerun may replace what is in it.
const MARKER: &str = ".deployer-render";

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let loaded = load(cli, Secrets::Skip)?;
    let spec = &loaded.spec;
    let hosts: Vec<_> = match &args.host {
        None => spec.hosts.iter().collect(),
        Some(name) => vec![super::hosts::named(&loaded, name)?],
    };
    prepare_out(&args.out)?;
    let renderer = Renderer::new()?;
    let facts = Assumed { cpus: args.cpus };
    for host in hosts {
        let context = context::build(&loaded, host, &facts);
        let resources = playbook::expand(&renderer, &context)?;
        let dir = args.out.join(&host.name);
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        write_files(&dir, &resources)?;
        print_summary(&host.name, &dir, &resources);
    }
    Ok(())
}

/// Refuses to write into a directory that holds something else than a render.
fn prepare_out(out: &Path) -> Result<()> {
    let is_empty = |p: &Path| {
        fs::read_dir(p)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
    };
    if out.exists() && !out.join(MARKER).exists() && !is_empty(out) {
        bail!(
            "{} is not empty and was not written by `deployer render`; choose another --out",
            out.display()
        );
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    fs::write(out.join(MARKER), "").with_context(|| format!("writing into {}", out.display()))?;
    Ok(())
}

fn write_files(dir: &Path, resources: &[Resource]) -> Result<()> {
    for resource in resources {
        let Resource::File(file) = resource else {
            continue;
        };
        if file.secret {
            // A private key stays where the operator keeps it.
            continue;
        }
        let target = dir.join(file.path.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&target, &file.content)
            .with_context(|| format!("writing {}", target.display()))?;
        fs::set_permissions(&target, fs::Permissions::from_mode(file.mode.0))
            .with_context(|| format!("setting the mode of {}", target.display()))?;
    }
    Ok(())
}

fn print_summary(host: &str, dir: &Path, resources: &[Resource]) {
    let names = |kind: &str| -> Vec<&str> {
        resources
            .iter()
            .map(Resource::label)
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n)
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
        "{host}: wrote {} files under {}",
        names("file").len() - secrets.len(),
        dir.display()
    );
    if !secrets.is_empty() {
        println!("  secret, not written: {}", secrets.join(", "));
    }
    for (kind, title) in [
        ("package", "packages"),
        ("user", "users"),
        ("dir", "directories"),
        ("service", "services"),
    ] {
        let list = names(kind);
        if !list.is_empty() {
            println!("  {title}: {}", list.join(", "));
        }
    }
}
