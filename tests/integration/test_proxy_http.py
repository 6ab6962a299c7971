"""handler http: curl and a raw client through the HTTP proxy to local backends."""
import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import curl, free_port, wait_port


# ---- helpers shared with test_proxy_socks.py and test_chain.py ----

class _EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with JSON: method, path, headers and body it received."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _answer(self):
        self.server.requests += 1
        body = self._body()
        doc = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
               "body": body.decode(errors="replace"), "server": self.server.name}
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path.startswith("/chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 7):
                part = data[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer


class Backend:
    """A keep-alive HTTP/1.1 server on loopback that echoes what it received."""

    def __init__(self, name="backend"):
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
        self.srv.daemon_threads = True
        self.srv.requests = 0
        self.srv.name = name
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    @property
    def requests(self):
        return self.srv.requests

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def backend():
    made = []

    def make(name="backend"):
        b = Backend(name)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


class Reader:
    """Reads HTTP responses from a socket, keeping what follows one response for the next."""

    def __init__(self, sock, timeout=5):
        self.sock = sock
        self.buf = b""
        sock.settimeout(timeout)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError(f"connection closed; have {self.buf[:200]!r}")
        self.buf += d

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def response(self, head_request=False):
        """(status, headers with lower-case names, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        if head_request or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    return status, headers, body
                body += self._take(size)
                self._line()
        return status, headers, self._take(int(headers.get("content-length", 0)))


def read_response(sock, timeout=5):
    return Reader(sock, timeout).response()


def recv_until_close(sock, timeout=5):
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not d:
            return out
        out += d


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class SilentServer:
    """Accepts TCP connections and never says anything (a hung upstream)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def start_http_proxy(pw, url_suffix="", user=None):
    port = free_port()
    auth = f"{user[0]}:{user[1]}@" if user else ""
    p = pw.start("-L", f"http://{auth}127.0.0.1:{port}{url_suffix}")
    wait_port(port)
    return port, p


# ---- tests ----

def test_curl_get_and_connect_through_http_proxy(pw, http_server):
    port, p = start_http_proxy(pw)
    code, out, err = curl("-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{http_server.port}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"
    code, out, err = curl("-p", "-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{http_server.port}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"
    p.wait_log("CONNECT 127.0.0.1:%d" % http_server.port)
    p.wait_log("GET http://127.0.0.1:%d" % http_server.port)


def test_auth_required_wrong_and_right_password(pw, http_server):
    port, _ = start_http_proxy(pw, user=("alice", "s3cret"))
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    code, out, err = curl("-i", "-x", f"http://127.0.0.1:{port}", url)
    assert code == 0, err
    assert out.startswith("HTTP/1.1 407")
    assert 'proxy-authenticate: basic realm="portway"' in out.lower()
    code, out, err = curl("-i", "-x", f"http://alice:wrong@127.0.0.1:{port}", url)
    assert out.startswith("HTTP/1.1 407"), out
    code, out, err = curl("-x", f"http://alice:s3cret@127.0.0.1:{port}", url)
    assert code == 0 and out == "hello from the backend\n", err
    # CONNECT with a wrong password: 407 before any tunnel
    code, out, err = curl("-p", "-x", f"http://alice:nope@127.0.0.1:{port}", url)
    assert code != 0 and "407" in err


def test_keepalive_across_hosts_and_hop_by_hop_removed(pw, backend):
    a, b = backend("a"), backend("b")
    port, _ = start_http_proxy(pw, user=("u", "p"))
    s = socket.create_connection(("127.0.0.1", port))
    r = Reader(s)
    auth = basic("u", "p")
    s.sendall((f"GET http://127.0.0.1:{a.port}/one?x=1 HTTP/1.1\r\nHost: wrong.example\r\n"
               f"Proxy-Authorization: {auth}\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive, X-Secret\r\n"
               "X-Secret: drop me\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-End: kept\r\n\r\n").encode())
    st, hd, body = r.response()
    assert st == 200
    doc = json.loads(body)
    assert doc["server"] == "a" and doc["path"] == "/one?x=1"
    got = {k.lower() for k in doc["headers"]}
    assert doc["headers"]["Host"] == f"127.0.0.1:{a.port}"
    assert "x-end" in got
    for hop in ("proxy-authorization", "proxy-connection", "x-secret", "keep-alive", "te", "connection"):
        assert hop not in got, hop
    # the same client connection, another host, then the first again, then a HEAD
    s.sendall(f"GET http://127.0.0.1:{b.port}/two HTTP/1.1\r\nProxy-Authorization: {auth}\r\n\r\n".encode())
    st, hd, body = r.response()
    assert st == 200 and json.loads(body)["server"] == "b"
    s.sendall(f"GET http://127.0.0.1:{a.port}/chunked HTTP/1.1\r\nProxy-Authorization: {auth}\r\n\r\n".encode())
    st, hd, body = r.response()
    assert st == 200 and hd["transfer-encoding"] == "chunked" and json.loads(body)["path"] == "/chunked"
    s.sendall(f"HEAD http://127.0.0.1:{a.port}/h HTTP/1.1\r\nProxy-Authorization: {auth}\r\n\r\n".encode())
    st, hd, body = r.response(head_request=True)
    assert st == 200 and int(hd["content-length"]) > 0 and body == b""
    # a request without credentials on the same connection is refused
    s.sendall(f"GET http://127.0.0.1:{a.port}/x HTTP/1.1\r\n\r\n".encode())
    st, hd, _ = r.response()
    assert st == 407
    s.close()
    assert a.requests == 3 and b.requests == 1


def test_request_bodies_and_pipelining(pw, backend):
    a = backend("a")
    port, _ = start_http_proxy(pw)
    s = socket.create_connection(("127.0.0.1", port))
    big = "z" * 300000
    req1 = (f"POST http://127.0.0.1:{a.port}/len HTTP/1.1\r\nContent-Length: {len(big)}\r\n\r\n{big}").encode()
    req2 = (f"PUT http://127.0.0.1:{a.port}/chunks HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").encode()
    req3 = f"GET http://127.0.0.1:{a.port}/last HTTP/1.1\r\nConnection: close\r\n\r\n".encode()
    s.sendall(req1 + req2 + req3)  # pipelined
    r = Reader(s, timeout=10)
    st, _, body = r.response()
    assert st == 200 and json.loads(body)["body"] == big
    st, _, body = r.response()
    assert st == 200 and json.loads(body)["body"] == "hello world"
    st, hd, body = r.response()
    assert st == 200 and json.loads(body)["path"] == "/last" and hd["connection"] == "close"
    assert recv_until_close(s) == b""


def test_unreachable_target_is_502(pw):
    port, _ = start_http_proxy(pw)
    dead = free_port()
    code, out, err = curl("-i", "-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{dead}/")
    assert out.startswith("HTTP/1.1 502"), out
    code, out, err = curl("-p", "-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{dead}/")
    assert code != 0 and "502" in err


def test_dial_timeout_is_504(pw):
    silent = SilentServer()
    try:
        port = free_port()
        # the only hop never answers its CONNECT: the dial times out
        pw.start("-L", f"http://127.0.0.1:{port}?dialTimeout=1s",
                 "-F", f"http://127.0.0.1:{silent.port}?connectTimeout=5s")
        wait_port(port)
        t = time.time()
        code, out, err = curl("-i", "-x", f"http://127.0.0.1:{port}", "http://127.0.0.1:9/")
        assert out.startswith("HTTP/1.1 504"), out
        assert time.time() - t < 4
    finally:
        silent.close()


def test_malformed_head_is_400_and_closed(pw):
    port, _ = start_http_proxy(pw)
    for bad in (b"GARBAGE\r\n\r\n", b"GET http://x/ HTTP/9.9\r\n\r\n", b"GET http://x/ HTTP/1.1\r\nNo colon here\r\n\r\n",
                b"GET /origin-form HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"CONNECT nocolon HTTP/1.1\r\n\r\n",
                b"GET ftp://x/ HTTP/1.1\r\n\r\n"):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(bad)
        out = recv_until_close(s)
        assert out.startswith(b"HTTP/1.1 400"), (bad, out)
        s.close()


def test_head_over_the_limit_is_431(pw):
    port, _ = start_http_proxy(pw, "?maxHeaderBytes=4096")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET http://127.0.0.1:9/ HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 8000 + b"\r\n\r\n")
    out = recv_until_close(s)
    assert out.startswith(b"HTTP/1.1 431"), out
    s.close()
    # a head that never ends is cut off as well (a valid request line first: without it the
    # first header line is a malformed request line, a 400 that would not test the limit)
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(b"GET http://127.0.0.1:9/ HTTP/1.1\r\n")
        for _ in range(20):
            s.sendall(b"X-More: " + b"b" * 1000 + b"\r\n")
    except OSError:
        pass
    out = recv_until_close(s)
    assert out.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), out


def test_service_bypass_is_403(pw, http_server):
    port = free_port()
    cfg = f"""
services:
- name: proxy
  addr: 127.0.0.1:{port}
  bypass: nope
  handler: {{type: http}}
bypasses:
- name: nope
  matchers: ["*.blocked.test", "10.0.0.0/8", "localhost"]
"""
    pw.start(config=cfg)
    wait_port(port)
    for target in ("http://www.blocked.test/", "http://10.1.2.3/", "http://localhost/"):
        code, out, err = curl("-i", "-x", f"http://127.0.0.1:{port}", target)
        assert out.startswith("HTTP/1.1 403"), (target, out)
    code, out, err = curl("-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{http_server.port}/index.html")
    assert code == 0 and out == "hello from the backend\n"


def test_connect_carries_early_bytes_and_half_close(pw, echo):
    e = echo()
    port, _ = start_http_proxy(pw)
    s = socket.create_connection(("127.0.0.1", port))
    # the first payload rides in the same segment as the CONNECT head
    s.sendall(f"CONNECT 127.0.0.1:{e.port} HTTP/1.1\r\nHost: x\r\n\r\nearly bytes".encode())
    s.settimeout(5)
    buf = b""
    while b"early bytes" not in buf:
        d = s.recv(4096)
        assert d, buf
        buf += d
    assert buf.startswith(b"HTTP/1.1 200")
    s.shutdown(socket.SHUT_WR)
    assert recv_until_close(s) == b""
    s.close()


def test_websocket_style_upgrade_is_tunnelled(pw):
    """A 101 answer turns the exchange into a tunnel; Upgrade/Connection reach the server."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    seen = {}

    def server():
        c, _ = lsock.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += c.recv(4096)
        seen["head"] = data.decode()
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: toy\r\nConnection: Upgrade\r\n\r\n")
        while True:
            d = c.recv(4096)
            if not d:
                break
            c.sendall(d.upper())
        c.close()

    threading.Thread(target=server, daemon=True).start()
    port, _ = start_http_proxy(pw)
    s = socket.create_connection(("127.0.0.1", port))
    sport = lsock.getsockname()[1]
    s.sendall(f"GET http://127.0.0.1:{sport}/ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: toy\r\n\r\n".encode())
    s.settimeout(5)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    assert buf.startswith(b"HTTP/1.1 101")
    assert b"upgrade: toy" in buf.lower()
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        got += s.recv(4096)
    assert got == b"PING"
    assert "Upgrade: toy" in seen["head"] and "Connection: Upgrade" in seen["head"]
    s.close()
    lsock.close()


def test_slow_client_head_times_out(pw):
    port, _ = start_http_proxy(pw, "?readTimeout=1s")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET http://127.0.0.1:9/ HTTP/1.1\r\n")
    t = time.time()
    out = recv_until_close(s, timeout=5)
    assert time.time() - t < 4
    # a head begun but not finished gets 408 (a connection that sent nothing is closed silently)
    assert out.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), out


def test_expect_100_continue(pw, backend):
    a = backend("a")
    port, _ = start_http_proxy(pw)
    s = socket.create_connection(("127.0.0.1", port))
    r = Reader(s)
    s.sendall(f"POST http://127.0.0.1:{a.port}/up HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n".encode())
    st, _, _ = r.response()
    assert st == 100  # relayed from the origin before the body is sent
    s.sendall(b"hello")
    st, _, body = r.response()
    assert st == 200 and json.loads(body)["body"] == "hello"
    s.close()


def test_response_until_close_ends_the_client_connection(pw):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def server():
        c, _ = lsock.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += c.recv(4096)
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nno length, ends at close")
        c.close()

    threading.Thread(target=server, daemon=True).start()
    port, _ = start_http_proxy(pw)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET http://127.0.0.1:{lsock.getsockname()[1]}/ HTTP/1.1\r\n\r\n".encode())
    out = recv_until_close(s)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n"), out
    assert b"connection: close" in out.lower()
    assert out.endswith(b"\r\n\r\nno length, ends at close")
    s.close()
    lsock.close()
