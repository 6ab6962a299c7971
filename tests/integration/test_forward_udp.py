"""UDP port forwarding through the real binary on loopback: many clients at once,
each getting only its own answers, large datagrams, session expiry, failover."""
import os
import socket
import threading
import time

from conftest import free_port


def _udp_client(timeout=3.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(timeout)
    return s


class TaggingUdpServer:
    """Answers each datagram with "<client addr>|<datagram>", so a reply that reaches
    the wrong client is seen, and counts the distinct source addresses (sessions)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sources = set()
        self.received = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                return
            self.received += 1
            self.sources.add(addr)
            self.sock.sendto(b"%s:%d|" % (addr[0].encode(), addr[1]) + data, addr)

    def close(self):
        self.sock.close()


def test_udp_forward_many_clients_at_once(pw):
    backend = TaggingUdpServer()
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{backend.port}")
    clients = [_udp_client() for _ in range(30)]
    rounds = 20
    # interleave: every client sends before anyone reads
    for r in range(rounds):
        for i, c in enumerate(clients):
            c.sendto(b"client %d round %d" % (i, r), ("127.0.0.1", port))
        time.sleep(0.005)
    replies = {i: [] for i in range(len(clients))}
    for i, c in enumerate(clients):
        while len(replies[i]) < rounds:
            data, addr = c.recvfrom(65535)
            assert addr == ("127.0.0.1", port)  # answers come from the service address
            replies[i].append(data)
    upstream = {}
    for i, got in replies.items():
        tags = {d.split(b"|", 1)[0] for d in got}
        assert len(tags) == 1, f"client {i} saw answers of several sessions: {tags}"
        upstream[i] = tags.pop()
        assert sorted(d.split(b"|", 1)[1] for d in got) == sorted(b"client %d round %d" % (i, r) for r in range(rounds))
    # one upstream socket (session) per client, never shared
    assert len(set(upstream.values())) == len(clients)
    assert len(backend.sources) == len(clients)
    assert backend.received == len(clients) * rounds
    for c in clients:
        c.close()
    backend.close()


def test_udp_forward_parallel_threads_several_workers(pw, echo):
    """Clients in threads, each a ping-pong loop, against a service on two workers."""
    e = echo(udp=True)
    port = free_port(socket.SOCK_DGRAM)
    pw.start(config=f"""
workers: 2
services:
  - name: dns-like
    addr: 127.0.0.1:{port}
    handler: {{type: udp}}
    listener: {{type: udp}}
    forwarder:
      nodes: [{{addr: 127.0.0.1:{e.port}}}]
""")
    errors = []

    def client(n):
        try:
            c = _udp_client()
            for k in range(50):
                msg = os.urandom(16) + b"%d/%d" % (n, k)
                c.sendto(msg, ("127.0.0.1", port))
                data, _ = c.recvfrom(65535)
                if data != msg:
                    errors.append((n, k, data))
                    return
            c.close()
        except Exception as ex:  # noqa: BLE001 - reported below
            errors.append((n, repr(ex)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]


def test_udp_large_datagrams_and_boundaries(pw, echo):
    e = echo(udp=True)
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{e.port}")
    c = _udp_client()
    for size in (1, 1400, 9000, 60000, 65507):
        msg = os.urandom(size)
        c.sendto(msg, ("127.0.0.1", port))
        data, _ = c.recvfrom(65535)
        assert data == msg, size
    # datagram boundaries are kept: three sends, three receives
    for m in (b"a", b"bb", b"ccc"):
        c.sendto(m, ("127.0.0.1", port))
    assert [c.recvfrom(100)[0] for _ in range(3)] == [b"a", b"bb", b"ccc"]
    c.close()


def test_udp_empty_datagram_keeps_the_session(pw):
    """An empty datagram is not an end of stream: the session goes on (portway drops it)."""
    backend = TaggingUdpServer()
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{backend.port}")
    c = _udp_client()
    c.sendto(b"before", ("127.0.0.1", port))
    first = c.recvfrom(1000)[0].split(b"|")[0]
    c.sendto(b"", ("127.0.0.1", port))
    for m in (b"after-1", b"after-2"):
        c.sendto(m, ("127.0.0.1", port))
        data = c.recvfrom(1000)[0]
        assert data == first + b"|" + m
    c.close()
    backend.close()


def test_udp_session_ends_after_ttl_and_comes_back(pw):
    backend = TaggingUdpServer()
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{backend.port}?ttl=500ms")
    c = _udp_client()
    c.sendto(b"one", ("127.0.0.1", port))
    first = c.recvfrom(1000)[0].split(b"|")[0]
    c.sendto(b"two", ("127.0.0.1", port))
    assert c.recvfrom(1000)[0].split(b"|")[0] == first  # same session while active
    time.sleep(1.5)
    c.sendto(b"three", ("127.0.0.1", port))
    data = c.recvfrom(1000)[0]
    assert data.endswith(b"|three")
    assert data.split(b"|")[0] != first  # the old session expired: a new upstream socket
    c.close()
    backend.close()


def test_udp_target_down_then_up(pw):
    """An unreachable UDP target loses datagrams but not the service."""
    target = free_port(socket.SOCK_DGRAM)
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{target}")
    c = _udp_client(timeout=0.5)
    c.sendto(b"lost", ("127.0.0.1", port))
    try:
        c.recvfrom(100)
        raise AssertionError("an answer from nowhere")
    except socket.timeout:
        pass
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", target))
    c.settimeout(3)
    c.sendto(b"found", ("127.0.0.1", port))
    data, addr = srv.recvfrom(100)
    assert data == b"found"
    srv.sendto(b"reply", addr)
    assert c.recvfrom(100)[0] == b"reply"
    srv.close()
    c.close()


def test_udp_dual_stack_listen(pw, echo):
    """udp://:port takes IPv4 clients (as v4-mapped peers) and IPv6 clients alike."""
    e = echo(udp=True)
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://:{port}/127.0.0.1:{e.port}")
    c4 = _udp_client()
    c4.sendto(b"v4", ("127.0.0.1", port))
    data, addr = c4.recvfrom(100)
    assert (data, addr) == (b"v4", ("127.0.0.1", port))
    c6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    c6.settimeout(3)
    c6.sendto(b"v6", ("::1", port))
    assert c6.recvfrom(100)[0] == b"v6"
    c4.close()
    c6.close()


def test_udp_max_sessions_drops_new_clients_and_warns_once(pw, echo):
    e = echo(udp=True)
    port = free_port(socket.SOCK_DGRAM)
    p = pw.start(config=f"""
workers: 1
services:
  - name: capped
    addr: 127.0.0.1:{port}
    handler: {{type: udp, metadata: {{ttl: 1s}}}}
    listener: {{type: udp, metadata: {{maxSessions: 2}}}}
    forwarder:
      nodes: [{{addr: 127.0.0.1:{e.port}}}]
""")
    clients = [_udp_client(timeout=0.3) for _ in range(3)]
    for r in range(20):
        for i, c in enumerate(clients):
            c.sendto(b"%d" % i, ("127.0.0.1", port))
    got = []
    for c in clients:
        n = 0
        try:
            while True:
                c.recvfrom(100)
                n += 1
        except socket.timeout:
            pass
        got.append(n)
    assert got == [20, 20, 0]
    assert p.text().count("2 UDP sessions, dropping datagrams from new clients") == 1, p.text()
    # once the first sessions expire, the third client is served
    time.sleep(1.5)
    clients[2].settimeout(3)
    clients[2].sendto(b"late", ("127.0.0.1", port))
    assert clients[2].recvfrom(100)[0] == b"late"
    for c in clients:
        c.close()
