"""SOCKS5 BIND (RFC 1928 section 4) and GOST's multiplexed BIND (0xF2) on the socks5 handler, and
rtcp through a socks5 last hop (GOST's `-L rtcp://:2222/:22 -F socks5://user:pass@server:1080`
against `-L socks5://user:pass@:1080?bind=true`).

The handler is driven by a SOCKS5 client written here byte by byte; the rtcp end to end runs a
real sshd and 20 parallel connections between two portway processes.
"""
import hashlib
import os
import socket
import struct
import threading

from conftest import free_port
from test_relay_bind import FIN, PSH, SYN, Smux, recv_exact, refused, wait_refused
from test_rtcp import echo_once, ssh_run, sshd, wait_bound  # noqa: F401 (sshd is a fixture)

BIND, MBIND = 0x02, 0xF2


def start_socks(pw, query="bind=true", user="u:p", name="socks"):
    port = free_port()
    cred = f"{user}@" if user else ""
    q = f"?{query}" if query else ""
    p = pw.start("-L", f"socks5://{cred}127.0.0.1:{port}{q}", name=name)
    return port, p


def negotiate(port, user=b"u", password=b"p"):
    """Greeting and RFC 1929 authentication; every server byte checked."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x05\x01\x02")
    assert recv_exact(s, 2) == b"\x05\x02"
    s.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
    assert recv_exact(s, 2) == b"\x01\x00"
    return s


def request(cmd, host="127.0.0.1", port=0):
    return b"\x05" + bytes([cmd]) + b"\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port)


def reply_ipv4(s):
    """A reply with an IPv4 address: (REP, host, port)."""
    r = recv_exact(s, 10)
    assert r[0] == 5 and r[2] == 0 and r[3] == 1, r.hex()
    return r[1], socket.inet_ntoa(r[4:8]), struct.unpack(">H", r[8:10])[0]


def closed(s, timeout=5):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


# ---- RFC 1928 BIND ----


def test_bind_two_replies_then_data(pw):
    port, _ = start_socks(pw)
    s = negotiate(port)
    s.sendall(request(BIND))
    rep, host, bport = reply_ipv4(s)
    assert (rep, host) == (0, "127.0.0.1") and bport not in (0, port)
    peer = socket.create_connection(("127.0.0.1", bport), timeout=10)
    rep, phost, pport = reply_ipv4(s)
    assert (rep, phost, pport) == (0, "127.0.0.1", peer.getsockname()[1])
    data = os.urandom(1 << 20)
    threading.Thread(target=lambda: s.sendall(data), daemon=True).start()
    got = recv_exact(peer, len(data), timeout=20)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    peer.sendall(b"back from the peer")
    assert recv_exact(s, 18) == b"back from the peer"
    # one peer only: the port closed when it came
    assert refused(bport)
    peer.close()
    assert closed(s)


def test_bind_bytes_sent_before_the_peer_reach_it(pw):
    port, _ = start_socks(pw, user=None)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    # the request and early data in one write
    s.sendall(request(BIND) + b"early")
    rep, _, bport = reply_ipv4(s)
    assert rep == 0
    peer = socket.create_connection(("127.0.0.1", bport), timeout=10)
    assert reply_ipv4(s)[0] == 0
    assert recv_exact(peer, 5) == b"early"


def test_bind_on_a_requested_port(pw):
    port, _ = start_socks(pw)
    want = free_port()
    s = negotiate(port)
    s.sendall(request(BIND, "127.0.0.1", want))
    assert reply_ipv4(s) == (0, "127.0.0.1", want)
    peer = socket.create_connection(("127.0.0.1", want), timeout=10)
    assert reply_ipv4(s)[2] == peer.getsockname()[1]


def test_bind_client_leaving_closes_the_port(pw):
    port, p = start_socks(pw)
    s = negotiate(port)
    s.sendall(request(BIND))
    _, _, bport = reply_ipv4(s)
    s.close()
    p.wait_log("the client left before a peer came", 10)
    assert wait_refused(bport, 10)


def test_bind_public_addr_names_the_reply_host(pw):
    """GOST's publicAddr replaces the host of the first reply (an IP address or a name)."""
    for public, atyp, encoded in (("203.0.113.7", 1, socket.inet_aton("203.0.113.7")),
                                  ("bind.example", 3, b"\x0cbind.example")):
        port, _ = start_socks(pw, query=f"bind=true&publicAddr={public}", name=f"socks-{atyp}")
        want = free_port()
        s = negotiate(port)
        s.sendall(request(BIND, "127.0.0.1", want))
        assert recv_exact(s, 4 + len(encoded) + 2) == b"\x05\x00\x00" + bytes([atyp]) + encoded + struct.pack(">H", want)
        peer = socket.create_connection(("127.0.0.1", want), timeout=10)
        assert reply_ipv4(s) == (0, "127.0.0.1", peer.getsockname()[1])


