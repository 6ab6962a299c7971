"""GoDoxy agent stream protocol (doc/godoxy.md): the stream handler (agent side) over tls and
dtls, the agent HTTPS API on the same port, the stream connector (GoDoxy side), `portway probe`
and `portway cert`.

Certificates come from `portway cert` (GoDoxy style: SAN godoxy.agent). The peers: portway on
both sides, curl, Python's ssl module and pyOpenSSL's DTLS as raw clients that write headers
built here independently (zlib.crc32), and echo and web servers that count connections.
"""
import base64
import json
import os
import socket
import ssl
import struct
import subprocess
import threading
import time
import zlib

import pytest

from conftest import PORTWAY, curl, free_port, wait_port
from test_dtls import DtlsClient

GRACE = {"PORTWAY_GRACE": "0.2"}
ALPN = "godoxy-agent-stream/1"

# ---- the header, written from the spec (doc/protocols/godoxy-stream.md 1.2), not from our codec ----


def header(host=b"", port=b"", flag=0):
    body = b"0.1.0\0\0\0" + bytes([len(host)]) + host.ljust(255, b"\0") + bytes([len(port)]) + \
        port.ljust(5, b"\0") + bytes([flag])
    assert len(body) == 271
    return body + struct.pack(">I", zlib.crc32(body))


HEALTH = header(flag=1)


def test_header_vectors():
    """The three CRC vectors of the spec, from this independent encoder."""
    assert HEALTH[-4:] == bytes.fromhex("7d621c75")
    assert header(b"example.com", b"443")[-4:] == bytes.fromhex("e89b2e09")
    assert header(b"127.0.0.1", b"8080")[-4:] == bytes.fromhex("249cedad")


