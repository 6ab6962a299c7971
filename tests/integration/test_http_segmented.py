"""Every HTTP server in portway reads heads and bodies that arrive in pieces.

The gateway's management API once kept a parsed request pointing into a buffer
that a later read moved (a use-after-free, before any authentication): a body
in a second read answered 404 instead of adding the tunnel. Each server here is
fed requests split at every byte, and in random segments, with a pause between
the pieces so that they arrive as separate reads.
"""
import json
import random
import re
import socket
import time

from conftest import free_port, wait_port
from test_gateway import DOMAIN, Gateway, api
from test_godoxy import certs, read_response, start_agent, tls_client  # noqa: F401 (certs: fixture)

PAUSE = 0.01


def send_pieces(sock, data, cuts, pause=PAUSE):
    """Send data cut at the given offsets, pausing between pieces."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    last = 0
    for c in list(cuts) + [len(data)]:
        if c > last:
            sock.sendall(data[last:c])
            last = c
            time.sleep(pause)


def read_all(sock, timeout=5):
    sock.settimeout(timeout)
    out = b""
    while True:
        d = sock.recv(65536)
        if not d:
            return out
        out += d


def exchange(port, data, cuts, pause=PAUSE):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        send_pieces(s, data, cuts, pause)
        return read_all(s)
    finally:
        s.close()


def status_of(response):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", response)
    assert m, response[:200]
    return int(m.group(1))


def random_cuts(rng, n):
    return sorted(rng.sample(range(1, n), min(n - 1, rng.randint(1, 8))))


def tunnel_add_request(name, pad=0):
    body = json.dumps({"subdomain": name}) + " " * pad
    return (f"POST /tunnels/add HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode()


def test_gateway_api_body_in_a_later_read(pw, tmp_path):
    """The reported case: the head, a 0.3 s pause, then a 200-byte body."""
    gw = Gateway(pw, tmp_path)
    req = tunnel_add_request("later", pad=200 - len(json.dumps({"subdomain": "later"})))
    head_len = req.index(b"\r\n\r\n") + 4
    resp = exchange(gw.port, req, [head_len], pause=0.3)
    assert status_of(resp) == 200, resp
    assert re.fullmatch(rb"[0-9a-f]{64}", json.loads(resp.partition(b"\r\n\r\n")[2])["secret"].encode())
    status, body = api(gw.port, "GET", "/tunnels/list")
    assert status == 200 and "later" in [t["subdomain"] for t in body]


def test_gateway_api_split_at_every_byte(pw, tmp_path):
    gw = Gateway(pw, tmp_path)
    names = []
    req0 = tunnel_add_request("t0")
    for i in range(1, len(req0)):
        name = f"t{i}"
        req = tunnel_add_request(name)
        if i >= len(req):
            continue
        resp = exchange(gw.port, req, [i])
        assert status_of(resp) == 200, (i, resp)
        names.append(name)
    rng = random.Random(7)
    for k in range(30):
        name = f"r{k}"
        req = tunnel_add_request(name, pad=rng.randint(0, 300))
        resp = exchange(gw.port, req, random_cuts(rng, len(req)), pause=0.003)
        assert status_of(resp) == 200, (k, resp)
        names.append(name)
    status, body = api(gw.port, "GET", "/tunnels/list")
    assert status == 200
    assert sorted(names) == sorted(t["subdomain"] for t in body if t["subdomain"] != "site")


def test_gateway_web_port_split_at_every_byte(pw, tmp_path):
    """The public web port: an unknown subdomain is 404 and the site without an agent is 502, however split."""
    gw = Gateway(pw, tmp_path)
    for host, want in ((f"nosuch.{DOMAIN}", 404), (f"site.{DOMAIN}", 502)):
        req = f"GET /index.html HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\nConnection: close\r\n\r\n".encode()
        for i in range(1, len(req)):
            assert status_of(exchange(gw.web, req, [i])) == want, (host, i)


def test_http_proxy_split_at_every_byte(pw, http_server):
    port = free_port()
    pw.start("-L", f"http://127.0.0.1:{port}")
    wait_port(port)
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    req = f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{http_server.port}\r\nConnection: close\r\n\r\n".encode()
    for i in range(1, len(req)):
        resp = exchange(port, req, [i])
        assert status_of(resp) == 200 and resp.endswith(b"hello from the backend\n"), (i, resp[-200:])
    # CONNECT, split, then the tunnelled request in pieces of its own
    rng = random.Random(3)
    for k in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        head = f"CONNECT 127.0.0.1:{http_server.port} HTTP/1.1\r\nHost: 127.0.0.1:{http_server.port}\r\n\r\n".encode()
        send_pieces(s, head, random_cuts(rng, len(head)), pause=0.003)
        s.settimeout(5)
        got = b""
        while b"\r\n\r\n" not in got:
            d = s.recv(4096)
            assert d, got
            got += d
        assert status_of(got) == 200, got
        inner = b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n"
        send_pieces(s, inner, random_cuts(rng, len(inner)), pause=0.003)
        assert read_all(s).endswith(b"hello from the backend\n")
        s.close()


def test_godoxy_agent_api_split_at_every_byte(pw, certs):  # noqa: F811 (certs: fixture)
    agent = start_agent(pw, certs, udp=False)
    req = b"GET /godoxy/agent/name HTTP/1.1\r\nHost: godoxy.agent\r\nUser-Agent: t\r\n\r\n"
    for i in range(1, len(req), 3):
        s = tls_client(agent.port, certs, alpn=("http/1.1",))
        s.settimeout(5)
        # over TLS each piece is a record of its own, read separately by the agent
        send_pieces(s, req, [i])
        head, body = read_response(s)
        assert head.startswith(b"HTTP/1.1 200 OK"), (i, head)
        s.close()
