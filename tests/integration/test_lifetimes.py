"""Lifetimes of asynchronous work: a reload (SIGHUP with a changed config) or a stopping gateway while
dials, webhook deliveries, secret checks and agent tunnels are still in flight. Each piece of work must
hold what it reads until it completes; run under ASan (build-san, PORTWAY_SANITIZED=1) a use after free
shows in the log, which the fixture checks at teardown. Also: a worker never opens the gateway's database.
"""
import base64
import hashlib
import re
import signal
import socket
import sqlite3
import threading
import time

from conftest import free_port, wait_port
from test_gateway import DOMAIN, Gateway, start_agent, tunnel_add


def _wait_reloads(p, n, timeout=15):
    deadline = time.time() + timeout
    while p.text().count("reload done") + p.text().count("reload rejected") < n:
        assert time.time() < deadline, p.text()
        time.sleep(0.02)
    assert p.text().count("reload rejected") == 0, p.text()


def _reload(p, cfg, text, n):
    cfg.write_text(text)
    p.signal(signal.SIGHUP)
    _wait_reloads(p, n)


class _Server:
    """Accepts on loopback and runs serve(conn) per connection in a thread."""

    def __init__(self, rcvbuf=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._guarded, args=(c,), daemon=True).start()

    def _guarded(self, c):
        try:
            self.serve(c)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()


class SlowSocks5(_Server):
    """A SOCKS5 server that answers the greeting only after `delay`, asking for the password: the
    connector then reads the node's credentials long after the dial that started it gave up."""

    def __init__(self, delay):
        self.delay = delay
        super().__init__()

    def serve(self, c):
        c.settimeout(10)
        if not c.recv(16):
            return
        time.sleep(self.delay)
        c.sendall(b"\x05\x02")
        if c.recv(600):
            c.sendall(b"\x01\x00")
            c.recv(600)


class SilentHTTP(_Server):
    """An HTTP server that reads the request and never answers (closes after `hold`)."""

    def __init__(self, hold):
        self.hold = hold
        self.requests = 0
        super().__init__()

    def serve(self, c):
        c.settimeout(self.hold)
        try:
            if c.recv(65536):
                self.requests += 1
            c.recv(1)
        except socket.timeout:
            pass


class BlackHole:
    """A listening socket that never accepts, its backlog already full: connects to it hang."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.held = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.held.append(s)
        time.sleep(0.1)

    def close(self):
        for s in self.held:
            s.close()
        self.sock.close()


def _abort(s):
    """Close with a reset, so the far side's pipe ends at once."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


# ---- 1. a dial that timed out leaves its connector step running with the node ----

def _socks_chain_config(port, socks, target, password):
    return f"""
services:
- name: fwd
  addr: 127.0.0.1:{port}
  handler:
    type: tcp
    chain: c
    metadata: {{dialTimeout: 0.3s}}
  forwarder:
    nodes: [{{name: t, addr: 127.0.0.1:{target}}}]
chains:
- name: c
  hops:
  - name: h
    nodes:
    - name: s5
      addr: 127.0.0.1:{socks}
      connector:
        type: socks5
        auth: {{username: user, password: {password}}}
"""


def test_dials_timed_out_in_a_socks5_step_survive_reloads(pw, tmp_path):
    socks = SlowSocks5(delay=0.8)
    port, target = free_port(), free_port()
    cfg = tmp_path / "dial.yaml"
    cfg.write_text(_socks_chain_config(port, socks.port, target, "pass0"))
    p = pw.start("-C", str(cfg))
    wait_port(port)
    for r in range(1, 5):
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(50)]
        deadline = time.time() + 5
        while socks.connections < 50 * r:
            assert time.time() < deadline, p.text()
            time.sleep(0.01)
        for c in clients:  # each dial gives up after 0.3 s: its client is closed
            c.settimeout(3)
            assert c.recv(100) == b""
            c.close()
        # a new config frees the old chain while the SOCKS5 steps still wait for the server
        _reload(p, cfg, _socks_chain_config(port, socks.port, target, f"pass{r}"), r)
        time.sleep(0.9)  # the server answers now: the connectors go on with their nodes
    assert p.proc.poll() is None
    socks.close()


# ---- 2. webhook deliveries keep the gateway's options ----

def _gateway_config(port, web, db, hook, idle, extra=""):
    return f"""
workers: 1
services:
- name: gw
  addr: 127.0.0.1:{port}
  handler:
    type: gateway
    metadata:
      webAddr: 127.0.0.1:{web}
      db: {db}
      domains: {DOMAIN}
      webhook: http://127.0.0.1:{hook}/notify
      webhookTimeout: 0.4s
      webhookRetries: 1
      maxIdleWorkers: {idle}
{extra}"""


