"""Shadowsocks AEAD (handler ss, connector ss) against shadowsocks-libev, and a client of our own.

- ss-local (SOCKS5) -> portway -L ss://... -> a local web server, fetched with curl --socks5-hostname;
- portway -L socks5:// -F ss://... -> ss-server -> the web server;
- each cipher, 16 MiB with a checksum, a wrong password (no byte back, closed at readTimeout),
  garbage, a server-speaks-first target, configuration errors.
"""
import base64
import hashlib
import hmac
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import curl, free_port, wait_port

pytestmark = pytest.mark.skipif(not shutil.which("ss-server") or not shutil.which("ss-local"),
                                reason="shadowsocks-libev is not installed (apt-get install shadowsocks-libev)")

METHODS = ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"]
KEYLEN = {"aes-128-gcm": 16, "aes-192-gcm": 24, "aes-256-gcm": 32, "chacha20-ietf-poly1305": 32}
PASSWORD = "s3cret-pass"


@pytest.fixture
def procs():
    """Peers started by a test (ss-local, ss-server, helper servers), stopped at teardown."""
    started = []

    def start(*args):
        p = subprocess.Popen(list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(p)
        return p

    yield start
    for p in started:
        p.terminate()
    for p in started:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def ss_local(procs, server_port, method, password=PASSWORD):
    port = free_port()
    procs("ss-local", "-s", "127.0.0.1", "-p", str(server_port), "-b", "127.0.0.1", "-l", str(port),
          "-k", password, "-m", method)
    wait_port(port)
    return port


def ss_server(procs, method, password=PASSWORD):
    port = free_port()
    procs("ss-server", "-s", "127.0.0.1", "-p", str(port), "-k", password, "-m", method)
    wait_port(port)
    return port


def portway_ss(pw, method, password=PASSWORD, query=""):
    port = free_port()
    pw.start("-L", f"ss://{method}:{password}@127.0.0.1:{port}{query}")
    wait_port(port)
    return port


def portway_socks_via_ss(pw, ss_port, method, password=PASSWORD):
    port = free_port()
    pw.start("-L", f"socks5://127.0.0.1:{port}", "-F", f"ss://{method}:{password}@127.0.0.1:{ss_port}")
    wait_port(port)
    return port


def fetch(socks_port, http_port, path="index.html", out=None):
    args = ["--socks5-hostname", f"127.0.0.1:{socks_port}", f"http://127.0.0.1:{http_port}/{path}"]
    if out:
        args = ["-o", str(out)] + args
    return curl(*args, timeout=60)


def big_file(http_server, size=16 << 20):
    data = os.urandom(size)
    (http_server.www / "big.bin").write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- a Shadowsocks AEAD client of our own (hashlib/hmac and the cryptography package) ----

def kdf(password, n):
    out, prev = b"", b""
    while len(out) < n:
        prev = hashlib.md5(prev + password).digest()
        out += prev
    return out[:n]


def hkdf_sha1(key, salt, n):
    prk = hmac.new(salt, key, hashlib.sha1).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < n:
        t = hmac.new(prk, t + b"ss-subkey" + bytes([i]), hashlib.sha1).digest()
        okm += t
        i += 1
    return okm[:n]


class Aead:
    def __init__(self, method, key, salt):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
        sub = hkdf_sha1(key, salt, len(key))
        self.a = ChaCha20Poly1305(sub) if method.startswith("chacha") else AESGCM(sub)
        self.n = 0

    def seal(self, b):
        c = self.a.encrypt(self.n.to_bytes(12, "little"), b, None)
        self.n += 1
        return c

    def open(self, b):
        p = self.a.decrypt(self.n.to_bytes(12, "little"), b, None)
        self.n += 1
        return p


def ss_encode(method, password, chunks):
    key = kdf(password.encode(), KEYLEN[method])
    salt = os.urandom(KEYLEN[method])
    a = Aead(method, key, salt)
    out = salt
    for c in chunks:
        out += a.seal(struct.pack(">H", len(c))) + a.seal(c)
    return out


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            raise EOFError(f"closed after {len(out)} of {n} bytes")
        out += d
    return out


def ss_decode_all(s, method, password):
    """Reads a whole server stream until EOF; returns the plaintext."""
    key = kdf(password.encode(), KEYLEN[method])
    a = Aead(method, key, recv_exact(s, KEYLEN[method]))
    out = b""
    while True:
        try:
            head = recv_exact(s, 18)
        except EOFError:
            return out
        n = struct.unpack(">H", a.open(head))[0]
        out += a.open(recv_exact(s, n + 16))


def addr(host, port):
    h = host.encode()
    return b"\x03" + bytes([len(h)]) + h + struct.pack(">H", port)


# ---- ss-local -> portway (handler ss) ----

@pytest.mark.parametrize("method", METHODS)
def test_ss_local_to_portway(pw, procs, http_server, method):
    port = portway_ss(pw, method)
    local = ss_local(procs, port, method)
    rc, out, err = fetch(local, http_server.port)
    assert rc == 0, err
    assert out == "hello from the backend\n"
    pw.procs[0].wait_log(f"ss to 127.0.0.1:{http_server.port}")


@pytest.mark.parametrize("method", ["aes-256-gcm", "chacha20-ietf-poly1305"])
def test_ss_local_to_portway_16mib(pw, procs, http_server, tmp_path, method):
    digest = big_file(http_server)
    local = ss_local(procs, portway_ss(pw, method), method)
    rc, _, err = fetch(local, http_server.port, "big.bin", tmp_path / "got.bin")
    assert rc == 0, err
    assert (tmp_path / "got.bin").stat().st_size == 16 << 20
    assert sha256_file(tmp_path / "got.bin") == digest


def test_sip002_base64_userinfo(pw, procs, http_server):
    """GOST reads ss://BASE64(method:password)@host:port too."""
    port = free_port()
    user = base64.urlsafe_b64encode(f"aes-128-gcm:{PASSWORD}".encode()).decode().rstrip("=")
    pw.start("-L", f"ss://{user}@127.0.0.1:{port}")
    wait_port(port)
    rc, out, err = fetch(ss_local(procs, port, "aes-128-gcm"), http_server.port)
    assert rc == 0, err
    assert out == "hello from the backend\n"


# ---- portway (connector ss) -> ss-server ----

@pytest.mark.parametrize("method", METHODS)
def test_portway_to_ss_server(pw, procs, http_server, method):
    socks = portway_socks_via_ss(pw, ss_server(procs, method), method)
    rc, out, err = fetch(socks, http_server.port)
    assert rc == 0, err
    assert out == "hello from the backend\n"


@pytest.mark.parametrize("method", ["aes-128-gcm", "chacha20-ietf-poly1305"])
def test_portway_to_ss_server_16mib(pw, procs, http_server, tmp_path, method):
    digest = big_file(http_server)
    socks = portway_socks_via_ss(pw, ss_server(procs, method), method)
    rc, _, err = fetch(socks, http_server.port, "big.bin", tmp_path / "got.bin")
    assert rc == 0, err
    assert sha256_file(tmp_path / "got.bin") == digest


def test_portway_to_portway_16mib_upload(pw, http_server, echo, method="aes-192-gcm"):
    """Connector and handler of ours; 16 MiB up and back through an echo server, both checked."""
    e = echo()
    socks = portway_socks_via_ss(pw, portway_ss(pw, method), method)
    s = socket.create_connection(("127.0.0.1", socks))
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + struct.pack(">H", e.port))
    assert recv_exact(s, 10)[:2] == b"\x05\x00"
    data = os.urandom(16 << 20)
    got = []

    def reader():
        h = hashlib.sha256()
        n = 0
        while True:
            d = s.recv(1 << 16)
            if not d:
                break
            h.update(d)
            n += len(d)
        got.append((n, h.hexdigest()))

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    t.join(60)
    s.close()
    assert got == [(len(data), hashlib.sha256(data).hexdigest())]


