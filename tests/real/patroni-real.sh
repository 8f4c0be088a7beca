#!/bin/sh
# patroni-real.sh: a real Patroni cluster drives real balloons. One etcd and
# three Patroni 3 / PostgreSQL 15 nodes on 127.0.0.1 (tests/lib/patroni-lib.sh),
# each member mapped to a test-vm guest registered with balloond, with
# hooks/balloond-patroni as every callback and as pre_promote, and balloond
# reading the cluster's REST API. It shows:
#   - after bootstrap the leader's guest is at max, the replicas' reach their
#     replica target after the dwell time;
#   - a switchover to a shrunk replica finds its guest at max (read from
#     QEMU) when the new leader's first write succeeds (pre_promote);
#   - the new leader grows before the old one shrinks, and the old one
#     shrinks only after the REST API confirmed it streaming (event stream);
#   - SIGKILL of the leader's Patroni and PostgreSQL: the promoted survivor
#     is at max as soon as its callback fires;
#   - forged, altered, expired and replayed network notifications are
#     rejected, a valid one is accepted;
#   - the REST API unreachable, then etcd stopped: every guest at max.
. "$top_srcdir/tests/lib/daemon-lib.sh"

HOOK="$top_builddir/hooks/balloond-patroni"
command -v patroni >/dev/null && command -v etcd >/dev/null &&
	[ -x /usr/lib/postgresql/15/bin/postgres ] || {
	echo "1..0 # SKIP patroni, etcd or postgresql-15 missing"
	exit 0
}
[ -x "$HOOK" ] || {
	echo "1..0 # SKIP $HOOK not built"
	exit 0
}

. "$top_srcdir/tests/lib/patroni-lib.sh"

G="$T/guests"
MON_PID=
stop_monitor() {
	[ -z "$MON_PID" ] || kill -TERM "$MON_PID" 2>/dev/null
	[ -z "$MON_PID" ] || wait "$MON_PID" 2>/dev/null
	MON_PID=
}
trap 'stop_monitor; pg_stop_all; pg_guests_stop "$G"; cleanup' EXIT

MAX=$((256 * MiB))
REPLICA=$((160 * MiB))
TOL=$((8 * MiB)) # move_tolerance_bytes' default
DWELL_MS=3000

# ---- the guests, balloond and the cluster, started together ----
pg_pick_ports
pg_guests_boot "$G" 256M
LISTEN_PORT=$PG_SPARE_PORT
KEY="$T/pg.key"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEY"
echo >>"$KEY"
chmod 0600 "$KEY"
PG_DWELL_MS=$DWELL_MS
pg_balloond_conf "$T/balloond.conf" "notify_key_file = $KEY
[listener]
enabled = true
address = 127.0.0.1
port = $LISTEN_PORT"
export BALLOOND_CONF="$T/balloond.conf"
start_daemon
"$BALLOONCTL" monitor --json >"$T/events" 2>"$T/monitor.err" &
MON_PID=$!
pg_register "$BALLOONCTL" "$G" 160M 256M || bail "register"

PG_CALLBACK=$HOOK
PG_PRE_PROMOTE="$HOOK --pre-promote --cluster $PG_SCOPE --wait-ms 3000"
PG_ENV="BALLOOND_SOCKET=$SOCK BALLOOND_STATE_DIR=$STATE"
pg_start_all

pg_guests_wait "$G" || bail "the guests did not boot"
diag "guests booted under $(cat "$G/pg1.accel")"
pg_wait_healthy 90 || bail "no healthy cluster: $(pg_state | tr '\n' ',')"
leader=$(pg_leader)
diag "leader $leader; $(pg_state | tr '\n' ',')"
pg_psql "$leader" "create table w (t timestamptz)" >/dev/null || bail "create table"

