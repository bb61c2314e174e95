//! Applying: a fresh plan shown and confirmed (or a saved one), then each
//! host converged under the deploy lock, all at once or, when a release
//! ships, in waves.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, bail};

use super::Reach;
use super::host::{self, Applied, HostAccess};
use super::hosts::{self, Describe, Outcome};
use super::plan::plan_all;
use super::prepare::{Prepared, Source, prepare};
use crate::plan::{HostPlan, Plan};
use crate::resource::diff::Action;
use crate::resource::{Kind, Resource};
use crate::safety::lock::Lease;
use crate::spec::{Batch, Loaded};
use crate::ui::Console;

/// What every command that changes hosts is told.
#[derive(Debug, Clone)]
pub struct ConvergeOptions {
    /// Apply without asking.
    pub yes: bool,
    /// Seconds the deploy lock lives unless renewed.
    pub lock_ttl: u64,
    /// How long to wait, before planning, for other runs' deploy locks.
    pub lock_wait: std::time::Duration,
    /// Once a host fails, start no other (those under way finish).
    pub fail_fast: bool,
}

/// How an apply ended.
pub enum ApplyOutcome {
    /// Every host matched the spec; nothing was done.
    Converged,
    /// The operator did not confirm; nothing was done.
    Declined,
    /// What happened on each host, in order.
    Applied(Vec<Outcome<Applied>>),
}

/// `deployer apply [SAVED]`.
pub fn apply(
    loaded: &Loaded,
    reach: &Reach,
    saved: Option<&Path>,
    options: &ConvergeOptions,
    console: &Console,
) -> Result<ApplyOutcome> {
    let saved = saved.map(Plan::load).transpose()?;
    let mut reach = reach.clone();
    if let Some(saved) = &saved {
        if !reach.hosts.is_empty() {
            bail!("a saved plan names its hosts; leave out --host");
        }
        reach.hosts = saved.hosts.iter().map(|h| h.host.clone()).collect();
    }
    let chosen = hosts::select(loaded, &reach)?;
    super::lock::wait_until_free(loaded, &chosen, &reach, options.lock_wait, console)?;
    let prepared = prepare(loaded, &chosen, &reach, Source::Ship)?;
    // A chosen host of a mesh with no key pair yet: the others cannot list
    // it as a peer until this apply made it.
    let keys_to_make = prepared.iter().any(|p| p.makes_mesh_key);
    let (prepared, expected): (Vec<_>, HashMap<String, HostPlan>) = match saved {
        Some(saved) => (
            prepared,
            saved
                .hosts
                .into_iter()
                .map(|h| (h.host.clone(), h))
                .collect(),
        ),
        None => {
            let (planned, failures) = plan_all(prepared, reach.parallel);
            if let Some(first) = failures.into_iter().next() {
                return Err(first.context("planning failed; nothing was applied"));
            }
            match review(planned, options, console)? {
                Reviewed::Go(prepared, expected) => (prepared, expected),
                Reviewed::Converged => return Ok(ApplyOutcome::Converged),
                Reviewed::Declined => return Ok(ApplyOutcome::Declined),
            }
        }
    };
    let ships_release = expected
        .values()
        .any(|plan| plan.changes.iter().any(|c| c.id.kind == Kind::Release));
    let order = if ships_release {
        Order::Waves {
            batch: loaded.spec.rollout.batch,
        }
    } else {
        Order::Parallel {
            fail_fast: options.fail_fast,
        }
    };
    let mut outcomes = converge(prepared, &expected, &reach, options, order, console);
    let all_done = outcomes.iter().all(|o| matches!(o, Outcome::Done(_)));
    if keys_to_make && all_done {
        let second = mesh_peers_round(loaded, &chosen, &reach, options, console)?;
        outcomes = rounds_together(outcomes, second);
    }
    Ok(ApplyOutcome::Applied(outcomes))
}

/// Each host's outcome over both rounds of an apply: what both changed,
/// or, for a host the second round did not finish, its failure (whose
/// message names the host) or skip.
fn rounds_together(
    first: Vec<Outcome<Applied>>,
    second: Vec<Outcome<Applied>>,
) -> Vec<Outcome<Applied>> {
    let mut done = HashMap::new();
    let mut unfinished = Vec::new();
    for outcome in second {
        match outcome {
            Outcome::Done(applied) => {
                done.insert(applied.plan.host.clone(), applied);
            }
            other => unfinished.push(other),
        }
    }
    let mut unfinished = unfinished.into_iter();
    first
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Done(mut applied) => match done.remove(&applied.plan.host) {
                Some(more) => {
                    applied.plan.changes.extend(more.plan.changes);
                    applied.plan.handlers.extend(more.plan.handlers);
                    applied.log.push_str(&more.log);
                    Outcome::Done(applied)
                }
                None => unfinished.next().unwrap_or(Outcome::Done(applied)),
            },
            other => other,
        })
        .collect()
}

