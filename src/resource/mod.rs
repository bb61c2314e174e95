//! The resource kinds: small declarative values saying what a host must have.
//! Playbooks list them; `facts` reads them all from a host in one script and
//! `diff` compares, giving the changes the converge script then makes.

pub mod diff;
pub mod facts;
pub mod owned;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dialect::shell::quote;
pub use crate::release::{Instance, Release};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Package(Package),
    User(User),
    Dir(Dir),
    File(File),
    Symlink(Symlink),
    Service(Service),
    Command(Command),
    Release(Release),
}

/// A Debian package, installed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
}

/// A system account with no login shell and its own group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dir {
    pub path: String,
    #[serde(default = "root")]
    pub owner: String,
    #[serde(default = "root")]
    pub group: String,
    pub mode: Mode,
    /// Holds the app's data (its releases, `shared/`): once the spec no
    /// longer declares it, kept, and removed with its content only by
    /// `destroy --purge`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub data: bool,
}

/// A file rendered from a template, written atomically with owner and mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct File {
    pub path: String,
    /// A template under `templates/`.
    pub template: String,
    /// Variables added to the host's context for this template only.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
    #[serde(default = "root")]
    pub owner: String,
    #[serde(default = "root")]
    pub group: String,
    pub mode: Mode,
    /// Judges the new content before it replaces the live file.
    pub check: Option<Check>,
    /// Handlers to run once after the apply when this file changed:
    /// `daemon-reload`, `restart UNIT`, `reload UNIT`.
    #[serde(default)]
    pub notify: Vec<String>,
    /// The content is never read back, shown or diffed: only its digest.
    #[serde(default)]
    pub secret: bool,
    /// A change could cut SSH off (firewall, sshd): the host puts the old
    /// file back unless a new SSH connection confirms the change in time.
    #[serde(default)]
    pub guarded: bool,
    /// A systemd unit only deployer may write: a file already there that
    /// does not say [`MANAGED_MARKER`], or a unit of the same name elsewhere
    /// in systemd's search path (a package's), stops the plan.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unit: bool,
    /// With `guarded`: undoes the file's effect when a revert removes it
    /// (it did not exist before).
    pub revert_absent: Option<String>,
    /// The rendered template; filled in when a playbook is expanded.
    #[serde(skip)]
    pub content: String,
}

impl File {
    /// A root-owned file with `content`, no check, no handlers, not secret.
    pub fn new(path: impl Into<String>, mode: u32, content: impl Into<String>) -> File {
        File {
            path: path.into(),
            template: String::new(),
            vars: BTreeMap::new(),
            owner: root(),
            group: root(),
            mode: Mode(mode),
            check: None,
            notify: Vec::new(),
            secret: false,
            guarded: false,
            unit: false,
            revert_absent: None,
            content: content.into(),
        }
    }
}

/// A command that judges new files. With `shadow`, it runs with a staged
/// copy of that directory (the live one plus every new file in it) mounted
/// over the live one, in a private mount namespace: `nginx -t` then reads
/// exactly the configuration that would go live. Without, `{}` in `run` is
/// the staged file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Check {
    pub run: String,
    pub shadow: Option<String>,
    /// What progress and a refusal call it; `run` itself by default (a
    /// check several lines long wants a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Check {
    /// What progress and a refusal call this check.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.run)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Symlink {
    pub path: String,
    pub target: String,
}

/// A systemd unit, enabled at boot and running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
}

/// A command run only while the host needs it: `unless` (a check that
/// exits 0 when all is well) or `creates` (a path it makes) says when not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// What the plan and progress call it; `run` itself by default.
    #[serde(default)]
    pub name: Option<String>,
    pub run: String,
    pub unless: Option<String>,
    pub creates: Option<String>,
    /// Runs before the files are staged and checked, for what their checks
    /// read (a certificate `nginx -t` loads); otherwise after the services.
    #[serde(default)]
    pub before_files: bool,
    /// Runs after the files are in place and before the release is built,
    /// for what needs those files and what the build needs (a package from
    /// an apt source that a file adds).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub before_release: bool,
    /// Handlers to run once after the apply when this command ran.
    #[serde(default)]
    pub notify: Vec<String>,
    /// What the command makes (absolute paths), removed once the spec no
    /// longer declares the command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owns: Vec<String>,
    /// What it makes that is data (an ACME account key): kept unless
    /// `destroy --purge`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owns_data: Vec<String>,
}

