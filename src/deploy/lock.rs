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
/// holds the deploy lock of any of `hosts` (or its lease ran out), at most
/// `wait`, saying who holds it. Its connections close after: the plan that
/// follows reads the hosts as the other run left them, over new
/// connections (an older one would confirm that run's pending firewall or
/// sshd change for it). A run that takes a lock in between still stops
/// this one, as without waiting.
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
    let script = lock::status_script(&reach.state_dir);
    let waited = run_parallel(hosts.to_vec(), reach.parallel, false, |host| {
        let mut transport = hosts::connect(loaded, host, reach)?;
        let mut shown = None;
        loop {
            let holder = match read(transport.as_mut(), host, &script)? {
                Some(holder) if holder.expires > now() => holder,
                _ => return Ok(()),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                lock::held(&host.name, &holder)?;
            }
            let who = (holder.owner.clone(), holder.started);
            if !console.quiet && shown.as_ref() != Some(&who) {
                eprintln!(
                    "{}: waiting up to {}s for the deploy lock, held by {}",
                    host.name,
                    left.as_secs_f64().ceil(),
                    holder.describe(now())
                );
                shown = Some(who);
            }
            std::thread::sleep(WAIT_POLL.min(left));
        }
    });
    let (_, failures) = hosts::partition(waited);
    if !failures.is_empty() {
        bail!(
            "{}\nnothing was changed on any host",
            hosts::lines(&failures)
        );
    }
    Ok(())
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
    let output = transport.run(script, &mut |_| {})?;
    if output.status != 0 {
        bail!(
            "{}: reading the lock failed:\n{}",
            host.name,
            output.stderr_tail()
        );
    }
    Ok(lock::holder(&output.stdout))
}
