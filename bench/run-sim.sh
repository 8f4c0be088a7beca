#!/bin/sh
# run-sim.sh [OPTIONS]: the policy simulator (bench/sim.c: balloond's
# policy against none, the hourly cron job, Proxmox's and MoM's
# auto-balloon) on an optimised, sanitizer-free build (build-bench/), with
# seed 1 and then seed 2, on the incident's host (12 guests of 24 GiB on
# 256 GiB, an unbounded ZFS ARC). OPTIONS go to both runs, for example
# --days 7, --plain 0 (no overcommit) or --plain 5 (more), --grow-gibps 8
# (a faster balloon), --baselines-see-arc, --check or --check-policy (then
# the exit status is the worst of the two).
set -eu
. "$(dirname "$0")/build.sh"
(cd "$b" && make bench/balloon-sim >/dev/null)
status=0
for seed in 1 2; do
	"$b/bench/balloon-sim" --seed "$seed" "$@" || status=$?
	echo
done
exit "$status"
