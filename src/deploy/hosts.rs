//! Reaching the hosts: choosing them, connecting (again, if need be), and
//! running per-host work with a bound on parallelism.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};

use super::{Prepared, Reach};
use crate::spec::{Host, Loaded};
use crate::transport::target::{self, Options, Target};
use crate::transport::{Local, Ssh, Transport};
use crate::yaml::{did_you_mean, one_of};

/// How to open a connection to a host, again if need be.
#[derive(Clone)]
pub enum Connector {
    Local,
    Ssh(Box<Target>),
}

impl Connector {
    pub fn open(&self) -> Result<Box<dyn Transport>> {
        Ok(match self {
            Connector::Local => Box::new(Local),
            Connector::Ssh(target) => Box::new(Ssh::connect(target)?),
        })
    }

    /// A new connection, new logins at jump hosts too, that gives up within
    /// `limit`, so that it fails while the lockout guard still waits rather
    /// than getting in after a revert.
    pub fn open_within(&self, limit: Duration) -> Result<Box<dyn Transport>> {
        Ok(match self {
            Connector::Local => Box::new(Local),
            Connector::Ssh(target) => {
                let mut quick = (**target).clone();
                let mut hop = Some(&mut quick);
                while let Some(target) = hop {
                    target.connect_timeout = target.connect_timeout.min(limit);
                    hop = target.jump.as_deref_mut();
                }
                Box::new(Ssh::connect_anew(&quick)?)
            }
        })
    }
}

/// The host called `name`, or an error that suggests the closest one.
pub fn named<'a>(loaded: &'a Loaded, name: &str) -> Result<&'a Host> {
    let hosts = &loaded.spec.hosts;
    if let Some(host) = hosts.iter().find(|h| h.name == name) {
        return Ok(host);
    }
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    let hint = did_you_mean(name, &names)
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    bail!(
        "no host `{name}` in {}{hint}; hosts are {}",
        loaded.file.display(),
        one_of(&names)
    )
}

/// The hosts named with --host, in spec order; all without.
pub fn select<'a>(loaded: &'a Loaded, reach: &Reach) -> Result<Vec<&'a Host>> {
    if reach.local && !cfg!(target_os = "linux") {
        bail!(
            "--connection local makes this machine the host, which runs Debian's tools (systemd, apt): it needs a Linux machine"
        );
    }
    for wanted in &reach.hosts {
        named(loaded, wanted)?;
    }
    let chosen: Vec<&Host> = loaded
        .spec
        .hosts
        .iter()
        .filter(|h| reach.hosts.is_empty() || reach.hosts.contains(&h.name))
        .collect();
    if reach.local && chosen.len() != 1 {
        let names: Vec<&str> = loaded.spec.hosts.iter().map(|h| h.name.as_str()).collect();
        bail!(
            "--connection local works on this machine as one host: choose it with --host ({})",
            one_of(&names)
        );
    }
    Ok(chosen)
}

fn options(reach: &Reach) -> Options {
    Options {
        accept_new_host_keys: reach.accept_new_host_keys,
        // The lab's hosts are described entirely by the lab.
        ssh_config: if reach.lab.is_some() {
            Some("/dev/null".into())
        } else {
            reach.ssh_config.clone()
        },
        connect_timeout: reach.connect_timeout,
        command_timeout: reach.command_timeout,
    }
}

pub fn connector(loaded: &Loaded, host: &Host, reach: &Reach) -> Result<Connector> {
    if reach.local {
        return Ok(Connector::Local);
    }
    let mut target = target::resolve(loaded, host, &options(reach))?;
    if let Some(lab) = &reach.lab {
        target.identities = vec![lab.key.clone()];
        target.known_hosts = lab.known_hosts.clone();
        target.user = "root".into();
        target.accept_new = false;
        target.jump = None;
    }
    Ok(Connector::Ssh(Box::new(target)))
}

pub fn connect(loaded: &Loaded, host: &Host, reach: &Reach) -> Result<Box<dyn Transport>> {
    connector(loaded, host, reach)?.open()
}

pub enum Outcome<R> {
    Done(R),
    Failed(anyhow::Error),
    /// Not started: another host failed and --fail-fast was given.
    Skipped(String),
}

/// Runs `work` on each item, at most `parallel` at once, returning outcomes
/// in the items' order. With `fail_fast`, items not yet started when one
/// fails are skipped; those under way finish.
pub fn run_parallel<T, R, F>(
    items: Vec<T>,
    parallel: usize,
    fail_fast: bool,
    work: F,
) -> Vec<Outcome<R>>
where
    T: Send + Describe,
    R: Send,
    F: Fn(T) -> Result<R> + Sync,
{
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate().collect::<VecDeque<_>>());
    let results: Mutex<Vec<Option<Outcome<R>>>> = Mutex::new((0..count).map(|_| None).collect());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(count).max(1) {
            scope.spawn(|| {
                loop {
                    let Some((index, item)) = queue.lock().expect("queue lock").pop_front() else {
                        break;
                    };
                    let outcome = if stop.load(Ordering::SeqCst) {
                        Outcome::Skipped(item.describe())
                    } else {
                        match work(item) {
                            Ok(r) => Outcome::Done(r),
                            Err(e) => {
                                if fail_fast {
                                    stop.store(true, Ordering::SeqCst);
                                }
                                Outcome::Failed(e)
                            }
                        }
                    };
                    results.lock().expect("results lock")[index] = Some(outcome);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|o| o.expect("every item ran"))
        .collect()
}

/// What finished and what failed, each in the items' order; skipped items
/// are left out (the caller reports them, or ran without fail-fast).
pub fn partition<R>(outcomes: Vec<Outcome<R>>) -> (Vec<R>, Vec<anyhow::Error>) {
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Done(r) => done.push(r),
            Outcome::Failed(e) => failures.push(e),
            Outcome::Skipped(_) => {}
        }
    }
    (done, failures)
}

/// Failures one per line, each with its causes.
pub fn lines(failures: &[anyhow::Error]) -> String {
    failures
        .iter()
        .map(|e| format!("{e:#}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A name for an item that was skipped.
pub trait Describe {
    fn describe(&self) -> String;
}

impl Describe for &Host {
    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl Describe for Prepared {
    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Describe for u32 {
        fn describe(&self) -> String {
            format!("item {self}")
        }
    }

    fn run(fail_fast: bool, parallel: usize) -> Vec<String> {
        let outcomes = run_parallel((1..=5).collect(), parallel, fail_fast, |n: u32| {
            if n == 2 {
                bail!("item 2 failed")
            } else {
                Ok(n * 10)
            }
        });
        outcomes
            .into_iter()
            .map(|o| match o {
                Outcome::Done(v) => format!("done {v}"),
                Outcome::Failed(e) => e.to_string(),
                Outcome::Skipped(what) => format!("skipped {what}"),
            })
            .collect()
    }

    #[test]
    fn outcomes_keep_the_items_order_and_other_hosts_finish() {
        assert_eq!(
            run(false, 3),
            ["done 10", "item 2 failed", "done 30", "done 40", "done 50"]
        );
    }

    #[test]
    fn fail_fast_starts_nothing_after_a_failure() {
        assert_eq!(
            run(true, 1),
            [
                "done 10",
                "item 2 failed",
                "skipped item 3",
                "skipped item 4",
                "skipped item 5"
            ]
        );
    }
}
