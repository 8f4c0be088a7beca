#!/bin/bash
# fuzz-long.sh: long libFuzzer runs, beyond the 40 s per target that CI
# (tests/fuzz/run-fuzzers.sh) gives each.
#
#   bench/fuzz-long.sh [--runs N] [--seconds S] [--jobs J] [--build DIR]
#                      [--no-build] [--out DIR] [--merge] [TARGET...]
#
# Runs every fuzzer (or the TARGETs named, as `notify` or `fuzz-notify`)
# with -runs=N -max_total_time=S, whichever ends first (default 10,000,000
# runs or 1,800 s), on a working copy of its seed corpus
# (tests/fuzz/corpus/NAME/), so the tree is not written to unless --merge
# is given. Prints one line per target:
#
#   target   runs  exec/s  time_s  files  cov  ft  crashes
#
# files is the corpus's file count before -> after; cov (edges) and ft
# (features) are libFuzzer's figures for the seeds as loaded (INITED) ->
# at the end (DONE, or the last status line before a crash). A target
# stops at its first crash, timeout (-timeout=10), OOM or leak; its
# input is kept as OUT/NAME/crash-* (or timeout-, oom-, leak-), and the
# script exits 1. Minimise one with `fuzz/fuzz-NAME -minimize_crash=1
# -runs=100000 INPUT` and add it to tests/fuzz/corpus/NAME/ so that CI
# replays it.
#
# --build DIR    the build dir whose fuzz/fuzz-* to run; default
#                build-fuzz/ in the source tree. It is configured
#                (--enable-sanitizers) if it has no Makefile yet, and
#                `make fuzz` runs in it unless --no-build.
# --out DIR      working corpora, logs (OUT/NAME/log) and crash inputs;
#                default fuzz-long-out/ in the current directory. A
#                target's previous OUT/NAME is removed first.
# --jobs J       targets run at the same time (default 1).
# --merge        after each run, merge the inputs that add coverage to
#                the seed corpus into tests/fuzz/corpus/NAME/ and say how
#                many and how big: libFuzzer's -merge=1 with
#                -use_counters=0, the smallest input for each new edge (a
#                few dozen small files, where every new hit count would
#                be hundreds of KiB); the seeds already there stay.
#
# Extra libFuzzer flags can be given in $FUZZ_ARGS (they come last, so
# they win). On a shared machine run it as `nice -n 19 bench/fuzz-long.sh`.
set -u

usage() {
	sed -n '4,5p' "$0" | sed 's/^# *//' >&2
	exit 2
}

RUNS=10000000
SECONDS_MAX=1800
JOBS=1
BUILD=
NO_BUILD=
OUT=fuzz-long-out
MERGE=
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=${2-} && shift ;;
	--seconds) SECONDS_MAX=${2-} && shift ;;
	--jobs) JOBS=${2-} && shift ;;
	--build) BUILD=${2-} && shift ;;
	--no-build) NO_BUILD=1 ;;
	--out) OUT=${2-} && shift ;;
	--merge) MERGE=1 ;;
	-h | --help) usage ;;
	--) shift && break ;;
	-*) usage ;;
	*) break ;;
	esac
	shift
done
for n in "$RUNS" "$SECONDS_MAX" "$JOBS"; do
	case $n in
	'' | *[!0-9]*) usage ;;
	esac
done
[ "$JOBS" -ge 1 ] || usage
[ -n "$OUT" ] || usage

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build-fuzz}
seeds_dir=$top/tests/fuzz/corpus

if [ -z "$NO_BUILD" ]; then
	(cd "$top" && { test -x configure || autoreconf -fi >/dev/null; }) ||
		exit 1
	mkdir -p "$BUILD" || exit 1
	if [ ! -f "$BUILD/Makefile" ]; then
		(cd "$BUILD" && "$top/configure" -q --enable-sanitizers) || exit 1
	fi
	(cd "$BUILD" && make fuzz >/dev/null) || exit 1
fi

