//! Talking to the operator at the terminal: plans shown (in colour where
//! it helps), a confirmation asked, and per-host progress: a spinner per
//! host on a terminal, plain lines otherwise (CI logs) or with -v (each with
//! the seconds since the host started), nothing with --quiet.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::plan::Plan;

/// Colour for people at a terminal that did not ask for none.
pub fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// How much the operator wants to hear.
#[derive(Debug, Clone, Copy, Default)]
pub struct Console {
    /// No progress lines.
    pub quiet: bool,
    /// -v: progress as timed lines; -vv: also what the hosts' tools said.
    pub verbose: u8,
}

impl Console {
    /// Prints a plan for people.
    pub fn show_plan(&self, plan: &Plan) {
        print!("{}", plan.human(use_color()));
    }

    /// Whether to apply `plan`: yes with `yes`, else asked on a terminal;
    /// refused where nobody can answer.
    pub fn confirm(&self, yes: bool, plan: &Plan) -> Result<bool> {
        if yes {
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to apply without --yes: standard input is not a terminal, so nobody can confirm the plan above"
            );
        }
        let changed = plan.hosts.iter().filter(|h| !h.is_converged()).count();
        dialoguer::Confirm::new()
            .with_prompt(format!(
                "Apply {} changes to {changed} host(s)?",
                plan.change_count()
            ))
            .default(false)
            .interact()
            .context("reading the answer")
    }

    /// A line between the steps of a command, on standard error.
    pub fn note(&self, line: &str) {
        eprintln!("{line}");
    }

    pub fn progress(&self) -> Progress {
        Progress::new(self.quiet, self.verbose)
    }

    /// With -vv: what a host's tools said while it was applied.
    pub fn tools_said(&self, host: &str, log: &str) {
        if self.verbose >= 2 {
            for line in log.lines() {
                eprintln!("{host}: | {line}");
            }
        }
    }
}

pub enum Progress {
    Bars(MultiProgress),
    Lines { timed: bool },
    Quiet,
}

impl Progress {
    pub fn new(quiet: bool, verbose: u8) -> Self {
        if quiet {
            Progress::Quiet
        } else if verbose > 0 {
            Progress::Lines { timed: true }
        } else if std::io::stderr().is_terminal() {
            Progress::Bars(MultiProgress::new())
        } else {
            Progress::Lines { timed: false }
        }
    }

    pub fn host(&self, name: &str) -> HostProgress {
        match self {
            Progress::Bars(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                        .expect("valid template"),
                );
                bar.set_prefix(name.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                HostProgress::Bar(bar)
            }
            Progress::Lines { timed } => HostProgress::Line {
                name: name.to_string(),
                since: timed.then(Instant::now),
            },
            Progress::Quiet => HostProgress::Quiet,
        }
    }
}

pub enum HostProgress {
    Bar(ProgressBar),
    Line {
        name: String,
        since: Option<Instant>,
    },
    Quiet,
}

impl HostProgress {
    pub fn step(&self, step: &str) {
        match self {
            HostProgress::Bar(bar) => bar.set_message(step.to_string()),
            HostProgress::Line { name, since } => eprintln!("{name}: {}{step}", elapsed(*since)),
            HostProgress::Quiet => {}
        }
    }

    pub fn finish(&self, result: &str) {
        match self {
            HostProgress::Bar(bar) => bar.finish_with_message(result.to_string()),
            HostProgress::Line { name, since } => eprintln!("{name}: {}{result}", elapsed(*since)),
            HostProgress::Quiet => {}
        }
    }
}

/// `[  1.2s] ` with -v, nothing otherwise.
fn elapsed(since: Option<Instant>) -> String {
    since.map_or(String::new(), |s| {
        format!("[{:>6.1}s] ", s.elapsed().as_secs_f64())
    })
}