def test_bind_public_addr_malformed_is_a_config_error(pw):
    code, out = pw.run("-L", "socks5://127.0.0.1:1080?bind=true&publicAddr=" + "a" * 300, "-t")
    assert code == 2 and "publicAddr" in out, out


def test_bind_port_in_use_general_failure(pw):
    port, _ = start_socks(pw)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    s = negotiate(port)
    s.sendall(request(BIND, "127.0.0.1", busy.getsockname()[1]))
    assert reply_ipv4(s)[0] == 0x01
    assert closed(s)


def test_bind_disabled_by_default_not_allowed(pw):
    """GOST's bind defaults to false and then answers REP 2 to BIND and MBIND alike."""
    port, _ = start_socks(pw, query="")
    for cmd in (BIND, MBIND):
        s = negotiate(port)
        s.sendall(request(cmd))
        assert reply_ipv4(s) == (0x02, "0.0.0.0", 0)
        assert closed(s)


def test_malformed_requests(pw):
    port, p = start_socks(pw)
    # unknown command: REP 7
    s = negotiate(port)
    s.sendall(b"\x05\x09\x00\x01\x7f\x00\x00\x01\x00\x50")
    assert reply_ipv4(s)[0] == 0x07
    assert closed(s)
    # unknown address type in a BIND: REP 8
    s = negotiate(port)
    s.sendall(b"\x05\x02\x00\x07")
    assert reply_ipv4(s)[0] == 0x08
    assert closed(s)
    # RSV not 0: closed without a reply
    s = negotiate(port)
    s.sendall(b"\x05\x02\x01\x01\x7f\x00\x00\x01\x00\x00")
    assert closed(s)
    # an empty domain: closed without a reply
    s = negotiate(port)
    s.sendall(b"\x05\x02\x00\x03\x00\x00\x00")
    assert closed(s)
    # the server still serves
    s = negotiate(port)
    s.sendall(request(BIND))
    assert reply_ipv4(s)[0] == 0


# ---- GOST's MBIND, byte by byte ----


def test_mbind_wire_format(pw):
    """First reply, then smux v1 with this side as the server: SYN, a reply naming the peer, data."""
    port, _ = start_socks(pw)
    want = free_port()
    s = negotiate(port)
    s.sendall(request(MBIND, "0.0.0.0", want))
    assert reply_ipv4(s) == (0, "127.0.0.1", want)
    mux = Smux(s)
    c = socket.create_connection(("127.0.0.1", want), timeout=10)
    cport = c.getsockname()[1]
    assert recv_exact(s, 8) == struct.pack("<BBHI", 1, SYN, 0, 3)
    hdr = b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack(">H", cport)
    assert recv_exact(s, 8 + 10) == struct.pack("<BBHI", 1, PSH, 10, 3) + hdr
    c.sendall(b"from the remote client")
    mux.pump(lambda m: m.data.get(3, b"") == b"from the remote client")
    mux.send(PSH, 3, b"from behind the socks5 server")
    assert recv_exact(c, 29) == b"from behind the socks5 server"
    c2 = socket.create_connection(("127.0.0.1", want), timeout=10)
    mux.pump(lambda m: 5 in m.syns and len(m.data.get(5, b"")) >= 10)
    assert struct.unpack(">H", mux.data[5][8:10])[0] == c2.getsockname()[1]
    c.close()
    mux.pump(lambda m: 3 in m.fins)
    mux.send(FIN, 5)
    assert closed(c2)
    # the session's end closes the port
    s.close()
    assert wait_refused(want, 10)


def test_mbind_comp_streams_carry_data_only(pw):
    """comp (GOST v2's MBIND): the stream starts with the peer's bytes, no reply."""
    port, _ = start_socks(pw, query="bind=true&comp=true")
    want = free_port()
    s = negotiate(port)
    s.sendall(request(MBIND, "127.0.0.1", want))
    assert reply_ipv4(s) == (0, "127.0.0.1", want)
    c = socket.create_connection(("127.0.0.1", want), timeout=10)
    assert recv_exact(s, 8) == struct.pack("<BBHI", 1, SYN, 0, 3)
    c.sendall(b"v2")
    assert recv_exact(s, 10) == struct.pack("<BBHI", 1, PSH, 2, 3) + b"v2"


# ---- rtcp through a socks5 last hop ----


def start_rtcp(pw, remote, target, socks, cred="u:p", name="rtcp"):
    at = f"{cred}@" if cred else ""
    return pw.start("-L", f"rtcp://127.0.0.1:{remote}/127.0.0.1:{target}", "-F",
                    f"socks5://{at}127.0.0.1:{socks}", name=name)


def test_rtcp_through_socks5_exposes_sshd(pw, sshd):  # noqa: F811
    socks, sp = start_socks(pw)
    remote = free_port()
    client = start_rtcp(pw, remote, sshd.port, socks)
    wait_bound(client)
    r = ssh_run(sshd, remote, "echo hello through socks5 bind; uname -s")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello through socks5 bind\nLinux\n"
    assert sp.text().count("BIND tcp on") == 1


