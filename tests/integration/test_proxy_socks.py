"""handlers socks5, socks4 and auto: curl and a byte-exact client of our own (RFC 1928, RFC 1929)."""
import socket
import struct
import threading
import time

import pytest

from conftest import curl, free_port, wait_port
from test_proxy_http import recv_until_close


def recv_exact(s, n, timeout=5):
    s.settimeout(timeout)
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            break
        out += d
    return out


def s5_addr(host, port):
    for fam, atyp in ((socket.AF_INET, 1), (socket.AF_INET6, 4)):
        try:
            return bytes([atyp]) + socket.inet_pton(fam, host) + struct.pack(">H", port)
        except OSError:
            pass
    h = host.encode()
    return b"\x03" + bytes([len(h)]) + h + struct.pack(">H", port)


def read_reply(s):
    """VER REP RSV ATYP BND.ADDR BND.PORT -> (rep, host, port)."""
    head = recv_exact(s, 4)
    assert len(head) == 4 and head[0] == 5, head
    atyp = head[3]
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, recv_exact(s, 4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, recv_exact(s, 16))
    else:
        host = recv_exact(s, recv_exact(s, 1)[0]).decode()
    port = struct.unpack(">H", recv_exact(s, 2))[0]
    return head[1], host, port


def s5_handshake(port, user=None, password=None):
    """Connects and negotiates; returns the socket (auth ok) or raises with the failure bytes."""
    s = socket.create_connection(("127.0.0.1", port))
    if user is None:
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00"
        return s
    s.sendall(b"\x05\x02\x00\x02")
    assert recv_exact(s, 2) == b"\x05\x02"
    s.sendall(b"\x01" + bytes([len(user)]) + user.encode() + bytes([len(password)]) + password.encode())
    st = recv_exact(s, 2)
    if st != b"\x01\x00":
        raise PermissionError(st)
    return s


def s5_request(s, cmd, host, port):
    s.sendall(b"\x05" + bytes([cmd]) + b"\x00" + s5_addr(host, port))
    return read_reply(s)


def udp_frame(host, port, data):
    return b"\x00\x00\x00" + s5_addr(host, port) + data


def parse_udp_frame(d):
    assert d[:3] == b"\x00\x00\x00", d
    atyp = d[3]
    if atyp == 1:
        host, i = socket.inet_ntop(socket.AF_INET, d[4:8]), 8
    elif atyp == 4:
        host, i = socket.inet_ntop(socket.AF_INET6, d[4:20]), 20
    else:
        n = d[4]
        host, i = d[5:5 + n].decode(), 5 + n
    return host, struct.unpack(">H", d[i:i + 2])[0], d[i + 2:]


