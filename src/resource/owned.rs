//! What deployer made on a host, app by app: the manifest every apply
//! rewrites, and the only list anything is ever removed from. Each entry
//! keeps what taking the thing away involves (handlers, the lockout guard,
//! draining), since by then the spec no longer says.
//!
//! The manifest is `STATE/owned/APP`, one entry per line:
//! `KIND<TAB>TARGET<TAB>SECRET<TAB>JSON`; the facts script's shell reads the
//! first three. A file deployer replaced that it had not made (Debian's
//! nginx.conf) is kept under `STATE/originals/` and put back when deployer's
//! goes.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::diff::{Action, Change, unified_diff};
use super::facts::{Content, Facts, PathFact, hex};
use super::{File, Handler, Kind, Resource, ResourceId};
use crate::dialect::shell::quote;
use crate::protocol::Tag;

/// Where the app's manifest lives under deployer's state directory.
/// A bash test that `$1` names an app's manifest, not what an interrupted
/// write left beside it (`APP.new`): app names as `spec` allows them.
pub const IS_APP_NAME: &str = "[[ $1 =~ ^[a-z][a-z0-9-]*$ ]]";

pub fn manifest_path(state_dir: &str, app: &str) -> String {
    format!("{state_dir}/owned/{app}")
}

/// Where the file that was at `path` before deployer's is kept.
pub fn original_path(state_dir: &str, path: &str) -> String {
    format!("{state_dir}/originals{path}")
}

/// What taking a thing away involves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undo {
    /// Handlers its removal sets off (a file's `notify`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// Files: removed under the lockout guard (the firewall, sshd).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guarded: bool,
    /// Files: run once the file is gone, to undo what it did (the
    /// firewall's table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// Files: a unit file, whose unit stops before it goes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unit: bool,
    /// Kept unless `destroy --purge`: the app's data, its account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub data: bool,
    /// Services: a web instance on this port, taken out of nginx before it
    /// stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drains: Option<u16>,
}

/// One thing deployer made on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub id: ResourceId,
    /// Files: read back by digest only, never shown.
    pub secret: bool,
    pub undo: Undo,
}

impl Owned {
    fn new(kind: Kind, target: &str, undo: Undo) -> Owned {
        Owned {
            id: ResourceId {
                kind,
                target: target.to_string(),
            },
            secret: false,
            undo,
        }
    }
}

/// What `resources` make on a host, one entry per thing, sorted by id.
/// Packages (other things may need them) and releases (data, under a
/// directory of the app's) have none; services only for units whose files
/// deployer writes.
pub fn entries(resources: &[Resource]) -> Vec<Owned> {
    let unit_files: HashSet<&str> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::File(f) if f.unit => f.path.rsplit('/').next(),
            _ => None,
        })
        .collect();
    let deployers_unit = |name: &str| {
        unit_files.contains(name)
            || name.split_once('@').is_some_and(|(prefix, rest)| {
                rest.rsplit_once('.')
                    .is_some_and(|(_, suffix)| unit_files.contains(&*format!("{prefix}@.{suffix}")))
            })
    };
    let web_port = |unit: &str| {
        resources.iter().find_map(|r| match r {
            Resource::Release(release) => {
                release.web.iter().find(|i| i.unit == unit).map(|i| i.port)
            }
            _ => None,
        })
    };
    let mut entries: BTreeMap<ResourceId, Owned> = BTreeMap::new();
    let mut add = |owned: Owned| {
        entries.entry(owned.id.clone()).or_insert(owned);
    };
    for resource in resources {
        match resource {
            Resource::File(f) => add(Owned {
                secret: f.secret,
                ..Owned::new(
                    Kind::File,
                    &f.path,
                    Undo {
                        notify: f.notify.clone(),
                        guarded: f.guarded,
                        effect: f.revert_absent.clone(),
                        unit: f.unit,
                        ..Undo::default()
                    },
                )
            }),
            Resource::Dir(d) => add(Owned::new(
                Kind::Dir,
                &d.path,
                Undo {
                    data: d.data,
                    ..Undo::default()
                },
            )),
            Resource::Symlink(l) => add(Owned::new(Kind::Symlink, &l.path, Undo::default())),
            Resource::Service(s) if deployers_unit(&s.name) => add(Owned::new(
                Kind::Service,
                &s.name,
                Undo {
                    drains: web_port(&s.name),
                    ..Undo::default()
                },
            )),
            Resource::User(u) => add(Owned::new(
                Kind::User,
                &u.name,
                Undo {
                    data: true,
                    ..Undo::default()
                },
            )),
            Resource::Command(c) => {
                for (paths, data) in [(&c.owns, false), (&c.owns_data, true)] {
                    for path in paths {
                        add(Owned::new(
                            Kind::Path,
                            path,
                            Undo {
                                data,
                                ..Undo::default()
                            },
                        ));
                    }
                }
            }
            Resource::Service(_) | Resource::Package(_) | Resource::Release(_) => {}
        }
    }
    entries.into_values().collect()
}

