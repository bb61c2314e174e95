//! The converge's release steps: ship the archive, build it as the app's
//! user, audit it, switch `current`, roll the instances over one at a time
//! behind health checks (switching back on a failure), and prune.

use std::fmt::Write as _;

use super::Release;
use super::history::FAILED_MARKER;
use crate::dialect::shell::{BASE64_END, base64_lines, quote};

/// Shell functions for releases: health checks, checked restarts, switching
/// `current`, and the rollback a failed check sets off.
pub fn functions(release: &Release) -> String {
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
# as_app COMMAND...: COMMAND in the new release as the app's user, with a
# home of its own there. Without root's temporary directory: libpam-tmpdir
# sets TMPDIR, TMP, TEMP and TEMPDIR to /tmp/user/0, which the app's user
# cannot write, and runuser's PAM stack sets no other.
as_app() {{
  (cd "$rel.new" && runuser -u {user} -- env -u TMPDIR -u TMP -u TEMP -u TEMPDIR HOME="$rel.new/.deployer-home" NODE_ENV=production "$@")
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
        failed = quote(FAILED_MARKER),
        verb = if release.reload { "reload" } else { "restart" },
        settle = release.settle_secs,
        user = quote(&release.user),
    )
}

/// Ships, builds and switches to the release, then rolls the instances
/// over to it and prunes old releases.
pub fn go_live(body: &mut String, release: &Release) {
    let id = quote(&release.id);
    let user = quote(&release.user);
    let _ = writeln!(
        body,
        r#"step ship release {id}
rel="$release_root/releases/"{id}
if [ ! -e "$rel/.deployer-built" ]; then
  rm -rf "$rel.new"
  install -d -m 0755 -o {user} -g {user} "$rel.new"
  base64 -d <<'{end}' | tar -xz --no-same-owner -C "$rel.new"
{archive}
{end}
  chown -R {user}:{user} "$rel.new"
  step build release {id}
  if ! as_app sh -c {build} >"$rel.new/.deployer-build.log" 2>&1; then
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
        archive = base64_lines(&release.archive),
        end = BASE64_END,
        build = quote(&release.build),
        failed = quote(FAILED_MARKER),
        audit = release.audit.as_deref().map(audit).unwrap_or_default(),
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
fn audit(level: &str) -> String {
    format!(
        r#"
  step audit release
  if ! audit=$(as_app npm audit --omit=dev --audit-level={level} --json 2>/dev/null); then
    printf '%s\n' "$audit" >>"$rel.new/.deployer-build.log"
    if printf '%s' "$audit" | jq -e 'has("metadata")' >/dev/null 2>&1; then
      echo "deployer: npm audit found vulnerabilities of level {level} or worse in the release's production dependencies ($(printf '%s' "$audit" | jq -r '.metadata.vulnerabilities | to_entries | map(select(.key != "total" and .value > 0) | "\(.value) \(.key)") | join(", ")')); it does not go live. Update them (npm audit fix), or set app.audit" >&2
      exit 1
    fi
    step "audit release: skipped, the registry did not answer the audit (see .deployer-build.log)"
  fi"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A release of `archive` under `root`, built by `user` with `build`.
    fn release(root: &str, user: &str, build: &str, archive: Vec<u8>) -> Release {
        Release {
            id: "abc".into(),
            root: root.into(),
            user: user.into(),
            build: build.into(),
            audit: None,
            keep: 5,
            reload: false,
            web: Vec::new(),
            workers: Vec::new(),
            health_path: "/".into(),
            settle_secs: 0,
            startup_secs: 1,
            timeout_secs: 1,
            archive,
        }
    }

    /// Runs the audit step with `npm audit --json` answering `answer` and
    /// failing: (exit status, stdout, stderr).
    fn audit_with(answer: &str) -> (i32, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let rel = dir.path().join("rel");
        std::fs::create_dir_all(rel.with_extension("new")).unwrap();
        std::fs::write(dir.path().join("answer.json"), answer).unwrap();
        // as_app stands in for npm: it prints the canned answer and fails.
        let script = format!(
            "set -euo pipefail\nstep() {{ echo \"STEP $*\"; }}\nas_app() {{ cat {}; return 1; }}\nrel={}\nif true; then{}\nfi\necho went-live\n",
            quote(&dir.path().join("answer.json").display().to_string()),
            quote(&rel.display().to_string()),
            audit("high")
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

    /// A build of several lines runs every line, as the app's user would,
    /// in the new release.
    #[test]
    fn a_build_of_several_lines_runs_each() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("server.js"), "x").unwrap();
        let shipped = super::super::pack(&source).unwrap();
        let root = dir.path().join("srv");
        std::fs::create_dir_all(root.join("releases")).unwrap();
        let user = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let release = Release {
            id: shipped.id.clone(),
            ..release(
                &root.display().to_string(),
                String::from_utf8(user.stdout).unwrap().trim(),
                "echo one > one\n  echo 'two; three' > two\n",
                shipped.archive,
            )
        };
        let mut script = String::from(
            "set -euo pipefail\nstep() { :; }\n# Stands in for runuser: drops `-u USER --`.\nrunuser() { shift 3; \"$@\"; }\n",
        );
        script.push_str(&functions(&release));
        go_live(&mut script, &release);
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let built = root.join("releases").join(&shipped.id);
        assert_eq!(std::fs::read_to_string(built.join("one")).unwrap(), "one\n");
        assert_eq!(
            std::fs::read_to_string(built.join("two")).unwrap(),
            "two; three\n"
        );
    }
}
