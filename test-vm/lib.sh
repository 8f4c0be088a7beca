# Shared by the test-vm scripts. POSIX sh.
TVM_HERE=$(cd "$(dirname "$0")" && pwd)
TVM_CACHE=${BALLOOND_TVM_CACHE:-/var/cache/balloond-test-vm}

tvm_die() {
	echo "test-vm: $*" >&2
	exit 1
}

# tvm_size_mib SIZE: prints SIZE in MiB. SIZE is N (MiB), NM or NG.
tvm_size_mib() {
	case $1 in
	'' | *[!0-9MmGg]* | [!0-9]* | *[MmGg]?*) return 1 ;;
	*[Gg]) echo $((${1%?} * 1024)) ;;
	*[Mm]) echo $((${1%?} + 0)) ;;
	*) echo $(($1 + 0)) ;;
	esac
}

# tvm_guest_pid DIR NAME: prints the pid of the running QEMU of guest NAME
# started under DIR (absolute). Fails when there is none: no pid file, or
# the pid is gone, a zombie, or reused by another process (its command line
# must name DIR/NAME.qmp).
tvm_guest_pid() {
	_pid=$(cat "$1/$2.pid" 2>/dev/null) || return 1
	case $_pid in '' | *[!0-9]*) return 1 ;; esac
	tr '\0' '\n' <"/proc/$_pid/cmdline" 2>/dev/null |
		grep -qxF "unix:$1/$2.qmp,server=on,wait=off" || return 1
	echo "$_pid"
}

# tvm_stop_guest DIR NAME: stops guest NAME (SIGTERM, then SIGKILL when it
# is still there after 5 s) and removes its pid file and sockets. Succeeds
# when nothing runs.
tvm_stop_guest() {
	if _victim=$(tvm_guest_pid "$1" "$2"); then
		kill -TERM "$_victim" 2>/dev/null || true
		_n=0
		while tvm_guest_pid "$1" "$2" >/dev/null; do
			_n=$((_n + 1))
			if [ $_n -eq 100 ]; then
				echo "test-vm: $2: still running 5 s after SIGTERM, sending SIGKILL" >&2
				kill -KILL "$_victim" 2>/dev/null || true
			elif [ $_n -ge 200 ]; then
				echo "test-vm: $2: pid $_victim does not die" >&2
				return 1
			fi
			sleep 0.05
		done
		echo "test-vm: $2: stopped (pid $_victim)" >&2
	fi
	rm -f "$1/$2.pid" "$1/$2.qmp" "$1/$2.cmd"
}
