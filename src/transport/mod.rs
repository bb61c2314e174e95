//! How deployer reaches a host: run a bash script there, fed on stdin, and
//! stream back what it prints. Everything else (facts, writing files,
//! locks) is a script, so every transport does exactly the same things.

mod jump;
mod known_hosts;
mod local;
mod logins;
mod shell;
mod ssh;
pub mod target;

use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::Result;

pub use local::Local;
pub use ssh::{PASSPHRASE_VARIABLE, Ssh};

#[derive(Debug, Clone)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl Output {
    /// The last lines of stderr, to say why a step failed.
    pub fn stderr_tail(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

pub trait Transport: Send {
    /// Runs `script` with bash as root; `on_line` sees each line of stdout
    /// as it arrives. A non-zero exit is an `Output`, not an error; errors
    /// are for not reaching the host at all.
    fn run(&mut self, script: &str, on_line: &mut dyn FnMut(&str)) -> Result<Output>;

    /// Runs `script` as [`Transport::run`] does, for a script whose
    /// processes all end with it (no `&`, no daemon, nothing that forks
    /// away): deployer's own scripts that read a host and take or free its
    /// lock (the spec's `unless` checks they run write to /dev/null). Where
    /// output goes through a relay that waits for stragglers, such a script
    /// skips it.
    fn run_contained(&mut self, script: &str) -> Result<Output> {
        self.run(script, &mut |_| {})
    }

    /// Adds host keys the host reported over this verified connection
    /// (`(type, base64)`) to the known_hosts the transport checks against,
    /// where it knows no key of that type; says what it added. Nothing to
    /// do without host keys to check (this machine).
    fn learn_host_keys(&mut self, _keys: &[(String, String)]) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// A lock that a thread which panicked while holding it does not poison:
/// what it guards (counts, queues) stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