/// The second round of an apply that made mesh key pairs: the hosts are
/// surveyed again and every host gets the new keys as peers. What it
/// changes follows from the plan the operator confirmed, so it is shown
/// and applied without asking again.
fn mesh_peers_round(
    loaded: &Loaded,
    chosen: &[&crate::spec::Host],
    reach: &Reach,
    options: &ConvergeOptions,
    console: &Console,
) -> Result<Vec<Outcome<Applied>>> {
    console.note("mesh: the new key pairs are made; a second round adds them as peers");
    if chosen.len() < loaded.spec.hosts.len() {
        console.note(
            "mesh: only the chosen hosts take part; the others list the new keys as peers once they are applied too",
        );
    }
    let prepared = prepare(loaded, chosen, reach, Source::Ship)?;
    let (planned, failures) = plan_all(prepared, reach.parallel);
    if let Some(first) = failures.into_iter().next() {
        return Err(first.context("planning the mesh's second round failed"));
    }
    // The first round shipped the release the operator confirmed; one that
    // differs now (the source changed meanwhile) was never shown.
    if let Some((_, plan)) = planned
        .iter()
        .find(|(_, plan)| plan.changes.iter().any(|c| c.id.kind == Kind::Release))
    {
        bail!(
            "{}: the app's source changed during the apply, so its second round (the mesh's new peers) would ship a release nobody confirmed; run apply again",
            plan.host
        );
    }
    let confirmed = ConvergeOptions {
        yes: true,
        ..options.clone()
    };
    Ok(match review(planned, &confirmed, console)? {
        Reviewed::Go(prepared, expected) => converge(
            prepared,
            &expected,
            reach,
            &confirmed,
            Order::Parallel {
                fail_fast: options.fail_fast,
            },
            console,
        ),
        Reviewed::Converged | Reviewed::Declined => Vec::new(),
    })
}

/// What the operator made of the plans.
pub(super) enum Reviewed {
    Go(Vec<Prepared>, HashMap<String, HostPlan>),
    Converged,
    Declined,
}

/// Shows the plans and asks (or takes `--yes`).
pub(super) fn review(
    planned: Vec<(Prepared, HostPlan)>,
    options: &ConvergeOptions,
    console: &Console,
) -> Result<Reviewed> {
    let plan = Plan::new(planned.iter().map(|(_, p)| p.clone()).collect());
    console.show_plan(&plan);
    if plan.is_converged() {
        return Ok(Reviewed::Converged);
    }
    if !console.confirm(options.yes, &plan)? {
        return Ok(Reviewed::Declined);
    }
    let (prepared, expected) = planned
        .into_iter()
        .map(|(host, plan)| (host, (plan.host.clone(), plan)))
        .unzip();
    Ok(Reviewed::Go(prepared, expected))
}

/// How the hosts are taken through their plans.
pub(super) enum Order {
    /// All at once, at most `--parallel` at a time; with `fail_fast`, none
    /// starts after a failure.
    Parallel { fail_fast: bool },
    /// A release rollout: see [`Waves`].
    Waves { batch: Batch },
}

