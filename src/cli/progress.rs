//! Per-host progress: a spinner per host on a terminal, plain lines
//! otherwise (CI logs), nothing with --quiet.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub enum Progress {
    Bars(MultiProgress),
    Lines,
    Quiet,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bars(MultiProgress::new())
        } else {
            Progress::Lines
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
            Progress::Lines => HostProgress::Line(name.to_string()),
            Progress::Quiet => HostProgress::Quiet,
        }
    }
}

pub enum HostProgress {
    Bar(ProgressBar),
    Line(String),
    Quiet,
}

impl HostProgress {
    pub fn step(&self, step: &str) {
        match self {
            HostProgress::Bar(bar) => bar.set_message(step.to_string()),
            HostProgress::Line(name) => eprintln!("{name}: {step}"),
            HostProgress::Quiet => {}
        }
    }

    pub fn finish(&self, result: &str) {
        match self {
            HostProgress::Bar(bar) => bar.finish_with_message(result.to_string()),
            HostProgress::Line(name) => eprintln!("{name}: {result}"),
            HostProgress::Quiet => {}
        }
    }
}
