//! Logins, as sshd counts them: each jump host gets one, whatever the
//! number of targets behind it (their connections are channels of that
//! one), and no sshd sees more than `MAX_STARTUPS` logins in progress from
//! one run (sshd's default `MaxStartups 10:30:100` starts refusing beyond
//! 10 unauthenticated connections).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use anyhow::Result;

use super::ssh::Ssh;
use super::target::Target;

/// Logins in progress per sshd: the start of sshd's default MaxStartups.
pub const MAX_STARTUPS: usize = 10;

/// Which sshd a target's login reaches: its address and port, as seen
/// from its jump host if any, and as whom.
fn sshd(target: &Target) -> String {
    let via = target.jump.as_deref().map(sshd).unwrap_or_default();
    format!("{via}>{}@{}:{}", target.user, target.address, target.port)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A login slot at one sshd, given back when dropped.
pub struct Starting {
    sshd: String,
}

/// Logins in progress by sshd, and the signal that one ended.
static STARTING: (Mutex<Vec<String>>, Condvar) = (Mutex::new(Vec::new()), Condvar::new());

/// Waits until fewer than MAX_STARTUPS logins to `target`'s sshd are in
/// progress, and counts this one until the slot is dropped.
pub fn start(target: &Target) -> Starting {
    let sshd = sshd(target);
    let (starting, ended) = &STARTING;
    let mut now = lock(starting);
    while now.iter().filter(|s| **s == sshd).count() >= MAX_STARTUPS {
        now = ended.wait(now).unwrap_or_else(PoisonError::into_inner);
    }
    now.push(sshd.clone());
    Starting { sshd }
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

/// Each jump host's session while some target's session holds it. The
/// slot's lock is held while its login is made, so that the other targets
/// behind that jump host wait for it instead of making their own.
type Slot = Arc<Mutex<Weak<Ssh>>>;
static JUMPS: Mutex<Option<HashMap<String, Slot>>> = Mutex::new(None);

/// The session to `jump`, made once and shared; `fresh` makes a new one
/// (the shared one failed to open a channel: its connection is gone).
pub fn jump_session(jump: &Target, fresh: bool) -> Result<Arc<Ssh>> {
    let slot = lock(&JUMPS)
        .get_or_insert_with(HashMap::new)
        .entry(sshd(jump))
        .or_default()
        .clone();
    let mut held = lock(&slot);
    if !fresh && let Some(session) = held.upgrade() {
        return Ok(session);
    }
    let session = Arc::new(Ssh::connect(jump)?);
    *held = Arc::downgrade(&session);
    Ok(session)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    fn target(port: u16) -> Target {
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
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
        }
    }

    /// With MAX_STARTUPS logins to one sshd in progress, the next waits
    /// until one ends; another sshd's does not.
    #[test]
    fn logins_to_one_sshd_are_paced() {
        let held: Vec<Starting> = (0..MAX_STARTUPS).map(|_| start(&target(2222))).collect();
        let started = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let next = scope.spawn(|| {
                let slot = start(&target(2222));
                started.store(true, Ordering::SeqCst);
                slot
            });
            drop(start(&target(2223)));
            std::thread::sleep(Duration::from_millis(100));
            assert!(!started.load(Ordering::SeqCst), "an 11th login started");
            drop(held);
            drop(next.join().unwrap());
        });
        assert!(started.load(Ordering::SeqCst));
    }
}
