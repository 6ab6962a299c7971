#!/usr/bin/env bash
# Build every libFuzzer target tests/fuzz/NAME_fuzz.c (or the NAMEs given)
# against proto/*.c and run each for a short while.
#
#   bash tests/fuzz/run.sh [NAME...]      NAME: relay, relay_fuzz or tests/fuzz/relay_fuzz.c
#
# Environment: FUZZ_SECONDS (default 20) per target; FUZZ_OUT (default
# tests/fuzz/out) for binaries, the growing corpus (FUZZ_OUT/corpus/NAME),
# crash artifacts (FUZZ_OUT/artifacts) and logs; CLANG (default clang).
# Seeds in tests/fuzz/seeds/NAME (committed) and tests/fuzz/corpus/NAME (local), if present,
# are read but never written.
# Exit status: 0 if every target built and ran without a finding.
set -u

# FUZZ_OUT is taken relative to where we were called; the rest is relative
# to the repository root, so the script works from any directory.
out=
if [ -n "${FUZZ_OUT:-}" ]; then
	case $FUZZ_OUT in /*) out=$FUZZ_OUT ;; *) out=$PWD/$FUZZ_OUT ;; esac
fi
cd "$(dirname "$0")/../.." || exit 1
out=${out:-$PWD/tests/fuzz/out}
seconds=${FUZZ_SECONDS:-20}
# FUZZ_RUNS and FUZZ_SEED make a run reproducible (CI): a fixed number of inputs from a fixed seed.
limit="-max_total_time=$seconds"
[ -n "${FUZZ_RUNS:-}" ] && limit="-runs=$FUZZ_RUNS -max_total_time=$((seconds * 4))"
[ -n "${FUZZ_SEED:-}" ] && limit="$limit -seed=$FUZZ_SEED"
clang=${CLANG:-clang}

if ! command -v "$clang" >/dev/null 2>&1; then
	echo "run.sh: $clang not found (Debian package clang)" >&2
	exit 2
fi

names=()
if [ $# -eq 0 ]; then
	for f in tests/fuzz/*_fuzz.c; do
		[ -e "$f" ] || continue
		n=${f##*/}
		names+=("${n%_fuzz.c}")
	done
else
	for a in "$@"; do
		n=${a##*/}
		n=${n%.c}
		names+=("${n%_fuzz}")
	done
fi

mkdir -p "$out/artifacts" "$out/logs" || exit 1
# UBSan only reports by default; make every finding fatal so libFuzzer keeps it.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# Targets marked "fuzz-links: portway" reach beyond proto/ (the URL parser, the YAML loader):
# they link every library source, built once per run with the fuzzer's instrumentation.
portway_lib=
build_portway_lib() {
	[ -n "$portway_lib" ] && return 0
	local objs=() src obj
	mkdir -p "$out/lib/include" || return 1
	printf '#define PACKAGE_VERSION "fuzz"\n' >"$out/lib/include/config.h"
	for src in $(find proto src listeners handlers connectors dialers -name '*.c' ! -path src/cli/main.c | sort); do
		obj=$out/lib/$(echo "$src" | tr / _).o
		"$clang" -g -O1 -fsanitize=fuzzer-no-link,address,undefined -D_GNU_SOURCE -DSYSCONFDIR='"/etc"' \
			-std=gnu11 -I. -I"$out/lib/include" $(pkg-config --cflags openssl yaml-0.1 sqlite3 libcares zlib libsystemd libssh jansson libnghttp2) \
			-c "$src" -o "$obj" || return 1
		objs+=("$obj")
	done
	rm -f "$out/lib/libportway-fuzz.a"
	ar cr "$out/lib/libportway-fuzz.a" "${objs[@]}" || return 1
	portway_lib=$out/lib/libportway-fuzz.a
}
portway_libs() {
	echo "$portway_lib" $(pkg-config --libs openssl yaml-0.1 sqlite3 libcares zlib libsystemd libssh jansson libnghttp2) \
		-lev -lmbedtls -lmbedx509 -lmbedcrypto -pthread -lm
}

passed=0
failed=0
for name in "${names[@]}"; do
	src=tests/fuzz/${name}_fuzz.c
	log=$out/logs/$name.log
	corpus=$out/corpus/$name
	ok=1
	if [ ! -f "$src" ]; then
		echo "run.sh: no $src" >"$log"
		ok=0
	elif grep -q "fuzz-links: portway" "$src"; then
		if ! build_portway_lib >"$log" 2>&1 || ! "$clang" -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 \
			-D_GNU_SOURCE -I. "$src" $(portway_libs) -o "$out/$name" >>"$log" 2>&1; then
			ok=0
		fi
	elif ! "$clang" -g -O1 -fsanitize=fuzzer,address,undefined -I. \
		proto/*.c "$src" -lz -lcrypto -lm -o "$out/$name" >"$log" 2>&1; then
		ok=0
	fi
	if [ $ok -eq 0 ]; then
		:
	else
		mkdir -p "$corpus"
		seeds=()
		[ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
		[ -d "tests/fuzz/seeds/$name" ] && seeds+=("tests/fuzz/seeds/$name")
		if ! "$out/$name" $limit -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
			"$corpus" "${seeds[@]}" >>"$log" 2>&1; then
			ok=0
		fi
	fi
	if [ $ok -eq 1 ]; then
		echo "fuzz $name: ok"
		passed=$((passed + 1))
	else
		echo "fuzz $name: FAILED"
		echo "    log: $log"
		tail -n 30 "$log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $((passed + failed)) -gt 0 ]
