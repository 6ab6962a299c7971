#!/bin/sh
# Build the Debian package from a clean export of HEAD, check it with lintian (errors and
# warnings fail), install it, run the installed binary on the installed configuration, and
# remove it again. As root (dpkg -i). Ends with "N passed, N failed" (one check).
set -u
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "package_check: $*" >&2; echo "0 passed, 1 failed"; exit 1; }
version=$(dpkg-parsechangelog -S Version 2>/dev/null) || fail "dpkg-parsechangelog (dpkg-dev) missing"
mkdir -p "$out/portway-$version"
git archive HEAD | tar -x -C "$out/portway-$version" || fail "git archive"
git rev-parse --short=12 HEAD >"$out/portway-$version/.commit"
(cd "$out/portway-$version" && dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) ||
	{ tail -30 "$out/build.log" >&2; fail "dpkg-buildpackage failed"; }
deb="$out/portway_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || fail "no $deb"
lintian --fail-on error,warning "$deb" 2>&1 | grep -v "root privileges" >&2
[ "$(lintian --fail-on error,warning "$deb" >/dev/null 2>&1; echo $?)" = 0 ] || fail "lintian reported errors or warnings"
dpkg -i "$deb" >/dev/null || fail "dpkg -i"
status=0
/usr/bin/portway -V | grep -q "(commit $(git rev-parse --short=12 HEAD))" || status=1
/usr/bin/portway -C /etc/portway/portway.yaml -t || status=1
[ -f /usr/share/man/man5/portway.yaml.5.gz ] && [ -f /usr/share/bash-completion/completions/portway ] &&
	[ -f /lib/systemd/system/portway.service ] || status=1
dpkg -P portway >/dev/null || status=1
[ "$status" = 0 ] || fail "the installed package does not run"
echo "package_check: $deb builds, is lintian clean, installs and runs"
echo "1 passed, 0 failed"
