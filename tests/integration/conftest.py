"""Fixtures for integration tests: the real portway binary on loopback, real peers.

Every test gets fresh ports. `pw.start(...)` starts portway with -L/-F URLs or a
YAML config text and waits until it logs that it is running; at teardown the
process is stopped and its log is checked for sanitizer reports and crashes.
"""
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

PORTWAY = os.environ.get("PORTWAY") or os.path.join(os.path.dirname(__file__), "../../build/src/portway")
HERE = os.path.dirname(os.path.abspath(__file__))


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
    """One portway process."""

    def __init__(self, args, tmp_path, name="pw", wait=True, env=None):
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "wb")
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        # Tests leave client sockets open; a short drain keeps teardown quick. Drain tests set their own.
        e.setdefault("PORTWAY_GRACE", "1")
        if env:
            e.update(env)
        self.proc = subprocess.Popen([PORTWAY] + list(args), stdout=self.log, stderr=subprocess.STDOUT, env=e)
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

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def check_clean(self):
        t = self.text()
        for bad in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", "Segmentation fault"):
            assert bad not in t, f"portway log has '{bad}':\n{t}"


class PortwayFactory:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.procs = []
        self.n = 0

    def start(self, *args, config=None, wait=True, env=None, name=None):
        args = list(args)
        if config is not None:
            self.n += 1
            path = self.tmp_path / f"portway-{self.n}.yaml"
            path.write_text(config)
            args = ["-C", str(path)] + args
        p = Portway(args, self.tmp_path, name or f"pw{len(self.procs)}", wait=wait, env=env)
        self.procs.append(p)
        return p

    def run(self, *args, config=None, timeout=10):
        """Run portway to completion (for -t and bad configs); returns (code, output)."""
        args = list(args)
        if config is not None:
            self.n += 1
            path = self.tmp_path / f"portway-{self.n}.yaml"
            path.write_text(config)
            args = ["-C", str(path)] + args
        r = subprocess.run([PORTWAY] + args, capture_output=True, timeout=timeout)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def close(self):
        for p in self.procs:
            p.stop()
        for p in self.procs:
            p.check_clean()


@pytest.fixture
def pw(tmp_path):
    f = PortwayFactory(tmp_path)
    yield f
    f.close()


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
                self.sock.sendto(data, addr)
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
