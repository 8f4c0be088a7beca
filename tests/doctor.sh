#!/bin/sh
# doctor.sh: `balloonctl doctor` on fixture trees, then against balloond.
#
# tests/doctor-fixtures/incident is the host that froze (62 GiB, the ARC's
# c_max 61.7 GB with zfs_arc_max 0, 8 GiB of swap on /dev/zd0, swappiness 60,
# i915 loaded with no connector): exit 1, naming each with its fix.
# tests/doctor-fixtures/healthy (the ARC capped at 16 GiB, swap on zram,
# swappiness 10, no GPU driver) exits 0 without a critical finding. Each
# host finding then gets a tree that triggers it and one that does not: a
# copy of the healthy tree with one file changed. Every --json output is checked by
# tests/doctor-json.py. Last, balloond runs on a small fixture host with
# two fake guests, and doctor reads its guests from it.
. "$top_srcdir/tests/daemon-lib.sh"
PY=/usr/bin/python3
FIX="$top_srcdir/tests/doctor-fixtures"
# Under VALGRIND=1 balloonctl itself runs under memcheck too: an error or
# a leak exits 99, which no check below accepts.
CTL_WRAP=
if [ "${VALGRIND:-0}" = 1 ]; then
	CTL_WRAP="valgrind -q --error-exitcode=99 --leak-check=full
		--errors-for-leak-kinds=definite,indirect"
fi
# shellcheck disable=SC2086
doc() { $CTL_WRAP "$BALLOONCTL" doctor "$@"; }
# No balloond on this socket until the last part.
export BALLOOND_SOCKET="$T/none.sock"

# doctor TREE [ARGS...]: doctor --json on TREE; its findings, "SEVERITY ID"
# lines, go to $T/ids (an invalid --json is a failed test point). Returns
# doctor's exit status.
doctor() {
	tree=$1
	shift
	doc --proc-root "$tree/proc" --sys-root "$tree/sys" \
		--etc-root "$tree/etc" --json "$@" >"$T/json" 2>"$T/err"
	rc=$?
	if ! "$PY" "$top_srcdir/tests/doctor-json.py" "$T/json" >"$T/ids"; then
		not_ok "--json of $tree is what balloonctl(8) says"
		sed 's/^/#   /' "$T/json" "$T/err"
	fi
	return $rc
}

has() { grep -qx "$1 $2" "$T/ids"; }
lacks() { ! grep -q " $1\$" "$T/ids"; }

# A tree of our own to change: a copy of the healthy one.
tree() {
	rm -rf "$T/tree"
	cp -R "$FIX/healthy" "$T/tree"
}

# ---- the incident host and the healthy one ----
doctor "$FIX/incident"
check "incident: exit 1" test $? = 1
check "incident: zfs_arc_max 0 is critical" has critical arc_uncapped
check "incident: swap on the zvol is critical" has critical swap_on_zvol
check "incident: swappiness 60" has warning swappiness_high
check "incident: the i915 shrinker" has warning gpu_shrinker_headless
check "incident: no balloond is information, not an error" has info daemon_absent
check "incident: --json says no daemon" grep -q '"daemon": false' "$T/json"
# The text form: worst first, each with its evidence and exact fix, one
# line of summary, no colour off a terminal.
expect 1 "incident, as text: exit 1" doc --proc-root "$FIX/incident/proc" \
	--sys-root "$FIX/incident/sys" --etc-root "$FIX/incident/etc"
out_has "echo 16642998272 > /sys/module/zfs/parameters/zfs_arc_max"
out_has "options zfs zfs_arc_max=16642998272' > /etc/modprobe.d/zfs.conf"
out_has 'boot.kernelParams = [ "zfs.zfs_arc_max=16642998272" ];'
out_has "62.0 GiB / 4 = 15.5 GiB"
out_has "swapoff /dev/zd0"
out_has "sysctl -w vm.swappiness=10"
out_has "/etc/sysctl.d/"
out_has 'boot.kernel.sysctl."vm.swappiness" = 10;'
out_has 'boot.blacklistedKernelModules = [ "i915" ];'
check "text: the critical findings come first" \
	test "$(grep -E '^(CRITICAL|WARNING|INFO)' "$T/out" | cut -d' ' -f1 | uniq | tr '\n' ' ')" = "CRITICAL WARNING INFO "
check "text: one line of summary" test "$(tail -n 1 "$T/out")" = \
	"2 critical, 2 warnings, 1 info: fix the critical ones first"
