"""DTLS (listener and dialer): records carry datagrams both ways, cookies,
mutual authentication, MTU, timeouts, and OpenSSL as the peer.

The peers: portway itself, OpenSSL's DTLS client (pyOpenSSL over a UDP
socket, and `openssl s_client -dtls1_2`), OpenSSL's s_server.
"""
import os
import select
import socket
import subprocess
import threading
import time

import pytest
from OpenSSL import SSL

from conftest import free_port, wait_port

# Open UDP sessions would hold a stopping portway for its whole grace period.
GRACE = {"PORTWAY_GRACE": "0.2"}

# ---- certificates ----


def _run(*args):
    subprocess.run(list(args), check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Two CAs (good, bad); a server cert for localhost/127.0.0.1; client certs from each CA."""
    d = tmp_path_factory.mktemp("dtls-certs")

    def ca(name):
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(d / f"{name}-ca.key"), "-out", str(d / f"{name}-ca.pem"), "-days", "30",
             "-subj", f"/CN={name} test CA")

    def leaf(ca_name, name, cn, san):
        ext = d / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\n")
        _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"), "-subj", f"/CN={cn}")
        _run("openssl", "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{ca_name}-ca.pem"),
             "-CAkey", str(d / f"{ca_name}-ca.key"), "-CAcreateserial", "-out", str(d / f"{name}.pem"),
             "-days", "30", "-extfile", str(ext))

    ca("good")
    ca("bad")
    leaf("good", "server", "localhost", "DNS:localhost,IP:127.0.0.1")
    leaf("good", "client", "client", "DNS:client")
    leaf("bad", "badclient", "client", "DNS:client")

    class C:
        pass

    c = C()
    c.dir = d
    for n in ("good-ca", "bad-ca", "server", "client", "badclient"):
        setattr(c, n.replace("-", "_"), str(d / f"{n}.pem"))
    for n in ("server", "client", "badclient"):
        setattr(c, n + "_key", str(d / f"{n}.key"))
    return c


# ---- a DTLS client on OpenSSL (pyOpenSSL), one record per write ----


class DtlsClient:
    def __init__(self, port, cert=None, key=None, ca=None, local_port=0, timeout=5.0):
        ctx = SSL.Context(SSL.DTLS_METHOD)
        if cert:
            ctx.use_certificate_file(cert)
            ctx.use_privatekey_file(key)
        if ca:
            ctx.load_verify_locations(ca)
            ctx.set_verify(SSL.VERIFY_PEER, lambda conn, x509, errno, depth, ok: ok)
        self.c = SSL.Connection(ctx, None)
        self.c.set_connect_state()
        self.c.set_ciphertext_mtu(1200)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", local_port))
        self.sock.connect(("127.0.0.1", port))
        self.timeout = timeout

    def _flush(self):
        while True:
            try:
                data = self.c.bio_read(65536)
            except SSL.WantReadError:
                return
            self.sock.send(data)

    def _feed(self, wait):
        r, _, _ = select.select([self.sock], [], [], wait)
        if r:
            self.c.bio_write(self.sock.recv(65536))
            return True
        return False

    def handshake(self):
        deadline = time.time() + self.timeout
        while True:
            try:
                self.c.do_handshake()
                self._flush()
                return
            except SSL.WantReadError:
                self._flush()
            if time.time() > deadline:
                raise TimeoutError("DTLS handshake timed out")
            if not self._feed(0.2):
                # OpenSSL's flight timer: retransmit once it expired.
                SSL._lib.DTLSv1_handle_timeout(self.c._ssl)
                self._flush()

    def send(self, data):
        self.c.write(data)
        self._flush()

    def send_together(self, records):
        """Several records in one datagram."""
        for r in records:
            self.c.write(r)
        self._flush()

    def recv(self, timeout=3.0):
        deadline = time.time() + timeout
        while True:
            try:
                return self.c.read(65536)
            except SSL.WantReadError:
                pass
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no record")
            self._feed(left)

    def close(self, notify=True):
        if notify:
            try:
                self.c.shutdown()
                self._flush()
            except SSL.Error:
                pass
        self.sock.close()


# ---- helpers ----


def server_yaml(port, target_port, certs, ca=True, handler="udp", extra_md=""):
    tls = f"{{certFile: {certs.server}, keyFile: {certs.server_key}" + (f", caFile: {certs.good_ca}" if ca else "") + "}"
    md = f"\n    metadata: {{{extra_md}}}" if extra_md else ""
    return f"""
services:
- name: dsrv
  addr: 127.0.0.1:{port}
  handler: {{type: {handler}}}
  listener:
    type: dtls
    tls: {tls}{md}
  forwarder: {{nodes: [{{name: target, addr: 127.0.0.1:{target_port}}}]}}
"""


def client_yaml(port, server_port, certs, ca=None, secure=False, name="localhost", cert=True, extra_md=""):
    ca = ca or certs.good_ca
    tls = [f"caFile: {ca}", f"secure: {'true' if secure else 'false'}", f"serverName: {name}"]
    if cert:
        tls += [f"certFile: {certs.client}", f"keyFile: {certs.client_key}"]
    md = f"\n        metadata: {{{extra_md}}}" if extra_md else ""
    return f"""
services:
- name: ucli
  addr: 127.0.0.1:{port}
  handler: {{type: udp, chain: c}}
  listener: {{type: udp}}
  forwarder: {{nodes: [{{name: t, addr: 127.0.0.1:9}}]}}
chains:
- name: c
  hops:
  - name: h
    nodes:
    - name: n0
      addr: 127.0.0.1:{server_port}
      connector: {{type: forward}}
      dialer:
        type: dtls
        tls: {{{', '.join(tls)}}}{md}
"""


def udp_exchange(port, messages, timeout=3.0):
    """Send each message to 127.0.0.1:port and collect one reply per message."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        replies = []
        for m in messages:
            s.sendto(m, ("127.0.0.1", port))
            replies.append(s.recvfrom(65535)[0])
        return replies
    finally:
        s.close()


def udp_no_reply(port, message, wait=1.5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(wait)
    try:
        s.sendto(message, ("127.0.0.1", port))
        s.recvfrom(65535)
        return False
    except socket.timeout:
        return True
    finally:
        s.close()


def wait_for(pred, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def sizes_payloads():
    return [bytes([i % 251]) * n for i, n in enumerate([275, 1, 512, 1200, 1400, 4000, 8000])]


# ---- datagrams both ways ----


def test_udp_over_dtls_between_two_portways(pw, echo, certs):
    """udp handler over a dtls listener; a udp listener whose chain dials dtls (mutual auth, secure)."""
    target = echo(udp=True)
    sp, cp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    srv = pw.start("-D", config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    pw.start("-D", config=client_yaml(cp, sp, certs, secure=True), name="client", env=GRACE)
    msgs = sizes_payloads()
    assert udp_exchange(cp, msgs) == msgs
    assert target.connections == len(msgs)  # one datagram at the target per datagram sent
    srv.wait_log("dtls with 127.0.0.1:")
    assert "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256" in srv.text()


def test_openssl_client_records_both_ways(pw, echo, certs):
    """OpenSSL as the DTLS client: each record is one datagram at the target and back; the
    275-byte first record arrives alone; three records packed in one datagram stay three."""
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    srv = pw.start("-D", config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    c = DtlsClient(sp, certs.client, certs.client_key, certs.good_ca)
    c.handshake()
    assert c.c.get_cipher_name() == "ECDHE-ECDSA-AES128-GCM-SHA256"
    for m in sizes_payloads():
        c.send(m)
        assert c.recv() == m
    batch = [b"one", b"two" * 100, b"three" * 3]
    c.send_together(batch)
    got = [c.recv() for _ in batch]
    assert sorted(got) == sorted(batch)
    c.close()
    srv.wait_log("dtls peer 127.0.0.1:")


def test_openssl_s_client(pw, echo, certs):
    """The command-line client: lines typed become records, echoed back."""
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    pw.start(config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    p = subprocess.Popen(["openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{sp}", "-quiet",
                          "-cert", certs.client, "-key", certs.client_key, "-CAfile", certs.good_ca],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        p.stdin.write(b"hello over dtls\n")
        p.stdin.flush()
        r, _, _ = select.select([p.stdout], [], [], 5)
        assert r, "no reply from s_client"
        assert os.read(p.stdout.fileno(), 4096) == b"hello over dtls\n"
    finally:
        p.kill()
        p.wait()


# ---- the command line: relay and tcp over dtls ----


def test_relay_over_dtls_command_line(pw, echo):
    """-L relay+dtls:// (a generated certificate) and -F relay+dtls://: udp and tcp through it."""
    uecho, techo = echo(udp=True), echo()
    rp, up, tp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM), free_port()
    srv = pw.start("-D", "-L", f"relay+dtls://127.0.0.1:{rp}", name="server", env=GRACE)
    pw.start("-L", f"udp://127.0.0.1:{up}/127.0.0.1:{uecho.port}",
             "-L", f"tcp://127.0.0.1:{tp}/127.0.0.1:{techo.port}",
             "-F", f"relay+dtls://127.0.0.1:{rp}", name="client", env=GRACE)
    msgs = [b"a", b"b" * 1000, b"c" * 3000]
    assert udp_exchange(up, msgs) == msgs
    wait_port(tp)
    data = os.urandom(200_000)
    with socket.create_connection(("127.0.0.1", tp), timeout=5) as t:
        t.sendall(data)
        got = b""
        while len(got) < len(data):
            d = t.recv(65536)
            if not d:
                break
            got += d
    assert got == data
    assert "(udp)" in srv.text() and "(tcp)" in srv.text()


def test_tcp_over_dtls_command_line(pw, echo):
    """-L tcp+dtls://:port/target and a client -F forward+dtls://: a stream over records."""
    techo = echo()
    dp, tp = free_port(socket.SOCK_DGRAM), free_port()
    pw.start("-L", f"tcp+dtls://127.0.0.1:{dp}/127.0.0.1:{techo.port}", name="server", env=GRACE)
    pw.start("-L", f"tcp://127.0.0.1:{tp}/127.0.0.1:9", "-F", f"forward+dtls://127.0.0.1:{dp}", name="client", env=GRACE)
    wait_port(tp)
    with socket.create_connection(("127.0.0.1", tp), timeout=5) as t:
        for n in (5, 20_000, 60_000):
            data = os.urandom(n)
            t.sendall(data)
            got = b""
            while len(got) < n:
                d = t.recv(65536)
                assert d, "closed early"
                got += d
            assert got == data


# ---- authentication ----


def s_client(port, *args, stdin=b"hello\n"):
    r = subprocess.run(["openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{port}"] + list(args),
                       input=stdin, capture_output=True, timeout=15)
    return (r.stdout + r.stderr).decode(errors="replace")


def test_mutual_auth_refused_without_client_cert(pw, echo, certs):
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    srv = pw.start(config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    out = s_client(sp, "-CAfile", certs.good_ca)
    assert "alert handshake failure" in out
    srv.wait_log("dtls handshake with 127.0.0.1:")
    assert "No client certification received" in srv.text()
    time.sleep(0.3)
    assert target.connections == 0


def test_client_cert_from_wrong_ca_refused(pw, echo, certs):
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    srv = pw.start(config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    out = s_client(sp, "-CAfile", certs.good_ca, "-cert", certs.badclient, "-key", certs.badclient_key)
    assert "alert unknown ca" in out
    srv.wait_log("not correctly signed by the trusted CA")
    assert target.connections == 0


def test_no_client_cert_needed_without_cafile(pw, echo, certs):
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    pw.start(config=server_yaml(sp, target.port, certs, ca=False), name="server", env=GRACE)
    c = DtlsClient(sp, ca=certs.good_ca)
    c.handshake()
    c.send(b"no cert")
    assert c.recv() == b"no cert"
    c.close()


def test_dialer_refuses_server_from_wrong_ca(pw, echo, certs):
    target = echo(udp=True)
    sp, cp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    pw.start(config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    cli = pw.start(config=client_yaml(cp, sp, certs, ca=certs.bad_ca), name="client", env=GRACE)
    assert udp_no_reply(cp, b"should not pass")
    cli.wait_log("node n0: dtls handshake with 127.0.0.1:")
    assert "The certificate is not correctly signed by the trusted CA" in cli.text()
    assert target.connections == 0


def test_dialer_secure_checks_the_name(pw, echo, certs):
    target = echo(udp=True)
    sp, cp, cp2 = (free_port(socket.SOCK_DGRAM) for _ in range(3))
    pw.start(config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    cli = pw.start(config=client_yaml(cp, sp, certs, secure=True, name="wrong.example"), name="client", env=GRACE)
    assert udp_no_reply(cp, b"x")
    cli.wait_log("does not match with the expected CN")
    # caFile without secure: the chain is checked, the name is not (GOST's rule).
    pw.start(config=client_yaml(cp2, sp, certs, secure=False, name="wrong.example"), name="client2", env=GRACE)
    assert udp_exchange(cp2, [b"chain only"]) == [b"chain only"]


# ---- timers, MTU, sessions ----


def test_dialer_handshake_timeout(pw):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        cp = free_port(socket.SOCK_DGRAM)
        cfg = f"""
services:
- name: ucli
  addr: 127.0.0.1:{cp}
  handler: {{type: udp, chain: c}}
  listener: {{type: udp}}
  forwarder: {{nodes: [{{name: t, addr: 127.0.0.1:9}}]}}
chains:
- name: c
  hops:
  - name: h
    nodes:
    - name: n0
      addr: 127.0.0.1:{silent.getsockname()[1]}
      connector: {{type: forward}}
      dialer: {{type: dtls, metadata: {{handshakeTimeout: 1s, flightInterval: 200ms}}}}
"""
        cli = pw.start(config=cfg, name="client", env=GRACE)
        t0 = time.time()
        assert udp_no_reply(cp, b"x", wait=0.5)
        cli.wait_log("dtls handshake with 127.0.0.1:", timeout=5)
        assert "timed out" in cli.text()
        assert time.time() - t0 < 4
        # The flight was retransmitted on the flight timer before the deadline.
        silent.settimeout(0.1)
        hellos = 0
        try:
            while True:
                silent.recvfrom(65535)
                hellos += 1
        except socket.timeout:
            pass
        assert hellos >= 2
    finally:
        silent.close()


class UdpRecorder:
    """A UDP relay between one client and the server that records datagram sizes and types."""

    def __init__(self, server_port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up.connect(("127.0.0.1", server_port))
        self.client = None
        self.seen = []  # (direction, first record type, size)
        self.closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.closed:
            try:
                r, _, _ = select.select([self.sock, self.up], [], [], 0.1)
                for s in r:
                    data, addr = s.recvfrom(65535)
                    if s is self.sock:
                        self.client = addr
                        self.seen.append(("c2s", data[0], len(data)))
                        self.up.send(data)
                    elif self.client:
                        self.seen.append(("s2c", data[0], len(data)))
                        self.sock.sendto(data, self.client)
            except OSError:
                return

    def close(self):
        self.closed = True
        self.sock.close()
        self.up.close()


def test_mtu_shapes_handshake_datagrams_only(pw, echo, certs):
    target = echo(udp=True)
    sp, cp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    pw.start(config=server_yaml(sp, target.port, certs, extra_md="mtu: 400"), name="server", env=GRACE)
    rec = UdpRecorder(sp)
    try:
        pw.start(config=client_yaml(cp, rec.port, certs, extra_md="mtu: 400"), name="client", env=GRACE)
        big = b"m" * 1400
        assert udp_exchange(cp, [b"small", big]) == [b"small", big]
        handshake = [s for s in rec.seen if s[1] == 22]
        app = [s for s in rec.seen if s[1] == 23]
        assert handshake, rec.seen
        assert max(n for _, _, n in handshake) <= 400, handshake
        # the certificate flights needed more than one 400-byte datagram each way
        assert len([s for s in handshake if s[0] == "s2c"]) >= 3
        assert len([s for s in handshake if s[0] == "c2s"]) >= 3
        # an application datagram larger than the MTU is still one record, one datagram
        assert ("c2s", 23, 1400 + 37) in app and ("s2c", 23, 1400 + 37) in app
    finally:
        rec.close()


def test_garbage_opens_no_session(pw, echo, certs):
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    srv = pw.start("-D", config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # random bytes, an application-data record header, a handshake record that is not a ClientHello
    for junk in (os.urandom(100), bytes([23, 254, 253]) + os.urandom(40), bytes([22, 254, 253, 0, 0]) + bytes(8) + b"\x0b" + bytes(30), b"\x16"):
        s.sendto(junk, ("127.0.0.1", sp))
    s.close()
    srv.wait_log("not a DTLS ClientHello")
    c = DtlsClient(sp, certs.client, certs.client_key, certs.good_ca)
    c.handshake()
    c.send(b"still fine")
    assert c.recv() == b"still fine"
    c.close()
    assert target.connections == 1


def test_client_reconnecting_from_the_same_port(pw, echo, certs):
    """A client that vanished without close_notify and comes back from the same address gets a new session."""
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    srv = pw.start("-D", config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    local = free_port(socket.SOCK_DGRAM)
    c = DtlsClient(sp, certs.client, certs.client_key, certs.good_ca, local_port=local)
    c.handshake()
    c.send(b"first")
    assert c.recv() == b"first"
    c.close(notify=False)
    c2 = DtlsClient(sp, certs.client, certs.client_key, certs.good_ca, local_port=local)
    c2.handshake()
    c2.send(b"second")
    assert c2.recv() == b"second"
    c2.close()
    assert "starts a new session" in srv.text()


def test_close_notify_reaches_the_server(pw, echo, certs):
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    srv = pw.start("-D", config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    c = DtlsClient(sp, certs.client, certs.client_key, certs.good_ca)
    c.handshake()
    c.send(b"bye")
    assert c.recv() == b"bye"
    c.close()
    srv.wait_log("dtls peer 127.0.0.1:")
    assert "closed" in srv.text()


# ---- OpenSSL's server as the peer of the dialer ----


def test_dialer_against_openssl_server(pw, certs):
    sp, cp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    srv = subprocess.Popen(["openssl", "s_server", "-dtls1_2", "-listen", "-accept", str(sp), "-quiet",
                            "-cert", certs.server, "-key", certs.server_key, "-CAfile", certs.good_ca,
                            "-Verify", "2"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        pw.start(config=client_yaml(cp, sp, certs, secure=True), name="client", env=GRACE)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        u.sendto(b"to openssl\n", ("127.0.0.1", cp))
        r, _, _ = select.select([srv.stdout], [], [], 5)
        assert r, "s_server got nothing"
        assert os.read(srv.stdout.fileno(), 4096) == b"to openssl\n"
        srv.stdin.write(b"from openssl\n")
        srv.stdin.flush()
        assert u.recvfrom(65535)[0] == b"from openssl\n"
        u.close()
    finally:
        srv.kill()
        srv.wait()


# ---- configuration errors ----


@pytest.mark.parametrize("tls,md,needle", [
    ("{certFile: CERT}", "", "certFile and keyFile must be given together"),
    ("{certFile: /nonexistent.pem, keyFile: KEY}", "", "certFile /nonexistent.pem"),
    ("{certFile: CERT, keyFile: KEY, caFile: /nonexistent-ca.pem}", "", "caFile /nonexistent-ca.pem"),
    ("{certFile: CERT, keyFile: OTHERKEY}", "", "does not match certFile"),
    ("{certFile: CERT, keyFile: KEY}", "mtu: 10", "mtu"),
    ("{certFile: CERT, keyFile: KEY}", "handshakeTimeout: soon", "handshakeTimeout"),
])
def test_config_errors(pw, certs, tls, md, needle):
    tls = tls.replace("CERT", certs.server).replace("OTHERKEY", certs.client_key).replace("KEY", certs.server_key)
    mdl = f"\n    metadata: {{{md}}}" if md else ""
    code, out = pw.run("-t", config=f"""
services:
- name: d
  addr: 127.0.0.1:1
  handler: {{type: udp}}
  listener:
    type: dtls
    tls: {tls}{mdl}
  forwarder: {{nodes: [{{name: t, addr: 127.0.0.1:9}}]}}
""")
    assert code == 2, out
    assert needle in out


def test_listener_handshake_timeout(pw, echo, certs):
    """A client that returns the cookie and then goes silent is dropped at handshakeTimeout."""
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    srv = pw.start(config=server_yaml(sp, target.port, certs, extra_md="handshakeTimeout: 1s"), name="server",
                   env=GRACE)
    c = DtlsClient(sp, certs.client, certs.client_key, certs.good_ca)
    # ClientHello, HelloVerifyRequest, ClientHello with the cookie: then nothing more from us.
    for _ in range(2):
        try:
            c.c.do_handshake()
        except SSL.WantReadError:
            c._flush()
        assert c._feed(3)
    t0 = time.time()
    srv.wait_log("timed out", timeout=5)
    assert "dtls handshake with 127.0.0.1:" in srv.text()
    assert time.time() - t0 < 3
    c.close(notify=False)
    assert target.connections == 0


def test_dtls_and_tcp_listeners_share_a_port_number(pw, echo, certs):
    """UDP and TCP are different sockets: a dtls listener beside a TCP one on the same port (GoDoxy's layout)."""
    uecho, techo = echo(udp=True), echo()
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{techo.port}", "-L", f"relay+dtls://127.0.0.1:{port}",
             name="server", env=GRACE)
    up = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{up}/127.0.0.1:{uecho.port}", "-F", f"relay+dtls://127.0.0.1:{port}",
             name="client", env=GRACE)
    assert udp_exchange(up, [b"over udp"]) == [b"over udp"]
    wait_port(port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as t:
        t.sendall(b"over tcp")
        assert t.recv(100) == b"over tcp"
