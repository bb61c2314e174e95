//! What `deployer init` writes: what the app's directory says about it
//! ([`detect`]), and the commented spec made from the answers ([`write`]).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::dialect::terminal::shown;
use crate::dialect::yaml::scalar;
use crate::spec::text::{DOMAIN_RULE, NAME_RULE, domain_ok, email_ok, safe_name as name_ok};
use crate::spec::{self, Cidr, Instances, Ip, ProcessManager, Secrets, TlsMode};

/// Written next to the spec, for editors (see the file's first line).
pub const SCHEMA_FILE: &str = "deployer.schema.json";

/// The newest Node.js line with long-term support, for apps that say nothing.
pub const DEFAULT_NODE: u32 = 24;

/// What the app's directory says about it.
#[derive(Debug, Default, PartialEq)]
pub struct Detected {
    pub name: Option<String>,
    pub start: Option<String>,
    pub node: Option<u32>,
    pub health: Option<String>,
}

#[derive(Debug)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub private: Option<String>,
}

/// Everything the spec is written from.
#[derive(Debug)]
pub struct Answers {
    pub name: String,
    pub start: String,
    pub node: u32,
    pub health: String,
    pub hosts: Vec<Host>,
    pub domain: Option<String>,
    pub tls: TlsMode,
    pub email: Option<String>,
    pub process_manager: ProcessManager,
    pub instances: Instances,
    pub private: Option<String>,
    pub ssh_from: Vec<String>,
}