# ---- certificates ----


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("godoxy-certs")
    good, bad = d / "good", d / "bad"
    for sub in (good, bad):
        r = subprocess.run([PORTWAY, "cert", "--dir", str(sub)], capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr.decode()

    class C:
        pass

    c = C()
    c.dir = good
    for n in ("ca", "server", "client"):
        setattr(c, n, str(good / f"{n}.pem"))
        setattr(c, n + "_key", str(good / f"{n}.key"))
    c.bad_client, c.bad_client_key, c.bad_ca = str(bad / "client.pem"), str(bad / "client.key"), str(bad / "ca.pem")
    return c


def agent_query(c):
    return f"certFile={c.server}&keyFile={c.server_key}&caFile={c.ca}"


def client_query(c, cert=None, key=None, ca=None):
    return f"caFile={ca or c.ca}&certFile={cert or c.client}&keyFile={key or c.client_key}"


def start_agent(pw, certs, port=None, extra="", tcp=True, udp=True, name="agent"):
    port = port or free_port()
    args = ["-D"]
    if tcp:
        args += ["-L", f"stream+tls://127.0.0.1:{port}?{agent_query(certs)}{extra}"]
    if udp:
        args += ["-L", f"stream+dtls://127.0.0.1:{port}?{agent_query(certs)}{extra}"]
    p = pw.start(*args, name=name, env=GRACE)
    p.port = port
    return p


def tls_client(port, certs, alpn=(ALPN,), cert=True, key=None, certfile=None, ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca or certs.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(certfile or certs.client, key or certs.client_key)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname="godoxy.agent")


def closed_quietly(s, timeout=3.0):
    """True when the peer ends the session without sending a byte."""
    s.settimeout(timeout)
    try:
        return s.recv(100) == b""
    except (ssl.SSLError, ConnectionResetError):
        return True


def no_bad_log(p):
    bad = [line for line in p.text().splitlines() if " warn " in line or " error " in line]
    assert not bad, "\n".join(bad)


# ---- portway cert ----


def test_cert_helper(tmp_path, certs):
    d = tmp_path / "c"
    r = subprocess.run([PORTWAY, "cert", "--dir", str(d), "--san", "127.0.0.1", "--san", "agent.lan", "--env"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    for n in ("ca", "server", "client"):
        assert (d / f"{n}.pem").exists() and (d / f"{n}.key").exists()
        assert (d / f"{n}.key").stat().st_mode & 0o777 == 0o600
        assert (d / f"{n}.key").read_text().startswith("-----BEGIN EC PRIVATE KEY-----")
    v = subprocess.run(["openssl", "verify", "-CAfile", str(d / "ca.pem"), str(d / "server.pem"), str(d / "client.pem")],
                       capture_output=True)
    assert v.returncode == 0, v.stdout + v.stderr

    def text(name):
        return subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(d / name)], capture_output=True,
                              check=True).stdout.decode()

    ca, srv, cli = text("ca.pem"), text("server.pem"), text("client.pem")
    assert "Subject: O = GoDoxy, CN = godoxy.agent" in ca and "CA:TRUE, pathlen:0" in ca
    assert "Certificate Sign, CRL Sign" in ca
    for t in (ca, srv, cli):
        assert "ecdsa-with-SHA256" in t and "prime256v1" in t
        assert "3026 GMT" in t or "3027 GMT" in t  # a thousand years
    assert "OU = Server" in srv and "TLS Web Server Authentication" in srv
    assert "DNS:godoxy.agent, IP Address:127.0.0.1, DNS:agent.lan" in srv
    assert "OU = Client" in cli and "TLS Web Client Authentication" in cli and "DNS:godoxy.agent" in cli
    assert "TLS Web Server" not in cli
    # GoDoxy's env format: base64(PEM cert);base64(PEM key)
    env = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("AGENT_"))
    c, k = env["AGENT_CA_CERT"].split(";")
    assert base64.b64decode(c).decode() == (d / "ca.pem").read_text()
    assert base64.b64decode(k).decode() == (d / "ca.key").read_text()
    c, k = env["AGENT_SSL_CERT"].split(";")
    assert base64.b64decode(c).decode() == (d / "server.pem").read_text()
    # Never overwrites without --force; nothing is written then.
    before = (d / "ca.pem").read_text()
    r = subprocess.run([PORTWAY, "cert", "--dir", str(d)], capture_output=True, timeout=30)
    assert r.returncode == 1 and b"exists" in r.stderr
    assert (d / "ca.pem").read_text() == before
    r = subprocess.run([PORTWAY, "cert", "--dir", str(d), "--force"], capture_output=True, timeout=30)
    assert r.returncode == 0 and (d / "ca.pem").read_text() != before
    r = subprocess.run([PORTWAY, "cert", "--bogus"], capture_output=True, timeout=30)
    assert r.returncode == 2
    r = subprocess.run([PORTWAY, "cert", "--san", "a b"], capture_output=True, timeout=30)
    assert r.returncode == 2


# ---- TCP streams ----


def test_tcp_stream_to_echo(pw, echo, certs):
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    lp = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{lp}/127.0.0.1:{target.port}",
             "-F", f"stream+tls://127.0.0.1:{agent.port}?{client_query(certs)}", name="client", env=GRACE)
    with socket.create_connection(("127.0.0.1", lp), timeout=5) as s:
        data = os.urandom(300000)
        threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
        got = b""
        while len(got) < len(data):
            chunk = s.recv(65536)
            assert chunk, "closed early"
            got += chunk
        assert got == data
    assert target.connections == 1
    agent.wait_log(f"-> 127.0.0.1:{target.port}")


def test_tcp_stream_web_through_local_forward(pw, http_server, certs):
    agent = start_agent(pw, certs, udp=False)
    lp = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{lp}/127.0.0.1:{http_server.port}",
             "-F", f"stream+tls://127.0.0.1:{agent.port}?{client_query(certs)}", name="client", env=GRACE)
    (http_server.www / "big.bin").write_bytes(os.urandom(2_000_000))
    rc, out, err = curl(f"http://127.0.0.1:{lp}/")
    assert rc == 0 and out == "hello from the backend\n", err
    r = subprocess.run(["curl", "-sS", "--max-time", "20", f"http://127.0.0.1:{lp}/big.bin"], capture_output=True)
    assert r.returncode == 0 and r.stdout == (http_server.www / "big.bin").read_bytes()