def test_webhooks_in_flight_survive_reloads(pw, tmp_path):
    sink = SilentHTTP(hold=3)
    port, web, db = free_port(), free_port(), tmp_path / "gw.db"
    secret = tunnel_add(db, "site")
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(_gateway_config(port, web, db, sink.port, 100))
    p = pw.start("-C", str(cfg), name="gateway")
    wait_port(port)
    agent = pw.start("-L", f"agent://127.0.0.1:1?gateway=ws://127.0.0.1:{port}&subdomain=site&secret={secret}"
                           f"&relayWorkers=2&tunnelWorkers=2", name="agent")
    for r in range(1, 6):
        # the agent's workers arrive: "connected" deliveries wait for the silent sink
        deadline = time.time() + 10
        while sink.requests < 2 * r:
            assert time.time() < deadline, p.text() + agent.text()
            time.sleep(0.01)
        # a changed gateway replaces this one: its options are freed while the deliveries wait
        _reload(p, cfg, _gateway_config(port, web, db, sink.port, 100 + r), r)
        time.sleep(0.5)  # the deliveries time out now and log where they went
    p.wait_log("webhook 127.0.0.1:")
    assert p.proc.poll() is None
    sink.close()


# ---- 3. a secret check finishing after the gateway stopped ----

class WriteLock:
    """Holds the write lock of the gateway's database: a write on the store thread waits (busy timeout
    2 s), and every job queued behind it with it."""

    def __init__(self, db):
        self.con = sqlite3.connect(str(db), isolation_level=None, check_same_thread=False)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        self.con.close()


class FileLock:
    """A new database file, exclusively locked: opening it waits (busy timeout 2 s) until released."""

    def __init__(self, db):
        self.con = sqlite3.connect(str(db), isolation_level=None, check_same_thread=False)
        self.con.execute("PRAGMA locking_mode=EXCLUSIVE")
        self.con.execute("BEGIN EXCLUSIVE")
        self.con.execute("CREATE TABLE lock (x)")

    def release(self):
        self.con.close()


def _api_post(port, path, body):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
    return s


def _dial_in(port, secret):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET /relay?subdomain=site&secret={secret} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    return s


def test_secret_checks_finishing_after_the_gateway_stopped(pw, tmp_path):
    sink = SilentHTTP(hold=1)
    port, web, db = free_port(), free_port(), tmp_path / "gw.db"
    secret = tunnel_add(db, "site")
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(_gateway_config(port, web, db, sink.port, 100))
    p = pw.start("-C", str(cfg), name="gateway")
    wait_port(port)
    for r in range(1, 4):
        lock = WriteLock(db)
        # a write blocks the store thread; the agents' secret checks queue behind it
        writer = _api_post(port, "/tunnels/add", f'{{"subdomain": "round{r}"}}')
        time.sleep(0.1)
        conns = [_dial_in(port, secret) for _ in range(20)]
        time.sleep(0.2)  # the checks wait on the store thread
        cfg.write_text(_gateway_config(port, web, db, sink.port, 100 + r))
        p.signal(signal.SIGHUP)
        time.sleep(0.4)  # the old gateway stops
        lock.release()   # the checks complete now, in a stopped gateway
        _wait_reloads(p, r)
        for s in conns:
            # refused or closed, never parked as a worker of a gateway that is gone
            s.settimeout(4)
            got = b""
            try:
                while True:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
            except socket.timeout:
                raise AssertionError(f"an agent worker was kept by a stopped gateway: {got[:80]!r}\n{p.text()}")
            assert not got.startswith(b"HTTP/1.1 101"), got
            s.close()
        writer.close()
    assert p.proc.poll() is None
    sink.close()


# ---- 4. the agent's tunnel dial outlives the worker WebSocket that asked for it ----

class FakeGateway(_Server):
    """Just enough of a gateway for an agent's tunnel workers: the WebSocket handshake, many pings and a
    CONNECT line to `port`. It never reads, so the agent's pongs back up in its socket; after
    `reset_after` it resets the connection: the agent's queued write fails while its dial still runs."""

    def __init__(self, port, reset_after, n):
        self.target, self.reset_after, self.n, self.sent = port, reset_after, n, 0
        self.lock = threading.Lock()
        super().__init__(rcvbuf=1)

    def serve(self, c):
        head = b""
        while b"\r\n\r\n" not in head:
            d = c.recv(4096)
            if not d:
                return
            head += d
        key = re.search(rb"Sec-WebSocket-Key: *(\S+)", head, re.I).group(1)
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        with self.lock:
            first = self.sent < self.n
            self.sent += 1
        if not first:  # the replacements stay idle
            time.sleep(self.reset_after + 10)
            return
        line = b"CONNECT %d\n" % self.target
        c.sendall((bytes([0x89, 125]) + b"p" * 125) * 40000 + bytes([0x82, len(line)]) + line)
        time.sleep(self.reset_after)
        _abort(c)


