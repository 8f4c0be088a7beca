#!/bin/sh
# run-scale.sh [GUESTS] [IDLE_SECONDS]: the scale benchmark on an optimised,
# sanitizer-free build (build-bench/), once with guest-stats polling at its
# default (every 5 s) and once with it off, so the idle figure shows what
# the polling costs and that nothing else runs.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${BENCH_BUILD:-$top/build-bench}
(cd "$top" && { test -x configure || autoreconf -fi >/dev/null; })
mkdir -p "$b"
[ -f "$b/Makefile" ] || (cd "$b" && "$top/configure" -q CFLAGS="-O2 -g")
(cd "$b" && make -j"$(nproc)" >/dev/null && make tests/fake-qmp >/dev/null)
python3 "$top/bench/scale.py" "$b" --guests "${1:-1000}" --idle "${2:-30}"
echo
python3 "$top/bench/scale.py" "$b" --guests "${1:-1000}" --idle "${2:-30}" --stats-interval 0 |
	grep -E 'idle|RSS'
