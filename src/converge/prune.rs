//! The converge's part in taking away what the spec no longer declares
//! (`resource::owned`): units stop, files go (or the files deployer found
//! there come back), symlinks and what commands made go, then the handlers
//! that sets off, then emptied directories; data and the app's account
//! only with `destroy --purge`.

use std::fmt::Write as _;

use crate::dialect::shell::quote;
use crate::release::UPSTREAM_FAIL_TIMEOUT_SECS;
use crate::resource::owned::{self, Owned, Pruning};
use crate::resource::{Handler, Kind};

/// When [`stop_units`] stops a removed unit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before the services start: anything but a web instance nginx may
    /// still send requests to (a pm2 unit giving way to systemd's
    /// instances on its port stops here too).
    BeforeStarts,
    /// At the end, once nginx took the instance out of its upstream.
    Drained,
}

fn drained(owned: &Owned, pruning: &Pruning) -> bool {
    owned
        .undo
        .drains
        .is_some_and(|port| !pruning.wanted_ports.contains(&port))
}

/// Stops and disables the removed units that stop `when`.
pub fn stop_units(body: &mut String, pruning: &Pruning, when: When) {
    let units: Vec<&Owned> = pruning
        .removed
        .iter()
        .filter(|o| o.id.kind == Kind::Service)
        .filter(|o| drained(o, pruning) == (when == When::Drained))
        .collect();
    if units.is_empty() {
        return;
    }
    if when == When::Drained {
        // nginx reloaded with the new upstream: requests it still had in
        // flight to these instances finish first.
        let _ = writeln!(body, "step drain\nsleep {UPSTREAM_FAIL_TIMEOUT_SECS}");
    }
    for owned in units {
        let unit = quote(&owned.id.target);
        let _ = writeln!(
            body,
            "step stop and disable {unit}\nsystemctl disable --now --quiet {unit} 2>/dev/null || systemctl stop {unit} 2>/dev/null || true\nsystemctl reset-failed {unit} 2>/dev/null || true"
        );
    }
}

/// Everything else the removals take, after the handlers of the changes.
pub fn remove(body: &mut String, pruning: &Pruning) {
    if pruning.removed.is_empty() {
        return;
    }
    stop_units(body, pruning, When::Drained);
    let of = |kind: Kind| pruning.removed.iter().filter(move |o| o.id.kind == kind);
    for owned in of(Kind::File).filter(|o| o.undo.unit) {
        // A unit deployer wrote, not yet stopped as a service of its own
        // (a timer's service, a template's file has no unit to stop).
        let name = owned.id.target.rsplit('/').next().unwrap_or_default();
        if name.contains("@.") {
            continue;
        }
        let unit = quote(name);
        let _ = writeln!(
            body,
            "systemctl disable --now --quiet {unit} 2>/dev/null || true"
        );
        if pruning.purge {
            // Its state, cache and logs directories (pm2's home).
            let _ = writeln!(
                body,
                "systemctl clean --what=all {unit} 2>/dev/null || true"
            );
        }
    }
    for owned in of(Kind::File) {
        let path = quote(&owned.id.target);
        if pruning.restored.contains(&owned.id.target) {
            let original = quote(&owned::original_path(&pruning.state_dir, &owned.id.target));
            let _ = writeln!(body, "step put back {path}\nmv -f {original} {path}");
        } else {
            let _ = writeln!(body, "step remove {path}\nrm -f {path}");
        }
        if let Some(effect) = &owned.undo.effect {
            let _ = writeln!(body, "sh -c {}", quote(effect));
        }
    }
    for owned in of(Kind::Symlink) {
        let path = quote(&owned.id.target);
        let _ = writeln!(body, "step remove {path}\n[ ! -L {path} ] || rm -f {path}");
    }
    for owned in of(Kind::Path) {
        let path = quote(&owned.id.target);
        let _ = writeln!(body, "step remove {path}\nrm -rf -- {path}");
    }
    for owned in of(Kind::User) {
        // Its processes are gone with its units; its group goes with it.
        let user = quote(&owned.id.target);
        let _ = writeln!(
            body,
            "step remove user {user}\n! getent passwd {user} >/dev/null || userdel {user}\n! getent group {user} >/dev/null || groupdel {user}"
        );
    }
    for handler in pruning.handlers() {
        // Units that stay pick up what went; inactive ones are left be.
        let line = match handler {
            Handler::DaemonReload => "systemctl daemon-reload".to_string(),
            Handler::Restart(unit) | Handler::TryRestart(unit) => {
                format!("systemctl try-restart {}", quote(&unit))
            }
            Handler::Reload(unit) => {
                format!("systemctl try-reload-or-restart {}", quote(&unit))
            }
        };
        let _ = writeln!(body, "step {line}\n{line}");
    }
    // Deepest first, as `prune` ordered them.
    for owned in of(Kind::Dir) {
        let path = quote(&owned.id.target);
        if owned.undo.data {
            let _ = writeln!(body, "step remove {path}\nrm -rf -- {path}");
        } else {
            // Emptied by the removals above; left if something else came.
            let _ = writeln!(
                body,
                "step remove {path}\nrmdir -- {path} 2>/dev/null || true"
            );
        }
    }
}
