#!/bin/bash
# A no-op apply against a bare SSH login, on one lab host (examples/hello).
# Run as root from the repository: bench/login_ratio.sh [DEPLOYER...]
# (default: target/release/deployer). Several binaries are measured in
# turn against the same host, after one bare `ssh root@host true`, each
# round 20 s apart: the host's firewall admits 10 new SSH connections a
# minute per source, and a dropped SYN would cost a second or more.
set -eu
runs=${BENCH_RUNS:-9}
[ $# -gt 0 ] || set -- target/release/deployer
spec=examples/hello/deployer.yaml
lab=/var/lib/deployer-lab
ssh_true() {
  ssh -i "$lab/id_ed25519" -o UserKnownHostsFile="$lab/known_hosts" -o StrictHostKeyChecking=yes \
    -o BatchMode=yes -o ControlMaster=no -o ControlPath=none root@198.18.0.10 true
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# The lab tests' lock: never share the lab with a test run.
exec 9>/run/lock/deployer-lab-tests.lock
flock 9
"$1" lab down >/dev/null 2>&1 || true
trap '"$1" lab down >/dev/null 2>&1' EXIT
"$1" lab up -f "$spec" >/dev/null
"$1" apply -f "$spec" --lab --yes >/dev/null 2>&1
for round in $(seq 1 "$runs"); do
  sleep 20
  start=$(date +%s%N); ssh_true; echo "ssh true: $(ms "$start") ms"
  for deployer in "$@"; do
    start=$(date +%s%N)
    out=$("$deployer" apply -f "$spec" --lab --yes 2>&1)
    took=$(ms "$start")
    case $out in *"Nothing to do"*) ;; *) printf 'not a no-op:\n%s\n' "$out" >&2; exit 1 ;; esac
    echo "$deployer no-op: $took ms"
  done
done
