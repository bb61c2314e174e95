//! Who holds each host's deploy lock (`lock status`), freeing it (`lock
//! release`) once the operator knows its run is gone, and waiting for it
//! (`--lock-wait`).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::Reach;
use super::hosts::{self, Outcome, run_parallel};
use crate::safety::lock::{self, Holder, now};
use crate::spec::{Host, Loaded};
use crate::transport::Transport;
use crate::ui::Console;

/// How often a waiting run reads the lock again.
const WAIT_POLL: Duration = Duration::from_secs(5);

/// `--lock-wait`: before anything is planned, waits until no other run
/// holds the deploy lock of any of `hosts` at the same time (a lease the
/// host would let a run take over counts as free), at most `wait`, saying
/// who holds what. Its connections close after: the plan that follows
/// reads the hosts as the other run left them, over new connections (an
/// older one would confirm that run's pending firewall or sshd change for
/// it). A run that takes a lock after the wait (a later wave of a rollout
/// that had released its first hosts) still stops this one.
pub fn wait_until_free(
    loaded: &Loaded,
    hosts: &[&Host],
    reach: &Reach,
    wait: Duration,
    console: &Console,
) -> Result<()> {
    if wait.is_zero() {
        return Ok(());
    }
    let deadline = Instant::now() + wait;
    let script = lock::live_holder_script(&reach.state_dir);
    let connected = run_parallel(hosts.to_vec(), reach.parallel, false, |host| {
        Ok((host, hosts::connect(loaded, host, reach)?))
    });
    let (mut connected, failures) = hosts::partition(connected);
    if !failures.is_empty() {
        bail!(
            "{}\nnothing was changed on any host",
            hosts::lines(&failures)
        );
    }
    let mut shown: Vec<(String, String, u64)> = Vec::new();
    loop {
        let mut held = Vec::new();
        for (host, transport) in &mut connected {
            if let Some(holder) = read(transport.as_mut(), host, &script)? {
                held.push((host.name.clone(), holder));
            }
        }
        if held.is_empty() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let lines: Vec<String> = held
                .iter()
                .map(|(host, holder)| {
                    format!(
                        "{host}: still locked after waiting {}: {}. If that run is gone, `deployer lock release --host {host}`",
                        humantime::format_duration(wait),
                        holder.describe(now())
                    )
                })
                .collect();
            bail!("{}\nnothing was changed on any host", lines.join("\n"));
        }
        for (host, holder) in &held {
            let who = (host.clone(), holder.owner.clone(), holder.started);
            if !console.quiet && !shown.contains(&who) {
                eprintln!(
                    "{host}: waiting up to {}s for the deploy lock, held by {}",
                    left.as_secs_f64().ceil(),
                    holder.describe(now())
                );
                shown.push(who);
            }
        }
        std::thread::sleep(WAIT_POLL.min(left));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAction {
    Status,
    Release,
}

/// One line per chosen host saying who held its lock, in spec order.
pub fn lock(loaded: &Loaded, reach: &Reach, action: LockAction) -> Result<Vec<Outcome<String>>> {
    let script = match action {
        LockAction::Status => lock::status_script(&reach.state_dir),
        LockAction::Release => lock::force_release_script(&reach.state_dir),
    };
    let chosen = hosts::select(loaded, reach)?;
    Ok(run_parallel(chosen, reach.parallel, false, |host| {
        let mut transport = hosts::connect(loaded, host, reach)?;
        let state = match read(transport.as_mut(), host, &script)? {
            None => "free".to_string(),
            Some(holder) if action == LockAction::Release => {
                format!("released (was held by {})", holder.describe(now()))
            }
            Some(holder) => format!("locked by {}", holder.describe(now())),
        };
        Ok(format!("{}: {state}", host.name))
    }))
}

/// Runs a lock `script` ([`lock::status_script`] or one that ends like it)
/// and says who held the lock.
fn read(transport: &mut dyn Transport, host: &Host, script: &str) -> Result<Option<Holder>> {
    let output = transport.run_contained(script)?;
    if output.status != 0 {
        bail!(
            "{}: reading the lock failed:\n{}",
            host.name,
            output.stderr_tail()
        );
    }
    Ok(lock::holder(&output.stdout))
}
