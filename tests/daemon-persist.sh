#!/bin/sh
# daemon-persist.sh: nothing acknowledged is lost, and nothing is given up
# on. Spooled registrations (a hook's, while the daemon was down or QEMU
# still starting) are kept past every deadline and across restarts; a
# guest whose RAM query fails is retried with backoff and says why; a save
# that fails is an error reply, a log line and a retry, never a success;
# and no reply confirms a state before it is on disk, even one that
# changes nothing (tests/fault-preload.so holds the disk).
. "$top_srcdir/tests/lib/daemon-lib.sh"

start_fake 3
# Short QMP timeouts: a client's register gives up after greeting + 2 x
# command = 600 ms, the deadline a spooled registration must outlive.
printf '[qmp]\ncommand_timeout_ms = 200\ngreeting_timeout_ms = 200\nreconnect_max_ms = 400\n' >"$T/short.conf"
export BALLOOND_CONF="$T/short.conf"
start_daemon

spool_register() { # NAME QMP-PATH
	printf '{"method": "register", "params": {"name": "%s", "qmp": "%s", "min_bytes": %d}}\n' \
		"$1" "$2" $((128 * MiB)) >"$STATE/spool/$1.json.tmp"
	mv "$STATE/spool/$1.json.tmp" "$STATE/spool/$1.json"
}
registered() { ctl status --json | grep -q "\"name\": \"$1\""; }
link_attempts() { grep -c "late: cannot connect to" "$T/daemon.log"; }

# ---- a spooled registration is kept past the register deadline ----
# The hook spools on libvirt's "started" while the daemon is busy or
# QEMU's socket is not there yet: here it does not exist at all.
spool_register late "$T/late.qmp"
check "spooled register picked up" wait_for 10 registered late
check "and persisted at once, before its link is up" wait_for 10 on_disk late
# Past the 600 ms a client's register waits (and several reconnects).
check "the link was tried several times" \
	wait_for 20 sh -c "test \$(grep -c 'late: cannot connect to' '$T/daemon.log') -ge 4"
sleep 1 # time passes: nothing may give the registration up meanwhile
check "still registered well past the deadline" registered late
check "status says the link is down" field_is late link down
check "its last error names the socket" sh -c "'$BALLOONCTL' --timeout $CTL_TIMEOUT status --json | grep -q 'late.qmp\\|QMP: '"

# ... and across a restart.
stop_daemon TERM
start_daemon
check "still registered after a restart" registered late
# QEMU appears: the link comes up and the guest is managed.
"$FAKE_QMP" --dir "$T" --socket "$T/late.qmp" --mem 268435456 >"$T/fake2.out" 2>&1 &
FAKE2_PID=$!
check "once QEMU is there, the spooled guest is managed" wait_field 20 late link up
check "with its max read from QEMU" field_is late max_bytes $((256 * MiB))
ctl unregister late >/dev/null
kill "$FAKE2_PID" 2>/dev/null
wait "$FAKE2_PID" 2>/dev/null

# ---- a torn journal entry (a crash while appending) costs nothing more ----
# A restart compacts the journal: after two, it is empty, and the torn
# entry is all it holds (the case where nothing else forces a rewrite).
stop_daemon TERM
start_daemon
stop_daemon TERM
check "the journal is empty after a restart" test ! -s "$STATE/guests.journal"
printf '{"put": {"name": "torn", "qmp": "/nowhere' >>"$STATE/guests.journal"
start_daemon
check "the torn entry is dropped, with a warning" grep -q "torn last entry dropped" "$T/daemon.log"
check "and the journal is whole again" sh -c "! grep -q nowhere '$STATE/guests.journal'"
spool_register after "$T/after.qmp"
check "a change after it is acknowledged" wait_for 10 registered after
check "and on disk" wait_for 10 on_disk after
stop_daemon KILL
start_daemon
check "it survives a kill -9 and a restart" registered after
ctl unregister after >/dev/null

