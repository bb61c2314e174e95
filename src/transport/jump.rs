//! Jump hosts: every target behind one jump host rides a channel
//! (direct-tcpip) of one login there, not a login each, so a fleet behind a
//! bastion is one login at its sshd however large the fleet.
//!
//! libssh2 opens one channel at a time per session, resumes an open that
//! would block with whatever arguments the next call brings, and sends
//! nothing else on a session while one of its packets is half-sent until the
//! same call is made again. So each jump session belongs to one thread, its
//! hub, which takes the tunnels asked for one after another from its pool's
//! queue and repeats each open, and each channel's write or close, with the
//! same arguments until it is done: an open whose requester was told it timed
//! out is carried on until the jump host answers (a channel it then opens is
//! closed), and the hub takes nothing new meanwhile. A session whose open
//! failed other than by the jump host's refusal takes no more requests; it
//! keeps carrying the tunnels it has. A request that no hub takes up within
//! `STALL` (each one busy with a slow open) makes another login, so one
//! unreachable target does not hold up the others; a login that fails while
//! no hub is left fails every request waiting for it at once, and no other is
//! tried for `STALL`.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use ssh2::{BlockDirections, Channel, Session};

use super::lock;
use super::ssh::Ssh;
use super::target::Target;

/// How long a request may wait for a hub before another login is made.
const STALL: Duration = Duration::from_secs(2);
/// How long an open given up by its requester is carried on: past it (a
/// jump host that died silently behind another never answers), the
/// session opens nothing more and ends with its last tunnel.
const GIVE_UP: Duration = Duration::from_secs(180);
/// How long a shared hub with no tunnel keeps its login for the next one.
const IDLE_CLOSE: Duration = Duration::from_secs(10);
/// How long a busy hub sleeps at most: libssh2 may hold data it read from
/// the socket for a channel other than the one being read.
const BUSY_WAIT: Duration = Duration::from_millis(20);
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How often a waiting request looks whether its pool needs a new login.
const LOOK_AGAIN: Duration = Duration::from_millis(100);
/// libssh2's answer for "would block", and for a channel the peer refused.
const EAGAIN: i32 = -37;
const CHANNEL_REFUSED: i32 = -21;

/// A local stream connected to `target` as its jump host sees it, for
/// `target`'s own session to run over. `shared`: through the pool of logins
/// every other target behind the same jump host uses; otherwise through
/// logins of its own, all the way (what the lockout guard must prove).
pub fn tunnel(target: &Target, jump: &Target, shared: bool) -> Result<UnixStream> {
    let pool = if shared {
        shared_pool(jump)
    } else {
        Arc::new(Pool::new(jump, Duration::ZERO, false))
    };
    let deadline = Instant::now() + target.connect_timeout;
    let (reply, answer) = mpsc::channel();
    let id = pool.ask(&target.address, target.port, deadline, reply);
    loop {
        if pool.claim_start() {
            pool.start_hub();
        }
        match answer.recv_timeout(LOOK_AGAIN) {
            Ok(answer) => return answer,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("the jump host's session ended before the tunnel opened")
            }
        }
        // A hub that took the request answers by its deadline; one still
        // queued past it is withdrawn.
        if Instant::now() > deadline
            && let Some(login_failed) = pool.withdraw(id)
        {
            bail!(
                "no session at the jump host could open it within {:?}{}",
                target.connect_timeout,
                login_failed
                    .map(|why| format!("; the last login there failed: {why}"))
                    .unwrap_or_default()
            );
        }
    }
}

/// The pool for `jump`, by everything that makes its login, at every hop
/// of the way there: user, address and port, keys, known_hosts.
fn shared_pool(jump: &Target) -> Arc<Pool> {
    static POOLS: Mutex<Option<HashMap<String, Arc<Pool>>>> = Mutex::new(None);
    lock(&POOLS)
        .get_or_insert_with(HashMap::new)
        .entry(login_key(jump))
        .or_insert_with(|| Arc::new(Pool::new(jump, IDLE_CLOSE, true)))
        .clone()
}

