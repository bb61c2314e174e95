//! One bash per SSH session: every exec costs a channel, sshd's session
//! setup and, for other users than root, a sudo, so a session's first script
//! starts a driver shell and every script is a frame written to it: a header line
//! `MARKER LENGTH OUTPUT`, then the script, which a subshell of the driver runs as an exec
//! would. The driver then prints the marker on stderr, and on stdout with
//! the exit status; the marker is random per script, so no output can end
//! a script early.

use crate::dialect::shell::random_hex;

/// The driver, fed to the session's `bash -s` before the first frame. bash
/// reads a script from a pipe one byte at a time, so the frames after it
/// stay unread for `read` and `head`. A script runs in a subshell of the
/// driver (a fork, no new bash to start: its traps are reset, and what it
/// sets ends with it), which sources its whole frame at once (a `bash -s`
/// would read it a byte at a time too, a system call each; one does where
/// there is no /dev/stdin). What a script that failed, or a `bash -s` that
/// ended early, left unread is drained, so that `head` takes the whole
/// frame and the next header is always where expected.
/// A relayed script's output goes through a pair of FIFOs whose readers
/// end only when every process holding them has closed them, as a
/// channel's EOF did: output a script leaves running in the background
/// stays its own. They live in a directory of the driver's own, made when
/// a relayed script first needs it and again (under a new name) when it is
/// gone or not the driver's any more. A contained script (see
/// [`Frame::header`]) writes to the session itself: two `cat`s fewer. So
/// does a relayed one where no private directory can be made, saying so
/// on stderr: it runs, as it did when every script had its own exec.
/// `TMOUT` would end an idle `read`; the `exit` on the loop's line keeps a
/// failed `read` from handing the frames to bash as commands.
/// [`NO_SHELL`]: its input broke off.
pub const DRIVER: &str = r#"unset TMOUT
deployer_fifos() {
  if [ -n "${deployer_pipes-}" ] && [ ! -L "$deployer_pipes" ] && [ -O "$deployer_pipes" ]; then
    if [ -p "$deployer_pipes/out" ] && [ -p "$deployer_pipes/err" ]; then return 0; fi
    rm -rf "$deployer_pipes"
  fi
  deployer_pipes=$({ mktemp -d || mktemp -d -p /tmp || mktemp -d -p /dev/shm; } 2>/dev/null) &&
    mkfifo "$deployer_pipes/out" "$deployer_pipes/err" ||
    { echo "deployer: no private directory for the shell's pipes: the script writes to the session itself" >&2; return 1; }
}
trap '[ -z "${deployer_pipes-}" ] || rm -rf "$deployer_pipes"' EXIT
if [ -r /dev/stdin ]; then deployer_sourced=1; else deployer_sourced=0; fi
deployer_run() { if [ $deployer_sourced = 1 ]; then (. /dev/stdin); else bash -s; fi; }
deployer_frame() {
  head -c "$deployer_length" | { deployer_run; deployer_status=$?; [ $deployer_status = 0 ] && [ $deployer_sourced = 1 ] || cat >/dev/null; exit $deployer_status; }
}
while IFS=' ' read -r deployer_marker deployer_length deployer_output; do
  if [ "$deployer_output" != contained ] && deployer_fifos; then
    cat "$deployer_pipes/out" & deployer_out=$!
    cat "$deployer_pipes/err" >&2 & deployer_err=$!
    deployer_frame >"$deployer_pipes/out" 2>"$deployer_pipes/err"
    deployer_status=$?
    wait "$deployer_out" "$deployer_err"
  else
    deployer_frame
    deployer_status=$?
  fi
  printf '%s %s\n' "$deployer_marker" "$deployer_status"
  printf '%s\n' "$deployer_marker" >&2
done; exit 111
"#;

/// The driver's exit status when its input broke off.
pub const NO_SHELL: i32 = 111;

/// One script's frame: its marker.
pub struct Frame {
    marker: String,
}

impl Frame {
    pub fn new() -> Frame {
        Frame {
            marker: format!("deployer-end-{}", random_hex(16)),
        }
    }

    /// The header line the driver reads before `script`. A `contained`
    /// script promises that every process it starts ends with it (no `&`,
    /// no daemon), so its output needs no relay waiting for stragglers.
    pub fn header(&self, script: &str, contained: bool) -> String {
        let output = if contained { "contained" } else { "relayed" };
        format!("{} {} {output}\n", self.marker, script.len())
    }

    /// Where the script's stdout ends in `raw` and its exit status, once
    /// the whole status line has arrived. `searched`: how much of `raw` an
    /// earlier call looked at.
    pub fn stdout_end(&self, raw: &[u8], searched: usize) -> Option<(usize, i32)> {
        let end = self.find(raw, searched)?;
        let rest = &raw[end + self.marker.len()..];
        let line = rest.strip_prefix(b" ")?;
        let newline = line.iter().position(|b| *b == b'\n')?;
        let status = std::str::from_utf8(&line[..newline]).ok()?.parse().ok()?;
        Some((end, status))
    }

    /// Where the script's stderr ends in `raw`, once the marker has arrived.
    pub fn stderr_end(&self, raw: &[u8], searched: usize) -> Option<usize> {
        let end = self.find(raw, searched)?;
        raw[end + self.marker.len()..]
            .starts_with(b"\n")
            .then_some(end)
    }

