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

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::diff::{Action, Change};
use super::facts;
use super::guard::Guard;
use super::{Check, File, Handler, Phase, Release, Resource};
use crate::lock;
use crate::release::history;
use crate::shell::quote;

/// Lines the script prints on stdout to report progress: `STEP<TAB>what`.
pub const STEP: &str = "STEP\t";

const PRELUDE: &str = r#"set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
umask 077
stage=$(mktemp -d)
trap 'rm -rf "$stage"; release_lock' EXIT
step() { renew_lock; printf 'STEP\t%s\n' "$*"; }
started=" "
# Units this script restarted or reloaded: handlers asking no more leave them be.
restarted=" "
reloaded=" "
# Runs a check with a staged copy of a directory mounted over the live one.
shadowed() {
  unshare --mount --propagation private sh -euc 'mount --bind "$1" "$2"; exec sh -c "$3"' sh "$@"
}
"#;

/// The converge script for `changes` (from `resources`) and `handlers`,
/// holding the deploy lock `lock` throughout and releasing it at the end.
pub fn script(
    resources: &[Resource],
    changes: &[Change],
    handlers: &[Handler],
    lock: &lock::Lease,
    guard: &Guard,
) -> String {
    let changed = |r: &Resource| {
        let (kind, target) = r.label();
        changes
            .iter()
            .find(|c| c.kind == kind && c.target == target)
    };
    let mut body = String::new();
    body.push_str(&lock.functions());
    body.push_str(PRELUDE);
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
            "printf '%s\\n' {} >{pending}.new && mv -f {pending}.new {pending}\n",
            list.join(" ")
        )
    };

    let packages: Vec<String> = resources
        .iter()
        .filter(|r| matches!(r, Resource::Package(_)) && changed(r).is_some())
        .map(|r| quote(r.label().1))
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
                    "getent passwd {name} >/dev/null || useradd --system --user-group --no-create-home --home-dir {home} --shell /usr/sbin/nologin {name}",
                    name = quote(&u.name),
                    home = quote(&u.home)
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
                let _ = writeln!(
                    body,
                    "ln -sfn {} {temp} && mv -Tf {temp} {path}",
                    quote(&l.target)
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
    let early_handlers = super::diff::handlers(
        resources,
        &early
            .iter()
            .filter_map(|r| changed(r).cloned())
            .collect::<Vec<_>>(),
        &[],
    );
    body.push_str(&owe(&early_handlers));
    write_commands(&mut body, resources, &changed, Phase::BeforeFiles);
    let guarded = super::guard::changed_files(resources, changes);
    let arm = if guarded.is_empty() {
        String::new()
    } else {
        guard.arm(&guarded)
    };
    write_files(&mut body, resources, &changed, &(owe(handlers) + &arm));
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
        body.push_str(&release_functions(release));
        if changed(resource).is_some() {
            write_release(&mut body, release);
        }
    }
    for change in changes.iter().filter(|c| c.kind == "service") {
        let unit = quote(&change.target);
        let enable = change.details.iter().any(|d| d == "enable");
        let start = change.details.iter().any(|d| d == "start");
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
    if !handlers.is_empty() {
        let _ = writeln!(body, "rm -f {pending}");
    }
    write_commands(&mut body, resources, &changed, Phase::Last);
    if !guarded.is_empty() {
        body.push_str(&guard.await_confirmation());
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
    let marker = "DEPLOYER_CONVERGE_SCRIPT";
    debug_assert!(!script.lines().any(|l| l == marker));
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

/// Shell functions for releases: health checks, checked restarts, switching
/// `current`, and the rollback a failed check sets off.
fn release_functions(release: &Release) -> String {
    format!(
        r#"release_root={root}
# healthy ADDRESS PORT: the instance answers the health path with 2xx in time.
healthy() {{
  local end=$((SECONDS + {startup})) status
  while [ "$SECONDS" -lt "$end" ]; do
    status=$(timeout {timeout} bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$3" >&3 && head -n 1 <&3' health "$1" "$2" {path} 2>/dev/null) || status=
    case "$status" in "HTTP/1."?" 2"*) return 0 ;; esac
    sleep 0.5
  done
  return 1
}}
# checked UNIT ADDRESS PORT: the unit answers its health check, or says why.
checked() {{
  healthy "$2" "$3" && return 0
  echo "deployer: $1 did not answer "{path}" on $2:$3 with 2xx within {startup}s; see: journalctl -u $1" >&2
  return 1
}}
# cycle VERB UNIT ADDRESS PORT: restarts or reloads a web unit and waits for
# its check, then long enough for load balancers to take it back.
cycle() {{
  systemctl "$1" "$2" || {{ echo "deployer: systemctl $1 $2 failed; see: journalctl -u $2" >&2; return 1; }}
  case "$1" in restart) restarted="$restarted $2 " ;; *) reloaded="$reloaded $2 " ;; esac
  shift
  checked "$@" && sleep {settle}
}}
switch_to() {{
  ln -sfn "$1" "$release_root/current.new" && mv -Tf "$release_root/current.new" "$release_root/current"
}}
# roll UNIT ADDRESS PORT: puts a running instance on the new release; if it
# fails its check, everything goes back to the previous release.
roll() {{
  systemctl is-active --quiet "$1" || return 0
  step {verb} "$1"
  cycle {verb} "$@" && return 0
  # Marked failed, keeping the time it went live.
  went_live=$(stat -c %Y "$rel")
  touch "$rel/"{failed}
  touch -d "@$went_live" "$rel"
  if [ -n "$previous" ]; then
    switch_to "$previous"
    touch "$previous"
    for unit in $restarted $reloaded; do systemctl {verb} "$unit"; done
    echo "deployer: rolled back to release ${{previous##*/}}; the failed one stays in $release_root/releases" >&2
  fi
  exit 1
}}
"#,
        root = quote(&release.root),
        startup = release.startup_secs,
        timeout = release.timeout_secs,
        path = quote(&release.health_path),
        failed = quote(history::FAILED_MARKER),
        verb = if release.reload { "reload" } else { "restart" },
        settle = release.settle_secs,
    )
}

