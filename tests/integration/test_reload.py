"""Signals: SIGHUP reloads the configuration without breaking what runs; SIGTERM lets
running transfers finish (within the grace period) and refuses new connections."""
import hashlib
import os
import signal
import socket
import threading
import time

import pytest

from conftest import free_port, wait_port


class SlowSource:
    """Backend: each connection gets `size` bytes paced over about `seconds`; keeps the digest."""

    def __init__(self, size=24 << 20, seconds=2.5):
        self.size = size
        self.seconds = seconds
        self.digests = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        h = hashlib.sha256()
        chunk = 256 << 10
        steps = self.size // chunk
        try:
            for i in range(steps):
                block = hashlib.sha256(b"%d" % i).digest() * (chunk // 32)
                c.sendall(block)
                h.update(block)
                time.sleep(self.seconds / steps)
            self.digests.append(h.hexdigest())
        except OSError:
            self.digests.append("broken")
        finally:
            c.close()

    def close(self):
        self.sock.close()


class Download:
    """Client: reads a SlowSource through portway in a thread, hashing."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.hash = hashlib.sha256()
        self.received = 0
        self.error = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        try:
            while True:
                d = self.sock.recv(1 << 20)
                if not d:
                    break
                self.hash.update(d)
                self.received += len(d)
        except OSError as e:
            self.error = e
        self.sock.close()

    def wait_started(self, timeout=5):
        deadline = time.time() + timeout
        while self.received == 0:
            assert time.time() < deadline, "no data came"
            time.sleep(0.01)

    def finish(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "transfer did not finish"
        return self


def _echo(port, msg=b"ping", timeout=5):
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    c.sendall(msg)
    got = c.recv(len(msg) + 100)
    c.close()
    return got


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def _service(name, port, target, extra=""):
    return f"""
  - name: {name}
    addr: 127.0.0.1:{port}
    handler: {{type: tcp{extra}}}
    forwarder:
      nodes: [{{addr: 127.0.0.1:{target}}}]
"""


def _wait_reload(p, n_done, timeout=10):
    deadline = time.time() + timeout
    while p.text().count("reload done") + p.text().count("reload rejected") < n_done:
        assert time.time() < deadline, p.text()
        time.sleep(0.02)


def test_sighup_adds_service_while_transfer_runs(pw, tmp_path, echo):
    src = SlowSource()
    e = echo()
    pa, pb = free_port(), free_port()
    cfg = tmp_path / "reload.yaml"
    cfg.write_text("services:" + _service("a", pa, src.port))
    p = pw.start("-C", str(cfg))
    d = Download(pa)
    d.wait_started()
    cfg.write_text("services:" + _service("a", pa, src.port) + _service("b", pb, e.port))
    p.signal(signal.SIGHUP)
    _wait_reload(p, 1)
    assert "reload done: 2 services" in p.text()
    assert _echo(pb) == b"ping"          # the new service works at once
    assert d.thread.is_alive()            # while the transfer still runs
    d.finish()
    assert d.error is None
    assert d.received == src.size
    assert src.digests == [d.hash.hexdigest()]
    # the unchanged service kept listening too
    d2 = Download(pa).finish()
    assert d2.received == src.size
    src.close()


def test_sighup_broken_config_keeps_running_one(pw, tmp_path, echo):
    e = echo()
    pa = free_port()
    cfg = tmp_path / "reload.yaml"
    cfg.write_text("services:" + _service("a", pa, e.port))
    p = pw.start("-C", str(cfg))
    live = socket.create_connection(("127.0.0.1", pa), timeout=5)
    live.sendall(b"1")
    assert live.recv(1) == b"1"
    cfg.write_text("services:\n  - name: a\n    addr: 127.0.0.1:notaport\n")
    p.signal(signal.SIGHUP)
    _wait_reload(p, 1)
    assert (f"reload rejected, the running configuration stays: {cfg}:3:11: services[0].addr: "
            "expected host:port (or :port, [v6]:port), got \"127.0.0.1:notaport\"") in p.text()
    cfg.write_text("services: [\n")
    p.signal(signal.SIGHUP)
    _wait_reload(p, 2)
    assert f"reload rejected, the running configuration stays: {cfg}:2:1:" in p.text()
    assert _echo(pa) == b"ping"
    live.sendall(b"2")
    assert live.recv(1) == b"2"
    live.close()
    assert p.proc.poll() is None


def test_sighup_removes_and_changes_services(pw, tmp_path, echo):
    e1, e2 = echo(), echo()
    pa, pb, pc = free_port(), free_port(), free_port()
    cfg = tmp_path / "reload.yaml"
    cfg.write_text("services:" + _service("a", pa, e1.port) + _service("b", pb, e1.port) + _service("c", pc, e1.port))
    p = pw.start("-C", str(cfg))
    conns = {}
    for name, port in (("a", pa), ("b", pb), ("c", pc)):
        conns[name] = socket.create_connection(("127.0.0.1", port), timeout=5)
        conns[name].sendall(b"x")
        assert conns[name].recv(1) == b"x"
    assert e1.connections == 3
    # b goes away, c now forwards to e2, a stays as it is
    cfg.write_text("services:" + _service("a", pa, e1.port) + _service("c", pc, e2.port))
    p.signal(signal.SIGHUP)
    _wait_reload(p, 1)
    assert "reload done: 2 services" in p.text()
    p.wait_log(f"service b: stopped listening on 127.0.0.1:{pb}")
    deadline = time.time() + 5
    while not _refused(pb):
        assert time.time() < deadline, "the removed service still accepts"
        time.sleep(0.05)
    # the unchanged service's live connection carries on, and it still accepts
    conns["a"].sendall(b"still here")
    assert conns["a"].recv(100) == b"still here"
    assert _echo(pa) == b"ping"
    # the changed service's new connections go to the new target
    before = e2.connections
    assert _echo(pc) == b"ping"
    assert e2.connections == before + 1
    # connections opened before the reload keep working until they end
    for name in ("b", "c"):
        conns[name].sendall(b"old")
        assert conns[name].recv(3) == b"old"
    for c in conns.values():
        c.close()
    assert "service a: stopped listening" not in p.text()


def test_sighup_reload_that_cannot_bind_changes_nothing(pw, tmp_path, echo):
    e = echo()
    pa, busy = free_port(), free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", busy))
    blocker.listen(1)
    cfg = tmp_path / "reload.yaml"
    cfg.write_text("services:" + _service("a", pa, e.port))
    p = pw.start("-C", str(cfg))
    cfg.write_text("services:" + _service("a", pa, e.port) + _service("b", busy, e.port))
    p.signal(signal.SIGHUP)
    _wait_reload(p, 1)
    t = p.text()
    assert f"service b: cannot listen on 127.0.0.1:{busy}: Address already in use" in t
    assert "reload rejected, the running configuration stays" in t
    assert _echo(pa) == b"ping"
    blocker.close()
    # the next reload can bind it
    p.signal(signal.SIGHUP)
    _wait_reload(p, 2)
    assert "reload done: 2 services" in p.text()
    assert _echo(busy) == b"ping"


def test_sighup_in_url_mode_is_harmless(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{e.port}")
    p.signal(signal.SIGHUP)
    p.wait_log("services come from the command line; nothing to reload")
    assert _echo(port) == b"ping"


def test_sigterm_lets_running_transfer_finish(pw):
    src = SlowSource(size=16 << 20, seconds=2)
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{src.port}", env={"PORTWAY_GRACE": "15"})
    d = Download(port)
    d.wait_started()
    t0 = time.time()
    p.signal(signal.SIGTERM)
    p.wait_log("shutting down: no new connections, 1 open")
    # no new connections once shutting down
    deadline = time.time() + 3
    while not _refused(port):
        assert time.time() < deadline, "still accepting after SIGTERM"
        time.sleep(0.05)
    d.finish()
    assert d.error is None
    assert d.received == src.size
    assert src.digests == [d.hash.hexdigest()]
    assert p.proc.wait(10) == 0
    assert time.time() - t0 < 10  # exits when the last transfer is done, not at the grace's end
    assert "bye" in p.text()
    src.close()


def test_sigterm_grace_period_ends_stuck_connections(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{e.port}", env={"PORTWAY_GRACE": "1s"})
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"x")
    assert c.recv(1) == b"x"
    t0 = time.time()
    p.signal(signal.SIGTERM)
    assert p.proc.wait(10) == 0
    took = time.time() - t0
    assert 0.8 < took < 4, took
    assert "grace period over, closing 1 connections" in p.text()
    c.settimeout(3)
    assert c.recv(1) == b""
    c.close()


def test_second_sigterm_exits_at_once(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{e.port}", env={"PORTWAY_GRACE": "30"})
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"x")
    assert c.recv(1) == b"x"
    p.signal(signal.SIGTERM)
    p.wait_log("shutting down")
    t0 = time.time()
    p.signal(signal.SIGINT)
    assert p.proc.wait(10) == 0
    assert time.time() - t0 < 3
    assert "second signal: exiting now" in p.text()
    c.close()
