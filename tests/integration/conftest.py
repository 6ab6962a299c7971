"""Fixtures for integration tests: the real portway binary on loopback, real peers.

Every test gets fresh ports. `pw.start(...)` starts portway with -L/-F URLs or a
YAML config text and waits until it logs that it is running. At teardown every
process still running gets SIGTERM and the test fails unless it exits with the
expected status (0 unless the test said otherwise) and its output (stdout and
stderr, one file) has no sanitizer report, crash or hang at shutdown.

A test that means a process to end otherwise says so: `p.kill()` (SIGKILL, any
status), `pw.start(..., expect_exit=N)` or `p.expect_exit(N)` (None: any
status). `pw.run(...)` returns the exit status for the test to check, and fails
only on a sanitizer report.

With PORTWAY_SANITIZED=1 the processes run with LeakSanitizer on and
halt_on_error; portway started any other way (subprocess.run of a subcommand)
writes its sanitizer reports to files, which the autouse fixture
`sanitizer_reports` checks after each test.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

PORTWAY = os.environ.get("PORTWAY") or os.path.join(os.path.dirname(__file__), "../../build/src/portway")
HERE = os.path.dirname(os.path.abspath(__file__))


def _built_with_asan(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# scripts/test.sh --sanitizers sets PORTWAY_SANITIZED=1; `make check` in a sanitizer build does not.
SANITIZED = os.environ.get("PORTWAY_SANITIZED", "1" if _built_with_asan(PORTWAY) else "") == "1"

# Reports of ASan (and LSan inside it), standalone LSan, UBSan; a crash without a sanitizer.
SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                              r"SUMMARY: \w*Sanitizer|AddressSanitizer:DEADLYSIGNAL|Segmentation fault")
# ASan and UBSan options for the processes this harness starts. detect_leaks: portway runs
# the leak check at the end of a clean shutdown (src/cli/main.c). Not abort_on_error: a
# report ends the process with exit status 1 (23 from a standalone LSan), which we check.
ASAN_OPTIONS = "detect_leaks=1:abort_on_error=0:halt_on_error=1"
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1"
# SIGTERM to exit: the grace period (PORTWAY_GRACE, 1 s here), the workers' stop (up to 2 s),
# the leak check; slower under sanitizers on a busy machine.
STOP_TIMEOUT = 30 if SANITIZED else 15
# What a test may pass as expect_exit to accept any status.
ANY = None


def sanitizer_env(env=None):
    """The environment for a portway child: sanitizer options set unless the caller set them."""
    e = dict(os.environ)
    e["ASAN_OPTIONS"] = ASAN_OPTIONS
    e["UBSAN_OPTIONS"] = UBSAN_OPTIONS
    if env:
        e.update(env)
    return e


def sanitizer_report(text):
    """The first sanitizer report (or crash line) in text with some context, or None."""
    m = SANITIZER_REPORT.search(text)
    if not m:
        return None
    start = text.rfind("\n", 0, max(0, m.start() - 300)) + 1  # the "====" line before an ASan report
    return text[start:start + 12000]


def exit_text(code):
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, host="127.0.0.1", timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port}")


class Portway:
    """One portway process; its stdout and stderr go to one log file."""

    def __init__(self, args, tmp_path, name="pw", wait=True, env=None, expect_exit=0, netns=None):
        self.name = name
        self.args = list(args)
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "wb")
        e = sanitizer_env()
        # Tests leave client sockets open; a short drain keeps teardown quick. Drain tests set their own.
        e.setdefault("PORTWAY_GRACE", "1")
        if env:
            e.update(env)
        self.expected = expect_exit
        self.stop_problem = None    # set when the process had to be killed at stop()
        # In a network namespace the test made: `ip netns exec` execs portway (same pid, signals reach it).
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(prefix + [PORTWAY] + self.args, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        if wait:
            self.wait_log("running with", 10)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, needle, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.text():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"portway exited ({self.proc.returncode}) before '{needle}':\n{self.text()}")
            time.sleep(0.02)
        raise TimeoutError(f"'{needle}' not in portway log:\n{self.text()}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def expect_exit(self, code):
        """The status this process is expected to end with (None: any)."""
        self.expected = code

    def kill(self):
        """SIGKILL, meant by the test: the exit status is not checked (the log still is)."""
        self.expected = ANY
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM (if still running), wait; returns the exit status. check() judges it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.stop_problem = f"did not exit within {timeout}s of SIGTERM; killed"
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode

    def problems(self):
        """What is wrong with how this (stopped) process ended: a list of short strings."""
        out = []
        if self.stop_problem:
            out.append(self.stop_problem)
        code = self.proc.returncode
        if self.expected is not ANY and code != self.expected and not self.stop_problem:
            out.append(f"{exit_text(code)}, expected {exit_text(self.expected)}")
        if sanitizer_report(self.text()):
            out.append("a sanitizer report (or crash) in its output")
        return out

    def check_clean(self):
        p = self.problems()
        assert not p, self.describe(p)

    def describe(self, problems):
        t = self.text()
        tail = t if len(t) < 8000 else "...\n" + t[-8000:]
        report = sanitizer_report(t)
        msg = f"portway '{self.name}' ({' '.join(self.args)}): {'; '.join(problems)}\n"
        if report and report[:200] not in tail:
            msg += f"--- sanitizer report ---\n{report}\n"
        return msg + f"--- log ({self.log_path}) ---\n{tail}"


class PortwayFactory:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.procs = []
        self.n = 0

    def start(self, *args, config=None, wait=True, env=None, name=None, expect_exit=0, netns=None):
        """Start portway; at teardown it must exit with expect_exit (None: any) after SIGTERM."""
        args = list(args)
        if config is not None:
            self.n += 1
            path = self.tmp_path / f"portway-{self.n}.yaml"
            path.write_text(config)
            args = ["-C", str(path)] + args
        name = name or f"pw{len(self.procs)}"
        if any(p.name == name for p in self.procs):
            name = f"{name}-{len(self.procs)}"  # two processes must not share a log file
        p = Portway(args, self.tmp_path, name, wait=False, env=env, expect_exit=expect_exit, netns=netns)
        self.procs.append(p)  # before waiting: stopped and checked at teardown whatever happens
        if wait:
            p.wait_log("running with", 10)
        return p

    def run(self, *args, config=None, timeout=10, env=None):
        """Run portway to completion (for -t and bad configs); returns (code, output) for the test
        to check. A sanitizer report in the output fails the test here."""
        args = list(args)
        if config is not None:
            self.n += 1
            path = self.tmp_path / f"portway-{self.n}.yaml"
            path.write_text(config)
            args = ["-C", str(path)] + args
        r = subprocess.run([PORTWAY] + args, capture_output=True, timeout=timeout, env=sanitizer_env(env))
        out = (r.stdout + r.stderr).decode(errors="replace")
        report = sanitizer_report(out)
        assert not report, f"portway {' '.join(args)}: {exit_text(r.returncode)}, sanitizer report:\n{report}"
        return r.returncode, out

    def close(self, timeout=STOP_TIMEOUT):
        for p in self.procs:
            p.stop(timeout)
        bad = [p.describe(pr) for p in self.procs for pr in [p.problems()] if pr]
        if bad:
            pytest.fail("\n\n".join(bad), pytrace=False)


@pytest.fixture
def pw(tmp_path):
    f = PortwayFactory(tmp_path)
    yield f
    f.close()


@pytest.fixture(autouse=True)
def sanitizer_reports(tmp_path, monkeypatch):
    """Portway run by a test itself (subprocess.run of a subcommand, prlimit ...) inherits
    os.environ: in the sanitized run its reports go to files here, checked after the test."""
    if not SANITIZED:
        yield
        return
    d = tmp_path / "sanitizer-reports"
    d.mkdir()
    for var, opts in (("ASAN_OPTIONS", ASAN_OPTIONS), ("UBSAN_OPTIONS", UBSAN_OPTIONS)):
        monkeypatch.setenv(var, f"{opts}:log_path={d}/report")
    yield
    reports = sorted(d.iterdir())
    if reports:
        pytest.fail("sanitizer reports from a portway the test ran itself:\n" +
                    "\n".join(f"--- {r} ---\n{r.read_text(errors='replace')[:12000]}" for r in reports),
                    pytrace=False)


class EchoServer:
    """A threaded TCP echo server (or a UDP echo with udp=True). Counts connections."""

    def __init__(self, udp=False, host="127.0.0.1"):
        self.udp = udp
        self.connections = 0
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        if not udp:
            self.sock.listen(128)
        self.closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        if self.udp:
            while not self.closed:
                try:
                    data, addr = self.sock.recvfrom(65535)
                except OSError:
                    return
                self.connections += 1
                try:
                    self.sock.sendto(data, addr)
                except OSError:  # closed by the test while a reply was due
                    return
            return
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()


@pytest.fixture
def echo():
    servers = []

    def make(**kw):
        s = EchoServer(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def http_server(tmp_path):
    """A local web server (python's http.server) serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from the backend\n")
    port = free_port()
    proc = subprocess.Popen(["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(www)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)

    class H:
        pass

    h = H()
    h.port = port
    h.www = www
    yield h
    proc.terminate()
    proc.wait()


def curl(*args, timeout=30):
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout)] + list(args), capture_output=True, timeout=timeout + 5)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def build_go_peer(tmp_path_factory, name, source, needs, package):
    """Build a Go test peer from source (its main.go) with Debian's Go packages under
    /usr/share/gocode (GOPATH mode: nothing is downloaded); skip the test when Go or the
    package directory needs is missing. Returns the binary's path."""
    if not shutil.which("go") or not os.path.isdir(needs):
        pytest.skip(f"Go and {package} are needed (scripts/setup.sh)")
    d = tmp_path_factory.mktemp(name)
    src = d / "src" / name
    src.mkdir(parents=True)
    (src / "main.go").write_text(source)
    env = dict(os.environ, GO111MODULE="off", GOPATH=f"{d}:/usr/share/gocode", GOCACHE=str(d / "cache"), GOFLAGS="")
    out = d / name
    r = subprocess.run(["go", "build", "-o", str(out), f"./src/{name}"], cwd=d, env=env, capture_output=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return str(out)