/// The manifest's text for `entries`.
pub fn render(entries: &[Owned]) -> String {
    let mut text = String::new();
    for owned in entries {
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}",
            owned.id.kind,
            owned.id.target,
            u8::from(owned.secret),
            serde_json::to_string(&owned.undo).expect("undo serializes")
        );
    }
    text
}

/// Reads a manifest back.
pub fn parse(text: &str) -> Result<Vec<Owned>> {
    let kinds = [
        Kind::File,
        Kind::Dir,
        Kind::Symlink,
        Kind::Service,
        Kind::User,
        Kind::Path,
    ];
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let read = || -> Result<Owned> {
                let [kind, target, secret, undo] = line.splitn(4, '\t').collect::<Vec<_>>()[..]
                else {
                    bail!("expected four tab-separated fields");
                };
                let kind = *kinds
                    .iter()
                    .find(|k| k.to_string() == kind)
                    .with_context(|| format!("unknown kind {kind:?}"))?;
                Ok(Owned {
                    id: ResourceId {
                        kind,
                        target: target.to_string(),
                    },
                    secret: secret == "1",
                    undo: serde_json::from_str(undo)?,
                })
            };
            read().with_context(|| format!("line {}", n + 1))
        })
        .collect()
}

/// The manifest's own fact, queued for the facts script's `pathfacts`
/// with the digest of the manifest `resources` make alone: on a converged
/// host only that digest comes back, not the text.
pub fn manifest_query(resources: &[Resource], state_dir: &str, app: &str) -> String {
    format!(
        "pathq {} {} 0 {}\n",
        Tag::File,
        quote(&manifest_path(state_dir, app)),
        hex(&Sha256::digest(render(&entries(resources)).as_bytes()))
    )
}

/// The facts of what the manifest lists and `resources` no longer make:
/// bash, after the facts script's helpers. Every such entry gets an
/// [`Tag::Owned`] record (its secrecy, whether an original waits to be put
/// back), then the facts of its kind. An entry that another app's manifest
/// lists too (nginx.conf, the firewall, `/opt/nodejs`) gets a
/// [`Tag::Shared`] record instead: it leaves this app's manifest and stays
/// on the host.
pub fn facts_script(resources: &[Resource], state_dir: &str, app: &str) -> String {
    let manifest = manifest_path(state_dir, app);
    let desired: Vec<String> = entries(resources)
        .iter()
        .map(|o| format!("[{}]=1", quote(&format!("{} {}", o.id.kind, o.id.target))))
        .collect();
    format!(
        r#"declare -A desired=({desired})
# What another app's manifest lists stays while that app needs it.
is_app_name() {{ {is_app_name}; }}
declare -A shared=()
for other in {owned_dir}*; do
  [ -f "$other" ] && [ "$other" != {manifest} ] && is_app_name "${{other##*/}}" || continue
  while IFS=$TAB read -r kind target _; do shared["$kind $target"]=1; done <"$other"
done
if [ -f {manifest} ]; then
  while IFS=$TAB read -r kind target secret _; do
    [ -z "${{desired["$kind $target"]+1}}" ] || continue
    if [ -n "${{shared["$kind $target"]+1}}" ]; then
      printf '{shared_tag}\t%s\t%s\n' "$kind" "$target"
      continue
    fi
    if [ -e {originals}"$target" ]; then original=1; else original=0; fi
    printf '{owned}\t%s\t%s\t%s\t%s\n' "$kind" "$target" "$secret" "$original"
    case $kind in
      {file}) pathfact {file} "$target" "$secret" ;;
      {dir})
        pathfact {dir} "$target"
        if [ -d "$target" ] && [ ! -L "$target" ]; then
          printf '{children}\t%s\t%s\n' "$target" "$(find "$target" -mindepth 1 -maxdepth 1 -printf '%f\0' | base64 -w0)"
        fi ;;
      symlink) linkfact "$target" ;;
      service) servicefact "$target" ;;
      user) userfact "$target" ;;
      path) if [ -e "$target" ] || [ -L "$target" ]; then e=1; else e=0; fi; printf '{exists}\t%s\t%s\n' "$target" "$e" ;;
    esac
  done <{manifest}