# The targets, as paths to their binaries.
bins=()
if [ $# -eq 0 ]; then
	for bin in "$BUILD"/fuzz/fuzz-*; do
		[ -x "$bin" ] && [ -f "$bin" ] && bins+=("$bin")
	done
else
	for t in "$@"; do
		bin=$BUILD/fuzz/fuzz-${t#fuzz-}
		if [ ! -x "$bin" ]; then
			echo "fuzz-long.sh: no fuzzer $bin (make fuzz in $BUILD)" >&2
			exit 2
		fi
		bins+=("$bin")
	done
fi
if [ ${#bins[@]} -eq 0 ]; then
	echo "fuzz-long.sh: no fuzzers in $BUILD/fuzz (make fuzz)" >&2
	exit 2
fi
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1

# count_files DIR: the number of regular files in DIR.
count_files() {
	find "$1" -maxdepth 1 -type f | wc -l
}

# field LINE KEY: the number after "KEY: " in a libFuzzer status line.
field() {
	printf '%s\n' "$1" | sed -n "s/.* $2: *\([0-9]*\).*/\1/p"
}

# run_one BIN: fuzz it on a copy of its seeds; everything goes to
# $OUT/NAME, and its result line to $OUT/NAME/result.
run_one() {
	local bin=$1 name short dir seeds start end rc
	name=$(basename "$bin")
	short=${name#fuzz-}
	dir=$OUT/$short
	seeds=$seeds_dir/$short
	rm -rf "$dir"
	mkdir -p "$dir/corpus"
	[ -d "$seeds" ] && cp "$seeds"/* "$dir/corpus/" 2>/dev/null
	local files_before
	files_before=$(count_files "$dir/corpus")
	start=$(date +%s)
	# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
	"$bin" -runs="$RUNS" -max_total_time="$SECONDS_MAX" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$dir/" ${FUZZ_ARGS-} \
		"$dir/corpus" >"$dir/log" 2>&1
	rc=$?
	end=$(date +%s)

	local inited last runs speed failures
	inited=$(grep -m1 -E '^#[0-9]+[[:space:]]+INITED' "$dir/log")
	last=$(grep -E '^#[0-9]+[[:space:]].* cov: ' "$dir/log" | tail -n 1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
	if [ -z "$runs" ]; then
		# A crash prints no final stats: the last status line's count.
		runs=$(printf '%s\n' "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
	fi
	failures=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' \
		-o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) |
		wc -l)
	[ "$rc" -ne 0 ] && [ "$failures" -eq 0 ] && failures=1
	printf '%-10s %9s %7s %6s %11s %11s %12s %7s\n' "$short" "${runs:-?}" \
		"${speed:-?}" "$((end - start))" \
		"$files_before->$(count_files "$dir/corpus")" \
		"$(field "$inited" cov)->$(field "$last" cov)" \
		"$(field "$inited" ft)->$(field "$last" ft)" \
		"$failures" >"$dir/result"

	if [ -n "$MERGE" ] && [ -d "$seeds" ]; then
		local before after
		before=$(ls "$seeds")
		"$bin" -merge=1 -use_counters=0 -timeout=10 "$seeds" \
			"$dir/corpus" >"$dir/merge.log" 2>&1
		after=$(ls "$seeds")
		local added bytes=0 f
		added=$(comm -13 <(echo "$before") <(echo "$after"))
		for f in $added; do
			bytes=$((bytes + $(wc -c <"$seeds/$f")))
		done
		echo "$short: merged $(printf '%s' "$added" | grep -c .) inputs" \
			"($bytes bytes) into tests/fuzz/corpus/$short/" \
			>"$dir/merged"
	fi
	# Last: print_done takes this file as the sign that NAME is done.
	echo "$rc" >"$dir/status"
}

printf '%-10s %9s %7s %6s %11s %11s %12s %7s\n' target runs exec/s time_s \
	files cov ft crashes
# Keep JOBS targets running; print each one's line as it ends, in order.
running=0
failed=0
next_print=0
print_done() {
	while [ "$next_print" -lt ${#bins[@]} ]; do
		local short
		short=$(basename "${bins[$next_print]}")
		short=${short#fuzz-}
		[ -f "$OUT/$short/status" ] || break
		cat "$OUT/$short/result"
		[ -f "$OUT/$short/merged" ] && cat "$OUT/$short/merged"
		if [ "$(cat "$OUT/$short/status")" -ne 0 ] ||
			[ "$(awk '{print $NF}' "$OUT/$short/result")" != 0 ]; then
			failed=1
			find "$OUT/$short" -maxdepth 1 -type f \
				\( -name 'crash-*' -o -name 'leak-*' \
				-o -name 'timeout-*' -o -name 'oom-*' \) \
				-printf '  input kept: %p\n'
		fi
		next_print=$((next_print + 1))
	done
}
for bin in "${bins[@]}"; do
	short=$(basename "$bin")
	rm -f "$OUT/${short#fuzz-}/status"
done
for bin in "${bins[@]}"; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
		print_done
	fi
	run_one "$bin" &
	running=$((running + 1))
done
wait
print_done
exit $failed
