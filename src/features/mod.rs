//! What installing things on a host takes, as commands the playbooks run:
//! Node.js (official builds or NodeSource), pm2, the mesh's key pair, certificates (self-signed,
//! or from an ACME server), and the checks of apt sources. Each feature computes the shell
//! programs; playbooks say when they run and what they set off.

pub mod acme;
pub mod apt;
pub mod mesh;
pub mod node;
pub mod pm2;
pub mod tls;

use serde::Serialize;

/// A shell command and the check that says it need not run.
#[derive(Debug, Serialize)]
pub struct Conditional {
    /// What plans and progress call it.
    pub name: String,
    pub run: String,
    /// Exits 0 when the command need not run.
    pub unless: String,
    /// What it makes: removed once the spec no longer asks for it.
    pub owns: Vec<String>,
}

/// How the features' tests run what the scripts run.
#[cfg(test)]
mod testing {
    /// A command's `unless`, as the facts and converge scripts run it.
    pub fn check_of(unless: &str) -> String {
        crate::resource::Command {
            unless: Some(unless.to_string()),
            creates: None,
            ..crate::resource::Command::creates("", "")
        }
        .unless_test()
    }

    /// Whether `script` succeeds in bash, with the scripts' options.
    pub fn bash(script: &str) -> bool {
        std::process::Command::new("bash")
            .args(["-c", &format!("set -euo pipefail; {script}")])
            .status()
            .unwrap()
            .success()
    }
}