actual() { field "$1" actual_bytes; }
at_max() { a=$(actual "$1") && [ -n "$a" ] && [ "$a" -ge $((MAX - TOL)) ]; }
at_replica() {
	a=$(actual "$1") && [ -n "$a" ] &&
		[ "$a" -le $((REPLICA + TOL)) ] && [ "$a" -ge $((REPLICA - TOL)) ]
}
# qemu_actual NAME: the balloon's actual as QEMU reports it now (through
# balloond's read-only pass-through: the QMP socket is balloond's).
qemu_actual() {
	ctl qmp --vm "$1" query-balloon | sed -n 's/.*"actual": *\([0-9]*\).*/\1/p'
}
# now_us: wall clock in microseconds (the events' time_us).
now_us() { echo $(($(date +%s%N) / 1000)); }
# events: the event stream so far as python-readable JSON lines.
# ev CHECK ARGS...: bdtest events-check over the monitor's events.
ev() {
	c=$1
	shift
	bdtest events-check "$c" "$T/events" "$@"
}

# explain NAME: why NAME is where it is, after a failed check: balloond's
# status, NAME's guest as status --json has it (its stats, its reserve),
# its last events and its lines of the daemon log.
explain() {
	ctl status | sed 's/^/# /'
	bdtest guest "$1" | sed 's/^/# /'
	grep -F "\"$1\"" "$T/events" | tail -30 | sed 's/^/# /'
	grep -F "$1" "$T/daemon.log" | tail -30 | sed 's/^/# /'
}

# ---- after bootstrap: leader at max, replicas at their target after dwell ----
set -- $(pg_replicas)
r1=$1 r2=$2
check "bootstrap: the leader $leader is at max" wait_for 20 at_max "$leader"
check "bootstrap: replica $r1 reaches its replica target" wait_for 60 at_replica "$r1" ||
	explain "$r1"
check "bootstrap: replica $r2 reaches its replica target" wait_for 60 at_replica "$r2" ||
	explain "$r2"
check "bootstrap: the leader stayed at max" at_max "$leader"
# No replica shrank sooner than dwell_ms after its last role change, by
# the daemon's own clock: a member's shrink command carries its time in
# its role (role_age_ms), changed by a push or by the REST API.
check "bootstrap: no shrink within dwell_ms of a role change" ev no-early-shrink "$DWELL_MS"
ctl status | sed 's/^/# /'

# ---- switchover to a shrunk replica, with pre_promote ----
old=$leader
cand=$r1
check "the candidate $cand is shrunk before the switchover" at_replica "$cand"
# While patronictl runs, tests/lib/patroni-switch.py INSERTs against the
# candidate (read-only until promoted) in a tight loop and, when the first
# succeeds, reads its guest's actual from QEMU at once.
sw_start=$(now_us)
"$PG_PY" "$top_srcdir/tests/lib/patroni-switch.py" --socket "$SOCK" --vm "$cand" \
	--pg-port "$(pg_port "$cand")" --max "$MAX" -- \
	patronictl -c "$(pg_conf "$old")" switchover --leader "$old" --candidate "$cand" \
	--force "$PG_SCOPE" >"$T/switch.json" 2>"$T/switch.err"
check "switchover $old -> $cand, and the new leader accepted a write" test $? = 0
diag "switchover: $(cat "$T/switch.json" "$T/switch.err")"
jget() { bdtest json "$1" "$T/switch.json"; }
fw_us=$(jget first_write_us)
fw_actual=$(jget actual_at_first_write)
sw_end=$(jget command_done_us)
check "pre_promote: $cand's guest was at max (QEMU) at its first write as leader" \
	test "${fw_actual:-0}" -ge $((MAX - TOL))
check "pre_promote: its grow was sent before the first write" ev grow-before "$cand" "$fw_us" "$sw_start"
check "$cand is the healthy leader" pg_wait_healthy 60 "$cand"
check "the old leader $old shrinks to its replica target" wait_for 60 at_replica "$old" ||
	explain "$old"
check "$cand stays at max" at_max "$cand"

# The new leader grew before the old shrank, and the old shrank only after
# the REST API said it streams (a "cluster" event with it streaming).
check "switchover: grow of $cand before shrink of $old, shrink after REST confirmed streaming" \
	ev switchover "$cand" "$old" "$sw_start"
diag "patronictl switchover took $(((sw_end - sw_start) / 1000)) ms"