def test_raw_client_header_and_payload_in_one_write(pw, echo, certs):
    """A GoDoxy-like client: header and first payload in one TLS write, then more; the agent
    sends no byte of its own, only the echo."""
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    s = tls_client(agent.port, certs)
    assert s.selected_alpn_protocol() == ALPN
    s.sendall(header(b"127.0.0.1", str(target.port).encode()) + b"ping")
    s.settimeout(5)
    assert s.recv(4) == b"ping"
    s.sendall(b"pong")
    assert s.recv(4) == b"pong"
    s.close()


def test_header_in_pieces(pw, echo, certs):
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    s = tls_client(agent.port, certs)
    h = header(b"localhost", str(target.port).encode())
    for i in range(0, len(h), 50):
        s.sendall(h[i:i + 50])
        time.sleep(0.02)
    s.sendall(b"abc")
    s.settimeout(5)
    assert s.recv(3) == b"abc"
    s.close()


def test_health_check_closes_without_dialing(pw, echo, certs):
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    # the canonical health check, and one that names a destination: the flag wins
    for h in (HEALTH, header(b"127.0.0.1", str(target.port).encode(), flag=1),
              header(b"127.0.0.1", str(target.port).encode(), flag=0xff)):
        s = tls_client(agent.port, certs)
        s.sendall(h)
        assert closed_quietly(s)
        s.close()
    agent.wait_log("health check")
    time.sleep(0.2)
    assert target.connections == 0
    no_bad_log(agent)


def test_flag_bits_other_than_bit0_are_ignored(pw, echo, certs):
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    s = tls_client(agent.port, certs)
    s.sendall(header(b"127.0.0.1", str(target.port).encode(), flag=0xfe) + b"hi")
    s.settimeout(5)
    assert s.recv(2) == b"hi"
    s.close()
    assert target.connections == 1


@pytest.mark.parametrize("corrupt", ["bitflip", "version", "portlen", "crc_le", "short"])
def test_invalid_header_closed_without_dialing(pw, echo, certs, corrupt):
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    h = bytearray(header(b"127.0.0.1", str(target.port).encode()))
    if corrupt == "bitflip":
        h[20] ^= 0x04
    elif corrupt == "version":
        h[0:8] = b"0.2.0\0\0\0"
        h[271:] = struct.pack(">I", zlib.crc32(bytes(h[:271])))
    elif corrupt == "portlen":
        h[264] = 6
        h[271:] = struct.pack(">I", zlib.crc32(bytes(h[:271])))
    elif corrupt == "crc_le":
        h[271:] = struct.pack("<I", zlib.crc32(bytes(h[:271])))
    s = tls_client(agent.port, certs)
    if corrupt == "short":
        s.sendall(bytes(h[:200]))
        s.shutdown(socket.SHUT_WR)  # leaves TLS: what follows is read as raw records (tickets), then EOF
        s.settimeout(3)
        while s.recv(4096):
            pass
    else:
        s.sendall(bytes(h) + b"payload")
        assert closed_quietly(s)
    s.close()
    if corrupt != "short":
        agent.wait_log("invalid stream header")
    else:
        agent.wait_log("closed before the stream header")
    time.sleep(0.2)
    assert target.connections == 0


def test_header_timeout(pw, echo, certs):
    target = echo()
    agent = start_agent(pw, certs, udp=False, extra="&readTimeout=500ms")
    s = tls_client(agent.port, certs)
    s.sendall(header(b"127.0.0.1", str(target.port).encode())[:100])
    t0 = time.time()
    assert closed_quietly(s, timeout=5)
    assert 0.3 < time.time() - t0 < 3
    agent.wait_log("no stream header within")
    assert target.connections == 0


def test_destination_refused_closes(pw, certs):
    agent = start_agent(pw, certs, udp=False)
    s = tls_client(agent.port, certs)
    s.sendall(header(b"127.0.0.1", str(free_port()).encode()))
    assert closed_quietly(s)
    agent.wait_log("failed: Connection refused")


