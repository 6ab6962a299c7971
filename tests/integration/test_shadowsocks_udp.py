"""Shadowsocks AEAD over UDP (handler ssu, connector ssu) against shadowsocks-libev, and a client of our own.

- ss-tunnel -u / ss-local -u (SOCKS5 UDP ASSOCIATE) -> portway -L ssu://... -> UDP echo servers;
- portway -L udp://.../echo or -L socks5://...?udp=true, -F ssu://... -> ss-server -u -> UDP echoes;
- portway to portway with datagrams up to 60,000 bytes;
- a wrong key, garbage, short packets, bad address types, replays: nothing back, the server serves on;
- GOST's UDP over TCP (ssu+tcp://): portway to portway, the wire format with a client of our own, a wrong key;
- configuration errors.
shadowsocks-libev relays datagrams up to its MTU-sized buffer only, so the sizes with it stay below 1,300 bytes.
"""
import os
import shutil
import socket
import struct
import time

import pytest

from conftest import free_port, wait_port
from test_proxy_socks import parse_udp_frame, s5_addr, s5_handshake, s5_request, udp_frame
from test_shadowsocks import KEYLEN, METHODS, PASSWORD, Aead, hkdf_sha1, kdf, procs, recv_exact, ss_encode  # noqa: F401 (procs: a fixture)

pytestmark = pytest.mark.skipif(not shutil.which("ss-server") or not shutil.which("ss-tunnel"),
                                reason="shadowsocks-libev is not installed (apt-get install shadowsocks-libev)")

LIBEV_SIZES = [1, 64, 512, 1200]
UDP_METHODS = ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"]


# ---- the UDP packet format, of our own (hashlib/hmac and the cryptography package) ----

def aead(method, password, salt):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    sub = hkdf_sha1(kdf(password.encode(), KEYLEN[method]), salt, KEYLEN[method])
    return ChaCha20Poly1305(sub) if method.startswith("chacha") else AESGCM(sub)


def seal(method, password, plain, salt=None):
    salt = salt or os.urandom(KEYLEN[method])
    return salt + aead(method, password, salt).encrypt(b"\0" * 12, plain, None)


def unseal(method, password, pkt):
    n = KEYLEN[method]
    return aead(method, password, pkt[:n]).decrypt(b"\0" * 12, pkt[n:], None)


def split_addr(plain):
    """[SOCKS address][payload] -> (host, port, payload)."""
    return parse_udp_frame(b"\0\0\0" + plain)


def udp_socket(timeout=5):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(timeout)
    return c