fi
"#,
        file = Tag::File,
        dir = Tag::Dir,
        owned = Tag::Owned,
        shared_tag = Tag::Shared,
        children = Tag::Children,
        exists = Tag::Exists,
        manifest = quote(&manifest),
        owned_dir = quote(&manifest_path(state_dir, "")),
        is_app_name = IS_APP_NAME,
        originals = quote(&original_path(state_dir, "")),
        desired = desired.join(" "),
    )
}

/// What leaves a host because the spec no longer declares it, worked out
/// at plan time for the converge.
#[derive(Debug, Clone, Default)]
pub struct Pruning {
    /// deployer's state directory on the host.
    pub state_dir: String,
    /// The manifest's path.
    pub manifest: String,
    /// What goes, each as the manifest recorded it.
    pub removed: Vec<Owned>,
    /// Removed files whose original is put back instead.
    pub restored: HashSet<String>,
    /// Files deployer writes for the first time: whatever is there, unless
    /// deployer wrote it, is kept first.
    pub backups: Vec<String>,
    /// Written before any change, so a failed apply still knows all it
    /// made: what the manifest listed and what the spec adds.
    pub before: Option<String>,
    /// Written once the apply is done: what the host keeps of the app.
    /// `Some("")` removes the manifest.
    pub after: Option<String>,
    /// Web instances still wanted, by port: a removed unit on one of
    /// these ports (pm2 giving way to systemd) stops before the new one
    /// starts, instead of being drained at the end.
    pub wanted_ports: Vec<u16>,
    /// `destroy --purge`: data and the app's account go too.
    pub purge: bool,
}

impl Pruning {
    /// Whether the converge has anything of this to do.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty()
            && self.backups.is_empty()
            && self.before.is_none()
            && self.after.is_none()
    }

    /// The removed files the lockout guard watches over, as files it can
    /// put back.
    pub fn guarded_files(&self) -> Vec<File> {
        self.removed
            .iter()
            .filter(|o| o.id.kind == Kind::File && o.undo.guarded)
            .map(|o| File {
                notify: o.undo.notify.clone(),
                guarded: true,
                revert_absent: o.undo.effect.clone(),
                ..File::new(o.id.target.clone(), 0o600, "")
            })
            .collect()
    }

    /// The handlers the removals set off: daemon-reload for units, and
    /// the reloads and restarts of units that stay.
    pub fn handlers(&self) -> Vec<Handler> {
        let gone: HashSet<&str> = self
            .removed
            .iter()
            .filter_map(|o| match o.id.kind {
                Kind::Service => Some(o.id.target.as_str()),
                Kind::File if o.undo.unit => o.id.target.rsplit('/').next(),
                _ => None,
            })
            .collect();
        let stays = |unit: &str| {
            !gone.contains(unit)
                && !unit.split_once('@').is_some_and(|(prefix, rest)| {
                    rest.rsplit_once('.')
                        .is_some_and(|(_, suffix)| gone.contains(&*format!("{prefix}@.{suffix}")))
                })
        };
        let mut handlers: Vec<Handler> = self
            .removed
            .iter()
            .flat_map(|o| o.undo.notify.iter())
            .filter_map(|text| Handler::parse(text))
            .filter(|h| match h {
                Handler::DaemonReload => true,
                Handler::Restart(unit) | Handler::Reload(unit) | Handler::TryRestart(unit) => {
                    stays(unit)
                }
            })
            .collect();
        if self.removed.iter().any(|o| o.undo.unit) {
            handlers.push(Handler::DaemonReload);
        }
        handlers.sort();
        handlers.dedup();
        handlers
    }
}

