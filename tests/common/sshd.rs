//! OpenSSH servers on loopback for tests and benchmarks: keys of every kind,
//! authorised for root, and host keys the caller can pin.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use deployer::transport::target::Target;
use tempfile::TempDir;

use super::{require, text};

/// An sshd on 127.0.0.1 that accepts root with the test's keys.
pub struct Server {
    pub port: u16,
    pub host_key: PathBuf,
    pub child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            kind,
            "-N",
            passphrase,
            "-C",
            "deployer-test",
            "-f",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// Client keys of every kind, all authorised on the servers.
pub struct Keys {
    pub dir: TempDir,
}

impl Keys {
    pub fn new() -> Keys {
        require("sshd");
        require("ssh-keygen");
        let dir = TempDir::new().unwrap();
        keygen(&dir.path().join("ed25519"), "ed25519", "");
        keygen(&dir.path().join("ecdsa"), "ecdsa", "");
        keygen(&dir.path().join("rsa"), "rsa", "");
        keygen(&dir.path().join("locked"), "ed25519", "open sesame");
        keygen(&dir.path().join("stranger"), "ed25519", "");
        let mut authorized = String::new();
        for key in ["ed25519", "ecdsa", "rsa", "locked"] {
            authorized += &fs::read_to_string(dir.path().join(format!("{key}.pub"))).unwrap();
        }
        fs::write(dir.path().join("authorized_keys"), authorized).unwrap();
        Keys { dir }
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What server `name` logged (the one named `jump` logs at DEBUG1).
    pub fn log_of(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The logins server `name` accepted.
    pub fn logins_at(&self, name: &str) -> usize {
        self.log_of(name).matches("Accepted publickey").count()
    }

    /// Whether the `jump` server was asked for a connection (direct-tcpip)
    /// to 127.0.0.1:`port`.
    pub fn jump_asked_for(&self, port: u16) -> bool {
        let asked = format!("target 127.0.0.1 port {port}");
        self.log_of("jump")
            .lines()
            .any(|l| l.contains("direct_tcpip") && l.contains(&asked))
    }

    pub fn server(&self, name: &str) -> Server {
        let host_key = self.dir.path().join(format!("{name}_host_key"));
        keygen(&host_key, "ed25519", "");
        self.server_with(name, &[&host_key], free_port())
    }

    /// An sshd on `port` offering `host_keys` (the first is `host_key`).
    pub fn server_with(&self, name: &str, host_keys: &[&Path], port: u16) -> Server {
        let base = self.dir.path();
        let host_key = host_keys[0].to_path_buf();
        let config = base.join(format!("{name}_sshd_config"));
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\n{}AuthorizedKeysFile {}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 StrictModes no\nUsePAM no\nPidFile none\nAllowTcpForwarding yes\nLogLevel {}\n\
                 SetEnv HOME={} TMOUT=2\n",
                host_keys
                    .iter()
                    .map(|k| format!("HostKey {}\n", k.display()))
                    .collect::<String>(),
                base.join("authorized_keys").display(),
                // The jump server logs the tunnels it opens (and then also
                // sends debug text to its sessions' stderr), and refuses an
                // 11th login in progress outright (the default starts
                // refusing at random there).
                if name == "jump" { "DEBUG1\nMaxStartups 10" } else { "INFO" },
                // Sessions keep out of this machine's own shell startup
                // (bash reads ~/.bashrc under sshd): root's may take locks,
                // as pyenv's rehash does, that stall many sessions at once.
                // And they get the TMOUT some hardened profiles export,
                // which would end an idle `read` in deployer's shell.
                base.display(),
            ),
        )
        .unwrap();
        fs::create_dir_all("/run/sshd").unwrap();
        let child = super::dies_with_test(&mut Command::new("sh"))
            .args([
                "-c",
                "exec \"$(command -v sshd || echo /usr/sbin/sshd)\" -D -e -f \"$1\"",
                "sh",
            ])
            .arg(&config)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stderr(fs::File::create(base.join(format!("{name}.log"))).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            thread::sleep(Duration::from_millis(20));
        }
        Server {
            port,
            host_key,
            child,
        }
    }

    pub fn target(&self, server: &Server, known_hosts: &Path) -> Target {
        Target {
            label: "web1".into(),
            address: "127.0.0.1".into(),
            port: server.port,
            user: "root".into(),
            identities: vec![self.key("ed25519")],
            known_hosts: known_hosts.to_path_buf(),
            accept_new: false,
            jump: None,
            passphrase: None,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(30),
        }
    }
}

/// A known_hosts file that knows `server`, as `ssh-keyscan` would write it.
pub fn known(keys: &Keys, server: &Server, hashed: bool) -> PathBuf {
    let path = keys
        .dir
        .path()
        .join(format!("known_hosts_{}_{hashed}", server.port));
    let public = fs::read_to_string(server.host_key.with_extension("pub")).unwrap();
    let mut fields = public.split_whitespace();
    let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
    fs::write(&path, format!("[127.0.0.1]:{} {kind} {key}\n", server.port)).unwrap();
    if hashed {
        let out = Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert!(fs::read_to_string(&path).unwrap().starts_with("|1|"));
    }
    path
}