def exchange(c, dest, data, match, deadline=20.0):
    """Sends data to dest until a reply that match() accepts comes (a server may still be starting,
    a datagram may be lost); returns that reply."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        c.sendto(data, dest)
        c.settimeout(0.5)
        try:
            while True:
                d, _ = c.recvfrom(65535)
                if match(d):
                    return d
        except socket.timeout:
            continue
    raise AssertionError(f"no reply from {dest} within {deadline} s")


def echo_each(c, dest, payloads, wrap=lambda d: d, unwrap=lambda d: d):
    """Each payload once, its echo awaited (resent on loss); payloads must be distinct."""
    for data in payloads:
        got = exchange(c, dest, wrap(data), lambda d: unwrap(d) == data)
        assert unwrap(got) == data


def payloads(sizes, tag):
    """One datagram of each size, tagged in front when there is room (random bytes otherwise)."""
    out = []
    for i, n in enumerate(sizes):
        head = f"{tag}-{i}-".encode()
        out.append((head + os.urandom(n))[:n] if n > len(head) else os.urandom(n))
    return out


def nothing_back(c, seconds=1.0):
    c.settimeout(seconds)
    with pytest.raises(socket.timeout):
        c.recvfrom(65535)


def associate(socks_port):
    """A SOCKS5 UDP ASSOCIATE: (the control connection, the relay's address)."""
    ctl = s5_handshake(socks_port)
    rep, bhost, bport = s5_request(ctl, 3, "0.0.0.0", 0)
    assert rep == 0
    return ctl, ("127.0.0.1" if bhost in ("0.0.0.0", "::") else bhost, bport)


def portway_ssu(pw, method, password=PASSWORD, query=""):
    port = free_port(socket.SOCK_DGRAM)
    p = pw.start("-L", f"ssu://{method}:{password}@127.0.0.1:{port}{query}")
    return port, p


def ss_tunnel(procs, server_port, method, target_port, password=PASSWORD):  # noqa: F811
    port = free_port()
    procs("ss-tunnel", "-u", "-s", "127.0.0.1", "-p", str(server_port), "-b", "127.0.0.1", "-l", str(port),
          "-L", f"127.0.0.1:{target_port}", "-k", password, "-m", method)
    wait_port(port)  # TCP and UDP on the same port
    return port


def ss_server_udp(procs, method, password=PASSWORD):  # noqa: F811
    port = free_port()
    procs("ss-server", "-u", "-s", "127.0.0.1", "-p", str(port), "-k", password, "-m", method)
    wait_port(port)
    return port


# ---- shadowsocks-libev clients -> portway (handler ssu) ----

@pytest.mark.parametrize("method", UDP_METHODS)
def test_ss_tunnel_to_portway_ssu(pw, procs, echo, method):  # noqa: F811
    e = echo(udp=True)
    port, p = portway_ssu(pw, method)
    local = ss_tunnel(procs, port, method, e.port)
    c = udp_socket()
    echo_each(c, ("127.0.0.1", local), payloads(LIBEV_SIZES * 3, method))
    p.wait_log(f"udp to 127.0.0.1:{e.port}")


def test_ss_local_udp_associate_to_portway_ssu(pw, procs, echo):  # noqa: F811
    """SOCKS5 UDP ASSOCIATE at ss-local, several targets through one portway ssu session."""
    method = "chacha20-ietf-poly1305"
    e1, e2 = echo(udp=True), echo(udp=True)
    port, p = portway_ssu(pw, method)
    local = free_port()
    procs("ss-local", "-u", "-s", "127.0.0.1", "-p", str(port), "-b", "127.0.0.1", "-l", str(local),
          "-k", PASSWORD, "-m", method)
    wait_port(local)
    ctl, relay = associate(local)
    c = udp_socket()
    for target in (e1, e2, e1):
        for data in payloads(LIBEV_SIZES, f"assoc-{target.port}"):
            got = exchange(c, relay, udp_frame("127.0.0.1", target.port, data),
                           lambda d: parse_udp_frame(d)[2] == data)
            host, rport, _ = parse_udp_frame(got)
            assert (host, rport) == ("127.0.0.1", target.port)
    p.wait_log(f"udp to 127.0.0.1:{e2.port}")
    ctl.close()


def test_ss_tunnel_wrong_password_gets_nothing(pw, procs, echo):  # noqa: F811
    e = echo(udp=True)
    port, p = portway_ssu(pw, "aes-256-gcm")
    good = ss_tunnel(procs, port, "aes-256-gcm", e.port)
    bad = ss_tunnel(procs, port, "aes-256-gcm", e.port, password="not-the-password")
    c = udp_socket()
    echo_each(c, ("127.0.0.1", good), [b"first, with the right key"])
    for i in range(5):
        c.sendto(b"wrong key %d" % i, ("127.0.0.1", bad))
    nothing_back(c)
    assert e.connections == 1  # the wrong key's datagrams never reached the target
    echo_each(c, ("127.0.0.1", good), [b"still serving"])


# ---- portway (connector ssu) -> ss-server -u ----

@pytest.mark.parametrize("method", UDP_METHODS)
def test_udp_forward_via_ssu_to_ss_server(pw, procs, echo, method):  # noqa: F811
    e = echo(udp=True)
    server = ss_server_udp(procs, method)
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{e.port}", "-F", f"ssu://{method}:{PASSWORD}@127.0.0.1:{server}")
    c = udp_socket()
    echo_each(c, ("127.0.0.1", port), payloads(LIBEV_SIZES * 3, method))


def test_socks5_udp_associate_via_ssu_to_ss_server(pw, procs, echo):  # noqa: F811
    """GOST's -L socks5://:1080?udp=true -F ssu://..., several targets, by IP and by name."""
    method = "aes-128-gcm"
    e1, e2 = echo(udp=True), echo(udp=True)
    server = ss_server_udp(procs, method)
    port = free_port()
    pw.start("-L", f"socks5://127.0.0.1:{port}?udp=true", "-F", f"ssu://{method}:{PASSWORD}@127.0.0.1:{server}")
    wait_port(port)
    ctl, relay = associate(port)
    c = udp_socket()
    for host, target in (("127.0.0.1", e1), ("localhost", e2), ("127.0.0.1", e2)):
        for data in payloads(LIBEV_SIZES, f"s5-{host}-{target.port}"):
            got = exchange(c, relay, udp_frame(host, target.port, data), lambda d: parse_udp_frame(d)[2] == data)
            assert parse_udp_frame(got)[:2] == (host, target.port)
    ctl.close()


def test_connector_wrong_password_gets_nothing(pw, procs, echo):  # noqa: F811
    e = echo(udp=True)
    server = ss_server_udp(procs, "aes-256-gcm")
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{e.port}",
             "-F", f"ssu://aes-256-gcm:not-the-password@127.0.0.1:{server}")
    c = udp_socket()
    for i in range(5):
        c.sendto(b"through the wrong key %d" % i, ("127.0.0.1", port))
    nothing_back(c, 2.0)
    assert e.connections == 0