/// Whether deployer keeps `owned` although the spec no longer declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Data stays (a spec edit, `destroy`).
    Data,
    /// Everything goes (`destroy --purge`).
    Nothing,
}

/// Compares the manifest on the host with what `resources` make: the
/// removals (as plan changes, each with `why` it goes and, for files, a
/// diff), the manifest's own change, what stays although undeclared, and
/// the rest of what the converge needs.
pub fn prune(
    resources: &[Resource],
    facts: &Facts,
    state_dir: &str,
    app: &str,
    keep: Keep,
    why: &dyn Fn(&ResourceId) -> String,
) -> Result<(Vec<Change>, Vec<String>, Pruning)> {
    let manifest = manifest_path(state_dir, app);
    let manifest_id = ResourceId {
        kind: Kind::File,
        target: manifest.clone(),
    };
    let desired = entries(resources);
    let old_text = match facts.paths.get(&manifest_id) {
        Some(PathFact::Present(now)) => match &now.content {
            Content::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            // What `manifest_query` asked for: the manifest `resources` make.
            Content::Sha256(digest) => {
                let text = render(&desired);
                if *digest != hex(&Sha256::digest(text.as_bytes())) {
                    bail!("{manifest}: the facts script sent a digest, not the manifest");
                }
                text
            }
            Content::None => String::new(),
        },
        Some(PathFact::Missing) => String::new(),
        Some(PathFact::Other) => {
            bail!("{manifest} should be deployer's manifest, but something else is there")
        }
        None => bail!("no facts for {manifest}: the facts script did not report it"),
    };
    let old = parse(&old_text).with_context(|| {
        format!("{manifest}, deployer's record of what it made here, is damaged; move it away to start a new one (nothing will be removed then)")
    })?;
    let desired_ids: HashSet<&ResourceId> = desired.iter().map(|o| &o.id).collect();
    let old_ids: HashSet<&ResourceId> = old.iter().map(|o| &o.id).collect();
    let undeclared: Vec<&Owned> = old
        .iter()
        .filter(|o| !desired_ids.contains(&o.id))
        .filter(|o| {
            !facts
                .shared
                .contains(&format!("{} {}", o.id.kind, o.id.target))
        })
        .collect();

    let mut removed: Vec<&Owned> = Vec::new();
    let mut kept: Vec<(&Owned, String)> = Vec::new();
    let keeps_data = |o: &Owned| keep == Keep::Data && o.undo.data;
    let missing = |o: &Owned| bail!("no facts for {}: the facts script did not report it", o.id);
    // Everything but directories: they go last, once emptied.
    for owned in undeclared.iter().filter(|o| o.id.kind != Kind::Dir) {
        let target = owned.id.target.as_str();
        let present = match owned.id.kind {
            Kind::File => match facts.paths.get(&owned.id) {
                Some(fact) => matches!(fact, PathFact::Present(_)),
                None => return missing(owned),
            },
            Kind::Symlink => match facts.symlinks.get(target) {
                Some(link) => link.is_some(),
                None => return missing(owned),
            },
            Kind::Service => match facts.services.get(target) {
                Some(now) => {
                    !matches!(now.active_state.as_str(), "inactive" | "")
                        || !matches!(
                            now.unit_file_state.as_str(),
                            "disabled" | "" | "static" | "masked"
                        )
                }
                None => return missing(owned),
            },
            Kind::User => match facts.users.get(target) {
                Some(user) => user.account.is_some(),
                None => return missing(owned),
            },
            Kind::Path => match facts.exists.get(target) {
                Some(exists) => *exists,
                None => return missing(owned),
            },
            _ => false,
        };
        if !present {
            continue;
        }
        if keeps_data(owned) {
            kept.push((owned, "data: `deployer destroy --purge` removes it".into()));
        } else {
            removed.push(owned);
        }
    }
    // Directories, deepest first: one goes when all it holds goes too.
    let mut dirs: Vec<&&Owned> = undeclared
        .iter()
        .filter(|o| o.id.kind == Kind::Dir)
        .collect();
    dirs.sort_by_key(|o| std::cmp::Reverse(o.id.target.matches('/').count()));
    for owned in dirs {
        let target = owned.id.target.as_str();
        match facts.paths.get(&owned.id) {
            Some(PathFact::Present(_)) => {}
            Some(_) => continue,
            None => return missing(owned),
        }
        if keeps_data(owned) {
            kept.push((owned, "data: `deployer destroy --purge` removes it".into()));
            continue;
        }
        let emptied = facts.children.get(target).is_none_or(|children| {
            children.iter().all(|child| {
                let path = format!("{target}/{child}");
                removed.iter().any(|r| r.id.target == path)
            })
        });
        if owned.undo.data || emptied {
            removed.push(owned);
        } else {
            let holds_kept = kept
                .iter()
                .any(|(k, _)| k.id.target.starts_with(&format!("{target}/")));
            let reason = if holds_kept {
                "holds what deployer keeps"
            } else {
                "holds files deployer did not make"
            };
            kept.push((owned, reason.into()));
        }
    }

    let mut changes = Vec::new();
    let restored: HashSet<String> = removed
        .iter()
        .filter(|o| o.id.kind == Kind::File && facts.owned_with_original.contains(&o.id.target))
        .map(|o| o.id.target.clone())
        .collect();
    for owned in &removed {
        let mut details = vec![why(&owned.id)];
        let mut diff = None;
        match owned.id.kind {
            Kind::File if restored.contains(&owned.id.target) => {
                details.push("the file that was there before deployer comes back".into());
            }
            Kind::File => {
                if let Some(PathFact::Present(now)) = facts.paths.get(&owned.id)
                    && let Content::Bytes(bytes) = &now.content
                    && !owned.secret
                {
                    diff = std::str::from_utf8(bytes)
                        .ok()
                        .map(|old| unified_diff(&owned.id.target, old, ""));
                }
                if owned.secret {
                    details.push("secret".into());
                }
            }
            Kind::Service => details.push("stop and disable".into()),
            Kind::Dir if owned.undo.data => details.push("with everything in it".into()),
            Kind::Path => details.push("with everything in it".into()),
            _ => {}
        }
        changes.push(Change {
            id: owned.id.clone(),
            action: Action::Remove,
            details,
            diff,
        });
    }

    // The manifest: before any change, all it listed and all the spec
    // adds; once done, what the host keeps of the app.
    let union: BTreeMap<&ResourceId, &Owned> =
        old.iter().chain(&desired).map(|o| (&o.id, o)).collect();
    let before = render(&union.into_values().cloned().collect::<Vec<_>>());
    let after_entries: BTreeMap<&ResourceId, &Owned> = desired
        .iter()
        .chain(kept.iter().map(|(o, _)| *o))
        .map(|o| (&o.id, o))
        .collect();
    let after = render(&after_entries.into_values().cloned().collect::<Vec<_>>());
    if after != old_text {
        let action = match (old_text.is_empty(), after.is_empty()) {
            (true, _) => Action::Create,
            (false, true) => Action::Remove,
            (false, false) => Action::Update,
        };
        changes.push(Change {
            id: manifest_id,
            action,
            details: vec![format!(
                "what deployer made here for {app}: {} entr{}",
                after.lines().count(),
                if after.lines().count() == 1 {
                    "y"
                } else {
                    "ies"
                }
            )],
            diff: None,
        });
    }

    // Files deployer writes for the first time: the converge keeps one it
    // finds there that it did not make (a package may install it in the
    // same apply), to come back when deployer's goes.
    let backups = resources
        .iter()
        .filter_map(|r| match r {
            Resource::File(f) if !old_ids.contains(&r.id()) => Some(f.path.clone()),
            _ => None,
        })
        .collect();
    let wanted_ports = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Release(release) => Some(release.web.iter().map(|i| i.port)),
            _ => None,
        })
        .flatten()
        .collect();
    let manifest_changes = after != old_text;
    let pruning = Pruning {
        state_dir: state_dir.to_string(),
        manifest,
        removed: removed.into_iter().cloned().collect(),
        restored,
        backups,
        before: (manifest_changes && before != old_text).then_some(before.clone()),
        after: (manifest_changes && after != before).then_some(after),
        wanted_ports,
        purge: keep == Keep::Nothing,
    };
    let kept = kept
        .into_iter()
        .map(|(o, reason)| format!("{} ({reason})", o.id))
        .collect();
    Ok((changes, kept, pruning))
}

