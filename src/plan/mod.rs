//! The plan: per host, the changes that would converge it, what triggers
//! them, and the digests that let a saved plan refuse to apply once stale.
//! Saved plans hold no file contents, so no secret can end up in one.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::dialect::terminal::sanitized;
use crate::resource::Handler;
use crate::resource::diff::{Action, Change};

/// Bumped when the JSON shape changes incompatibly; documented in docs/plan-json.md.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub hosts: Vec<HostPlan>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostPlan {
    pub host: String,
    /// SHA-256 of the facts the plan saw.
    pub facts_digest: String,
    /// SHA-256 of what the spec rendered for this host.
    pub desired_digest: String,
    pub changes: Vec<Change>,
    /// Run once after the changes: daemon-reload, restarts, reloads.
    pub handlers: Vec<Handler>,
    /// Sockets on public addresses that the spec does not expect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed: Vec<String>,
    /// What deployer made here that the spec no longer declares, yet
    /// stays, and why (the app's data, unless purged). Not a change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    /// What was on the host before deployer, and what happens to it (an
    /// nginx site kept being served, another nftables table left alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<String>,
    /// The plan ships a release to a host that serves none yet: a rollout
    /// has nothing there to protect.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_release: bool,
}

impl HostPlan {
    pub fn is_converged(&self) -> bool {
        self.changes.is_empty() && self.handlers.is_empty()
    }

    /// `3 to install, 2 to create, 1 to update, 1 to start, 1 to remove, 2 handlers`.
    pub fn summary(&self) -> String {
        let count = |action: Action| self.changes.iter().filter(|c| c.action == action).count();
        let mut parts: Vec<String> = [
            (Action::Install, "to install"),
            (Action::Create, "to create"),
            (Action::Update, "to update"),
            (Action::Start, "to start"),
            (Action::Run, "to run"),
            (Action::Remove, "to remove"),
        ]
        .into_iter()
        .filter_map(|(action, label)| {
            Some(count(action))
                .filter(|n| *n > 0)
                .map(|n| format!("{n} {label}"))
        })
        .collect();
        if !self.handlers.is_empty() {
            let n = self.handlers.len();
            parts.push(format!("{n} handler{}", if n == 1 { "" } else { "s" }));
        }
        if parts.is_empty() {
            "no changes".into()
        } else {
            parts.join(", ")
        }
    }
}

impl Plan {
    pub fn new(hosts: Vec<HostPlan>) -> Self {
        Plan {
            format_version: FORMAT_VERSION,
            hosts,
        }
    }

    pub fn change_count(&self) -> usize {
        self.hosts.iter().map(|h| h.changes.len()).sum()
    }

    pub fn is_converged(&self) -> bool {
        self.hosts.iter().all(HostPlan::is_converged)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("plans serialize");
        std::fs::write(path, json + "\n")
            .with_context(|| format!("saving the plan to {}", path.display()))
    }

    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the plan {}", path.display()))?;
        let version: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a plan", path.display()))?;
        if version["format_version"] != FORMAT_VERSION {
            bail!(
                "{} has plan format {}; this deployer reads format {FORMAT_VERSION}: run `deployer plan` again",
                path.display(),
                version["format_version"]
            );
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid plan", path.display()))
    }

    /// The plan for people; `color` adds ANSI colours.
    pub fn human(&self, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let mut out = String::new();
        for host in &self.hosts {
            let _ = writeln!(out, "{}: {}", paint("1", &host.host), host.summary());
            for change in &host.changes {
                let (sign, code) = match change.action {
                    Action::Install | Action::Create => ("+", "32"),
                    Action::Update => ("~", "33"),
                    Action::Start | Action::Run => (">", "36"),
                    Action::Remove => ("-", "31"),
                };
                let details = if change.details.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", change.details.join(", "))
                };
                let _ = writeln!(out, "  {} {}{details}", paint(code, sign), change.id);
                if let Some(diff) = &change.diff {
                    for line in diff.lines() {
                        let code = match line.as_bytes().first() {
                            Some(b'+') if !line.starts_with("+++") => "32",
                            Some(b'-') if !line.starts_with("---") => "31",
                            Some(b'@') => "36",
                            _ => "",
                        };
                        let line = if code.is_empty() {
                            line.to_string()
                        } else {
                            paint(code, line)
                        };
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
            for handler in &host.handlers {
                let _ = writeln!(out, "  {} then {handler}", paint("36", "!"));
            }
            for kept in &host.kept {
                let _ = writeln!(out, "  {} kept: {}", paint("36", "="), sanitized(kept));
            }
            for found in &host.found {
                let _ = writeln!(out, "  {} found: {}", paint("36", "="), sanitized(found));
            }
            for exposed in &host.exposed {
                let _ = writeln!(
                    out,
                    "  {} exposed: {}",
                    paint("31", "!"),
                    sanitized(exposed)
                );
            }
        }
        let changed = self.hosts.iter().filter(|h| !h.is_converged()).count();
        let _ = writeln!(
            out,
            "Plan: {} change{} on {changed} of {} host{}.",
            self.change_count(),
            if self.change_count() == 1 { "" } else { "s" },
            self.hosts.len(),
            if self.hosts.len() == 1 { "" } else { "s" }
        );
        out
    }
}
