"""TCP port forwarding through the real binary on loopback: bulk transfers with
checksums, half close, failover and node health, idle timeout, EMFILE."""
import hashlib
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import PORTWAY, STOP_TIMEOUT, curl, free_port, sanitizer_env, sanitizer_report

SANITIZED = os.environ.get("PORTWAY_SANITIZED") == "1"
# 1 GiB each way on a normal build; the ASan build is several times slower.
BULK = (128 << 20) if SANITIZED else (1 << 30)

# A block whose length is no power of two, so a dropped, repeated or
# reordered buffer anywhere on the way changes the checksum.
_BLOCK = hashlib.sha256(b"portway").digest() * 32768 + b"odd-length-tail"


class Flow:
    """Streams `size` pattern bytes out of a socket while hashing; hashes what comes in."""

    def __init__(self, sock, size, chunk=1 << 20):
        self.sock = sock
        self.size = size
        self.chunk = chunk
        self.sent_hash = hashlib.sha256()
        self.recv_hash = hashlib.sha256()
        self.received = 0
        self.error = None

    def send_all(self, then_shutdown=True):
        try:
            left, off = self.size, 0
            view = memoryview(_BLOCK * ((self.chunk // len(_BLOCK)) + 2))
            n = len(_BLOCK)
            while left:
                k = min(left, self.chunk)
                piece = view[off:off + k]
                self.sock.sendall(piece)
                self.sent_hash.update(piece)
                left -= k
                off = (off + k) % n
            if then_shutdown:
                self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e

    def recv_all(self):
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while True:
            n = self.sock.recv_into(view)
            if not n:
                return
            self.recv_hash.update(view[:n])
            self.received += n


class BulkServer:
    """Backend: sends `down` bytes (then half-closes) while it hashes everything it receives."""

    def __init__(self, down):
        self.down = down
        self.flows = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        f = Flow(c, self.down)
        self.flows.append(f)
        t = threading.Thread(target=f.send_all)
        t.start()
        try:
            f.recv_all()
        except OSError as e:
            f.error = e
        t.join()
        c.close()
        self.done.set()

    def close(self):
        self.sock.close()


def bulk_both_ways(port, backend, up, timeout):
    """Client side of a full-duplex transfer through the forward; returns (client flow, server flow)."""
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(timeout)
    f = Flow(c, up)
    t = threading.Thread(target=f.send_all)
    t.start()
    f.recv_all()
    t.join()
    c.close()
    assert backend.done.wait(timeout), "backend did not finish"
    return f, backend.flows[0]


def test_curl_fetches_through_forward(pw, http_server):
    (http_server.www / "big.bin").write_bytes(os.urandom(3 << 20))
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{http_server.port}")
    code, out, err = curl(f"http://127.0.0.1:{port}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"
    r = subprocess.run(["curl", "-sS", "--max-time", "30", "-o", "-", f"http://127.0.0.1:{port}/big.bin"],
                       capture_output=True, timeout=35)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (http_server.www / "big.bin").read_bytes()
    code, out, err = curl(f"http://127.0.0.1:{port}/missing")
    assert code == 0, err
    assert "Error code: 404" in out


def test_bulk_both_directions_checksums(pw):
    """1 GiB up and 1 GiB down at the same time through one forwarded connection."""
    backend = BulkServer(down=BULK)
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{backend.port}")
    start = time.time()
    client, server = bulk_both_ways(port, backend, up=BULK, timeout=90)
    took = time.time() - start
    backend.close()
    assert client.error is None and server.error is None, (client.error, server.error)
    assert server.received == BULK
    assert client.received == BULK
    assert server.recv_hash.hexdigest() == client.sent_hash.hexdigest(), "upload corrupted"
    assert client.recv_hash.hexdigest() == server.sent_hash.hexdigest(), "download corrupted"
    print(f"{2 * BULK >> 20} MiB through the forward in {took:.1f}s")


def test_bulk_one_direction_each(pw):
    """Upload only, then download only: each direction alone, with the other side idle and half-closed."""
    port_up, port_down = free_port(), free_port()
    up = BulkServer(down=0)
    down = BulkServer(down=BULK // 4)
    pw.start("-L", f"tcp://127.0.0.1:{port_up}/127.0.0.1:{up.port}",
             "-L", f"tcp://127.0.0.1:{port_down}/127.0.0.1:{down.port}")
    c, s = bulk_both_ways(port_up, up, up=BULK // 4, timeout=60)
    assert (s.received, c.received) == (BULK // 4, 0)
    assert s.recv_hash.hexdigest() == c.sent_hash.hexdigest()
    c, s = bulk_both_ways(port_down, down, up=0, timeout=60)
    assert (s.received, c.received) == (0, BULK // 4)
    assert c.recv_hash.hexdigest() == s.sent_hash.hexdigest()
    up.close()
    down.close()


def _reply_after_eof_server(reply_size):
    """Backend that reads the whole request, and only after the client's EOF sends its reply."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    result = {}

    def run():
        c, _ = srv.accept()
        got = bytearray()
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        result["request"] = bytes(got)
        payload = hashlib.sha256(got).digest() * (reply_size // 32)
        c.sendall(payload)
        result["reply"] = payload
        c.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv, t, result


def test_half_close_client_still_reads_whole_reply(pw):
    srv, t, result = _reply_after_eof_server(8 << 20)
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{srv.getsockname()[1]}")
    c = socket.create_connection(("127.0.0.1", port), timeout=20)
    request = os.urandom(300000)
    c.sendall(request)
    c.shutdown(socket.SHUT_WR)  # the backend only answers after this EOF reaches it
    reply = bytearray()
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        reply += d
    c.close()
    t.join(10)
    srv.close()
    assert result["request"] == request
    assert bytes(reply) == result["reply"]
    assert len(reply) == (8 << 20) // 32 * 32


def test_half_close_server_side(pw):
    """The backend finishes first (shuts its write side); the client may still send and be heard."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = {}

    def run():
        c, _ = srv.accept()
        c.sendall(b"banner\n")
        c.shutdown(socket.SHUT_WR)
        data = bytearray()
        while True:
            d = c.recv(65536)
            if not d:
                break
            data += d
        got["data"] = bytes(data)
        c.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{srv.getsockname()[1]}")
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    banner = b""
    while True:
        d = c.recv(100)
        if not d:
            break
        banner += d
    assert banner == b"banner\n"  # EOF came through, the connection lives on
    payload = os.urandom(2 << 20)
    c.sendall(payload)
    c.shutdown(socket.SHUT_WR)
    assert c.recv(10) == b""
    c.close()
    t.join(10)
    srv.close()
    assert got["data"] == payload


def _echo_once(port, payload=b"ping"):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(payload)
    got = b""
    while len(got) < len(payload):
        d = c.recv(65536)
        if not d:
            break
        got += d
    c.close()
    return got


def test_failover_when_first_node_down(pw, echo):
    e = echo()
    dead = free_port()  # nothing listens there
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{dead},127.0.0.1:{e.port}")
    for i in range(6):
        assert _echo_once(port, b"hello %d" % i) == b"hello %d" % i
    assert e.connections == 6
    p.wait_log(f"node target-0 (127.0.0.1:{dead}) marked down for 10s")


def test_all_nodes_down_then_one_comes_back(pw):
    dead1, dead2 = free_port(), free_port()
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{dead1},127.0.0.1:{dead2}")
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert c.recv(10) == b""  # closed at once, not left hanging
    c.close()
    p.wait_log("no forward target reachable: Connection refused")
    # Both are marked down now; a node that comes back is used anyway, at once.
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", dead2))
    srv.listen(4)
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    s, _ = srv.accept()
    c.sendall(b"x")
    assert s.recv(1) == b"x"
    s.close()
    c.close()
    srv.close()


class CountingServer:
    """Accepts and counts connections on a given port; answers "ok"."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.count = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            c.sendall(b"ok")
            c.close()

    def close(self):
        self.sock.close()


def _hello(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    d = c.recv(10)
    c.close()
    return d


def test_max_fails_and_fail_timeout(pw):
    """fifo tries node 0 first: it is marked down only after maxFails failures, then skipped
    for failTimeout even though it is back, then used again."""
    n0 = free_port()
    n1 = CountingServer(free_port())
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{n0},127.0.0.1:{n1.sock.getsockname()[1]}"
                       "?strategy=fifo&maxFails=3&failTimeout=3s")
    for i in range(2):
        assert _hello(port) == b"ok"
    time.sleep(0.2)
    assert "marked down" not in p.text()
    assert _hello(port) == b"ok"
    p.wait_log(f"node target-0 (127.0.0.1:{n0}) marked down for 3s")
    down_at = time.time()
    assert n1.count == 3
    # node 0 comes back, but it is down for failTimeout: nothing goes there meanwhile
    n0s = CountingServer(n0)
    while time.time() - down_at < 2.0:
        assert _hello(port) == b"ok"
        time.sleep(0.1)
    assert n0s.count == 0
    time.sleep(max(0, 3.3 - (time.time() - down_at)))
    assert _hello(port) == b"ok"
    assert n0s.count == 1  # fifo: the first node again, now that it is up
    n0s.close()
    n1.close()


def test_round_robin_spreads(pw):
    a, b = CountingServer(free_port()), CountingServer(free_port())
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{a.sock.getsockname()[1]},127.0.0.1:{b.sock.getsockname()[1]}")
    for _ in range(10):
        assert _hello(port) == b"ok"
    assert (a.count, b.count) == (5, 5)
    a.close()
    b.close()


def test_idle_timeout_closes_idle_forward(pw, echo):
    e = echo()
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{e.port}?idleTimeout=1s")
    busy = socket.create_connection(("127.0.0.1", port), timeout=5)
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    idle.sendall(b"x")
    assert idle.recv(1) == b"x"
    t0 = time.time()
    # the busy one talks every 300 ms for 2.5 s and must stay open
    while time.time() - t0 < 2.5:
        busy.sendall(b"y")
        assert busy.recv(1) == b"y"
        time.sleep(0.3)
    idle.settimeout(3)
    assert idle.recv(10) == b""  # closed by portway
    closed_after = time.time() - t0
    assert closed_after < 3.5
    busy.sendall(b"z")
    assert busy.recv(1) == b"z"
    busy.close()
    idle.close()


def test_idle_timeout_from_config_metadata(pw, echo):
    e = echo()
    port = free_port()
    pw.start(config=f"""
services:
  - name: fwd
    addr: 127.0.0.1:{port}
    handler:
      type: tcp
      metadata:
        idleTimeout: 800ms
    forwarder:
      nodes:
        - addr: 127.0.0.1:{e.port}
""")
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"x")
    assert c.recv(1) == b"x"
    t0 = time.time()
    assert c.recv(1) == b""
    assert 0.5 < time.time() - t0 < 3
    c.close()


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_emfile_pauses_once_and_recovers(pw, echo, tmp_path):
    """With 64 descriptors, a flood of connections runs portway out of them: it logs the
    pause once, does not spin, and serves again when the flood ends."""
    e = echo()
    port = free_port()
    cfg = tmp_path / "emfile.yaml"
    cfg.write_text(f"""
workers: 1
services:
  - name: fwd
    addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    forwarder:
      nodes: [{{addr: 127.0.0.1:{e.port}}}]
""")
    log = open(tmp_path / "emfile.log", "wb")
    env = sanitizer_env({"PORTWAY_GRACE": "1"})
    proc = subprocess.Popen(["prlimit", "--nofile=64", PORTWAY, "-C", str(cfg)], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    try:
        text = lambda: (tmp_path / "emfile.log").read_text(errors="replace")
        deadline = time.time() + 10
        while "running with" not in text():
            assert proc.poll() is None, text()
            assert time.time() < deadline, text()
            time.sleep(0.02)
        assert _echo_once(port) == b"ping"
        flood = []
        for _ in range(150):
            try:
                flood.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                break
        time.sleep(0.5)
        cpu0, t0 = _cpu_seconds(proc.pid), time.time()
        time.sleep(2)
        cpu = (_cpu_seconds(proc.pid) - cpu0) / (time.time() - t0)
        assert cpu < 0.5, f"portway uses {cpu:.0%} CPU while out of descriptors"
        for s in flood:
            s.close()
        time.sleep(1.2)  # the listener's pause runs out
        for i in range(5):
            assert _echo_once(port, b"after %d" % i) == b"after %d" % i
        t = text()
        assert t.count("pausing this listener") == 1, t
        assert "Too many open files" in t
        # running out of descriptors here is no fault of the target
        assert "marked down" not in t, t
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    t = (tmp_path / "emfile.log").read_text(errors="replace")
    assert not sanitizer_report(t), t
    assert proc.returncode == 0, t


class Blackhole:
    """A loopback port whose SYNs go unanswered: a listener with a full accept queue."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fill = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fill.append(s)
        time.sleep(0.1)

    def close(self):
        for s in self.fill:
            s.close()
        self.sock.close()


def test_failover_when_first_node_times_out(pw, echo):
    """A dead host does not refuse, it stays silent: after dialTimeout the next node is tried."""
    bh = Blackhole()
    probe = socket.socket()
    probe.settimeout(1.5)
    with pytest.raises(socket.timeout):
        probe.connect(("127.0.0.1", bh.port))  # the blackhole really is one
    probe.close()
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{bh.port},127.0.0.1:{e.port}"
                       "?strategy=fifo&dialTimeout=1s")
    t0 = time.time()
    assert _echo_once(port, b"first") == b"first"
    assert 0.8 < time.time() - t0 < 3
    p.wait_log(f"node target-0 (127.0.0.1:{bh.port}) marked down for 30s")  # GOST's -L default failTimeout
    t0 = time.time()
    assert _echo_once(port, b"second") == b"second"  # straight to the healthy node now
    assert time.time() - t0 < 0.5
    bh.close()


def test_all_nodes_time_out(pw):
    bh1, bh2 = Blackhole(), Blackhole()
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{bh1.port},127.0.0.1:{bh2.port}?dialTimeout=500ms")
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.time()
    assert c.recv(10) == b""
    assert time.time() - t0 < 3
    c.close()
    p.wait_log("no forward target reachable: Connection timed out")
    bh1.close()
    bh2.close()


def test_listen_and_target_address_forms(pw, echo):
    """":port" listens on IPv6 and IPv4; "localhost" works as listen address and as a target
    (resolved by c-ares); IPv6 literals on both sides."""
    e4, e6 = echo(), echo(host="::1")
    p_any, p_local, p_v6 = free_port(), free_port(), free_port()
    pw.start("-L", f"tcp://:{p_any}/localhost:{e4.port}",
             "-L", f"tcp://localhost:{p_local}/[::1]:{e6.port}",
             "-L", f"tcp://[::1]:{p_v6}/127.0.0.1:{e4.port}")
    for host, port in (("127.0.0.1", p_any), ("::1", p_any), ("127.0.0.1", p_local), ("::1", p_v6)):
        c = socket.create_connection((host, port), timeout=5)
        c.sendall(b"addr")
        assert c.recv(10) == b"addr", (host, port)
        c.close()
    assert e6.connections == 1



def test_no_bytes_leak_between_connections(pw):
    """A connection that ends with bytes still in flight (its reader went away) must not hand
    them to the next connection on the same worker (kernel pipes are pooled)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = free_port()
    p = pw.start(config=f"""
workers: 1
services:
  - name: fwd
    addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    forwarder: {{nodes: [{{addr: 127.0.0.1:{srv.getsockname()[1]}}}]}}
""")
    for round_ in range(3):
        # a client that reads nothing while the backend pushes until everything is full
        c1 = socket.create_connection(("127.0.0.1", port), timeout=5)
        c1.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        b1, _ = srv.accept()
        b1.setblocking(False)
        junk = b"J" * 65536
        stuck_since = None
        while True:
            try:
                b1.send(junk)
                stuck_since = None
            except BlockingIOError:
                stuck_since = stuck_since or time.time()
                if time.time() - stuck_since > 0.3:
                    break
                time.sleep(0.01)
        # the client goes away without reading: portway's pending bytes cannot be delivered
        c1.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c1.close()
        b1.setblocking(True)
        b1.settimeout(5)
        try:
            while b1.recv(65536):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        b1.close()
        # the next connection on the same worker gets only its own bytes
        c2 = socket.create_connection(("127.0.0.1", port), timeout=5)
        b2, _ = srv.accept()
        b2.sendall(b"fresh %d" % round_)
        b2.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = c2.recv(65536)
            if not d:
                break
            got += d
        assert got == b"fresh %d" % round_, f"round {round_}: got {len(got)} bytes: {got[:40]!r}..."
        c2.close()
        b2.close()
    srv.close()


def test_each_connection_logs_one_line_at_close(pw, echo):
    """As GOST's handlers: the client, what it was joined to, bytes each way and the duration, at info."""
    srv = echo()
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{srv.port}")
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"x" * 1000)
    got = b""
    while len(got) < 1000:
        got += c.recv(65536)
    client = "%s:%d" % c.getsockname()
    c.close()
    line = f"service service-0: {client} >-< 127.0.0.1:{srv.port}: 1000 bytes in, 1000 bytes out, "
    p.wait_log(line)
    assert p.text().count(line) == 1
