#!/bin/sh
# Set up (scripts/setup.sh), then run every test: unit tests (cmocka) and
# integration tests (pytest, the real binary on loopback). Ends with a line
# "N passed, N failed".  --sanitizers: the same in the ASan+UBSan build.
set -u
cd "$(dirname "$0")/.."
BUILD=build
[ "${1:-}" = "--sanitizers" ] && BUILD=build-san && export PORTWAY_SANITIZED=1
scripts/setup.sh --tests "$@" || { echo "0 passed, 1 failed"; exit 1; }
rm -f "$BUILD/integration.xml" "$BUILD/test-suite.log"
make -C "$BUILD" -k check "PYTEST_ARGS=${PYTEST_ARGS:-}"
status=$?
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$PY" scripts/count_tests.py "$BUILD"
exit $status