impl Command {
    /// A command run unless `path` exists.
    pub fn creates(run: impl Into<String>, path: impl Into<String>) -> Command {
        Command {
            name: None,
            run: run.into(),
            unless: None,
            creates: Some(path.into()),
            before_files: false,
            before_release: false,
            notify: Vec::new(),
            owns: Vec::new(),
            owns_data: Vec::new(),
        }
    }

    /// When, in the converge, the command runs.
    pub fn phase(&self) -> Phase {
        match (self.before_files, self.before_release) {
            (true, _) => Phase::BeforeFiles,
            (false, true) => Phase::BeforeRelease,
            (false, false) => Phase::Last,
        }
    }

    /// The shell test that exits 0 when the command need not run. A check
    /// runs in a subshell of the script's own bash, with its options reset:
    /// a fork, where `sh -c` would also start a program, in every plan.
    pub fn unless_test(&self) -> String {
        match (&self.creates, &self.unless) {
            (Some(path), _) => format!("test -e {}", quote(path)),
            (None, Some(check)) => format!("(set +euo pipefail; eval {})", quote(check)),
            (None, None) => "false".into(),
        }
    }
}

/// Where a command runs in the converge: just before the files, just before
/// the release (after the files and daemon-reload), or last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    BeforeFiles,
    BeforeRelease,
    Last,
}

/// What the first lines of every file deployer writes say (templates
/// start with `# Managed by deployer: ...`).
pub const MANAGED_MARKER: &str = "Managed by deployer";

/// The shell deployer gives the accounts it makes.
pub const NO_LOGIN: &str = "/usr/sbin/nologin";

fn root() -> String {
    "root".into()
}

/// Permission bits, written in octal as a string: `"0640"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Mode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("octal permissions as a quoted string, e.g. \"0644\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Mode, E> {
                match u32::from_str_radix(s, 8) {
                    Ok(bits) if s.len() == 4 && bits <= 0o7777 => Ok(Mode(bits)),
                    _ => Err(E::invalid_value(Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A resource's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Package,
    User,
    Dir,
    File,
    Symlink,
    Service,
    Command,
    Release,
    /// What a command made (its `owns`): only ever removed.
    Path,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Package => "package",
            Kind::User => "user",
            Kind::Dir => "dir",
            Kind::File => "file",
            Kind::Symlink => "symlink",
            Kind::Service => "service",
            Kind::Command => "command",
            Kind::Release => "release",
            Kind::Path => "path",
        })
    }
}

/// What a resource is about: its kind and the thing it names (a path, a
/// package, a unit, a command's name). Unique among a host's resources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId {
    pub kind: Kind,
    pub target: String,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.target)
    }
}

impl Resource {
    /// The kind and the thing it names: `file /etc/nginx/nginx.conf`.
    pub fn id(&self) -> ResourceId {
        let (kind, target) = match self {
            Resource::Package(p) => (Kind::Package, &p.name),
            Resource::User(u) => (Kind::User, &u.name),
            Resource::Dir(d) => (Kind::Dir, &d.path),
            Resource::File(f) => (Kind::File, &f.path),
            Resource::Symlink(s) => (Kind::Symlink, &s.path),
            Resource::Service(s) => (Kind::Service, &s.name),
            Resource::Command(c) => (Kind::Command, c.name.as_ref().unwrap_or(&c.run)),
            Resource::Release(r) => (Kind::Release, &r.root),
        };
        ResourceId {
            kind,
            target: target.clone(),
        }
    }