check "text: no colour off a terminal" sh -c "! grep -q \"$(printf '\033')\" '$T/out'"

doctor "$FIX/healthy"
check "healthy: exit 0" test $? = 0
check "healthy: nothing but the absent daemon" test "$(cat "$T/ids")" = "info daemon_absent"

# ---- one finding at a time ----
tree
printf 'Filename\tType\tSize\tUsed\tPriority\n/dev/zd16 partition 8388604 0 -2\n' >"$T/tree/proc/swaps"
doctor "$T/tree"
check "swap on /dev/zd16: exit 1" test $? = 1
check "swap on /dev/zd16: swap_on_zvol" has critical swap_on_zvol
check "swappiness 10 with a zvol: no swappiness_high" lacks swappiness_high
echo 60 >"$T/tree/proc/sys/vm/swappiness"
doctor "$T/tree"
check "swappiness 60 with a zvol: swappiness_high" has warning swappiness_high
tree
echo 60 >"$T/tree/proc/sys/vm/swappiness"
doctor "$T/tree"
check "swappiness 60 on zram: exit 0, no swappiness_high" test $? = 0
check "swap on zram: no swap_on_zvol" lacks swap_on_zvol
lacks swappiness_high || not_ok "swappiness 60 on zram: swappiness_high"

tree
cp "$FIX/incident/proc/spl/kstat/zfs/arcstats" "$T/tree/proc/spl/kstat/zfs/"
echo 0 >"$T/tree/sys/module/zfs/parameters/zfs_arc_max"
doctor "$T/tree"
check "zfs_arc_max 0, c_max 61.7 GB: arc_uncapped" has critical arc_uncapped
doctor "$FIX/healthy"
check "ARC capped at 16 GiB: no arc_uncapped" lacks arc_uncapped

tree
printf 'Filename\tType\tSize\tUsed\tPriority\n' >"$T/tree/proc/swaps"
doctor "$T/tree"
check "no swap, Committed_AS under MemTotal: no no_swap" lacks no_swap
sed -i 's/^Committed_AS:.*/Committed_AS:   70254592 kB/' "$T/tree/proc/meminfo"
doctor "$T/tree"
check "no swap, Committed_AS over MemTotal: no_swap" has warning no_swap

tree
mkdir -p "$T/tree/sys/module/amdgpu" "$T/tree/sys/class/drm/card1-DP-2"
echo disconnected >"$T/tree/sys/class/drm/card1-DP-2/status"
doctor "$T/tree"
check "amdgpu, no connector connected: gpu_shrinker_headless" has warning gpu_shrinker_headless
echo connected >"$T/tree/sys/class/drm/card1-DP-2/status"
doctor "$T/tree"
check "amdgpu with a display: no gpu_shrinker_headless" lacks gpu_shrinker_headless

tree
rm "$T/tree/proc/pressure/memory"
doctor "$T/tree"
check "no /proc/pressure/memory: psi_unavailable" has warning psi_unavailable
doctor "$FIX/healthy"
check "PSI there: no psi_unavailable" lacks psi_unavailable

# libvirt: libvirtd started at btime + 1000 s; the hook written after it,
# then before; domains marked for balloond without a usable hook.
tree
L="$T/tree/etc/libvirt"
HOOK="$L/hooks/qemu.d/balloond"
mkdir -p "$T/tree/proc/4242" "$L/hooks/qemu.d" "$L/qemu"
printf 'cpu  1 2 3 4\nbtime 1700000000\nprocesses 9\n' >"$T/tree/proc/stat"
echo libvirtd >"$T/tree/proc/4242/comm"
echo "4242 (libvirtd) S 1 4242 4242 0 -1 4194560 1 0 0 0 1 1 0 0 20 0 18 0 $((1000 * $(getconf CLK_TCK))) 1 1" >"$T/tree/proc/4242/stat"
printf '#!/bin/sh\n' >"$HOOK"
chmod 0755 "$HOOK"
touch -d @1700002000 "$HOOK"
doctor "$T/tree"
check "hook written after libvirtd started: libvirt_hook_stale" has warning libvirt_hook_stale
touch -d @1700000500 "$HOOK"
doctor "$T/tree"
check "hook older than libvirtd: no libvirt_hook_stale" lacks libvirt_hook_stale
echo '<domain><name>web</name><metadata><balloond:guest xmlns:balloond="urn:balloond:guest:1"/></metadata></domain>' >"$L/qemu/web.xml"
echo '<domain><name>db</name></domain>' >"$L/qemu/db.xml"
doctor "$T/tree"
check "a marked domain, its hook in place: no libvirt_hook_missing" lacks libvirt_hook_missing
chmod 0644 "$HOOK"
doctor "$T/tree"
check "a marked domain, the hook not executable: libvirt_hook_missing" has warning libvirt_hook_missing
rm "$HOOK"
doctor "$T/tree"
check "a marked domain, no hook: libvirt_hook_missing" has warning libvirt_hook_missing
check "it names the domain" grep -q "the first web;" "$T/json"
rm "$L/qemu/web.xml"
doctor "$T/tree"
check "no marked domain, no hook: no libvirt_hook_missing" lacks libvirt_hook_missing

