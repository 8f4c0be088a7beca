#!/bin/sh
# patroni-push.sh: how roles pushed to balloond (by the Patroni callback or
# a role_group peer) drive its Patroni REST watcher's polls, against a
# fake Patroni REST API (tests/lib/fake-patroni.py) and a fake QMP guest:
# a pushed role makes an immediate poll of a cluster polled once an hour,
# a burst of them one more poll, not one each, and a flood of them one
# poll a second. What the answers make of the guests is
# tests/patroni-watch.sh.
. "$top_srcdir/tests/lib/daemon-lib.sh"
. "$top_srcdir/tests/lib/fake-patroni-lib.sh"

start_patroni api 1
read -r D <"$T/api.ports"
PAT_LOG="$T/api.log"
# state PUSH: fake-patroni's mode for the push cluster's port.
state() { bdtest patroni-state push "$T/api.json" "$D" "$1"; }

state ok
start_fake 1
# Timeouts and the slow answers below scale with TIME_SCALE (S): a daemon
# under valgrind takes longer to read an answer.
S=$TIME_SCALE
cat >"$T/conf" <<EOT
[qmp]
stats_interval_s = 0
[cluster push]
rest_urls = http://127.0.0.1:$D
poll_interval_ms = 3600000
timeout_ms = $((10000 * S))
max_age_ms = 7200000
EOT
BALLOOND_CONF="$T/conf" start_daemon
ctl register vm0 --qmp "$T/vm0.qmp" --replica-target 128M --patroni push/p0 >/dev/null ||
	bail "register vm0"
# The first poll, at start, has ended.
polled_once() { test "$(cluster push polls)" = 1; }
wait_for 20 polled_once || bail "the push cluster's first poll did not end"

# ---- a pushed role polls at once; a burst of them, one more poll ----
n0=$(requests api "$D" /cluster)
check "the push cluster polled once so far (1 h interval)" test "$n0" -eq 1
ctl role push p0 master >/dev/null
check "a pushed role polls at once (1 h interval)" wait_for 3 sh -c "test \$(grep -c ' $D /cluster\$' '$PAT_LOG') -eq $((n0 + 1))"
state slow:$((1500 * S))
n1=$(requests api "$D" /cluster)
p1=$(requests api "$D" /patroni)
# burst N: N role pushes for push/p0 on one connection.
burst() {
	i=0
	while [ $i -lt "$1" ]; do
		printf '{"id": %d, "method": "role", "params": {"cluster": "push", "member": "p0", "role": "master"}}\n' $i
		i=$((i + 1))
	done | bdtest converse --pipeline >/dev/null
}
burst 20
# Answers take 1.5 s (times S) each, a poll two of them (/cluster, then
# /patroni): the first poll is surely in flight now, and still when the
# second burst comes.
check "a burst of pushes started a poll" wait_for 5 sh -c "test \$(grep -c ' $D /cluster\$' '$PAT_LOG') -ge $((n1 + 1))"
burst 20
check "after the bursts, two polls ran" wait_for 20 sh -c "test \$(grep -c ' $D /patroni\$' '$PAT_LOG') -ge $((p1 + 2))"
check "... and no more: 40 pushes, one poll in flight and one after it" \
	test "$(requests api "$D" /cluster)" -eq $((n1 + 2))
state ok

# ---- a flood of pushes: one poll a second at most ----
# Pushes back to back for 3 s (a role_group member may push for any
# cluster): each would start a poll as soon as the one before ended.
# Once no poll of it is in flight (each asks /cluster once, and status
# counts the polls that ended).
push_idle() { test "$(cluster push polls)" -eq "$(requests api "$D" /cluster)"; }
wait_for 20 push_idle || bail "the push cluster's polls did not end"
n2=$(requests api "$D" /cluster)
"$PY" "$top_srcdir/tests/lib/peer-flood.py" "$SOCK" 1 --push push p0 master 3 >"$T/push.out"
diag "$(cat "$T/push.out")"
# pushed_ok: more than 100 pushes, every one accepted.
pushed_ok() {
	# shellcheck disable=SC2046
	set -- $(sed -n 's/^pushed \([0-9]*\) ok=\([0-9]*\)$/\1 \2/p' "$T/push.out")
	test "${1:-0}" -gt 100 && test "$1" = "$2"
}
check "a flood: more than 100 pushes in 3 s, every one accepted" pushed_ok
polls=$(($(requests api "$D" /cluster) - n2))
diag "$polls polls of the push cluster during the flood"
check "it polled" test "$polls" -ge 2
check "at most once a second: at most 5 polls in 3 s" test "$polls" -le 5
# min_gap_ms PORT N: the shortest time between the last N requests for
# /cluster on PORT (the fake logs monotonic nanoseconds).
min_gap_ms() {
	grep " $1 /cluster\$" "$PAT_LOG" | tail -n "$2" |
		awk 'NR > 1 { g = ($1 - t) / 1e6; if (m == "" || g < m) m = g } { t = $1 } END { printf "%d\n", m }'
}
gap=$(min_gap_ms "$D" "$polls")
diag "the polls were at least $gap ms apart"
check "polls at least a second apart (900 ms: timer slack)" test "$gap" -ge 900

stop_daemon
check "balloond stopped cleanly" test "$STOP_RC" -eq 0
tap_done
