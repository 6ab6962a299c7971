"""handler sni: TLS routed by the ClientHello's server name (port 443), plain HTTP by the Host
field (port 80 unless given), through the handler's chain; anything else closes."""
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import curl, free_port, wait_port


def make_cert(d, names):
    cert, key = str(d / "sni-cert.pem"), str(d / "sni-key.pem")
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    f"/CN={names[0]}", "-addext", f"subjectAltName={san}", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class TlsServer:
    """A TLS web server on 127.0.0.1 (any port): answers every request with the SNI it saw."""

    def __init__(self, cert, key, port=0):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.names = []
        self.ctx.sni_callback = lambda sock, name, ctx: self.names.append(name) and None
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(10)
            t = self.ctx.wrap_socket(c, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                d = t.recv(4096)
                if not d:
                    return
                data += d
            body = f"tls backend, sni={self.names[-1] if self.names else ''}\n".encode()
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            t.close()
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    def close(self):
        self.closed = True
        self.sock.close()


class ConnectProxy:
    """An HTTP CONNECT proxy that records each target and connects every one to 127.0.0.1:backend."""

    def __init__(self, backend_port):
        self.backend = backend_port
        self.targets = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        head = b""
        while b"\r\n\r\n" not in head:
            d = c.recv(4096)
            if not d:
                c.close()
                return
            head += d
        line = head.split(b"\r\n", 1)[0].decode()
        self.targets.append(line.split()[1])
        u = socket.create_connection(("127.0.0.1", self.backend))
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            u.sendall(rest)

        def copy(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        t = threading.Thread(target=copy, args=(u, c), daemon=True)
        t.start()
        copy(c, u)
        t.join(10)
        c.close()
        u.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def tls_backend(tmp_path):
    cert, key = make_cert(tmp_path, ["a.test", "b.test", "localhost"])
    s = TlsServer(cert, key)
    yield s
    s.close()


def client_hello(name):
    """The ClientHello a TLS client sends for name, and the object that would go on with it."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def closed_soon(s, timeout=5):
    """The peer closes without sending anything (EOF or reset)."""
    s.settimeout(timeout)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


def test_tls_routed_by_sni_through_chain(pw, tls_backend):
    proxy = ConnectProxy(tls_backend.port)
    port = free_port()
    pw.start("-L", f"sni://127.0.0.1:{port}", "-F", f"http://127.0.0.1:{proxy.port}")
    for name in ("a.test", "b.test"):
        rc, out, err = curl("-k", "--resolve", f"{name}:{port}:127.0.0.1", f"https://{name}:{port}/")
        assert rc == 0, err
        assert out == f"tls backend, sni={name}\n"
    assert proxy.targets == ["a.test:443", "b.test:443"]
    proxy.close()


def test_tls_direct_to_port_443(pw, tmp_path):
    cert, key = make_cert(tmp_path, ["localhost"])
    try:
        backend = TlsServer(cert, key, port=443)
    except OSError as e:
        pytest.skip(f"cannot listen on 127.0.0.1:443: {e}")
    try:
        port = free_port()
        pw.start("-L", f"sni://127.0.0.1:{port}")
        rc, out, err = curl("-k", "--resolve", f"localhost:{port}:127.0.0.1", f"https://localhost:{port}/")
        assert rc == 0, err
        assert out == "tls backend, sni=localhost\n"
    finally:
        backend.close()


def test_http_routed_by_host(pw, http_server):
    port = free_port()
    pw.start("-L", f"sni://127.0.0.1:{port}")
    rc, out, err = curl("-H", f"Host: 127.0.0.1:{http_server.port}", f"http://127.0.0.1:{port}/index.html")
    assert rc == 0, err
    assert out == "hello from the backend\n"


def test_http_keepalive_follows_host(pw, http_server, tmp_path):
    """Each request goes to its own Host; the upstream is dialed anew when the Host changes."""
    other = tmp_path / "www2"
    other.mkdir()
    (other / "index.html").write_text("the other one\n")
    p2 = free_port()
    srv = subprocess.Popen(["python3", "-m", "http.server", str(p2), "--bind", "127.0.0.1", "--directory", str(other)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(p2)
        port = free_port()
        pw.start("-L", f"sni://127.0.0.1:{port}")
        rc, out, err = curl("--http1.1", "-H", "Connection: keep-alive",
                            f"http://127.0.0.1:{port}/index.html", "-H", f"Host: 127.0.0.1:{http_server.port}",
                            "--next", "-H", f"Host: 127.0.0.1:{p2}", f"http://127.0.0.1:{port}/index.html")
        assert rc == 0, err
        assert out == "hello from the backend\nthe other one\n"
    finally:
        srv.terminate()
        srv.wait()


def test_http_bypass_closes(pw, http_server):
    port = free_port()
    pw.start("-L", f"sni://127.0.0.1:{port}?bypass=127.0.0.1")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{http_server.port}\r\n\r\n".encode())
    assert closed_soon(s)
    s.close()


def test_tls_bypass_closes(pw, tls_backend):
    proxy = ConnectProxy(tls_backend.port)
    port = free_port()
    pw.start("-L", f"sni://127.0.0.1:{port}?bypass=*.test", "-F", f"http://127.0.0.1:{proxy.port}")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(client_hello("a.test"))
    assert closed_soon(s)
    s.close()
    assert proxy.targets == []
    proxy.close()


def test_unknown_and_unreachable_names_close(pw):
    port = free_port()
    pw.start("-L", f"sni://127.0.0.1:{port}?dialTimeout=3s")
    for hello in (client_hello("nosuch.invalid"), client_hello(None)):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(hello)
        assert closed_soon(s, 10)
        s.close()
    # plain HTTP to a port where nothing listens
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % free_port())
    assert closed_soon(s, 10)
    s.close()
    rc, _, _ = curl("-k", "--resolve", f"nosuch.invalid:{port}:127.0.0.1", f"https://nosuch.invalid:{port}/",
                    timeout=10)
    assert rc != 0


@pytest.mark.parametrize("junk", [
    b"\x00\x01\x02\x03\x04\x05garbage",
    b"SSH-2.0-OpenSSH_9.0\r\n",
    b"\x16\x03\x01\xff\xff" + b"\x01" * 64,
    b"\x16\x03\x00\x00\x10" + b"\x01" * 16,
    b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00",
    b"GET / HTTP/1.1\r\nHost: \r\n\r\n",
    b"GET / HTTP/1.1\r\n\x01bad\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"*1\r\n$4\r\nPING\r\n",
])
def test_garbage_closes(pw, junk):
    port = free_port()
    p = pw.start("-L", f"sni://127.0.0.1:{port}")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(junk)
    assert closed_soon(s)
    s.close()
    # a client that sends a few bytes and goes away
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"\x16\x03")
    s.close()
    time.sleep(0.1)
    assert p.proc.poll() is None


def test_hello_split_at_every_byte_still_routes(pw, tls_backend):
    proxy = ConnectProxy(tls_backend.port)
    port = free_port()
    pw.start("-L", f"sni://127.0.0.1:{port}", "-F", f"http://127.0.0.1:{proxy.port}")
    hello = client_hello("a.test")
    for cut in range(1, len(hello)):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(hello[:cut])
        time.sleep(0.002)
        s.sendall(hello[cut:])
        s.settimeout(10)
        reply = s.recv(5)
        assert reply[:2] == b"\x16\x03", f"split at {cut}: {reply!r}"
        s.close()
    assert len(proxy.targets) == len(hello) - 1
    assert set(proxy.targets) == {"a.test:443"}
    proxy.close()


def test_hello_byte_by_byte(pw, tls_backend):
    proxy = ConnectProxy(tls_backend.port)
    port = free_port()
    pw.start("-L", f"sni://127.0.0.1:{port}", "-F", f"http://127.0.0.1:{proxy.port}")
    hello = client_hello("b.test")
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(hello)):
        s.sendall(hello[i:i + 1])
        if i % 16 == 0:
            time.sleep(0.001)
    s.settimeout(10)
    assert s.recv(5)[:2] == b"\x16\x03"
    s.close()
    assert proxy.targets == ["b.test:443"]
    proxy.close()


def test_yaml_form(pw, http_server):
    port = free_port()
    pw.start(config=f"""
services:
- name: sni
  addr: 127.0.0.1:{port}
  handler:
    type: sni
    metadata:
      readTimeout: 5s
  listener:
    type: tcp
""")
    rc, out, err = curl("-H", f"Host: 127.0.0.1:{http_server.port}", f"http://127.0.0.1:{port}/index.html")
    assert rc == 0, err
    assert out == "hello from the backend\n"


def test_auth_is_refused(pw):
    code, out = pw.run("-t", "-L", f"sni://user:pass@127.0.0.1:{free_port()}")
    assert code != 0
