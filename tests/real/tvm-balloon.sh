#!/bin/sh
# tvm-balloon.sh: the QMP client library (through tests/balloon-drive)
# against real test guests (test-vm/) whose balloon driver really moves:
#   - a 256 MiB guest shrunk to half and grown back, BALLOON_CHANGE on the
#     way, the guest's own MemTotal agreeing with QEMU's `actual`;
#   - its guest stats once polling is on;
#   - the same guest holding 150 MiB cannot be shrunk to 128 MiB: the
#     balloon stops short and `actual` says so; released, it gets there;
#   - a deflate-on-oom guest under a tight target gives memory back when it
#     allocates;
#   - three guests moved to three targets at once.
# Under TCG on 2 cores the whole file takes about 20 s. Deadlines are
# generous (they catch hangs, they are not timing assertions); every wait is
# a poll with a deadline. Every guest is stopped on exit (test-vm/stop).
. "$top_srcdir/tests/lib/tap.sh"

if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "1..0 # SKIP qemu-system-x86_64 not found (test-vm runs it from PATH)"
	exit 0
fi
TVM=$top_srcdir/test-vm
DRIVE=$top_builddir/tests/balloon-drive
[ -x "$DRIVE" ] || bail "$DRIVE not built (run make check-real)"
# Build (or find) the guest image once, before guests start in parallel.
"$TVM/build" >/dev/null || bail "test-vm/build failed"

MiB=1048576
DIR=$(mktemp -d /tmp/tvm-balloon.XXXXXX) || bail "mktemp failed"
T0=$(date +%s)

# Stop every guest of ours; on failure show the end of each guest's log.
cleanup() {
	"$TVM/stop" --dir "$DIR"
	if [ "$TAP_FAILED" -gt 0 ]; then
		for log in "$DIR"/*.log; do
			[ -f "$log" ] || continue
			diag "last lines of $(basename "$log"):"
			tail -n 8 "$log" | tr -d '\r' | sed 's/^/#   /'
		done
	fi
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# drive NAME ARGS...: balloon-drive on guest NAME's QMP socket; its JSON
# line goes to $DIR/out, its exit status to $rc.
drive() {
	_g=$1
	shift
	"$DRIVE" --socket "$DIR/$_g.qmp" "$@" >"$DIR/out" 2>"$DIR/err"
	rc=$?
	diag "$_g: $* -> rc=$rc $(cat "$DIR/out" "$DIR/err" | tr '\n' ' ')"
}

# field NAME [FILE]: a scalar member of a one-line JSON object.
field() {
	sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "${2:-$DIR/out}" | tr -d '"'
}

# gcmd NAME COMMAND...: test-vm/cmd on guest NAME; answer in $answer.
gcmd() {
	_g=$1
	shift
	answer=$("$TVM/cmd" --dir "$DIR" --name "$_g" --timeout 60 "$@" 2>&1)
	rc=$?
	diag "$_g: $* -> $answer"
	return $rc
}

# total_kib NAME: the guest's own MemTotal (test-vm/cmd status).
total_kib() {
	gcmd "$1" status >/dev/null && echo "$answer" |
		sed -n 's/.* total_kib=\([0-9]*\).*/\1/p'
}

