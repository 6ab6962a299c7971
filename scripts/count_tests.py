"""Add up the unit (automake test-suite.log) and integration (pytest junit xml) results of a build dir."""
import re
import sys
import xml.etree.ElementTree as ET

build = sys.argv[1] if len(sys.argv) > 1 else "build"
passed = failed = skipped = 0
try:
    log = open(f"{build}/test-suite.log").read()
    get = lambda k: int((re.search(rf"^# {k}:\s+(\d+)", log, re.M) or [0, 0])[1])
    passed += get("PASS") + get("XFAIL")
    failed += get("FAIL") + get("ERROR") + get("XPASS")
    skipped += get("SKIP")
except FileNotFoundError:
    failed += 1
    print(f"no {build}/test-suite.log: the unit tests did not run")
try:
    root = ET.parse(f"{build}/integration.xml").getroot()
    for ts in root.iter("testsuite"):
        t, f, e, s = (int(ts.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        passed += t - f - e - s
        failed += f + e
        skipped += s
except (FileNotFoundError, ET.ParseError):
    failed += 1
    print(f"no {build}/integration.xml: the integration tests did not run")
print(f"{build}: {passed} passed, {failed} failed, {skipped} skipped")
