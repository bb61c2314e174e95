//! Desired resources against a host's facts: the changes that would make the
//! host match, each with what differs, and the handlers they set off.

use anyhow::{Result, bail};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use similar::TextDiff;

use super::facts::{Attributes, Content, Facts, PathFact, UserFact, hex};
use super::{Handler, MANAGED_MARKER, Mode, NO_LOGIN, Resource, ResourceId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Install,
    Create,
    Update,
    Start,
    Run,
    /// The spec no longer declares it (see `owned`).
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// What changes: in JSON, its `kind` and `target`.
    #[serde(flatten)]
    pub id: ResourceId,
    pub action: Action,
    /// Short lines saying what differs: `mode 0644 -> 0600`, `enable`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Files: a unified diff of the content (never for secret files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// A unit's change: `enable` and/or `start` it, as its details say.
pub const ENABLE: &str = "enable";
pub const START: &str = "start";

impl Change {
    /// Whether this change enables and whether it starts its unit.
    pub fn enables_and_starts(&self) -> (bool, bool) {
        let says = |word: &str| self.details.iter().any(|d| d == word);
        (says(ENABLE), says(START))
    }
}

/// States of a unit file that need no `systemctl enable`.
const ENABLED: &[&str] = &[
    "enabled",
    "enabled-runtime",
    "static",
    "alias",
    "indirect",
    "generated",
];

/// Whether a unit in `state` (its UnitFileState) starts when what wants it
/// does, as `systemctl is-enabled` judges (which also says so of a
/// transient unit, which no unit file of the same name can have).
pub fn is_enabled(state: &str) -> bool {
    ENABLED.contains(&state)
}

/// The changes `resources` need on a host with `facts`, in resource order.
pub fn changes(resources: &[Resource], facts: &Facts) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for resource in resources {
        let id = resource.id();
        let (kind, target) = (id.kind, id.target.as_str());
        let change = |action, details: Vec<String>, diff| Change {
            id: id.clone(),
            action,
            details,
            diff,
        };
        let missing = || bail!("no facts for {kind} {target}: the facts script did not report it");
        let next = match resource {
            Resource::Package(p) => match facts.packages.get(&p.name) {
                Some(true) => None,
                Some(false) => Some(change(Action::Install, vec![], None)),
                None => return missing(),
            },
            Resource::User(u) => match facts.users.get(&u.name) {
                Some(UserFact {
                    account: Some(account),
                    ..
                }) if account.home == u.home && account.shell == NO_LOGIN => None,
                Some(UserFact {
                    account: Some(account),
                    ..
                }) => bail!(
                    "the account `{target}` exists and was not made by deployer (its home is {}, its shell {}): deployer does not take over accounts; rename the app (app.name)",
                    account.home,
                    account.shell
                ),
                Some(UserFact {
                    account: None,
                    group: true,
                }) => bail!(
                    "a group `{target}` exists that deployer did not make: it would become the app's group; rename the app (app.name)"
                ),
                Some(UserFact { account: None, .. }) => Some(change(
                    Action::Create,
                    vec![format!("home {}", u.home)],
                    None,
                )),
                None => return missing(),
            },
            Resource::Dir(d) => match facts.paths.get(&id) {
                Some(PathFact::Missing) => Some(change(
                    Action::Create,
                    vec![attributes(d.mode, &d.owner, &d.group)],
                    None,
                )),
                Some(PathFact::Present(now)) => {
                    let details = attribute_changes(now, d.mode, &d.owner, &d.group);
                    (!details.is_empty()).then(|| change(Action::Update, details, None))
                }
                Some(PathFact::Other) => bail!(
                    "{target} should be a directory, but something else is there; move it away first"
                ),
                None => return missing(),
            },
            Resource::File(f) if f.unit && facts.shadowed.contains_key(&f.path) => bail!(
                "{} is the unit {} too, which deployer did not write: it will not override it; rename the app (app.name) or the worker",
                f.path,
                facts.shadowed[&f.path]
            ),
            Resource::File(f) => match facts.paths.get(&id) {
                Some(PathFact::Missing) => {
                    let diff = (!f.secret).then(|| unified_diff(&f.path, "", &f.content));
                    let mut details = vec![attributes(f.mode, &f.owner, &f.group)];
                    if f.secret {
                        details.push("secret".into());
                    }
                    Some(change(Action::Create, details, diff))
                }
                Some(PathFact::Present(now))
                    if f.unit && !written_by_deployer(&now.content, &f.content) =>
                {
                    bail!(
                        "{target} exists and was not written by deployer: it will not take over a unit it did not make; rename the app (app.name) or the worker, or remove that file"
                    )
                }
                Some(PathFact::Present(now)) => {
                    let mut details = attribute_changes(now, f.mode, &f.owner, &f.group);
                    let diff = match &now.content {
                        Content::Sha256(old)
                            if *old != hex(&Sha256::digest(f.content.as_bytes())) =>
                        {
                            details.push("secret changed".into());
                            None
                        }
                        Content::Bytes(old) if old != f.content.as_bytes() => {
                            match std::str::from_utf8(old) {
                                Ok(old) => Some(unified_diff(&f.path, old, &f.content)),
                                Err(_) => {
                                    details.push(format!(
                                        "replaces {} bytes of binary content",
                                        old.len()
                                    ));
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    (!details.is_empty() || diff.is_some())
                        .then(|| change(Action::Update, details, diff))
                }
                Some(PathFact::Other) => bail!(
                    "{target} should be a file, but something else is there; move it away first"
                ),
                None => return missing(),
            },
            Resource::Symlink(l) => match facts.symlinks.get(&l.path) {
                Some(Some(now)) if *now == l.target => None,
                Some(Some(now)) => Some(change(
                    Action::Update,
                    vec![format!("-> {now} becomes -> {}", l.target)],
                    None,
                )),
                Some(None) => Some(change(
                    Action::Create,
                    vec![format!("-> {}", l.target)],
                    None,
                )),
                None => return missing(),
            },
            Resource::Service(s) => match facts.services.get(&s.name) {
                Some(now) => {
                    let mut details = Vec::new();
                    if !is_enabled(&now.unit_file_state) {
                        details.push(ENABLE.to_string());
                    }
                    if now.active_state != "active" {
                        details.push(START.to_string());
                    }
                    (!details.is_empty()).then(|| change(Action::Start, details, None))
                }
                None => return missing(),
            },
            Resource::Release(r) => match facts.releases.get(&r.root) {
                Some(now) => {
                    let wanted = format!("{}/releases/{}", r.root, r.id);
                    let from = match &now.current {
                        Some(old) => format!(
                            "current: {} -> {}",
                            old.rsplit('/').next().unwrap_or(old),
                            r.id
                        ),
                        None => format!("current -> {}", r.id),
                    };
                    if !now.built {
                        let shipped = format!(
                            "ship {} KiB and build with `{}`",
                            r.archive.len().div_ceil(1024),
                            r.build
                        );
                        Some(change(Action::Create, vec![shipped, from], None))
                    } else if now.current.as_deref() != Some(wanted.as_str()) {
                        Some(change(Action::Update, vec![from], None))
                    } else {
                        None
                    }
                }
                None => return missing(),
            },
            Resource::Command(_) => match facts.satisfied.get(&id) {
                Some(true) => None,
                Some(false) => Some(change(Action::Run, vec![], None)),
                None => return missing(),
            },
        };
        changes.extend(next);
    }
    Ok(changes)
}

/// Handlers the changed files and commands set off, and those an earlier
/// apply left owing, each once: daemon-reload first, then
/// restarts, then reloads. (The converge script skips the restart or reload
/// of a unit it has just started from inactive; a unit a package install
/// started meanwhile still gets it.)
pub fn handlers(resources: &[Resource], changes: &[Change], pending: &[Handler]) -> Vec<Handler> {
    let mut handlers: Vec<Handler> = resources
        .iter()
        .filter(|r| is_changed(r, changes))
        .flat_map(Resource::notify)
        .filter_map(|text| Handler::parse(text))
        .chain(pending.iter().cloned())
        .collect();
    handlers.sort();
    handlers.dedup();
    handlers
}

/// Whether a file's first lines say deployer wrote it.
fn written_by_deployer(content: &Content, desired: &str) -> bool {
    let bytes = match content {
        Content::Bytes(bytes) => bytes,
        // Only a file the same as the desired one sends just its digest.
        Content::Sha256(digest) => return *digest == hex(&Sha256::digest(desired.as_bytes())),
        Content::None => return false,
    };
    let head = &bytes[..bytes.len().min(256)];
    String::from_utf8_lossy(head).contains(MANAGED_MARKER)
}

/// Whether `changes` change `resource`.
pub fn is_changed(resource: &Resource, changes: &[Change]) -> bool {
    change_of(resource, changes).is_some()
}

/// The change `changes` make to `resource`, if any.
pub fn change_of<'a>(resource: &Resource, changes: &'a [Change]) -> Option<&'a Change> {
    let id = resource.id();
    changes.iter().find(|c| c.id == id)
}

fn attributes(mode: Mode, owner: &str, group: &str) -> String {
    format!("mode {mode}, owner {owner}:{group}")
}

fn attribute_changes(now: &Attributes, mode: Mode, owner: &str, group: &str) -> Vec<String> {
    let mut details = Vec::new();
    if now.mode != mode.0 {
        details.push(format!("mode {} -> {mode}", Mode(now.mode)));
    }
    if now.owner != owner || now.group != group {
        details.push(format!(
            "owner {}:{} -> {owner}:{group}",
            now.owner, now.group
        ));
    }
    details
}

pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(path, path)
        .to_string()
}

/// SHA-256 of what `resources` want, so a saved plan can tell whether the
/// spec still renders the same.
pub fn desired_digest(resources: &[Resource]) -> String {
    let mut hasher = Sha256::new();
    for resource in resources {
        hasher.update(serde_json::to_vec(resource).expect("resources serialize"));
        if let Resource::File(f) = resource {
            hasher.update(base64::engine::general_purpose::STANDARD.encode(&f.content));
        }
        hasher.update(b"\n");
    }
    hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::facts::{Account, Attributes, ServiceFact};
    use crate::resource::{Dir, File, Kind, Package, Service, User};

    fn file(content: &str, secret: bool) -> File {
        File {
            notify: vec!["restart app.service".into(), "daemon-reload".into()],
            secret,
            ..File::new("/etc/app.conf", 0o644, content)
        }
    }

    fn file_id(path: &str) -> ResourceId {
        ResourceId {
            kind: Kind::File,
            target: path.into(),
        }
    }

    fn present(content: Content, mode: u32) -> PathFact {
        PathFact::Present(Attributes {
            mode,
            owner: "root".into(),
            group: "root".into(),
            content,
        })
    }

    fn facts_with(path: PathFact) -> Facts {
        let mut facts = Facts::default();
        facts.paths.insert(file_id("/etc/app.conf"), path);
        facts
    }

    #[test]
    fn a_converged_file_needs_nothing() {
        let facts = facts_with(present(Content::Bytes(b"a\n".to_vec()), 0o644));
        assert!(
            changes(&[Resource::File(file("a\n", false))], &facts)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_changed_file_has_a_unified_diff_and_mode_change() {
        let facts = facts_with(present(Content::Bytes(b"a\nb\n".to_vec()), 0o600));
        let changes = changes(&[Resource::File(file("a\nc\n", false))], &facts).unwrap();
        assert_eq!(changes[0].action, Action::Update);
        assert_eq!(changes[0].details, ["mode 0600 -> 0644"]);
        let diff = changes[0].diff.as_deref().unwrap();
        assert!(diff.contains("-b\n+c\n"), "{diff}");
        assert!(
            diff.starts_with("--- /etc/app.conf\n+++ /etc/app.conf\n"),
            "{diff}"
        );
    }

    #[test]
    fn secret_files_show_no_content() {
        let facts = facts_with(present(Content::Sha256("0".repeat(64)), 0o644));
        let changes = changes(&[Resource::File(file("password=hunter2\n", true))], &facts).unwrap();
        assert_eq!(changes[0].details, ["secret changed"]);
        assert_eq!(changes[0].diff, None);
        let same = hex(&Sha256::digest(b"password=hunter2\n"));
        let facts = facts_with(present(Content::Sha256(same), 0o644));
        assert!(
            super::changes(&[Resource::File(file("password=hunter2\n", true))], &facts)
                .unwrap()
                .is_empty()
        );
        let created = super::changes(
            &[Resource::File(file("password=hunter2\n", true))],
            &facts_with(PathFact::Missing),
        )
        .unwrap();
        assert_eq!(created[0].diff, None);
    }

    #[test]
    fn something_in_the_way_is_an_error() {
        let err = changes(
            &[Resource::File(file("x", false))],
            &facts_with(PathFact::Other),
        )
        .unwrap_err();
        assert!(err.to_string().contains("something else is there"));
    }

    #[test]
    fn missing_facts_are_an_error_not_a_change() {
        let err = changes(
            &[Resource::Package(Package {
                name: "nginx".into(),
            })],
            &Facts::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no facts for package nginx"));
    }

    #[test]
    fn dirs_services_and_handlers() {
        let mut facts = facts_with(PathFact::Missing);
        facts.paths.insert(
            ResourceId {
                kind: Kind::Dir,
                target: "/srv/app".into(),
            },
            PathFact::Present(Attributes {
                mode: 0o755,
                owner: "root".into(),
                group: "root".into(),
                content: Content::None,
            }),
        );
        facts.services.insert(
            "app.service".into(),
            ServiceFact {
                unit_file_state: "disabled".into(),
                active_state: "active".into(),
            },
        );
        facts.services.insert(
            "other.service".into(),
            ServiceFact {
                unit_file_state: "enabled".into(),
                active_state: "failed".into(),
            },
        );
        let resources = vec![
            Resource::Dir(Dir {
                path: "/srv/app".into(),
                owner: "app".into(),
                group: "app".into(),
                mode: Mode(0o750),
                data: false,
            }),
            Resource::File(file("new", false)),
            Resource::Service(Service {
                name: "app.service".into(),
            }),
            Resource::Service(Service {
                name: "other.service".into(),
            }),
        ];
        let changes = changes(&resources, &facts).unwrap();
        assert_eq!(
            changes[0].details,
            ["mode 0755 -> 0750", "owner root:root -> app:app"]
        );
        assert_eq!(changes[2].details, ["enable"]);
        assert_eq!(changes[3].details, ["start"]);
        // app.service is running, so the changed file restarts it; daemon-reload comes first.
        assert_eq!(
            handlers(&resources, &changes, &[]),
            [
                Handler::DaemonReload,
                Handler::Restart("app.service".into())
            ]
        );
    }

    #[test]
    fn handlers_are_listed_once_each_in_order() {
        let mut facts = facts_with(PathFact::Missing);
        facts.services.insert(
            "app.service".into(),
            ServiceFact {
                unit_file_state: "".into(),
                active_state: "inactive".into(),
            },
        );
        let resources = vec![
            Resource::File(file("x", false)),
            Resource::File(File {
                path: "/etc/b".into(),
                ..file("y", false)
            }),
            Resource::Service(Service {
                name: "app.service".into(),
            }),
        ];
        facts.paths.insert(file_id("/etc/b"), PathFact::Missing);
        let changes = changes(&resources, &facts).unwrap();
        assert_eq!(
            handlers(&resources, &changes, &[]),
            [
                Handler::DaemonReload,
                Handler::Restart("app.service".into())
            ]
        );
    }

    #[test]
    fn units_and_accounts_deployer_did_not_make_stop_the_plan() {
        let unit = |path: &str| File {
            unit: true,
            ..File::new(path, 0o644, "# Managed by deployer: x\n")
        };
        let foreign = unit("/etc/systemd/system/user@.service");
        let mut facts = Facts::default();
        facts.paths.insert(
            file_id(&foreign.path),
            present(
                Content::Bytes(b"[Unit]\nDescription=someone's\n".to_vec()),
                0o644,
            ),
        );
        let err = changes(&[Resource::File(foreign.clone())], &facts).unwrap_err();
        assert!(
            err.to_string().contains("was not written by deployer"),
            "{err}"
        );

        facts.paths.insert(
            file_id(&foreign.path),
            present(
                Content::Bytes(b"# Managed by deployer: old\n".to_vec()),
                0o644,
            ),
        );
        assert!(changes(&[Resource::File(foreign.clone())], &facts).is_ok());
        facts.shadowed.insert(
            foreign.path.clone(),
            "/lib/systemd/system/user@.service".into(),
        );
        let err = changes(&[Resource::File(foreign)], &facts).unwrap_err();
        assert!(
            err.to_string()
                .contains("/lib/systemd/system/user@.service"),
            "{err}"
        );

        let user = Resource::User(User {
            name: "shop".into(),
            home: "/srv/shop".into(),
        });
        let mut facts = Facts::default();
        let account = |home: &str, shell: &str| {
            Some(Account {
                home: home.into(),
                shell: shell.into(),
            })
        };
        for (account, group, outcome) in [
            (account("/srv/shop", NO_LOGIN), true, "ok"),
            (None, false, "create"),
            (
                account("/home/shop", "/bin/bash"),
                true,
                "was not made by deployer",
            ),
            (None, true, "a group `shop` exists"),
        ] {
            facts
                .users
                .insert("shop".into(), UserFact { account, group });
            match changes(std::slice::from_ref(&user), &facts) {
                Ok(c) if c.is_empty() => assert_eq!(outcome, "ok"),
                Ok(c) => assert_eq!((outcome, c[0].action.clone()), ("create", Action::Create)),
                Err(e) => assert!(e.to_string().contains(outcome), "{e}"),
            }
        }
    }
}
