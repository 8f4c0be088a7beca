#!/bin/sh
# daemon-protocol.sh: the control protocol's promises, as a client sees
# them: replies in request order whatever each waits for, a half-closed
# client still answered, a monitor that keeps up with a burst of events
# and one that does not read dropped, and a QMP pass-through that only
# reads.
. "$top_srcdir/tests/lib/daemon-lib.sh"

# sets N MIB: one set request a line for vm0..vm(N-1), to MIB MiB each.
sets() {
	i=0
	while [ $i -lt "$1" ]; do
		printf '{"id": %d, "method": "set", "params": {"name": "vm%d", "bytes": %d}}\n' \
			$i $i $(($2 * MiB))
		i=$((i + 1))
	done
}

N=120
start_fake $N --move-ms 20
# client_max_queued small enough that a monitor which never reads fills it
# with one burst; status of 120 guests (~60 KiB) still fits.
printf '[daemon]\nclient_max_queued = 256K\n[qmp]\nstats_interval_s = 0\n' >"$T/proto.conf"
BALLOOND_CONF="$T/proto.conf" start_daemon

# Register every guest over one connection, pipelined.
i=0
while [ $i -lt $N ]; do
	printf '{"id": %d, "method": "register", "params": {"name": "vm%d", "qmp": "%s/vm%d.qmp", "min_bytes": %d}}\n' \
		$i $i "$T" $i $((64 * MiB))
	i=$((i + 1))
done | bdtest converse --pipeline | grep -c ' ok$' >"$T/reg.out"
check "$N guests registered" test "$(cat "$T/reg.out")" = $N

# ---- a burst of sets: every reply, in order, once its pin is on disk ----
# One write of $N sets, each of whose replies waits for the disk (the save
# formats the journal lines, not the request): none lost or out of order,
# each pin on disk when its reply came, and every guest its balloon command.
log_before=$(wc -l <"$T/fake.log")
sets $N 160 | bdtest converse --pipeline >"$T/burst.out"
check "a burst of $N sets: $N replies in request order" \
	test "$(cut -d' ' -f1 "$T/burst.out" | tr '\n' ' ')" = "$(seq 0 $((N - 1)) | tr '\n' ' ')"
check "and every one ok" test "$(grep -c ' ok$' "$T/burst.out")" = $N
check "once answered, every pin of the burst is on disk" \
	test "$(bdtest on-disk-count "$STATE" pin_bytes $((160 * MiB)))" = $N
burst_moved() { test "$(bdtest last-balloons "$T/fake.log" "$log_before" $((160 * MiB)) | wc -w)" = $N; }
check "every guest got its balloon command" wait_for 20 burst_moved

# ---- replies come in request order ----
# set waits for the disk, status does not, register waits for QEMU: each
# write carries several, and the replies must come back 1, 2, 3, ...
fake mode vm5.qmp delay=300 >/dev/null
ctl unregister vm5 >/dev/null
printf '%s\n' \
	'{"id": 1, "method": "set", "params": {"name": "vm0", "bytes": 209715200}}' \
	'{"id": 2, "method": "status"}' \
	"{\"id\": 3, \"method\": \"register\", \"params\": {\"name\": \"vm5\", \"qmp\": \"$T/vm5.qmp\"}}" \
	'{"id": 4, "method": "status"}' \
	'{"id": 5, "method": "release", "params": {"name": "vm0"}}' \
	'{"id": 6, "method": "explode"}' \
	'{"id": 7, "method": "set", "params": {"name": "vm1", "bytes": 1}}' |
	bdtest converse --pipeline | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//' >"$T/order.out"
check "replies in request order (set, status, register, ...)" test "$(cat "$T/order.out")" = "1 2 3 4 5 6 7"
fake mode vm5.qmp normal >/dev/null