def test_no_client_certificate_refused(pw, echo, certs):
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    for kw in ({"cert": False}, {"certfile": certs.bad_client, "key": certs.bad_client_key}):
        failed = False
        try:
            s = tls_client(agent.port, certs, **kw)
            # TLS 1.3: the client finishes first; the server's alert comes with the first read
            s.sendall(header(b"127.0.0.1", str(target.port).encode()) + b"x")
            s.settimeout(3)
            s.recv(10)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            failed = True
        assert failed
    time.sleep(0.2)
    assert target.connections == 0
    agent.wait_log("TLS handshake with 127.0.0.1")
    # TLS 1.2 too: the handshake itself fails
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{agent.port}", "-tls1_2", "-alpn", ALPN,
                        "-CAfile", certs.ca, "-servername", "godoxy.agent"],
                       input=b"", capture_output=True, timeout=10)
    assert b"alert" in r.stderr + r.stdout or r.returncode != 0


def test_tls12_minimum_and_both_versions(pw, echo, certs):
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(certs.ca)
        ctx.load_cert_chain(certs.client, certs.client_key)
        ctx.set_alpn_protocols([ALPN])
        ctx.minimum_version = ctx.maximum_version = v
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", agent.port), timeout=5),
                             server_hostname="godoxy.agent") as s:
            assert s.version() == ("TLSv1.2" if v == ssl.TLSVersion.TLSv1_2 else "TLSv1.3")
            assert s.selected_alpn_protocol() == ALPN
            s.sendall(header(b"127.0.0.1", str(target.port).encode()) + b"hello")
            assert s.recv(5) == b"hello"
    # below 1.2 is not offered: the handshake fails
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{agent.port}", "-tls1_1", "-cipher",
                        "DEFAULT:@SECLEVEL=0", "-CAfile", certs.ca, "-cert", certs.client, "-key", certs.client_key],
                       input=b"", capture_output=True, timeout=10)
    assert r.returncode != 0 and b"alert protocol version" in r.stderr


def test_alpn_advertised_and_routed(pw, echo, certs):
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    s = tls_client(agent.port, certs, alpn=("h2", "http/1.1"))
    assert s.selected_alpn_protocol() == "http/1.1"
    s.sendall(b"GET /godoxy/agent/name HTTP/1.1\r\nHost: godoxy.agent\r\n\r\n")
    s.settimeout(5)
    assert read_response(s)[0].startswith(b"HTTP/1.1 200 OK")
    s.close()
    s = tls_client(agent.port, certs, alpn=(ALPN, "http/1.1"))
    assert s.selected_alpn_protocol() == "http/1.1"  # the agent's preference order, as Go's server
    s.close()
    # no ALPN at all: the API, as GoDoxy's own API client expects
    s = tls_client(agent.port, certs, alpn=None)
    assert s.selected_alpn_protocol() is None
    s.sendall(b"GET /godoxy/agent/version HTTP/1.1\r\nHost: godoxy.agent\r\nConnection: close\r\n\r\n")
    s.settimeout(5)
    resp = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        resp += d
    assert resp.startswith(b"HTTP/1.1 200 OK") and resp.endswith(b"\r\n\r\nv0.1.0")
    s.close()
    assert target.connections == 0


def test_allow_list(pw, echo, certs):
    allowed, other = echo(), echo()
    agent = start_agent(pw, certs, udp=False, extra=f"&allow=127.0.0.1:{allowed.port}")
    s = tls_client(agent.port, certs)
    s.sendall(header(b"127.0.0.1", str(allowed.port).encode()) + b"ok")
    s.settimeout(5)
    assert s.recv(2) == b"ok"
    s.close()
    s = tls_client(agent.port, certs)
    s.sendall(header(b"127.0.0.1", str(other.port).encode()) + b"no")
    assert closed_quietly(s)
    agent.wait_log("refused by the allow list")
    assert allowed.connections == 1 and other.connections == 0


