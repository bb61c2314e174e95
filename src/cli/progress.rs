//! Per-host progress: a spinner per host on a terminal, plain lines
//! otherwise (CI logs) or with -v (each with the seconds since the host
//! started), nothing with --quiet.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

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