# ---- a half-closed client still gets its reply ----
# (Closing its writing side, as socat and a hook may.)
printf '%s\n' '{"id": 9, "method": "set", "params": {"name": "vm2", "bytes": 209715200}}' \
	'{"id": 10, "method": "status"}' | bdtest converse --half-close >"$T/half.out"
check "half-closed client: greeting and both replies, then EOF" test "$(cat "$T/half.out")" = "greeting 9 10"
check "and the set took effect" wait_field 10 vm2 pin_bytes $((200 * MiB))

# ---- a monitor keeps up with a burst ----
# Every set makes pin, plan, command and command_done events: several
# hundred events arrive within a few milliseconds.
ctl monitor --json --count 400 >"$T/mon.out" 2>"$T/mon.err" &
mon=$!
check "monitor subscribed" wait_for 10 grep -q "request monitor" "$T/daemon.log"
sets $N 128 | bdtest converse --pipeline >/dev/null
wait_exit 30 "$mon"
rc=$?
check "monitor exits 0 after 400 events of a burst" test $rc -eq 0
check "it printed all 400" test "$(grep -c '"event"' "$T/mon.out")" = 400
check "and no error" test ! -s "$T/mon.err"

# ---- a monitor that never reads is dropped, the daemon stays small ----
"$PY" -m bdtest hold --rcvbuf 4096 "$T/stuckmon.ready" '{"id": 1, "method": "monitor"}' &
stuckmon=$!
check "the stuck monitor subscribed" wait_for 10 test -e "$T/stuckmon.ready"
rss_before=$(awk '/VmRSS/ { print $2 }' /proc/$DAEMON_PID/status)
i=0
while [ $i -lt 6 ] && ! grep -q "(a monitor) is not reading" "$T/daemon.log"; do
	sets $N $((i % 2 ? 96 : 128)) | bdtest converse --pipeline >/dev/null
	i=$((i + 1))
done
check "the monitor that does not read is dropped, with the reason" \
	wait_for 10 grep -q "(a monitor) is not reading: .* bytes queued" "$T/daemon.log"
rss_after=$(awk '/VmRSS/ { print $2 }' /proc/$DAEMON_PID/status)
# (RSS is only shown: ASan's quarantine and valgrind keep freed memory.)
diag "daemon RSS before the bursts ${rss_before} KiB, after ${rss_after} KiB"
queued=$(sed -n 's/.*(a monitor) is not reading: \([0-9]*\) bytes queued.*/\1/p' "$T/daemon.log" | head -n 1)
diag "dropped with $queued bytes queued for it"
check "what was held for it never passed client_max_queued (256 KiB)" \
	test "${queued:-999999999}" -le 262144
expect 0 "others are still served" ctl status
kill "$stuckmon" 2>/dev/null
wait "$stuckmon" 2>/dev/null

# ---- the QMP pass-through only reads ----
fake_cmds() { grep -c "\"socket\":\"vm3.qmp\",\"execute\":\"$1\"" "$T/fake.log"; }
for cmd in quit stop system_reset; do
	expect 1 "qmp --vm refuses $cmd" ctl qmp --vm vm3 "$cmd"
	err_has "read-only"
	check "$cmd never reached QEMU" test "$(fake_cmds "$cmd")" = 0
done
expect 1 "qmp --vm refuses qom-set" ctl qmp --vm vm3 qom-set \
	'{"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval", "value": 1}'
err_has "query-*, qom-get, qom-list"
err_has "--socket"
check "qom-set never reached QEMU" test "$(fake_cmds qom-set)" = 0
expect 1 "qmp --vm refuses balloon" ctl qmp --vm vm3 balloon '{"value": 134217728}'
expect 0 "qmp --vm runs query-status" ctl qmp --vm vm3 query-status
expect 0 "qmp --vm runs qom-get" ctl qmp --vm vm3 qom-get \
	'{"path": "/machine/peripheral/balloon0", "property": "guest-stats-polling-interval"}'

stop_daemon TERM
check "SIGTERM exits 0" test "$STOP_RC" = 0
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
