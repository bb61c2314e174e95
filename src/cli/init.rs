//! `deployer init`: looks at the app in the current directory, asks what it
//! cannot know (or takes every answer from flags with `--non-interactive`),
//! and writes a commented deployer.yaml that validates.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use dialoguer::{Input, Select};

use super::{Cli, exit};
use crate::scaffold::{self, Answers, DEFAULT_NODE, Detected, Host, SCHEMA_FILE};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Ask nothing: every answer comes from these flags or what was detected.
    #[arg(long, env = "DEPLOYER_NON_INTERACTIVE")]
    pub non_interactive: bool,
    /// Replace an existing file.
    #[arg(long, env = "DEPLOYER_INIT_FORCE")]
    pub force: bool,
    /// The app's name (default: package.json's `name`).
    #[arg(long, env = "DEPLOYER_INIT_NAME")]
    pub name: Option<String>,
    /// How to start it, without a shell (default: package.json's `start` script).
    #[arg(long, env = "DEPLOYER_INIT_START")]
    pub start: Option<String>,
    /// A host: NAME=ADDRESS, or NAME=ADDRESS,PRIVATE_ADDRESS; repeatable.
    #[arg(
        long = "host",
        value_name = "NAME=ADDRESS[,PRIVATE]",
        env = "DEPLOYER_INIT_HOSTS",
        value_delimiter = ' '
    )]
    pub hosts: Vec<String>,
    /// The site's public name.
    #[arg(long, env = "DEPLOYER_INIT_DOMAIN")]
    pub domain: Option<String>,
    /// `acme`, `self-signed` or `off` (default: acme with a domain).
    #[arg(long, env = "DEPLOYER_INIT_TLS")]
    pub tls: Option<String>,
    /// The ACME account's contact.
    #[arg(long, env = "DEPLOYER_INIT_EMAIL")]
    pub email: Option<String>,
    /// `systemd` or `pm2`.
    #[arg(long, env = "DEPLOYER_INIT_PROCESS_MANAGER")]
    pub process_manager: Option<String>,
    /// Web processes per app host: a number or `max`.
    #[arg(long, env = "DEPLOYER_INIT_INSTANCES")]
    pub instances: Option<String>,
    /// The hosts' private network, e.g. 10.0.0.0/24 (needed with several hosts).
    #[arg(long, env = "DEPLOYER_INIT_PRIVATE")]
    pub private: Option<String>,
    /// Who may reach SSH (CIDRs); repeatable. Default: anyone.
    #[arg(long, env = "DEPLOYER_INIT_SSH_FROM", value_delimiter = ',')]
    pub ssh_from: Vec<String>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let file = &cli.file;
    if file.exists() && !args.force {
        bail!(
            "{} exists: add --force to replace it, or -f to write another file",
            file.display()
        );
    }
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let detected = scaffold::detect(dir);
    let answers = if args.non_interactive {
        from_flags(args, &detected)?
    } else {
        if !std::io::stdin().is_terminal() {
            bail!(
                "nobody can answer the questions: standard input is not a terminal; use --non-interactive with flags"
            );
        }
        ask(args, &detected)?
    };
    scaffold::write(file, &answers)?;
    eprintln!(
        "Wrote {} (and {SCHEMA_FILE}, for editors). Next: `deployer plan -f {}` to see what apply would do.",
        file.display(),
        file.display()
    );
    Ok(exit::OK)
}

fn parse_host(text: &str) -> Result<Host> {
    let (name, rest) = text.split_once('=').with_context(|| {
        format!("--host {text}: write NAME=ADDRESS or NAME=ADDRESS,PRIVATE_ADDRESS")
    })?;
    let (address, private) = match rest.split_once(',') {
        Some((address, private)) => (address, Some(private.to_string())),
        None => (rest, None),
    };
    Ok(Host {
        name: name.to_string(),
        address: address.to_string(),
        private,
    })
}

