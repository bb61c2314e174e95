//! Facts: what a host has now, for every resource of its plan, read by ONE
//! script in one round trip. Each line of its output is one fact, a
//! [`protocol`] record.

use std::collections::{HashMap, HashSet};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use super::{Handler, Kind, Resource, ResourceId};
use crate::dialect::shell::quote;
use crate::protocol::{self, Tag};

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
    /// Files: the content, or only its SHA-256 (hex) for secret files and
    /// for files already holding what deployer would write.
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

/// An account on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFact {
    /// `None` when there is no such account.
    pub account: Option<Account>,
    /// A group of the same name exists.
    pub group: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub home: String,
    pub shell: String,
}

/// A release on the host: whether it is built, and where `current` points
/// (read with the symlinks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFact {
    pub built: bool,
    pub current: Option<String>,
}

/// Everything one facts script learned about a host.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// Files and directories.
    pub paths: HashMap<ResourceId, PathFact>,
    pub symlinks: HashMap<String, Option<String>>,
    pub packages: HashMap<String, bool>,
    pub users: HashMap<String, UserFact>,
    /// Unit files deployer writes whose name another unit file has, in
    /// systemd's search path: path -> the other file.
    pub shadowed: HashMap<String, String>,
    pub services: HashMap<String, ServiceFact>,
    /// Commands: whether each one's `unless` or `creates` says the host
    /// needs it not.
    pub satisfied: HashMap<ResourceId, bool>,
    /// Releases by their root directory.
    pub releases: HashMap<String, ReleaseFact>,
    /// Handlers an earlier apply owed when it stopped: files it changed
    /// before failing still need their restarts.
    pub pending: Vec<Handler>,
    /// Files of deployer's manifest that the spec no longer declares and
    /// that are read by digest only.
    pub owned_secret: HashSet<String>,
    /// Such files whose original (from before deployer's) is kept.
    pub owned_with_original: HashSet<String>,
    /// Entries of the manifest that another app's manifest lists too, as
    /// `KIND TARGET`: they stay for that app.
    pub shared: HashSet<String>,
    /// Directories of the manifest: the names each holds.
    pub children: HashMap<String, Vec<String>>,
    /// Paths commands made: whether anything is there.
    pub exists: HashMap<String, bool>,
    /// The SSH connection the facts came through; `None` without SSH.
    pub login: Option<Login>,
    /// Sockets listening for connections (TCP) or datagrams (UDP).
    pub listening: Vec<Listening>,
    /// SHA-256 of the report (the connection aside): a saved plan is stale
    /// when it changes.
    pub digest: String,
}

