//! `deployer init`: looks at the app in the current directory, asks what it
//! cannot know (or takes every answer from flags with `--non-interactive`),
//! and writes a commented deployer.yaml that validates.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use dialoguer::{Input, Select};

use super::{Cli, exit};
use crate::spec::{self, Secrets};

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

/// What the app's directory says about it.
#[derive(Debug, Default, PartialEq)]
struct Detected {
    name: Option<String>,
    start: Option<String>,
    node: Option<u32>,
    health: Option<String>,
}

#[derive(Debug)]
struct Host {
    name: String,
    address: String,
    private: Option<String>,
}

#[derive(Debug)]
struct Answers {
    name: String,
    start: String,
    node: u32,
    health: String,
    hosts: Vec<Host>,
    domain: Option<String>,
    tls: String,
    email: Option<String>,
    process_manager: String,
    instances: String,
    private: Option<String>,
    ssh_from: Vec<String>,
}

/// Written next to the spec, for editors (see the file's first line).
const SCHEMA_FILE: &str = "deployer.schema.json";

/// The newest Node.js line with long-term support, for apps that say nothing.
const DEFAULT_NODE: u32 = 24;

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
    let detected = detect(dir);
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
    let text = yaml(&answers);
    if let Err(invalid) = spec::check(file, &text, Secrets::Skip) {
        bail!("the answers do not make a valid spec; nothing was written:\n{invalid}");
    }
    std::fs::write(file, &text).with_context(|| format!("writing {}", file.display()))?;
    let schema = dir.join(SCHEMA_FILE);
    std::fs::write(&schema, super::generated::schema_text()?)
        .with_context(|| format!("writing {}", schema.display()))?;
    eprintln!(
        "Wrote {} (and {SCHEMA_FILE}, for editors). Next: `deployer plan -f {}` to see what apply would do.",
        file.display(),
        file.display()
    );
    Ok(exit::OK)
}

fn detect(dir: &Path) -> Detected {
    let mut detected = Detected::default();
    let Ok(text) = std::fs::read_to_string(dir.join("package.json")) else {
        return detected;
    };
    let Ok(package) = serde_json::from_str::<serde_json::Value>(&text) else {
        return detected;
    };
    detected.name = package["name"].as_str().map(safe_name);
    detected.start = package["scripts"]["start"].as_str().map(String::from);
    detected.node = package["engines"]["node"].as_str().and_then(node_major);
    let main = detected
        .start
        .as_deref()
        .and_then(|s| s.split_whitespace().nth(1))
        .unwrap_or("server.js");
    let source = std::fs::read_to_string(dir.join(main)).unwrap_or_default();
    detected.health = ["/healthz", "/health", "/api/health"]
        .into_iter()
        .find(|route| {
            source.contains(&format!("'{route}'")) || source.contains(&format!("\"{route}\""))
        })
        .map(String::from);
    detected
}

/// `@scope/My_App` -> `my-app`: a name deployer accepts.
fn safe_name(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name).to_lowercase();
    let cleaned: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let trimmed = cleaned.trim_matches('-');
    let trimmed = trimmed.trim_start_matches(|c: char| c.is_ascii_digit());
    trimmed
        .chars()
        .take(32)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// `^22.1`, `20.x` -> that major release line; `>=20` -> the newest LTS
/// line if it satisfies the range.
fn node_major(range: &str) -> Option<u32> {
    let digits: String = range
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    let major: u32 = digits.parse().ok().filter(|major| *major >= 18)?;
    Some(if range.trim_start().starts_with('>') {
        major.max(DEFAULT_NODE)
    } else {
        major
    })
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

/// A YAML string: JSON's quoting is YAML's double-quoted style.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

fn yaml(a: &Answers) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# yaml-language-server: $schema={SCHEMA_FILE}");
    let _ = writeln!(
        out,
        "# Written by `deployer init`; every key is in the README's reference."
    );
    let _ = writeln!(out, "app:");
    let _ = writeln!(out, "  name: {}", quoted(&a.name));
    let _ = writeln!(out, "  # Run without a shell, in the release directory.");
    let _ = writeln!(out, "  start: {}", quoted(&a.start));
    let _ = writeln!(out, "  # One process per CPU core with `max`.");
    let _ = writeln!(out, "  instances: {}", a.instances.trim());
    let _ = writeln!(out, "  process_manager: {}", a.process_manager);
    let _ = writeln!(out, "  health:\n    path: {}", quoted(&a.health));
    let _ = writeln!(
        out,
        "  # Values from your environment, a file or a command, never from here:"
    );
    let _ = writeln!(out, "  # secrets: [SESSION_SECRET]");
    let _ = writeln!(out, "\nruntime:\n  node:\n    version: {}", a.node);
    if let Some(domain) = &a.domain {
        let _ = writeln!(out, "\ndomain: {}", quoted(domain));
    }
    let _ = writeln!(out, "tls:\n  mode: {}", a.tls);
    if let Some(email) = &a.email {
        let _ = writeln!(out, "  email: {}", quoted(email));
    }
    if a.private.is_some() || !a.ssh_from.is_empty() {
        let _ = writeln!(out, "\nnetwork:");
        if let Some(private) = &a.private {
            let _ = writeln!(out, "  # App ports answer this network only.");
            let _ = writeln!(out, "  private: [{}]", quoted(private));
        }
        if !a.ssh_from.is_empty() {
            let list: Vec<String> = a.ssh_from.iter().map(|c| quoted(c)).collect();
            let _ = writeln!(out, "  ssh_from: [{}]", list.join(", "));
        }
    }
    let _ = writeln!(out, "\nhosts:");
    let several = a.hosts.len() > 1;
    for (i, host) in a.hosts.iter().enumerate() {
        let _ = writeln!(out, "  - name: {}", quoted(&host.name));
        let _ = writeln!(out, "    address: {}", quoted(&host.address));
        if let Some(private) = &host.private {
            let _ = writeln!(out, "    private_address: {}", quoted(private));
        }
        if several {
            // The first host faces the public; the others run the app.
            let roles = if i == 0 {
                "[lb, app, worker]"
            } else {
                "[app, worker]"
            };
            let _ = writeln!(out, "    roles: {roles}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_node_lines_are_read_from_package_json() {
        assert_eq!(safe_name("@acme/My_Shop"), "my-shop");
        assert_eq!(node_major(">=20"), Some(DEFAULT_NODE));
        assert_eq!(node_major("20.x"), Some(20));
        assert_eq!(node_major("^22.1.0"), Some(22));
        assert_eq!(node_major("14.x"), None);
    }
}
