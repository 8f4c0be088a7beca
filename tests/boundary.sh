#!/bin/sh
# boundary.sh: the core/control boundary of daemon/ (daemon.h's file map),
# checked on what was built and on the sources. The core is libballoond.a;
# the control layer is libbdserver.a (control, methods, state, spool) and
# main.c's object. Fails on:
#   - a core object that needs a symbol the control layer defines (a call
#     from the core into control, methods, state, spool or main);
#   - a bd_ symbol the core needs that neither it nor the libraries below
#     it (policy, proto, notify, QMP, framer) define: the core must link on
#     its own, not because ar happens to pull a member lazily;
#   - a core source that includes server.h;
#   - a function declared by hand at file scope in a .c file (its
#     signature goes unchecked: it belongs in a header);
#   - a file in daemon/ that daemon.h's file map does not list, or a map
#     entry for a file that is not there, or one said to come "next".
# Reads the objects in top_builddir and the sources in top_srcdir (the
# harness sets both; make distcheck builds out of the source tree). POSIX
# sh, nm and awk. Self-contained TAP (no helper library).
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${top_builddir:-.}
NM=${NM:-nm}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/boundary.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $*"
}
# report DESCRIPTION FILE: a test point that passes when FILE is empty;
# else it fails and FILE's lines are shown.
report() {
	if [ -s "$2" ]; then
		not_ok "$1"
		sed 's/^/#   /' "$2"
	else
		ok "$1"
	fi
}
bail() {
	echo "Bail out! $*"
	exit 1
}

echo "1..6"

core=$builddir/libballoond.a
server=$builddir/libbdserver.a
main=
for o in "$builddir/daemon/balloond-main.o" "$builddir/daemon/main.o"; do
	if [ -f "$o" ]; then
		main=$o
		break
	fi
done
[ -f "$core" ] || bail "$core: not built"
[ -f "$server" ] || bail "$server: not built"
[ -n "$main" ] || bail "main.c's object: not built in $builddir/daemon"

# nm -P: "ARCHIVE[MEMBER]: SYMBOL TYPE ..." (or "OBJECT: SYMBOL TYPE ...").
# defined FILE...: the external symbols they define, one a line.
defined() {
	"$NM" -A -P -g --defined-only "$@" | awk '{ print $2 }' | sort -u
}
# undefined FILE...: "MEMBER SYMBOL" for each symbol a member needs.
undefined() {
	"$NM" -A -P -u "$@" |
		sed -n 's/^[^[]*\[\([^]]*\)\]: \([^ ]*\) .*/\1 \2/p; t; s/^\([^:]*\): \([^ ]*\) .*/\1 \2/p'
}

# 1: the check reads what it means to read.
defined "$server" "$main" >"$tmp/control" || bail "nm $server $main failed"
defined "$core" >"$tmp/core" || bail "nm $core failed"
missing=
for s in bd_control_reply bd_control_persisted bd_method_dispatch \
	bd_state_put bd_spool_start bd_reload; do
	grep -qx "$s" "$tmp/control" || missing="$missing $s"
done
for s in bd_guest_add bd_link_start bd_exec_run bd_replan bd_emit; do
	grep -qx "$s" "$tmp/core" || missing="$missing $s"
done
if [ -z "$missing" ]; then
	ok "the core's and the control layer's objects are read"
else
	not_ok "the core's and the control layer's objects are read (missing:$missing)"
fi

# 2: no call from the core into the control layer.
undefined "$core" >"$tmp/core-u" || bail "nm -u $core failed"
awk 'NR == FNR { control[$1] = 1; next }
	($2 in control) { print $1 " needs " $2 " (control layer)" }' \
	"$tmp/control" "$tmp/core-u" >"$tmp/calls"
report "no core object calls into control, methods, state, spool or main" \
	"$tmp/calls"

# 3: the core links on its own: every bd_ symbol it needs is its own or
# a lower library's.
below=
for l in libpolicy.a libbdproto.a libbdnotify.a libqmp.a libframer.a; do
	[ -f "$builddir/$l" ] || bail "$builddir/$l: not built"
	below="$below $builddir/$l"
done
# shellcheck disable=SC2086 # (below is a list of paths without spaces)
defined "$core" $below >"$tmp/have" || bail "nm failed"
awk 'NR == FNR { have[$1] = 1; next }
	$2 ~ /^_*bd_/ && !($2 in have) { print $1 " needs " $2 " from outside the core" }' \
	"$tmp/have" "$tmp/core-u" >"$tmp/outside"
report "libballoond.a links on its own" "$tmp/outside"

# 4: the core's sources include daemon.h, never server.h. The members name
# them: libballoond_a-NAME.o is daemon/NAME.c.
"$NM" -A -P -g "$core" 2>/dev/null |
	sed -n 's/^[^[]*\[libballoond_a-\(.*\)\.o\]:.*/\1/p' | sort -u >"$tmp/members"
[ -s "$tmp/members" ] || bail "$core: no libballoond_a-*.o members"
: >"$tmp/includes"
while read -r m; do
	f=$srcdir/daemon/$m.c
	[ -f "$f" ] || bail "$f: not found (a member of $core)"
	grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"server\.h"' "$f" |
		sed "s|^|daemon/$m.c:|" >>"$tmp/includes"
done <"$tmp/members"
for h in "$srcdir"/daemon/*.h; do
	[ "${h##*/}" = server.h ] && continue
	grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"server\.h"' "$h" |
		sed "s|^|daemon/${h##*/}:|" >>"$tmp/includes"
done
report "no core source or header includes server.h" "$tmp/includes"

# 5: no private prototype written by hand in a .c file.
find "$srcdir/daemon" "$srcdir/qmp" "$srcdir/policy" "$srcdir/proto" \
	"$srcdir/ctl" "$srcdir/hooks" "$srcdir/tests" "$srcdir/bench" \
	-name '*.c' -type f 2>/dev/null | sort >"$tmp/sources"
[ -s "$tmp/sources" ] || bail "no C sources under $srcdir"
# shellcheck disable=SC2046 # (paths without spaces)
awk -f "$srcdir/tests/boundary-protos.awk" $(cat "$tmp/sources") |
	sed "s|^$srcdir/||" >"$tmp/protos"
report "no function declared by hand at file scope in a .c file ($(wc -l <"$tmp/sources") files)" \
	"$tmp/protos"

# 6: daemon.h's file map (its first comment) lists every file in daemon/,
# each as "NAME  what it does", and nothing that is not there or to come.
awk '{ print } / \*\/$/ { exit }' "$srcdir/daemon/daemon.h" >"$tmp/map"
sed -n 's/^ \*   \([A-Za-z0-9_.-]*\.[ch]\)  .*/\1/p' "$tmp/map" | sort >"$tmp/listed"
(cd "$srcdir/daemon" && ls -- *.c *.h) | sort >"$tmp/files"
{
	comm -23 "$tmp/files" "$tmp/listed" | sed 's/$/: not in the file map/'
	comm -13 "$tmp/files" "$tmp/listed" | sed 's/$/: in the file map, not in daemon\//'
	grep -n -w 'next' "$tmp/map" | sed 's/^/daemon.h:/'
} >"$tmp/mapdiff"
report "daemon.h's file map lists the $(wc -l <"$tmp/files") files in daemon/" \
	"$tmp/mapdiff"

[ "$failed" -eq 0 ]
