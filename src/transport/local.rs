//! `--connection local`: the scripts run on this machine, for baking images
//! and for tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::thread;

use anyhow::{Context as _, Result};

use super::{Output, Transport};

pub struct Local;

impl Transport for Local {
    fn run(&mut self, script: &str, on_line: &mut dyn FnMut(&str)) -> Result<Output> {
        let mut child = Command::new("bash")
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting bash")?;
        let mut stdin = child.stdin.take().expect("piped");
        let script = script.to_string();
        let writer = thread::spawn(move || stdin.write_all(script.as_bytes()));
        let mut stderr_pipe = child.stderr.take().expect("piped");
        let reader = thread::spawn(move || {
            let mut text = String::new();
            stderr_pipe.read_to_string(&mut text).map(|_| text)
        });
        let mut stdout = String::new();
        for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
            let line = line.context("reading the script's output")?;
            on_line(&line);
            stdout.push_str(&line);
            stdout.push('\n');
        }
        let status = child.wait().context("waiting for bash")?;
        // bash may exit before reading all of a script it failed early in.
        let _ = writer.join().expect("the writer thread does not panic");
        let stderr = reader
            .join()
            .expect("the reader thread does not panic")
            .context("reading stderr")?;
        Ok(Output {
            stdout,
            stderr,
            status: status.code().unwrap_or(-1),
        })
    }
}