/// Applies each host's plan, under the deploy lock, with progress.
pub(super) fn converge(
    prepared: Vec<Prepared>,
    expected: &HashMap<String, HostPlan>,
    reach: &Reach,
    options: &ConvergeOptions,
    order: Order,
    console: &Console,
) -> Vec<Outcome<Applied>> {
    let lease = Lease::new(&reach.state_dir, options.lock_ttl);
    let progress = console.progress();
    let work = |mut prepared: Prepared| {
        let bar = progress.host(&prepared.name);
        let connector = prepared.connector.clone();
        let limit = prepared.desired.guard.confirm_within / 2;
        let reconnect = move || connector.open_within(limit);
        let access = HostAccess {
            host: &prepared.name,
            transport: prepared.transport.as_mut(),
            reconnect: &reconnect,
        };
        let result = host::apply(
            access,
            &prepared.desired,
            expected.get(&prepared.name),
            &lease,
            &mut |step| bar.step(step),
        );
        if let Ok(applied) = &result {
            console.tools_said(&prepared.name, &applied.log);
        }
        match &result {
            Ok(applied) if applied.plan.is_converged() => bar.finish("no changes"),
            Ok(applied) => bar.finish(&format!("done: {}", applied.plan.summary())),
            Err(_) => bar.finish("FAILED"),
        }
        result
    };
    // Hosts that stop web instances or workers go after the rest, so that
    // a load balancer's new upstream is live before its old members stop.
    let retires = |host: &Prepared| {
        expected.get(&host.name).is_some_and(|plan| {
            plan.changes
                .iter()
                .any(|c| c.action == Action::Remove && c.id.kind == Kind::Service)
        })
    };
    let (later, first): (Vec<Prepared>, Vec<Prepared>) = prepared.into_iter().partition(retires);
    match order {
        Order::Waves { batch } => {
            let (app_hosts, other): (Vec<Prepared>, Vec<Prepared>) =
                first.into_iter().partition(|host| {
                    host.desired
                        .resources
                        .iter()
                        .any(|r| matches!(r, Resource::Release(_)))
                });
            let (fresh, serving): (Vec<Prepared>, Vec<Prepared>) =
                app_hosts.into_iter().partition(|host| {
                    expected
                        .get(&host.name)
                        .is_some_and(|plan| plan.first_release)
                });
            let waves = Waves {
                other: other.len(),
                fresh: fresh.len(),
                batch: batch.resolve(other.len() + fresh.len() + serving.len() + later.len()),
                parallel: reach.parallel,
            };
            let hosts = other
                .into_iter()
                .chain(fresh)
                .chain(serving)
                .chain(later)
                .collect();
            waves.run(hosts, work)
        }
        Order::Parallel { fail_fast } => {
            let mut outcomes = hosts::run_parallel(first, reach.parallel, fail_fast, work);
            if fail_fast && outcomes.iter().any(|o| matches!(o, Outcome::Failed(_))) {
                outcomes.extend(later.into_iter().map(|h| Outcome::Skipped(h.name)));
            } else {
                outcomes.extend(hosts::run_parallel(later, reach.parallel, fail_fast, work));
            }
            outcomes
        }
    }
}

/// How a new release rolls out. First the hosts that run none of the app
/// (load balancers, Redis), at once: the app hosts' health checks may need
/// them. Then the app hosts that serve no release yet: the first alone, the
/// others at once once it turned healthy (nothing there to protect). Then
/// the app hosts that serve one: the first alone, the rest `batch` at a
/// time. At most `parallel` hosts at a time in a wave that goes at once. A
/// wave with a failure (a host that did not turn healthy rolled itself
/// back) stops the rollout, so no other host switches.
struct Waves {
    /// How many hosts at the front of the list run none of the app.
    other: usize,
    /// How many hosts after those serve no release yet.
    fresh: usize,
    batch: usize,
    parallel: usize,
}