def test_server_speaks_first_target(pw, procs):
    """Nothing written by the application: the connector sends the target alone after a short wait."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    tport = srv.getsockname()[1]

    def banner():
        c, _ = srv.accept()
        c.sendall(b"220 banner first\r\n")
        time.sleep(1)
        c.close()

    threading.Thread(target=banner, daemon=True).start()
    socks = portway_socks_via_ss(pw, ss_server(procs, "aes-256-gcm"), "aes-256-gcm")
    s = socket.create_connection(("127.0.0.1", socks), timeout=5)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + struct.pack(">H", tport))
    assert recv_exact(s, 10)[:2] == b"\x05\x00"
    assert recv_exact(s, 18) == b"220 banner first\r\n"
    s.close()
    srv.close()


# ---- the handler against a client of our own ----

def test_own_client_byte_at_a_time(pw, echo):
    """Address and payload across chunks, each byte its own TCP segment."""
    e = echo()
    port = portway_ss(pw, "chacha20-ietf-poly1305")
    a = addr("127.0.0.1", e.port)
    wire = ss_encode("chacha20-ietf-poly1305", PASSWORD, [a[:3], a[3:] + b"hel", b"lo"])
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(wire)):
        s.sendall(wire[i:i + 1])
        time.sleep(0.002)
    s.shutdown(socket.SHUT_WR)
    assert ss_decode_all(s, "chacha20-ietf-poly1305", PASSWORD) == b"hello"
    s.close()


def no_reply_then_closed(port, payload, read_timeout):
    """Sends payload; asserts nothing ever comes back and the server closes near read_timeout."""
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.time()
    s.sendall(payload)
    s.settimeout(read_timeout * 0.5)
    with pytest.raises(socket.timeout):
        s.recv(1)  # still open, silent
    s.settimeout(read_timeout + 5)
    try:
        d = s.recv(1)
    except ConnectionResetError:
        d = b""
    elapsed = time.time() - t0
    s.close()
    assert d == b"", "the server answered a bad client"
    assert read_timeout * 0.7 < elapsed < read_timeout + 4, elapsed


def test_wrong_password_no_reply_closed_at_read_timeout(pw, echo):
    e = echo()
    port = portway_ss(pw, "aes-256-gcm", query="?readTimeout=2s")
    wire = ss_encode("aes-256-gcm", "not-the-password", [addr("127.0.0.1", e.port) + b"GET / HTTP/1.0\r\n\r\n"])
    no_reply_then_closed(port, wire, 2.0)
    assert e.connections == 0
    pw.procs[0].wait_log("authentication failed")


def test_wrong_password_drained_until_peer_closes(pw):
    """Discarding: the client may keep sending; when it closes, the server closes too (no RST)."""
    port = portway_ss(pw, "aes-128-gcm", query="?readTimeout=30s")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(ss_encode("aes-128-gcm", "wrong", [b"\x01\x7f\x00\x00\x01\x00\x50"]))
    for _ in range(20):
        s.sendall(os.urandom(4096))
    s.settimeout(0.5)
    with pytest.raises(socket.timeout):
        s.recv(1)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(5)
    assert s.recv(1) == b""  # closed in answer to our FIN, long before readTimeout
    s.close()


def test_ss_local_wrong_password_gets_nothing(pw, procs, http_server):
    port = portway_ss(pw, "chacha20-ietf-poly1305", query="?readTimeout=1s")
    local = ss_local(procs, port, "chacha20-ietf-poly1305", password="wrong")
    rc, out, _ = fetch(local, http_server.port)
    assert rc != 0 and out == ""


def test_garbage_then_still_serving(pw, procs, http_server):
    port = portway_ss(pw, "aes-128-gcm", query="?readTimeout=1s")
    socks = []
    for n in (1, 15, 16, 17, 33, 34, 100, 5000, 70000):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(os.urandom(n))
        socks.append(s)
    # a salt then a length claiming more than 0x3FFF would need the key; half a salt, then close
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(os.urandom(8))
    s.close()
    for s in socks:
        s.settimeout(5)
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
        s.close()
    rc, out, err = fetch(ss_local(procs, port, "aes-128-gcm"), http_server.port)
    assert rc == 0, err
    assert out == "hello from the backend\n"


# ---- configuration ----

def test_unknown_method_is_a_config_error(pw):
    rc, out = pw.run("-L", f"ss://rc4-md5:pass@127.0.0.1:{free_port()}")
    assert rc != 0
    assert "unknown shadowsocks method \"rc4-md5\"" in out
    assert "chacha20-ietf-poly1305" in out and "aes-128-gcm" in out


def test_missing_auth_is_a_config_error(pw):
    rc, out = pw.run("-L", f"socks5://127.0.0.1:{free_port()}", "-F", "ss://127.0.0.1:8388")
    assert rc != 0
    assert "shadowsocks needs the method and password" in out


def test_yaml_form(pw, procs, http_server):
    port = free_port()
    pw.start(config=f"""
