#!/bin/sh
# Installs every Debian 12 package that balloond's build, tests, benchmarks
# and demo need. Idempotent; run as root. Nothing else is installed by hand.
set -eu

PACKAGES="
  build-essential autoconf automake pkg-config git
  libuv1-dev libjson-c-dev libinih-dev libsystemd-dev libxml2-dev libexpat1-dev
  libcurl4-openssl-dev libmicrohttpd-dev
  libcmocka-dev valgrind
  libvirt-dev
  nettle-dev
  clang libclang-rt-14-dev clang-format
  qemu-system-x86 busybox-static cpio gzip
  python3 iproute2 openssl
  gnuplot-nox
  libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients libvirt-dev
  libcurl4-openssl-dev
  patroni python3-etcd etcd-server etcd-client postgresql
  dpkg-dev debhelper lintian fakeroot
  nix-bin
  prometheus python3-yaml prometheus-node-exporter
"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (it calls apt-get)" >&2
	exit 1
fi

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || true   # a third-party source may be unreachable
	# Services' postinst scripts (prometheus, prometheus-node-exporter,
	# libvirt, etcd) would start daemons on the machine's ports, and may
	# fail where systemd is not PID 1 (containers, CI): a policy-rc.d that
	# says 101 keeps invoke-rc.d from starting anything while installing.
	# The tests start their own instances on private ports.
	policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
	[ -z "$policy" ] || rm -f "$policy"
fi

# The test guest's kernel comes from Debian's linux-image-amd64, unpacked
# into a cache rather than installed, so the host's /boot is left alone.
"$(dirname "$0")/test-vm/fetch-kernel"