/// Reads package.json (name, start script, `engines.node`) and looks for a
/// health route in the main file.
pub fn detect(dir: &Path) -> Detected {
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

/// Writes the spec for `answers` to `file`, and the schema beside it, only
/// if the spec is valid.
pub fn write(file: &Path, answers: &Answers) -> Result<()> {
    let text = spec_text(answers);
    if let Err(invalid) = spec::check(file, &text, Secrets::Skip) {
        bail!("the answers do not make a valid spec; nothing was written:\n{invalid}");
    }
    std::fs::write(file, &text).with_context(|| format!("writing {}", file.display()))?;
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let schema = dir.join(SCHEMA_FILE);
    std::fs::write(&schema, spec::schema_text())
        .with_context(|| format!("writing {}", schema.display()))?;
    Ok(())
}

fn spec_text(a: &Answers) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# yaml-language-server: $schema={SCHEMA_FILE}");
    let _ = writeln!(
        out,
        "# Written by `deployer init`; every key is in the README's reference."
    );
    let _ = writeln!(out, "app:");
    let _ = writeln!(out, "  name: {}", scalar(&a.name));
    let _ = writeln!(out, "  # Run without a shell, in the release directory.");
    let _ = writeln!(out, "  start: {}", scalar(&a.start));
    let _ = writeln!(out, "  # One process per CPU core with `max`.");
    let _ = writeln!(out, "  instances: {}", keyword(&a.instances));
    let _ = writeln!(out, "  process_manager: {}", keyword(&a.process_manager));
    let _ = writeln!(out, "  health:\n    path: {}", scalar(&a.health));
    let _ = writeln!(
        out,
        "  # Values from your environment, a file or a command, never from here:"
    );
    let _ = writeln!(out, "  # secrets: [SESSION_SECRET]");
    let _ = writeln!(out, "\nruntime:\n  node:\n    version: {}", a.node);
    if let Some(domain) = &a.domain {
        let _ = writeln!(out, "\ndomain: {}", scalar(domain));
    }
    let _ = writeln!(out, "tls:\n  mode: {}", keyword(&a.tls));
    if let Some(email) = &a.email {
        let _ = writeln!(out, "  email: {}", scalar(email));
    }
    if a.private.is_some() || !a.ssh_from.is_empty() {
        let _ = writeln!(out, "\nnetwork:");
        if let Some(private) = &a.private {
            let _ = writeln!(out, "  # App ports answer this network only.");
            let _ = writeln!(out, "  private: [{}]", scalar(private));
        }
        if !a.ssh_from.is_empty() {
            let list: Vec<String> = a.ssh_from.iter().map(|c| scalar(c)).collect();
            let _ = writeln!(out, "  ssh_from: [{}]", list.join(", "));
        }
    }
    let _ = writeln!(out, "\nhosts:");
    let several = a.hosts.len() > 1;
    for (i, host) in a.hosts.iter().enumerate() {
        let _ = writeln!(out, "  - name: {}", scalar(&host.name));
        let _ = writeln!(out, "    address: {}", scalar(&host.address));
        if let Some(private) = &host.private {
            let _ = writeln!(out, "    private_address: {}", scalar(private));
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

/// A setting's value as the spec writes it: `max`, `3`, `self-signed`.
fn keyword(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value).expect("settings serialize") {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

/// One setting read from how a person writes it, or why it cannot be:
/// `"self-signed"` → `TlsMode::SelfSigned`.
pub fn setting<T: serde::de::DeserializeOwned>(text: &str, valid: &str) -> Result<T, String> {
    let text = text.trim();
    let value = match text.parse::<i64>() {
        Ok(number) => serde_json::Value::from(number),
        Err(_) => serde_json::Value::from(text),
    };
    serde_json::from_value(value).map_err(|_| format!("`{}` is not {valid}", shown(text)))
}

/// The checks an answer passes before it is written: each says what would
/// be valid.
pub mod answer {
    use super::*;

    pub fn name(text: &str) -> Result<(), String> {
        check(name_ok(text), text, NAME_RULE)
    }

    pub fn domain(text: &str) -> Result<(), String> {
        check(domain_ok(text), text, DOMAIN_RULE)
    }

    pub fn email(text: &str) -> Result<(), String> {
        check(
            email_ok(text),
            text,
            "one email address such as `ops@example.com`",
        )
    }

    /// A host's address: an IP address or a DNS name.
    pub fn address(text: &str) -> Result<(), String> {
        check(
            text.parse::<std::net::IpAddr>().is_ok() || domain_ok(text),
            text,
            "an IP address or a DNS name",
        )
    }

    pub fn ip(text: &str) -> Result<(), String> {
        text.parse::<Ip>().map(|_| ())
    }

    pub fn cidr(text: &str) -> Result<(), String> {
        text.parse::<Cidr>().map(|_| ())
    }

    /// A start command: one line; the spec's own check judges the rest.
    pub fn start(text: &str) -> Result<(), String> {
        check(
            !text.trim().is_empty() && !text.chars().any(char::is_control),
            text,
            "a program and its arguments on one line, e.g. `node server.js`",
        )
    }

    /// A URL path for the health check.
    pub fn path(text: &str) -> Result<(), String> {
        check(
            text.starts_with('/') && !text.chars().any(|c| c.is_whitespace() || c.is_control()),
            text,
            "a URL path starting with `/`, e.g. `/healthz`",
        )
    }

    fn check(ok: bool, text: &str, valid: &str) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("`{}` is not {valid}", shown(text)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_as_people_write_them() {
        let tls: TlsMode = setting("self-signed", "a TLS mode").unwrap();
        assert_eq!(tls, TlsMode::SelfSigned);
        let instances: Instances = setting("max", "x").unwrap();
        assert_eq!(instances, Instances::Max);
        let instances: Instances = setting(" 3 ", "x").unwrap();
        assert_eq!(instances, Instances::Count(3));
        assert!(setting::<Instances>("3\nhosts: []", "x").is_err());
        assert!(setting::<TlsMode>("acme\nnetwork:", "x").is_err());
        assert_eq!(keyword(&Instances::Count(3)), "3");
        assert_eq!(keyword(&TlsMode::SelfSigned), "self-signed");
    }

    #[test]
    fn names_and_node_lines_are_read_from_package_json() {
        assert_eq!(safe_name("@acme/My_Shop"), "my-shop");
        assert_eq!(node_major(">=20"), Some(DEFAULT_NODE));
        assert_eq!(node_major("20.x"), Some(20));
        assert_eq!(node_major("^22.1.0"), Some(22));
        assert_eq!(node_major("14.x"), None);
    }
}
