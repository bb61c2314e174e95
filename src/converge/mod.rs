//! The script that converges a host: one round trip, fed on stdin (so file
//! contents never appear in a process list), run by bash as root.
//!
//! Order, by kind: packages, users, directories, symlinks, files (all staged
//! and checked first, then renamed into place), daemon-reload, the release,
//! services, restarts and reloads, commands. Commands marked `before_files`
//! run just before the files, so that the checks see what they make; those
//! marked `before_release` just after daemon-reload, so that they see the
//! files and the release's build sees what they make. Every step is
//! idempotent, so a rerun after a failure finishes the job. The body sits in a function called on the last
//! line: a script cut short in transit runs nothing. [`detached`] runs it
//! apart from the SSH session, so a dropped connection does not stop a host
//! halfway (say, in the middle of a package install).

mod prune;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::dialect::shell::{BASE64_END, base64_lines, heredoc_marker, quote};
use crate::protocol::Tag;
use crate::release::script as release_steps;
use crate::resource::diff::{self, Action, Change, change_of};
use crate::resource::owned::{self, Pruning};
use crate::resource::{
    Check, File, Handler, Kind, MANAGED_MARKER, Mode, NO_LOGIN, Phase, Resource, facts,
};
use crate::safety::lock::Lease;
use crate::safety::lockout::{self, LockoutGuard};

/// Every converge script's start: strict bash, a private staging directory,
/// and `step WHAT`, which renews the lock and reports progress.
fn prelude() -> String {
    format!(
        r#"set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
umask 077
stage=$(mktemp -d)
trap 'rm -rf "$stage"; release_lock' EXIT
step() {{ renew_lock; printf '{step}\t%s\n' "$*"; }}
started=" "
# Units this script restarted or reloaded: handlers asking no more leave them be.
restarted=" "
reloaded=" "
# Runs a check with a staged copy of a directory mounted over the live one.
shadowed() {{
  unshare --mount --propagation private sh -euc 'mount --bind "$1" "$2"; exec sh -c "$3"' sh "$@"
}}
"#,
        step = Tag::Step
    )
}

