"""GOST relay protocol, CONNECT side: an independent client checks the exact bytes (doc/protocols/gost-relay.md)."""
import socket
import struct
import threading
import time

import pytest

from conftest import curl, free_port, wait_port


def feat(t, body):
    return bytes([t]) + struct.pack(">H", len(body)) + body


def addr_feature(host, port):
    try:
        return feat(2, b"\x01" + socket.inet_aton(host) + struct.pack(">H", port))
    except OSError:
        h = host.encode()
        return feat(2, b"\x03" + bytes([len(h)]) + h + struct.pack(">H", port))


def auth_feature(u, p):
    return feat(1, bytes([len(u)]) + u.encode() + bytes([len(p)]) + p.encode())


def request(cmd, *features):
    body = b"".join(features)
    return bytes([1, cmd]) + struct.pack(">H", len(body)) + body


def recv_exact(s, n, timeout=5):
    s.settimeout(timeout)
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            break
        out += d
    return out


def recv_until_close(s, timeout=5):
    s.settimeout(timeout)
    out = b""
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            return out
        if not d:
            return out
        out += d


class Banner:
    """A server-speaks-first target: sends a banner on accept, then echoes."""

    def __init__(self, banner=b"SSH-2.0-banner\r\n"):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.banner = banner
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.sendall(self.banner)
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()


@pytest.fixture
def relay_server(pw):
    def start(query="", auth="", target=""):
        port = free_port()
        userinfo = f"{auth}@" if auth else ""
        pw.start("-L", f"relay://{userinfo}127.0.0.1:{port}{target}{query}", name=f"relay{port}")
        wait_port(port)
        return port
    return start


def test_spec_vector_connect_and_ok_with_first_bytes(relay_server, echo):
    """nodelay off: the OK reply comes just ahead of the target's first bytes; request and data in one segment."""
    srv = echo()
    port = relay_server(auth="u:p")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(1, auth_feature("u", "p"), addr_feature("127.0.0.1", srv.port)) + b"hello")
    assert recv_exact(s, 9) == b"\x01\x00\x00\x00hello"


def test_nodelay_sends_ok_at_once(relay_server, echo):
    srv = echo()
    port = relay_server(query="?nodelay=true")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(1, addr_feature("127.0.0.1", srv.port)))
    assert recv_exact(s, 4) == b"\x01\x00\x00\x00"


def test_default_holds_ok_until_target_speaks(relay_server, echo):
    srv = echo()
    port = relay_server()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(1, addr_feature("127.0.0.1", srv.port)))
    s.settimeout(0.5)
    with pytest.raises(socket.timeout):
        s.recv(10)
    s.sendall(b"x")
    assert recv_exact(s, 5) == b"\x01\x00\x00\x00x"


def test_wrong_password_is_unauthorized(relay_server):
    port = relay_server(auth="u:p")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(1, auth_feature("u", "bad"), addr_feature("127.0.0.1", 9)))
    assert recv_until_close(s) == b"\x01\x02\x00\x00"


def test_missing_credentials_are_unauthorized(relay_server):
    port = relay_server(auth="u:p")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(1, addr_feature("127.0.0.1", 9)))
    assert recv_until_close(s) == b"\x01\x02\x00\x00"


def test_bad_version_closes_without_reply(relay_server):
    port = relay_server()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x02\x01\x00\x00")
    assert recv_until_close(s) == b""


def test_malformed_feature_closes_without_reply(relay_server):
    port = relay_server()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x01\x01\x00\x05\x09\x00\x02ab")  # unknown feature type 9
    assert recv_until_close(s) == b""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x01\x01\x00\x07\x02\x00\x04\x07\x01\x02\x03")  # unknown ATYP 7
    assert recv_until_close(s) == b""


def test_connect_without_address_is_bad_request(relay_server):
    port = relay_server()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(1))
    assert recv_until_close(s) == b"\x01\x01\x00\x00"


def test_unknown_command_is_bad_request(relay_server):
    port = relay_server()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(3, addr_feature("127.0.0.1", 9)))
    assert recv_until_close(s) == b"\x01\x01\x00\x00"


def test_bind_not_allowed_is_forbidden(relay_server):
    port = relay_server()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(bytes.fromhex("01020016010004017501700400020000020007010000000008ae"))
    assert recv_until_close(s) == b"\x01\x03\x00\x00"


def test_unreachable_target_is_network_unreachable(relay_server):
    port = relay_server()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(1, addr_feature("127.0.0.1", free_port())))
    assert recv_until_close(s) == b"\x01\x07\x00\x00"


