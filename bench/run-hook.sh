#!/bin/sh
# run-hook.sh [RUNS]: the libvirt hook's run time per domain event
# (bench/hook.py) on an optimised, sanitizer-free build (build-bench/).
set -eu
. "$(dirname "$0")/build.sh"
(cd "$b" && make hooks/qemu >/dev/null)
/usr/bin/python3 "$top/bench/hook.py" "$b" --runs "${1:-200}"