# ---- portway to portway ----

def test_portway_to_portway_large_datagrams(pw, echo):
    e1, e2 = echo(udp=True), echo(udp=True)
    method = "chacha20-ietf-poly1305"
    server, _ = portway_ssu(pw, method)
    port = free_port()
    pw.start("-L", f"socks5://127.0.0.1:{port}?udp=true", "-F", f"ssu://{method}:{PASSWORD}@127.0.0.1:{server}")
    wait_port(port)
    ctl, relay = associate(port)
    c = udp_socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    for target in (e1, e2):
        for data in payloads([1, 1500, 2048, 9000, 30000, 60000], f"big-{target.port}"):
            got = exchange(c, relay, udp_frame("127.0.0.1", target.port, data), lambda d: parse_udp_frame(d)[2] == data)
            assert parse_udp_frame(got)[:2] == ("127.0.0.1", target.port)
    ctl.close()


def test_udp_forward_portway_to_portway_none(pw, echo):
    """GOST's none method: a 16-byte salt, the plaintext as it is."""
    e = echo(udp=True)
    server, _ = portway_ssu(pw, "none", password="")
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{e.port}", "-F", f"ssu://none@127.0.0.1:{server}")
    c = udp_socket()
    echo_each(c, ("127.0.0.1", port), payloads([5, 700, 4000], "none"))
    # what the server answers our own client: salt, then address and payload in the clear
    s = udp_socket()
    plain = s5_addr("127.0.0.1", e.port) + b"clear text"
    got = exchange(s, ("127.0.0.1", server), os.urandom(16) + plain, lambda d: d[16:] == plain)
    assert len(got) == 16 + len(plain)


# ---- our own client: the wire format, and what is dropped ----

@pytest.mark.parametrize("method", UDP_METHODS)
def test_own_client_wire_format(pw, echo, method):
    e = echo(udp=True)
    port, _ = portway_ssu(pw, method)
    c = udp_socket()
    for host in ("127.0.0.1", "localhost"):
        data = f"own {method} {host}".encode()
        got = exchange(c, ("127.0.0.1", port), seal(method, PASSWORD, s5_addr(host, e.port) + data),
                       lambda d: True)
        rhost, rport, payload = split_addr(unseal(method, PASSWORD, got))
        assert (rhost, rport, payload) == (host, e.port, data)


def test_malformed_packets_dropped_and_still_serving(pw, echo):
    method = "aes-256-gcm"
    e = echo(udp=True)
    port, p = portway_ssu(pw, method)
    dest = ("127.0.0.1", port)
    c = udp_socket()
    ok = s5_addr("127.0.0.1", e.port)
    exchange(c, dest, seal(method, PASSWORD, ok + b"warm-up"), lambda d: True)
    before = e.connections
    good = seal(method, PASSWORD, ok + b"a replayed packet")
    c.sendto(good, dest)
    assert split_addr(unseal(method, PASSWORD, c.recvfrom(65535)[0]))[2] == b"a replayed packet"
    bad = [
        b"",                                                    # empty
        os.urandom(1), os.urandom(31), os.urandom(47),          # shorter than salt + tag
        os.urandom(48), os.urandom(200), os.urandom(1400),      # garbage
        good[:-1],                                              # cut short: a bad tag
        good[:40] + bytes([good[40] ^ 1]) + good[41:],          # a flipped ciphertext bit
        good,                                                   # the same packet again: a replay
        seal(method, "another password", ok + b"wrong key"),
        seal(method, PASSWORD, b""),                            # no address
        seal(method, PASSWORD, b"\x09\x7f\x00\x00\x01\x00\x35x"),  # address type 9
        seal(method, PASSWORD, b"\x02\x7f\x00\x00\x01\x00\x35x"),  # address type 2
        seal(method, PASSWORD, b"\x01\x7f\x00\x00"),            # a cut IPv4 address
        seal(method, PASSWORD, b"\x03\x00\x00\x35x"),           # an empty domain
        seal(method, PASSWORD, b"\x03\x40abc"),                 # a domain longer than the packet
        seal(method, PASSWORD, ok),                             # an address and no payload
    ]
    for pkt in bad * 3:
        c.sendto(pkt, dest)
    nothing_back(c, 1.5)
    assert e.connections == before + 1  # only the one good packet reached the echo
    got = exchange(c, dest, seal(method, PASSWORD, ok + b"after the garbage"), lambda d: True)
    assert split_addr(unseal(method, PASSWORD, got))[2] == b"after the garbage"