/// Ships, builds and switches to the release, then rolls the instances
/// over to it and prunes old releases.
fn write_release(body: &mut String, release: &Release) {
    let id = quote(&release.id);
    let user = quote(&release.user);
    let _ = writeln!(
        body,
        r#"step ship release {id}
rel="$release_root/releases/"{id}
if [ ! -e "$rel/.deployer-built" ]; then
  rm -rf "$rel.new"
  install -d -m 0755 -o {user} -g {user} "$rel.new"
  base64 -d <<'DEPLOYER_EOF' | tar -xz --no-same-owner -C "$rel.new"
{archive}
DEPLOYER_EOF
  chown -R {user}:{user} "$rel.new"
  step build release {id}
  if ! (cd "$rel.new" && runuser -u {user} -- env HOME="$rel.new/.deployer-home" NODE_ENV=production sh -c {build}) >"$rel.new/.deployer-build.log" 2>&1; then
    echo "deployer: the build "{build}" failed in $rel.new; its last lines:" >&2
    tail -n 20 "$rel.new/.deployer-build.log" >&2
    exit 1
  fi{audit}
  rm -rf "$rel.new/.deployer-home"
  chown -R root:root "$rel.new"
  chmod -R a+rX,go-w "$rel.new"
  touch "$rel.new/.deployer-built"
  rm -rf "$rel"
  mv -T "$rel.new" "$rel"
fi
previous=$(readlink -- "$release_root/current" || true)
if [ "$previous" != "$rel" ]; then
  step switch to release {id}
  rm -f "$rel/"{failed}
  switch_to "$rel"
  touch "$rel""#,
        archive = wrap(&BASE64.encode(&release.archive)),
        build = quote(&release.build),
        failed = quote(history::FAILED_MARKER),
        audit = release
            .audit
            .as_deref()
            .map(|level| audit(release, level))
            .unwrap_or_default(),
    );
    for instance in &release.web {
        let _ = writeln!(
            body,
            "  roll {} {} {}",
            quote(&instance.unit),
            quote(&instance.address),
            instance.port
        );
    }
    for worker in &release.workers {
        let unit = quote(worker);
        let _ = writeln!(
            body,
            "  if systemctl is-active --quiet {unit}; then step restart {unit}; systemctl restart {unit}; restarted=\"$restarted \"{unit}\" \"; fi"
        );
    }
    // The newest releases stay (the current one always), for rollbacks.
    let _ = writeln!(
        body,
        "  ls -1t \"$release_root/releases\" | {{ grep -v -x -F -e {id} || true; }} | tail -n +{keep} | while read -r old; do rm -rf -- \"$release_root/releases/$old\"; done\nfi",
        keep = release.keep.max(1)
    );
}

/// `npm audit` over the built release: a vulnerability of `level` or worse
/// in what runs in production stops it before it goes live. A registry
/// without the audit service (some mirrors) skips the audit, saying so.
fn audit(release: &Release, level: &str) -> String {
    format!(
        r#"
  step audit release
  if ! audit=$(cd "$rel.new" && runuser -u {user} -- env HOME="$rel.new/.deployer-home" NODE_ENV=production npm audit --omit=dev --audit-level={level} --json 2>/dev/null); then
    printf '%s\n' "$audit" >>"$rel.new/.deployer-build.log"
    if printf '%s' "$audit" | jq -e 'has("metadata")' >/dev/null 2>&1; then
      echo "deployer: npm audit found vulnerabilities of level {level} or worse in the release's production dependencies ($(printf '%s' "$audit" | jq -r '.metadata.vulnerabilities | to_entries | map(select(.key != "total" and .value > 0) | "\(.value) \(.key)") | join(", ")')); it does not go live. Update them (npm audit fix), or set app.audit" >&2
      exit 1
    fi
    step "audit release: skipped, the registry did not answer the audit (see .deployer-build.log)"
  fi"#,
        user = quote(&release.user),
    )
}