services:
- name: ss-server
  addr: 127.0.0.1:{port}
  handler:
    type: ss
    auth:
      username: AES-256-GCM
      password: {PASSWORD}
    metadata:
      readTimeout: 5s
  listener:
    type: tcp
""")
    wait_port(port)
    rc, out, err = fetch(ss_local(procs, port, "aes-256-gcm"), http_server.port)
    assert rc == 0, err
    assert out == "hello from the backend\n"


def test_replayed_stream_gets_nothing(pw, echo):
    """A recorded client stream sent again is refused like a wrong password (shadowsocks-libev does too)."""
    e = echo()
    port = portway_ss(pw, "aes-256-gcm", query="?readTimeout=2s")
    wire = ss_encode("aes-256-gcm", PASSWORD, [addr("127.0.0.1", e.port) + b"once"])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(wire)
    s.shutdown(socket.SHUT_WR)
    assert ss_decode_all(s, "aes-256-gcm", PASSWORD) == b"once"
    s.close()
    assert e.connections == 1
    no_reply_then_closed(port, wire, 2.0)
    assert e.connections == 1
    pw.procs[0].wait_log("a salt seen before")


def test_reflected_stream_gets_nothing(pw, echo):
    """The server's own answer sent back to it as a client stream: its salt is known, refused."""
    e = echo()
    port = portway_ss(pw, "aes-128-gcm", query="?readTimeout=2s")
    a = addr("127.0.0.1", e.port)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    # the echo sends back an address too: the answer then reads as a valid request
    s.sendall(ss_encode("aes-128-gcm", PASSWORD, [a + a + b"x"]))
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        answer += d
    s.close()
    assert len(answer) == 16 + 18 + len(a) + 1 + 16
    no_reply_then_closed(port, answer, 2.0)
    assert e.connections == 1