def test_client_certificates_required_unless_skipped(pw, echo, certs):
    port = free_port()
    rc, out = pw.run("-t", "-L", f"stream+tls://127.0.0.1:{port}?certFile={certs.server}&keyFile={certs.server_key}")
    assert rc == 2 and "caFile" in out and "skipClientCertCheck" in out
    rc, out = pw.run("-t", "-L", f"stream+dtls://127.0.0.1:{port}?certFile={certs.server}&keyFile={certs.server_key}")
    assert rc == 2 and "caFile" in out
    rc, out = pw.run("-t", "-L", f"stream+dtls://127.0.0.1:{port}?{agent_query(certs)}&skipClientCertCheck=true")
    assert rc == 2 and "dtls" in out
    # AGENT_SKIP_CLIENT_CERT_CHECK: no certificate asked even though a CA is configured
    target = echo()
    agent = start_agent(pw, certs, udp=False, extra="&skipClientCertCheck=true")
    s = tls_client(agent.port, certs, cert=False)
    s.sendall(header(b"127.0.0.1", str(target.port).encode()) + b"free")
    s.settimeout(5)
    assert s.recv(4) == b"free"
    s.close()


def test_plain_tcp_listener_is_all_stream(pw, echo):
    target = echo()
    port = free_port()
    pw.start("-L", f"stream://127.0.0.1:{port}", name="agent", env=GRACE)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(header(b"127.0.0.1", str(target.port).encode()) + b"plain")
        assert s.recv(5) == b"plain"


# ---- the agent HTTPS API ----


def api(port, certs, path, extra=()):
    return curl("--cacert", certs.ca, "--cert", certs.client, "--key", certs.client_key, "--resolve",
                f"godoxy.agent:{port}:127.0.0.1", *extra, f"https://godoxy.agent:{port}/godoxy/agent{path}")