# ---- a failed RAM query is retried with backoff and shown ----
fake mode vm0.qmp memsize-error >/dev/null
spool_register ramless "$T/vm0.qmp"
check "a guest whose RAM query fails stays registered" wait_for 10 registered ramless
check "status says why it is not managed" wait_for 10 sh -c "'$BALLOONCTL' --timeout $CTL_TIMEOUT status --json | grep -q 'cannot read the guest.s RAM'"
check "and that it retries" sh -c "'$BALLOONCTL' --timeout $CTL_TIMEOUT status --json | grep -q 'retrying in'"
check "the query was retried (several attempts logged)" \
	wait_for 20 sh -c "test \$(grep -c 'ramless: cannot read the guest' '$T/daemon.log') -ge 3"
check "with backoff, not at once (delays grow)" grep -q "ramless: .*retrying in 1000 ms" "$T/daemon.log"
fake mode vm0.qmp normal >/dev/null
check "once QEMU answers, the guest is managed at its RAM" wait_field 20 ramless max_bytes $((256 * MiB))
check "its link is up" wait_field 10 ramless link up

# A client's own register still gets a clear error at its deadline.
fake mode vm1.qmp memsize-error >/dev/null
expect 1 "register from a client: an error when the RAM cannot be read in time" \
	ctl register ramless2 --qmp "$T/vm1.qmp"
err_has "could not read the guest's RAM"
check "and that guest is not kept" status_lacks ramless2
fake mode vm1.qmp normal >/dev/null

# ---- a failed save is an error reply and a retry ----
# The state directory on a small tmpfs that fills up: a disk full of
# something else (root ignores permissions, not ENOSPC).
stop_daemon TERM
mkdir "$T/mnt-small"
if mount -t tmpfs -o size=256k tmpfs "$T/mnt-small" 2>"$T/mount.err"; then
	cp -a "$STATE" "$T/mnt-small/state"
	STATE_BIG=$STATE
	STATE="$T/mnt-small/state"
	start_daemon
	check "restarted on the small disk with its guests" wait_field 10 ramless link up
	expect 0 "set while the disk has room" ctl set ramless 190M
	# set_count RESULT: the set requests counted with that result.
	set_count() {
		ctl metrics | sed -n "s/^balloond_control_requests_total{method=\"set\",result=\"$1\"} //p"
	}
	sets_ok=$(set_count ok)
	sets_err=$(set_count error)
	dd if=/dev/zero of="$T/mnt-small/fill" bs=4k 2>/dev/null
	# The journal's last page may still hold an entry or two: the first
	# change that does not fit must fail.
	tries=0
	while [ $tries -lt 60 ] && ctl set ramless $((200 - tries % 2))M >/dev/null 2>"$T/err"; do
		tries=$((tries + 1))
	done
	diag "$tries changes fitted on the full disk"
	check "set while the disk is full: an error, not success" test $tries -lt 60
	err_has "could not be saved"
	check "the metrics count it as an error, not ok" \
		test "$(set_count error)" = $((sets_err + 1))
	check "and count ok only the sets that were saved" \
		test "$(set_count ok)" = $((sets_ok + tries))
	ctl set ramless 200M >/dev/null 2>&1
	check "the failure is logged with the retry" wait_for 10 grep -q "cannot save registrations .* retrying in" "$T/daemon.log"
	check "the pin is in effect all the same" wait_field 10 ramless pin_bytes $((200 * MiB))
	rm -f "$T/mnt-small/fill"
	check "the retry saves it once the disk has room again" wait_for 20 grep -q '"pin_bytes": 209715200' "$STATE/guests.json"
	check "and says so" grep -q "registrations saved to .* again" "$T/daemon.log"
	expect 0 "changes are acknowledged again" ctl set ramless 180M
	stop_daemon TERM
	start_daemon
	check "after a restart (snapshot and journal) the last pin is there" field_is ramless pin_bytes $((180 * MiB))
	stop_daemon TERM
	STATE=$STATE_BIG
	umount "$T/mnt-small"
else
	skip "cannot mount a tmpfs here: $(cat "$T/mount.err")"
fi

# ---- a reply that confirms a state waits until that state is on disk ----
# tests/fault-preload.so holds balloond's fsyncs while $T/hold exists (a
# stalled disk), and logs each it holds. QEMU's greeting may take 5 s, so
# that a registration stays in progress.
printf '[qmp]\ncommand_timeout_ms = 5000\ngreeting_timeout_ms = 5000\n' >"$T/hold.conf"
BALLOOND_CONF="$T/hold.conf" start_daemon_with_faults \
	BD_FAULT_LOG="$T/sync.log" BD_FAULT_SYNC_HOLD="$T/hold"