class FakeSocks5:
    """An upstream SOCKS5 server that answers every request with a fixed reply code."""

    def __init__(self, rep):
        self.rep = rep
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                n = recv_exact(c, 2)[1]
                recv_exact(c, n)
                c.sendall(b"\x05\x00")
                head = recv_exact(c, 4)
                if head[3] == 3:
                    recv_exact(c, recv_exact(c, 1)[0] + 2)
                else:
                    recv_exact(c, (4 if head[3] == 1 else 16) + 2)
                c.sendall(b"\x05" + bytes([self.rep]) + b"\x00\x01\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()


def start(pw, url):
    port = free_port()
    p = pw.start("-L", url.format(port=port))
    wait_port(port)
    return port, p


# ---- SOCKS5 ----

def test_curl_socks5_hostname_with_and_without_auth(pw, http_server):
    url = f"http://localhost:{http_server.port}/index.html"
    port, p = start(pw, "socks5://127.0.0.1:{port}")
    code, out, err = curl("--socks5-hostname", f"127.0.0.1:{port}", url)
    assert code == 0 and out == "hello from the backend\n", err
    p.wait_log(f"CONNECT localhost:{http_server.port}")
    aport, _ = start(pw, "socks5://bob:pw%40x@127.0.0.1:{port}")
    code, out, err = curl("--socks5-hostname", f"127.0.0.1:{aport}", "--proxy-user", "bob:pw@x", url)
    assert code == 0 and out == "hello from the backend\n", err
    code, out, err = curl("-x", f"socks5://127.0.0.1:{aport}",
                          f"http://127.0.0.1:{http_server.port}/index.html", "--proxy-user", "bob:pw@x")
    assert code == 0 and out == "hello from the backend\n", err


def test_wrong_password_gets_rfc1929_failure(pw, http_server):
    port, _ = start(pw, "socks5://bob:right@127.0.0.1:{port}")
    with pytest.raises(PermissionError) as e:
        s5_handshake(port, "bob", "wrong")
    assert e.value.args[0][0] == 1 and e.value.args[0][1] != 0
    with pytest.raises(PermissionError):
        s5_handshake(port, "eve", "right")
    code, out, err = curl("--socks5-hostname", f"127.0.0.1:{port}", "--proxy-user", "bob:wrong",
                          f"http://127.0.0.1:{http_server.port}/")
    assert code == 97
    # no credentials offered while the server requires them: "no acceptable methods"
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\xff"
    assert recv_until_close(s) == b""


def test_connect_ipv4_ipv6_domain_and_bnd(pw, echo):
    port, _ = start(pw, "socks5://:{port}")
    e4 = echo()
    for host in ("127.0.0.1", "localhost"):
        s = s5_handshake(port)
        rep, bhost, bport = s5_request(s, 1, host, e4.port)
        assert rep == 0 and bport != 0
        s.sendall(b"ping")
        assert recv_exact(s, 4) == b"ping"
        s.close()
    try:
        e6 = echo(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    s = s5_handshake(port)
    rep, _, _ = s5_request(s, 1, "::1", e6.port)
    assert rep == 0
    s.sendall(b"six")
    assert recv_exact(s, 3) == b"six"
    s.close()


def test_unreachable_replies(pw):
    port, _ = start(pw, "socks5://127.0.0.1:{port}")
    s = s5_handshake(port)
    rep, _, _ = s5_request(s, 1, "127.0.0.1", free_port())
    assert rep == 5  # connection refused
    assert recv_until_close(s) == b""
    # host unreachable, reported by the next hop and passed on
    fake = FakeSocks5(4)
    try:
        cport = free_port()
        pw.start("-L", f"socks5://127.0.0.1:{cport}", "-F", f"socks5://127.0.0.1:{fake.port}")
        wait_port(cport)
        s = s5_handshake(cport)
        rep, _, _ = s5_request(s, 1, "somewhere.test", 80)
        assert rep == 4
        code, out, err = curl("--socks5-hostname", f"127.0.0.1:{cport}", "http://somewhere.test/")
        assert code == 97 and "(4)" in err
    finally:
        fake.close()


def test_unsupported_command_and_address_type(pw):
    port, _ = start(pw, "socks5://127.0.0.1:{port}")
    s = s5_handshake(port)
    rep, _, _ = s5_request(s, 2, "127.0.0.1", 80)  # BIND, off by default: not allowed, as GOST answers
    assert rep == 2
    s = s5_handshake(port)
    s.sendall(b"\x05\x01\x00\x09\x01\x02")
    assert read_reply(s)[0] == 8
    s = s5_handshake(port)
    s.sendall(b"\x05\x09\x00\x01\x7f\x00\x00\x01\x00\x50")
    assert read_reply(s)[0] == 7
    # UDP ASSOCIATE while the relay is off (GOST's default): not allowed
    s = s5_handshake(port)
    assert s5_request(s, 3, "0.0.0.0", 0)[0] == 2
    # garbage instead of a greeting: closed, nothing answered
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x05\x00")
    assert recv_until_close(s) == b""


def test_service_bypass_not_allowed(pw, echo):
    e = echo()
    port = free_port()
    pw.start(config=f"""
services:
- name: s5
  addr: 127.0.0.1:{port}
  bypass: deny
  handler: {{type: socks5}}
bypasses:
- name: deny
  matchers: [".blocked.test", "192.0.2.0/24"]
""")
    wait_port(port)
    for host in ("blocked.test", "a.blocked.test", "192.0.2.7"):
        s = s5_handshake(port)
        assert s5_request(s, 1, host, 80)[0] == 2, host
    s = s5_handshake(port)
    assert s5_request(s, 1, "127.0.0.1", e.port)[0] == 0


def test_bypass_lists_by_network_and_group(pw, echo):
    """GOST's bypass network key and bypass groups: a tcp-only list refuses TCP CONNECT to the
    echo port but not UDP to the same address, a udp-only list the other way round."""
    tcp_e, udp_e, udp_other = echo(), echo(udp=True), echo(udp=True)
    port = free_port()
    pw.start(config=f"""
services:
- name: s5
  addr: 127.0.0.1:{port}
  bypass: no-tcp-here
  bypasses: [no-udp-there]
  handler: {{type: socks5, metadata: {{udp: true}}}}
bypasses:
- name: no-tcp-here
  network: tcp
  matchers: ["127.0.0.1:{udp_e.port}"]
- name: no-udp-there
  network: udp
  matchers: ["127.0.0.1:{udp_other.port}", "127.0.0.1:{tcp_e.port}"]
""")
    wait_port(port)
    # TCP: refused to the port the tcp list names, allowed to the one only the udp list names
    s = s5_handshake(port)
    assert s5_request(s, 1, "127.0.0.1", udp_e.port)[0] == 2
    s = s5_handshake(port)
    assert s5_request(s, 1, "127.0.0.1", tcp_e.port)[0] == 0
    s.sendall(b"ping")
    assert recv_exact(s, 4) == b"ping"
    # UDP: the port the tcp list names is reachable, the one the udp list names is not
    ctl = s5_handshake(port)
    rep, bhost, bport = s5_request(ctl, 3, "0.0.0.0", 0)
    assert rep == 0
    relay = ("127.0.0.1" if bhost in ("0.0.0.0", "::") else bhost, bport)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    c.sendto(udp_frame("127.0.0.1", udp_e.port, b"allowed"), relay)
    assert parse_udp_frame(c.recvfrom(65535)[0])[2] == b"allowed"
    c.sendto(udp_frame("127.0.0.1", udp_other.port, b"refused"), relay)
    c.sendto(udp_frame("127.0.0.1", udp_e.port, b"after"), relay)
    # datagrams are answered in order: the refused one got no answer, the next one did
    assert parse_udp_frame(c.recvfrom(65535)[0])[2] == b"after"
    assert udp_other.connections == 0
    c.close()
    ctl.close()


def dns_query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


def test_udp_associate_dns_like_datagrams(pw, echo):
    u1, u2 = echo(udp=True), echo(udp=True)
    port, p = start(pw, "socks5://u:p@127.0.0.1:{port}?udp=true")
    ctl = s5_handshake(port, "u", "p")
    rep, bhost, bport = s5_request(ctl, 3, "0.0.0.0", 0)
    assert rep == 0 and bport != 0
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    relay = ("127.0.0.1" if bhost in ("0.0.0.0", "::") else bhost, bport)
    for i, (target, name) in enumerate([(u1, "example.com"), (u2, "portway.test"), (u1, "a.b.c")]):
        q = dns_query(0x1000 + i, name)
        host = "localhost" if i == 1 else "127.0.0.1"
        c.sendto(udp_frame(host, target.port, q), relay)
        d, _ = c.recvfrom(65535)
        rhost, rport, data = parse_udp_frame(d)
        assert data == q and rport == target.port and rhost == host
    # a large datagram and a fragment (dropped)
    big = bytes(range(256)) * 200
    c.sendto(udp_frame("127.0.0.1", u1.port, big), relay)
    assert parse_udp_frame(c.recvfrom(65535)[0])[2] == big
    c.sendto(b"\x00\x00\x01" + s5_addr("127.0.0.1", u1.port) + b"frag", relay)
    c.settimeout(0.5)
    with pytest.raises(socket.timeout):
        c.recvfrom(65535)
    p.wait_log("UDP ASSOCIATE")
    # the association ends with the TCP connection
    ctl.close()
    time.sleep(0.3)
    c.sendto(udp_frame("127.0.0.1", u1.port, b"late"), relay)
    with pytest.raises((socket.timeout, ConnectionRefusedError)):
        c.recvfrom(65535)
    c.close()


def test_udp_through_a_socks5_chain(pw, echo):
    """UDP ASSOCIATE at the entry, GOST's UDP-over-TCP between portway hops."""
    u = echo(udp=True)
    hop = free_port()
    ph = pw.start("-L", f"socks5://h:k@127.0.0.1:{hop}?udp=true", name="hop")
    wait_port(hop)
    entry = free_port()
    pw.start("-L", f"socks5://127.0.0.1:{entry}?udp=true", "-F", f"socks5://h:k@127.0.0.1:{hop}", name="entry")
    wait_port(entry)
    ctl = s5_handshake(entry)
    rep, bhost, bport = s5_request(ctl, 3, "0.0.0.0", 0)
    assert rep == 0
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    for i in range(5):
        q = dns_query(i, "chain.test")
        c.sendto(udp_frame("127.0.0.1", u.port, q), ("127.0.0.1", bport))
        assert parse_udp_frame(c.recvfrom(65535)[0])[2] == q
    ph.wait_log("UDP over TCP")
    ph.wait_log(f"udp to 127.0.0.1:{u.port}")
    ctl.close()
    c.close()


# ---- SOCKS4 and auto ----

def test_socks4_and_socks4a(pw, http_server):
    port, p = start(pw, "socks4://127.0.0.1:{port}")
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    code, out, err = curl("-x", f"socks4://127.0.0.1:{port}", url)
    assert code == 0 and out == "hello from the backend\n", err
    code, out, err = curl("-x", f"socks4a://127.0.0.1:{port}", f"http://localhost:{http_server.port}/index.html")
    assert code == 0 and out == "hello from the backend\n", err
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x04\x01" + struct.pack(">H", free_port()) + socket.inet_aton("127.0.0.1") + b"\x00")
    assert recv_exact(s, 8)[1] == 91
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x04\x02" + struct.pack(">H", 80) + socket.inet_aton("127.0.0.1") + b"\x00")  # BIND
    assert recv_exact(s, 8)[1] == 91


def test_auto_handler_dispatches_on_the_first_byte(pw, http_server):
    port, p = start(pw, "127.0.0.1:{port}")  # no scheme: auto
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    for proxy in (f"http://127.0.0.1:{port}", f"socks5h://127.0.0.1:{port}", f"socks4://127.0.0.1:{port}"):
        code, out, err = curl("-x", proxy, url)
        assert code == 0 and out == "hello from the backend\n", (proxy, err)
    code, out, err = curl("-p", "-x", f"http://127.0.0.1:{port}", url)
    assert code == 0, err
    # auth applies whatever the protocol
    aport, _ = start(pw, "auto://u:p@127.0.0.1:{port}")
    code, out, err = curl("-i", "-x", f"http://127.0.0.1:{aport}", url)
    assert out.startswith("HTTP/1.1 407")
    code, out, err = curl("-x", f"socks5h://u:p@127.0.0.1:{aport}", url)
    assert code == 0 and out == "hello from the backend\n", err
    with pytest.raises(PermissionError):
        s5_handshake(aport, "u", "bad")