fn login_key(target: &Target) -> String {
    format!(
        "{}@{}:{} {:?} {} {} via {}",
        target.user,
        target.address,
        target.port,
        target.identities,
        target.known_hosts.display(),
        target.accept_new,
        target.jump.as_deref().map(login_key).unwrap_or_default()
    )
}

struct Pool {
    jump: Target,
    idle_close: Duration,
    shared: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Request>,
    /// The hubs taking requests, by id, with the doorbell that wakes each.
    hubs: Vec<(u64, UnixStream)>,
    /// Logins in progress for new hubs.
    starting: usize,
    /// The last login that failed, when, and why; none since it succeeded.
    login_failed: Option<(Instant, String)>,
    next_id: u64,
}

struct Request {
    id: u64,
    address: String,
    port: u16,
    asked: Instant,
    deadline: Instant,
    reply: mpsc::Sender<Result<UnixStream>>,
}

impl Pool {
    fn new(jump: &Target, idle_close: Duration, shared: bool) -> Pool {
        Pool {
            jump: jump.clone(),
            idle_close,
            shared,
            state: Mutex::new(State::default()),
        }
    }

    fn ask(
        &self,
        address: &str,
        port: u16,
        deadline: Instant,
        reply: mpsc::Sender<Result<UnixStream>>,
    ) -> u64 {
        let mut state = lock(&self.state);
        state.next_id += 1;
        let id = state.next_id;
        state.queue.push_back(Request {
            id,
            address: address.to_string(),
            port,
            asked: Instant::now(),
            deadline,
            reply,
        });
        ring(&state);
        id
    }

    /// Takes request `id` out of the queue, if it is still there: then
    /// with why the last login failed, if one did.
    fn withdraw(&self, id: u64) -> Option<Option<String>> {
        let mut state = lock(&self.state);
        let before = state.queue.len();
        state.queue.retain(|r| r.id != id);
        (state.queue.len() < before)
            .then(|| state.login_failed.as_ref().map(|(_, why)| why.clone()))
    }

    /// Whether the caller is to make a new hub: requests wait, no login is
    /// being made, none failed within `STALL`, and either no hub takes
    /// requests or the oldest has waited past `STALL`. (`logins` paces the
    /// logins at the jump host's sshd.)
    fn claim_start(&self) -> bool {
        let mut state = lock(&self.state);
        let stalled = state
            .queue
            .front()
            .is_some_and(|r| r.asked.elapsed() > STALL);
        if state.queue.is_empty() || state.starting > 0 || !(state.hubs.is_empty() || stalled) {
            return false;
        }
        if let Some((when, why)) = &state.login_failed
            && when.elapsed() < STALL
        {
            if state.hubs.is_empty() {
                let why = why.clone();
                fail_all(&mut state, &why);
            }
            return false;
        }
        state.starting += 1;
        true
    }

    /// Logs in to the jump host and starts the session's hub; a login that
    /// fails while no hub is left fails every waiting request with its error.
    fn start_hub(self: &Arc<Pool>) {
        let login = if self.shared {
            Ssh::connect(&self.jump)
        } else {
            Ssh::connect_anew(&self.jump)
        };
        let mut state = lock(&self.state);
        state.starting -= 1;
        let ssh = match login {
            Ok(ssh) => ssh,
            Err(e) => {
                let why = format!("{e:#}");
                if state.hubs.is_empty() {
                    fail_all(&mut state, &why);
                }
                state.login_failed = Some((Instant::now(), why));
                return;
            }
        };
        state.login_failed = None;
        let (bell, doorbell) = match UnixStream::pair().and_then(|(bell, doorbell)| {
            bell.set_nonblocking(true)?;
            doorbell.set_nonblocking(true)?;
            Ok((bell, doorbell))
        }) {
            Ok(pair) => pair,
            Err(e) => {
                fail_all(&mut state, &format!("a local socket pair: {e}"));
                return;
            }
        };
        state.next_id += 1;
        let id = state.next_id;
        state.hubs.push((id, bell));
        let hub = Hub {
            pool: self.clone(),
            id,
            ssh,
            doorbell,
            opening: None,
            taking: true,
            tunnels: Vec::new(),
            idle_since: Instant::now(),
            logged_in: Instant::now(),
        };
        thread::spawn(move || hub.run());
    }

