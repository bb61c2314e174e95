//! The SSH transport (libssh2): one session per host, reused for every
//! script. Every error names the host and the step that failed.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use socket2::{SockRef, TcpKeepalive};
use ssh2::{BlockDirections, Session};

use super::shell::{self, Frame};
use super::target::Target;
use super::{Output, Transport, jump, known_hosts, logins};

/// The environment variable CI sets to unlock an encrypted key.
pub const PASSPHRASE_VARIABLE: &str = "DEPLOYER_SSH_PASSPHRASE";

/// How often an idle session proves it is alive.
const KEEPALIVE: Duration = Duration::from_secs(5);

/// The longest a script's reader sleeps without looking at its channel.
const LONGEST_WAIT: Duration = Duration::from_millis(50);

pub struct Ssh {
    label: String,
    session: Session,
    /// Not root: scripts run through `sudo -n`.
    sudo: bool,
    command_timeout: Duration,
    /// The known_hosts the host's key was checked against, and the host
    /// and port it names the host by.
    known_hosts: std::path::PathBuf,
    address: String,
    port: u16,
    /// Our login's slot at its sshd, held until the first channel opens:
    /// sshd stops counting a login only after authentication, a moment
    /// after the client sees it succeed, and before it answers any channel.
    login: Option<logins::Starting>,
    /// The session's shell, between scripts (see `shell.rs`).
    shell: Option<ssh2::Channel>,
    /// The session's connection, to wait on (a jump host's, see `jump.rs`).
    socket: OwnedFd,
}

impl Ssh {
    /// A session whose jump hosts, if any, are logins shared with every
    /// other target behind them (see `jump.rs`).
    pub fn connect(target: &Target) -> Result<Ssh> {
        Ssh::connect_via(target, true)
    }

    /// A session over new logins all the way, jump hosts included: what
    /// proves that new connections get in.
    pub fn connect_anew(target: &Target) -> Result<Ssh> {
        Ssh::connect_via(target, false)
    }

    fn connect_via(target: &Target, shared_jumps: bool) -> Result<Ssh> {
        let step = |what: &str| format!("{}: {what}", target.describe());
        let mut session = Session::new().with_context(|| step("starting an SSH session"))?;
        // Counted from the TCP connection until sshd answers a channel.
        let login = logins::start(target).with_context(|| step("connect"))?;
        let socket = match &target.jump {
            None => {
                let tcp = tcp_connect(target).with_context(|| step("connect"))?;
                let socket = OwnedFd::from(tcp.try_clone().with_context(|| step("connect"))?);
                session.set_tcp_stream(tcp);
                socket
            }
            Some(jump_target) => {
                let stream = jump::tunnel(target, jump_target, shared_jumps)
                    .with_context(|| step("open a tunnel through the jump host"))?;
                let socket = OwnedFd::from(stream.try_clone().with_context(|| step("connect"))?);
                session.set_tcp_stream(stream);
                socket
            }
        };
        session.set_timeout(millis(target.connect_timeout));
        let known = known_hosts::known_types(&target.known_hosts, &target.address, target.port);
        if let Some(preference) = known_hosts::method_preference(&known) {
            session
                .method_pref(ssh2::MethodType::HostKey, &preference)
                .with_context(|| step("choosing host key types"))?;
        }
        session.handshake().with_context(|| step("SSH handshake"))?;
        known_hosts::verify(
            &session,
            &target.label,
            &target.address,
            target.port,
            &target.known_hosts,
            target.accept_new,
        )?;
        authenticate(&session, target).with_context(|| step("authenticate"))?;
        session.set_keepalive(true, KEEPALIVE.as_secs() as u32);
        Ok(Ssh {
            label: target.describe(),
            session,
            sudo: target.user != "root",
            command_timeout: target.command_timeout,
            known_hosts: target.known_hosts.clone(),
            address: target.address.clone(),
            port: target.port,
            login: Some(login),
            shell: None,
            socket,
        })
    }

    pub(super) fn session(&self) -> &Session {
        &self.session
    }

    pub(super) fn socket(&self) -> &OwnedFd {
        &self.socket
    }

    /// Sleeps until the session's socket has what libssh2 waits for (more
    /// to read, or room for what it has to send), at most until `until`
    /// and never longer than [`LONGEST_WAIT`].
    fn wait(&self, until: Instant) {
        let wanted = match self.session.block_directions() {
            BlockDirections::Outbound => PollFlags::OUT,
            BlockDirections::Both => PollFlags::IN | PollFlags::OUT,
            BlockDirections::Inbound | BlockDirections::None => PollFlags::IN,
        };
        let left = until
            .saturating_duration_since(Instant::now())
            .min(LONGEST_WAIT);
        let timeout = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        });
        let mut fds = [PollFd::new(&self.socket, wanted)];
        // An error (EINTR) only ends this sleep early.
        let _ = poll(&mut fds, Some(&timeout));
    }

    /// sshd answered a channel: the login no longer counts at it.
    pub(super) fn channel_opened(&mut self) {
        self.login = None;
    }
}

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

