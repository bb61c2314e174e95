//! What commands that converge hosts print at the end.

use crate::deploy::{Applied, Outcome};

use super::exit;

/// Prints what happened on each host and returns the exit code; `rerun` is
/// the command that finishes the job.
pub fn applied(outcomes: &[Outcome<Applied>], rerun: &str) -> u8 {
    let (mut changed, mut failed, mut skipped, mut total) = (0, 0, 0, 0);
    for outcome in outcomes {
        match outcome {
            Outcome::Done(applied) => {
                total += applied.plan.changes.len();
                changed += usize::from(!applied.plan.is_converged());
                println!(
                    "{}: {}",
                    applied.plan.host,
                    if applied.plan.is_converged() {
                        "no changes".to_string()
                    } else {
                        format!("applied {}", applied.plan.summary())
                    }
                );
            }
            Outcome::Failed(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
            }
            Outcome::Skipped(host) => {
                skipped += 1;
                eprintln!(
                    "{host}: skipped after a failure elsewhere (--fail-fast, or a rollout stopped); nothing was changed there"
                );
            }
        }
    }
    println!(
        "Apply: {total} change(s) on {changed} host(s); {failed} failed, {skipped} skipped, of {} host(s).",
        outcomes.len()
    );
    if failed + skipped > 0 {
        eprintln!("Fix the cause and run `{rerun}` again: it picks up where this run stopped.");
        return exit::FAILED;
    }
    exit::OK
}