    /// The next request for a hub that takes them; one already past its
    /// deadline is answered so instead.
    fn take(&self) -> Option<Request> {
        let mut state = lock(&self.state);
        while let Some(request) = state.queue.pop_front() {
            if Instant::now() < request.deadline {
                return Some(request);
            }
            let _ = request.reply.send(Err(anyhow!(
                "no session at the jump host could open it in time"
            )));
        }
        None
    }

    /// Puts a request back first in line, for another hub.
    fn give_back(&self, request: Request) {
        let mut state = lock(&self.state);
        state.queue.push_front(request);
        ring(&state);
    }

    /// Stops giving requests to hub `id`.
    fn retire(&self, id: u64) {
        lock(&self.state).hubs.retain(|(hub, _)| *hub != id);
    }

    /// Retires hub `id` if no request waits for it.
    fn retire_if_unwanted(&self, id: u64) -> bool {
        let mut state = lock(&self.state);
        if !state.queue.is_empty() {
            return false;
        }
        state.hubs.retain(|(hub, _)| *hub != id);
        true
    }
}

fn fail_all(state: &mut State, why: &str) {
    for request in state.queue.drain(..) {
        let _ = request.reply.send(Err(anyhow!("{why}")));
    }
}

/// Wakes every hub to look at the queue.
fn ring(state: &State) {
    for (_, bell) in &state.hubs {
        let _ = Write::write(&mut &*bell, &[1]);
    }
}

/// One jump session, its thread, and the tunnels it carries.
struct Hub {
    pool: Arc<Pool>,
    id: u64,
    ssh: Ssh,
    doorbell: UnixStream,
    /// The open in progress: libssh2 must be asked again with the same,
    /// and whether its requester was already told it timed out.
    opening: Option<(Request, bool)>,
    /// Whether it still takes requests.
    taking: bool,
    tunnels: Vec<Tunnel>,
    idle_since: Instant,
    logged_in: Instant,
}

impl Hub {
    fn run(mut self) {
        // No keepalives of its own: one that would block stays half-sent,
        // and stops the session, until the next; the targets' sessions send
        // theirs through it, and TCP keepalives watch the connection.
        self.ssh.session().set_blocking(false);
        let mut buffer = vec![0u8; 32 * 1024];
        // Set when the session's socket woke us and nothing moved: libssh2
        // reads it only on a channel's behalf, so it is left out once.
        let mut socket_quiet = false;
        loop {
            // sshd counts a login no more a moment after it succeeds; the
            // first answer to an open proves it, and its absence past
            // `STALL` (an unreachable target, no request at all) does not
            // hold the login's slot.
            if self.logged_in.elapsed() > STALL {
                self.ssh.channel_opened();
            }
            let mut moved = self.ring_answered();
            moved |= self.open();
            for tunnel in &mut self.tunnels {
                moved |= tunnel.pump(&mut buffer, self.ssh.session());
            }
            self.tunnels.retain(|tunnel| !tunnel.closed);
            if self.tunnels.is_empty() && self.opening.is_none() {
                if !self.taking {
                    return;
                }
                if self.idle_since.elapsed() >= self.pool.idle_close
                    && self.pool.retire_if_unwanted(self.id)
                {
                    return;
                }
            } else {
                self.idle_since = Instant::now();
            }
            if moved {
                socket_quiet = false;
                continue;
            }
            socket_quiet = self.wait(socket_quiet);
        }
    }

    /// Empties the doorbell; whether it rang.
    fn ring_answered(&mut self) -> bool {
        let mut rung = [0u8; 64];
        let mut any = false;
        while let Ok(n) = self.doorbell.read(&mut rung) {
            if n == 0 {
                break;
            }
            any = true;
        }
        any
    }