def test_rtcp_through_socks5_parallel_checksums(pw, echo):
    srv = echo()
    socks, sp = start_socks(pw)
    remote = free_port()
    wait_bound(start_rtcp(pw, remote, srv.port, socks))
    payloads = [os.urandom(100000 + i * 997) for i in range(20)]
    results = [None] * 20

    def run(i):
        got = echo_once(remote, payloads[i], timeout=30)
        results[i] = hashlib.sha256(got).digest() == hashlib.sha256(payloads[i]).digest()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [True] * 20
    assert srv.connections == 20
    assert sp.text().count("BIND tcp on") == 1


def test_rtcp_through_socks5_refused_backs_off(pw, echo):
    srv = echo()
    socks, _ = start_socks(pw, query="")  # bind not allowed
    client = start_rtcp(pw, free_port(), srv.port, socks)
    client.wait_log("BIND failed: refused by the server", 10)
    client.wait_log("binding again in 1s", 10)


def test_rtcp_through_socks5_wrong_password(pw, echo):
    srv = echo()
    socks, _ = start_socks(pw)
    client = start_rtcp(pw, free_port(), srv.port, socks, cred="u:wrong")
    client.wait_log("SOCKS5 authentication failed", 10)
    client.wait_log("binding again in", 10)


def test_rtcp_chain_of_another_connector_is_a_config_error(pw):
    code, out = pw.run("-L", "rtcp://127.0.0.1:2222/127.0.0.1:22", "-F", "http://127.0.0.1:1080", "-t")
    assert code == 2, out
    assert "connector must be relay or socks5, not http" in out


# ---- GOST's UDP BIND (0xF3 with a port) and rudp through socks5 ----


def udp_frame(host, port, payload):
    """GOST's UDP-over-TCP frame: RSV = length, FRAG 0xff, the address, the data."""
    return struct.pack(">HB", len(payload), 0xFF) + b"\x01" + socket.inet_aton(host) + struct.pack(">H", port) + payload


def read_udp_frame(s):
    hdr = recv_exact(s, 10)
    n, frag, atyp = struct.unpack(">HBB", hdr[:4])
    assert (frag, atyp) == (0xFF, 1), hdr.hex()
    return socket.inet_ntoa(hdr[4:8]), struct.unpack(">H", hdr[8:10])[0], recv_exact(s, n)


def test_udp_bind_wire_format(pw):
    port, _ = start_socks(pw)  # bind=true, udp off: the BIND flavour needs only bind
    want = free_port(socket.SOCK_DGRAM)
    s = negotiate(port)
    s.sendall(request(0xF3, "127.0.0.1", want))
    assert reply_ipv4(s) == (0, "127.0.0.1", want)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(10)
    pport = peer.getsockname()[1]
    # a datagram towards the peer leaves from the bound port
    s.sendall(udp_frame("127.0.0.1", pport, b"to the peer"))
    data, src = peer.recvfrom(100)
    assert (data, src) == (b"to the peer", ("127.0.0.1", want))
    # the peer's answers come back framed with its address, in order
    for i in range(5):
        peer.sendto(b"answer %d" % i, ("127.0.0.1", want))
    for i in range(5):
        assert read_udp_frame(s) == ("127.0.0.1", pport, b"answer %d" % i)
    # a frame with RSV 0 (no length) is malformed: the connection and the socket close
    s.sendall(b"\x00\x00\xff\x01\x7f\x00\x00\x01\x00\x35")
    assert closed(s)


def test_udp_bind_disabled_not_allowed(pw):
    port, _ = start_socks(pw, query="udp=true")
    s = negotiate(port)
    s.sendall(request(0xF3, "127.0.0.1", free_port(socket.SOCK_DGRAM)))
    assert reply_ipv4(s) == (0x02, "0.0.0.0", 0)
    assert closed(s)


def test_rudp_through_socks5(pw):
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                d, a = echo.recvfrom(65535)
            except OSError:
                return
            echo.sendto(hashlib.sha256(d).digest() + d, a)

    threading.Thread(target=serve, daemon=True).start()
    socks, sp = start_socks(pw)
    remote = free_port(socket.SOCK_DGRAM)
    client = pw.start("-L", f"rudp://127.0.0.1:{remote}/127.0.0.1:{echo.getsockname()[1]}", "-F",
                      f"socks5://u:p@127.0.0.1:{socks}", name="rudp")
    wait_bound(client)
    peers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    for p in peers:
        p.settimeout(10)
    for i, p in enumerate(peers):
        for j in range(3):
            data = os.urandom(1000 + 100 * i + j)
            p.sendto(data, ("127.0.0.1", remote))
            got, src = p.recvfrom(65535)
            assert src == ("127.0.0.1", remote)
            assert got == hashlib.sha256(data).digest() + data
    assert sp.text().count("BIND udp on") == 1
    echo.close()
