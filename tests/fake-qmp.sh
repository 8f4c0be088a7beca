#!/bin/sh
# fake-qmp.sh: the fake QEMU the component tests and benchmarks read
# balloond through. It reads balloond's own `balloon` line by its text
# (fakeqmp.c, quick_balloon) and every other line with json-c: both ways
# must answer and log alike, byte for byte, or a test reading fake.log
# would see two fakes.
. "$top_srcdir/tests/lib/daemon-lib.sh"

start_fake 1
qmp() { bdtest qmp-lines "$T/vm0.qmp"; }
# The same command as balloond writes it (read by its text) and spaced
# (read by json-c), then near misses that must go json-c's way.
qmp >"$T/replies" <<'LINES'
{"execute":"balloon","arguments":{"value":200000000},"id":1}
{"execute": "balloon", "arguments": {"value": 200000000}, "id": 2}
{"execute":"balloon","arguments":{"value":0},"id":3}
{"execute":"balloon","arguments":{"value":0200000000},"id":4}
{"execute":"balloon","arguments":{"value":1099511627776},"id":5}
{"execute":"balloon","arguments":{"value":200000000},"id":9223372036854775807}
{"execute":"balloon","arguments":{"value":200000000},"id":"x"}
LINES
reply() { sed -n "${1}p" "$T/replies"; }
check "balloond's balloon: {} with its id" test "$(reply 1)" = '{"return":{},"id":1}'
check "the same spaced: the same answer" test "$(reply 2)" = '{"return":{},"id":2}'
check "value 0: QEMU's error" \
	test "$(reply 3)" = '{"error":{"class":"GenericError","desc":"Parameter '"'"'target'"'"' expects a size"},"id":3}'
check "a leading zero: as json-c reads it" test "$(reply 4)" = '{"return":{},"id":4}'
check "above RAM: {} (QEMU ignores it)" test "$(reply 5)" = '{"return":{},"id":5}'
check "the largest id comes back whole" test "$(reply 6)" = '{"return":{},"id":9223372036854775807}'
check "a string id comes back a string" test "$(reply 7)" = '{"return":{},"id":"x"}'
# The log: one line per command, t_ns aside the same for both ways.
logged() { wait_for 10 sh -c "test \$(grep -c '\"balloon\"' '$T/fake.log') -ge 7"; }
check "every balloon logged" logged
strip() { sed -n 's/^{"t_ns":[0-9]*,//p' "$T/fake.log" | grep '"balloon"' | sed -n "${1}p"; }
check "logged alike, read either way" test "$(strip 1)" = "$(strip 2)"
check "and as before" test "$(strip 1)" = '"socket":"vm0.qmp","execute":"balloon","arguments":{"value":200000000}}'
# A socket name JSON must escape takes the log's json-c way: the same
# arguments either way there too.
Q="$T/we\"ird.qmp"
"$FAKE_QMP" --dir "$T" --count 0 --socket "$Q" --mem 268435456 --log "$T/q.log" \
	--control "$T/q.ctl" >"$T/q.out" 2>&1 &
Q_PID=$!
trap 'kill $Q_PID 2>/dev/null; cleanup' EXIT
wait_for 20 test -S "$Q" || bail "the second fake did not start: $(cat "$T/q.out")"
printf '%s\n' '{"execute":"balloon","arguments":{"value":200000000},"id":1}' \
	'{"execute": "balloon", "arguments": {"value": 200000000}, "id": 2}' |
	bdtest qmp-lines "$Q" >"$T/q.replies"
check "escaped name: both answered" test "$(cat "$T/q.replies" | tr '\n' ' ')" = '{"return":{},"id":1} {"return":{},"id":2} '
q_logged() { test "$(grep -c '"balloon"' "$T/q.log")" -ge 2; }
check "escaped name: both logged" wait_for 10 q_logged
qstrip() { sed -n 's/^{"t_ns":[0-9]*,//p' "$T/q.log" | grep '"balloon"' | sed -n "${1}p"; }
check "escaped name: logged alike" test "$(qstrip 1)" = "$(qstrip 2)"
check "escaped name: as before" test "$(qstrip 1)" = '"socket":"we\"ird.qmp","execute":"balloon","arguments":{"value":200000000}}'
target_is() { test "$(fake show vm0.qmp | sed -n 's/.*"target": *\([0-9]*\).*/\1/p')" = "$1"; }
check "the last target taken is the guest's" wait_for 10 target_is 200000000
tap_done
