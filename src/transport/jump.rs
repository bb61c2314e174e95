//! Jump hosts: every target behind one jump host rides a channel
//! (direct-tcpip) of one login there, not a login each, so a fleet behind a
//! bastion is one login at its sshd however large the fleet.
//!
//! libssh2 opens one channel at a time per session, and resumes an open that
//! would block with whatever arguments the next call brings. So each jump
//! session belongs to one thread, its hub, which takes the tunnels asked for
//! one after another from its pool's queue, repeats each open with the same
//! arguments until the jump host answers, and never opens again on a session
//! whose open it gave up or that failed for any reason but the jump host's
//! refusal: such a session keeps carrying the tunnels it has, and the next
//! request is served by another hub, a new login. A request that no hub takes
//! up within `STALL` (each one waiting on a slow open) makes another login too,
//! so one unreachable target does not hold up the others; a login that fails
//! while no hub is left fails every request waiting for it at once.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use ssh2::Channel;

use super::logins::{self, MAX_STARTUPS};
use super::ssh::Ssh;
use super::target::Target;

/// How long a request may wait for a hub before another login is made.
const STALL: Duration = Duration::from_secs(2);
/// How long a shared hub with no tunnel keeps its login for the next one.
const IDLE_CLOSE: Duration = Duration::from_secs(10);
/// How long a tunnel's channel may take to close at the jump host.
const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// How long a busy hub sleeps at most: libssh2 may hold data it read from
/// the socket for a channel other than the one being read.
const BUSY_WAIT: Duration = Duration::from_millis(20);
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How often a waiting request looks whether its pool needs a new login.
const LOOK_AGAIN: Duration = Duration::from_millis(100);
/// How often a hub proves its session alive.
const KEEPALIVE: Duration = Duration::from_secs(5);
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
        if Instant::now() > deadline && pool.withdraw(id) {
            bail!(
                "no session at the jump host could open it within {:?}",
                target.connect_timeout
            );
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The pool for `jump`, by everything that makes its login: user, the sshd
/// it reaches (through its own jump hosts), keys, known_hosts.
fn shared_pool(jump: &Target) -> Arc<Pool> {
    static POOLS: Mutex<Option<HashMap<String, Arc<Pool>>>> = Mutex::new(None);
    let key = format!(
        "{}@{} {:?} {} {}",
        jump.user,
        logins::sshd(jump),
        jump.identities,
        jump.known_hosts.display(),
        jump.accept_new
    );
    lock(&POOLS)
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_insert_with(|| Arc::new(Pool::new(jump, IDLE_CLOSE, true)))
        .clone()
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

    fn withdraw(&self, id: u64) -> bool {
        let mut state = lock(&self.state);
        let before = state.queue.len();
        state.queue.retain(|r| r.id != id);
        state.queue.len() < before
    }

    /// Whether the caller is to make a new hub: requests wait and no login
    /// is being made, and either no hub takes requests or the oldest has
    /// waited past `STALL` (and the jump host's sshd can take another).
    fn claim_start(&self) -> bool {
        let mut state = lock(&self.state);
        let stalled = state
            .queue
            .front()
            .is_some_and(|r| r.asked.elapsed() > STALL);
        let wanted = !state.queue.is_empty()
            && state.starting == 0
            && (state.hubs.is_empty() || (stalled && state.hubs.len() < MAX_STARTUPS));
        if wanted {
            state.starting += 1;
        }
        wanted
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
                if state.hubs.is_empty() {
                    let why = format!("{e:#}");
                    for request in state.queue.drain(..) {
                        let _ = request.reply.send(Err(anyhow!("{why}")));
                    }
                }
                return;
            }
        };
        let (bell, doorbell) = match UnixStream::pair().and_then(|(bell, doorbell)| {
            bell.set_nonblocking(true)?;
            doorbell.set_nonblocking(true)?;
            Ok((bell, doorbell))
        }) {
            Ok(pair) => pair,
            Err(e) => {
                for request in state.queue.drain(..) {
                    let _ = request.reply.send(Err(anyhow!("a local socket pair: {e}")));
                }
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
        };
        thread::spawn(move || hub.run());
    }

    /// The next request for a hub that takes them.
    fn take(&self) -> Option<Request> {
        lock(&self.state).queue.pop_front()
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
    /// The open in progress: libssh2 must be asked again with the same.
    opening: Option<Request>,
    /// Whether it still takes requests.
    taking: bool,
    tunnels: Vec<Tunnel>,
    idle_since: Instant,
}

impl Hub {
    fn run(mut self) {
        self.ssh.session().set_blocking(false);
        let mut buffer = vec![0u8; 32 * 1024];
        let mut last_keepalive = Instant::now();
        // Set when the session's socket woke us and nothing moved: libssh2
        // reads it only on a channel's behalf, so it is left out once.
        let mut socket_quiet = false;
        loop {
            let mut moved = self.ring_answered();
            moved |= self.open();
            for tunnel in &mut self.tunnels {
                moved |= tunnel.pump(&mut buffer);
            }
            self.tunnels.retain_mut(|tunnel| !tunnel.closed());
            if last_keepalive.elapsed() > KEEPALIVE {
                let _ = self.ssh.session().keepalive_send();
                last_keepalive = Instant::now();
            }
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
            match self.wait(socket_quiet) {
                Wait::Socket => socket_quiet = true,
                Wait::Other => socket_quiet = false,
                Wait::Broken => {
                    self.stop_taking();
                    if let Some(request) = self.opening.take() {
                        self.pool.give_back(request);
                    }
                    return;
                }
            }
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
            self.opening = self.pool.take();
        }
        let Some(request) = self.opening.take() else {
            return false;
        };
        let opened = self
            .ssh
            .session()
            .channel_direct_tcpip(&request.address, request.port, None);
        match opened {
            Ok(channel) => {
                self.ssh.channel_opened();
                let tunnel = UnixStream::pair().and_then(|(ours, theirs)| {
                    ours.set_nonblocking(true)?;
                    Ok((ours, theirs))
                });
                match tunnel {
                    Ok((ours, theirs)) => {
                        // A requester that gave up drops `theirs`, which
                        // closes the tunnel at once.
                        let _ = request.reply.send(Ok(theirs));
                        self.tunnels.push(Tunnel::new(channel, ours));
                    }
                    Err(e) => {
                        let _ = request.reply.send(Err(anyhow!("a local socket pair: {e}")));
                    }
                }
            }
            Err(e) if session_code(&e) == EAGAIN => {
                if Instant::now() < request.deadline {
                    self.opening = Some(request);
                    return false;
                }
                // libssh2 would resume this open with the next request's
                // target: this session opens nothing more.
                self.stop_taking();
                let _ = request.reply.send(Err(anyhow!(
                    "the jump host did not answer for {}:{} in time",
                    request.address,
                    request.port
                )));
            }
            Err(e) if session_code(&e) == CHANNEL_REFUSED => {
                let _ = request.reply.send(Err(anyhow!(
                    "the jump host could not connect to {}:{}: {}",
                    request.address,
                    request.port,
                    e.message()
                )));
            }
            Err(_) => {
                // The session itself failed: another login serves it.
                self.stop_taking();
                self.pool.give_back(request);
            }
        }
        true
    }

    /// Sleeps until the session, a tunnel or the doorbell has something.
    fn wait(&self, socket_quiet: bool) -> Wait {
        let busy = self.opening.is_some() || !self.tunnels.is_empty();
        let timeout = if busy { BUSY_WAIT } else { IDLE_WAIT };
        let socket = self.ssh.socket();
        let mut fds = vec![PollFd::new(&self.doorbell, PollFlags::IN)];
        let watch_socket = busy && !socket_quiet;
        if watch_socket {
            fds.push(PollFd::new(socket, PollFlags::IN));
        }
        for tunnel in &self.tunnels {
            let mut wanted = PollFlags::empty();
            if tunnel.wants_local_input() {
                wanted |= PollFlags::IN;
            }
            if !tunnel.to_local.is_empty() {
                wanted |= PollFlags::OUT;
            }
            fds.push(PollFd::new(&tunnel.local, wanted));
        }
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        if poll(&mut fds, Some(&timeout)).is_err() {
            return Wait::Other;
        }
        if watch_socket {
            let revents = fds[1].revents();
            if revents.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL)
                && !revents.contains(PollFlags::IN)
            {
                return Wait::Broken;
            }
            if revents.contains(PollFlags::IN) {
                return Wait::Socket;
            }
        }
        Wait::Other
    }
}