    fn stop_taking(&mut self) {
        self.taking = false;
        self.pool.retire(self.id);
    }

    /// Takes a request if it has none, and asks the jump host to open it;
    /// whether anything was answered.
    fn open(&mut self) -> bool {
        if self.opening.is_none() && self.taking {
            self.opening = self.pool.take().map(|request| (request, false));
        }
        let Some((request, told)) = self.opening.take() else {
            return false;
        };
        let opened = self
            .ssh
            .session()
            .channel_direct_tcpip(&request.address, request.port, None);
        let pending = matches!(&opened, Err(e) if session_code(e) == EAGAIN);
        if !pending {
            self.ssh.channel_opened();
        }
        let fail = |why: String| {
            if !told {
                let _ = request.reply.send(Err(anyhow!("{why}")));
            }
        };
        match opened {
            Ok(channel) => match UnixStream::pair().and_then(|(ours, theirs)| {
                ours.set_nonblocking(true)?;
                Ok((ours, theirs))
            }) {
                // Dropping `theirs` (its requester gave up) closes the
                // tunnel at its first turn.
                Ok((ours, theirs)) => {
                    if !told {
                        let _ = request.reply.send(Ok(theirs));
                    }
                    self.tunnels.push(Tunnel::new(channel, ours));
                }
                Err(e) => fail(format!("a local socket pair: {e}")),
            },
            Err(_) if pending => {
                if told && request.deadline.elapsed() > GIVE_UP {
                    self.stop_taking();
                    return true;
                }
                if !told && Instant::now() >= request.deadline {
                    fail(format!(
                        "the jump host did not answer for {}:{} in time",
                        request.address, request.port
                    ));
                    self.opening = Some((request, true));
                    return true;
                }
                self.opening = Some((request, told));
                return false;
            }
            Err(e) if session_code(&e) == CHANNEL_REFUSED => fail(format!(
                "the jump host could not connect to {}:{}: {}",
                request.address,
                request.port,
                e.message()
            )),
            Err(_) => {
                // The session itself failed: another login serves it.
                self.stop_taking();
                if !told {
                    self.pool.give_back(request);
                }
            }
        }
        true
    }

    /// Sleeps until the session, a tunnel or the doorbell has something;
    /// whether it was the session's socket alone.
    fn wait(&self, socket_quiet: bool) -> bool {
        let busy = self.opening.is_some() || !self.tunnels.is_empty();
        let timeout = if busy { BUSY_WAIT } else { IDLE_WAIT };
        let socket = self.ssh.socket();
        let mut fds = vec![PollFd::new(&self.doorbell, PollFlags::IN)];
        let watch_socket = busy && !socket_quiet;
        if watch_socket {
            fds.push(PollFd::new(socket, PollFlags::IN));
        }
        // A stream is watched only for what its tunnel waits on: a closed
        // one would wake every poll (a hang-up is always reported).
        for tunnel in &self.tunnels {
            let mut wanted = PollFlags::empty();
            if tunnel.wants_local_input() {
                wanted |= PollFlags::IN;
            }
            if !tunnel.to_local.is_empty() {
                wanted |= PollFlags::OUT;
            }
            if !wanted.is_empty() {
                fds.push(PollFd::new(&tunnel.local, wanted));
            }
        }
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        if poll(&mut fds, Some(&timeout)).is_err() {
            return false;
        }
        let others = fds
            .iter()
            .enumerate()
            .any(|(i, fd)| i != 1 && !fd.revents().is_empty());
        watch_socket && !fds[1].revents().is_empty() && !others
    }
}

/// Whether libssh2 waits to send: a call that would block then left a
/// packet half-sent.
fn sending_blocked(session: &Session) -> bool {
    matches!(
        session.block_directions(),
        BlockDirections::Outbound | BlockDirections::Both
    )
}

fn session_code(e: &ssh2::Error) -> i32 {
    match e.code() {
        ssh2::ErrorCode::Session(code) => code,
        ssh2::ErrorCode::SFTP(_) => 0,
    }
}

