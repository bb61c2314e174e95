#!/bin/bash
# The CPU a no-op apply costs the host: one Debian 13 lab host running
# examples/hello, read from the host's control group (everything on it:
# sshd's login, the scripts, systemd answering systemctl).
# Run as root from the repository: bench/host_cpu.sh [DEPLOYER...]
# (default: target/release/deployer). Each binary in turn converges the
# host, then runs BENCH_RUNS no-ops (9 by default) 7 s apart (the host's
# firewall admits 10 new SSH connections a minute per source), read as one
# span; the host's idle use over as long, at the rate of 30 s just before
# and 30 s just after with nothing applied, is subtracted.
set -eu
runs=${BENCH_RUNS:-9}
[ $# -gt 0 ] || set -- target/release/deployer
spec=examples/hello/deployer.yaml
# The lab tests' lock: never share the lab with a test run. The lab's
# hosts must not inherit it, or it would outlive this script.
exec 9>/run/lock/deployer-lab-tests.lock
flock 9
"$1" lab down >/dev/null 2>&1 || true
trap '"$1" lab down >/dev/null 2>&1' EXIT
"$1" lab up -f "$spec" >/dev/null 9>&-
# One login held open throughout: systemd stops root's user manager 10 s
# after the last session ends and starts it at the next login, which would
# land in some no-ops and not others, rounds being about that far apart.
"$1" lab ssh web1 -- sleep 3600 </dev/null >/dev/null 2>&1 9>&- &
held=$!
trap 'kill $held 2>/dev/null; "$1" lab down >/dev/null 2>&1' EXIT
sleep 2
stat=
for cg in /sys/fs/cgroup/unified/deployer-lab-web1 /sys/fs/cgroup/deployer-lab-web1; do
  [ -r "$cg/cpu.stat" ] && stat=$cg/cpu.stat && break
done
[ -n "$stat" ] || { echo "no control group for web1" >&2; exit 1; }
usec() { while read -r key value; do if [ "$key" = usage_usec ]; then echo "$value"; fi; done <"$stat"; }
for deployer in "$@"; do
  "$deployer" apply -f "$spec" --lab --yes >/dev/null 2>&1
  sleep 7
  idle_usec=0 idle_ns=0
  idle() { # The host's use over 30 s, converged, with nothing applied.
    local start_ns=$(date +%s%N) start_usec=$(usec)
    sleep 30
    idle_usec=$((idle_usec + $(usec) - start_usec)) idle_ns=$((idle_ns + $(date +%s%N) - start_ns))
  }
  idle
  # The no-ops, read as one span: the host accounts a process's time when
  # it runs or ends, which can fall either side of any one no-op's end.
  start=$(date +%s%N) before=$(usec)
  for _ in $(seq 1 "$runs"); do
    sleep 7
    out=$("$deployer" apply -f "$spec" --lab --yes 2>&1)
    case $out in *"Nothing to do"*) ;; *) printf 'not a no-op:\n%s\n' "$out" >&2; exit 1 ;; esac
  done
  sleep 3
  used=$(($(usec) - before)) span=$(($(date +%s%N) - start))
  idle
  awk -v d="$deployer" -v used="$used" -v span="$span" -v iu="$idle_usec" -v ins="$idle_ns" -v n="$runs" 'BEGIN {
    idle = iu * span / ins
    printf "%s: host CPU per no-op %.1f ms (%d no-ops: %.0f ms in %.1f s, of which %.0f ms the idle host'"'"'s)\n", d, (used - idle) / n / 1000, n, used / 1000, span / 1e9, idle / 1000
  }'
done
