//! Facts: what a host has now, for every resource of its plan, read by ONE
//! script in one round trip. Each line of its output is one fact:
//! `KIND<TAB>NAME<TAB>fields...`.

use std::collections::HashMap;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use super::{Handler, Resource};
use crate::shell::quote;

/// A path on the host as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathFact {
    Missing,
    /// Something else than the kind asked for is there (a directory where a
    /// file should be...).
    Other,
    Present(Attributes),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub mode: u32,
    pub owner: String,
    pub group: String,
    /// Files: the content, or for secret files only its SHA-256 (hex).
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    None,
    Bytes(Vec<u8>),
    Sha256(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFact {
    /// systemd's UnitFileState: `enabled`, `disabled`, `static`, `` (unknown)...
    pub unit_file_state: String,
    /// systemd's ActiveState: `active`, `inactive`, `failed`...
    pub active_state: String,
}

/// A release on the host: whether it is built, and where `current` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFact {
    pub built: bool,
    pub current: Option<String>,
}

/// Everything one facts script learned about a host.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub paths: HashMap<(char, String), PathFact>,
    pub symlinks: HashMap<String, Option<String>>,
    pub packages: HashMap<String, bool>,
    pub users: HashMap<String, bool>,
    pub services: HashMap<String, ServiceFact>,
    /// Command guards: whether each says the host is fine as it is.
    pub guards: HashMap<String, bool>,
    /// Releases by their root directory.
    pub releases: HashMap<String, ReleaseFact>,
    /// Handlers an earlier apply owed when it stopped: files it changed
    /// before failing still need their restarts.
    pub pending: Vec<Handler>,
    /// The SSH connection the facts came through; `None` without SSH.
    pub login: Option<Login>,
    /// Sockets listening for connections (TCP) or datagrams (UDP).
    pub listening: Vec<Listening>,
    /// SHA-256 of the report (the connection aside): a saved plan is stale
    /// when it changes.
    pub digest: String,
}

/// A listening socket, as `ss` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// `tcp` or `udp`.
    pub proto: String,
    /// `None`: every address (`0.0.0.0`, `::`, `*`).
    pub address: Option<std::net::IpAddr>,
    pub port: u16,
    /// The process, e.g. `users:(("sshd",pid=33,fd=3))`.
    pub process: String,
}

/// Who is connected, as the host sees it (`SSH_CONNECTION`, `SUDO_USER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub client: std::net::IpAddr,
    /// The port sshd answered on.
    pub port: u16,
    pub user: String,
}

const HELPERS: &str = r#"export LC_ALL=C
TAB=$(printf '\t')
# path facts: KIND PATH: F (regular file), D (directory); S=1 for digest only
pathfact() {
  kind=$1 path=$2 secret=${3:-0}
  if [ -L "$path" ]; then printf '%s\t%s\tother\n' "$kind" "$path"; return; fi
  if { [ "$kind" = F ] && [ -f "$path" ]; } || { [ "$kind" = D ] && [ -d "$path" ]; }; then
    printf '%s\t%s\tpresent\t%s\t' "$kind" "$path" "$(stat -c "%a$TAB%U$TAB%G" -- "$path")"
    if [ "$kind" = D ]; then printf -- '-'
    elif [ "$secret" = 1 ]; then sha256sum <"$path" | cut -d' ' -f1 | tr -d '\n'
    else base64 -w0 <"$path"; fi
    printf '\n'
  elif [ -e "$path" ]; then printf '%s\t%s\tother\n' "$kind" "$path"
  else printf '%s\t%s\tmissing\n' "$kind" "$path"; fi
}
linkfact() {
  if [ -L "$1" ]; then printf 'L\t%s\t%s\n' "$1" "$(readlink -- "$1")"; else printf 'L\t%s\t\n' "$1"; fi
}
userfact() {
  if getent passwd "$1" >/dev/null; then printf 'U\t%s\t1\n' "$1"; else printf 'U\t%s\t0\n' "$1"; fi
}
servicefact() {
  props=$(systemctl show --property=UnitFileState --property=ActiveState -- "$1" 2>/dev/null)
  state=$(printf '%s\n' "$props" | sed -n 's/^UnitFileState=//p')
  active=$(printf '%s\n' "$props" | sed -n 's/^ActiveState=//p')
  printf 'S\t%s\t%s\t%s\n' "$1" "$state" "$active"
}
releasefact() {
  if [ -e "$1/releases/$2/.deployer-built" ]; then built=1; else built=0; fi
  printf 'R\t%s\t%s\t%s\n' "$1" "$built" "$(readlink -- "$1/current" || true)"
}
guardfact() {
  id=$1; shift
  if "$@" >/dev/null 2>&1; then printf 'C\t%s\t1\n' "$id"; else printf 'C\t%s\t0\n' "$id"; fi
}
"#;

/// Where a converge records the handlers it owes until they have run.
pub fn pending_handlers(state_dir: &str) -> String {
    format!("{state_dir}/handlers.pending")
}