# start_guests NAME:ARGS...: boots the guests in parallel (ARGS are
# test-vm/start options, commas for spaces); one test point per guest.
start_guests() {
	_pids=
	for _spec in "$@"; do
		_g=${_spec%%:*}
		# shellcheck disable=SC2046 # the options are split on purpose
		"$TVM/start" --dir "$DIR" --name "$_g" --interval 0 \
			$(echo "${_spec#*:}" | tr ',' ' ') \
			>"$DIR/$_g.path" 2>"$DIR/$_g.start" &
		_pids="$_pids $!"
	done
	for _spec in "$@"; do
		_g=${_spec%%:*}
		_pid=${_pids# }
		_pid=${_pid%% *}
		_pids=${_pids# "$_pid"}
		wait "$_pid"
		_st=$?
		diag "$(grep -h 'ready after\|accelerator' "$DIR/$_g.start" | tr '\n' ' ')"
		if [ $_st -eq 0 ] && [ "$(cat "$DIR/$_g.path")" = "$DIR/$_g.qmp" ]; then
			ok "guest $_g booted ($(echo "${_spec#*:}" | tr ',' ' '))"
		else
			not_ok "guest $_g booted (exit $_st)"
			sed 's/^/#   /' "$DIR/$_g.start"
		fi
	done
}

# actual_at_least NAME BYTES / actual_near NAME BYTES: query-balloon through
# the library, for wait_for.
actual_now() {
	"$DRIVE" --socket "$DIR/$1.qmp" query 2>/dev/null |
		sed -n 's/.*"actual":\([0-9]*\).*/\1/p'
}
actual_at_least() {
	_a=$(actual_now "$1") && [ -n "$_a" ] && [ "$_a" -ge "$2" ]
}
actual_near() { # within 1 %
	_a=$(actual_now "$1") && [ -n "$_a" ] &&
		[ $(((_a > $2 ? _a - $2 : $2 - _a) * 100)) -le "$2" ]
}

# near A B SLACK: |A - B| <= SLACK.
near() { [ $(($1 > $2 ? $1 - $2 : $2 - $1)) -le "$3" ]; }

# ---- one guest shrunk and grown; stats; a guest that holds memory --------
# g1: plain balloon. g2: deflate-on-oom. Booted together.
start_guests g1:--mem,256M g2:--mem,256M,--balloon-opts,deflate-on-oom=on
[ "$TAP_FAILED" -eq 0 ] || bail "the guests did not boot"
diag "accelerator: $(cat "$DIR/g1.accel")"
FULL=$((256 * MiB))
HALF=$((128 * MiB))
full_kib=$(total_kib g1)

drive g1 query
check "g1: query-balloon gives the full 256 MiB" \
	eval '[ $rc -eq 0 ] && [ "$(field actual)" = $FULL ]'

drive g1 set $HALF --wait --deadline 30
check "g1: shrink to 128 MiB: actual within 1 % (rc=$rc, $(field elapsed_ms) ms)" \
	eval '[ $rc -eq 0 ] && [ "$(field reached)" = true ] &&
		near "$(field actual)" $HALF $((HALF / 100))'
first=$(sed -n 's/.*"event_actuals":\[\([0-9]*\).*/\1/p' "$DIR/out")
check "g1: BALLOON_CHANGE seen on the way ($(field events) events, first actual $first)" \
	eval '[ "$(field events)" -ge 1 ] && [ "$first" -lt $FULL ] &&
		[ "$first" -ge $((HALF - HALF / 100)) ]'
# Without deflate-on-oom the guest's MemTotal shrinks by the balloon's size.
half_kib=$(total_kib g1)
check "g1: the guest agrees: MemTotal $full_kib -> $half_kib KiB (128 MiB less)" \
	eval 'near $((full_kib - half_kib)) $(((FULL - HALF) / 1024)) 2048'

drive g1 set $FULL --wait --deadline 30
check "g1: grow back to 256 MiB: actual within 1 % (rc=$rc, $(field elapsed_ms) ms)" \
	eval '[ $rc -eq 0 ] && [ "$(field reached)" = true ]'
wait_for 10 eval '[ "$(total_kib g1)" = "$full_kib" ]'
check "g1: the guest's MemTotal is back to $full_kib KiB" test $? -eq 0

# Guest stats: polling on, then a fresh report.
drive g1 stats --enable 1 --deadline 20
now=$(date +%s)
total=$(field total_bytes) free=$(field free_bytes)
avail=$(field available_bytes) last=$(field last_update)
check "g1: guest stats reported after enabling polling (rc=$rc)" test $rc -eq 0
check "g1: stat-total-memory $total: > 0, <= RAM, the guest's MemTotal" \
	eval '[ "$total" -gt 0 ] && [ "$total" -le $FULL ] &&
		near "$total" $((full_kib * 1024)) $MiB'
check "g1: stat-free-memory $free and stat-available-memory $avail: > 0, <= total" \
	eval '[ "$free" -gt 0 ] && [ "$free" -le "$total" ] &&
		[ "$avail" -gt 0 ] && [ "$avail" -le "$total" ]'
check "g1: last-update $last is recent (now $now)" \
	eval '[ "$last" -le $((now + 1)) ] && [ "$last" -ge $((now - 10)) ]'

# Holding 150 MiB, the guest cannot shrink to 128 MiB: the balloon takes
# what is free and stops. Only release holds from here (growing a hold in
# a guest squeezed like this panics it, see test-vm/README.md).
gcmd g1 hold 150M
check "g1: holds 150 MiB" test $? -eq 0
drive g1 set $HALF --wait --allow-short --settle-ms 2000 --deadline 30
short=$(field actual)
check "g1: holding 150 MiB, 128 MiB is not reached: stopped short (rc=$rc)" \
	eval '[ $rc -eq 4 ] && [ "$(field stopped)" = settled ] &&
		[ "$(field reached)" = false ]'
check "g1: actual $short stays well above the target (> 192 MiB)" \
	eval '[ "$short" -gt $((192 * MiB)) ]'
short_kib=$(total_kib g1)
check "g1: actual is the truth: MemTotal $full_kib -> $short_kib KiB = RAM - actual" \
	eval 'near $((full_kib - short_kib)) $(((FULL - short) / 1024)) 2048'
gcmd g1 hold 0
check "g1: releases its hold" test $? -eq 0
# The driver keeps trying, so the target is reached without a new request.
wait_for 30 actual_near g1 $HALF
check "g1: released, the balloon reaches 128 MiB by itself ($(actual_now g1))" \
	test $? -eq 0

# ---- deflate-on-oom: the guest takes memory back when it needs it --------
TIGHT=$((100 * MiB))
drive g2 set $TIGHT --wait --deadline 30
check "g2 (deflate-on-oom): shrink to 100 MiB reached (rc=$rc, $(field elapsed_ms) ms)" \
	eval '[ $rc -eq 0 ] && [ "$(field reached)" = true ]'
gcmd g2 hold 150M
check "g2: holds 150 MiB under a 100 MiB target" test $? -eq 0
wait_for 30 actual_at_least g2 $((TIGHT + 96 * MiB))
check "g2: actual rose from 100 MiB to $(actual_now g2) (memory given back)" \
	test $? -eq 0
gcmd g2 ping
check "g2: the guest lives" test $? -eq 0
"$TVM/stop" --dir "$DIR" --name g1 2>/dev/null
"$TVM/stop" --dir "$DIR" --name g2 2>/dev/null

# ---- three guests at once, three targets ---------------------------------
start_guests m1:--mem,160M m2:--mem,176M m3:--mem,192M
# move NAME:TARGET_MIB...: sets every target at once (one balloon-drive
# per guest, in parallel), then one test point per guest.
move() {
	_pids=
	for _m in "$@"; do
		"$DRIVE" --socket "$DIR/${_m%%:*}.qmp" set "${_m#*:}M" --wait \
			--deadline 45 >"$DIR/${_m%%:*}.move" 2>&1 &
		_pids="$_pids $!"
	done
	for _m in "$@"; do
		_g=${_m%%:*}
		_pid=${_pids# }
		_pid=${_pid%% *}
		_pids=${_pids# "$_pid"}
		wait "$_pid"
		_st=$?
		diag "$_g: $(cat "$DIR/$_g.move")"
		check "$_g: reached its own target ${_m#*:} MiB alongside the others (rc=$_st, $(field elapsed_ms "$DIR/$_g.move") ms)" \
			eval '[ $_st -eq 0 ] && [ "$(field reached "$DIR/$_g.move")" = true ] &&
				[ "$(field target "$DIR/$_g.move")" = $((${_m#*:} * MiB)) ]'
	done
}
move m1:104 m2:136 m3:112
move m1:160 m2:150 m3:192

"$TVM/stop" --dir "$DIR" 2>/dev/null
running=$(for n in g1 g2 m1 m2 m3; do
	pgrep -f "unix:$DIR/$n.qmp,server" >/dev/null && echo "$n"
done)
check "every guest stopped${running:+ (still running: $running)}" test -z "$running"
diag "tvm-balloon.sh took $(($(date +%s) - T0)) s"
tap_done