/// The commands of `phase` whose guard failed.
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
            let _ = writeln!(body, "step run {}", quote(&change.target));
            let _ = writeln!(
                body,
                "{} >/dev/null 2>&1 || sh -c {}",
                c.guard(),
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
) {
    let files: Vec<&File> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::File(f) if changed(r).is_some() => Some(f),
            _ => None,
        })
        .collect();
    if files.is_empty() {
        return;
    }
    // File i is staged as "$stage"/i/NAME: its own name, for checks that care.
    let staged = |i: usize| format!("\"$stage\"/{i}/{}", quote(basename(&files[i].path)));
    body.push_str("step stage files\n");
    for (i, file) in files.iter().enumerate() {
        let _ = writeln!(
            body,
            "mkdir \"$stage\"/{i}\nbase64 -d >{} <<'DEPLOYER_EOF'\n{}\nDEPLOYER_EOF",
            staged(i),
            wrap(&BASE64.encode(&file.content))
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
        let parent = quote(
            file.path
                .rsplit_once('/')
                .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p }),
        );
        let _ = writeln!(body, "step write {path}");
        let _ = writeln!(body, "[ -d {parent} ] || install -d -m 0755 {parent}");
        let _ = writeln!(
            body,
            "install {} {} {temp}\nmv -f {temp} {path}",
            ownership(file.mode, &file.owner, &file.group),
            staged(i)
        );
    }
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
fn ownership(mode: super::Mode, owner: &str, group: &str) -> String {
    format!("-m {mode} -o {} -g {}", quote(owner), quote(group))
}

/// The last component of an absolute path.
fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Base64 in lines of 76, as `base64 -d` reads it.
fn wrap(data: &str) -> String {
    data.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Service;

    #[test]
    fn a_unit_is_reset_before_it_is_started() {
        let resources = vec![Resource::Service(Service {
            name: "app@1.service".into(),
        })];
        let changes = vec![Change {
            kind: "service".into(),
            target: "app@1.service".into(),
            action: Action::Start,
            details: vec!["enable".into(), "start".into()],
            diff: None,
        }];
        let lease = lock::Lease::new("/var/lib/deployer", 60);
        let handlers = [
            Handler::Reload("app@1.service".into()),
            Handler::Restart("it's.service".into()),
        ];
        let guard = Guard::permissive(&lease.state_dir);
        let script = script(&resources, &changes, &handlers, &lease, &guard);
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

    /// Runs the audit step with `npm audit --json` answering `answer` and
    /// failing: (exit status, stdout, stderr).
    fn audit_with(answer: &str) -> (i32, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let rel = dir.path().join("rel");
        std::fs::create_dir_all(rel.with_extension("new")).unwrap();
        std::fs::write(dir.path().join("answer.json"), answer).unwrap();
        let release = Release {
            id: "abc".into(),
            root: "/srv/app".into(),
            user: "app".into(),
            build: "true".into(),
            audit: Some("high".into()),
            keep: 5,
            reload: false,
            web: Vec::new(),
            workers: Vec::new(),
            health_path: "/".into(),
            settle_secs: 0,
            startup_secs: 1,
            timeout_secs: 1,
            archive: Vec::new(),
        };
        // runuser stands in for npm: it prints the canned answer and fails.
        let script = format!(
            "set -euo pipefail\nstep() {{ echo \"STEP $*\"; }}\nrunuser() {{ cat {}; return 1; }}\nrel={}\nif true; then{}\nfi\necho went-live\n",
            quote(&dir.path().join("answer.json").display().to_string()),
            quote(&rel.display().to_string()),
            audit(&release, "high")
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn the_audit_refuses_findings_and_skips_a_registry_without_the_service() {
        let found = r#"{"vulnerabilities":{"minimist":{}},"metadata":{"vulnerabilities":{"info":0,"low":0,"moderate":1,"high":0,"critical":1,"total":2}}}"#;
        let (status, stdout, stderr) = audit_with(found);
        assert_eq!(status, 1, "{stdout}{stderr}");
        assert!(stderr.contains("(1 moderate, 1 critical)"), "{stderr}");
        assert!(!stdout.contains("went-live"));

        let unanswered = r#"{"message":"405 Method Not Allowed","statusCode":405,"error":{"summary":"","detail":""}}"#;
        let (status, stdout, stderr) = audit_with(unanswered);
        assert_eq!(status, 0, "{stdout}{stderr}");
        assert!(stdout.contains("STEP audit release: skipped"), "{stdout}");
        assert!(stdout.contains("went-live"));
    }
}