/// One target's connection: a channel at the jump host, and our end of the
/// local stream the target's session runs over. Each direction holds what
/// the other side could not take yet, and reads no more until it is taken.
struct Tunnel {
    channel: Channel,
    local: UnixStream,
    to_channel: Vec<u8>,
    to_local: Vec<u8>,
    /// libssh2 holds a write of this channel half-sent: the channel's next
    /// write finishes it, and the session sends nothing else until then.
    write_pending: bool,
    /// The same for the window adjust a read sends first: the next read
    /// finishes it.
    read_owed: bool,
    /// The target's session is gone.
    local_done: bool,
    /// The jump host's connection to the target ended.
    channel_done: bool,
    /// The channel is being closed.
    closing: bool,
    closed: bool,
}

impl Tunnel {
    fn new(channel: Channel, local: UnixStream) -> Tunnel {
        Tunnel {
            channel,
            local,
            to_channel: Vec::new(),
            to_local: Vec::new(),
            write_pending: false,
            read_owed: false,
            local_done: false,
            channel_done: false,
            closing: false,
            closed: false,
        }
    }

    fn wants_local_input(&self) -> bool {
        !self.closing && self.to_channel.is_empty() && !self.local_done
    }

    /// Moves what each side can take; whether anything moved.
    fn pump(&mut self, buffer: &mut [u8], session: &Session) -> bool {
        let mut moved = false;
        if self.wants_local_input() {
            match self.local.read(buffer) {
                Ok(0) => (self.local_done, moved) = (true, true),
                Ok(n) => (self.to_channel, moved) = (buffer[..n].to_vec(), true),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => (self.local_done, moved) = (true, true),
            }
        }
        if !self.to_channel.is_empty() && (!self.closing || self.write_pending) {
            match self.channel.write(&self.to_channel) {
                Ok(n) => {
                    self.to_channel.drain(..n);
                    (self.write_pending, moved) = (false, true);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.write_pending = true,
                Err(_) => {
                    self.to_channel.clear();
                    (self.write_pending, self.channel_done, moved) = (false, true, true);
                }
            }
        }
        if !self.closing {
            moved |= self.pump_to_local(buffer, session);
            // Either side's end ends the tunnel, once the target's session
            // has everything the jump host sent it.
            if self.local_done || (self.channel_done && self.to_local.is_empty()) {
                let _ = self.local.shutdown(std::net::Shutdown::Both);
                (self.closing, moved) = (true, true);
            }
        }
        if self.closing && self.read_owed {
            // What it reads now has nowhere to go.
            match self.channel.read(buffer) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.read_owed = sending_blocked(session);
                }
                _ => self.read_owed = false,
            }
        }
        // channel_send_eof, which close() starts with, knows its half-sent
        // packet by a buffer on its stack: close() is called from here only.
        if self.closing && !self.write_pending && !self.read_owed {
            match self.channel.close() {
                Err(e) if session_code(&e) == EAGAIN => {}
                _ => (self.closed, moved) = (true, true),
            }
        }
        moved
    }

    fn pump_to_local(&mut self, buffer: &mut [u8], session: &Session) -> bool {
        let mut moved = false;
        if self.to_local.is_empty() && !self.channel_done {
            let read = self.channel.read(buffer);
            self.read_owed = matches!(&read, Err(e) if e.kind() == ErrorKind::WouldBlock)
                && sending_blocked(session);
            match read {
                Ok(0) if self.channel.eof() => (self.channel_done, moved) = (true, true),
                Ok(0) => {}
                Ok(n) => (self.to_local, moved) = (buffer[..n].to_vec(), true),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => (self.channel_done, moved) = (true, true),
            }
        }
        if !self.to_local.is_empty() {
            match self.local.write(&self.to_local) {
                Ok(n) => {
                    self.to_local.drain(..n);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    self.to_local.clear();
                    (self.local_done, moved) = (true, true);
                }
            }
        }
        moved
    }
}