impl Waves {
    fn run<T, R, F>(&self, mut hosts: Vec<T>, work: F) -> Vec<Outcome<R>>
    where
        T: Send + Describe,
        R: Send,
        F: Fn(T) -> Result<R> + Sync,
    {
        // (hosts, how many at a time) of each wave.
        let together = |hosts: usize| (hosts > 0).then_some((hosts, self.parallel));
        let fresh = (self.fresh > 0)
            .then_some((1, 1))
            .into_iter()
            .chain(together(self.fresh.saturating_sub(1)));
        let sizes = together(self.other)
            .into_iter()
            .chain(fresh)
            .chain(std::iter::once((1, 1)))
            .chain(std::iter::repeat((self.batch, self.batch)));
        let mut outcomes = Vec::new();
        for (size, at_once) in sizes {
            if hosts.is_empty() {
                break;
            }
            let rest = hosts.split_off(size.min(hosts.len()));
            let wave = std::mem::replace(&mut hosts, rest);
            outcomes.extend(hosts::run_parallel(wave, at_once, false, &work));
            if outcomes.iter().any(|o| matches!(o, Outcome::Failed(_))) {
                outcomes.extend(hosts.drain(..).map(|h| Outcome::Skipped(h.describe())));
            }
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::ResourceId;
    use crate::resource::diff::Change;

    fn done(host: &str, files: &[&str]) -> Outcome<Applied> {
        Outcome::Done(Applied {
            plan: HostPlan {
                host: host.into(),
                facts_digest: String::new(),
                desired_digest: String::new(),
                changes: files
                    .iter()
                    .map(|f| Change {
                        id: ResourceId {
                            kind: Kind::File,
                            target: f.to_string(),
                        },
                        action: Action::Update,
                        details: Vec::new(),
                        diff: None,
                    })
                    .collect(),
                handlers: Vec::new(),
                exposed: Vec::new(),
                kept: Vec::new(),
                found: Vec::new(),
                first_release: false,
            },
            log: format!("{host} said\n"),
        })
    }

    /// A host of a rollout: its number, and whether its release fails.
    struct Rolled(u32, bool);

    impl Describe for Rolled {
        fn describe(&self) -> String {
            format!("host{}", self.0)
        }
    }

    /// What a rollout of `hosts` did: `+N` went live, `-N` failed, `N`
    /// was skipped.
    fn rollout(waves: Waves, hosts: Vec<Rolled>) -> Vec<String> {
        waves
            .run(hosts, |Rolled(n, fails)| {
                if fails {
                    bail!("host{n} rolled back");
                }
                Ok(n)
            })
            .iter()
            .map(|o| match o {
                Outcome::Done(n) => format!("+{n}"),
                Outcome::Failed(_) => "-".into(),
                Outcome::Skipped(name) => name.trim_start_matches("host").into(),
            })
            .collect()
    }

    #[test]
    fn hosts_serving_no_release_follow_the_first_at_once_then_batches_go() {
        let hosts = |failing: u32| (1..=7).map(|n| Rolled(n, n == failing)).collect();
        // Host 1 runs none of the app; 2, 3 and 4 serve no release yet;
        // 5, 6 and 7 serve one.
        let waves = || Waves {
            other: 1,
            fresh: 3,
            batch: 2,
            parallel: 10,
        };
        // A wave's hosts in order of number, however they finished.
        let sorted = |mut seen: Vec<String>, wave: std::ops::Range<usize>| {
            seen[wave].sort();
            seen
        };
        // Everything goes: 1, 2, then 3 and 4 at once, 5 alone, 6 and 7.
        assert_eq!(
            rollout(waves(), hosts(0)),
            ["+1", "+2", "+3", "+4", "+5", "+6", "+7"]
        );
        // A host that runs none of the app fails: no release goes out.
        assert_eq!(
            rollout(waves(), hosts(1)),
            ["-", "2", "3", "4", "5", "6", "7"]
        );
        // The first fresh host fails: the others wait.
        assert_eq!(
            rollout(waves(), hosts(2)),
            ["+1", "-", "3", "4", "5", "6", "7"]
        );
        // A failure among the fresh hosts that go at once lets the rest of
        // their wave finish, and stops the rollout before the hosts that
        // serve.
        assert_eq!(
            sorted(rollout(waves(), hosts(3)), 2..4),
            ["+1", "+2", "+4", "-", "5", "6", "7"]
        );
        // The first host that serves goes alone, the others by batch.
        assert_eq!(
            rollout(waves(), hosts(5)),
            ["+1", "+2", "+3", "+4", "-", "6", "7"]
        );
        assert_eq!(
            sorted(rollout(waves(), hosts(6)), 5..7),
            ["+1", "+2", "+3", "+4", "+5", "+7", "-"]
        );
        // A fleet that serves everywhere: the first alone, then batches.
        let serving = Waves {
            other: 0,
            fresh: 0,
            batch: 2,
            parallel: 10,
        };
        assert_eq!(
            sorted(rollout(serving, hosts(2)), 1..3),
            ["+1", "+3", "-", "4", "5", "6", "7"]
        );
    }

    #[test]
    fn both_rounds_of_a_mesh_apply_report_once_per_host() {
        let first = vec![
            done("lb1", &["/a", "/b"]),
            done("app1", &["/a"]),
            done("app2", &["/a"]),
        ];
        let second = vec![
            Outcome::Failed(anyhow::anyhow!("app2: refused")),
            done("app1", &["/mesh"]),
            done("lb1", &[]),
        ];
        let together = rounds_together(first, second);
        let seen: Vec<String> = together
            .iter()
            .map(|o| match o {
                Outcome::Done(a) => format!("{} {}", a.plan.host, a.plan.changes.len()),
                Outcome::Failed(e) => format!("failed: {e}"),
                Outcome::Skipped(h) => format!("skipped {h}"),
            })
            .collect();
        assert_eq!(seen, ["lb1 2", "app1 2", "failed: app2: refused"]);
    }
}