def test_read_timeout_closes_a_partial_request(relay_server):
    port = relay_server(query="?readTimeout=1s")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x01\x01\x00\x20")
    t0 = time.time()
    assert recv_until_close(s, timeout=6) == b""
    assert time.time() - t0 < 4


def test_forward_mode_ignores_client_address(relay_server, echo):
    srv = echo()
    port = relay_server(target=f"/127.0.0.1:{srv.port}", query="?nodelay=true")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(1, feat(2, b"\x03\x00\x00\x00")))  # empty domain, port 0: what GOST clients send
    assert recv_exact(s, 4) == b"\x01\x00\x00\x00"
    s.sendall(b"ping")
    assert recv_exact(s, 4) == b"ping"


def test_forward_mode_dial_failure_is_host_unreachable(relay_server):
    port = relay_server(target=f"/127.0.0.1:{free_port()}")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request(1))
    assert recv_until_close(s) == b"\x01\x06\x00\x00"


def test_bypass_is_forbidden(pw):
    port = free_port()
    pw.start(config=f"""
bypasses:
  - name: no-internal
    matchers: ["10.0.0.0/8", "*.internal.example"]
services:
  - name: relay
    addr: 127.0.0.1:{port}
    handler: {{type: relay}}
    listener: {{type: tcp}}
    bypass: no-internal
""")
    for host in ("10.1.2.3", "db.internal.example"):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request(1, addr_feature(host, 80)))
        assert recv_until_close(s) == b"\x01\x03\x00\x00"


def test_udp_connect_len_framing(relay_server, echo):
    """The spec's UDP CONNECT vector shape: Network=udp then Addr, datagrams as LEN|payload."""
    srv = echo(udp=True)
    port = relay_server(query="?nodelay=true")
    s = socket.create_connection(("127.0.0.1", port))
    req = bytes([1, 0x81]) + struct.pack(">H", 5 + 10) + feat(4, b"\x00\x01") + addr_feature("127.0.0.1", srv.port)
    s.sendall(req + struct.pack(">H", 3) + b"abc" + struct.pack(">H", 4) + b"defg")
    assert recv_exact(s, 4) == b"\x01\x00\x00\x00"
    got = recv_exact(s, 5 + 6)
    assert got == struct.pack(">H", 3) + b"abc" + struct.pack(">H", 4) + b"defg"


