//! One bash per SSH session: every exec costs a channel, sshd's session
//! setup and, for other users than root, a sudo, so a session's first script
//! starts a driver shell and every script is a frame written to it: a header line
//! `MARKER LENGTH`, then the script, which a subshell of the driver runs as an exec
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
/// [`Frame::header`]) writes to the session itself: two `cat`s fewer.
/// `TMOUT` would end an idle `read`; the `exit` on the loop's line keeps a
/// failed `read` from handing the frames to bash as commands.
/// [`NO_SHELL`]: its input broke off, or a script's pipes could not be made.
pub const DRIVER: &str = r#"unset TMOUT
deployer_fifos() {
  if [ -n "${deployer_pipes-}" ] && [ ! -L "$deployer_pipes" ] && [ -O "$deployer_pipes" ]; then
    if [ -p "$deployer_pipes/out" ] && [ -p "$deployer_pipes/err" ]; then return 0; fi
    rm -rf "$deployer_pipes"
  fi
  deployer_pipes=$({ mktemp -d || mktemp -d -p /tmp || mktemp -d -p /dev/shm; } 2>/dev/null) &&
    mkfifo "$deployer_pipes/out" "$deployer_pipes/err" ||
    { echo "deployer: no private directory for the shell's pipes" >&2; return 1; }
}
trap '[ -z "${deployer_pipes-}" ] || rm -rf "$deployer_pipes"' EXIT
if [ -r /dev/stdin ]; then deployer_sourced=1; else deployer_sourced=0; fi
deployer_run() { if [ $deployer_sourced = 1 ]; then (. /dev/stdin); else bash -s; fi; }
deployer_frame() {
  head -c "$deployer_length" | { deployer_run; deployer_status=$?; [ $deployer_status = 0 ] && [ $deployer_sourced = 1 ] || cat >/dev/null; exit $deployer_status; }
}
while IFS=' ' read -r deployer_marker deployer_length deployer_output; do
  if [ "$deployer_output" = contained ]; then
    deployer_frame
    deployer_status=$?
  elif deployer_fifos; then
    cat "$deployer_pipes/out" & deployer_out=$!
    cat "$deployer_pipes/err" >&2 & deployer_err=$!
    deployer_frame >"$deployer_pipes/out" 2>"$deployer_pipes/err"
    deployer_status=$?
    wait "$deployer_out" "$deployer_err"
  else
    head -c "$deployer_length" >/dev/null
    deployer_status=111
  fi
  printf '%s %s\n' "$deployer_marker" "$deployer_status"
  printf '%s\n' "$deployer_marker" >&2
done; exit 111
"#;

/// The driver's exit status when its input broke off, and a relayed
/// script's when the driver could not make its pipes (it says so on
/// stderr).
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
        // Every way the driver gives up says so the same way.
        assert_eq!(DRIVER.matches("111").count(), 2);
        assert_eq!(NO_SHELL, 111);
    }
}
