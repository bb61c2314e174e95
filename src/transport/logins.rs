//! Logins, as sshd counts them: no sshd sees more than `MAX_STARTUPS` of a
//! run's logins in progress at once. sshd's default `MaxStartups 10:30:100`
//! starts refusing beyond 10 unauthenticated connections, which a fleet
//! behind one jump host reaches: every host's connection is a login there.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::lock;
use super::target::Target;

/// Logins in progress per sshd: the start of sshd's default MaxStartups.
pub const MAX_STARTUPS: usize = 10;

/// Which sshd a target's login reaches: its address and port, as seen from
/// its jump host if any.
fn sshd(target: &Target) -> String {
    let via = target.jump.as_deref().map(sshd).unwrap_or_default();
    format!("{via}>{}:{}", target.address, target.port)
}

/// A login slot at one sshd, given back when dropped.
pub struct Starting {
    sshd: String,
}

/// Logins in progress by sshd, and the signal that one ended.
static STARTING: (Mutex<Vec<String>>, Condvar) = (Mutex::new(Vec::new()), Condvar::new());

/// Waits until fewer than MAX_STARTUPS logins to `target`'s sshd are in
/// progress (at most its connect timeout, which the wait counts against),
/// and counts this one until the slot is dropped.
pub fn start(target: &Target) -> Result<Starting> {
    let sshd = sshd(target);
    let deadline = Instant::now() + target.connect_timeout;
    let (starting, ended) = &STARTING;
    let mut now = lock(starting);
    while now.iter().filter(|s| **s == sshd).count() >= MAX_STARTUPS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "{MAX_STARTUPS} other logins to {}:{} were still in progress after the connect timeout",
                target.address,
                target.port
            );
        }
        now = ended
            .wait_timeout(now, left.min(Duration::from_secs(1)))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    now.push(sshd.clone());
    Ok(Starting { sshd })
}

impl Drop for Starting {
    fn drop(&mut self) {
        let (starting, ended) = &STARTING;
        let mut now = lock(starting);
        if let Some(i) = now.iter().position(|s| *s == self.sshd) {
            now.swap_remove(i);
        }
        ended.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn target(port: u16, connect_timeout: Duration) -> Target {
        Target {
            label: "web1".into(),
            address: "192.0.2.1".into(),
            port,
            user: "root".into(),
            identities: Vec::new(),
            known_hosts: "/dev/null".into(),
            accept_new: false,
            jump: None,
            passphrase: None,
            connect_timeout,
            command_timeout: Duration::from_secs(1),
        }
    }

    /// With MAX_STARTUPS logins to one sshd in progress, the next waits
    /// until one ends; another sshd's does not; a wait past the connect
    /// timeout fails.
    #[test]
    fn logins_to_one_sshd_are_paced() {
        let long = Duration::from_secs(600);
        let held: Vec<Starting> = (0..MAX_STARTUPS)
            .map(|_| start(&target(2222, long)).unwrap())
            .collect();
        let err = start(&target(2222, Duration::from_millis(50)))
            .err()
            .unwrap();
        assert!(err.to_string().contains("still in progress"), "{err}");
        let started = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let next = scope.spawn(|| {
                let slot = start(&target(2222, long)).unwrap();
                started.store(true, Ordering::SeqCst);
                slot
            });
            drop(start(&target(2223, long)).unwrap());
            std::thread::sleep(Duration::from_millis(100));
            assert!(!started.load(Ordering::SeqCst), "an 11th login started");
            drop(held);
            drop(next.join().unwrap());
        });
        assert!(started.load(Ordering::SeqCst));
    }
}
