#!/bin/sh
# ctl-enable.sh: `balloonctl enable` and `disable` through libvirt's API,
# against libvirt's built-in test driver (test:///FILE: no libvirtd). Each
# balloonctl gets a fresh copy of the file's domains, so this shows the
# command line, the refusals and the exit codes; the XML editing itself is
# tests/test-domxml's, and tests/real/ runs both against a real libvirtd.
. "$top_srcdir/tests/lib/tap.sh"
BALLOONCTL="$top_builddir/balloonctl"
T=$(mktemp -d "${TMPDIR:-/tmp}/balloond-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset LIBVIRT_DEFAULT_URI

"$BALLOONCTL" enable x >/dev/null 2>"$T/err"
if grep -q "built without libvirt" "$T/err"; then
	expect 1 "without libvirt: enable says so" "$BALLOONCTL" enable x
	err_has "built without libvirt"
	expect 1 "without libvirt: disable says so" "$BALLOONCTL" disable x
	tap_done
	exit $?
fi

cat >"$T/node.xml" <<'XML'
<node>
  <domain type='test'>
    <name>db1</name>
    <memory unit='MiB'>512</memory>
    <os><type>hvm</type></os>
    <devices><memballoon model='virtio'/></devices>
  </domain>
  <domain type='test'>
    <name>noballoon</name>
    <memory unit='MiB'>512</memory>
    <os><type>hvm</type></os>
    <devices><memballoon model='none'/></devices>
  </domain>
</node>
XML
URI="test://$T/node.xml"

expect 0 "balloonctl --help lists enable" "$BALLOONCTL" --help
check "--help lists disable" grep -q "^  disable DOMAIN" "$T/out"
check "--help lists --connect" grep -q -- "--connect URI" "$T/out"
expect 0 "enable --help" "$BALLOONCTL" enable --help
out_has "--replica-target SIZE"
expect 0 "enable with every option" "$BALLOONCTL" enable db1 --connect "$URI" \
	--min 128M --max 384M --replica-target 256M --priority 5 --patroni pg/db1
out_has "db1: balloond enabled"
expect 0 "enable with none" "$BALLOONCTL" enable db1 --connect "$URI"
expect 0 "LIBVIRT_DEFAULT_URI is used without --connect" \
	env LIBVIRT_DEFAULT_URI="$URI" "$BALLOONCTL" enable db1
expect 0 "disable" "$BALLOONCTL" disable db1 --connect "$URI"
out_has "db1: balloond disabled"
expect 1 "enable: no virtio memballoon refused" "$BALLOONCTL" enable noballoon --connect "$URI"
err_has "no virtio memballoon"
expect 1 "disable: no virtio memballoon refused" "$BALLOONCTL" disable noballoon --connect "$URI"
expect 1 "--max above <memory> refused" "$BALLOONCTL" enable db1 --connect "$URI" --max 1G
err_has "max 1 GiB is above the domain's <memory> 512 MiB"
expect 1 "--min above --max refused" "$BALLOONCTL" enable db1 --connect "$URI" --max 256M --min 300M
err_has "min 300 MiB is above max 256 MiB"
expect 1 "unknown domain" "$BALLOONCTL" enable nosuch --connect "$URI"
err_has "nosuch"
expect 3 "libvirt unreachable: exit 3" "$BALLOONCTL" enable db1 --connect "qemu+unix:///system?socket=$T/none.sock"
err_has "cannot connect to libvirt"
expect 2 "enable without DOMAIN" "$BALLOONCTL" enable
expect 2 "bad size" "$BALLOONCTL" enable db1 --max lots
expect 2 "bad priority" "$BALLOONCTL" enable db1 --priority 5000
expect 2 "bad --patroni" "$BALLOONCTL" enable db1 --patroni pg
expect 2 "disable takes one DOMAIN" "$BALLOONCTL" disable a b
tap_done