fn from_flags(args: &Args, detected: &Detected) -> Result<Answers> {
    let name = args
        .name
        .clone()
        .or(detected.name.clone())
        .context("no app name: package.json has none; give --name")?;
    let start = args
        .start
        .clone()
        .or(detected.start.clone())
        .context("no start command: package.json has no `start` script; give --start")?;
    if args.hosts.is_empty() {
        bail!("no hosts: give --host NAME=ADDRESS (repeatable)");
    }
    let hosts = args
        .hosts
        .iter()
        .map(|h| parse_host(h))
        .collect::<Result<_>>()?;
    let tls = args
        .tls
        .clone()
        .unwrap_or_else(|| default_tls(args.domain.as_deref()).into());
    Ok(Answers {
        name,
        start,
        node: detected.node.unwrap_or(DEFAULT_NODE),
        health: detected.health.clone().unwrap_or_else(|| "/healthz".into()),
        hosts,
        domain: args.domain.clone(),
        tls,
        email: args.email.clone(),
        process_manager: args
            .process_manager
            .clone()
            .unwrap_or_else(|| "systemd".into()),
        instances: args.instances.clone().unwrap_or_else(|| "max".into()),
        private: args.private.clone(),
        ssh_from: args.ssh_from.clone(),
    })
}

fn default_tls(domain: Option<&str>) -> &'static str {
    if domain.is_some() {
        "acme"
    } else {
        "self-signed"
    }
}

fn ask(args: &Args, detected: &Detected) -> Result<Answers> {
    let text = |prompt: &str, default: Option<String>| -> Result<String> {
        let mut input = Input::<String>::new().with_prompt(prompt);
        if let Some(default) = default {
            input = input.default(default);
        }
        input.interact_text().context("reading the answer")
    };
    let optional = |prompt: &str| -> Result<Option<String>> {
        let answer: String = Input::new()
            .with_prompt(prompt)
            .allow_empty(true)
            .interact_text()
            .context("reading the answer")?;
        Ok((!answer.trim().is_empty()).then(|| answer.trim().to_string()))
    };
    let choose = |prompt: &str, items: &[&str], default: usize| -> Result<String> {
        let index = Select::new()
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact()
            .context("reading the answer")?;
        Ok(items[index].to_string())
    };

    let name = text("App name", args.name.clone().or(detected.name.clone()))?;
    let start = text(
        "Start command (no shell)",
        args.start.clone().or(detected.start.clone()),
    )?;
    let health = text(
        "Health check path",
        Some(detected.health.clone().unwrap_or_else(|| "/healthz".into())),
    )?;
    let count: usize = text("How many hosts", Some("1".into()))?
        .trim()
        .parse()
        .context("the number of hosts is a whole number")?;
    let mut hosts = Vec::new();
    for i in 1..=count.max(1) {
        let name = text(&format!("Host {i} name"), Some(format!("web{i}")))?;
        let address = text(&format!("Host {i} address (IP or DNS name)"), None)?;
        let private = if count > 1 {
            optional(&format!("Host {i} private address (empty: none)"))?
        } else {
            None
        };
        hosts.push(Host {
            name,
            address,
            private,
        });
    }
    let private = if hosts.iter().any(|h| h.private.is_some()) {
        Some(text("Private network (CIDR)", args.private.clone())?)
    } else {
        None
    };
    let domain = optional("Domain (empty: none)")?;
    let tls_default = usize::from(domain.is_none());
    let tls = choose("TLS", &["acme", "self-signed", "off"], tls_default)?;
    let email = if tls == "acme" {
        Some(text("ACME contact email", args.email.clone())?)
    } else {
        None
    };
    let process_manager = choose("Process manager", &["systemd", "pm2"], 0)?;
    let instances = text(
        "Web processes per app host (a number or max)",
        Some("max".into()),
    )?;
    let ssh_from = optional("Who may reach SSH (CIDRs, comma-separated; empty: anyone)")?
        .map(|list| list.split(',').map(|c| c.trim().to_string()).collect())
        .unwrap_or_default();
    Ok(Answers {
        name,
        start,
        node: detected.node.unwrap_or(DEFAULT_NODE),
        health,
        hosts,
        domain,
        tls,
        email,
        process_manager,
        instances,
        private,
        ssh_from,
    })
}
