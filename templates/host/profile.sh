# Managed by deployer: local changes are overwritten on the next apply.
# Login shells of a hardened web host (host.core_dumps, host.idle_timeout).
{%- if baseline.core_dumps_off %}
# No core dumps from what a login shell starts: a dump holds its memory.
ulimit -c 0
{%- endif %}
{%- if baseline.idle_timeout_secs > 0 %}
# An idle interactive bash or ksh ends after this many seconds. Read-only,
# so the session cannot lift it; set only where nothing made it read-only
# before (a second read of this file). Not exported: a script started from
# the shell would take it as a timeout for each `read`.
if (unset TMOUT) 2>/dev/null; then
  readonly TMOUT={{ baseline.idle_timeout_secs }}
fi
{%- endif %}
