#!/bin/sh
# policy-sim.sh: the simulator's headline comparison as a test. On the
# incident's host (an unbounded ARC, warmed-up guests, overcommitted),
# balloond must keep every Patroni leader at its max from its promotion,
# have fewer seconds in danger than every other policy (or none, like the
# ones that squeeze every guest to its min), and fewer guest-starved
# seconds than every other policy. Seeds 1 and 3; seed 2 is a known
# exception (see the closing note of the policy issue: with no policy at
# all no guest starves there, and balloond's replicas held at their
# replica target meet a spike).
. "$top_srcdir/tests/tap.sh"
SIM="$top_builddir/bench/balloon-sim"
for seed in 1 3; do
	if "$SIM" --seed $seed --check >"${TMPDIR:-/tmp}/sim.$$" 2>&1; then
		ok "seed $seed: balloond beats every other policy"
	else
		not_ok "seed $seed: $(grep 'check: FAIL' "${TMPDIR:-/tmp}/sim.$$" | head -n 3 | tr '\n' ';')"
	fi
	sed 's/^/# /' "${TMPDIR:-/tmp}/sim.$$" | head -n 8
done
rm -f "${TMPDIR:-/tmp}/sim.$$"
tap_done