def test_session_ends_after_ttl(pw, echo):
    e = echo(udp=True)
    port, p = portway_ssu(pw, "aes-128-gcm", query="?ttl=1s")
    c = udp_socket()
    exchange(c, ("127.0.0.1", port), seal("aes-128-gcm", PASSWORD, s5_addr("127.0.0.1", e.port) + b"x"),
             lambda d: True)
    p.wait_log("udp session idle for 1s, ended", 20)
    # a new session for the same client after that
    got = exchange(c, ("127.0.0.1", port), seal("aes-128-gcm", PASSWORD, s5_addr("127.0.0.1", e.port) + b"again"),
                   lambda d: True)
    assert split_addr(unseal("aes-128-gcm", PASSWORD, got))[2] == b"again"


def test_bypassed_target_dropped(pw, echo):
    e, other = echo(udp=True), echo(udp=True)
    port = free_port(socket.SOCK_DGRAM)
    pw.start(config=f"""
services:
- name: ssu
  addr: 127.0.0.1:{port}
  bypass: deny
  handler:
    type: ssu
    auth: {{username: aes-128-gcm, password: "{PASSWORD}"}}
  listener: {{type: udp}}
bypasses:
- name: deny
  matchers: ["127.0.0.1:{other.port}"]
""")
    c = udp_socket()
    exchange(c, ("127.0.0.1", port), seal("aes-128-gcm", PASSWORD, s5_addr("127.0.0.1", e.port) + b"allowed"),
             lambda d: True)
    for i in range(3):
        c.sendto(seal("aes-128-gcm", PASSWORD, s5_addr("127.0.0.1", other.port) + b"denied"), ("127.0.0.1", port))
    nothing_back(c)
    assert other.connections == 0


def test_yaml_form_with_ss_server(pw, procs, echo):  # noqa: F811
    """GOST's YAML for a udp service through an ssu node (connector ssu, dialer udp)."""
    e = echo(udp=True)
    server = ss_server_udp(procs, "aes-256-gcm")
    port = free_port(socket.SOCK_DGRAM)
    pw.start(config=f"""
services:
- name: dns
  addr: 127.0.0.1:{port}
  handler: {{type: udp, chain: chain-0}}
  listener: {{type: udp}}
  forwarder:
    nodes:
    - name: target
      addr: 127.0.0.1:{e.port}
chains:
- name: chain-0
  hops:
  - name: hop-0
    nodes:
    - name: node-0
      addr: 127.0.0.1:{server}
      connector:
        type: ssu
        auth: {{username: aes-256-gcm, password: "{PASSWORD}"}}
      dialer: {{type: udp}}
""")
    c = udp_socket()
    echo_each(c, ("127.0.0.1", port), payloads([20, 300], "yaml"))


# ---- GOST's UDP over TCP: ssu over a stream listener and dialer ----

@pytest.mark.parametrize("entry", ["socks5", "udp"])
def test_udp_over_tcp_portway_to_portway(pw, echo, entry):
    e1, e2 = echo(udp=True), echo(udp=True)
    method = "aes-128-gcm"
    server = free_port()
    ps = pw.start("-L", f"ssu+tcp://{method}:{PASSWORD}@127.0.0.1:{server}")
    wait_port(server)
    hop = f"ssu+tcp://{method}:{PASSWORD}@127.0.0.1:{server}"
    sizes = [1, 1500, 9000, 60000]
    if entry == "udp":
        port = free_port(socket.SOCK_DGRAM)
        pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{e1.port}", "-F", hop)
        echo_each(udp_socket(), ("127.0.0.1", port), payloads(sizes * 2, "tun"))
    else:
        port = free_port()
        pw.start("-L", f"socks5://127.0.0.1:{port}?udp=true", "-F", hop)
        wait_port(port)
        ctl, relay = associate(port)
        c = udp_socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for target in (e1, e2):
            for data in payloads(sizes, f"tun-{target.port}"):
                got = exchange(c, relay, udp_frame("127.0.0.1", target.port, data),
                               lambda d: parse_udp_frame(d)[2] == data)
                assert parse_udp_frame(got)[:2] == ("127.0.0.1", target.port)
        ctl.close()
    ps.wait_log(f"udp to 127.0.0.1:{e1.port}")


