"""The relay handler's BIND (doc/protocols/gost-relay.md §2.6, §4), driven byte for byte by a raw client.

The client here plays GOST's relay connector: it sends BIND, checks the reply, then acts as the
smux *server* of the session (the relay handler is the smux client and opens one stream per
connection accepted on the bound port). The helpers are reused by test_rtcp*.py.
"""
import os
import socket
import struct
import threading
import time

import pytest

from conftest import free_port

# ---- relay and smux wire helpers ----


def relay_addr(host, port):
    """ATYP|ADDR|PORT the way GOST's AddrFeature.ParseFrom encodes it."""
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack(">H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack(">H", port)
    except OSError:
        pass
    h = host.encode()
    return b"\x03" + bytes([len(h)]) + h + struct.pack(">H", port)


def feature(ftype, data):
    return bytes([ftype]) + struct.pack(">H", len(data)) + data


def user_auth(user, password):
    return feature(1, bytes([len(user)]) + user.encode() + bytes([len(password)]) + password.encode())


def bind_request(host, port, udp=False, user=None, password=None):
    """[UserAuth] Network Addr, as GOST's connector writes a BIND."""
    feats = b""
    if user is not None:
        feats += user_auth(user, password)
    feats += feature(4, struct.pack(">H", 1 if udp else 0))
    feats += feature(2, relay_addr(host, port))
    return bytes([1, 0x82 if udp else 0x02]) + struct.pack(">H", len(feats)) + feats


def response(status, addrs=()):
    feats = b"".join(feature(2, relay_addr(h, p)) for h, p in addrs)
    return bytes([1, status]) + struct.pack(">H", len(feats)) + feats


def recv_exact(sock, n, timeout=5):
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        d = sock.recv(n - len(buf))
        if not d:
            raise EOFError(f"closed after {len(buf)} of {n} bytes: {buf.hex()}")
        buf += d
    return buf


def read_relay_msg(sock, timeout=5):
    """A whole relay response: (raw bytes, status, [(atyp, host, port)])."""
    head = recv_exact(sock, 4, timeout)
    body = recv_exact(sock, struct.unpack(">H", head[2:4])[0], timeout)
    return head + body, head[1], parse_addrs(body)


def parse_addr(b):
    atyp = b[0]
    if atyp == 1:
        return atyp, socket.inet_ntop(socket.AF_INET, b[1:5]), struct.unpack(">H", b[5:7])[0], 7
    if atyp == 4:
        return atyp, socket.inet_ntop(socket.AF_INET6, b[1:17]), struct.unpack(">H", b[17:19])[0], 19
    n = b[1]
    return atyp, b[2:2 + n].decode(), struct.unpack(">H", b[2 + n:4 + n])[0], 4 + n


def parse_addrs(body):
    out, off = [], 0
    while off < len(body):
        t, ln = body[off], struct.unpack(">H", body[off + 1:off + 3])[0]
        if t == 2:
            atyp, host, port, _ = parse_addr(body[off + 3:off + 3 + ln])
            out.append((atyp, host, port))
        off += 3 + ln
    return out


def udp_frame(host, port, payload):
    return struct.pack(">H", len(payload)) + b"\xff" + relay_addr(host, port) + payload


SYN, FIN, PSH, NOP, UPD = range(5)


def frame(cmd, sid, payload=b"", ver=1):
    return struct.pack("<BBHI", ver, cmd, len(payload), sid) + payload


class Smux:
    """A minimal xtaci/smux peer over a socket, for tests: frames in arrival order."""

    def __init__(self, sock, ver=1):
        self.sock = sock
        self.ver = ver
        self.data = {}      # sid -> bytes received
        self.fins = set()
        self.syns = []
        self.nops = 0
        self.upds = []
        self.buf = b""
        self.lock = threading.Lock()

    def send(self, cmd, sid, payload=b""):
        self.sock.sendall(frame(cmd, sid, payload, self.ver))

    def read_frame(self, timeout=5):
        hdr = recv_exact(self.sock, 8, timeout)
        ver, cmd, ln, sid = struct.unpack("<BBHI", hdr)
        body = b""
        if cmd == PSH:
            body = recv_exact(self.sock, ln, timeout)
        elif cmd == UPD:
            body = recv_exact(self.sock, 8, timeout)
        return ver, cmd, sid, body, hdr

    def pump(self, until, timeout=5):
        """Read frames until until(self) is true."""
        deadline = time.time() + timeout
        while not until(self):
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError(f"smux: condition not met; data={self.data} fins={self.fins}")
            ver, cmd, sid, body, _ = self.read_frame(left)
            assert ver == self.ver, f"frame version {ver}, session version {self.ver}"
            if cmd == SYN:
                self.syns.append(sid)
                self.data.setdefault(sid, b"")
            elif cmd == PSH:
                self.data[sid] = self.data.get(sid, b"") + body
            elif cmd == FIN:
                self.fins.add(sid)
            elif cmd == NOP:
                self.nops += 1
            elif cmd == UPD:
                self.upds.append((sid, struct.unpack("<II", body)))


def start_relay(pw, query="bind=true", user=None):
    port = free_port()
    cred = f"{user}@" if user else ""
    pw.start("-L", f"relay://{cred}127.0.0.1:{port}?{query}", name="relay")
    return port


def bind(port, req):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    return s


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # queued while the listener closed: ask again
        return False


def wait_refused(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if refused(port):
            return True
        time.sleep(0.1)
    return False


# ---- status codes ----


def test_bind_forbidden_without_bind_option(pw):
    relay = start_relay(pw, query="nodelay=false")
    s = bind(relay, bind_request("", 2222))
    assert recv_exact(s, 4) == bytes.fromhex("01030000")
    assert s.recv(10) == b""


def test_bind_unauthorized(pw):
    relay = start_relay(pw, user="u:p")
    s = bind(relay, bind_request("127.0.0.1", free_port(), user="u", password="wrong"))
    assert recv_exact(s, 4) == bytes.fromhex("01020000")
    assert s.recv(10) == b""


def test_bind_port_in_use(pw):
    relay = start_relay(pw)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    s = bind(relay, bind_request("127.0.0.1", busy.getsockname()[1]))
    assert recv_exact(s, 4) == bytes.fromhex("01050000")
    assert s.recv(10) == b""


def test_bind_unsupported_network(pw):
    relay = start_relay(pw)
    feats = feature(4, struct.pack(">H", 0x10)) + feature(2, relay_addr("/tmp/x.sock", 0))
    s = bind(relay, b"\x01\x02" + struct.pack(">H", len(feats)) + feats)
    assert recv_exact(s, 4) == bytes.fromhex("01010000")


# ---- TCP BIND ----


def test_bind_tcp_wire_format(pw):
    """Reply, SYN, per-stream header, data both ways, FIN both ways: every byte checked."""
    relay = start_relay(pw, user="u:p")
    port = free_port()
    # the helper writes spec §1.4's vector for rtcp://:2222 with user u/p
    assert bind_request("0.0.0.0", 2222, user="u", password="p") == bytes.fromhex(
        "01020016010004017501700400020000020007010000000008ae")
    s = bind(relay, bind_request("127.0.0.1", port, user="u", password="p"))
    assert recv_exact(s, 14) == bytes.fromhex("0100000a02000701 7f000001".replace(" ", "")) + struct.pack(">H", port)
    mux = Smux(s)
    c = socket.create_connection(("127.0.0.1", port))
    cport = c.getsockname()[1]
    # SYN for stream 3, then a PSH with the 14-byte relay response naming the peer
    assert recv_exact(s, 8) == bytes.fromhex("0100000003000000")
    hdr = bytes.fromhex("0100000a020007017f000001") + struct.pack(">H", cport)
    assert recv_exact(s, 8 + 14) == bytes.fromhex("01020e0003000000") + hdr
    c.sendall(b"hello from the remote client")
    mux.pump(lambda m: m.data.get(3, b"") == b"hello from the remote client")
    mux.send(PSH, 3, b"answer from behind the relay")
    assert recv_exact(c, 28) == b"answer from behind the relay"
    # a second connection is stream 5
    c2 = socket.create_connection(("127.0.0.1", port))
    mux.pump(lambda m: 5 in m.syns and len(m.data.get(5, b"")) >= 14)
    assert m_hdr_port(mux.data[5]) == c2.getsockname()[1]
    # our FIN ends the remote connection; its close comes back as FIN
    mux.send(FIN, 3)
    c.settimeout(5)
    assert c.recv(10) == b""
    c.close()
    mux.pump(lambda m: 3 in m.fins)
    c2.close()
    mux.pump(lambda m: 5 in m.fins)


def m_hdr_port(data):
    raw = data[:14]
    assert raw[:8] == bytes.fromhex("0100000a02000701")
    return struct.unpack(">H", raw[12:14])[0]


def test_bind_empty_domain_is_every_address(pw):
    """GOST v3.2.6 sends ':port' as an empty domain: the port opens on every address ([::])."""
    relay = start_relay(pw)
    port = free_port()
    s = bind(relay, bind_request("", port))
    raw, status, addrs = read_relay_msg(s)
    assert status == 0
    assert raw == bytes.fromhex("01000016020013 04".replace(" ", "")) + bytes(16) + struct.pack(">H", port)
    assert addrs == [(4, "::", port)]
    c = socket.create_connection(("127.0.0.1", port))
    mux = Smux(s)
    mux.pump(lambda m: len(m.data.get(3, b"")) >= 14)
    assert m_hdr_port(mux.data[3]) == c.getsockname()[1]


def test_bind_ephemeral_port(pw):
    relay = start_relay(pw)
    s = bind(relay, bind_request("127.0.0.1", 0))
    _, status, addrs = read_relay_msg(s)
    assert status == 0 and addrs[0][0] == 1 and addrs[0][1] == "127.0.0.1"
    port = addrs[0][2]
    assert port != 0
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"x")
    mux = Smux(s)
    mux.pump(lambda m: m.data.get(3, b"")[14:] == b"x")


def test_session_end_closes_the_port(pw):
    relay = start_relay(pw)
    port = free_port()
    s = bind(relay, bind_request("127.0.0.1", port))
    read_relay_msg(s)
    c = socket.create_connection(("127.0.0.1", port))
    mux = Smux(s)
    mux.pump(lambda m: 3 in m.syns)
    s.close()
    assert wait_refused(port, 5), "the bound port must close with the session"
    c.settimeout(5)
    assert c.recv(10) == b"", "connections of the session end with it"


def test_streams_opened_by_the_requester_are_closed(pw):
    relay = start_relay(pw)
    s = bind(relay, bind_request("127.0.0.1", 0))
    read_relay_msg(s)
    mux = Smux(s)
    mux.send(SYN, 2)
    mux.send(PSH, 2, b"ignored")
    mux.pump(lambda m: 2 in m.fins)


def test_keepalive_nop_and_timeout(pw):
    relay = start_relay(pw, query="bind=true&mux.keepaliveInterval=300ms&mux.keepaliveTimeout=1s")
    port = free_port()
    s = bind(relay, bind_request("127.0.0.1", port))
    read_relay_msg(s)
    # NOP frames arrive: exactly 01 03 00 00 00 00 00 00
    assert recv_exact(s, 8, 3) == bytes.fromhex("0103000000000000")
    # we stay silent: within one or two timeout periods the session and the port close
    t0 = time.time()
    s.settimeout(5)
    while True:
        d = s.recv(64)
        if not d:
            break
    assert time.time() - t0 < 4
    assert wait_refused(port, 3)


def test_keepalive_from_us_keeps_the_session(pw):
    relay = start_relay(pw, query="bind=true&mux.keepaliveInterval=200ms&mux.keepaliveTimeout=600ms")
    port = free_port()
    s = bind(relay, bind_request("127.0.0.1", port))
    read_relay_msg(s)
    mux = Smux(s)
    for _ in range(12):
        mux.send(NOP, 0)
        time.sleep(0.15)
    c = socket.create_connection(("127.0.0.1", port))
    mux.pump(lambda m: 3 in m.syns)
    c.close()


def test_wrong_smux_version_ends_the_session(pw):
    relay = start_relay(pw)
    port = free_port()
    s = bind(relay, bind_request("127.0.0.1", port))
    read_relay_msg(s)
    s.sendall(frame(NOP, 0, ver=2))
    s.settimeout(5)
    while s.recv(64):
        pass
    assert wait_refused(port, 5)


def test_bind_smux_v2_window_updates(pw):
    """mux.version=2: frames carry version 2; the handler grants its window with UPD on its first read."""
    relay = start_relay(pw, query="bind=true&mux.version=2")
    port = free_port()
    s = bind(relay, bind_request("127.0.0.1", port))
    read_relay_msg(s)
    mux = Smux(s, ver=2)
    c = socket.create_connection(("127.0.0.1", port))
    mux.pump(lambda m: len(m.data.get(3, b"")) >= 14)
    mux.send(PSH, 3, b"0123456789")
    assert recv_exact(c, 10) == b"0123456789"
    # consumed=10, window=65536 (MaxStreamBuffer), both little-endian
    mux.pump(lambda m: (3, (10, 65536)) in m.upds)
    # a large answer flows although UPDs are needed to keep the window open
    big = os.urandom(600000)
    threading.Thread(target=lambda: c.sendall(big), daemon=True).start()
    got = bytearray()

    def enough(m):
        got[:] = m.data[3][14:]
        return len(got) >= len(big)

    # we must grant window as we consume: send UPD every 64 KiB consumed
    deadline = time.time() + 10
    granted = 0
    while not enough(mux):
        assert time.time() < deadline
        ver, cmd, sid, body, _ = mux.read_frame()
        if cmd == PSH:
            mux.data[sid] = mux.data.get(sid, b"") + body
            consumed = len(mux.data[3]) - 14
            if consumed - granted >= 32768:
                granted = consumed
                mux.send(UPD, 3, struct.pack("<II", consumed, 65536))
    assert bytes(got) == big


def test_bind_stalls_without_window_in_v2(pw):
    """v2 flow control holds: without UPD the handler sends no more than the initial 256 KiB window."""
    relay = start_relay(pw, query="bind=true&mux.version=2")
    port = free_port()
    s = bind(relay, bind_request("127.0.0.1", port))
    read_relay_msg(s)
    mux = Smux(s, ver=2)
    c = socket.create_connection(("127.0.0.1", port))
    threading.Thread(target=lambda: c.sendall(os.urandom(1 << 20)), daemon=True).start()
    total = 0
    s.settimeout(1.5)
    try:
        while True:
            ver, cmd, sid, body, _ = mux.read_frame(1.5)
            if cmd == PSH and sid == 3:
                total += len(body)
    except (socket.timeout, TimeoutError):
        pass
    assert total == 262144, total


# ---- UDP BIND ----


def test_bind_udp_wire_format(pw):
    relay = start_relay(pw)
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind(("127.0.0.1", 0))
    tport = target.getsockname()[1]
    req = bind_request("127.0.0.1", 0, udp=True)
    assert req == bytes.fromhex("0182000f04000200010200070" "17f0000010000")
    s = bind(relay, req)
    raw, status, addrs = read_relay_msg(s)
    assert status == 0 and raw[:8] == bytes.fromhex("0100000a02000701")
    bport = addrs[0][2]
    # requester -> destination
    s.sendall(udp_frame("127.0.0.1", tport, b"abc"))
    target.settimeout(5)
    data, src = target.recvfrom(100)
    assert data == b"abc" and src == ("127.0.0.1", bport)
    # source -> requester, framed with the source address
    target.sendto(b"reply!", src)
    assert recv_exact(s, 2 + 1 + 7 + 6) == bytes.fromhex("0006ff017f000001") + struct.pack(">H", tport) + b"reply!"
    # two frames in one write, a frame split across writes
    s.sendall(udp_frame("127.0.0.1", tport, b"one") + udp_frame("127.0.0.1", tport, b"two")[:5])
    time.sleep(0.2)
    s.sendall(udp_frame("127.0.0.1", tport, b"two")[5:])
    assert target.recvfrom(100)[0] == b"one"
    assert target.recvfrom(100)[0] == b"two"
    # a domain destination is resolved
    s.sendall(udp_frame("localhost", tport, b"by name"))
    assert target.recvfrom(100)[0] == b"by name"
    # the end of the connection closes the socket: datagrams to it are refused
    s.close()
    assert udp_port_closes(bport, within=10)


def udp_port_closes(port, within):
    """True once a datagram to the port is refused (ICMP port unreachable).
    Polled, since under a sanitizer on a loaded box the close can take a while."""
    deadline = time.monotonic() + within
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.connect(("127.0.0.1", port))
    c.settimeout(0.3)
    try:
        while time.monotonic() < deadline:
            try:
                c.send(b"x")
                c.recv(10)
            except ConnectionRefusedError:
                return True
            except (socket.timeout, TimeoutError):
                pass
        return False
    finally:
        c.close()


def test_bind_udp_malformed_frame_closes(pw):
    relay = start_relay(pw)
    s = bind(relay, bind_request("127.0.0.1", 0, udp=True))
    read_relay_msg(s)
    s.sendall(bytes.fromhex("0003ff09") + b"\x00" * 10)  # ATYP 9
    s.settimeout(5)
    assert s.recv(10) == b""


def test_bind_udp_busy_port_closes_without_reply(pw):
    relay = start_relay(pw)
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    s = bind(relay, bind_request("127.0.0.1", busy.getsockname()[1], udp=True))
    s.settimeout(5)
    assert s.recv(10) == b""


def test_bad_mux_options_are_config_errors(pw):
    code, out = pw.run("-L", "relay://127.0.0.1:9?bind=true&mux.version=3", "-t")
    assert code == 2 and "mux.version" in out
    code, out = pw.run("-L", "relay://127.0.0.1:9?bind=true&mux.keepaliveInterval=5s&mux.keepaliveTimeout=1s", "-t")
    assert code == 2 and "mux.keepaliveTimeout" in out


def test_bind_unspecified_ipv4_is_dual_stack(pw):
    """0.0.0.0 is every address, as in GOST (Go listens on [::]): the reply names [::], and the
    port answers on IPv4 and IPv6 loopback."""
    relay = start_relay(pw)
    port = free_port()
    s = bind(relay, bind_request("0.0.0.0", port))
    raw, status, addrs = read_relay_msg(s)
    assert status == 0
    assert addrs == [(4, "::", port)]
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    socket.create_connection(("::1", port), timeout=5).close()


def test_service_on_unspecified_ipv4_is_dual_stack(pw, echo):
    target = echo()
    port = free_port()
    pw.start("-L", f"tcp://0.0.0.0:{port}/127.0.0.1:{target.port}")
    for host in ("127.0.0.1", "::1"):
        c = socket.create_connection((host, port), timeout=5)
        c.sendall(b"ping")
        assert c.recv(4) == b"ping"
        c.close()