# ---- usage and an unreadable host ----
expect 2 "an unknown option: exit 2" doc --bogus
expect 2 "an extra argument: exit 2" doc extra
expect 3 "no meminfo: exit 3" doc --proc-root "$T/nowhere"
err_has "cannot read $T/nowhere/meminfo"
expect 0 "--help: exit 0" doc --help
out_has "usage: balloonctl doctor [--proc-root DIR] [--sys-root DIR] [--etc-root DIR] [--json]"

# ---- balloonctl(8) documents every finding id the rules can raise ----
# (Each id is written "ID", DOCTOR_SEVERITY in an add() call.)
ids=$(grep -o '"[a-z_]*", DOCTOR_' "$top_srcdir/ctl/doctor_rules.c" | cut -d'"' -f2 | sort -u)
check "the rules raise 29 kinds of finding" test "$(echo "$ids" | wc -l)" = 29
for id in $ids; do
	check "balloonctl(8) documents $id" grep -q "^\.B $id " "$top_srcdir/man/balloonctl.8"
done

# ---- with balloond: a 1 GiB host, two guests of 256 MiB at their max ----
H="$T/host"
mkdir -p "$H/proc/spl/kstat/zfs" "$H/proc/sys/vm" "$H/proc/pressure" \
	"$H/sys/module/zfs/parameters"
cat >"$H/proc/meminfo" <<EOT
MemTotal:        1048576 kB
MemFree:           65536 kB
MemAvailable:      65536 kB
SwapTotal:       1048572 kB
Committed_AS:     524288 kB
EOT
cat >"$H/proc/spl/kstat/zfs/arcstats" <<EOT
name                            type data
c_min                           4    134217728
c_max                           4    268435456
size                            4    268435456
EOT
echo 268435456 >"$H/sys/module/zfs/parameters/zfs_arc_max"
printf 'Filename\tType\tSize\tUsed\tPriority\n/dev/zram0 partition 1048572 0 100\n' >"$H/proc/swaps"
echo 10 >"$H/proc/sys/vm/swappiness"
echo 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0' >"$H/proc/pressure/memory"
cat >"$T/balloond.conf" <<EOT
[qmp]
# No guest statistics: guest_no_stats, and nothing shrinks the guests.
stats_interval_s = 0
[host]
interval_ms = 100
# A section no guest joins (cluster_unused); vm1 names pg8, which has
# none (cluster_missing).
[cluster pg9]
poll_interval_ms = 2000
EOT
export BALLOOND_CONF="$T/balloond.conf"
export BALLOOND_SOCKET="$SOCK"
start_fake 2
start_daemon --proc-root "$H/proc" --sys-root "$H/sys"
ctl register vm0 --qmp "$T/vm0.qmp" >/dev/null || bail "register vm0"
ctl register vm1 --qmp "$T/vm1.qmp" --patroni pg8/m1 >/dev/null ||
	bail "register vm1"
wait_for 20 field_is vm1 actual_bytes 268435456 || bail "vm1 not at its max"
# Another monitor lowers vm0's balloon: a foreign move.
fake balloon vm0.qmp 134217728 >/dev/null
check "vm0's foreign move is counted" wait_for 20 sh -c \
	"test \"\$(\"$BALLOONCTL\" status --json | grep -c '\"foreign_moves\": [1-9]')\" -ge 1"