    /// The marker in `raw`, looking again only where a marker or status
    /// line cut short by the last look could have begun.
    fn find(&self, raw: &[u8], searched: usize) -> Option<usize> {
        let marker = self.marker.as_bytes();
        // The longest status line after it: a space, an i32, a newline.
        let from = searched.saturating_sub(marker.len() + 13);
        raw[from..]
            .windows(marker.len())
            .position(|w| w == marker)
            .map(|at| from + at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_ends_output_with_or_without_a_last_newline() {
        let frame = Frame::new();
        let m = &frame.marker;
        assert_eq!(
            frame.stdout_end(format!("a\nb\n{m} 3\n").as_bytes(), 0),
            Some((4, 3))
        );
        assert_eq!(
            frame.stdout_end(format!("a\nb{m} 0\n").as_bytes(), 0),
            Some((3, 0))
        );
        // Not yet: the marker or its status line is still on its way.
        assert_eq!(frame.stdout_end(b"a\nb\ndeployer-end-", 0), None);
        assert_eq!(frame.stdout_end(format!("a\n{m} 12").as_bytes(), 0), None);
        assert_eq!(
            frame.stderr_end(format!("oops{m}\n").as_bytes(), 0),
            Some(4)
        );
        assert_eq!(frame.stderr_end(m.as_bytes(), 0), None);
        // Another script's marker is not this one's.
        let other = Frame::new();
        assert_eq!(
            frame.stdout_end(format!("{} 0\n", other.marker).as_bytes(), 0),
            None
        );
        // A marker split across two reads is found by the second look.
        let whole = format!("out\n{m} 0\n");
        let cut = 4 + m.len() / 2;
        assert_eq!(frame.stdout_end(&whole.as_bytes()[..cut], 0), None);
        assert_eq!(frame.stdout_end(whole.as_bytes(), cut), Some((4, 0)));
        let cut = whole.len() - 1;
        assert_eq!(frame.stdout_end(&whole.as_bytes()[..cut], 0), None);
        assert_eq!(frame.stdout_end(whole.as_bytes(), cut), Some((4, 0)));
        let long = format!("{m} -2147483648\n");
        assert_eq!(
            frame.stdout_end(long.as_bytes(), long.len() - 1),
            Some((0, i32::MIN))
        );
        assert!(frame.header("echo hi\n", false).ends_with(" 8 relayed\n"));
        assert!(frame.header("echo hi\n", true).ends_with(" 8 contained\n"));
        // The driver gives up only when its input breaks off.
        assert_eq!(DRIVER.matches("exit 111").count(), 1);
        assert_eq!(NO_SHELL, 111);
    }

    /// The driver on this machine, fed `frames` (script, contained) as a
    /// session feeds it, with `path` first on PATH: each script's output,
    /// stderr and status, by its markers.
    fn driven(frames: &[(&str, bool)], path: &str) -> Vec<(String, String, i32)> {
        use std::io::Write as _;
        let framed: Vec<Frame> = frames.iter().map(|_| Frame::new()).collect();
        let mut input = DRIVER.to_string();
        for (frame, (script, contained)) in framed.iter().zip(frames) {
            input.push_str(&frame.header(script, *contained));
            input.push_str(script);
        }
        let mut bash = std::process::Command::new("bash")
            .arg("-s")
            .env("PATH", format!("{path}:{}", std::env::var("PATH").unwrap()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        bash.stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = bash.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(NO_SHELL), "its input ended");
        let (mut stdout, mut stderr) = (&out.stdout[..], &out.stderr[..]);
        framed
            .iter()
            .map(|frame| {
                let (end, status) = frame.stdout_end(stdout, 0).expect("its marker");
                let err_end = frame.stderr_end(stderr, 0).expect("its marker");
                let said = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
                let script = (said(&stdout[..end]), said(&stderr[..err_end]), status);
                let line = stdout[end..].iter().position(|b| *b == b'\n').unwrap();
                stdout = &stdout[end + line + 1..];
                stderr = &stderr[err_end + frame.marker.len() + 1..];
                script
            })
            .collect()
    }

    #[test]
    fn contained_and_relayed_scripts_end_as_themselves() {
        let frames = [
            ("echo one; echo oops >&2; exit 3\n", true),
            ("(sleep 0.2; echo late) & echo two\n", false),
            ("echo \"${deployer_pipes:+piped}\"\n", true),
        ];
        let said = |out: &str, err: &str, status| (out.to_string(), err.to_string(), status);
        assert_eq!(
            driven(&frames, "/nonexistent"),
            [
                said("one\n", "oops\n", 3),
                // Relayed: what it left in the background is still its own.
                said("two\nlate\n", "", 0),
                said("piped\n", "", 0),
            ]
        );
        // No private directory for the pipes (mktemp fails everywhere): the
        // relayed script still runs, writing to the session itself.
        let bin = tempfile::tempdir().unwrap();
        let mktemp = bin.path().join("mktemp");
        std::fs::write(&mktemp, "#!/bin/sh\nexit 1\n").unwrap();
        std::fs::set_permissions(&mktemp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let ran = driven(
            &[("echo ran; exit 4\n", false)],
            bin.path().to_str().unwrap(),
        );
        assert_eq!((ran[0].0.as_str(), ran[0].2), ("ran\n", 4));
        assert!(ran[0].1.contains("no private directory"), "{:?}", ran[0].1);
    }
}
