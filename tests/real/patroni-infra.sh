#!/bin/sh
# patroni-infra.sh: tests/patroni-lib.sh itself, with a stand-in callback
# that logs its argv: etcd and three Patroni/PostgreSQL nodes come up as a
# leader and two streaming replicas, callbacks reach the configured command
# with the member and Patroni's ACTION ROLE SCOPE, a switchover and a SIGKILL
# of the leader move the leadership, and nothing is left running.
. "$top_srcdir/tests/daemon-lib.sh"

command -v patroni >/dev/null && command -v etcd >/dev/null &&
	[ -x /usr/lib/postgresql/15/bin/postgres ] || {
	echo "1..0 # SKIP patroni, etcd or postgresql-15 missing"
	exit 0
}

. "$top_srcdir/tests/patroni-lib.sh"

# The stand-in: one line per call, "SECONDS.NANOS ARGV...", as postgres.
stub="$PG_TOP/stub-callback"
cat >"$stub" <<EOF
#!/bin/sh
echo "\$(date +%s.%N) \$* env=\${BALLOOND_SOCKET:-unset}" >>"$PG_TOP/callbacks.log"
EOF
chmod 0755 "$stub"
PG_CALLBACK=$stub
PG_PRE_PROMOTE="$stub pre_promote"
PG_ENV="BALLOOND_SOCKET=$SOCK"
: >"$PG_TOP/callbacks.log"
chown "$PG_USER:" "$PG_TOP/callbacks.log"

cb() { grep -qE -- "$1" "$PG_TOP/callbacks.log"; }

t0=$(date +%s%N)
pg_start_all
check "a leader and two streaming replicas" pg_wait_healthy 60
diag "healthy after $((($(date +%s%N) - t0) / 1000000)) ms: $(pg_state | tr '\n' ',')"
leader=$(pg_leader)
check "bootstrap: on_start master for the leader, with --member" \
	wait_for 20 cb "--member $leader on_start master $PG_SCOPE env=$SOCK\$"
check "bootstrap: on_start replica for a replica" wait_for 20 cb "on_start replica $PG_SCOPE"
check "the leader accepts writes" quiet pg_psql "$leader" "create table t (x int)"

set -- $(pg_replicas)
cand=$1
t0=$(date +%s%N)
check "switchover $leader -> $cand" pg_switchover "$leader" "$cand"
diag "patronictl returned after $((($(date +%s%N) - t0) / 1000000)) ms: $(tail -n 1 "$PG_TOP/switchover.out")"
check "$cand is the healthy leader" pg_wait_healthy 60 "$cand"
check "pre_promote ran on $cand" cb "pre_promote --member $cand env="
check "on_role_change master on $cand" wait_for 20 cb "--member $cand on_role_change master"
check "on_role_change replica on $leader" wait_for 20 cb "--member $leader on_role_change replica"

old=$cand
pm=$(pg_postmaster_pid "$old")
pat=$(pg_patroni_pid "$old")
t0=$(date +%s%N)
pg_kill_node "$old"
check "SIGKILL: Patroni and postmaster of $old are gone" pg_none_alive "$pat" "$pm"
# other_leader NAME: a leader other than NAME exists; it goes to $new.
other_leader() { new=$(pg_leader) && [ "$new" != "$1" ]; }
new=
check "a survivor is leader after the kill" wait_for 60 other_leader "$old"
diag "new leader $new after $((($(date +%s%N) - t0) / 1000000)) ms"
check "its on_role_change master came" wait_for 30 cb "--member $new on_role_change master"

sed 's/^/# cb: /' "$PG_TOP/callbacks.log"
pg_stop_all
left=$(pg_leftovers)
check "nothing of the cluster is left running" test -z "$left"
for p in $left; do diag "left: $p $(tr '\0' ' ' </proc/$p/cmdline)"; done
tap_done
