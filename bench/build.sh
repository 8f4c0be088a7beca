# bench/build.sh: sourced by the run-*.sh benchmarks. Builds an optimised,
# sanitizer-free balloond and the fake QEMU in $BENCH_BUILD (default
# build-bench/) and sets top and b; the benchmarks' Python imports the
# shared helpers (tests/lib/bdtest.py) from PYTHONPATH.
top=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$top/tests/lib${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
b=${BENCH_BUILD:-$top/build-bench}
(cd "$top" && { test -x configure || autoreconf -fi >/dev/null; })
mkdir -p "$b"
[ -f "$b/Makefile" ] || (cd "$b" && "$top/configure" -q CFLAGS="-O2 -g")
(cd "$b" && make -j"$(nproc)" >/dev/null && make tests/fake-qmp >/dev/null)
