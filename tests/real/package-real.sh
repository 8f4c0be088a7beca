#!/bin/sh
# package-real.sh: the Debian package, built, installed, run and purged on
# this machine (root; it installs system-wide and purges even on failure).
#   1. dpkg-buildpackage -us -uc -b from a clean copy of the tree (the
#      files git tracks, or the whole source tree outside git), and
#      lintian on the result: no error, no warning;
#   2. apt-get install ./balloond_*.deb;
#   3. systemd-analyze verify on the installed unit;
#   4. the installed balloond started as the unit's ExecStart would
#      (systemd is not PID 1 here) with the installed config, its socket
#      and state directory;
#   5. a real libvirtd (tests/lib/libvirt-lib.sh) started after the install
#      runs the installed hook for a domain carrying balloond's metadata:
#      registered on virsh start, link up, unregistered on virsh destroy;
#   6. apt-get purge, and nothing of the package is left: its files, the
#      directories it made, /etc/balloond, /var/lib/balloond, the unit's
#      enablement.
# The package's own unit tests are skipped (DEB_BUILD_OPTIONS=nocheck):
# `make check` ran them on this build already.
. "$top_srcdir/tests/lib/daemon-lib.sh"
# libvirtd must run the installed hook, not the test wrapper
# libvirt-lib.sh installs by default (see lv_install_hook below).
LV_HOOK=/usr/libexec/balloond/libvirt/balloond
. "$top_srcdir/tests/lib/libvirt-lib.sh"

P_SOCK=/run/balloond/control.sock
P_STATE=/var/lib/balloond
P_UNIT=/lib/systemd/system/balloond.service
P_PID=
P_INSTALLED=0
# daemon-lib.sh's ctl, field and field_is, on the installed balloonctl and
# the installed daemon's default socket.
BALLOONCTL=/usr/bin/balloonctl
BALLOOND_SOCKET=$P_SOCK
export BALLOOND_SOCKET
p_gone() { ! lv_alive "$P_PID"; }

# p_cleanup: the installed daemon stopped by pid, the package purged (on
# any exit: a failed test must not leave it installed).
p_cleanup() {
	if [ -n "$P_PID" ]; then
		kill -TERM "$P_PID" 2>/dev/null
		wait_for 20 p_gone || kill -KILL "$P_PID" 2>/dev/null
		wait "$P_PID" 2>/dev/null
		P_PID=
	fi
	if [ "$P_INSTALLED" = 1 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q balloond \
			>"$T/purge.out" 2>&1 || dpkg --purge balloond >>"$T/purge.out" 2>&1
		P_INSTALLED=0
	fi
}
# The domains go first (their stop runs the installed hook), then the
# daemon and the package, then the test's own files.
trap 'lv_cleanup; p_cleanup; cleanup' EXIT

[ "$(id -u)" = 0 ] || bail "the package tier runs as root (apt-get install)"
for c in dpkg-buildpackage dh lintian apt-get systemd-analyze; do
	command -v "$c" >/dev/null || bail "$c missing (install-deps.sh installs dpkg-dev, debhelper, lintian)"
done
case $(dpkg-query -W -f='${db:Status-Status}' balloond 2>/dev/null) in
'' | not-installed) ;;
*) bail "a balloond package is on this machine already: this test would replace and purge it" ;;
esac
T0=$(date +%s)
phase() { diag "$(($(date +%s) - T0)) s: $*"; }

# ---- 1. build from a clean copy -----------------------------------------------
SRC="$T/src/balloond"
mkdir -p "$SRC"
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
	# Tracked files and new ones not ignored, as they are in the work
	# tree: no build directory, no generated configure.
	(cd "$top_srcdir" && git ls-files -z -co --exclude-standard) |
		(cd "$top_srcdir" && cpio -0 -pdm --quiet "$SRC") ||
		bail "cannot copy the tree"
else
	# A tree outside git (an unpacked dist tarball): all of it but the
	# builds.
	tar -C "$top_srcdir" --exclude='./build*' --exclude=./autom4te.cache \
		-cf - . | tar -C "$SRC" -xf - || bail "cannot copy the tree"
fi
(cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b >"$T/build.log" 2>&1)
rc=$?
check "dpkg-buildpackage -us -uc -b succeeds" test $rc = 0
[ $rc = 0 ] || {
	tail -n 30 "$T/build.log" | sed 's/^/#   /'
	bail "no package to test"
}
DEB=$(ls "$T"/src/balloond_*_"$(dpkg --print-architecture)".deb 2>/dev/null)
check "it made balloond_VERSION_ARCH.deb" test -f "$DEB"
# balloond-patroni links nettle's static library: the package names it.
nettle=$(dpkg-query -Wf '${source:Package} (= ${source:Version})' nettle-dev)
check "Built-Using: $nettle" \
	test "$(dpkg-deb -f "$DEB" Built-Using)" = "$nettle"