/// The converge script for `changes` (from `resources`) and `handlers`,
/// and for what `pruning` takes away, holding the deploy lock `lock`
/// throughout and releasing it at the end.
pub fn script(
    resources: &[Resource],
    changes: &[Change],
    handlers: &[Handler],
    lock: &Lease,
    guard: &LockoutGuard,
    pruning: &Pruning,
) -> String {
    let changed = |r: &Resource| change_of(r, changes);
    let mut body = String::new();
    body.push_str(&lock.functions());
    body.push_str(&prelude());
    if let Some(before) = &pruning.before {
        write_manifest(&mut body, &pruning.manifest, before);
    }
    // Handlers are recorded as owed before the changes that call for them
    // and forgotten once they have run: a run that stops halfway leaves
    // them to the next one.
    let pending = quote(&facts::pending_handlers(&lock.state_dir));
    let owe = |handlers: &[Handler]| -> String {
        if handlers.is_empty() {
            return String::new();
        }
        let list: Vec<String> = handlers.iter().map(|h| quote(&h.notify_text())).collect();
        format!(
            // Two commands, not `a && b`: `set -e` ignores a failure left of `&&`.
            "printf '%s\\n' {} >{pending}.new\nmv -f {pending}.new {pending}\n",
            list.join(" ")
        )
    };

    let packages: Vec<String> = resources
        .iter()
        .filter(|r| matches!(r, Resource::Package(_)) && changed(r).is_some())
        .map(|r| quote(&r.id().target))
        .collect();
    if !packages.is_empty() {
        let list = packages.join(" ");
        let _ = writeln!(body, "step install {list}");
        // Unattended upgrades may hold dpkg's lock for a while: wait for it.
        body.push_str("apt-get update -qq -o DPkg::Lock::Timeout=600\n");
        let _ = writeln!(
            body,
            "apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold {list} >/dev/null"
        );
    }
    for resource in resources.iter().filter(|r| changed(r).is_some()) {
        match resource {
            Resource::User(u) => {
                let _ = writeln!(body, "step create user {}", quote(&u.name));
                let _ = writeln!(
                    body,
                    "getent passwd {name} >/dev/null || useradd --system --user-group --no-create-home --home-dir {home} --shell {shell} {name}",
                    name = quote(&u.name),
                    home = quote(&u.home),
                    shell = NO_LOGIN
                );
            }
            Resource::Dir(d) => {
                let _ = writeln!(body, "step directory {}", quote(&d.path));
                let _ = writeln!(
                    body,
                    "install -d {} {}",
                    ownership(d.mode, &d.owner, &d.group),
                    quote(&d.path)
                );
            }
            Resource::Symlink(l) => {
                let (path, temp) = (quote(&l.path), quote(&format!("{}.deployer-new", l.path)));
                let _ = writeln!(body, "step symlink {path}");
                // As files: the directory it goes in is made if need be.
                let _ = writeln!(
                    body,
                    "[ -d {parent} ] || install -d -m 0755 {parent}\nln -sfn {} {temp}\nmv -Tf {temp} {path}",
                    quote(&l.target),
                    parent = quote(parent_dir(&l.path)),
                );
            }
            _ => {}
        }
    }
    let early: Vec<&Resource> = resources
        .iter()
        .filter(|r| {
            matches!(r, Resource::Command(c) if c.phase() == Phase::BeforeFiles)
                && changed(r).is_some()
        })
        .collect();
    let early_handlers = diff::handlers(
        resources,
        &early
            .iter()
            .filter_map(|r| changed(r).cloned())
            .collect::<Vec<_>>(),
        &[],
    );
    body.push_str(&owe(&early_handlers));
    write_commands(&mut body, resources, &changed, Phase::BeforeFiles);
    let removed_guarded = pruning.guarded_files();
    let guarded: Vec<&File> = lockout::changed_files(resources, changes)
        .into_iter()
        .chain(&removed_guarded)
        .collect();
    let arm = if guarded.is_empty() {
        String::new()
    } else {
        guard.arm(&guarded)
    };
    write_files(
        &mut body,
        resources,
        &changed,
        &(owe(handlers) + &arm),
        pruning,
    );
    prune::stop_units(&mut body, pruning, prune::When::BeforeStarts);
    if handlers.contains(&Handler::DaemonReload) {
        body.push_str("step systemctl daemon-reload\nsystemctl daemon-reload\n");
    }
    let before_release = resources.iter().any(|r| {
        matches!(r, Resource::Command(c) if c.phase() == Phase::BeforeRelease)
            && changed(r).is_some()
    });
    if before_release {
        // Their handlers too are owed before they run (no file may have changed).
        body.push_str(&owe(handlers));
        write_commands(&mut body, resources, &changed, Phase::BeforeRelease);
    }
    let release = resources.iter().find_map(|r| match r {
        Resource::Release(release) => Some((r, release)),
        _ => None,
    });
    if let Some((resource, release)) = release {
        body.push_str(&release_steps::functions(release));
        if changed(resource).is_some() {
            release_steps::go_live(&mut body, release);
        }
    }
    for change in changes
        .iter()
        .filter(|c| c.id.kind == Kind::Service && c.action == Action::Start)
    {
        let unit = quote(&change.id.target);
        let (enable, start) = change.enables_and_starts();
        let _ = writeln!(body, "step {} {unit}", change.details.join(" and "));
        if start {
            // A unit that failed before (its cause since fixed) may sit in
            // systemd's start limit, which refuses a plain start. One this
            // script starts from inactive needs no restart or reload after;
            // one a package install started meanwhile (with its stock
            // configuration) does.
            let _ = writeln!(
                body,
                "systemctl is-active --quiet {unit} || started=\"$started \"{unit}\" \"\nsystemctl reset-failed {unit} 2>/dev/null || true"
            );
        }
        match (enable, start) {
            (true, true) => writeln!(body, "systemctl enable --now --quiet {unit}"),
            (true, false) => writeln!(body, "systemctl enable --quiet {unit}"),
            _ => writeln!(body, "systemctl start {unit}"),
        }
        .expect("writing to a String");
    }
    let web = release.map_or(&[][..], |(_, r)| r.web.as_slice());
    for instance in web {
        // Started by this script from inactive: it must answer before we go on.
        let _ = writeln!(
            body,
            "case \"$started\" in *\" \"{unit}\" \"*) step check {unit}; checked {unit} {address} {port} || exit 1 ;; esac",
            unit = quote(&instance.unit),
            address = quote(&instance.address),
            port = instance.port
        );
    }
    for handler in handlers {
        // A restart is owed unless this script restarted the unit (a reload
        // keeps the process, say pm2 on an old Node.js); a reload either way.
        let (verb, unit, done) = match handler {
            Handler::DaemonReload => continue,
            Handler::Restart(unit) => ("restart", unit, "$started$restarted"),
            Handler::Reload(unit) => ("reload", unit, "$started$restarted$reloaded"),
            Handler::TryRestart(unit) => ("try-restart", unit, "$started$restarted"),
        };
        if let Some(instance) = web.iter().find(|i| &i.unit == unit) {
            // Web instances restart (or reload) one at a time, each answering before the next.
            let _ = writeln!(
                body,
                "case \"{done}\" in *\" \"{unit}\" \"*) ;; *) step {verb} {unit}; cycle {verb} {unit} {address} {port} || exit 1 ;; esac",
                unit = quote(unit),
                address = quote(&instance.address),
                port = instance.port
            );
            continue;
        }
        let unit = quote(unit);
        let _ = writeln!(
            body,
            "case \"{done}\" in *\" \"{unit}\" \"*) ;; *) step {verb} {unit}; systemctl {verb} {unit} ;; esac"
        );
    }
    prune::remove(&mut body, pruning);
    if !handlers.is_empty() {
        let _ = writeln!(body, "rm -f {pending}");
    }
    write_commands(&mut body, resources, &changed, Phase::Last);
    if !guarded.is_empty() {
        body.push_str(&guard.await_confirmation());
    }
    if let Some(after) = &pruning.after {
        write_manifest(&mut body, &pruning.manifest, after);
    }
    body.push_str("step done\n");
    format!("main() {{\n{body}}}\nmain\n")
}