# ---- SIGKILL of the leader: the promoted survivor grows on its callback ----
victim=$cand
check "survivor $r2 is shrunk before the kill" wait_for 60 at_replica "$r2"
kill_us=$(now_us)
pg_kill_node "$victim"
other_leader() { new=$(pg_leader) && [ "$new" != "$1" ]; }
new=
check "a survivor is promoted after the kill" wait_for 60 other_leader "$victim"
check "the promoted $new is at max" wait_for 20 at_max "$new"
check "$new was at max as soon as its callback fired" ev grown-at-push "$new" "$kill_us"

# ---- network notifications: the listener ----
# x: the survivor that was not promoted.
if [ "$new" = "$old" ]; then x=$r2; else x=$old; fi
check "the remaining replica $x shrinks" wait_for 60 at_replica "$x"
# send KIND: one datagram about $x, role leader, to the listener; KIND is
# valid, forged (another key), altered (member changed after signing),
# expired (10 minutes old), or replay (the last valid datagram again).
send() {
	case $1 in
	valid) bdtest notify "$LISTEN_PORT" "$KEY" cluster="$PG_SCOPE" member="$x" SAVE="$T/last-valid" ;;
	forged)
		head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/forged.key"
		bdtest notify "$LISTEN_PORT" "$T/forged.key" cluster="$PG_SCOPE" member="$x"
		;;
	altered) bdtest notify "$LISTEN_PORT" "$KEY" cluster="$PG_SCOPE" member=pg-other ALTER=member:"$x" ;;
	expired) bdtest notify "$LISTEN_PORT" "$KEY" cluster="$PG_SCOPE" member="$x" SKEW_MS=-600000 ;;
	replay) bdtest notify "$LISTEN_PORT" "$KEY" RAW="$(cat "$T/last-valid")" ;;
	esac
}
# listener_count KEY: accepted, or a refusal reason's count in status.
listener_count() {
	case $1 in
	accepted) v=$(bdtest get listener.accepted) ;;
	*) v=$(bdtest get "listener.refused.$1") ;;
	esac
	echo "${v:-0}"
}
count_above() { [ "$(listener_count "$1")" -gt "$2" ]; }
for kind in forged:bad-mac altered:bad-mac expired:expired; do
	n=$(listener_count "${kind#*:}")
	send "${kind%%:*}"
	check "network: a ${kind%%:*} notification is refused (${kind#*:})" \
		wait_for 10 count_above "${kind#*:}" "$n"
done
check "network: $x still shrunk after the refused ones" at_replica "$x"
n=$(listener_count accepted)
send valid
check "network: a valid notification is accepted" wait_for 10 count_above accepted "$n"
check "network: and $x grows to max" wait_for 20 at_max "$x"
check "network: $x shrinks again after the dwell time" wait_for 60 at_replica "$x"
n=$(listener_count replayed)
send replay
check "network: the replayed notification is refused" wait_for 10 count_above replayed "$n"
check "network: $x still shrunk after the replay" at_replica "$x"
check "network: refusals are logged with their reason" grep -q "listener: refused .*bad-mac" "$T/daemon.log"

# ---- the REST API unreachable: every guest at max ----
set -- $(pg_patroni_pid "$new") $(pg_patroni_pid "$x")
kill -STOP "$@"
check "REST API unreachable (Patroni stopped): $x goes to max" wait_for 20 at_max "$x"
check "and the status says why" sh -c "'$BALLOONCTL' status | grep -q 'unreachable\|no fresh'"
kill -CONT "$@"
check "REST API back: $x shrinks again" wait_for 60 at_replica "$x"

# ---- etcd stopped: every guest at max ----
pg_stop_etcd
check "etcd stopped: $x goes to max" wait_for 30 at_max "$x"
check "etcd stopped: $new stays at max" at_max "$new"
ctl status | sed 's/^/# /'

stop_monitor
pg_stop_all
stop_daemon TERM
check "SIGTERM exits 0" test "$STOP_RC" = 0
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
check "nothing of the cluster is left running" test -z "$(pg_leftovers)"
tap_done
