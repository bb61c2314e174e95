//! `deployer lab up|down|status|ssh`: disposable local Debian hosts.

use std::os::unix::process::CommandExt;

use anyhow::{Context as _, Result};

use super::{Cli, exit, load};
use crate::lab;
use crate::platform::System;
use crate::spec::Secrets;

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Boot the spec's hosts (or those named) as local containers, at the spec's addresses.
    Up {
        /// Only these hosts of the spec.
        names: Vec<String>,
        /// The hosts' system: `debian-12` or `debian-13`.
        #[arg(long, default_value = "debian-13", value_parser = lab_system, env = "DEPLOYER_LAB_OS")]
        os: System,
    },
    /// Stop every lab host and remove all the lab made (the cached image stays).
    Down,
    /// List the lab's hosts and whether each answers SSH.
    Status,
    /// Log in to a lab host (or run a command there).
    Ssh {
        name: String,
        /// A command to run instead of a shell.
        #[arg(last = true)]
        command: Vec<String>,
    },
}

fn lab_system(slug: &str) -> Result<System, String> {
    match System::from_slug(slug) {
        Some(system @ (System::Debian12 | System::Debian13)) => Ok(system),
        _ => Err("debian-12 or debian-13 (the lab boots Debian)".into()),
    }
}

pub fn run(cli: &Cli, action: &Action) -> Result<u8> {
    match action {
        Action::Up { names, os } => {
            let loaded = load(cli, Secrets::Skip)?;
            let booted = lab::up(&loaded, names, *os, &|step| eprintln!("lab: {step}"))?;
            for host in &booted {
                let private = host
                    .private
                    .map(|p| format!(", private {p}"))
                    .unwrap_or_default();
                println!("{}: up at {}{private}", host.name, host.public);
            }
            println!(
                "Deploy to it with `deployer apply -f {} --lab`; `deployer lab down` removes it.",
                cli.file.display()
            );
        }
        Action::Down => {
            let removed = lab::down()?;
            println!(
                "lab: removed {}",
                if removed.is_empty() {
                    "nothing (it was empty)".into()
                } else {
                    removed.join(", ")
                }
            );
        }
        Action::Status => {
            let hosts = lab::status()?;
            if hosts.is_empty() {
                println!("the lab is empty");
            }
            for (host, up) in hosts {
                let private = host
                    .private
                    .map(|p| format!(" private {p}"))
                    .unwrap_or_default();
                println!(
                    "{}: {} public {}{private}",
                    host.name,
                    if up { "up" } else { "DOWN" },
                    host.public
                );
            }
        }
        Action::Ssh { name, command } => {
            let host = lab::host(name)?;
            let error = std::process::Command::new("ssh")
                .args(["-i", &lab::key().to_string_lossy()])
                .args([
                    "-o",
                    &format!("UserKnownHostsFile={}", lab::known_hosts().display()),
                ])
                .args([
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    "IdentitiesOnly=yes",
                    "-F",
                    "/dev/null",
                ])
                .arg(format!("root@{}", host.public))
                .args(command)
                .exec();
            return Err(error).context("running ssh");
        }
    }
    Ok(exit::OK)
}