/// Wraps a converge script so that it runs detached from the connection
/// (`setsid`, output to `STATE/apply/`), while the connection follows its
/// output. The script, which may hold secrets, is unlinked once open. If the connection drops, the host finishes or fails on its own,
/// records its exit status and log there, and frees the lock.
pub fn detached(script: &str, state_dir: &str) -> String {
    let dir = quote(&format!("{state_dir}/apply"));
    // Carried by a here-document whose end no line of the script can be.
    let marker = heredoc_marker(script);
    format!(
        r#"main() {{
set -eu
mkdir -p -m 0700 {state}
rm -rf {dir}
mkdir -m 0700 {dir}
(umask 077 && cat >{dir}/script) <<'{marker}'
{script}{marker}
setsid bash -c 'exec 3<"$1/script" && rm -f "$1/script" && bash /dev/fd/3 >"$1/out" 2>"$1/err" </dev/null; echo $? >"$1/status"' deployer {dir} </dev/null >/dev/null 2>&1 &
tail -s 0.1 -n +1 -F --pid=$! {dir}/out 2>/dev/null || true
cat {dir}/err >&2
exit "$(cat {dir}/status)"
}}
main
"#,
        state = quote(state_dir),
    )
}

/// The commands of `phase` that the host needs (their `unless` or `creates` said so).
fn write_commands<'a>(
    body: &mut String,
    resources: &'a [Resource],
    changed: &dyn Fn(&Resource) -> Option<&'a Change>,
    phase: Phase,
) {
    for resource in resources {
        if let (Resource::Command(c), Some(change)) = (resource, changed(resource)) {
            if c.phase() != phase {
                continue;
            }
            debug_assert_eq!(change.action, Action::Run);
            let _ = writeln!(body, "step run {}", quote(&change.id.target));
            let _ = writeln!(
                body,
                "{} >/dev/null 2>&1 || sh -c {}",
                c.unless_test(),
                quote(&c.run)
            );
        }
    }
}

