//! Who holds each host's deploy lock (`lock status`), and freeing it
//! (`lock release`) once the operator knows its run is gone.

use anyhow::{Result, bail};

use super::Reach;
use super::hosts::{self, Outcome, run_parallel};
use crate::safety::lock::{self, now};
use crate::spec::Loaded;

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
        let output = transport.run(&script, &mut |_| {})?;
        if output.status != 0 {
            bail!(
                "{}: reading the lock failed:\n{}",
                host.name,
                output.stderr_tail()
            );
        }
        let state = match lock::holder(&output.stdout) {
            None => "free".to_string(),
            Some(holder) if action == LockAction::Release => {
                format!("released (was held by {})", holder.describe(now()))
            }
            Some(holder) => format!("locked by {}", holder.describe(now())),
        };
        Ok(format!("{}: {state}", host.name))
    }))
}