wait_for 20 field_is vm0 actual_bytes 268435456 || bail "vm0 not back at its max"
doctor "$H"
check "with balloond: exit 1 (guests at max on a short host)" test $? = 1
check "with balloond: --json says so" grep -q '"daemon": true' "$T/json"
check "with balloond: no daemon_absent" lacks daemon_absent
check "guests 512 MiB + ARC 256 MiB + reserve 512 MiB > 1 GiB: overcommit" has warning overcommit
check "the ARC's cap leaves the guests too little: arc_cap_high" has warning arc_cap_high
check "guests at their max, 64 MiB available: guests_warm" has critical guests_warm
check "stats off: guest_no_stats" has warning guest_no_stats
check "vm0 moved behind balloond's back: guest_foreign_moves" has warning guest_foreign_moves
check "links up: no guest_link_down" lacks guest_link_down
check "QEMU's default: free-page-reporting off" has warning balloon_free_page_reporting_off
check "QEMU's default: deflate-on-oom off" lacks balloon_deflate_on_oom
# vm0's balloon with both options on, read with qom-get through balloond.
fake mode vm0.qmp free-page-reporting,deflate-on-oom >/dev/null
doctor "$H"
check "vm0 deflates on OOM: balloon_deflate_on_oom" has info balloon_deflate_on_oom
check "it names vm0" grep -q '"title": "vm0: the balloon deflates' "$T/json"
check "vm0 reports free pages: only vm1 is told to" sh -c \
	"test \"\$(grep -c '\"title\": \"vm[01]: the balloon.s free-page-reporting is off' '$T/json')\" = 1 &&
	grep -q '\"title\": \"vm1: the balloon.s free-page-reporting is off' '$T/json'"
check "[cluster pg9] without a guest: cluster_unused" has warning cluster_unused
check "vm1 in pg8, no section: cluster_missing" has warning cluster_missing
check "the PSI trigger on a fixture file: psi_trigger_refused" has warning psi_trigger_refused
check "the foreign move names vm0" grep -q '"title": "vm0.s balloon was moved' "$T/json"
diag "with balloond: $(tr '\n' ',' <"$T/ids")"

# The host roomy again (4 GiB, 3 GiB available): neither overcommit nor
# warm guests.
sed -i 's/^MemTotal:.*/MemTotal:        4194304 kB/; s/^MemAvailable:.*/MemAvailable:    3145728 kB/' "$H/proc/meminfo"
doctor "$H"
check "a 4 GiB host: exit 0" test $? = 0
check "a 4 GiB host: no overcommit" lacks overcommit
check "a 4 GiB host: no guests_warm" lacks guests_warm
check "a 4 GiB host: no arc_cap_high" lacks arc_cap_high

# Config sanity through status: none with the config above; then a
# reserve as large as the 256 MiB guests, and the low watermark above the
# high one.
check "the default reserve: no guest_reserve_above_max" lacks guest_reserve_above_max
check "watermarks by default: no watermark_low_above_high" lacks watermark_low_above_high
sed -i '/^\[host\]/a low_watermark = 512M\nhigh_watermark = 256M' "$T/balloond.conf"
printf '[policy]\nguest_reserve = 256M\n' >>"$T/balloond.conf"
ctl reload >/dev/null || not_ok "reload with the new reserve and watermarks"
doctor "$H"
check "reserve 256 MiB, guests of 256 MiB: guest_reserve_above_max" has warning guest_reserve_above_max
check "it names both guests" test "$(grep -c '"id": "guest_reserve_above_max"' "$T/json")" = 2
check "low 512 MiB above high 256 MiB: watermark_low_above_high" has warning watermark_low_above_high
check "the evidence gives both" grep -q 'low_watermark_bytes 536870912 (512 MiB), high_watermark_bytes 268435456' "$T/json"

# A guest whose link goes down: dropped, and no greeting when balloond
# comes back.
fake mode vm1.qmp no-greeting >/dev/null
fake disconnect vm1.qmp >/dev/null
if wait_for 20 field_is vm1 link down; then
	doctor "$H"
	check "vm1's link down: guest_link_down" has warning guest_link_down
else
	not_ok "vm1's link did not go down"
fi

stop_daemon TERM
# vm1, its link down, cannot be restored: balloond says so with exit 3
# (99 would be a valgrind error).
check "balloond stopped (3: vm1 not restored)" test "$STOP_RC" = 3
doctor "$H"
check "balloond gone: daemon_absent, guest findings gone" sh -c \
	"grep -qx 'info daemon_absent' '$T/ids' && ! grep -q guest_ '$T/ids'"
tap_done
