#!/bin/sh
# balloon-move.sh: how long a real guest's balloon takes to move. Boots one
# test guest (test-vm/start), then times, through the QMP client library
# (tests/balloon-drive set --wait), from the moment `balloon` is sent until
# query-balloon's `actual` is within 1 % of the target: shrinking by 25 %,
# 50 % and 75 % of the guest's memory, and growing back to full from there.
# Each case runs RUNS times; prints the median and the maximum per case.
#
#   [top_builddir=BUILD] [RUNS=5] [MEM_MIB=512|256] [POLL_MS=5]
#       bench/balloon-move.sh
#
# MEM_MIB: 512 when the host has 2 GiB available, else 256. POLL_MS: how
# often query-balloon is asked while waiting; a move is seen up to that much
# late (balloon-drive's default is 20, the benchmark uses 5 for resolution;
# a query costs QEMU about 0.2 ms). The accelerator is test-vm's choice (TCG
# unless the CPU has vmx/svm; BALLOOND_TVM_ACCEL=tcg|kvm overrides) and is
# printed with the table. The guest is stopped on exit.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-.}
RUNS=${RUNS:-5}
POLL_MS=${POLL_MS:-5}
TVM=$top_srcdir/test-vm
DRIVE=$top_builddir/tests/balloon-drive

die() {
	echo "balloon-move.sh: $*" >&2
	exit 1
}
[ -x "$DRIVE" ] || die "$DRIVE not built (make in $top_builddir)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found"
if [ -z "${MEM_MIB:-}" ]; then
	avail_kib=$(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo)
	# A 512 MiB TCG guest has about 560 MB RSS once its memory is touched;
	# leave room for everything else on the host.
	if [ "$avail_kib" -ge $((2 * 1024 * 1024)) ]; then MEM_MIB=512; else MEM_MIB=256; fi
fi

DIR=$(mktemp -d /tmp/balloon-move.XXXXXX) || die "mktemp failed"
cleanup() {
	"$TVM/stop" --dir "$DIR" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

"$TVM/start" --dir "$DIR" --name bench --mem "${MEM_MIB}M" --interval 0 \
	>/dev/null 2>"$DIR/start" || {
	cat "$DIR/start" >&2
	die "the guest did not start"
}
accel=$(cat "$DIR/bench.accel")

MiB=1048576
FULL=$((MEM_MIB * MiB))

# move NAME BYTES: one timed move; appends "NAME ELAPSED_MS" to $DIR/times,
# or "NAME short ACTUAL_MIB" when the balloon stopped short of the target
# (a guest cannot give what its kernel and processes use: a 256 MiB guest
# stops at about 79 MiB, so its 75 % shrink cannot be reached).
move() {
	out=$("$DRIVE" --socket "$DIR/bench.qmp" set "$2" --wait \
		--tolerance-pct 1 --deadline 60 --poll-ms "$POLL_MS" \
		--allow-short --settle-ms 2000)
	case $? in
	0)
		ms=$(echo "$out" | sed -n 's/.*"elapsed_ms":\([0-9.]*\).*/\1/p')
		echo "$1 $ms" >>"$DIR/times"
		;;
	4)
		actual=$(echo "$out" | sed -n 's/.*"actual":\([0-9]*\).*/\1/p')
		echo "$1 short $((actual / MiB))" >>"$DIR/times"
		;;
	*)
		tail -n 20 "$DIR/bench.log" | tr -d '\r' >&2
		die "$1 to $2 bytes: $out (the guest's log is above)"
		;;
	esac
}

: >"$DIR/times"
run=1
while [ $run -le "$RUNS" ]; do
	for pct in 25 50 75; do
		to=$((MEM_MIB * (100 - pct) / 100))
		move "shrink-$pct" $((to * MiB))
		move "grow-$pct" $FULL
	done
	run=$((run + 1))
done

# The table: per case, the median (mean of the middle two for an even
# count) and the maximum.
echo "balloon-move: ${MEM_MIB} MiB guest, accelerator $accel, $RUNS runs per case, query-balloon every $POLL_MS ms, within 1 % of the target"
grep -o 'ready after [0-9.]* s' "$DIR/start" | sed 's/^/boot: /'
printf '%-12s %-14s %10s %10s\n' case "MiB" "median ms" "max ms"
for dir in shrink grow; do
	for pct in 25 50 75; do
		to=$((MEM_MIB * (100 - pct) / 100))
		stop=$(sed -n "s/^shrink-$pct short //p" "$DIR/times" | sort -n | tail -n 1)
		if [ $dir = shrink ]; then
			span="$MEM_MIB -> $to"
		elif [ -n "$stop" ]; then
			span="~$stop -> $MEM_MIB" # from where the shrink stopped
		else
			span="$to -> $MEM_MIB"
		fi
		if grep -q "^$dir-$pct short" "$DIR/times"; then
			printf '%-12s %-14s %21s\n' "$dir $pct %" "$span" \
				"not reached: stops at $stop MiB"
			continue
		fi
		sed -n "s/^$dir-$pct //p" "$DIR/times" | sort -n | awk -v name="$dir $pct %" -v span="$span" '
			{ v[NR] = $1 }
			END {
				med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
				printf "%-12s %-14s %10.1f %10.1f\n", name, span, med, v[NR]
			}'
	done
done