phase "built $(basename "$DEB")"
# Neither an error nor a warning; -i explains any tag in the log.
lintian -i "$T"/src/balloond_*.changes >"$T/lintian.out" 2>&1
check "lintian: no error or warning" sh -c "! grep -qE '^[EW]: ' '$T/lintian.out'"
grep -E '^[EWIP]: ' "$T/lintian.out" | sed 's/^/#   lintian: /'
phase "lintian done"

# ---- 2. install ------------------------------------------------------------------
# Directories the package brings that were not here before: purge must
# remove them.
# $T/files: the package's files and links; $T/new-dirs: its directories
# that are not here yet (/lib is a link to /usr/lib: a directory).
dpkg-deb -c "$DEB" | awk '{print substr($1, 1, 1), $6}' |
	sed 's| \./| /|; s|/$||' >"$T/contents"
awk '$1 != "d" {print $2}' "$T/contents" >"$T/files"
: >"$T/new-dirs"
awk '$1 == "d" && $2 != "" {print $2}' "$T/contents" | while read -r d; do
	[ -e "$d" ] || echo "$d" >>"$T/new-dirs"
done
for d in /run/balloond; do
	[ -e "$d" ] || echo "$d" >>"$T/new-dirs"
done
P_INSTALLED=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB" >"$T/install.out" 2>&1
rc=$?
check "apt-get install ./$(basename "$DEB")" test $rc = 0
[ $rc = 0 ] || {
	tail -n 20 "$T/install.out" | sed 's/^/#   /'
	bail "not installed"
}
for f in /usr/sbin/balloond /usr/bin/balloonctl /usr/bin/balloond-patroni \
	/etc/libvirt/hooks/qemu.d/balloond /usr/share/balloond/balloond-proxmox; do
	check "installed: $f, executable" test -x "$f"
done
check "the hook in libvirt's directory is a link to /usr/libexec" \
	test "$(readlink /etc/libvirt/hooks/qemu.d/balloond)" = "$LV_HOOK"
check "/etc/balloond/balloond.conf is a conffile" \
	sh -c "dpkg-query -W -f='\${Conffiles}' balloond | grep -q ' /etc/balloond/balloond.conf '"
check "the unit is installed" test -f "$P_UNIT"
check "the unit is enabled (deb-systemd-helper)" \
	test -L /etc/systemd/system/multi-user.target.wants/balloond.service
check "tmpfiles.d made /run/balloond at install" test -d /run/balloond
check "and /run/balloond/pve for Proxmox's monitors" test -d /run/balloond/pve
"/usr/share/balloond/balloond-proxmox" 100 pre-start >"$T/out" 2>&1
check "the installed Proxmox hookscript runs (pre-start: exit 0, silent)" test $? = 0 -a ! -s "$T/out"
for m in man8/balloond.8 man8/balloonctl.8 man8/balloond-patroni.8 \
	man5/balloond.conf.5 man7/balloond-libvirt.7 man7/balloond-proxmox.7; do
	check "man page $m" test -f "/usr/share/man/$m.gz"
done
phase "installed"

# ---- 3. the unit -------------------------------------------------------------------
systemd-analyze verify "$P_UNIT" >"$T/verify.out" 2>&1
rc=$?
check "systemd-analyze verify $P_UNIT: exit 0" test $rc = 0
check "systemd-analyze verify: nothing to say about balloond.service" \
	sh -c "! grep -q 'balloond.service' '$T/verify.out'"
sed 's/^/#   verify: /' "$T/verify.out"

# ---- 4. the installed daemon, as the unit's ExecStart runs it -----------------------
EXEC=$(sed -n 's/^ExecStart=//p' "$P_UNIT")
check "ExecStart is /usr/sbin/balloond" test "$EXEC" = /usr/sbin/balloond
# The unit's UMask= and a bare environment; the runtime and state
# directories come from tmpfiles.d and the daemon itself.
(umask 0077 && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $EXEC) \
	</dev/null >"$T/installed.out" 2>&1 &
P_PID=$!
wait_for 20 ctl status >/dev/null ||
	bail "the installed balloond does not answer on $P_SOCK: $(tail -n 5 "$T/installed.out")"
ok "the installed balloond answers on $P_SOCK"
check "it made its state directory $P_STATE" test -d "$P_STATE"
check "no arguments: the installed /etc/balloond/balloond.conf" \
	test "$(tr '\0' ' ' </proc/$P_PID/cmdline)" = "/usr/sbin/balloond "

# ---- 5. a real libvirtd runs the installed hook ----------------------------------
# Not libvirt-lib.sh's wrapper: libvirtd finds the package's hook alone.
lv_install_hook() { :; }
lv_setup
phase "libvirtd started"
# The postinst with libvirtd running: a first installation says once that
# libvirtd reads hooks at its start; an upgrade says nothing of libvirtd;
# neither restarts libvirtd. With balloond running (section 4), an upgrade
# says once that it keeps the previous version until a restart.
# As dpkg runs it (deb-systemd-helper refuses to run otherwise).
PI=/var/lib/dpkg/info/balloond.postinst
export DPKG_MAINTSCRIPT_PACKAGE=balloond DPKG_MAINTSCRIPT_NAME=postinst
sh "$PI" configure "" >"$T/postinst.out" 2>&1
check "postinst, first install, libvirtd running: says to restart libvirtd" \
	grep -q "takes effect after 'systemctl restart libvirtd'" "$T/postinst.out"