/// Stages every changed file, runs each check once over all the files it
/// judges, and only then renames them into place, each with owner and mode.
fn write_files<'a>(
    body: &mut String,
    resources: &'a [Resource],
    changed: &dyn Fn(&Resource) -> Option<&'a Change>,
    before_renames: &str,
    pruning: &Pruning,
) {
    let files: Vec<&File> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::File(f) if changed(r).is_some() => Some(f),
            _ => None,
        })
        .collect();
    if files.is_empty() {
        body.push_str(before_renames);
        return;
    }
    // File i is staged as "$stage"/i/NAME: its own name, for checks that care.
    let staged = |i: usize| format!("\"$stage\"/{i}/{}", quote(basename(&files[i].path)));
    body.push_str("step stage files\n");
    for (i, file) in files.iter().enumerate() {
        let _ = writeln!(
            body,
            "mkdir \"$stage\"/{i}\nbase64 -d >{} <<'{BASE64_END}'\n{}\n{BASE64_END}",
            staged(i),
            base64_lines(file.content.as_bytes())
        );
    }
    let mut checks: BTreeMap<(String, Option<String>, String), Vec<usize>> = BTreeMap::new();
    for (i, file) in files.iter().enumerate() {
        if let Some(check @ Check { run, shadow, .. }) = &file.check {
            checks
                .entry((run.clone(), shadow.clone(), check.label().to_string()))
                .or_default()
                .push(i);
        }
    }
    for (n, ((run, shadow, label), members)) in checks.iter().enumerate() {
        let _ = writeln!(body, "step check {}", quote(label));
        match shadow {
            Some(dir) => {
                let copy = format!("\"$stage\"/shadow{n}");
                let _ = writeln!(
                    body,
                    "if [ -d {d} ]; then cp -a {d} {copy}; else mkdir {copy}; fi",
                    d = quote(dir)
                );
                for &i in members {
                    let file = files[i];
                    let relative = file
                        .path
                        .strip_prefix(&format!("{dir}/"))
                        .unwrap_or(&file.path);
                    let _ = writeln!(
                        body,
                        "install -D -m {} {} {copy}/{}",
                        file.mode,
                        staged(i),
                        quote(relative)
                    );
                }
                let command = format!("shadowed {copy} {} {}", quote(dir), quote(run));
                let _ = writeln!(body, "{}", judged(&command, label));
            }
            None => {
                for &i in members {
                    let _ = writeln!(body, "{}", judged(&run.replace("{}", &staged(i)), label));
                }
            }
        }
    }
    body.push_str(before_renames);
    for (i, file) in files.iter().enumerate() {
        let path = quote(&file.path);
        let temp = quote(&format!("{}.deployer-new", file.path));
        let parent = quote(parent_dir(&file.path));
        let _ = writeln!(body, "step write {path}");
        let _ = writeln!(body, "[ -d {parent} ] || install -d -m 0755 {parent}");
        if pruning.backups.contains(&file.path) {
            // What deployer did not make (no marker in its first lines) is
            // kept, to come back when deployer's goes.
            let original = owned::original_path(&pruning.state_dir, &file.path);
            let _ = writeln!(
                body,
                "if [ -f {path} ] && [ ! -e {o} ] && ! head -c 256 {path} | grep -q {marker}; then install -d -m 0700 {dir} && cp -a {path} {o}; fi",
                o = quote(&original),
                dir = quote(original.rsplit_once('/').map_or("/", |(d, _)| d)),
                marker = quote(MANAGED_MARKER),
            );
        }
        let _ = writeln!(
            body,
            "install {} {} {temp}\nmv -f {temp} {path}",
            ownership(file.mode, &file.owner, &file.group),
            staged(i)
        );
    }
}

