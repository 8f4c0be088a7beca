#!/bin/sh
# compare.sh OLD_REV NEW_REV [RUNS]: two builds of balloond against each
# other on this machine, in one run: the libvirt hook (bench/hook.py),
# Patroni's callback (bench/patroni-bench.py) and the daemon at scale
# (bench/scale.py, 1,000 guests). Each revision is checked out and built
# optimised and sanitizer-free under $BENCH_COMPARE_DIR (default
# build-compare/); the benchmarks are this checkout's, and they alternate
# between the two builds (old, new, old, new) so that a change in the
# machine's load lands on both. NEW_REV may be "." for the working tree.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 OLD_REV NEW_REV [RUNS]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${BENCH_COMPARE_DIR:-$top/build-compare}
runs=${3:-200}
py=/usr/bin/python3
mkdir -p "$dir"

# build REV: its source in $dir/src-ID, its build in $dir/build-ID; prints
# the build directory.
build() {
	if [ "$1" = . ]; then
		id=worktree src=$top
	else
		id=$(git -C "$top" rev-parse --short "$1^{commit}") src=$dir/src-$id
		if [ ! -d "$src" ]; then
			mkdir -p "$src"
			git -C "$top" archive "$id" | tar -x -C "$src"
		fi
	fi
	b=$dir/build-$id
	mkdir -p "$b"
	(
		cd "$src" && { test -x configure || autoreconf -fi >/dev/null 2>&1; }
		cd "$b"
		[ -f Makefile ] || "$src/configure" -q CFLAGS="-O2 -g" >/dev/null
		make -j"$(nproc)" >/dev/null 2>&1 && make tests/fake-qmp >/dev/null 2>&1
	) >&2 || { echo "$0: building $1 failed (in $b)" >&2; exit 1; }
	echo "$b"
}

old=$(build "$1")
new=$(build "$2")
for round in 1 2; do
	for which in old new; do
		eval b=\$$which
		rev=$1
		[ "$which" = new ] && rev=$2
		echo "==== round $round, $which ($rev): $b"
		$py "$top/bench/hook.py" "$b" --runs "$runs"
		$py "$top/bench/patroni-bench.py" "$b" --runs "$runs" --flood 1000 |
			grep -v '^ *$'
		$py "$top/bench/scale.py" "$b" --guests 1000 --idle 5 |
			grep -E 'RSS|burst|first balloon'
		echo
	done
done