class SsReader:
    """The server's side of a Shadowsocks stream, chunk by chunk."""

    def __init__(self, sock, method, password):
        self.s, self.buf = sock, b""
        self.a = Aead(method, kdf(password.encode(), KEYLEN[method]), recv_exact(sock, KEYLEN[method]))

    def read(self, n):
        while len(self.buf) < n:
            size = struct.unpack(">H", self.a.open(recv_exact(self.s, 18)))[0]
            self.buf += self.a.open(recv_exact(self.s, size + 16))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        """RSV (the length), FRAG, address, data -> (frag, host, port, data)."""
        rsv, frag, atyp = struct.unpack(">HBB", self.read(4))
        alen = {1: 4, 4: 16}.get(atyp)
        raw = self.read(alen) if alen else self.read(self.read(1)[0])
        host = socket.inet_ntop(socket.AF_INET if atyp == 1 else socket.AF_INET6, raw) if alen else raw.decode()
        port = struct.unpack(">H", self.read(2))[0]
        return frag, host, port, self.read(rsv)


def tun_frame(host, port, data, frag=0xff):
    return struct.pack(">HB", len(data), frag) + s5_addr(host, port) + data


def test_udp_over_tcp_wire_format(pw, echo):
    """What GOST's ssu connector sends over a stream, from a client of our own."""
    e1, e2 = echo(udp=True), echo(udp=True)
    method = "chacha20-ietf-poly1305"
    port = free_port()
    pw.start("-L", f"ssu+tcp://{method}:{PASSWORD}@127.0.0.1:{port}")
    wait_port(port)
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    # the salt, then one chunk: the target GOST names first, and the first frame
    s.sendall(ss_encode(method, PASSWORD, [s5_addr("127.0.0.1", e1.port) + tun_frame("127.0.0.1", e1.port, b"one")]))
    r = SsReader(s, method, PASSWORD)
    assert r.frame() == (0xff, "127.0.0.1", e1.port, b"one")
    s.close()
    # frames to two targets, by IP and by name, split across chunks anywhere
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    frames = tun_frame("127.0.0.1", e1.port, b"to e1") + tun_frame("localhost", e2.port, b"to e2" * 300, frag=0)
    wire = s5_addr("127.0.0.1", e1.port) + frames
    s.sendall(ss_encode(method, PASSWORD, [wire[:5], wire[5:30], wire[30:]]))
    r = SsReader(s, method, PASSWORD)
    got = {r.frame(), r.frame()}
    assert got == {(0xff, "127.0.0.1", e1.port, b"to e1"), (0xff, "localhost", e2.port, b"to e2" * 300)}
    s.close()


def test_udp_over_tcp_wrong_key_gets_nothing(pw, echo):
    e = echo(udp=True)
    port = free_port()
    pw.start("-L", f"ssu+tcp://aes-256-gcm:{PASSWORD}@127.0.0.1:{port}?ttl=2s")
    wait_port(port)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(ss_encode("aes-256-gcm", "not-the-password",
                        [s5_addr("127.0.0.1", e.port) + tun_frame("127.0.0.1", e.port, b"x")]))
    s.settimeout(30)
    assert s.recv(100) == b""  # not a byte, then closed at ttl
    s.close()
    assert e.connections == 0


# ---- configuration ----

@pytest.mark.parametrize("args,needle", [
    (["-L", "ssu://127.0.0.1:0"], "needs the method and password"),
    (["-L", "ssu://rc4-md5:pw@127.0.0.1:0"], "unknown shadowsocks method"),
    (["-L", "udp://127.0.0.1:0/127.0.0.1:53", "-F", "ssu://127.0.0.1:1"], "needs the method and password"),
])
def test_config_errors(pw, args, needle):
    code, out = pw.run(*args)
    assert code == 2, out
    assert needle in out, out
