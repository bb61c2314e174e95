# Managed by deployer: local changes are overwritten on the next apply.
# Login shells of a hardened web host (host.core_dumps, host.idle_timeout).
{%- if baseline.core_dumps_off %}
# No core dumps from what a login shell starts: a dump holds its memory.
ulimit -c 0
{%- endif %}
{%- if baseline.idle_timeout_secs > 0 %}
# An idle interactive shell ends after this many seconds. Read-only, so a
# session cannot lift it; set once, as a second read of this file would
# fail on the read-only variable.
if [ "${TMOUT:-}" != {{ baseline.idle_timeout_secs }} ]; then
  readonly TMOUT={{ baseline.idle_timeout_secs }}
  export TMOUT
fi
{%- endif %}
