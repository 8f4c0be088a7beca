#!/bin/sh
# nix.sh: the Nix files without nixpkgs. The test machines have Debian's
# nix-bin but no nixpkgs and no network, so this checks what can be
# checked here: every .nix file parses (nix-instantiate --parse), and
# nix/module.nix, nix/package.nix and flake.nix, read with a stub of
# nixpkgs' lib (tests/nix-stub/stub.nix), declare what they should
# (tests/nix-stub/check.nix): the options, the service, the hook, the tmpfiles
# rules, the derivation's inputs and checkPhase, and settings defaults
# that are balloond.conf.example's. Building the package and
# `nixos-rebuild` on a NixOS host are the steps left untested.
. "$top_srcdir/tests/lib/tap.sh"

command -v nix-instantiate >/dev/null || {
	echo "1..0 # SKIP nix-instantiate missing (Debian: nix-bin)"
	exit 0
}
T=$(mktemp -d "${TMPDIR:-/tmp}/balloond-nix.XXXXXX")
trap 'rm -rf "$T"' EXIT
# A store that writes nothing and a configuration of nothing: no /nix,
# no nixbld group needed.
export NIX_CONF_DIR="$T/etc" NIX_STATE_DIR="$T/state" NIX_LOG_DIR="$T/log" HOME="$T"
nixi() { nix-instantiate --store dummy:// "$@"; }

files=$(cd "$top_srcdir" && find . -name '*.nix' -not -path './build*' | sed 's|^\./||' | sort)
check "the tree has its Nix files" test -n "$files"
for f in $files; do
	if nixi --parse "$top_srcdir/$f" >/dev/null 2>"$T/err"; then
		ok "$f parses"
	else
		not_ok "$f parses"
		sed 's/^/#   /' "$T/err"
	fi
done

# balloond.conf.example's commented defaults, "#key = value" under
# [section], as a Nix attribute set.
awk '
/^\[[a-z]+\]$/ { if (sec != "") printf "}; "; sec = substr($0, 2, length($0) - 2); printf "%s = { ", sec; next }
sec != "" && /^#[a-z_]+ =/ {
	k = substr($1, 2); v = $0; sub(/^#[a-z_]+ =[ ]?/, "", v)
	gsub(/"/, "\\\"", v); printf "%s = \"%s\"; ", k, v
}
END { if (sec != "") printf "};" }
' "$top_srcdir/systemd/balloond.conf.example" >"$T/example.nix"
EXAMPLE="{ $(cat "$T/example.nix") }"
CHECK="import $top_srcdir/tests/nix-stub/check.nix { example = $EXAMPLE; }"
names=$(nixi --eval -E "builtins.attrNames ($CHECK)" 2>"$T/err" | tr -d '[]"')
check "tests/nix-stub/check.nix evaluates" test -n "$names"
[ -n "$names" ] || sed 's/^/#   /' "$T/err"
for n in $names; do
	v=$(nixi --eval -E "($CHECK).$n" 2>"$T/err")
	if [ "$v" = true ]; then
		ok "$n"
	else
		not_ok "$n ($v)"
		sed 's/^/#   /' "$T/err"
	fi
done
tap_done