    /// Problems in a resource as a playbook wrote it.
    pub fn problems(&self) -> Option<String> {
        let ResourceId { kind, target: name } = self.id();
        let path_like = matches!(
            self,
            Resource::Dir(_) | Resource::File(_) | Resource::Symlink(_)
        );
        if path_like && (!name.starts_with('/') || name.split('/').any(|part| part == "..")) {
            return Some(format!(
                "{kind} path `{name}` must be absolute, without `..`"
            ));
        }
        if name.contains(['\n', '\0', '\t']) {
            return Some(format!("{kind} `{name}` holds a control character"));
        }
        if let Resource::Command(c) = self
            && let Some(path) = c.owns.iter().chain(&c.owns_data).find(|p| {
                !p.starts_with('/')
                    || p.split('/').any(|part| part == "..")
                    || p.contains(['\n', '\0', '\t'])
            })
        {
            return Some(format!(
                "command `{name}`: what it owns, `{path}`, must be an absolute path without `..`"
            ));
        }
        match self {
            Resource::Command(c) if c.unless.is_none() && c.creates.is_none() => {
                Some(format!(
                "command `{}` needs `unless` or `creates`, to say when it need not run",
                c.run
            ))
            }
            Resource::Command(c) if c.before_files && c.before_release => Some(format!(
                "command `{}`: `before_files` and `before_release` exclude each other",
                c.run
            )),
            // Handlers run after the services, before the last commands.
            Resource::Command(c) if !c.notify.is_empty() && c.phase() == Phase::Last => {
                Some(format!(
                    "command `{}`: `notify` needs `before_files` or `before_release`",
                    c.run
                ))
            }
            _ => self.notify().iter().find(|h| Handler::parse(h).is_none()).map(|h| {
                format!("{kind} {name}: unknown handler `{h}`; use `daemon-reload`, `restart UNIT` or `reload UNIT`")
            }),
        }
    }

    /// The handlers this resource sets off when it changes.
    pub fn notify(&self) -> &[String] {
        match self {
            Resource::File(f) => &f.notify,
            Resource::Command(c) => &c.notify,
            _ => &[],
        }
    }
}

/// What a changed file asks for, once per apply.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handler {
    DaemonReload,
    Restart(String),
    Reload(String),
    /// Restarts the unit only if it runs: for one the host may not use
    /// (Ubuntu's ssh.socket, where sshd may run without it).
    TryRestart(String),
}

impl Handler {
    pub fn parse(text: &str) -> Option<Handler> {
        let unit_ok = |u: &str| !u.is_empty() && !u.contains(char::is_whitespace);
        match text.split_once(' ') {
            None if text == "daemon-reload" => Some(Handler::DaemonReload),
            Some(("restart", unit)) if unit_ok(unit) => Some(Handler::Restart(unit.into())),
            Some(("reload", unit)) if unit_ok(unit) => Some(Handler::Reload(unit.into())),
            Some(("try-restart", unit)) if unit_ok(unit) => Some(Handler::TryRestart(unit.into())),
            _ => None,
        }
    }
}

impl Handler {
    /// As a playbook's `notify` writes it; `parse` reads it back.
    pub fn notify_text(&self) -> String {
        match self {
            Handler::DaemonReload => "daemon-reload".into(),
            Handler::Restart(unit) => format!("restart {unit}"),
            Handler::Reload(unit) => format!("reload {unit}"),
            Handler::TryRestart(unit) => format!("try-restart {unit}"),
        }
    }
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handler::DaemonReload => f.write_str("systemctl daemon-reload"),
            Handler::Restart(unit) => write!(f, "restart {unit}"),
            Handler::Reload(unit) => write!(f, "reload {unit}"),
            Handler::TryRestart(unit) => write!(f, "try-restart {unit}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_parse() {
        assert_eq!(Handler::parse("daemon-reload"), Some(Handler::DaemonReload));
        assert_eq!(
            Handler::parse("restart a@1.service"),
            Some(Handler::Restart("a@1.service".into()))
        );
        assert_eq!(
            Handler::parse("reload nginx.service"),
            Some(Handler::Reload("nginx.service".into()))
        );
        assert_eq!(
            Handler::parse("try-restart ssh.socket"),
            Some(Handler::TryRestart("ssh.socket".into()))
        );
        assert_eq!(Handler::parse("restart "), None);
        assert_eq!(Handler::parse("restart a b"), None);
        assert_eq!(Handler::parse("bounce nginx"), None);
    }

    #[test]
    fn commands_need_a_condition() {
        let unguarded = Resource::Command(Command {
            creates: None,
            ..Command::creates("true", "")
        });
        assert!(
            unguarded
                .problems()
                .unwrap()
                .contains("needs `unless` or `creates`")
        );
    }
}