def test_tunnel_dial_outlives_its_worker(pw, tmp_path):
    hole = BlackHole()
    fake = FakeGateway(hole.port, reset_after=1, n=4)
    agent = pw.start("-L", f"agent://127.0.0.1:1?gateway=ws://127.0.0.1:{fake.port}&subdomain=site&secret=s"
                           f"&relayWorkers=0&tunnelWorkers=4&dialTimeout=2.5s", name="agent")
    deadline = time.time() + 10
    while fake.sent < 4:
        assert time.time() < deadline, agent.text()
        time.sleep(0.05)
    time.sleep(3.5)  # the workers are reset after 1 s, their dials time out after 2.5 s
    agent.wait_log("agent: tunnel to port")
    assert agent.proc.poll() is None
    fake.close()
    hole.close()


# ---- 5. no worker opens or migrates the database ----

def test_reload_does_not_open_the_database_on_a_worker(pw, tmp_path, echo):
    e = echo()
    sink = SilentHTTP(hold=1)
    port, web, db, fwd = free_port(), free_port(), tmp_path / "gw.db", free_port()
    tunnel_add(db, "site")
    forward = f"""- name: fwd
  addr: 127.0.0.1:{fwd}
  handler: {{type: tcp}}
  forwarder:
    nodes: [{{addr: 127.0.0.1:{e.port}}}]
"""
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(_gateway_config(port, web, db, sink.port, 100, forward))
    p = pw.start("-C", str(cfg), name="gateway")
    wait_port(port)
    wait_port(fwd)
    live = socket.create_connection(("127.0.0.1", fwd), timeout=5)
    # the changed gateway uses a new database, which cannot be opened for 1.5 s
    lock = FileLock(tmp_path / "gw2.db")
    threading.Timer(1.5, lock.release).start()
    cfg.write_text(_gateway_config(port, web, tmp_path / "gw2.db", sink.port, 101, forward))
    p.signal(signal.SIGHUP)
    time.sleep(0.2)
    # while the new gateway's database is being opened, the (only) worker still forwards
    worst = 0.0
    for i in range(10):
        t = time.time()
        live.sendall(b"x%d" % i)
        assert live.recv(10) == b"x%d" % i
        worst = max(worst, time.time() - t)
        time.sleep(0.1)
    _wait_reloads(p, 1)
    assert worst < 0.5, f"a worker stalled {worst:.2f}s while the database was opened\n{p.text()}"
    live.close()
    sink.close()


# ---- all at once: reloads while dials, deliveries and agent dial-ins are in flight ----

def test_reloads_while_everything_is_in_flight(pw, tmp_path):
    socks = SlowSocks5(delay=0.5)
    sink = SilentHTTP(hold=2)
    port, web, db, fwd, target = free_port(), free_port(), tmp_path / "gw.db", free_port(), free_port()
    secret = tunnel_add(db, "site")

    def config(r):
        chain = _socks_chain_config(fwd, socks.port, target, f"pass{r}").replace("\nservices:\n", "")
        return _gateway_config(port, web, db, sink.port, 100 + r).replace("workers: 1", "workers: 2") + chain

    cfg = tmp_path / "all.yaml"
    cfg.write_text(config(0))
    p = pw.start("-C", str(cfg), name="portway")
    wait_port(port)
    wait_port(fwd)
    agent = pw.start("-L", f"agent://127.0.0.1:1?gateway=ws://127.0.0.1:{port}&subdomain=site&secret={secret}"
                           f"&relayWorkers=3&tunnelWorkers=3", name="agent")
    for r in range(1, 9):
        dials = [socket.create_connection(("127.0.0.1", fwd), timeout=5) for _ in range(30)]
        dial_ins = [_dial_in(port, secret) for _ in range(10)]
        time.sleep(0.15)
        _reload(p, cfg, config(r), r)
        time.sleep(0.3)
        for s in dials + dial_ins:
            _abort(s)
    time.sleep(1)  # the last SOCKS5 answers and webhook timeouts land
    assert p.proc.poll() is None and agent.proc.poll() is None
    assert sink.requests > 0 and socks.connections > 0
    socks.close()
    sink.close()