fn tcp_connect(target: &Target) -> Result<TcpStream> {
    let addresses: Vec<_> = (target.address.as_str(), target.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", target.address))?
        .collect();
    let mut last = anyhow!("{} resolves to no address", target.address);
    for address in addresses {
        match TcpStream::connect_timeout(&address, target.connect_timeout) {
            Ok(tcp) => {
                // A dead peer is noticed in about 30 s, even mid-command:
                // keepalive probes while the connection is idle, and a user
                // timeout while data (our SSH keepalives) goes unanswered.
                let keepalive = TcpKeepalive::new()
                    .with_time(Duration::from_secs(10))
                    .with_interval(Duration::from_secs(5))
                    .with_retries(4);
                let socket = SockRef::from(&tcp);
                socket.set_tcp_keepalive(&keepalive)?;
                // Linux alone bounds how long sent data may go unacknowledged;
                // elsewhere the SSH keepalives notice a dead peer, later.
                #[cfg(any(target_os = "linux", target_os = "android"))]
                socket.set_tcp_user_timeout(Some(Duration::from_secs(30)))?;
                tcp.set_nodelay(true)?;
                return Ok(tcp);
            }
            Err(e) => last = anyhow!("{address}: {e}"),
        }
    }
    Err(last)
}

/// The agent first, then each identity file that exists.
fn authenticate(session: &Session, target: &Target) -> Result<()> {
    let mut tried = Vec::new();
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        if session.userauth_agent(&target.user).is_ok() && session.authenticated() {
            return Ok(());
        }
        tried.push("ssh-agent".to_string());
    }
    for key in target.identities.iter().filter(|k| k.exists()) {
        let passphrase = match (is_encrypted(key), &target.passphrase) {
            (false, _) => None,
            (true, Some(given)) => Some(given.clone()),
            (true, None) => Some(ask_passphrase(key)?),
        };
        match session.userauth_pubkey_file(&target.user, None, key, passphrase.as_deref()) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push(key.display().to_string()),
            Err(e) => tried.push(format!("{} ({})", key.display(), e.message())),
        }
    }
    if tried.is_empty() {
        bail!(
            "no ssh-agent and none of the identity files exists; set ssh.identity or load a key into ssh-agent"
        );
    }
    bail!("{} refused every key: {}", target.user, tried.join(", "))
}

/// Whether a private key file needs a passphrase (PEM or OpenSSH format).
fn is_encrypted(key: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(key) else {
        return false;
    };
    if text.contains("ENCRYPTED") {
        return true;
    }
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return false;
    };
    // openssh-key-v1\0, then the cipher name as a length-prefixed string.
    let magic = b"openssh-key-v1\0";
    let Some(rest) = bytes.strip_prefix(magic.as_slice()) else {
        return false;
    };
    let Some(len) = rest
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    else {
        return false;
    };
    rest.get(4..4 + len).is_some_and(|cipher| cipher != b"none")
}

fn ask_passphrase(key: &Path) -> Result<String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return dialoguer::Password::new()
            .with_prompt(format!("Passphrase for {}", key.display()))
            .interact()
            .context("reading the passphrase");
    }
    bail!(
        "{} is encrypted: set {PASSPHRASE_VARIABLE}, or load the key into ssh-agent",
        key.display()
    )
}

impl Transport for Ssh {
    fn learn_host_keys(&mut self, keys: &[(String, String)]) -> Result<Vec<String>> {
        known_hosts::learn(&self.known_hosts, &self.address, self.port, keys)
    }

    fn run(&mut self, script: &str, on_line: &mut dyn FnMut(&str)) -> Result<Output> {
        self.run_frame(script, false, on_line)
    }

    fn run_contained(&mut self, script: &str) -> Result<Output> {
        self.run_frame(script, true, &mut |_| {})
    }
}