/// Reads a `children` record's NUL-separated names.
pub fn children(encoded: &str) -> Result<Vec<String>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .context("children")?;
    Ok(bytes
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect())
}

/// The ids of `entries`, for tests and callers that compare manifests.
pub fn ids(entries: &[Owned]) -> BTreeSet<ResourceId> {
    entries.iter().map(|o| o.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Command, Instance, Release, Service};

    fn release_with(web: &[(&str, u16)]) -> Resource {
        Resource::Release(Release {
            id: String::new(),
            root: "/srv/app".into(),
            user: "app".into(),
            build: "true".into(),
            audit: None,
            keep: 3,
            reload: false,
            web: web
                .iter()
                .map(|(unit, port)| Instance {
                    unit: unit.to_string(),
                    address: "127.0.0.1".into(),
                    port: *port,
                })
                .collect(),
            workers: Vec::new(),
            health_path: "/".into(),
            settle_secs: 0,
            startup_secs: 1,
            timeout_secs: 1,
            archive: Vec::new(),
        })
    }

    #[test]
    fn entries_keep_what_removal_needs_and_read_back() {
        let resources = vec![
            Resource::File(File {
                unit: true,
                notify: vec!["daemon-reload".into()],
                ..File::new("/etc/systemd/system/app@.service", 0o644, "")
            }),
            Resource::File(File {
                secret: true,
                ..File::new("/etc/app/secrets.env", 0o600, "")
            }),
            Resource::Service(Service {
                name: "app@3000.service".into(),
            }),
            // A package's unit: deployer starts it, but it is not deployer's.
            Resource::Service(Service {
                name: "nginx.service".into(),
            }),
            Resource::Command(Command {
                owns: vec!["/opt/tool".into()],
                owns_data: vec!["/var/lib/tool/account".into()],
                ..Command::creates("make", "/opt/tool/bin")
            }),
            release_with(&[("app@3000.service", 3000)]),
        ];
        let entries = entries(&resources);
        let text = render(&entries);
        assert_eq!(
            text.lines()
                .map(|l| l.rsplit_once('\t').unwrap().0)
                .collect::<Vec<_>>(),
            [
                "file\t/etc/app/secrets.env\t1",
                "file\t/etc/systemd/system/app@.service\t0",
                "service\tapp@3000.service\t0",
                "path\t/opt/tool\t0",
                "path\t/var/lib/tool/account\t0",
            ]
        );
        assert!(
            text.contains(r#"service	app@3000.service	0	{"drains":3000}"#),
            "{text}"
        );
        assert!(text.contains(r#"{"data":true}"#), "{text}");
        assert_eq!(parse(&text).unwrap(), entries);
        assert!(parse("file\t/x\t0\n").is_err());
        assert!(parse("socket\t/x\t0\t{}\n").is_err());
    }

    #[test]
    fn removals_restart_only_units_that_stay() {
        let owned = |kind, target: &str, notify: &[&str], unit| Owned {
            id: ResourceId {
                kind,
                target: target.into(),
            },
            secret: false,
            undo: Undo {
                notify: notify.iter().map(|s| s.to_string()).collect(),
                unit,
                ..Undo::default()
            },
        };
        let pruning = Pruning {
            removed: vec![
                owned(
                    Kind::File,
                    "/etc/systemd/system/app-jobs@.service",
                    &["daemon-reload", "restart app-jobs@1.service"],
                    true,
                ),
                owned(
                    Kind::File,
                    "/etc/nginx/deployer/app.conf",
                    &["reload nginx.service"],
                    false,
                ),
                owned(Kind::Service, "app@3001.service", &[], false),
                owned(
                    Kind::File,
                    "/etc/deployer/app/extra.env",
                    &["restart app@3001.service", "restart app@3000.service"],
                    false,
                ),
            ],
            ..Pruning::default()
        };
        assert_eq!(
            pruning.handlers(),
            [
                Handler::DaemonReload,
                Handler::Restart("app@3000.service".into()),
                Handler::Reload("nginx.service".into()),
            ]
        );
    }
}