/// Sockets a plan says nothing about, whoever listens on them (the
/// deploy's exposure report decides): the facts script asks `ss` for the
/// processes behind the sockets (which walks every process's open files)
/// only when another one listens.
#[derive(Debug, Clone, Default)]
pub struct Unreported {
    /// Every socket: no report at all.
    pub everything: bool,
    /// Addresses, besides loopback.
    pub addresses: Vec<std::net::IpAddr>,
    /// `(protocol, port)`, on any address.
    pub ports: Vec<(&'static str, u16)>,
}

impl Unreported {
    /// A bash `case` pattern matching `PROTOCOL/ADDRESS:PORT`, as `ss`
    /// prints a socket, for every socket left unreported.
    fn pattern(&self) -> String {
        if self.everything {
            return "*".into();
        }
        let addresses = self.addresses.iter().map(|ip| match ip {
            std::net::IpAddr::V4(ip) => format!("*/{}:*", quote(&ip.to_string())),
            std::net::IpAddr::V6(ip) => format!("*/{}:*", quote(&format!("[{ip}]"))),
        });
        let ports = self
            .ports
            .iter()
            .map(|(proto, port)| format!("{}/*:{port}", quote(proto)));
        ["*/127.*".to_string(), format!("*/{}:*", quote("[::1]"))]
            .into_iter()
            .chain(addresses)
            .chain(ports)
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// A listening socket, as `ss` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// `tcp` or `udp`.
    pub proto: String,
    /// `None`: every address (`0.0.0.0`, `::`, `*`).
    pub address: Option<std::net::IpAddr>,
    pub port: u16,
    /// The process, e.g. `users:(("sshd",pid=33,fd=3))`; empty when no
    /// socket needed one named ([`Unreported`]).
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

/// Before a file's digest in place of its content: the file holds what
/// deployer would write. Not in base64's alphabet.
const SAME_AS_DESIRED: &str = "sha256:";

/// Where systemd finds unit files besides /etc/systemd/system, where
/// deployer writes its own: the runtime, local and vendor directories.
pub const OTHER_UNIT_DIRS: &str =
    "/run/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system";

/// Shell functions that print one fact each.
fn helpers() -> String {
    format!(
        r#"export LC_ALL=C
TAB=$'\t'
# pathfact TAG PATH [SECRET [WANT]]: a file or a directory; SECRET=1 for a
# digest only, as for a file whose digest is WANT (see pathfacts)
pathfact() {{
  tag=$1 path=$2 secret=${{3:-0}} want=${{4:-}}
  if [ -L "$path" ]; then printf '%s\t%s\tother\n' "$tag" "$path"; return; fi
  if {{ [ "$tag" = {file} ] && [ -f "$path" ]; }} || {{ [ "$tag" = {dir} ] && [ -d "$path" ]; }}; then
    printf '%s\t%s\tpresent\t%s\t' "$tag" "$path" "$(stat -c "%a$TAB%U$TAB%G" -- "$path")"
    if [ "$tag" = {dir} ]; then printf -- '-'
    elif [ "$secret" = 1 ]; then sha256sum <"$path" | cut -d' ' -f1 | tr -d '\n'
    elif [ -n "$want" ] && [ "$(sha256sum <"$path" | cut -d' ' -f1)" = "$want" ]; then printf 'sha256:%s' "$want"
    else base64 -w0 <"$path"; fi
    printf '\n'
  elif [ -e "$path" ]; then printf '%s\t%s\tother\n' "$tag" "$path"
  else printf '%s\t%s\tmissing\n' "$tag" "$path"; fi
}}
# pathq TAG PATH SECRET WANT: queues a path for pathfacts; WANT is the
# SHA-256 of the file deployer would write (empty for directories)
pq_tag=() pq_path=() pq_secret=() pq_want=()
pathq() {{ pq_tag+=("$1"); pq_path+=("$2"); pq_secret+=("$3"); pq_want+=("${{4:-}}"); }}
# pathfacts: what pathfact prints for each queued path, with one stat and
# one sha256sum for them all; a file whose digest is WANT sends only that
# (sha256:HEX, not base64, so the two cannot be confused). A path that
# changes while it is read makes the counts differ: then one at a time.
pathfacts() {{
  local i n=${{#pq_path[@]}} path tag s=0 f=0 state=() present=() files=() stats=() sums=()
  for ((i = 0; i < n; i++)); do
    path=${{pq_path[i]}} tag=${{pq_tag[i]}}
    if [ -L "$path" ]; then state[i]=other
    elif {{ [ "$tag" = {file} ] && [ -f "$path" ]; }} || {{ [ "$tag" = {dir} ] && [ -d "$path" ]; }}; then
      state[i]=present
      present+=("$path")
      if [ "$tag" = {file} ]; then files+=("$path"); fi
    elif [ -e "$path" ]; then state[i]=other
    else state[i]=missing; fi
  done
  if [ ${{#present[@]}} -gt 0 ]; then mapfile -t stats < <(stat -c "%a$TAB%U$TAB%G" -- "${{present[@]}}" 2>/dev/null); fi
  if [ ${{#files[@]}} -gt 0 ]; then
    # A name with a backslash or newline puts a backslash first.
    mapfile -t sums < <(sha256sum -- "${{files[@]}}" 2>/dev/null)
    sums=("${{sums[@]#\\}}") && sums=("${{sums[@]%% *}}")
  fi
  if [ ${{#stats[@]}} -ne ${{#present[@]}} ] || [ ${{#sums[@]}} -ne ${{#files[@]}} ]; then
    for ((i = 0; i < n; i++)); do pathfact "${{pq_tag[i]}}" "${{pq_path[i]}}" "${{pq_secret[i]}}" "${{pq_want[i]}}"; done
    return
  fi
  for ((i = 0; i < n; i++)); do
    path=${{pq_path[i]}} tag=${{pq_tag[i]}}
    if [ "${{state[i]}}" != present ]; then printf '%s\t%s\t%s\n' "$tag" "$path" "${{state[i]}}"; continue; fi
    printf '%s\t%s\tpresent\t%s\t' "$tag" "$path" "${{stats[s]}}"
    s=$((s + 1))
    if [ "$tag" = {dir} ]; then printf -- '-'
    else
      if [ "${{pq_secret[i]}}" = 1 ]; then printf '%s' "${{sums[f]}}"
      elif [ "${{sums[f]}}" = "${{pq_want[i]}}" ]; then printf 'sha256:%s' "${{sums[f]}}"
      else base64 -w0 <"$path"; fi
      f=$((f + 1))
    fi
    printf '\n'
  done
}}
linkfact() {{
  if [ -L "$1" ]; then printf '{link}\t%s\t%s\n' "$1" "$(readlink -- "$1")"; else printf '{link}\t%s\t\n' "$1"; fi
}}
# linkq PATH: queues a symlink for linkfacts
lq_path=()
linkq() {{ lq_path+=("$1"); }}
# linkfacts: what linkfact prints for each queued link, with one readlink
# for them all; when it answers with another count (a link changed, or a
# target holds a newline), one at a time.
linkfacts() {{
  local i n=${{#lq_path[@]}} t=0 link=() links=() targets=()
  for ((i = 0; i < n; i++)); do
    if [ -L "${{lq_path[i]}}" ]; then link[i]=1 && links+=("${{lq_path[i]}}"); else link[i]=0; fi
  done
  if [ ${{#links[@]}} -gt 0 ]; then mapfile -t targets < <(readlink -- "${{links[@]}}" 2>/dev/null); fi
  if [ ${{#targets[@]}} -ne ${{#links[@]}} ]; then
    for ((i = 0; i < n; i++)); do linkfact "${{lq_path[i]}}"; done
    return
  fi
  for ((i = 0; i < n; i++)); do
    if [ "${{link[i]}}" = 1 ]; then
      printf '{link}\t%s\t%s\n' "${{lq_path[i]}}" "${{targets[t]}}"
      t=$((t + 1))
    else
      printf '{link}\t%s\t\n' "${{lq_path[i]}}"
    fi
  done
}}
# entryof DATABASE NAME: NAME's line in /etc/DATABASE into $entry, or
# getent's (NSS: LDAP, systemd's dynamic users) for a name it lacks
entryof() {{
  local line
  entry=
  {{ while IFS= read -r line || [ -n "$line" ]; do
    case $line in "$2":*) entry=$line && return 0 ;; esac
  done </etc/"$1"; }} 2>/dev/null
  entry=$(getent "$1" "$2") || entry=
}}
# userfact NAME: exists, home, shell, and whether a group NAME exists
userfact() {{
  local entry group=0
  entryof group "$1"; [ -z "$entry" ] || group=1
  entryof passwd "$1"
  if [ -n "$entry" ]; then
    # Past the first five fields: home, then shell.
    rest=${{entry#*:*:*:*:*:}}
    printf '{user}\t%s\t1\t%s\t%s\t%s\n' "$1" "${{rest%%:*}}" "${{rest#*:}}" "$group"
  else
    printf '{user}\t%s\t0\t\t\t%s\n' "$1" "$group"
  fi
}}
# unitfact PATH: a unit of PATH's name elsewhere in systemd's search path
unitfact() {{
  name=${{1##*/}}
  for dir in {unit_dirs}; do
    if [ -e "$dir/$name" ] && [ "$(readlink -f "$dir/$name")" != "$(readlink -f "$1")" ]; then
      printf '{shadowed}\t%s\t%s\n' "$1" "$dir/$name"
      return
    fi
  done
}}
# servicefact NAME...: each unit's UnitFileState and ActiveState, from one
# systemctl (a block per unit, in the order asked, a blank line between);
# when it answers for fewer units than asked (it stopped part-way), one
# call per unit; a unit it says nothing of gets empty states.
servicefact() {{
  local line state= active= block=0 states=() i=0 name
  while IFS= read -r line || [ $block = 1 ]; do
    case $line in
      '') if [ $block = 1 ]; then states+=("$state/$active"); fi; state= active= block=0 ;;
      UnitFileState=*) state=${{line#UnitFileState=}} block=1 ;;
      ActiveState=*) active=${{line#ActiveState=}} block=1 ;;
      *) block=1 ;;
    esac
  done < <(systemctl show --property=UnitFileState --property=ActiveState -- "$@" 2>/dev/null)
  if [ $# -gt 1 ] && [ ${{#states[@]}} -ne $# ]; then
    for name in "$@"; do servicefact "$name"; done
    return
  fi
  for name in "$@"; do
    if [ $i -lt ${{#states[@]}} ]; then
      printf '{service}\t%s\t%s\t%s\n' "$name" "${{states[i]%%/*}}" "${{states[i]#*/}}"
    else
      printf '{service}\t%s\t\t\n' "$name"
    fi
    i=$((i + 1))
  done
}}
# releasefact ROOT ID: whether release ID is built; where ROOT/current
# points, linkfacts says
releasefact() {{
  if [ -e "$1/releases/$2/.deployer-built" ]; then built=1; else built=0; fi
  printf '{release}\t%s\t%s\n' "$1" "$built"
  linkq "$1/current"
}}
satisfiedfact() {{ printf '{satisfied}\t%s\t%s\n' "$1" "$2"; }}
"#,
        file = Tag::File,
        dir = Tag::Dir,
        link = Tag::Link,
        user = Tag::User,
        service = Tag::Service,
        release = Tag::Release,
        satisfied = Tag::Satisfied,
        shadowed = Tag::Shadowed,
        unit_dirs = OTHER_UNIT_DIRS,
    )
}

/// Where a converge records the handlers it owes until they have run.
pub fn pending_handlers(state_dir: &str) -> String {
    format!("{state_dir}/handlers.pending")
}

/// The one script that reads every resource's facts, the handlers an
/// earlier apply left owing (kept in `state_dir`), what `app`'s manifest
/// lists that `resources` no longer make, the state of `units` (with
/// the resources' own, one systemctl for all), and the listening sockets
/// (their processes when one is not `unreported`).
pub fn script(
    resources: &[Resource],
    state_dir: &str,
    app: &str,
    units: &[&str],
    unreported: &Unreported,
) -> String {
    let mut script = helpers();
    script.push_str(&format!(
        "printf '{}\\t%s\\t%s\\n' \"${{SSH_CONNECTION:-}}\" \"${{SUDO_USER:-${{USER:-$(id -un)}}}}\"\n",
        Tag::Login
    ));
    script.push_str(&format!(
        r#"if command -v ss >/dev/null; then
  sockets=() named=0
  while read -r netid _ _ _ address _; do
    sockets+=("$netid$TAB$address")
    case $netid/$address in {unreported}) ;; *) named=1 ;; esac
  done < <(ss -Hltun)
  if [ $named = 1 ]; then
    ss -Hltunp | while read -r netid _ _ _ address _ process _; do printf '{tag}\t%s\t%s\t%s\n' "$netid" "$address" "$process"; done
  else
    for socket in "${{sockets[@]}}"; do printf '{tag}\t%s\t\n' "$socket"; done
  fi
fi
"#,
        unreported = unreported.pattern(),
        tag = Tag::Listening
    ));
    script.push_str(&format!(
        "if [ -f {pending} ]; then while IFS= read -r h; do printf '{tag}\\t%s\\n' \"$h\"; done <{pending}; fi\n",
        pending = quote(&pending_handlers(state_dir)),
        tag = Tag::Pending,
    ));
    let (mut packages, mut services, mut links) = (Vec::new(), Vec::new(), false);
    for (index, resource) in resources.iter().enumerate() {
        let line = match resource {
            Resource::Package(p) => {
                packages.push(quote(&p.name));
                continue;
            }
            Resource::User(u) => format!("userfact {}", quote(&u.name)),
            Resource::Dir(d) => format!("pathq {} {} 0", Tag::Dir, quote(&d.path)),
            Resource::File(f) => {
                let mut line = format!(
                    "pathq {} {} {} {}",
                    Tag::File,
                    quote(&f.path),
                    u8::from(f.secret),
                    hex(&Sha256::digest(f.content.as_bytes()))
                );
                if f.unit {
                    line.push_str(&format!("\nunitfact {}", quote(&f.path)));
                }
                line
            }
            Resource::Symlink(l) => {
                links = true;
                format!("linkq {}", quote(&l.path))
            }
            Resource::Service(s) => {
                services.push(quote(&s.name));
                continue;
            }
            Resource::Command(c) => format!(
                "if {} </dev/null >/dev/null 2>&1; then satisfiedfact {index} 1; else satisfiedfact {index} 0; fi",
                c.unless_test()
            ),
            Resource::Release(r) => {
                links = true;
                format!("releasefact {} {}", quote(&r.root), quote(&r.id))
            }
        };
        script.push_str(&line);
        script.push('\n');
    }
    script.push_str(&super::owned::manifest_query(resources, state_dir, app));
    script.push_str("pathfacts\n");
    if links {
        script.push_str("linkfacts\n");
    }
    for unit in units {
        let unit = quote(unit);
        if !services.contains(&unit) {
            services.push(unit);
        }
    }
    if !services.is_empty() {
        script.push_str(&format!("servicefact {}\n", services.join(" ")));
    }
    if !packages.is_empty() {
        // One dpkg-query for all (each call reads dpkg's whole database);
        // a name it does not know goes to stderr and counts as not installed.
        script.push_str(&format!(
            "installed=' '\nwhile read -r status name; do case $status in ii*) installed+=\"$name \" ;; esac; done < <(dpkg-query -W -f='${{db:Status-Abbrev}}${{Package}}\\n' -- {names} 2>/dev/null)\nfor p in {names}; do\n  case $installed in *\" $p \"*) printf '{tag}\\t%s\\t1\\n' \"$p\" ;; *) printf '{tag}\\t%s\\t0\\n' \"$p\" ;; esac\ndone\n",
            names = packages.join(" "),
            tag = Tag::Package,
        ));
    }
    script.push_str(&super::owned::facts_script(resources, state_dir, app));
    script
}

/// Reads a facts report. `resources` gives commands their ids back;
/// `units`: those [`script`] was asked about besides.
pub fn parse(output: &str, resources: &[Resource], units: &[&str]) -> Result<Facts> {
    let mut digest = Sha256::new();
    // Who connected and what listens change from run to run: a saved plan
    // goes stale only over what deployer manages, not over the units asked
    // about for a refusal's sake either (the apply reads them again).
    let changing = |line: &&str| {
        protocol::record(line).is_some_and(|r| match r.tag {
            Tag::Login | Tag::Listening => true,
            Tag::Service => r.fields.first().is_some_and(|n| units.contains(n)),
            _ => false,
        })
    };
    for line in output.lines().filter(|l| !changing(l)) {
        digest.update(line.as_bytes());
        digest.update(b"\n");
    }
    let mut facts = Facts {
        digest: hex(&digest.finalize()),
        ..Facts::default()
    };
    for (number, line) in output.lines().enumerate() {
        parse_line(&mut facts, line, resources)
            .with_context(|| format!("facts line {}: {line:?}", number + 1))?;
    }
    for (root, release) in &mut facts.releases {
        release.current = facts
            .symlinks
            .get(&format!("{root}/current"))
            .cloned()
            .flatten();
    }
    Ok(facts)
}

fn parse_line(facts: &mut Facts, line: &str, resources: &[Resource]) -> Result<()> {
    let flag = |f: &str| match f {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => bail!("expected 0 or 1, got {f:?}"),
    };
    let Some(record) = protocol::record(line) else {
        bail!("not a fact");
    };
    match (record.tag, record.fields.as_slice()) {
        (tag @ (Tag::File | Tag::Dir), [path, rest @ ..]) => {
            let kind = if tag == Tag::Dir {
                Kind::Dir
            } else {
                Kind::File
            };
            let fact = match rest {
                ["missing"] => PathFact::Missing,
                ["other"] => PathFact::Other,
                ["present", mode, owner, group, content] => PathFact::Present(Attributes {
                    mode: u32::from_str_radix(mode, 8).with_context(|| format!("mode {mode:?}"))?,
                    owner: owner.to_string(),
                    group: group.to_string(),
                    content: match (kind, *content) {
                        (Kind::Dir, _) => Content::None,
                        (_, unchanged) if unchanged.starts_with(SAME_AS_DESIRED) => {
                            Content::Sha256(unchanged[SAME_AS_DESIRED.len()..].to_string())
                        }
                        (_, digest)
                            if digest.len() == 64
                                && (is_secret(resources, path)
                                    || facts.owned_secret.contains(*path)) =>
                        {
                            Content::Sha256(digest.to_string())
                        }
                        (_, encoded) => {
                            Content::Bytes(BASE64.decode(encoded).context("file content")?)
                        }
                    },
                }),
                _ => bail!("unexpected fields"),
            };
            let id = ResourceId {
                kind,
                target: path.to_string(),
            };
            facts.paths.insert(id, fact);
        }
        (Tag::Link, [path, target]) => {
            let target = (!target.is_empty()).then(|| target.to_string());
            facts.symlinks.insert(path.to_string(), target);
        }
        (Tag::Package, [name, installed]) => {
            facts.packages.insert(name.to_string(), flag(installed)?);
        }
        (Tag::User, [name, exists, home, shell, group]) => {
            let account = flag(exists)?.then(|| Account {
                home: home.to_string(),
                shell: shell.to_string(),
            });
            let group = flag(group)?;
            facts
                .users
                .insert(name.to_string(), UserFact { account, group });
        }
        (Tag::Shadowed, [path, other]) => {
            facts.shadowed.insert(path.to_string(), other.to_string());
        }
        (Tag::Service, [name, unit_file_state, active_state]) => {
            facts.services.insert(
                name.to_string(),
                ServiceFact {
                    unit_file_state: unit_file_state.to_string(),
                    active_state: active_state.to_string(),
                },
            );
        }
        (Tag::Release, [root, built]) => {
            facts.releases.insert(
                root.to_string(),
                ReleaseFact {
                    built: flag(built)?,
                    current: None,
                },
            );
        }
        (Tag::Login, [connection, user]) => {
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
        (Tag::Listening, [proto, local, rest @ ..]) => {
            let (address, port) = local.rsplit_once(':').context("address:port")?;
            // `0.0.0.0%eth0`, `[fe80::1]%eth0`: the interface goes first.
            let address = address.split('%').next().unwrap_or(address);
            let address = address.trim_start_matches('[').trim_end_matches(']');
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
        (Tag::Pending, [text]) => match Handler::parse(text) {
            Some(handler) => facts.pending.push(handler),
            None => bail!("not a handler"),
        },
        (Tag::Owned, [_kind, target, secret, original]) => {
            if flag(secret)? {
                facts.owned_secret.insert(target.to_string());
            }
            if flag(original)? {
                facts.owned_with_original.insert(target.to_string());
            }
        }
        (Tag::Shared, [kind, target]) => {
            facts.shared.insert(format!("{kind} {target}"));
        }
        (Tag::Children, [dir, names]) => {
            facts
                .children
                .insert(dir.to_string(), super::owned::children(names)?);
        }
        (Tag::Exists, [path, exists]) => {
            facts.exists.insert(path.to_string(), flag(exists)?);
        }
        (Tag::Satisfied, [index, satisfied]) => {
            let index: usize = index.parse().context("command index")?;
            let Some(command @ Resource::Command(_)) = resources.get(index) else {
                bail!("no command at index {index}");
            };
            facts.satisfied.insert(command.id(), flag(satisfied)?);
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
    use crate::resource::{Command, Dir, File, Mode, Package, Service};

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
            "file\t/etc/a b.conf\tpresent\t640\troot\twww-data\taGVsbG8K\n\
             file\t/etc/key.pem\tpresent\t600\troot\troot\t{digest}\n\
             file\t/etc/gone\tmissing\n\
             dir\t/srv/x\tpresent\t755\tapp\tapp\t-\n\
             dir\t/srv/y\tother\n\
             release\t/srv/x\t1\n\
             link\t/srv/x/current\t/srv/x/releases/1\n\
             link\t/srv/x/none\t\n\
             package\tnginx\t1\npackage\tredis\t0\n\
             user\thello\t1\t/srv/hello\t/usr/sbin/nologin\t1\n\
             service\tnginx.service\tenabled\tactive\n\
             service\tnew@1.service\t\tinactive\n\
             satisfied\t2\t0\n\
             owned\tfile\t/etc/old.key\t1\t1\n\
             file\t/etc/old.key\tpresent\t600\troot\troot\t{digest}\n\
             children\t/srv/x\tYQBiIGMA\n\
             exists\t/opt/tool\t1\n\
             listening\tudp\t[fe80::fc:ff:fe00:1]%eth0:546\t\n\
             listening\tudp\t0.0.0.0%eth0:68\t\n\
             listening\ttcp\t[::1]:3000\tusers:((\"node\",pid=9,fd=3))\n"
        );
        let facts = parse(&output, &resources, &[]).unwrap();
        let id = |kind, target: &str| ResourceId {
            kind,
            target: target.into(),
        };
        let Some(PathFact::Present(a)) = facts.paths.get(&id(Kind::File, "/etc/a b.conf")) else {
            panic!()
        };
        assert_eq!((a.mode, a.group.as_str()), (0o640, "www-data"));
        assert_eq!(a.content, Content::Bytes(b"hello\n".to_vec()));
        let Some(PathFact::Present(k)) = facts.paths.get(&id(Kind::File, "/etc/key.pem")) else {
            panic!()
        };
        assert_eq!(k.content, Content::Sha256(digest));
        assert_eq!(facts.paths[&id(Kind::File, "/etc/gone")], PathFact::Missing);
        assert_eq!(facts.paths[&id(Kind::Dir, "/srv/y")], PathFact::Other);
        assert_eq!(
            facts.symlinks["/srv/x/current"].as_deref(),
            Some("/srv/x/releases/1")
        );
        assert_eq!(facts.symlinks["/srv/x/none"], None);
        // Sockets, an interface's scope and brackets aside.
        let sockets: Vec<(&str, Option<String>, u16, &str)> = facts
            .listening
            .iter()
            .map(|s| {
                let address = s.address.map(|a| a.to_string());
                (s.proto.as_str(), address, s.port, s.process.as_str())
            })
            .collect();
        assert_eq!(
            sockets,
            [
                ("udp", Some("fe80::fc:ff:fe00:1".into()), 546, ""),
                ("udp", None, 68, ""),
                (
                    "tcp",
                    Some("::1".into()),
                    3000,
                    "users:((\"node\",pid=9,fd=3))"
                ),
            ]
        );
        // A release's `current` is read as a link.
        assert_eq!(
            facts.releases["/srv/x"],
            ReleaseFact {
                built: true,
                current: Some("/srv/x/releases/1".into())
            }
        );
        assert!(facts.packages["nginx"] && !facts.packages["redis"]);
        assert!(facts.users["hello"].account.is_some());
        assert_eq!(facts.services["new@1.service"].unit_file_state, "");
        assert!(!facts.satisfied[&id(Kind::Command, "reload fw")]);
        // A secret file only the manifest knows is read by digest too.
        let Some(PathFact::Present(old)) = facts.paths.get(&id(Kind::File, "/etc/old.key")) else {
            panic!()
        };
        assert!(matches!(old.content, Content::Sha256(_)));
        assert!(facts.owned_with_original.contains("/etc/old.key"));
        assert_eq!(facts.children["/srv/x"], ["a", "b c"]);
        assert!(facts.exists["/opt/tool"]);
        assert_eq!(facts.digest.len(), 64);
    }

    #[test]
    fn garbage_is_an_error_that_names_the_line() {
        let err = parse("file\t/x\tpresent\tnine\troot\troot\t-\n", &[], &[]).unwrap_err();
        assert!(format!("{err:#}").contains("facts line 1"), "{err:#}");
        assert!(parse("hello\n", &[], &[]).is_err());
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
        let script = script(
            &resources,
            "/var/lib/deployer",
            "app",
            &[],
            &Unreported::default(),
        );
        assert!(
            script.contains(r#"pathq file '/etc/it'\''s $(reboot).conf' 0 e3b0c442"#),
            "{script}"
        );
        assert!(script.contains("servicefact 'a b`id`.service'"), "{script}");
        assert!(script.contains("for p in nginx; do"), "{script}");
    }

    /// Services are read with one systemctl, here a stand-in that answers
    /// as systemd does: a block per unit asked, in order. One that stops
    /// part-way is asked again unit by unit.
    #[test]
    fn services_are_read_at_once() {
        let (once, calls) = read_services(false);
        assert_eq!(calls, 1);
        let expected = [("enabled", "active"), ("", "inactive"), ("", "inactive")]
            .map(|(s, a)| (s.to_string(), a.to_string()));
        assert_eq!(once, expected);
        let (again, calls) = read_services(true);
        assert_eq!(calls, 4);
        assert_eq!(once, again);
    }

    /// The facts script of `resources`, with no state directory.
    fn script_of(resources: &[Resource], units: &[&str], unreported: &Unreported) -> String {
        script(
            resources,
            "/nonexistent/deployer-state",
            "app",
            units,
            unreported,
        )
    }

    /// What the facts script reports of `resources` on this machine.
    fn facts_here(resources: &[Resource], unreported: &Unreported) -> Facts {
        let script = script_of(resources, &[], unreported);
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        parse(&String::from_utf8(out.stdout).unwrap(), resources, &[]).unwrap()
    }

    /// `ss` is asked for the processes behind the sockets only when a
    /// socket the plan may report listens: here one of this test's own, on
    /// every address.
    #[test]
    fn processes_are_named_only_for_sockets_that_may_be_reported() {
        let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ours = |unreported: &Unreported| {
            let facts = facts_here(&[], unreported);
            let socket = facts
                .listening
                .iter()
                .find(|s| s.proto == "tcp" && s.port == port && s.address.is_none());
            socket.expect("the test's socket is listed").process.clone()
        };
        let named = ours(&Unreported::default());
        assert!(
            named.contains(&format!("pid={},", std::process::id())),
            "{named}"
        );
        let everything = Unreported {
            everything: true,
            ..Unreported::default()
        };
        assert_eq!(ours(&everything), "");
        let unreported = Unreported {
            everything: false,
            addresses: vec!["10.0.0.10".parse().unwrap(), "fd00::10".parse().unwrap()],
            ports: vec![("tcp", 22), ("udp", 68)],
        };
        assert_eq!(
            unreported.pattern(),
            "*/127.*|*/'[::1]':*|*/10.0.0.10:*|*/'[fd00::10]':*|tcp/*:22|udp/*:68"
        );
        drop(listener);
    }

    /// Accounts come from /etc/passwd and /etc/group as getent would give
    /// them; a name those lack is asked of getent, and is no account here.
    #[test]
    fn accounts_are_read_from_the_files_first() {
        let users: Vec<Resource> = ["root", "deployer-no-such-user"]
            .iter()
            .map(|name| {
                Resource::User(crate::resource::User {
                    name: name.to_string(),
                    home: String::new(),
                })
            })
            .collect();
        let facts = facts_here(&users, &Unreported::default());
        let getent = |db: &str| {
            let out = std::process::Command::new("getent")
                .args([db, "root"])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        let root = getent("passwd");
        let fields: Vec<&str> = root.trim_end().split(':').collect();
        assert_eq!(
            facts.users["root"],
            UserFact {
                account: Some(Account {
                    home: fields[5].to_string(),
                    shell: fields[6].to_string(),
                }),
                group: !getent("group").is_empty(),
            }
        );
        assert_eq!(
            facts.users["deployer-no-such-user"],
            UserFact {
                account: None,
                group: false
            }
        );
    }

    /// A unit asked about only for a refusal's sake leaves the digest a
    /// saved plan compares as it is, whatever its state.
    #[test]
    fn units_asked_about_stay_out_of_the_digest() {
        let digest = |state: &str, units: &[&str]| {
            let output = format!(
                "{}nftables.service\tenabled\t{state}\n",
                Tag::Service.prefix()
            );
            let facts = parse(&output, &[], units).unwrap();
            assert_eq!(facts.services["nftables.service"].active_state, state);
            facts.digest
        };
        let asked = ["nftables.service"];
        assert_eq!(digest("active", &asked), digest("inactive", &asked));
        assert_ne!(digest("active", &[]), digest("inactive", &[]));
    }

    /// The services' facts through a stand-in systemctl (`fails`: it stops
    /// after the first unit when asked for several), and how often it ran.
    fn read_services(fails: bool) -> (Vec<(String, String)>, usize) {
        let dir = tempfile::TempDir::new().unwrap();
        let systemctl = dir.path().join("systemctl");
        let stops = if fails {
            "[ $# -gt 1 ] && [ -n \"$sep\" ] && exit 1\n  "
        } else {
            ""
        };
        std::fs::write(
            &systemctl,
            format!("#!/bin/sh\necho \"$*\" >>\"$0.calls\"\nshift 4\nsep=\nfor u in \"$@\"; do\n  {stops}printf \"$sep\"; sep='\\n'\n  case $u in\n    nginx.service) printf 'UnitFileState=enabled\\nActiveState=active\\n' ;;\n    *) printf 'ActiveState=inactive\\nUnitFileState=\\n' ;;\n  esac\ndone\n"),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .args(["+x"])
            .arg(&systemctl)
            .status()
            .unwrap();
        let names = ["nginx.service", "gone.service", "other.service"];
        // The last unit is no resource's: it is asked about for a plan's
        // sake (one named twice is asked once).
        let resources: Vec<Resource> = names[..2]
            .iter()
            .map(|n| {
                Resource::Service(Service {
                    name: n.to_string(),
                })
            })
            .collect();
        let units = ["other.service", "nginx.service"];
        let script = script_of(&resources, &units, &Unreported::default());
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .env("PATH", path)
            .output()
            .unwrap();
        let facts = parse(&String::from_utf8(out.stdout).unwrap(), &resources, &units).unwrap();
        let calls = std::fs::read_to_string(dir.path().join("systemctl.calls")).unwrap();
        let states = names
            .iter()
            .map(|n| {
                let fact = &facts.services[*n];
                (fact.unit_file_state.clone(), fact.active_state.clone())
            })
            .collect();
        (states, calls.lines().count())
    }

    /// Paths are read with one stat and one sha256sum: a file that holds
    /// what deployer would write sends its digest, any other its content,
    /// a secret its digest; a backslash (which sha256sum escapes) survives,
    /// and so does everything after a check that reads its stdin. With a sha256sum that
    /// answers for fewer files than asked, each path is read alone, to the
    /// same facts.
    #[test]
    fn paths_are_read_at_once_and_only_changed_files_send_content() {
        let dir = tempfile::TempDir::new().unwrap();
        let at = |name: &str| format!("{}/{name}", dir.path().display());
        let (same, changed, secret) = (at("same"), at("odd \\ name.conf"), at("key"));
        std::fs::write(&same, "kept\n").unwrap();
        std::fs::write(&changed, "old\n").unwrap();
        std::fs::write(&secret, "s3cret").unwrap();
        std::os::unix::fs::symlink(&same, at("link")).unwrap();
        let resources = vec![
            // A check that reads its input reads nothing of the script.
            Resource::Command(Command {
                unless: Some("cat >/dev/null".into()),
                creates: None,
                ..Command::creates("read stdin", "")
            }),
            Resource::File(File::new(&same, 0o644, "kept\n")),
            Resource::File(File::new(&changed, 0o644, "new\n")),
            Resource::File(File {
                secret: true,
                ..File::new(&secret, 0o600, "other")
            }),
            Resource::File(File::new(at("link"), 0o644, "")),
            Resource::File(File::new(at("missing"), 0o644, "")),
            Resource::Dir(Dir {
                path: dir.path().display().to_string(),
                owner: "root".into(),
                group: "root".into(),
                mode: Mode(0o755),
                data: false,
            }),
        ];
        let read = |stand_in: Option<&str>| {
            let bin = tempfile::TempDir::new().unwrap();
            if let Some(body) = stand_in {
                let tool = bin.path().join("sha256sum");
                std::fs::write(&tool, body).unwrap();
                std::fs::set_permissions(
                    &tool,
                    std::os::unix::fs::PermissionsExt::from_mode(0o755),
                )
                .unwrap();
            }
            let path = format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap()
            );
            // On stdin, as a host's shell reads it.
            let mut bash = std::process::Command::new("bash")
                .arg("-s")
                .env("PATH", path)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let script = script_of(&resources, &[], &Unreported::default());
            std::io::Write::write_all(&mut bash.stdin.take().unwrap(), script.as_bytes()).unwrap();
            let out = bash.wait_with_output().unwrap();
            parse(&String::from_utf8(out.stdout).unwrap(), &resources, &[]).unwrap()
        };
        let id = |kind: Kind, path: &str| ResourceId {
            kind,
            target: path.to_string(),
        };
        let content = |facts: &Facts, path: &str| match &facts.paths[&id(Kind::File, path)] {
            PathFact::Present(a) => a.content.clone(),
            other => panic!("{path}: {other:?}"),
        };
        let facts = read(None);
        let digest = |text: &str| hex(&Sha256::digest(text.as_bytes()));
        assert_eq!(content(&facts, &same), Content::Sha256(digest("kept\n")));
        assert_eq!(content(&facts, &changed), Content::Bytes(b"old\n".to_vec()));
        assert_eq!(content(&facts, &secret), Content::Sha256(digest("s3cret")));
        assert_eq!(facts.paths[&id(Kind::File, &at("link"))], PathFact::Other);
        assert_eq!(
            facts.paths[&id(Kind::File, &at("missing"))],
            PathFact::Missing
        );
        let PathFact::Present(attributes) =
            &facts.paths[&id(Kind::Dir, &dir.path().display().to_string())]
        else {
            panic!("the directory");
        };
        assert_eq!(attributes.content, Content::None);

        let one_at_a_time = read(Some(
            "#!/bin/sh\n# Answers for the first file only.\n[ $# -gt 2 ] && set -- \"$1\" \"$2\"\nexec /usr/bin/sha256sum \"$@\"\n",
        ));
        // The same facts either way: a saved plan's digest does not move.
        assert_eq!(one_at_a_time.digest, facts.digest);
        assert_eq!(
            content(&one_at_a_time, &same),
            Content::Sha256(digest("kept\n"))
        );
        assert_eq!(
            content(&one_at_a_time, &changed),
            Content::Bytes(b"old\n".to_vec())
        );
        assert_eq!(
            content(&one_at_a_time, &secret),
            Content::Sha256(digest("s3cret"))
        );
    }

    /// Packages are read with one dpkg-query, here against this machine's.
    #[test]
    fn packages_are_read_at_once() {
        let names = ["bash", "deployer-no-such-package", "coreutils"];
        let resources: Vec<Resource> = names
            .iter()
            .map(|n| {
                Resource::Package(Package {
                    name: n.to_string(),
                })
            })
            .collect();
        let script = script_of(&resources, &[], &Unreported::default());
        assert_eq!(script.matches("dpkg-query").count(), 1, "{script}");
        let facts = facts_here(&resources, &Unreported::default());
        assert!(facts.packages["bash"] && facts.packages["coreutils"]);
        assert!(!facts.packages["deployer-no-such-package"]);
    }
}