/// The one script that reads every resource's facts, and the handlers an
/// earlier apply left owing (kept in `state_dir`).
pub fn script(resources: &[Resource], state_dir: &str) -> String {
    let mut script = String::from(HELPERS);
    script
        .push_str("printf 'W\\t%s\\t%s\\n' \"${SSH_CONNECTION:-}\" \"${SUDO_USER:-$(id -un)}\"\n");
    script.push_str(
        "if command -v ss >/dev/null; then ss -Hltunp | awk -v OFS='\\t' '{print \"X\", $1, $5, $7}'; fi\n",
    );
    script.push_str(&format!(
        "if [ -f {pending} ]; then while IFS= read -r h; do printf 'H\\t%s\\n' \"$h\"; done <{pending}; fi\n",
        pending = quote(&pending_handlers(state_dir))
    ));
    let mut packages = Vec::new();
    for (index, resource) in resources.iter().enumerate() {
        let line = match resource {
            Resource::Package(p) => {
                packages.push(quote(&p.name));
                continue;
            }
            Resource::User(u) => format!("userfact {}", quote(&u.name)),
            Resource::Dir(d) => format!("pathfact D {}", quote(&d.path)),
            Resource::File(f) => format!("pathfact F {} {}", quote(&f.path), u8::from(f.secret)),
            Resource::Symlink(l) => format!("linkfact {}", quote(&l.path)),
            Resource::Service(s) => format!("servicefact {}", quote(&s.name)),
            Resource::Command(c) => format!("guardfact {index} {}", c.guard()),
            Resource::Release(r) => format!("releasefact {} {}", quote(&r.root), quote(&r.id)),
        };
        script.push_str(&line);
        script.push('\n');
    }
    if !packages.is_empty() {
        script.push_str(&format!(
            "for p in {}; do\n  if dpkg-query -W -f='${{db:Status-Abbrev}}' -- \"$p\" 2>/dev/null | grep -q '^ii'; then printf 'P\\t%s\\t1\\n' \"$p\"; else printf 'P\\t%s\\t0\\n' \"$p\"; fi\ndone\n",
            packages.join(" ")
        ));
    }
    script
}

/// Reads a facts report. `resources` gives command guards their names back.
pub fn parse(output: &str, resources: &[Resource]) -> Result<Facts> {
    let mut digest = Sha256::new();
    // Who connected and what listens change from run to run: a saved plan
    // goes stale only over what deployer manages.
    for line in output
        .lines()
        .filter(|l| !l.starts_with("W\t") && !l.starts_with("X\t"))
    {
        digest.update(line.as_bytes());
        digest.update(b"\n");
    }
    let mut facts = Facts {
        digest: hex(&digest.finalize()),
        ..Facts::default()
    };
    for (number, line) in output.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        parse_line(&mut facts, &fields, resources)
            .with_context(|| format!("facts line {}: {line:?}", number + 1))?;
    }
    Ok(facts)
}

fn parse_line(facts: &mut Facts, fields: &[&str], resources: &[Resource]) -> Result<()> {
    let flag = |f: &str| match f {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => bail!("expected 0 or 1, got {f:?}"),
    };
    match fields {
        [kind @ ("F" | "D"), path, rest @ ..] => {
            let kind = kind.chars().next().expect("one letter");
            let fact = match rest {
                ["missing"] => PathFact::Missing,
                ["other"] => PathFact::Other,
                ["present", mode, owner, group, content] => PathFact::Present(Attributes {
                    mode: u32::from_str_radix(mode, 8).with_context(|| format!("mode {mode:?}"))?,
                    owner: owner.to_string(),
                    group: group.to_string(),
                    content: match (kind, *content) {
                        ('D', _) => Content::None,
                        (_, digest) if digest.len() == 64 && is_secret(resources, path) => {
                            Content::Sha256(digest.to_string())
                        }
                        (_, encoded) => {
                            Content::Bytes(BASE64.decode(encoded).context("file content")?)
                        }
                    },
                }),
                _ => bail!("unexpected fields"),
            };
            facts.paths.insert((kind, path.to_string()), fact);
        }
        ["L", path, target] => {
            let target = (!target.is_empty()).then(|| target.to_string());
            facts.symlinks.insert(path.to_string(), target);
        }
        ["P", name, installed] => {
            facts.packages.insert(name.to_string(), flag(installed)?);
        }
        ["U", name, exists] => {
            facts.users.insert(name.to_string(), flag(exists)?);
        }
        ["S", name, unit_file_state, active_state] => {
            facts.services.insert(
                name.to_string(),
                ServiceFact {
                    unit_file_state: unit_file_state.to_string(),
                    active_state: active_state.to_string(),
                },
            );
        }
        ["R", root, built, current] => {
            facts.releases.insert(
                root.to_string(),
                ReleaseFact {
                    built: flag(built)?,
                    current: (!current.is_empty()).then(|| current.to_string()),
                },
            );
        }
        ["W", connection, user] => {
            let words: Vec<&str> = connection.split(' ').collect();
            facts.login = match words.as_slice() {
                [client, _, _, port] => Some(Login {
                    client: client.parse().context("SSH client address")?,
                    port: port.parse().context("SSH port")?,
                    user: user.to_string(),
                }),
                _ => None,
            };
        }
        ["X", proto, local, rest @ ..] => {
            let (address, port) = local.rsplit_once(':').context("address:port")?;
            let address = address.trim_start_matches('[').trim_end_matches(']');
            let address = address.split('%').next().unwrap_or(address);
            facts.listening.push(Listening {
                proto: proto.to_string(),
                address: match address {
                    "*" | "0.0.0.0" | "::" => None,
                    ip => Some(ip.parse().with_context(|| format!("address {ip:?}"))?),
                },
                port: port.parse().context("port")?,
                process: rest.first().unwrap_or(&"").to_string(),
            });
        }
        ["H", text] => match Handler::parse(text) {
            Some(handler) => facts.pending.push(handler),
            None => bail!("not a handler"),
        },
        ["C", index, satisfied] => {
            let index: usize = index.parse().context("command index")?;
            let Some(Resource::Command(command)) = resources.get(index) else {
                bail!("no command at index {index}");
            };
            facts.guards.insert(command.run.clone(), flag(satisfied)?);
        }
        _ => bail!("not a fact"),
    }
    Ok(())
}