def test_portway_client_through_relay_tcp(pw, relay_server, http_server):
    rport = relay_server(auth="u:p")
    lport = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{lport}/127.0.0.1:{http_server.port}", "-F", f"relay://u:p@127.0.0.1:{rport}")
    code, out, err = curl(f"http://127.0.0.1:{lport}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"


def test_portway_client_wrong_password_closes(pw, relay_server, http_server):
    rport = relay_server(auth="u:p")
    lport = free_port()
    client = pw.start("-L", f"tcp://127.0.0.1:{lport}/127.0.0.1:{http_server.port}", "-F",
                      f"relay://u:nope@127.0.0.1:{rport}")
    code, out, err = curl(f"http://127.0.0.1:{lport}/index.html")
    assert code != 0
    client.wait_log("2 Unauthorized")


def test_server_speaks_first_with_nodelay_on_both_sides(pw, relay_server):
    """GOST's advice for server-speaks-first protocols: nodelay=true on the client (and server)."""
    b = Banner()
    rport = relay_server(query="?nodelay=true")
    lport = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{lport}/127.0.0.1:{b.port}", "-F", f"relay://127.0.0.1:{rport}?nodelay=true")
    s = socket.create_connection(("127.0.0.1", lport))
    assert recv_exact(s, len(b.banner)) == b.banner


def test_server_speaks_first_lazy_client_needs_first_write(pw, relay_server):
    """Lazy (default) client: the request leaves with the first write, so a banner waits for it (as in GOST)."""
    b = Banner()
    rport = relay_server()
    lport = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{lport}/127.0.0.1:{b.port}", "-F", f"relay://127.0.0.1:{rport}")
    s = socket.create_connection(("127.0.0.1", lport))
    s.settimeout(0.5)
    with pytest.raises(socket.timeout):
        s.recv(100)
    s.sendall(b"hi")
    assert recv_exact(s, len(b.banner) + 2) == b.banner + b"hi"


def test_udp_forward_through_relay(pw, relay_server, echo):
    srv = echo(udp=True)
    rport = relay_server()
    lport = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{lport}/127.0.0.1:{srv.port}", "-F", f"relay://127.0.0.1:{rport}")
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    for i, c in enumerate(clients):
        c.settimeout(3)
        for attempt in range(5):
            c.sendto(b"query %d" % i, ("127.0.0.1", lport))
            try:
                data, _ = c.recvfrom(100)
                break
            except socket.timeout:
                continue
        assert data == b"query %d" % i


@pytest.mark.parametrize("front", ["http", "socks5"])
def test_curl_through_proxy_then_relay_chain(pw, relay_server, http_server, front):
    """curl -> portway http/socks5 proxy -> relay hop (another portway) -> web server."""
    rport = relay_server(auth="u:p")
    pport = free_port()
    pw.start("-L", f"{front}://127.0.0.1:{pport}", "-F", f"relay://u:p@127.0.0.1:{rport}", name=f"{front}-front")
    wait_port(pport)
    proxy = ["-x", f"http://127.0.0.1:{pport}"] if front == "http" else ["--socks5-hostname", f"127.0.0.1:{pport}"]
    code, out, err = curl(*proxy, f"http://127.0.0.1:{http_server.port}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"


def test_https_connect_through_http_then_relay_nodelay(pw, relay_server, http_server):
    """A CONNECT tunnel (client speaks first) through http -> relay with nodelay on both ends."""
    rport = relay_server(query="?nodelay=true")
    pport = free_port()
    pw.start("-L", f"http://127.0.0.1:{pport}", "-F", f"relay://127.0.0.1:{rport}?nodelay=true")
    wait_port(pport)
    code, out, err = curl("-p", "-x", f"http://127.0.0.1:{pport}", f"http://127.0.0.1:{http_server.port}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"


class FakeRelay:
    """A relay node that reads one request per connection and answers with the given
    pieces (a reply cut anywhere, maybe with the tunnel's first bytes), then echoes."""

    def __init__(self, pieces):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.pieces = pieces
        self.requests = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            hdr = recv_exact(c, 4)
            self.requests.append(hdr + recv_exact(c, struct.unpack(">H", hdr[2:4])[0]))
            for p in self.pieces:
                c.sendall(p)
                time.sleep(0.05)
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
def test_nodelay_client_reply_split_with_first_bytes(pw, cut):
    """nodelay: the reply may come in pieces and bring the target's first bytes; those
    reach the application first, then the tunnel echoes."""
    reply = b"\x01\x00\x00\x00" + b"banner\r\n"
    node = FakeRelay([reply[:cut], reply[cut:]])
    lport = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{lport}/127.0.0.1:9", "-F", f"relay://127.0.0.1:{node.port}?nodelay=true")
    s = socket.create_connection(("127.0.0.1", lport))
    assert recv_exact(s, 8) == b"banner\r\n"
    s.sendall(b"ping")
    assert recv_exact(s, 4) == b"ping"
    assert node.requests[0][:2] == b"\x01\x01"


def test_nodelay_client_refused_and_timed_out(pw, relay_server, http_server):
    """nodelay: a refusal closes the application's connection and is logged; so does a node
    that never answers, after connectTimeout."""
    rport = relay_server(auth="u:p")
    lport = free_port()
    client = pw.start("-L", f"tcp://127.0.0.1:{lport}/127.0.0.1:{http_server.port}", "-F",
                      f"relay://u:nope@127.0.0.1:{rport}?nodelay=true")
    s = socket.create_connection(("127.0.0.1", lport))
    assert recv_until_close(s) == b""
    client.wait_log("2 Unauthorized")
    silent = FakeRelay([])
    tport = free_port()
    client = pw.start("-L", f"tcp://127.0.0.1:{tport}/127.0.0.1:9", "-F",
                      f"relay://127.0.0.1:{silent.port}?nodelay=true&connectTimeout=1s", name="silent")
    s = socket.create_connection(("127.0.0.1", tport))
    t0 = time.time()
    assert recv_until_close(s, timeout=8) == b""
    assert 0.5 < time.time() - t0 < 6
    client.wait_log("no relay reply")


def test_udp_forward_through_relay_nodelay(pw, relay_server, echo):
    """nodelay and UDP: the tunnel is handed on framed once the reply is in."""
    srv = echo(udp=True)
    rport = relay_server(query="?nodelay=true")
    lport = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{lport}/127.0.0.1:{srv.port}", "-F", f"relay://127.0.0.1:{rport}?nodelay=true")
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(3)
    for i in range(3):
        for attempt in range(5):
            c.sendto(b"query %d" % i, ("127.0.0.1", lport))
            try:
                data, _ = c.recvfrom(100)
                break
            except socket.timeout:
                continue
        assert data == b"query %d" % i
