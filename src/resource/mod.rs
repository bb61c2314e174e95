//! The resource kinds: small declarative values saying what a host must have.
//! Playbooks list them; the engine reads their facts on a host, diffs and
//! converges them.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Package(Package),
    User(User),
    Dir(Dir),
    File(File),
    Symlink(Symlink),
    Service(Service),
}

/// A Debian package, installed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
}

/// A system account with no login shell.
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
    /// The rendered template; filled in when a playbook is expanded.
    #[serde(skip)]
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Symlink {
    pub path: String,
    pub target: String,
}

/// A systemd unit, enabled and running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
}

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

impl Resource {
    /// The kind and the thing it names, for summaries: `file /etc/nginx/nginx.conf`.
    pub fn label(&self) -> (&'static str, &str) {
        match self {
            Resource::Package(p) => ("package", &p.name),
            Resource::User(u) => ("user", &u.name),
            Resource::Dir(d) => ("dir", &d.path),
            Resource::File(f) => ("file", &f.path),
            Resource::Symlink(s) => ("symlink", &s.path),
            Resource::Service(s) => ("service", &s.name),
        }
    }
}
