#!/bin/sh
# run-switchover.sh [ROUNDS]: the reaction latency on a real Patroni cluster
# (three test-vm guests, etcd and three Patroni/PostgreSQL 15 nodes on
# 127.0.0.1, balloond reading the REST API; tests/lib/patroni-lib.sh), on an
# optimised build (build-bench/). ROUNDS switchovers (default 3) without
# the pre_promote hook, then ROUNDS with it (Patroni reloads its config in
# between), each to a replica that balloond had shrunk. For each: from
# `patronictl switchover` to the new leader's balloon at its max (QEMU's
# actual, read every few ms through balloond), to its first write as the
# leader, and to patronictl's return. Run as root.
set -u
. "$(dirname "$0")/build.sh"
rounds=${1:-3}
top_srcdir=$top
T=$(mktemp -d /tmp/balloond-bench.XXXXXX)
SOCK="$T/control.sock"
STATE="$T/state"
G="$T/guests"
export BALLOOND_SOCKET="$SOCK"
daemon=''
cleanup() {
	[ -z "$daemon" ] || { kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null; }
	pg_guests_stop "$G"
	rm -rf "$T"
}
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/patroni-lib.sh"
trap 'exit 1' INT TERM
die() {
	echo "run-switchover: $*" >&2
	exit 1
}
CTL="$b/balloonctl"
HOOK="$b/hooks/balloond-patroni"
MiB=1048576
MAX=$((256 * MiB))
REPLICA=$((160 * MiB))
TOL=$((8 * MiB))

pg_pick_ports
pg_guests_boot "$G" 256M
pg_balloond_conf "$T/balloond.conf"
"$b/balloond" --foreground --config "$T/balloond.conf" --control-socket "$SOCK" \
	--state-dir "$STATE" --log-level warning >"$T/balloond.log" 2>&1 &
daemon=$!
wait_for 20 "$CTL" status >/dev/null || die "balloond did not start"
pg_register "$CTL" "$G" 160M 256M || die "register"
PG_CALLBACK=$HOOK
PG_ENV="BALLOOND_SOCKET=$SOCK BALLOOND_STATE_DIR=$STATE"
pg_start_all >/dev/null
pg_guests_wait "$G" || die "the guests did not boot"
pg_wait_healthy 90 || die "no healthy cluster"
pg_psql "$(pg_leader)" "create table w (t timestamptz)" >/dev/null

at() {
	a=$("$CTL" status --json | /usr/bin/python3 -c '
import json, sys
for g in json.load(sys.stdin)["guests"]:
    if g["name"] == sys.argv[1]:
        print(g.get("actual_bytes") or 0)' "$1")
	[ -n "$a" ] && [ "$a" -ge $(($2 - TOL)) ] && [ "$a" -le $(($2 + TOL)) ]
}

# one MODE: a switchover from the leader to a shrunk replica; appends the
# measurement to $T/MODE.jsonl.
one() {
	wait_for 60 pg_healthy || die "cluster not healthy"
	l=$(pg_leader)
	set -- $(pg_replicas)
	for r in "$@"; do wait_for 60 at "$r" "$REPLICA" || die "$r did not shrink"; done
	/usr/bin/python3 "$top/tests/lib/patroni-switch.py" --socket "$SOCK" --vm "$1" \
		--pg-port "$(pg_port "$1")" --max "$MAX" -- \
		patronictl -c "$(pg_conf "$l")" switchover --leader "$l" --candidate "$1" \
		--force "$PG_SCOPE" >>"$T/$mode.jsonl" || die "switchover $l -> $1 failed"
	wait_for 60 pg_healthy "$1" || die "$1 is not the healthy leader"
}

for mode in without with; do
	if [ $mode = with ]; then
		PG_PRE_PROMOTE="$HOOK --pre-promote --cluster $PG_SCOPE --wait-ms 2000"
		for m in $PG_MEMBERS; do
			pg_write_conf "$m"
			kill -HUP "$(pg_patroni_pid "$m")"
		done
	fi
	i=0
	while [ $i -lt "$rounds" ]; do
		one
		i=$((i + 1))
	done
done

/usr/bin/python3 "$top/bench/switchover_table.py" "$T/without.jsonl" "$T/with.jsonl"