@pytest.fixture
def https_server(tmp_path, certs):
    """A small HTTPS server (its certificate is not the agent's business: checks skip verification)."""
    import http.server

    class H(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            code = 503 if self.path.startswith("/down") else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server, certs.server_key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


def test_api_over_http11(pw, echo, http_server, https_server, certs):
    target = echo()
    uecho = echo(udp=True)
    agent = start_agent(pw, certs, udp=False, extra="&agentName=edge-1")
    rc, out, err = api(agent.port, certs, "/info", ("--http1.1",))
    assert rc == 0, err
    info = json.loads(out)
    assert info == {"version": "v0.1.0", "name": "edge-1", "runtime": "docker", "supports_tcp_stream": True,
                    "supports_udp_stream": True}
    rc, out, _ = api(agent.port, certs, "/name")
    assert out == "edge-1"

    def health(q):
        rc, out, err = api(agent.port, certs, "/health?" + q, ("-w", "\n%{http_code}"))
        assert rc == 0, err
        body, code = out.rsplit("\n", 1)
        return int(code), body

    code, body = health(f"scheme=tcp&host=127.0.0.1&port={target.port}")
    r = json.loads(body)
    assert code == 200 and r["healthy"] is True and r["detail"] == "" and isinstance(r["latency"], int)
    assert r["latency"] > 0
    code, body = health(f"scheme=tcp&host=127.0.0.1:{target.port}")
    assert code == 200 and json.loads(body)["healthy"] is True
    code, body = health(f"scheme=tcp&host=127.0.0.1&port={free_port()}")
    r = json.loads(body)
    assert code == 200 and r["healthy"] is False and "refused" in r["detail"]
    code, body = health(f"scheme=udp&host=127.0.0.1&port={uecho.port}")
    assert code == 200 and json.loads(body)["healthy"] is True
    code, body = health(f"scheme=http&host=127.0.0.1:{http_server.port}&path=/")
    assert code == 200 and json.loads(body)["healthy"] is True
    code, body = health(f"scheme=http&host=127.0.0.1:{free_port()}")
    assert code == 200 and json.loads(body)["healthy"] is False
    code, body = health(f"scheme=https&host=127.0.0.1:{https_server}&path=/up&timeout=3000")
    assert code == 200 and json.loads(body)["healthy"] is True, body
    code, body = health(f"scheme=https&host=127.0.0.1:{https_server}&path=/down")
    r = json.loads(body)
    assert code == 200 and r["healthy"] is False and r["detail"] == "Service Unavailable"
    # GoDoxy's 400s and 502
    assert health("host=x")[0] == 400
    assert health("scheme=tcp") == (400, "missing host\n")
    assert health("scheme=http")[0] == 400
    assert health(f"scheme=tcp&host=127.0.0.1:1&port=2") == (400, "port and host with port cannot both be provided\n")
    code, body = health("scheme=tcp&host=127.0.0.1")
    assert code == 502 and "missing port" in body
    assert health("scheme=fileserver")[0] == 400
    # no Docker socket proxy
    rc, out, _ = curl("--cacert", certs.ca, "--cert", certs.client, "--key", certs.client_key, "--resolve",
                      f"godoxy.agent:{agent.port}:127.0.0.1", "-w", "%{http_code}",
                      f"https://godoxy.agent:{agent.port}/v1.41/containers/json")
    assert out.endswith("404")
    assert target.connections == 2  # the two healthy tcp checks


def read_response(s):
    """One HTTP/1.1 response (head and Content-Length body) from s; bytes after it wait for the next call."""
    data = getattr(s, "_pw_rest", b"")
    while b"\r\n\r\n" not in data:
        d = s.recv(4096)
        assert d, data
        data += d
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int([line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")][0])
    while len(rest) < length:
        d = s.recv(4096)
        assert d, data
        rest += d
    s._pw_rest = rest[length:]
    return head, rest[:length]


def test_api_keep_alive_and_errors(pw, certs):
    agent = start_agent(pw, certs, udp=False)
    s = tls_client(agent.port, certs, alpn=("http/1.1",))
    s.settimeout(5)
    s.sendall(b"GET /godoxy/agent/runtime HTTP/1.1\r\nHost: godoxy.agent\r\n\r\n"
              b"GET /godoxy/agent/info HTTP/1.1\r\nHost: godoxy.agent\r\n\r\n")
    head, body = read_response(s)
    assert head.startswith(b"HTTP/1.1 200 OK") and body == b"docker"
    head, body = read_response(s)
    assert head.startswith(b"HTTP/1.1 200 OK") and json.loads(body)["supports_udp_stream"] is True
    s.sendall(b"HEAD /godoxy/agent/info HTTP/1.1\r\nHost: x\r\n\r\n")
    d = s.recv(4096)
    assert d.startswith(b"HTTP/1.1 200 OK") and d.endswith(b"\r\n\r\n")  # no body
    s.sendall(b"POST /godoxy/agent/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    head, body = read_response(s)
    assert head.startswith(b"HTTP/1.1 405")
    s.sendall(b"\x01\x02 garbage\r\n\r\n")
    head, body = read_response(s)
    assert head.startswith(b"HTTP/1.1 400") and b"Connection: close" in head
    assert closed_quietly(s)


def test_api_pipelined_requests(pw, echo, certs):
    """Many pipelined requests, a health check among them: answered in order on one connection."""
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    s = tls_client(agent.port, certs, alpn=("http/1.1",))
    s.settimeout(5)
    reqs = [b"GET /godoxy/agent/runtime HTTP/1.1\r\nHost: x\r\n\r\n"] * 150
    reqs[75] = (f"GET /godoxy/agent/health?scheme=tcp&host=127.0.0.1&port={target.port} HTTP/1.1\r\n"
                f"Host: x\r\n\r\n").encode()
    s.sendall(b"".join(reqs))
    for i in range(150):
        head, body = read_response(s)
        assert head.startswith(b"HTTP/1.1 200 OK"), (i, head)
        assert body == b"docker" if i != 75 else json.loads(body)["healthy"] is True
    s.close()


def test_api_check_outlives_client(pw, certs):
    """A client that leaves while a health check runs: the check ends on its own, nothing leaks,
    and the agent goes on answering."""
    agent = start_agent(pw, certs, udp=False)
    mute = socket.socket()  # accepts (in the kernel) and never answers
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    mp = mute.getsockname()[1]
    s = tls_client(agent.port, certs, alpn=("http/1.1",))
    s.sendall(f"GET /godoxy/agent/health?scheme=http&host=127.0.0.1:{mp}&timeout=800 HTTP/1.1\r\n"
              f"Host: x\r\n\r\n".encode())
    time.sleep(0.2)
    s.close()
    time.sleep(1.2)
    s = tls_client(agent.port, certs, alpn=("http/1.1",))
    t0 = time.time()
    s.sendall(f"GET /godoxy/agent/health?scheme=http&host=127.0.0.1:{mp}&timeout=300 HTTP/1.1\r\n"
              f"Host: x\r\n\r\n".encode())
    s.settimeout(5)
    head, body = read_response(s)
    assert head.startswith(b"HTTP/1.1 200") and b'"healthy":false,"detail":"timeout"' in body, body
    assert 0.25 < time.time() - t0 < 2
    s.close()
    mute.close()


# ---- UDP streams over DTLS ----


def test_udp_stream_to_udp_echo(pw, echo, certs):
    target = echo(udp=True)
    agent = start_agent(pw, certs, tcp=False)
    lp = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{lp}/127.0.0.1:{target.port}",
             "-F", f"stream+dtls://127.0.0.1:{agent.port}?{client_query(certs)}", name="client", env=GRACE)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    for m in (b"one", b"x" * 1200, b"y" * 6000, b"z"):
        s.sendto(m, ("127.0.0.1", lp))
        assert s.recvfrom(65535)[0] == m
    s.close()
    assert target.connections == 4
    agent.wait_log(f"-> 127.0.0.1:{target.port}")


def dtls_client(port, certs, **kw):
    c = DtlsClient(port, cert=kw.get("cert", certs.client), key=kw.get("key", certs.client_key), ca=certs.ca)
    c.handshake()
    return c


def test_dtls_header_record_then_datagrams(pw, echo, certs):
    target = echo(udp=True)
    agent = start_agent(pw, certs, tcp=False)
    c = dtls_client(agent.port, certs)
    c.send(header(b"127.0.0.1", str(target.port).encode()))
    for m in (b"a", b"b" * 700):
        c.send(m)
        assert c.recv() == m
    c.close()
    agent.wait_log("closed by the client")  # close_notify ends the session


def test_dtls_health_and_bad_headers(pw, echo, certs):
    target = echo(udp=True)
    agent = start_agent(pw, certs, tcp=False)
    for rec in (HEALTH, header(b"127.0.0.1", str(target.port).encode(), flag=1)):
        c = dtls_client(agent.port, certs)
        c.send(rec)
        with pytest.raises(Exception):  # the agent's close_notify: no record ever comes
            c.recv(timeout=1.5)
        c.close(notify=False)
    bad = bytearray(header(b"127.0.0.1", str(target.port).encode()))
    bad[100] ^= 1
    for rec in (bytes(bad), header(b"127.0.0.1", str(target.port).encode()) + b"x"):
        c = dtls_client(agent.port, certs)
        c.send(rec)
        c.send(b"data")
        with pytest.raises(Exception):
            c.recv(timeout=1.5)
        c.close(notify=False)
    time.sleep(0.2)
    assert target.connections == 0
    agent.wait_log("invalid stream header")
    assert "a 276-byte record" in agent.text()


def test_dtls_idle_timeout(pw, echo, certs):
    target = echo(udp=True)
    agent = start_agent(pw, certs, tcp=False, extra="&idleTimeout=500ms")
    c = dtls_client(agent.port, certs)
    c.send(header(b"127.0.0.1", str(target.port).encode()))
    c.send(b"hi")
    assert c.recv() == b"hi"
    agent.wait_log("idle timeout", timeout=5)
    c.close(notify=False)


def test_dtls_without_client_certificate_refused(pw, echo, certs):
    target = echo(udp=True)
    agent = start_agent(pw, certs, tcp=False)
    c = DtlsClient(agent.port, cert=None, key=None, ca=certs.ca, timeout=3)
    with pytest.raises(Exception):
        c.handshake()
        c.send(header(b"127.0.0.1", str(target.port).encode()))
        c.send(b"x")
        c.recv(timeout=1)
    c.close(notify=False)
    assert target.connections == 0


# ---- portway probe ----


def probe(*args, timeout=15):
    r = subprocess.run([PORTWAY, "probe"] + list(args), capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def test_probe_exit_codes(pw, echo, http_server, certs):
    target = echo()
    agent = start_agent(pw, certs)
    tls_url = f"stream+tls://127.0.0.1:{agent.port}?{client_query(certs)}"
    dtls_url = f"stream+dtls://127.0.0.1:{agent.port}?{client_query(certs)}"
    rc, out, err = probe(tls_url)
    assert rc == 0 and out.startswith(f"OK stream+tls://127.0.0.1:{agent.port} ") and out.endswith("ms\n"), out + err
    assert "certFile" not in out  # the query stays out of the line
    rc, out, err = probe(dtls_url)
    assert rc == 0 and out.startswith("OK stream+dtls://"), out + err
    rc, out, _ = probe("--json", tls_url)
    j = json.loads(out)
    assert rc == 0 and j["healthy"] is True and j["latency_ms"] > 0 and j["url"].startswith("stream+tls://")
    # a wrong client certificate (another CA): refused
    rc, out, _ = probe(f"stream+tls://127.0.0.1:{agent.port}?{client_query(certs, certs.bad_client, certs.bad_client_key)}")
    assert rc == 1 and out.startswith("FAIL") and "refused" in out and "alert" in out, out
    rc, out, _ = probe("--timeout", "2s",
                       f"stream+dtls://127.0.0.1:{agent.port}?{client_query(certs, certs.bad_client, certs.bad_client_key)}")
    assert rc == 1 and out.startswith("FAIL"), out
    # the agent's certificate from another CA than ours
    rc, out, _ = probe(f"stream+tls://127.0.0.1:{agent.port}?{client_query(certs, ca=certs.bad_ca)}")
    assert rc == 1 and "certificate verify failed" in out, out
    # the health checks did not log errors, and dialed nothing
    time.sleep(0.2)
    assert target.connections == 0
    assert "health check" in agent.text()
    # a stopped agent
    agent.stop()
    rc, out, _ = probe(tls_url)
    assert rc == 1 and "refused" in out, out
    rc, out, _ = probe("--timeout", "1s", "--json", dtls_url)
    assert rc == 1 and json.loads(out)["healthy"] is False
    # tcp and http endpoints
    assert probe(f"tcp://127.0.0.1:{target.port}")[0] == 0
    assert probe(f"tcp://127.0.0.1:{free_port()}")[0] == 1
    assert probe(f"http://127.0.0.1:{http_server.port}/")[0] == 0
    assert probe(f"http://127.0.0.1:{free_port()}/")[0] == 1
    # usage errors
    for args in ((), ("a", "b"), ("--timeout", "x", tls_url), ("not-a-url",), ("tcp://nohost",),
                 ("--target", "nope", "relay://127.0.0.1:1")):
        rc, _, err = probe(*args)
        assert rc == 2, (args, err)


def test_probe_not_an_agent(pw, certs):
    """A TLS server without the stream ALPN id (an old agent) fails the probe, as GoDoxy's."""
    port = free_port()
    pw.start("-L", f"tcp+tls://127.0.0.1:{port}/127.0.0.1:9?certFile={certs.server}&keyFile={certs.server_key}",
             name="tlsonly")
    rc, out, _ = probe(f"stream+tls://127.0.0.1:{port}?{client_query(certs)}")
    assert rc == 1 and "ALPN" in out, out


def test_probe_relay_node(pw, echo):
    target = echo()
    port = free_port()
    pw.start("-L", f"relay://127.0.0.1:{port}", name="relay")
    assert probe(f"relay://127.0.0.1:{port}")[0] == 0
    rc, out, err = probe("--target", f"127.0.0.1:{target.port}", f"relay://127.0.0.1:{port}")
    assert rc == 0, out + err
    assert probe(f"relay://127.0.0.1:{free_port()}")[0] == 1


def test_preset_is_valid(certs, tmp_path):
    preset = os.path.join(os.path.dirname(__file__), "../../etc/presets/godoxy-agent.yaml")
    text = open(preset).read().replace("/etc/portway/godoxy", str(certs.dir)).replace('":8890"',
                                                                                      f'"127.0.0.1:{free_port()}"')
    path = tmp_path / "preset.yaml"
    path.write_text(text)
    # -t keeps the model until exit: leak checks do not apply to it
    r = subprocess.run([PORTWAY, "-t", "-C", str(path)], capture_output=True, timeout=10,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"2 services" in r.stdout
