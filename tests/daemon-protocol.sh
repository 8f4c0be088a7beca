#!/bin/sh
# daemon-protocol.sh: the control protocol's promises, as a client sees
# them: replies in request order whatever each waits for, a half-closed
# client still answered, a monitor that keeps up with a burst of events
# and one that does not read dropped, and a QMP pass-through that only
# reads.
. "$top_srcdir/tests/daemon-lib.sh"
PY=${PYTHON3:-/usr/bin/python3}

N=120
start_fake $N --move-ms 20
# client_max_queued small enough that a monitor which never reads fills it
# with one burst; status of 120 guests (~60 KiB) still fits.
printf '[daemon]\nclient_max_queued = 256K\n[qmp]\nstats_interval_s = 0\n' >"$T/proto.conf"
BALLOOND_CONF="$T/proto.conf" start_daemon

# Register every guest over one connection, pipelined.
"$PY" - "$SOCK" "$T" $N >"$T/reg.out" <<'PY'
import json, socket, sys
sock, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile()
f.readline()
s.sendall(b"".join(json.dumps({"id": i, "method": "register", "params": {
    "name": "vm%d" % i, "qmp": "%s/vm%d.qmp" % (d, i),
    "min_bytes": 64 << 20}}).encode() + b"\n" for i in range(n)))
ok = sum("result" in json.loads(f.readline()) for _ in range(n))
print(ok)
PY
check "$N guests registered" test "$(cat "$T/reg.out")" = $N

# ---- replies come in request order ----
# set waits for the disk, status does not, register waits for QEMU: each
# write carries several, and the replies must come back 1, 2, 3, ...
fake mode vm5.qmp delay=300 >/dev/null
ctl unregister vm5 >/dev/null
"$PY" - "$SOCK" "$T" >"$T/order.out" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile()
f.readline()
reqs = [
    {"id": 1, "method": "set", "params": {"name": "vm0", "bytes": 200 << 20}},
    {"id": 2, "method": "status"},
    {"id": 3, "method": "register", "params": {"name": "vm5", "qmp": sys.argv[2] + "/vm5.qmp"}},
    {"id": 4, "method": "status"},
    {"id": 5, "method": "release", "params": {"name": "vm0"}},
    {"id": 6, "method": "explode"},
    {"id": 7, "method": "set", "params": {"name": "vm1", "bytes": 1}},
]
s.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in reqs))
print(" ".join(str(json.loads(f.readline())["id"]) for _ in reqs))
PY
check "replies in request order (set, status, register, ...)" test "$(cat "$T/order.out")" = "1 2 3 4 5 6 7"
fake mode vm5.qmp normal >/dev/null

# ---- a half-closed client still gets its reply ----
"$PY" - "$SOCK" "$TIME_SCALE" >"$T/half.out" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"id": 9, "method": "set", "params": {"name": "vm2", "bytes": 209715200}}\n'
          b'{"id": 10, "method": "status"}\n')
s.shutdown(socket.SHUT_WR)   # as socat and a hook may
s.settimeout(20 * int(sys.argv[2]))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
lines = [json.loads(l) for l in data.decode().splitlines()]
print(" ".join(str(m.get("id", "greeting")) for m in lines))
PY
check "half-closed client: greeting and both replies, then EOF" test "$(cat "$T/half.out")" = "greeting 9 10"
check "and the set took effect" wait_for 10 field_is vm2 pin_bytes $((200 * MiB))

# ---- a monitor keeps up with a burst ----
# Every set makes pin, plan, command and command_done events: several
# hundred events arrive within a few milliseconds.
ctl monitor --json --count 400 >"$T/mon.out" 2>"$T/mon.err" &
mon=$!
check "monitor subscribed" wait_for 10 grep -q "request monitor" "$T/daemon.log"
"$PY" - "$SOCK" $N <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile()
f.readline()
n = int(sys.argv[2])
s.sendall(b"".join(json.dumps({"id": i, "method": "set", "params": {
    "name": "vm%d" % i, "bytes": 128 << 20}}).encode() + b"\n" for i in range(n)))
for _ in range(n):
    f.readline()
PY
wait_exit 30 "$mon"
rc=$?
check "monitor exits 0 after 400 events of a burst" test $rc -eq 0
check "it printed all 400" test "$(grep -c '"event"' "$T/mon.out")" = 400
check "and no error" test ! -s "$T/mon.err"

# ---- a monitor that never reads is dropped, the daemon stays small ----
"$PY" - "$SOCK" "$T/stuckmon.ready" "$TIME_SCALE" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b'{"id": 1, "method": "monitor"}\n')
open(sys.argv[2], "w").write("subscribed\n")
time.sleep(60 * int(sys.argv[3]))   # never reads; killed below
PY
stuckmon=$!
check "the stuck monitor subscribed" wait_for 10 test -e "$T/stuckmon.ready"
rss_before=$(awk '/VmRSS/ { print $2 }' /proc/$DAEMON_PID/status)
i=0
while [ $i -lt 6 ] && ! grep -q "(a monitor) is not reading" "$T/daemon.log"; do
	"$PY" - "$SOCK" $N $((i % 2)) <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile()
f.readline()
n, flip = int(sys.argv[2]), int(sys.argv[3])
s.sendall(b"".join(json.dumps({"id": i, "method": "set", "params": {
    "name": "vm%d" % i, "bytes": (96 if flip else 128) << 20}}).encode() + b"\n"
    for i in range(n)))
for _ in range(n):
    f.readline()
PY
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
