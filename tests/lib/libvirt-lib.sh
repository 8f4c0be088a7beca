# libvirt-lib.sh: a real libvirtd of the test's own, with balloond's qemu
# hook in place, and test-vm guests as libvirt domains. Source it after
# tests/lib/daemon-lib.sh (it uses $T, $SOCK, $STATE, wait_for, diag, bail).
#
# systemd is not PID 1 on the test machines, so nothing runs libvirtd for
# us: lv_setup starts virtlogd and libvirtd (libvirt 9.0's monolithic
# daemon) as children of the test, with pid files, and lv_cleanup (on EXIT,
# before daemon-lib's cleanup) destroys and undefines the test's domains
# and stops both daemons by pid. Only the QEMU driver is loaded
# (LIBVIRT_DRIVER_DIR): no network driver, so no default network, bridge or
# dnsmasq is ever started on the host.
#
# libvirtd runs hooks with almost no environment and reads
# /etc/libvirt/hooks/qemu.d/ only when it starts: the test installs a small
# wrapper there, $LV_HOOK_PATH, that points $LV_HOOK (the hook program,
# default $top_builddir/hooks/qemu) at the test's private balloond
# (BALLOOND_SOCKET, BALLOOND_STATE_DIR) and logs each call with the hook's
# own run time to $LV_HOOK_LOG:
#   NAME OP SUBOP rc=N us=MICROSECONDS
# It is removed at the end. So are the directories the test had to create
# (/run/balloond/qmp for the extra QMP sockets, /run/libvirt, the hook
# directory, libvirt's "machine" cgroups) when they were not there before.
#
# Every system-wide thing is serialized by a lock (flock on /etc/libvirt),
# and a libvirtd or virtlogd the test did not start makes it bail out
# instead of touching it.

LV_LIBVIRTD=${LIBVIRTD:-/usr/sbin/libvirtd}
LV_VIRTLOGD=${VIRTLOGD:-/usr/sbin/virtlogd}
LV_HOOK=${LV_HOOK:-$top_builddir/hooks/qemu}
LV_URI=qemu:///system
export LIBVIRT_DEFAULT_URI=$LV_URI
LV_HOOKDIR=/etc/libvirt/hooks/qemu.d
LV_HOOK_PATH=$LV_HOOKDIR/balloond-test
LV_QMPDIR=/run/balloond/qmp
# flock(2) on a directory that is always there: no lock file left behind.
LV_LOCK=/etc/libvirt
# Domains of the test are named $LV_PREFIX*, nothing else is touched.
LV_PREFIX=bdtest-
LV="$T/lv"
LV_VM="$LV/vm"
LV_HOOK_LOG="$LV/hook.log"
LV_LIBVIRTD_PID=
LV_VIRTLOGD_PID=
LV_SET_UP=0
LV_CREATED=   # system paths this run created, removed by lv_cleanup

virsh() { command virsh -q -c "$LV_URI" "$@"; }

lv_log() { echo "# libvirt-lib: $*" >&2; }

# lv_alive PID: PID is a live process (not a zombie).
lv_alive() {
	[ -n "$1" ] && [ -e "/proc/$1" ] &&
		! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

# lv_pids_named NAME: live processes whose command name is NAME (procps'
# pgrep is not on every minimal Debian).
lv_pids_named() {
	for c in /proc/[0-9]*/comm; do
		[ "$(cat "$c" 2>/dev/null)" = "$1" ] || continue
		p=${c#/proc/}
		p=${p%/comm}
		! lv_alive "$p" || echo "$p"
	done
}

# lv_mkdir DIR [MODE [OWNER]]: creates DIR (and its parents) when missing
# and remembers each one made, for lv_cleanup.
lv_mkdir() {
	[ -d "$1" ] && return 0
	lv_mkdir "$(dirname "$1")" || return 1
	mkdir "$1" || return 1
	LV_CREATED="$1 $LV_CREATED"
	[ -z "${2:-}" ] || chmod "$2" "$1"
	[ -z "${3:-}" ] || chown "$3" "$1"
}

# lv_accel: the domain type, kvm or qemu (TCG), as test-vm/start decides it:
# kvm only with vmx/svm in /proc/cpuinfo and a usable /dev/kvm (on these
# machines /dev/kvm exists but a KVM guest never leaves the decompressor).
# BALLOOND_TVM_ACCEL=tcg|kvm overrides.
lv_accel() {
	case ${BALLOOND_TVM_ACCEL:-} in
	tcg) echo qemu ;;
	kvm) echo kvm ;;
	*)
		if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -r /dev/kvm ] &&
			[ -w /dev/kvm ]; then
			echo kvm
		else
			echo qemu
		fi
		;;
	esac
}

