//! The deploy lock: one apply per host at a time. A lease, not a flag: it
//! records who holds it and until when, is renewed at every step, and an
//! expired lease (a crashed run) may be taken over. `mkdir` makes taking it
//! atomic; an expired lease is renamed away before it is retaken, so two
//! runs cannot both take it over.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};

use crate::dialect::shell::{quote, random_hex};
use crate::protocol::{self, Tag};

/// Environment variables that carry a CI run's id, by CI system.
const CI_RUN_VARIABLES: &[&str] = &[
    "GITHUB_RUN_ID",
    "CI_PIPELINE_ID",
    "BUILDKITE_BUILD_ID",
    "CIRCLE_WORKFLOW_ID",
    "BUILD_ID",
];

/// A lease this run will hold on each host it changes.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Where deployer keeps its state on hosts (`/var/lib/deployer`).
    pub state_dir: String,
    /// Random: only the run holding this token releases the lock.
    pub token: String,
    /// `user@machine` of the operator.
    pub owner: String,
    pub ci_run: String,
    pub ttl_secs: u64,
}

/// A holder's record, as stored on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub owner: String,
    pub ci_run: String,
    pub started: u64,
    pub expires: u64,
}

impl Holder {
    pub fn describe(&self, now: u64) -> String {
        let ci = if self.ci_run.is_empty() {
            String::new()
        } else {
            format!(", CI run {}", self.ci_run)
        };
        let age = now.saturating_sub(self.started);
        let left = self.expires.saturating_sub(now);
        format!(
            "{} since {age}s ago{ci}; the lease expires in {left}s",
            self.owner
        )
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Lease {
    pub fn new(state_dir: &str, ttl_secs: u64) -> Self {
        // Who and where, from the system on Linux and macOS alike.
        let user = whoami::account().unwrap_or_else(|_| "unknown".into());
        let machine = whoami::hostname().unwrap_or_else(|_| "unknown".into());
        let ci_run = CI_RUN_VARIABLES
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .unwrap_or_default();
        Lease {
            state_dir: state_dir.to_string(),
            token: random_hex(16),
            owner: format!("{user}@{machine}"),
            ci_run,
            ttl_secs,
        }
    }

    fn lock_dir(&self) -> String {
        format!("{}/lock", self.state_dir)
    }

    /// Shell functions `acquire_lock`, `renew_lock`, `release_lock`.
    pub fn functions(&self) -> String {
        format!(
            r#"lock={lock}
lock_token={token}
lock_ttl={ttl}
write_lock_info() {{
  printf 'token=%s\nowner=%s\nci_run=%s\nstarted=%s\nexpires=%s\n' "$lock_token" {owner} {ci} "$1" "$(( EPOCHSECONDS + lock_ttl ))" >"$lock/info.new"
  mv -f "$lock/info.new" "$lock/info"
}}
{readers}acquire_lock() {{
  [ -d {state} ] || mkdir -p {state}
  if mkdir "$lock" 2>/dev/null; then write_lock_info "$EPOCHSECONDS"; return 0; fi
  if lock_stale; then
    if mv "$lock" "$lock.expired.$$" 2>/dev/null; then
      rm -rf "$lock.expired.$$"
      if mkdir "$lock" 2>/dev/null; then write_lock_info "$EPOCHSECONDS"; return 0; fi
    fi
  fi
  {holder}
  return 1
}}
renew_lock() {{ [ "$(lock_field token)" = "$lock_token" ] && write_lock_info "$(lock_field started)" || true; }}
release_lock() {{ if [ "$(lock_field token)" = "$lock_token" ]; then rm -rf "$lock"; fi; }}
"#,
            lock = quote(&self.lock_dir()),
            token = quote(&self.token),
            ttl = self.ttl_secs,
            owner = quote(&self.owner),
            ci = quote(&self.ci_run),
            state = quote(&self.state_dir),
            holder = print_holder(),
            readers = LOCK_READERS,
        )
    }

    /// A script that releases this run's lease (when nothing was left to do).
    pub fn release_script(&self) -> String {
        format!("{}release_lock\n", self.functions())
    }
}

/// The shell command that prints the holder as a [`Tag::Locked`] record,
/// reading its fields with `lock_field` ([`LOCK_READERS`]).
fn print_holder() -> String {
    format!(
        r#"printf '{tag}\t%s\t%s\t%s\t%s\n' "$(lock_field owner)" "$(lock_field ci_run)" "$(lock_field started)" "$(lock_field expires)""#,
        tag = Tag::Locked
    )
}

/// Shell functions over `$lock`: `lock_field NAME` of its info, and
/// `lock_stale`, whether a run may take it over, by the host's clock.
/// Bash builtins only: every plan runs them, and a program started costs
/// the host a millisecond or more.
const LOCK_READERS: &str = r#"lock_field() {
  local line
  [ -f "$lock/info" ] || return 0
  { while IFS= read -r line || [ -n "$line" ]; do
    case $line in "$1="*) printf '%s\n' "${line#*=}" ;; esac
  done <"$lock/info"; } 2>/dev/null
}
# Expired, or never written and older than a minute (a run that died
# between taking the lock and describing itself).
lock_stale() {
  expires=$(lock_field expires)
  if [ -n "$expires" ]; then [ "$expires" -lt "$EPOCHSECONDS" ]
  else [ -n "$(find "$lock" -maxdepth 0 -mmin +1)" ]; fi
}
"#;

/// `--lock-wait`: reports the holder of a lock a run could not take over
/// (as `acquire_lock` judges it, by the host's clock); nothing otherwise.
pub fn live_holder_script(state_dir: &str) -> String {
    format!(
        "lock={lock}\n{LOCK_READERS}if [ -d \"$lock\" ] && ! lock_stale; then\n  {holder}\nfi\n",
        lock = quote(&format!("{state_dir}/lock")),
        holder = print_holder(),
    )
}

/// The holder a script reported (an `acquire_lock` that failed, or
/// [`status_script`]); `None` when the lock is free.
pub fn holder(output: &str) -> Option<Holder> {
    let record = protocol::find(output, Tag::Locked)?;
    let field = |i: usize| record.fields.get(i).copied().unwrap_or_default();
    Some(Holder {
        owner: field(0).to_string(),
        ci_run: field(1).to_string(),
        started: field(2).parse().unwrap_or_default(),
        expires: field(3).parse().unwrap_or_default(),
    })
}

/// `deployer lock status`: reports the holder, if any.
pub fn status_script(state_dir: &str) -> String {
    format!(
        r#"lock={lock}
{LOCK_READERS}if [ -d "$lock" ]; then
  {holder}
fi
"#,
        lock = quote(&format!("{state_dir}/lock")),
        holder = print_holder(),
    )
}

/// `deployer lock release`: frees the lock whoever holds it (after a human
/// decided the holder is gone).
pub fn force_release_script(state_dir: &str) -> String {
    format!("{}rm -rf \"$lock\"\n", status_script(state_dir))
}

/// The error for a host whose lock another run holds.
pub fn held(host: &str, holder: &Holder) -> Result<()> {
    bail!(
        "{host}: another apply holds the deploy lock: {}. Wait for it, or if that run is gone, `deployer lock release --host {host}`",
        holder.describe(now())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_parse_back() {
        let holder = holder("locked\tci@runner\t42\t100\t1900\n").unwrap();
        assert_eq!(holder.owner, "ci@runner");
        assert_eq!(
            holder.describe(160),
            "ci@runner since 60s ago, CI run 42; the lease expires in 1740s"
        );
        assert!(super::holder("").is_none());
    }
}