fn is_secret(resources: &[Resource], path: &str) -> bool {
    resources
        .iter()
        .any(|r| matches!(r, Resource::File(f) if f.secret && f.path == path))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Command, File, Package, Service};

    fn file(path: &str, secret: bool) -> Resource {
        Resource::File(File {
            secret,
            ..File::new(path, 0o644, "")
        })
    }

    #[test]
    fn every_kind_of_fact_parses() {
        let resources = vec![
            file("/etc/a b.conf", false),
            file("/etc/key.pem", true),
            Resource::Command(Command {
                unless: Some("nft list table inet deployer".into()),
                creates: None,
                ..Command::creates("reload fw", "")
            }),
        ];
        let digest = "ab".repeat(32);
        let output = format!(
            "F\t/etc/a b.conf\tpresent\t640\troot\twww-data\taGVsbG8K\n\
             F\t/etc/key.pem\tpresent\t600\troot\troot\t{digest}\n\
             F\t/etc/gone\tmissing\n\
             D\t/srv/x\tpresent\t755\tapp\tapp\t-\n\
             D\t/srv/y\tother\n\
             L\t/srv/x/current\t/srv/x/releases/1\n\
             L\t/srv/x/none\t\n\
             P\tnginx\t1\nP\tredis\t0\n\
             U\thello\t1\n\
             S\tnginx.service\tenabled\tactive\n\
             S\tnew@1.service\t\tinactive\n\
             C\t2\t0\n"
        );
        let facts = parse(&output, &resources).unwrap();
        let Some(PathFact::Present(a)) = facts.paths.get(&('F', "/etc/a b.conf".into())) else {
            panic!()
        };
        assert_eq!((a.mode, a.group.as_str()), (0o640, "www-data"));
        assert_eq!(a.content, Content::Bytes(b"hello\n".to_vec()));
        let Some(PathFact::Present(k)) = facts.paths.get(&('F', "/etc/key.pem".into())) else {
            panic!()
        };
        assert_eq!(k.content, Content::Sha256(digest));
        assert_eq!(facts.paths[&('F', "/etc/gone".into())], PathFact::Missing);
        assert_eq!(facts.paths[&('D', "/srv/y".into())], PathFact::Other);
        assert_eq!(
            facts.symlinks["/srv/x/current"].as_deref(),
            Some("/srv/x/releases/1")
        );
        assert_eq!(facts.symlinks["/srv/x/none"], None);
        assert!(facts.packages["nginx"] && !facts.packages["redis"]);
        assert!(facts.users["hello"]);
        assert_eq!(facts.services["new@1.service"].unit_file_state, "");
        assert!(!facts.guards["reload fw"]);
        assert_eq!(facts.digest.len(), 64);
    }

    #[test]
    fn garbage_is_an_error_that_names_the_line() {
        let err = parse("F\t/x\tpresent\tnine\troot\troot\t-\n", &[]).unwrap_err();
        assert!(format!("{err:#}").contains("facts line 1"), "{err:#}");
        assert!(parse("hello\n", &[]).is_err());
    }

    #[test]
    fn the_script_quotes_every_name() {
        let resources = vec![
            file("/etc/it's $(reboot).conf", false),
            Resource::Package(Package {
                name: "nginx".into(),
            }),
            Resource::Service(Service {
                name: "a b`id`.service".into(),
            }),
        ];
        let script = script(&resources, "/var/lib/deployer");
        assert!(
            script.contains(r#"pathfact F '/etc/it'\''s $(reboot).conf' 0"#),
            "{script}"
        );
        assert!(script.contains("servicefact 'a b`id`.service'"), "{script}");
        assert!(script.contains("for p in nginx; do"), "{script}");
    }
}
