//! The SSH transport against a real OpenSSH server on loopback, with keys,
//! host keys and configs this test generates: host key policies, every key
//! type, encrypted keys, a jump host, timeouts, and the engine over SSH.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::sshd::{Keys, free_port, keygen, known};
use common::text;
use deployer::transport::target::Target;
use deployer::transport::{Ssh, Transport};
use tempfile::TempDir;

fn fingerprint_of(public_key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

fn error_of(target: &Target) -> String {
    match Ssh::connect(target) {
        Ok(_) => panic!("connected to {}", target.describe()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn host_keys_are_checked_strictly_and_pinned_only_when_asked() {
    let keys = Keys::new();
    let server = keys.server("a");
    let known_hosts = keys.dir.path().join("known_hosts");
    let mut target = keys.target(&server, &known_hosts);

    let err = error_of(&target);
    let offered = fingerprint_of(&server.host_key.with_extension("pub"));
    assert!(err.contains("is not in") && err.contains(&offered), "{err}");
    assert!(!known_hosts.exists(), "strict mode writes nothing");

    target.accept_new = true;
    Ssh::connect(&target).unwrap();
    let pinned = fs::read_to_string(&known_hosts).unwrap();
    assert!(
        pinned.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", server.port)),
        "{pinned}"
    );

    target.accept_new = false;
    Ssh::connect(&target).expect("the pinned key is now known");
}

#[test]
fn hashed_known_hosts_entries_match() {
    let keys = Keys::new();
    let server = keys.server("b");
    let target = keys.target(&server, &known(&keys, &server, true));
    Ssh::connect(&target).unwrap();
}

#[test]
fn a_changed_host_key_is_a_hard_error_showing_both_fingerprints() {
    let keys = Keys::new();
    let server = keys.server("e");
    // known_hosts remembers another key for this host and port (hashed, as
    // many systems keep it): the host was reinstalled, or someone is in between.
    let other = keys.dir.path().join("other_host_key");
    keygen(&other, "ed25519", "");
    let public = fs::read_to_string(other.with_extension("pub")).unwrap();
    let known_hosts = keys.dir.path().join("known_hosts_changed");
    fs::write(
        &known_hosts,
        format!(
            "[127.0.0.1]:{} {}\n",
            server.port,
            public
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    )
    .unwrap();
    assert!(
        Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&known_hosts)
            .output()
            .unwrap()
            .status
            .success()
    );

    let mut target = keys.target(&server, &known_hosts);
    target.accept_new = true;
    let err = error_of(&target);
    assert!(err.contains("HAS CHANGED"), "{err}");
    let offered = fingerprint_of(&server.host_key.with_extension("pub"));
    let remembered = fingerprint_of(&other.with_extension("pub"));
    assert!(err.contains(&offered) && err.contains(&remembered), "{err}");
}

#[test]
fn every_key_type_authenticates_and_encrypted_keys_take_a_passphrase() {
    let keys = Keys::new();
    let server = keys.server("c");
    let known_hosts = known(&keys, &server, false);
    for key in ["ed25519", "ecdsa", "rsa"] {
        let mut target = keys.target(&server, &known_hosts);
        target.identities = vec![keys.key(key)];
        Ssh::connect(&target).unwrap_or_else(|e| panic!("{key}: {e:#}"));
    }
    let mut target = keys.target(&server, &known_hosts);
    target.identities = vec![keys.key("locked")];
    target.passphrase = Some("open sesame".into());
    Ssh::connect(&target).unwrap();

    target.identities = vec![keys.key("stranger")];
    let err = error_of(&target);
    assert!(
        err.contains("web1 (root@127.0.0.1")
            && err.contains("authenticate")
            && err.contains("stranger"),
        "{err}"
    );
}

#[test]
fn scripts_stream_their_output_and_keep_stderr_apart() {
    let keys = Keys::new();
    let server = keys.server("d");
    let mut ssh = Ssh::connect(&keys.target(&server, &known(&keys, &server, false))).unwrap();
    let mut lines = Vec::new();
    let out = ssh
        .run("echo one; echo oops >&2; echo two; exit 3\n", &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap();
    assert_eq!(lines, ["one", "two"]);
    assert_eq!(out.stderr, "oops\n");
    assert_eq!(out.status, 3);

    // The same session serves many scripts, large ones too.
    let big = format!(
        "cat >/dev/null <<'EOF'\n{}\nEOF\necho done\n",
        "x".repeat(2_000_000)
    );
    let out = ssh.run(&big, &mut |_| {}).unwrap();
    assert_eq!((out.stdout.as_str(), out.status), ("done\n", 0));
    let tricky = "it's $(reboot) `id` \"q\"\nline two";
    let out = ssh
        .run(
            &format!("printf '%s' {}", deployer::dialect::shell::quote(tricky)),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(out.stdout, tricky);
}

/// The scripts of one session run in one shell on the host, each in its
/// own subshell: what one leaves behind (unread input, output without a
/// last newline, variables, a timeout) does not reach the next.
#[test]
fn the_scripts_of_a_session_share_one_shell_and_nothing_else() {
    let keys = Keys::new();
    let server = keys.server("d");
    let mut target = keys.target(&server, &known(&keys, &server, false));
    let mut ssh = Ssh::connect(&target).unwrap();
    // Each script runs in a subshell of the same shell, whose PID a
    // subshell's `$$` is.
    let shell_of = |ssh: &mut Ssh| {
        let out = ssh.run("echo $$\n", &mut |_| {}).unwrap();
        out.stdout.trim().to_string()
    };
    let first = shell_of(&mut ssh);
    assert!(!first.is_empty());

    let out = ssh
        .run(
            "x=kept; printf 'no newline'; printf 'err' >&2; exit 4\necho never; read line\n",
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.status),
        ("no newline", "err", 4)
    );
    // Idle past the sessions' TMOUT (2 s), the shell still waits.
    std::thread::sleep(Duration::from_secs(3));
    let out = ssh.run("echo \"[${x-unset}]\"\n", &mut |_| {}).unwrap();
    assert_eq!((out.stdout.as_str(), out.status), ("[unset]\n", 0));
    assert_eq!(shell_of(&mut ssh), first);

    // What a script leaves writing in the background is still its own.
    let out = ssh
        .run(
            "(sleep 1; echo late; echo late >&2) & echo first\n",
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("first\nlate\n", "late\n")
    );
    let out = ssh.run("echo next\n", &mut |_| {}).unwrap();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("next\n", ""));

    // A contained script writes to the session itself, as fast and as
    // apart; the relayed script after it still gets its pipes.
    let out = ssh
        .run_contained("echo in; printf 'no newline' >&2; exit 6\n")
        .unwrap();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.status),
        ("in\n", "no newline", 6)
    );
    let out = ssh.run("echo relayed\n", &mut |_| {}).unwrap();
    assert_eq!((out.stdout.as_str(), out.status), ("relayed\n", 0));
    assert_eq!(shell_of(&mut ssh), first);

    // A script that takes the shell's pipes away (a cleaned /tmp) still
    // ends as itself, and the next gets new ones.
    let out = ssh
        .run(
            "rm -rf \"$(dirname \"$(readlink /proc/$$/fd/1)\")\"; echo removed\n",
            &mut |_| {},
        )
        .unwrap();
    assert_eq!((out.stdout.as_str(), out.status), ("removed\n", 0));
    let out = ssh.run("echo after; exit 5\n", &mut |_| {}).unwrap();
    assert_eq!((out.stdout.as_str(), out.status), ("after\n", 5));
    assert_eq!(shell_of(&mut ssh), first);

    // A kept shell that ended between scripts is replaced, not taken for
    // a script that ran and said nothing.
    // Killed from another session, which waits until it is gone.
    let out = Ssh::connect(&target)
        .unwrap()
        .run(
            &format!("kill -9 {first}; while kill -0 {first} 2>/dev/null; do sleep 0.1; done\n"),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(out.status, 0);
    let out = ssh.run("echo alive; exit 7\n", &mut |_| {}).unwrap();
    assert_eq!((out.stdout.as_str(), out.status), ("alive\n", 7));
    assert_ne!(shell_of(&mut ssh), first);

    // A session of contained scripts makes no pipes (the driver's
    // directory for them stays unset).
    let mut fresh = Ssh::connect(&target).unwrap();
    for _ in 0..2 {
        let out = fresh
            .run_contained("echo \"[${deployer_pipes-none}]\"\n")
            .unwrap();
        assert_eq!((out.stdout.as_str(), out.status), ("[none]\n", 0));
    }

    // A script that never ends is given up; the next starts a new shell.
    target.command_timeout = Duration::from_secs(1);
    let mut ssh = Ssh::connect(&target).unwrap();
    let before = shell_of(&mut ssh);
    let err = ssh.run("sleep 30\n", &mut |_| {}).err().unwrap();
    assert!(format!("{err:#}").contains("no end after"), "{err:#}");
    let after = shell_of(&mut ssh);
    assert!(!after.is_empty() && after != before, "{before} {after}");
}

#[test]
fn a_jump_host_carries_the_connection() {
    let keys = Keys::new();
    let jump = keys.server("jump");
    let inner = keys.server("inner");
    let known_hosts = keys.dir.path().join("known_hosts_both");
    let mut both = fs::read_to_string(known(&keys, &jump, false)).unwrap();
    both += &fs::read_to_string(known(&keys, &inner, true)).unwrap();
    fs::write(&known_hosts, both).unwrap();

    let mut target = keys.target(&inner, &known_hosts);
    target.jump = Some(Box::new(Target {
        label: "jump host jump".into(),
        ..keys.target(&jump, &known_hosts)
    }));
    let mut ssh = Ssh::connect(&target).unwrap();
    let out = ssh.run("echo through", &mut |_| {}).unwrap();
    assert_eq!(out.stdout, "through\n");
    // The jump server itself opened the connection to the inner one.
    assert!(
        keys.jump_asked_for(inner.port),
        "no tunnel in the jump log:\n{}",
        keys.log_of("jump")
    );
}

/// A jump host and targets behind it, with a known_hosts that knows them
/// all; the targets' labels are `web0`, `web1`, ...
fn behind_one_jump_host(keys: &Keys, count: usize) -> (Vec<common::sshd::Server>, Vec<Target>) {
    let jump = keys.server("jump");
    let inner: Vec<_> = (0..count)
        .map(|i| keys.server(&format!("inner{i}")))
        .collect();
    let known_hosts = keys.dir.path().join("known_hosts_all");
    let mut all = fs::read_to_string(known(keys, &jump, false)).unwrap();
    for server in &inner {
        all += &fs::read_to_string(known(keys, server, false)).unwrap();
    }
    fs::write(&known_hosts, all).unwrap();
    let jump_target = Target {
        label: "jump".into(),
        ..keys.target(&jump, &known_hosts)
    };
    let targets = inner
        .iter()
        .enumerate()
        .map(|(i, server)| {
            let mut target = keys.target(server, &known_hosts);
            target.label = format!("web{i}");
            target.jump = Some(Box::new(jump_target.clone()));
            target
        })
        .collect();
    let mut servers = vec![jump];
    servers.extend(inner);
    (servers, targets)
}

/// Runs `echo LABEL` on each target at once, as a parallel apply does.
fn echo_on_each(targets: &[Target]) -> Vec<Result<String, String>> {
    std::thread::scope(|scope| {
        let running: Vec<_> = targets
            .iter()
            .map(|target| {
                scope.spawn(move || {
                    let mut ssh = Ssh::connect(target).map_err(|e| format!("{e:#}"))?;
                    let out = ssh
                        .run(&format!("echo {}", target.label), &mut |_| {})
                        .map_err(|e| format!("{e:#}"))?;
                    Ok(out.stdout)
                })
            })
            .collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// The logins `server` accepted, none of them refused for MaxStartups.
fn logins_at(keys: &Keys, server: &str) -> usize {
    let log = keys.log_of(server);
    assert!(!log.contains("MaxStartups"), "{log}");
    keys.logins_at(server)
}

/// Waits until the jump server was asked for 127.0.0.1:`port`: a session
/// of it is then busy opening that.
fn until_the_jump_host_is_asked_for(keys: &Keys, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !keys.jump_asked_for(port) {
        assert!(Instant::now() < deadline, "the jump host was never asked");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Many targets behind one jump host, connected at once as a parallel
/// apply does: each rides a channel of one login on the jump host (whose
/// sshd would refuse an 11th login in progress, MaxStartups 10), reaches
/// its own host (each checks its host key) and gets in.
#[test]
fn a_fleet_behind_one_jump_host_is_one_login_there() {
    let keys = Keys::new();
    let (_servers, targets) = behind_one_jump_host(&keys, 14);
    let answers = echo_on_each(&targets);
    let expected: Vec<Result<String, String>> = (0..14).map(|i| Ok(format!("web{i}\n"))).collect();
    assert_eq!(answers, expected);
    assert_eq!(logins_at(&keys, "jump"), 1);
    // A new connection for the lockout guard logs in anew.
    let mut alone = Ssh::connect_anew(&targets[0]).unwrap();
    assert_eq!(
        alone.run("echo anew", &mut |_| {}).unwrap().stdout,
        "anew\n"
    );
    assert_eq!(logins_at(&keys, "jump"), 2);
}

/// A TCP port on loopback that takes no connection and refuses none: its
/// one-place accept queue is full, so the kernel drops every SYN.
fn black_hole() -> (socket2::Socket, std::net::TcpStream, u16) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let queued = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    (listener, queued, port)
}

/// A target the jump host cannot reach (its connection hangs) fails alone,
/// at its own timeout; the others behind the same jump host, connected
/// meanwhile, get in, each to its own host: the session whose open was
/// given up opens nothing more (libssh2 would resume that open with the
/// next target's), and another login on the jump host serves the rest. A
/// target the jump host is refused by fails with the jump host's word.
#[test]
fn a_target_the_jump_host_cannot_reach_holds_up_no_other() {
    let keys = Keys::new();
    let (_servers, mut targets) = behind_one_jump_host(&keys, 4);
    let (_listener, _queued, unreachable) = black_hole();
    targets[0].port = unreachable;
    targets[0].connect_timeout = Duration::from_secs(6);
    targets[1].port = free_port();
    let answers = std::thread::scope(|scope| {
        let hanging = scope.spawn(|| echo_on_each(&targets[..1]));
        // The others ask once the jump host's one session is busy with it.
        until_the_jump_host_is_asked_for(&keys, unreachable);
        let others = echo_on_each(&targets[1..]);
        let mut answers = hanging.join().unwrap();
        answers.extend(others);
        answers
    });
    let hung = answers[0].as_ref().unwrap_err();
    assert!(
        hung.contains("did not answer") && hung.contains("web0"),
        "{hung}"
    );
    let refused = answers[1].as_ref().unwrap_err();
    assert!(
        refused.contains("could not connect") && refused.contains("web1"),
        "{refused}"
    );
    assert_eq!(
        answers[2..],
        [Ok("web2\n".to_string()), Ok("web3\n".to_string())]
    );
    // Later targets are never given to the session that gave up its open:
    // each would get that open's channel, or none.
    for _ in 0..4 {
        assert_eq!(echo_on_each(&targets[2..3]), [Ok("web2\n".to_string())]);
    }
    assert_eq!(logins_at(&keys, "jump"), 2);
}

/// More unreachable targets at once than sshd's MaxStartups: each keeps a
/// session at the jump host busy with its open, and the reachable targets
/// asked with them still get in, through logins of their own (a hub
/// waiting on an open no longer counts at sshd, so their number is not
/// capped; `logins` paces the logins in progress).
#[test]
fn unreachable_targets_beyond_max_startups_starve_no_other() {
    let keys = Keys::new();
    let (_servers, mut targets) = behind_one_jump_host(&keys, 14);
    let holes: Vec<_> = (0..12).map(|_| black_hole()).collect();
    for (target, (_, _, port)) in targets.iter_mut().zip(&holes) {
        target.port = *port;
        target.connect_timeout = Duration::from_secs(8);
    }
    for target in &mut targets[12..] {
        target.connect_timeout = Duration::from_secs(30);
    }
    let answers = echo_on_each(&targets);
    for (answer, target) in answers[..12].iter().zip(&targets) {
        let err = answer.as_ref().unwrap_err();
        assert!(
            err.contains("did not answer") && err.contains(&target.label),
            "{err}"
        );
    }
    assert_eq!(
        answers[12..],
        [Ok("web12\n".to_string()), Ok("web13\n".to_string())]
    );
}

/// A second login the jump host refuses (its listener replaced by one that
/// hangs up at once) while its one session is busy with an unreachable
/// target: the targets waiting meanwhile fail at their timeout saying why
/// the login failed, and no login is tried again within 2 s of a failure.
#[test]
fn a_failed_login_at_the_jump_host_is_said_and_not_hammered() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let keys = Keys::new();
    let (mut servers, mut targets) = behind_one_jump_host(&keys, 3);
    let (_listener, _queued, unreachable) = black_hole();
    targets[0].port = unreachable;
    targets[0].connect_timeout = Duration::from_secs(12);
    for target in &mut targets[1..] {
        target.connect_timeout = Duration::from_secs(6);
    }
    let attempts = std::sync::Arc::new(AtomicUsize::new(0));
    let answers = std::thread::scope(|scope| {
        let hanging = scope.spawn(|| echo_on_each(&targets[..1]));
        until_the_jump_host_is_asked_for(&keys, unreachable);
        // The listener goes; the session it made lives on.
        let jump = &mut servers[0];
        jump.child.kill().unwrap();
        jump.child.wait().unwrap();
        let stand_in = TcpListener::bind(("127.0.0.1", jump.port)).unwrap();
        let counted = attempts.clone();
        std::thread::spawn(move || {
            for connection in stand_in.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(connection);
            }
        });
        let others = echo_on_each(&targets[1..]);
        hanging.join().unwrap();
        others
    });
    for answer in &answers {
        let err = answer.as_ref().unwrap_err();
        assert!(
            err.contains("the last login there failed") && err.contains("jump ("),
            "{err}"
        );
    }
    // One every 2 s at most over the waiters' 6 s; without the pause,
    // each waiter tried every 100 ms.
    let attempts = attempts.load(Ordering::SeqCst);
    assert!((1..=4).contains(&attempts), "{attempts} logins tried");
}

/// Two chains to one target through the same jump host J, itself behind
/// J0, that differ only at J0: the one J0 refuses fails, whichever goes
/// first, and the other gets in (one pool per whole chain, never a login
/// made with another chain's keys).
#[test]
fn jump_chains_that_differ_at_their_first_hop_share_nothing() {
    let keys = Keys::new();
    let (j0, j, web) = (keys.server("j0"), keys.server("j"), keys.server("web"));
    let known_hosts = keys.dir.path().join("known_hosts_chain");
    let all: String = [&j0, &j, &web]
        .iter()
        .map(|server| fs::read_to_string(known(&keys, server, false)).unwrap())
        .collect();
    fs::write(&known_hosts, all).unwrap();
    let through = |first: Target, label: &str| {
        let jump = Target {
            label: "jump host j".into(),
            jump: Some(Box::new(first)),
            ..keys.target(&j, &known_hosts)
        };
        Target {
            label: label.into(),
            jump: Some(Box::new(jump)),
            ..keys.target(&web, &known_hosts)
        }
    };
    let first = Target {
        label: "jump host j0".into(),
        ..keys.target(&j0, &known_hosts)
    };
    // A key the servers do not authorize.
    let refused_first = Target {
        identities: vec![keys.key("stranger")],
        ..first.clone()
    };
    let good = through(first, "web1");
    let refused = through(refused_first, "web2");
    for order in [[&good, &refused], [&refused, &good]] {
        let answers: Vec<_> = order
            .iter()
            .map(|target| echo_on_each(std::slice::from_ref(*target)).remove(0))
            .collect();
        let (good_answer, refused_answer) = if order[0].label == "web1" {
            (&answers[0], &answers[1])
        } else {
            (&answers[1], &answers[0])
        };
        assert_eq!(good_answer, &Ok("web1\n".to_string()));
        let err = refused_answer.as_ref().unwrap_err();
        assert!(
            err.contains("jump host j0") && err.contains("refused every key"),
            "{err}"
        );
    }
}

#[test]
fn connect_failures_name_the_host_and_the_step() {
    let keys = Keys::new();
    let known_hosts = keys.dir.path().join("known_hosts");
    let closed = common::sshd::Server {
        port: free_port(),
        host_key: PathBuf::new(),
        child: Command::new("true").spawn().unwrap(),
    };
    let mut target = keys.target(&closed, &known_hosts);
    let err = error_of(&target);
    assert!(
        err.starts_with(&format!("web1 (root@127.0.0.1:{}): connect", closed.port)),
        "{err}"
    );

    // A server that accepts TCP and never speaks SSH: the handshake times out.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    target.port = silent.local_addr().unwrap().port();
    target.connect_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let err = error_of(&target);
    assert!(err.contains("SSH handshake"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// The engine converges a host over SSH exactly as it does locally, and a
/// second apply finds nothing to do.
#[test]
fn the_engine_converges_a_host_over_ssh() {
    let keys = Keys::new();
    let server = keys.server("f");
    let mut ssh = Ssh::connect(&keys.target(&server, &known(&keys, &server, false))).unwrap();
    let root = TempDir::new().unwrap();
    let resources = common::sample_host(&root, "over ssh\n");

    let desired = deployer::deploy::Desired {
        resources,
        guard: deployer::safety::lockout::LockoutGuard::permissive(&common::lease(&root).state_dir),
        exposure: deployer::deploy::Exposure::unchecked(),
        app: "test".into(),
        removal: Some(deployer::deploy::Removal::without_spec()),
        found: Vec::new(),
        refusals: Vec::new(),
        while_enabled: Vec::new(),
    };
    let plan = deployer::deploy::single::plan("web1", &mut ssh, &desired).unwrap();
    let target = keys.target(&server, &known(&keys, &server, false));
    let reconnect =
        || Ok(Box::new(Ssh::connect(&target)?) as Box<dyn deployer::transport::Transport>);
    // Four resources, a command, and the manifest of what deployer made.
    assert_eq!(plan.changes.len(), 6);
    let applied = deployer::deploy::single::apply(
        deployer::deploy::HostAccess {
            host: "web1",
            transport: &mut ssh,
            reconnect: &reconnect,
        },
        &desired,
        Some(&plan),
        &common::lease(&root),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(applied.plan.changes.len(), 6);
    assert_eq!(
        fs::read_to_string(common::path(&root, "etc/app/app.conf")).unwrap(),
        "over ssh\n"
    );

    let again = deployer::deploy::single::apply(
        deployer::deploy::HostAccess {
            host: "web1",
            transport: &mut ssh,
            reconnect: &reconnect,
        },
        &desired,
        None,
        &common::lease(&root),
        &mut |_| {},
    )
    .unwrap();
    assert!(again.plan.is_converged(), "{:?}", again.plan.changes);
}

/// `deployer plan` and `lock status` reach a host over SSH with the spec's
/// own settings: address, port, identity, known_hosts file.
#[test]
fn the_cli_plans_over_ssh_from_the_spec() {
    let keys = Keys::new();
    let server = keys.server("g");
    let dir = TempDir::new().unwrap();
    let hello = Path::new(common::ROOT).join("examples/hello");
    let known_hosts = dir.path().join("known_hosts");
    let spec = fs::read_to_string(hello.join("deployer.yaml"))
        .unwrap()
        .replace("app:\n", &format!("app:\n  source: {}\n", hello.display()))
        .replace(
            "    address: 198.18.0.10\n",
            &format!("    address: 127.0.0.1\n    port: {}\n", server.port),
        )
        + &format!(
            "ssh:\n  user: root\n  identity: {}\n  known_hosts_file: {}\n",
            keys.key("ecdsa").display(),
            known_hosts.display()
        )
        // Where sshd listens: otherwise the plan would move it to 22, and
        // the lockout guard refuses that.
        + &format!("network:\n  ssh_port: {}\n", server.port);
    let spec_path = dir.path().join("deployer.yaml");
    fs::write(&spec_path, spec).unwrap();
    let spec_arg = spec_path.to_str().unwrap();
    let state = dir.path().join("state");

    let strict = common::deployer(&["plan", "-f", spec_arg, "--ssh-config", "/dev/null"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        text(&strict).contains("is not in") && text(&strict).contains("nothing was changed"),
        "{}",
        text(&strict)
    );

    let plan = common::deployer(&[
        "plan",
        "-f",
        spec_arg,
        "--ssh-config",
        "/dev/null",
        "--accept-new-host-keys",
        "--detailed-exitcode",
    ]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("+ file /etc/systemd/system/hello@.service"),
        "{}",
        text(&plan)
    );

    let lock = common::deployer(&[
        "lock",
        "status",
        "-f",
        spec_arg,
        "--ssh-config",
        "/dev/null",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&lock.stdout),
        "web1: free\n",
        "{}",
        text(&lock)
    );
}

/// A host that offered ECDSA and ed25519, of which deployer's known_hosts
/// knew only the ECDSA key (libssh2 prefers it when pinning), then offers
/// ed25519 alone, as deployer's sshd drop-in has it: the ed25519 key, read
/// over the verified connection and learned before, lets the next
/// connection in; without it, that connection is refused.
#[test]
fn a_host_key_learned_over_a_verified_connection_survives_sshd_dropping_a_type() {
    use deployer::transport::Transport as _;
    let keys = Keys::new();
    let ecdsa = keys.dir.path().join("both_ecdsa_host_key");
    let ed25519 = keys.dir.path().join("both_ed25519_host_key");
    keygen(&ecdsa, "ecdsa", "");
    keygen(&ed25519, "ed25519", "");
    let port = free_port();
    let both = keys.server_with("both", &[&ecdsa, &ed25519], port);
    let public = |key: &Path| {
        let text = fs::read_to_string(key.with_extension("pub")).unwrap();
        let mut fields = text.split_whitespace();
        (
            fields.next().unwrap().to_string(),
            fields.next().unwrap().to_string(),
        )
    };
    let (ecdsa_type, ecdsa_key) = public(&ecdsa);
    let known_hosts = keys.dir.path().join("known_hosts_ecdsa");
    let pinned = format!("[127.0.0.1]:{port} {ecdsa_type} {ecdsa_key}\n");
    fs::write(&known_hosts, &pinned).unwrap();
    let target = keys.target(&both, &known_hosts);
    let mut ssh = Ssh::connect(&target).expect("the ECDSA key is known");
    let learned = ssh.learn_host_keys(&[public(&ed25519)]).unwrap();
    assert_eq!(learned.len(), 1, "{learned:?}");
    assert!(learned[0].starts_with("ssh-ed25519 SHA256:"), "{learned:?}");
    drop(ssh);
    drop(both);

    let only_ed25519 = keys.server_with("ed25519-only", &[&ed25519], port);
    Ssh::connect(&keys.target(&only_ed25519, &known_hosts)).expect("the learned key is known");
    // Without the learned key, the same connection is refused, saying the
    // key is of a type known_hosts holds none of (not that it changed).
    fs::write(&known_hosts, &pinned).unwrap();
    let refused = Ssh::connect(&keys.target(&only_ed25519, &known_hosts))
        .err()
        .unwrap();
    assert!(
        format!("{refused:#}").contains(&format!("knows only {ecdsa_type} for it")),
        "{refused:#}"
    );
}
