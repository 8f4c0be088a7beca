# Shared by the test-vm scripts. POSIX sh.
TVM_HERE=$(cd "$(dirname "$0")" && pwd)
TVM_CACHE=${BALLOOND_TVM_CACHE:-/var/cache/balloond-test-vm}

tvm_die() {
	echo "test-vm: $*" >&2
	exit 1
}