check "and says it in one message" test "$(grep -c balloond: "$T/postinst.out")" = 1
sh "$PI" configure "$(dpkg-query -W -f='${Version}' balloond)" >"$T/postinst.out" 2>&1
check "postinst, upgrade: nothing about libvirtd" sh -c "! grep -q libvirtd '$T/postinst.out'"
check "postinst, upgrade, balloond running: says it keeps the previous version until a restart" \
	grep -q "keeps the previous version until 'systemctl restart balloond'" "$T/postinst.out"
check "and says it in one message" test "$(grep -c balloond: "$T/postinst.out")" = 1
sed 's/^/#   postinst (upgrade): /' "$T/postinst.out"
unset DPKG_MAINTSCRIPT_PACKAGE DPKG_MAINTSCRIPT_NAME
check "postinst restarted nothing: the same libvirtd runs" lv_alive "$LV_LIBVIRTD_PID"
check "nor balloond: the same balloond runs" kill -0 "$P_PID"
# Under systemd: an upgrade neither stops nor restarts balloond (a stop
# gives every guest its max back first); a removal stops it.
# What dh_installsystemd wrote (the unit's name in single quotes).
only_starts() {
	grep -q "deb-systemd-invoke start 'balloond.service'" "$PI" &&
		! grep -qE 'deb-systemd-invoke .*restart|_dh_action' "$PI"
}
stops_on_remove() {
	grep -q '"$1" = remove' /var/lib/dpkg/info/balloond.prerm &&
		grep -q "deb-systemd-invoke stop 'balloond.service'" /var/lib/dpkg/info/balloond.prerm
}
check "postinst: an upgrade only starts balloond, never restarts it" only_starts
check "prerm: stops balloond only on remove" stops_on_remove
D=${LV_PREFIX}pkg
registered() { ctl status --json | grep -qF "\"name\": \"$D\""; }
unregistered() {
	ctl status --json >"$T/st.json" && ! grep -qF "\"name\": \"$D\"" "$T/st.json"
}
lv_define "$D" 128 '<balloond:memory min="96M" priority="4"/>'
lv_start "$D" || bail "virsh start $D failed"
phase "virsh start $D"
check "virsh start: the installed hook registered the domain" wait_for 20 registered
check "its min comes from the metadata" field_is "$D" min_bytes $((96 * MiB))
check "its max is the domain's <memory>" field_is "$D" max_bytes $((128 * MiB))
check "its QMP socket is the extra one in /run/balloond/qmp" field_is "$D" qmp "$LV_QMPDIR/$D.sock"
check "the installed balloond's link to it comes up" wait_field 30 "$D" link up
check "on disk in $P_STATE" test -s "$P_STATE/guests.json" -o -s "$P_STATE/guests.journal"
phase "registered, link up"
virsh destroy "$D" >"$T/destroy.out" 2>&1
phase "virsh destroy $D"
check "virsh destroy: the installed hook unregistered it" wait_for 20 unregistered
check "nothing spooled: the hook reached the daemon each time" \
	sh -c "! ls '$P_STATE/spool/' 2>/dev/null | grep -q '.json$'"
phase "the hook ran"
lv_cleanup

kill -TERM "$P_PID"
wait "$P_PID"
rc=$?
P_PID=
check "the installed balloond exits 0 on SIGTERM" test $rc = 0

# ---- 6. purge ------------------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q balloond >"$T/purge.out" 2>&1
rc=$?
P_INSTALLED=0
check "apt-get purge balloond" test $rc = 0
check "dpkg knows no balloond any more" \
	sh -c "case \$(dpkg-query -W -f='\${db:Status-Status}' balloond 2>/dev/null) in ''|not-installed) exit 0;; esac; exit 1"
left=
while read -r f; do
	[ ! -e "$f" ] && [ ! -L "$f" ] || left="$left $f"
done <"$T/files"
while read -r d; do
	[ ! -e "$d" ] || left="$left $d"
done <"$T/new-dirs"
for f in "$P_STATE" /etc/balloond \
	/etc/systemd/system/multi-user.target.wants/balloond.service; do
	[ ! -e "$f" ] && [ ! -L "$f" ] || left="$left $f"
done
left="$left $(find /etc /lib/systemd /usr/lib/tmpfiles.d /usr/libexec \
	/usr/share/doc /usr/share/man /var/lib/systemd /var/lib/dpkg/info \
	-name '*balloond*' 2>/dev/null | tr '\n' ' ')"
left=$(echo $left)
check "nothing of the package is left${left:+: $left}" test -z "$left"
phase "purged"

tap_done