/// Replaces the manifest at `path` with `text` (atomically, root-only);
/// removes it when `text` is empty.
fn write_manifest(body: &mut String, path: &str, text: &str) {
    let file = quote(path);
    if text.is_empty() {
        let _ = writeln!(body, "step forget {file}\nrm -f {file}");
        return;
    }
    let temp = quote(&format!("{path}.new"));
    let _ = writeln!(
        body,
        "step record {file}\ninstall -d -m 0700 {dir}\nbase64 -d >{temp} <<'{BASE64_END}'\n{}\n{BASE64_END}\nchmod 0600 {temp}\nmv -f {temp} {file}",
        base64_lines(text.as_bytes()),
        dir = quote(path.rsplit_once('/').map_or("/", |(d, _)| d)),
    );
}

/// The directory `path` is in.
fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/')
        .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p })
}

/// A check whose failure stops the script. Explicit, because `set -e`
/// ignores a failing command that a check might write as `! grep ...`.
/// The command stands on lines of its own: a check may be a script, whose
/// last line may be a comment.
fn judged(command: &str, label: &str) -> String {
    format!(
        "if ! (\n{command}\n); then echo {} >&2; exit 1; fi",
        quote(&format!(
            "deployer: check `{label}` refused the new files; nothing was replaced"
        ))
    )
}

/// `-m MODE -o OWNER -g GROUP` for `install`.
fn ownership(mode: Mode, owner: &str, group: &str) -> String {
    format!("-m {mode} -o {} -g {}", quote(owner), quote(group))
}

/// The last component of an absolute path.
fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{ResourceId, Service};

    #[test]
    fn a_unit_is_reset_before_it_is_started() {
        let resources = vec![Resource::Service(Service {
            name: "app@1.service".into(),
        })];
        let changes = vec![Change {
            id: ResourceId {
                kind: Kind::Service,
                target: "app@1.service".into(),
            },
            action: Action::Start,
            details: vec!["enable".into(), "start".into()],
            diff: None,
        }];
        let lease = Lease::new("/var/lib/deployer", 60);
        let handlers = [
            Handler::Reload("app@1.service".into()),
            Handler::Restart("it's.service".into()),
        ];
        let guard = LockoutGuard::permissive(&lease.state_dir);
        let script = script(
            &resources,
            &changes,
            &handlers,
            &lease,
            &guard,
            &Pruning::default(),
        );
        let syntax = std::process::Command::new("bash")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(
            syntax.status.success(),
            "{}",
            String::from_utf8_lossy(&syntax.stderr)
        );
        assert!(script.contains(r#"case "$started$restarted$reloaded" in *" "app@1.service" "*) ;; *) step reload app@1.service; systemctl reload app@1.service ;; esac"#), "{script}");
        assert!(script.contains(r#"case "$started$restarted" in *" "'it'\''s.service'" "*) ;; *) step restart 'it'\''s.service'; systemctl restart 'it'\''s.service' ;; esac"#), "a reload does not stand in for a restart: {script}");
        let reset = script
            .find("systemctl reset-failed app@1.service")
            .expect("reset-failed");
        let start = script
            .find("systemctl enable --now --quiet app@1.service")
            .expect("start");
        assert!(reset < start, "{script}");
        assert!(
            script.trim_end().ends_with("main"),
            "the body runs only once fully received"
        );
    }
}
