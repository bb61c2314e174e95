//! `deployer init`: looks at the app in the current directory, asks what it
//! cannot know (or takes every answer from flags with `--non-interactive`),
//! and writes a commented deployer.yaml that validates.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use dialoguer::{Input, Select};

use super::{Cli, exit};
use crate::scaffold::{self, Answers, DEFAULT_NODE, Detected, Host, SCHEMA_FILE, answer};
use crate::spec::{Instances, ProcessManager, TlsMode};

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
    let flag = |check: fn(&str) -> Result<(), String>, value: &str| {
        check(value).map_err(|e| anyhow::anyhow!("--host {text}: {e}"))
    };
    flag(answer::name, name)?;
    flag(answer::address, address)?;
    if let Some(private) = &private {
        flag(answer::ip, private)?;
    }
    Ok(Host {
        name: name.to_string(),
        address: address.to_string(),
        private,
    })
}

/// `value` of the flag `--name`, checked by `check`.
fn checked(name: &str, value: &str, check: fn(&str) -> Result<(), String>) -> Result<String> {
    check(value).map_err(|e| anyhow::anyhow!("--{name}: {e}"))?;
    Ok(value.to_string())
}

/// A setting's flag, read as the spec would read its value.
fn setting<T: serde::de::DeserializeOwned>(name: &str, value: &str, valid: &str) -> Result<T> {
    scaffold::setting(value, valid).map_err(|e| anyhow::anyhow!("--{name}: {e}"))
}

const TLS_MODES: &str = "`acme`, `self-signed` or `off`";
const PROCESS_MANAGERS: &str = "`systemd` or `pm2`";
const INSTANCES: &str = "a number from 1 to 64, or `max`";

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
    let tls = match &args.tls {
        Some(tls) => setting("tls", tls, TLS_MODES)?,
        None => default_tls(args.domain.as_deref()),
    };
    let optional = |flag: &str, value: &Option<String>, check| {
        value
            .as_deref()
            .map(|v| checked(flag, v, check))
            .transpose()
    };
    Ok(Answers {
        name: checked("name", &name, answer::name)?,
        start: checked("start", &start, answer::start)?,
        node: detected.node.unwrap_or(DEFAULT_NODE),
        health: detected.health.clone().unwrap_or_else(|| "/healthz".into()),
        hosts,
        domain: optional("domain", &args.domain, answer::domain)?,
        tls,
        email: optional("email", &args.email, answer::email)?,
        process_manager: match &args.process_manager {
            Some(pm) => setting("process-manager", pm, PROCESS_MANAGERS)?,
            None => ProcessManager::Systemd,
        },
        instances: match &args.instances {
            Some(instances) => setting("instances", instances, INSTANCES)?,
            None => Instances::Max,
        },
        private: optional("private", &args.private, answer::cidr)?,
        ssh_from: args
            .ssh_from
            .iter()
            .map(|cidr| checked("ssh-from", cidr, answer::cidr))
            .collect::<Result<_>>()?,
    })
}

fn default_tls(domain: Option<&str>) -> TlsMode {
    if domain.is_some() {
        TlsMode::Acme
    } else {
        TlsMode::SelfSigned
    }
}

/// Asks until the answer passes `check`, saying why it did not.
fn ask_text(
    prompt: &str,
    default: Option<String>,
    check: fn(&str) -> Result<(), String>,
) -> Result<String> {
    let mut input = Input::<String>::new()
        .with_prompt(prompt)
        .validate_with(|text: &String| check(text.trim()));
    if let Some(default) = default {
        input = input.default(default);
    }
    Ok(input
        .interact_text()
        .context("reading the answer")?
        .trim()
        .to_string())
}

/// Asks for an answer that may be empty (none).
fn ask_optional(prompt: &str, check: fn(&str) -> Result<(), String>) -> Result<Option<String>> {
    let answer: String = Input::new()
        .with_prompt(prompt)
        .allow_empty(true)
        .validate_with(|text: &String| {
            let text = text.trim();
            if text.is_empty() { Ok(()) } else { check(text) }
        })
        .interact_text()
        .context("reading the answer")?;
    Ok((!answer.trim().is_empty()).then(|| answer.trim().to_string()))
}

/// Asks for a setting until it reads as one.
fn ask_setting<T: serde::de::DeserializeOwned>(
    prompt: &str,
    default: &str,
    valid: &str,
) -> Result<T> {
    let text: String = Input::new()
        .with_prompt(prompt)
        .default(default.to_string())
        .validate_with(|text: &String| scaffold::setting::<T>(text, valid).map(|_| ()))
        .interact_text()
        .context("reading the answer")?;
    scaffold::setting(&text, valid).map_err(anyhow::Error::msg)
}

fn choose<T: serde::de::DeserializeOwned>(
    prompt: &str,
    items: &[&str],
    default: usize,
) -> Result<T> {
    let index = Select::new()
        .with_prompt(prompt)
        .items(items)
        .default(default)
        .interact()
        .context("reading the answer")?;
    scaffold::setting(items[index], "one of the choices").map_err(anyhow::Error::msg)
}

/// A number of hosts, 1 to 50.
fn host_count(text: &str) -> Result<(), String> {
    match text.parse::<usize>() {
        Ok(1..=50) => Ok(()),
        _ => Err("the number of hosts is a whole number from 1 to 50".into()),
    }
}

fn ask(args: &Args, detected: &Detected) -> Result<Answers> {
    let name = ask_text(
        "App name",
        args.name.clone().or(detected.name.clone()),
        answer::name,
    )?;
    let start = ask_text(
        "Start command (no shell)",
        args.start.clone().or(detected.start.clone()),
        answer::start,
    )?;
    let health = ask_text(
        "Health check path",
        Some(detected.health.clone().unwrap_or_else(|| "/healthz".into())),
        answer::path,
    )?;
    let count: usize = ask_text("How many hosts", Some("1".into()), host_count)?
        .parse()
        .context("the number of hosts")?;
    let mut hosts = Vec::new();
    for i in 1..=count {
        let name = ask_text(
            &format!("Host {i} name"),
            Some(format!("web{i}")),
            answer::name,
        )?;
        let address = ask_text(
            &format!("Host {i} address (IP or DNS name)"),
            None,
            answer::address,
        )?;
        let private = if count > 1 {
            ask_optional(
                &format!("Host {i} private address (empty: none)"),
                answer::ip,
            )?
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
        Some(ask_text(
            "Private network (CIDR)",
            args.private.clone(),
            answer::cidr,
        )?)
    } else {
        None
    };
    let domain = ask_optional("Domain (empty: none)", answer::domain)?;
    let tls_default = usize::from(domain.is_none());
    let tls: TlsMode = choose("TLS", &["acme", "self-signed", "off"], tls_default)?;
    let email = if tls == TlsMode::Acme {
        Some(ask_text(
            "ACME contact email",
            args.email.clone(),
            answer::email,
        )?)
    } else {
        None
    };
    let process_manager = choose("Process manager", &["systemd", "pm2"], 0)?;
    let instances = ask_setting(
        "Web processes per app host (a number or max)",
        "max",
        INSTANCES,
    )?;
    let ssh_from = ask_optional(
        "Who may reach SSH (CIDRs, comma-separated; empty: anyone)",
        |list| list.split(',').try_for_each(|c| answer::cidr(c.trim())),
    )?
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