# lv_setup: everything up to a libvirtd answering virsh, hook installed.
lv_setup() {
	[ "$(id -u)" = 0 ] || bail "the libvirt tier runs as root (libvirtd, /etc/libvirt/hooks)"
	for p in "$LV_LIBVIRTD" "$LV_VIRTLOGD"; do
		[ -x "$p" ] || bail "$p missing (install-deps.sh installs libvirt-daemon-system)"
	done
	command -v virsh >/dev/null || bail "virsh missing (libvirt-clients)"
	[ -x "$LV_HOOK" ] || bail "the hook $LV_HOOK is not built"
	mkdir -p "$LV_VM" "$LV/drivers"
	# libvirt-qemu must reach the kernel, initrd and console log.
	chmod 0711 "$T"
	chmod 0755 "$LV" "$LV_VM"

	# One test at a time may own libvirtd, the hook directory and
	# /run/balloond/qmp. The lock's fd is not given to the daemons.
	exec 9<"$LV_LOCK"
	flock -w 900 9 || bail "another libvirt test holds $LV_LOCK"
	for d in libvirtd virtlogd virtqemud; do
		if p=$(lv_pids_named "$d") && [ -n "$p" ]; then
			bail "a $d not started by this test is running (pid $(echo $p)); stop it first"
		fi
	done
	# From here on the libvirt side of the machine is the test's to clean.
	LV_SET_UP=1
	[ -e /run/libvirt ] || LV_CREATED="/run/libvirt $LV_CREATED"
	for c in /sys/fs/cgroup/*/; do
		[ -e "${c}machine" ] || LV_CREATED="${c}machine $LV_CREATED"
	done

	# The guest image, readable by libvirt-qemu: libvirt chowns a
	# domain's kernel and initrd while it runs (dynamic ownership), so
	# the domains use copies, not test-vm's cache.
	img=$("$top_srcdir/test-vm/build" 2>"$LV/build.err") ||
		bail "test-vm/build failed: $(tail -n 3 "$LV/build.err")"
	LV_KERNEL=$LV_VM/vmlinux
	[ -f "$img/vmlinux" ] || LV_KERNEL=$LV_VM/vmlinuz
	cp "$img/$(basename "$LV_KERNEL")" "$img/initramfs.gz" "$LV_VM/" ||
		bail "cannot copy the guest image from $img"
	LV_TYPE=$(lv_accel)

	# The extra QMP sockets' directory (systemd/balloond.tmpfiles makes it
	# on an installed system).
	lv_mkdir "$LV_QMPDIR" 0770 libvirt-qemu:libvirt-qemu ||
		bail "cannot create $LV_QMPDIR"

	lv_install_hook
	drv=$(ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so 2>/dev/null | head -n 1)
	[ -n "$drv" ] || bail "libvirt's QEMU driver is not installed (libvirt-daemon-driver-qemu)"
	ln -sf "$drv" "$LV/drivers/libvirt_driver_qemu.so"

	lv_start_virtlogd
	lv_start_libvirtd
	# Leftovers of an earlier run that could not clean up.
	for d in $(virsh list --all --name | grep "^$LV_PREFIX"); do
		virsh destroy "$d" >/dev/null 2>&1
		virsh undefine "$d" >/dev/null 2>&1
	done
	[ "$LV_TYPE" = qemu ] || [ -n "${BALLOOND_TVM_ACCEL:-}" ] || lv_probe_kvm
	diag "libvirtd $("$LV_LIBVIRTD" --version | awk '{print $NF}') (pid $LV_LIBVIRTD_PID), domains of type $LV_TYPE"
}

# lv_probe_kvm: /dev/kvm and vmx/svm are not enough (a nested or odd CPU
# can leave a KVM guest in its decompressor): a small kvm domain must
# boot within 30 s, else the domains are TCG. Only where KVM looks usable,
# where a boot takes about a second.
lv_probe_kvm() {
	if lv_try_define "${LV_PREFIX}probe" 128 - noqmp &&
		lv_start "${LV_PREFIX}probe" && wait_for 30 lv_ready "${LV_PREFIX}probe"; then
		diag "a kvm domain boots: domains are kvm"
	else
		diag "a kvm domain did not boot ($(tail -n 1 "$LV/define.out" "$LV/start.out" 2>/dev/null | grep error | head -n 1)): domains are qemu (TCG)"
		LV_TYPE=qemu
	fi
	virsh destroy "${LV_PREFIX}probe" >/dev/null 2>&1
	virsh undefine "${LV_PREFIX}probe" >/dev/null 2>&1
}

# lv_install_hook: the wrapper libvirtd runs for every domain event.
lv_install_hook() {
	lv_mkdir "$LV_HOOKDIR" 0755 || bail "cannot create $LV_HOOKDIR"
	: >"$LV_HOOK_LOG"
	: >"$LV/hook.err"
	chmod 0644 "$LV_HOOK_LOG"
	cat >"$LV_HOOK_PATH.tmp" <<EOF
#!/bin/sh
# Installed by balloond's tests/lib/libvirt-lib.sh for one test run (pid $$) and
# removed at its end: balloond's qemu hook against the test's own balloond.
[ -d '$LV' ] || exit 0
BALLOOND_SOCKET='$SOCK'
BALLOOND_STATE_DIR='$STATE'
export BALLOOND_SOCKET BALLOOND_STATE_DIR
t0=\$(date +%s%N)
'$LV_HOOK' "\$@" 2>>'$LV/hook.err'
rc=\$?
t1=\$(date +%s%N)
echo "\$1 \$2 \$3 rc=\$rc us=\$(((t1 - t0) / 1000))" >>'$LV_HOOK_LOG'
exit \$rc
EOF
	chmod 0755 "$LV_HOOK_PATH.tmp"
	mv "$LV_HOOK_PATH.tmp" "$LV_HOOK_PATH"
}

lv_start_virtlogd() {
	rm -f "$LV/virtlogd.pid"
	"$LV_VIRTLOGD" -p "$LV/virtlogd.pid" </dev/null >>"$LV/virtlogd.log" 2>&1 9>&- &
	LV_VIRTLOGD_PID=$!
	wait_for 20 test -S /run/libvirt/virtlogd-sock ||
		bail "virtlogd did not start: $(tail -n 5 "$LV/virtlogd.log")"
}

# lv_start_libvirtd: starts it and waits until virsh gets an answer.
lv_start_libvirtd() {
	rm -f "$LV/libvirtd.pid"
	LIBVIRT_DRIVER_DIR="$LV/drivers" \
		LIBVIRT_LOG_OUTPUTS="3:file:$LV/libvirtd.log" \
		"$LV_LIBVIRTD" -p "$LV/libvirtd.pid" </dev/null \
		>>"$LV/libvirtd.out" 2>&1 9>&- &
	LV_LIBVIRTD_PID=$!
	wait_for 60 lv_libvirtd_ready ||
		bail "libvirtd did not start: $(tail -n 5 "$LV/libvirtd.out" "$LV/libvirtd.log")"
}
lv_libvirtd_ready() {
	lv_alive "$LV_LIBVIRTD_PID" || return 1
	command virsh -c "$LV_URI" version >/dev/null 2>&1
}

# lv_stop PIDVAR: SIGTERM, then SIGKILL after 20 s; waits for it.
lv_stop() {
	eval "lv_pid=\$$1"
	[ -n "$lv_pid" ] || return 0
	kill -TERM "$lv_pid" 2>/dev/null
	if ! wait_for 20 sh -c "! [ -e /proc/$lv_pid ] || grep -q '^[^)]*) Z' /proc/$lv_pid/stat"; then
		lv_log "pid $lv_pid still there 20 s after SIGTERM: SIGKILL"
		kill -KILL "$lv_pid" 2>/dev/null
	fi
	wait "$lv_pid" 2>/dev/null
	eval "$1="
}
lv_stop_libvirtd() { lv_stop LV_LIBVIRTD_PID; }

# lv_domain_xml NAME MEM_MIB [METADATA|-] [qmp|noqmp] [balloon|noballoon]:
# a test-vm guest as a libvirt domain, on stdout. METADATA is the inside of
# <balloond:guest> ('-' or '': no balloond metadata at all). qmp adds the
# extra QMP socket $LV_QMPDIR/NAME.sock under <qemu:commandline>.
lv_domain_xml() {
	name=$1 mem=$2 meta=${3:--} qmp=${4:-qmp} bal=${5:-balloon}
	echo "<domain type='$LV_TYPE' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
	echo "  <name>$name</name>"
	echo "  <memory unit='MiB'>$mem</memory>"
	echo "  <currentMemory unit='MiB'>$mem</currentMemory>"
	echo "  <vcpu>1</vcpu>"
	if [ "$meta" != - ]; then
		echo "  <metadata>"
		echo "    <balloond:guest xmlns:balloond='urn:balloond:guest:1'>$meta</balloond:guest>"
		echo "  </metadata>"
	fi
	# test-vm/start's kernel command line; QEMU exits on a reboot or a
	# panic (-no-reboot), as under test-vm.
	cat <<EOF
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$LV_KERNEL</kernel>
    <initrd>$LV_VM/initramfs.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet tvm.interval=2</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='$LV_VM/$name.log'/>
      <target port='0'/>
    </serial>
EOF
	if [ "$bal" = balloon ]; then
		echo "    <memballoon model='virtio'/>"
	else
		echo "    <memballoon model='none'/>"
	fi
	echo "  </devices>"
	if [ "$qmp" = qmp ]; then
		echo "  <qemu:commandline>"
		echo "    <qemu:arg value='-qmp'/>"
		echo "    <qemu:arg value='unix:$LV_QMPDIR/$name.sock,server=on,wait=off'/>"
		echo "  </qemu:commandline>"
	fi
	echo "</domain>"
}

# lv_define NAME MEM_MIB [METADATA|-] [qmp|noqmp] [balloon|noballoon]
lv_define() {
	lv_try_define "$@" || bail "virsh define $1: $(cat "$LV/define.out")"
}
lv_try_define() {
	case $1 in "$LV_PREFIX"*) ;; *) bail "domain $1 lacks the prefix $LV_PREFIX" ;; esac
	lv_domain_xml "$@" >"$LV/$1.xml"
	virsh define "$LV/$1.xml" >"$LV/define.out" 2>&1
}

# lv_start NAME: virsh start (the console log starts afresh).
lv_start() {
	rm -f "$LV_VM/$1.log"
	virsh start "$1" >"$LV/start.out" 2>&1 || {
		diag "virsh start $1: $(cat "$LV/start.out")"
		return 1
	}
}

# lv_ready NAME: the guest's init reported READY with its balloon driver.
lv_ready() { grep -q '^BALLOOND-TVM READY balloon=1' "$LV_VM/$1.log" 2>/dev/null; }

# lv_wait_ready SECS NAME...: every NAME is ready, or bail with its log.
lv_wait_ready() {
	lw_secs=$1
	shift
	for lw in "$@"; do
		wait_for "$lw_secs" lv_ready "$lw" || {
			tail -n 5 "$LV_VM/$lw.log" 2>/dev/null | sed 's/^/#   /'
			bail "domain $lw not ready after $lw_secs s (type $LV_TYPE)"
		}
	done
}

# lv_running NAME: libvirt says the domain runs.
lv_running() { [ "$(virsh domstate "$1" 2>/dev/null)" = running ]; }

# lv_memstat NAME KEY: one `virsh dommemstat` value (KiB).
lv_memstat() { virsh dommemstat "$1" 2>/dev/null | awk -v k="$2" '$1 == k {print $2}'; }

# lv_hook_calls NAME OP SUBOP: how many such hook calls were logged.
lv_hook_calls() { grep -c "^$1 $2 $3 " "$LV_HOOK_LOG"; }

# lv_cleanup: destroys and undefines the test's domains, stops libvirtd
# and virtlogd by pid, removes the hook and what the run created.
lv_cleanup() {
	[ "$LV_SET_UP" = 1 ] || return 0
	if [ -n "$LV_VIRTLOGD_PID" ] && [ -z "$LV_LIBVIRTD_PID" ] &&
		ls /run/libvirt/qemu/"$LV_PREFIX"*.pid >/dev/null 2>&1; then
		# libvirtd was down (a failed restart): bring it back to stop
		# the guests properly.
		lv_start_libvirtd 2>/dev/null || true
	fi
	if [ -n "$LV_LIBVIRTD_PID" ]; then
		for d in $(virsh list --all --name 2>/dev/null | grep "^$LV_PREFIX"); do
			virsh destroy "$d" >/dev/null 2>&1
			virsh undefine "$d" >/dev/null 2>&1
		done
	fi
	lv_stop LV_LIBVIRTD_PID
	lv_stop LV_VIRTLOGD_PID
	# Whatever libvirt could not do: QEMUs by their pid files (checked
	# against their command line), definitions, logs.
	for f in /run/libvirt/qemu/"$LV_PREFIX"*.pid; do
		[ -f "$f" ] || continue
		n=$(basename "$f" .pid)
		p=$(cat "$f")
		if tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -q "^guest=$n,"; then
			lv_log "killing the QEMU of $n (pid $p)"
			kill -KILL "$p"
		fi
	done
	rm -f /etc/libvirt/qemu/"$LV_PREFIX"*.xml \
		/etc/libvirt/qemu/autostart/"$LV_PREFIX"*.xml \
		/var/log/libvirt/qemu/"$LV_PREFIX"*.log* \
		/run/libvirt/qemu/"$LV_PREFIX"* \
		"$LV_QMPDIR/$LV_PREFIX"*.sock
	rm -rf /var/lib/libvirt/qemu/domain-*-"$LV_PREFIX"* \
		/var/lib/libvirt/qemu/channel/target/domain-*-"$LV_PREFIX"*
	rm -f "$LV_HOOK_PATH" "$LV_HOOK_PATH.tmp"
	for p in $LV_CREATED; do
		case $p in
		/sys/fs/cgroup/*) rmdir "$p" 2>/dev/null ;;
		/run/libvirt) rm -rf "$p" ;;
		*) rmdir "$p" 2>/dev/null ;;
		esac
	done
	LV_SET_UP=0
	exec 9>&-
}
