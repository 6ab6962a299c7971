"""The harness itself: a process that ends badly fails the test (with a stand-in for portway)."""
import os
import stat

import pytest

import conftest
from conftest import PortwayFactory

# Logs like portway, then ends on SIGTERM as told by $FAKE_END.
FAKE = r"""#!/bin/sh
end() {
  case "$FAKE_END" in
    clean) exit 0 ;;
    status) exit 3 ;;
    leak) echo "==1==ERROR: LeakSanitizer: detected memory leaks" >&2
          echo "SUMMARY: AddressSanitizer: 7 byte(s) leaked in 1 allocation(s)." >&2; exit 0 ;;
    ubsan) echo "src/core/buf.c:10:5: runtime error: signed integer overflow" >&2; exit 0 ;;
    hang) ;;
  esac
}
trap end TERM
# only now "running": a SIGTERM before the trap would kill the shell outright
echo "portway 0.0 running with 1 workers" >&2
[ "$1" = "-t" ] && { [ "$FAKE_END" = leak ] && end; exit 0; }
while :; do sleep 0.05; done
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    path = tmp_path / "fake-portway"
    path.write_text(FAKE)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(conftest, "PORTWAY", str(path))
    made = []

    def factory(end):
        d = tmp_path / end
        d.mkdir()
        f = PortwayFactory(d)
        made.append(f)
        return f, {"FAKE_END": end}

    yield factory
    for f in made:  # whatever a test left running
        for p in f.procs:
            if p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()


def failure(f):
    with pytest.raises(pytest.fail.Exception) as e:
        f.close(timeout=2)
    return str(e.value)


def test_clean_exit_passes(fake):
    f, env = fake("clean")
    f.start(env=env)
    f.close(timeout=2)


@pytest.mark.parametrize("end,says", [
    ("status", "exit status 3, expected exit status 0"),
    ("leak", "a sanitizer report (or crash) in its output"),
    ("ubsan", "a sanitizer report (or crash) in its output"),
    ("hang", "did not exit within 2s of SIGTERM; killed"),
])
def test_bad_end_fails_with_the_log(fake, end, says):
    f, env = fake(end)
    f.start(env=env, name="victim")
    msg = failure(f)
    assert "portway 'victim'" in msg and says in msg, msg
    assert "running with 1 workers" in msg, "the log is in the message"
    if end == "leak":
        assert "detected memory leaks" in msg and "7 byte(s) leaked" in msg


def test_opt_outs(fake):
    f, env = fake("status")
    f.start(env=env, expect_exit=3)
    f.start(env=env).expect_exit(conftest.ANY)
    f.start(env=env).kill()
    f.close(timeout=2)
    # a report is never waived
    f, env = fake("leak")
    f.start(env=env, expect_exit=conftest.ANY)
    assert "sanitizer report" in failure(f)


def test_run_returns_the_status_and_fails_on_a_report(fake):
    f, env = fake("clean")
    assert f.run("-t", env=env)[0] == 0
    f, env = fake("leak")
    with pytest.raises(AssertionError, match="detected memory leaks"):
        f.run("-t", env=env)


def test_names_do_not_share_a_log(fake):
    f, env = fake("clean")
    a, b = f.start(env=env, name="x"), f.start(env=env, name="x")
    assert a.log_path != b.log_path
    f.close(timeout=2)
    assert os.path.exists(a.log_path) and os.path.exists(b.log_path)