impl Ssh {
    /// Runs `script` in the session's shell; see [`shell::Frame::header`]
    /// for `contained`.
    fn run_frame(
        &mut self,
        script: &str,
        contained: bool,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Output> {
        let step = |what: &str| format!("{}: {what}", self.label);
        self.session.set_blocking(true);
        self.session.set_timeout(millis(self.command_timeout));
        // Taken out while the script runs: only a script that ends at its
        // marker gives the shell back for the next. A kept shell that ended
        // meanwhile (sshd's ChannelTimeout, a killed process) is replaced.
        let kept = self
            .shell
            .take()
            .and_then(|mut channel| self.is_idle(&mut channel).then_some(channel));
        let reused = kept.is_some();
        let mut channel = match kept {
            Some(channel) => channel,
            None => {
                let mut channel = self
                    .session
                    .channel_session()
                    .with_context(|| step("open a channel"))?;
                self.login = None;
                let command = if self.sudo {
                    // sudo drops SSH_CONNECTION, which the lockout guard reads.
                    "sudo -n SSH_CONNECTION=\"$SSH_CONNECTION\" bash -s"
                } else {
                    "bash -s"
                };
                channel.exec(command).with_context(|| step("start bash"))?;
                let _ = channel.write_all(shell::DRIVER.as_bytes());
                channel
            }
        };
        let frame = Frame::new();
        // A shell that is gone (sudo refused, say) shows why in its output.
        let _ = channel
            .write_all(frame.header(script, contained).as_bytes())
            .and_then(|()| channel.write_all(script.as_bytes()));

        self.session.set_blocking(false);
        let deadline = Instant::now() + self.command_timeout;
        let mut last_keepalive = Instant::now();
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let (mut out_end, mut err_end) = (None, None);
        // Lines handed to `on_line`, and how far a newline was looked for.
        let (mut emitted, mut scanned) = (0, 0);
        let mut buffer = [0u8; 32 * 1024];
        loop {
            let mut moved = false;
            match channel.read(&mut buffer) {
                Ok(n) if n > 0 => {
                    let searched = stdout.len();
                    stdout.extend_from_slice(&buffer[..n]);
                    if out_end.is_none() {
                        out_end = frame.stdout_end(&stdout, searched);
                    }
                    let limit = out_end.map_or(stdout.len(), |(end, _)| end);
                    while let Some(newline) =
                        stdout[scanned..limit].iter().position(|b| *b == b'\n')
                    {
                        let end = scanned + newline;
                        on_line(String::from_utf8_lossy(&stdout[emitted..end]).as_ref());
                        (emitted, scanned) = (end + 1, end + 1);
                    }
                    scanned = limit;
                    moved = true;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).with_context(|| step("read the script's output")),
            }
            match channel.stderr().read(&mut buffer) {
                Ok(n) if n > 0 => {
                    let searched = stderr.len();
                    stderr.extend_from_slice(&buffer[..n]);
                    if err_end.is_none() {
                        err_end = frame.stderr_end(&stderr, searched);
                    }
                    moved = true;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).with_context(|| step("read the script's errors")),
            }
            if let (Some((out, status)), Some(err)) = (out_end, err_end) {
                stdout.truncate(out);
                stderr.truncate(err);
                self.shell = Some(channel);
                return Ok(output(&stdout, &stderr, status));
            }
            if channel.eof() && !moved {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{}: no end after {:?}; the connection may be dead",
                    step("run a script"),
                    self.command_timeout
                );
            }
            if last_keepalive.elapsed() > KEEPALIVE {
                let _ = self.session.keepalive_send();
                last_keepalive = Instant::now();
            }
            // Nothing read and nothing waiting in libssh2's buffers: sleep
            // until the socket has more (the host's scripts take a while,
            // and many hosts wait at once).
            if !moved && channel.read_window().available == 0 {
                self.wait(deadline.min(last_keepalive + KEEPALIVE));
            }
        }
        // The shell ended before the script's marker; the next script starts
        // a new one. A new shell that ended at once answers with its exit
        // status (sudo refused, say); otherwise the script may or may not
        // have run, which is no answer.
        self.session.set_blocking(true);
        channel
            .wait_close()
            .with_context(|| step("close the channel"))?;
        if let Some(signal) = channel
            .exit_signal()
            .with_context(|| step("read the exit signal"))?
            .exit_signal
        {
            bail!(
                "{}: the shell was killed by SIG{signal}",
                step("run a script")
            );
        }
        let status = channel
            .exit_status()
            .with_context(|| step("read the exit status"))?;
        let ended = output(&stdout, &stderr, status);
        if reused {
            bail!(
                "{}: the shell ended before the script did; it may have run in part:\n{}",
                step("run a script"),
                ended.stderr_tail()
            );
        }
        if status == shell::NO_SHELL {
            bail!(
                "{}: the shell ended before it had the whole script:\n{}",
                step("run a script"),
                ended.stderr_tail()
            );
        }
        Ok(ended)
    }

    /// Whether a kept shell still waits for a script: nothing to read, not
    /// at its end.
    fn is_idle(&self, channel: &mut ssh2::Channel) -> bool {
        self.session.set_blocking(false);
        let mut byte = [0u8; 1];
        let idle = match channel.read(&mut byte) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => !channel.eof(),
            _ => false,
        };
        self.session.set_blocking(true);
        idle
    }
}

fn output(stdout: &[u8], stderr: &[u8], status: i32) -> Output {
    Output {
        stdout: String::from_utf8_lossy(stdout).into_owned(),
        stderr: String::from_utf8_lossy(stderr).into_owned(),
        status,
    }
}

impl Drop for Ssh {
    /// Closing a dead connection must not wait for it.
    fn drop(&mut self) {
        self.session.set_blocking(false);
    }
}