enum Wait {
    /// The session's socket has something to read.
    Socket,
    /// Anything else, or the time ran out.
    Other,
    /// The session's connection is gone.
    Broken,
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
    /// The target's session is gone.
    local_done: bool,
    /// The jump host's connection to the target ended.
    channel_done: bool,
    /// Since when the channel is being closed.
    closing: Option<Instant>,
    closed: bool,
}

impl Tunnel {
    fn new(channel: Channel, local: UnixStream) -> Tunnel {
        Tunnel {
            channel,
            local,
            to_channel: Vec::new(),
            to_local: Vec::new(),
            local_done: false,
            channel_done: false,
            closing: None,
            closed: false,
        }
    }

    fn closed(&self) -> bool {
        self.closed
    }

    fn wants_local_input(&self) -> bool {
        self.closing.is_none() && self.to_channel.is_empty() && !self.local_done
    }

    /// Moves what each side can take; whether anything moved.
    fn pump(&mut self, buffer: &mut [u8]) -> bool {
        if let Some(since) = self.closing {
            match self.channel.close() {
                Err(e) if session_code(&e) == EAGAIN && since.elapsed() < CLOSE_WAIT => {
                    return false;
                }
                _ => {
                    self.closed = true;
                    return true;
                }
            }
        }
        let mut moved = false;
        if self.wants_local_input() {
            match self.local.read(buffer) {
                Ok(0) => (self.local_done, moved) = (true, true),
                Ok(n) => (self.to_channel, moved) = (buffer[..n].to_vec(), true),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => (self.local_done, moved) = (true, true),
            }
        }
        if !self.to_channel.is_empty() {
            match self.channel.write(&self.to_channel) {
                Ok(n) => {
                    self.to_channel.drain(..n);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => (self.channel_done, moved) = (true, true),
            }
        }
        if self.to_local.is_empty() && !self.channel_done {
            match self.channel.read(buffer) {
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
        // Either side's end ends the tunnel, once the target's session has
        // everything the jump host sent it.
        if self.local_done || (self.channel_done && self.to_local.is_empty()) {
            let _ = self.local.shutdown(std::net::Shutdown::Both);
            self.closing = Some(Instant::now());
            moved = true;
        }
        moved
    }
}