: >"$T/sync.log"
# in_bg NAME COMMAND...: COMMAND in the background; once it ends, its exit
# status is in $T/NAME.rc.
in_bg() {
	bg_name=$1
	shift
	rm -f "$T/$bg_name.rc"
	("$@" >"$T/$bg_name.out" 2>&1; echo $? >"$T/$bg_name.rc") &
}
ended() { test -s "$T/$1.rc"; }
bg_exited() { ended "$1" && test "$(cat "$T/$1.rc")" = "$2"; }
held() { test "$(grep -c held "$T/sync.log")" -gt "$1"; }
# logged METHOD COUNT: balloond logged at least COUNT such requests for rep.
logged() { test "$(grep -c "request $1 {\"name\":\"rep\"" "$T/daemon.log")" -ge "$2"; }
# dispatched METHOD COUNT: the request was carried out: balloond logged it,
# and answered a status after it (a reply held for the disk holds no
# other client's).
dispatched() { wait_for 10 logged "$1" "$2" && ctl status >/dev/null; }
# unanswered NAME TEST: NAME (in_bg) is still not answered 2 s on, its
# reply held with the write it waits for.
unanswered() {
	if wait_for 2 ended "$1"; then
		not_ok "$2"
	else
		ok "$2"
	fi
}

# A hook registers a guest without waiting for QEMU ("wait": false) and
# says it is a hook's ("hook": true): the guest is starting, and its hook
# registers it again at each start. A crash of balloond must not lose the
# registration, and it is in the journal before the reply; a crash of the
# host would end the guest too, so the reply does not wait for the flush,
# which follows within a second.
hook_register() {
	ctl call register "{\"name\": \"rep\", \"qmp\": \"$T/rep.qmp\", \"wait\": false, \"hook\": true}" >/dev/null
}
disk_settled
touch "$T/hold"
in_bg first hook_register
check "a hook's registration is answered while no flush can finish" wait_for 20 bg_exited first 0
check "it is written before the reply" on_disk rep
check "the flush follows unasked" wait_for 10 held 0
in_bg second hook_register
check "the same registration again is answered, the flush still held" wait_for 20 bg_exited second 0
in_bg admin0 ctl register rep --qmp "$T/rep.qmp" --no-wait
unanswered admin0 "an admin's --no-wait of the same registration waits for the flush"
stop_daemon KILL
rm -f "$T/hold"
BALLOOND_CONF="$T/hold.conf" start_daemon_with_faults \
	BD_FAULT_LOG="$T/sync.log" BD_FAULT_SYNC_HOLD="$T/hold"
check "written, never flushed, it survives a kill -9 of balloond" registered rep

# What nothing makes again waits for its flush: balloonctl's --no-wait (an
# admin's registration of a plain QEMU guest), a removal (below), and what
# a spool file asked for, which the file is kept for until then.
disk_settled
touch "$T/hold"
seen=$(grep -c held "$T/sync.log")
in_bg admin ctl register adm --qmp "$T/adm.qmp" --no-wait
check "an admin's --no-wait registration is flushed at once" wait_for 10 held "$seen"
unanswered admin "an admin's --no-wait registration is not answered before its flush is through"
rm -f "$T/hold"
check "then it is" wait_for 20 bg_exited admin 0
expect 0 "unregister adm" ctl unregister adm
touch "$T/hold"
seen=$(grep -c held "$T/sync.log")
printf '{"method": "register", "params": {"name": "sp", "qmp": "%s", "min_bytes": %d}}\n' \
	"$T/sp.qmp" $((128 * MiB)) >"$STATE/spool/sp.json.tmp"
mv "$STATE/spool/sp.json.tmp" "$STATE/spool/sp.json"
check "a spooled registration is carried out" wait_for 20 registered sp
check "its save is flushed at once" wait_for 10 held "$seen"
check "and its spool file kept until that flush is through" test -e "$STATE/spool/sp.json"
rm -f "$T/hold"
check "then removed" wait_for 20 sh -c "! test -e '$STATE/spool/sp.json'"
expect 0 "unregister sp" ctl unregister sp

# A removal not yet on disk, then a client's registration of the same
# name still waiting for QEMU (no greeting), unregistered: that "removed"
# is a state on disk only once the first removal is.
fake mode vm2.qmp no-greeting >/dev/null
touch "$T/hold"
seen=$(grep -c held "$T/sync.log")
in_bg un1 ctl unregister rep
check "the removal's write is held" wait_for 10 held "$seen"
in_bg again ctl register rep --qmp "$T/vm2.qmp"
dispatched register 3 || bail "the registration was not started"
# Until its link is up, the guest is not one yet: status leaves it out,
# and requests naming it are refused.
check "a registration in progress is not in status" status_lacks '"name": "rep"'
expect 1 "a set of a guest whose registration is in progress fails" \
	ctl set rep 200M
err_has "its registration is still in progress"
in_bg un2 ctl unregister rep
dispatched unregister 2 || bail "the second unregister was not carried out"
unanswered un2 "the unregister of a registration in progress waits for the removal to be on disk"
rm -f "$T/hold"
check "then the first unregister is answered" wait_for 20 bg_exited un1 0
check "and the second" wait_for 20 bg_exited un2 0
check "the registration in progress failed" wait_for 20 bg_exited again 1
check "the guest is not on disk" not_on_disk rep

# A removal not yet on disk, and the same unregister again: its "not
# registered" is true on disk only once the first removal is.
in_bg kept ctl register rep --qmp "$T/rep.qmp" --no-wait
check "registered again" wait_for 20 bg_exited kept 0
touch "$T/hold"
seen=$(grep -c held "$T/sync.log")
in_bg un3 ctl unregister rep
check "the removal's write is held" wait_for 10 held "$seen"
in_bg un4 ctl unregister rep
dispatched unregister 4 || bail "the repeated unregister was not carried out"
unanswered un4 "the repeated unregister waits for the removal to be on disk"
rm -f "$T/hold"
check "then the first unregister is answered" wait_for 20 bg_exited un3 0
check "and the repeated one: not found" wait_for 20 bg_exited un4 1
check "... as not registered" grep -q "no guest named 'rep'" "$T/un4.out"
check "the guest is not on disk" not_on_disk rep
fake mode vm2.qmp normal >/dev/null
stop_daemon KILL
start_daemon
check "nor registered after a kill and a restart" sh -c "! ctl status --json | grep -q '\"name\": \"rep\"'"

stop_daemon TERM
check "SIGTERM exits 0" test "$STOP_RC" = 0

# ---- a flush that failed is made good before balloond exits ----
# A hook's registration is answered once written; its flush fails
# (tests/fault-preload.so, as after a failed writeback), and so do the
# retries, with backoff. The disk back, a SIGTERM before the next retry
# still writes the state anew, as a snapshot, and flushes it.
STATE="$T/state-eio"
mkdir -p "$STATE"
touch "$T/eio"
start_daemon_with_faults BD_FAULT_LOG="$T/eio.log" BD_FAULT_SYNC_FAIL="$T/eio"
retries() { grep -c "cannot save registrations.*retrying in 6400 ms" "$T/daemon.log"; }
seen=$(retries)
more_retries() { test "$(retries)" -gt "$seen"; }
expect 0 "a hook's registration while flushes fail" \
	ctl call register "{\"name\": \"eio\", \"qmp\": \"$T/eio.qmp\", \"wait\": false, \"hook\": true}"
check "its flush fails, and is retried with backoff" wait_for 30 more_retries
check "the failures were the preload's" grep -q "fdatasync failed" "$T/eio.log"
rm -f "$T/eio"
stop_daemon TERM
if grep -q "registrations saved to $STATE again" "$T/daemon.log"; then
	# SIGTERM came after the next retry, 6.4 s on: it saved the state.
	skip "the retry came before SIGTERM: the shutdown's own save was not needed"
else
	check "at SIGTERM the registration is saved anew, whole" \
		grep -q '"name": "eio"' "$STATE/guests.json"
fi
check "and balloond exits 0" test "$STOP_RC" = 0
check "no sanitizer or valgrind report in the daemon log" sh -c "! grep -qE 'Sanitizer|^==[0-9]+== ' '$T/daemon.log'"
tap_done
