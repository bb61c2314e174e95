#!/bin/bash
# Many lab hosts behind one lab bastion: a plan of every host through the
# bastion (ProxyJump in an ssh config), against the same plan straight to
# the hosts. The bastion is a fresh Debian lab host whose sshd keeps
# Debian's defaults (MaxStartups 10:30:100, TCP forwarding on): deployer's
# own hardening turns forwarding off, so a host it converged is no bastion.
# The fleet is examples/hello on fresh hosts: a plan reads each host
# whole (survey, facts) without changing it, so no packages are needed.
# Run as root from the repository: bench/jump_lab.sh [DEPLOYER]
# (default: target/release/deployer). BENCH_HOSTS (30) hosts, BENCH_RUNS
# (3) rounds of one plan each way.
set -eu
deployer=$(realpath "${1:-target/release/deployer}")
hosts=${BENCH_HOSTS:-30}
runs=${BENCH_RUNS:-3}
lab=/var/lib/deployer-lab
bastion=198.18.0.200
# The lab tests' lock: never share the lab with a test run.
exec 9>/run/lock/deployer-lab-tests.lock
flock 9
work=$(mktemp -d)
"$deployer" lab down >/dev/null 2>&1 || true
trap '"$deployer" lab down >/dev/null 2>&1; rm -rf "$work"' EXIT

cp -r examples/hello "$work/app"
{
  sed '/^hosts:/,$d' examples/hello/deployer.yaml
  printf 'ssh:\n  identity: %s\n  known_hosts_file: %s\nhosts:\n' "$lab/id_ed25519" "$lab/known_hosts"
  for i in $(seq 1 "$hosts"); do
    printf '  - name: web%d\n    address: 198.18.0.%d\n' "$i" $((9 + i))
  done
} >"$work/app/deployer.yaml"
printf 'app:\n  name: bastion\n  start: node server.js\nhosts:\n  - name: bastion\n    address: %s\n' "$bastion" >"$work/bastion.yaml"
printf 'Host %s\n  ProxyJump none\nHost *\n  ProxyJump root@%s\n' "$bastion" "$bastion" >"$work/ssh_config"
spec=$work/app/deployer.yaml
"$deployer" lab up -f "$spec" 9>&- >/dev/null
"$deployer" lab up -f "$work/bastion.yaml" 9>&- >/dev/null

# `lab ssh` is a login at the bastion too: count before and after.
logins() {
  "$deployer" lab ssh -f "$work/bastion.yaml" bastion -- \
    "journalctl -u ssh --no-pager -o cat | grep -c '^Accepted publickey'" 2>/dev/null
}
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
plan() {
  local start status
  start=$(date +%s%N)
  status=0
  "$deployer" plan -f "$spec" --parallel "$hosts" --detailed-exitcode "$@" >"$work/plan.log" 2>&1 || status=$?
  # 2: changes to make (fresh hosts), every host planned; anything else failed.
  if [ "$status" != 2 ]; then
    printf 'the plan failed (exit %s):\n' "$status" >&2
    cat "$work/plan.log" >&2
    exit 1
  fi
  echo "$(ms "$start")"
}
sshd_of_bastion() {
  "$deployer" lab ssh -f "$work/bastion.yaml" bastion -- "sshd -T 2>/dev/null | grep -E '^(maxstartups|allowtcpforwarding) '" 2>/dev/null | tr '\n' ' '
}
echo "bastion's sshd: $(sshd_of_bastion)"
for round in $(seq 1 "$runs"); do
  before=$(logins)
  through=$(plan --ssh-config "$work/ssh_config")
  after=$(logins)
  # The second `lab ssh` counts itself, not the first.
  echo "round $round: $hosts hosts through the bastion: $through ms, logins at the bastion: $((after - before - 1))"
  straight=$(plan --lab)
  echo "round $round: $hosts hosts straight: $straight ms"
done
