"""The tls transport: listener and dialer, against openssl s_client, python's
ssl module, curl and portway itself; certificates made by openssl per session."""
import re
import socket
import ssl
import subprocess
import time

import pytest

from conftest import curl, free_port
from test_tls_helpers import certs, echo_transfer  # noqa: F401 (certs is a fixture)


def s_client(port, *args, stdin=b"", timeout=15):
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost"]
                       + list(args), input=stdin, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def client_ctx(ca=None, cert=None, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def tls_roundtrip(port, ctx, data=b"ping\n", server_hostname="localhost"):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as s:
            s.sendall(data)
            got = b""
            while len(got) < len(data):
                d = s.recv(65536)
                if not d:
                    break
                got += d
            return got


def tls_url(scheme, port, target, cert, extra=""):
    q = f"certFile={cert[0]}&keyFile={cert[1]}" + (("&" + extra) if extra else "")
    return f"{scheme}://127.0.0.1:{port}/{target}?{q}" if target else f"{scheme}://127.0.0.1:{port}?{q}"


def test_s_client_handshake_alpn_and_verification(pw, echo, certs):
    e = echo()
    port = free_port()
    p = pw.start("-D", "-L", tls_url("tcp+tls", port, f"127.0.0.1:{e.port}", certs.server, "alpn=h2,http/1.1"))
    rc, out = s_client(port, "-alpn", "http/1.1", "-CAfile", certs.ca[0], "-verify_hostname", "localhost",
                       "-verify_return_error")
    assert rc == 0, out
    assert "ALPN protocol: http/1.1" in out
    assert "Verify return code: 0 (ok)" in out
    # The server's preference wins when the client offers both.
    rc, out = s_client(port, "-alpn", "http/1.1,h2")
    assert "ALPN protocol: h2" in out, out
    # Nothing in common: the handshake goes on without ALPN.
    rc, out = s_client(port, "-alpn", "spdy/1")
    assert rc == 0 and "No ALPN negotiated" in out, out
    # The handler's stream carries the protocol (logged by the tls layer at debug level).
    p.wait_log("ALPN h2")
    assert tls_roundtrip(port, client_ctx(certs.ca[0])) == b"ping\n"


def test_tls12_and_tls13(pw, echo, certs):
    e = echo()
    port = free_port()
    pw.start("-L", tls_url("tcp+tls", port, f"127.0.0.1:{e.port}", certs.server))
    for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        rc, out = s_client(port, flag)
        assert rc == 0 and re.search(r"(Protocol\s*:\s*|New, )" + name, out), out
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert tls_roundtrip(port, client_ctx(version=v)) == b"ping\n"
    # TLS 1.1 is never offered.
    rc, out = s_client(port, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert rc != 0 or "Cipher is (NONE)" in out, out


def test_min_version_13(pw, echo, certs):
    e = echo()
    port = free_port()
    pw.start(config=f"""
services:
- name: t13
  addr: 127.0.0.1:{port}
  handler: {{type: tcp}}
  listener:
    type: tls
    tls:
      certFile: {certs.server[0]}
      keyFile: {certs.server[1]}
      options: {{minVersion: VersionTLS13}}
  forwarder:
    nodes: [{{name: echo, addr: "127.0.0.1:{e.port}"}}]
""")
    rc, out = s_client(port, "-tls1_2")
    assert rc != 0 or "Cipher is (NONE)" in out, out
    assert tls_roundtrip(port, client_ctx(version=ssl.TLSVersion.TLSv1_3)) == b"ping\n"


def test_self_signed_certificate_and_fingerprint(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp+tls://127.0.0.1:{port}/127.0.0.1:{e.port}")
    m = re.search(r"SHA-256 fingerprint ([0-9A-F:]{95})", p.text())
    assert m, p.text()
    rc, out = s_client(port, "-showcerts")
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S).group(0)
    r = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem.encode(),
                       capture_output=True, timeout=10)
    fp = r.stdout.decode().strip().split("=", 1)[1]
    assert fp == m.group(1)
    assert "CN = portway" in out
    assert tls_roundtrip(port, client_ctx()) == b"ping\n"


def test_bulk_echo_through_tls_listener(pw, echo, certs):
    e = echo()
    port = free_port()
    pw.start("-L", tls_url("tcp+tls", port, f"127.0.0.1:{e.port}", certs.server))
    echo_transfer(port, 8 << 20, ssl_ctx=client_ctx(certs.ca[0]))


def test_mutual_tls(pw, echo, certs):
    e = echo()
    port = free_port()
    p = pw.start("-L", tls_url("tcp+tls", port, f"127.0.0.1:{e.port}", certs.server, f"caFile={certs.ca[0]}"))
    # TLS 1.2: the refusal is part of the handshake.
    rc, out = s_client(port, "-tls1_2")
    assert rc != 0, out
    p.wait_log("peer did not return a certificate")
    # TLS 1.3: the client finishes first, then reads the server's alert.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        got = tls_roundtrip(port, client_ctx(certs.ca[0]))
        if not got:
            raise ConnectionError("closed")
    # A certificate from another CA.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        got = tls_roundtrip(port, client_ctx(certs.ca[0], cert=certs.client_otherca))
        if not got:
            raise ConnectionError("closed")
    p.wait_log("certificate verify failed")
    # The right client certificate.
    assert tls_roundtrip(port, client_ctx(certs.ca[0], cert=certs.client)) == b"ping\n"
    rc, out = s_client(port, "-cert", certs.client[0], "-key", certs.client[1], "-tls1_2")
    assert rc == 0 and "Verify return code" in out, out


def two_hop(pw, target, server_cert, dial_query, listen_extra=""):
    b = free_port()
    a = free_port()
    pw.start("-L", tls_url("tcp+tls", b, target, server_cert, listen_extra), name="server")
    fq = ("?" + dial_query) if dial_query else ""
    client = pw.start("-L", f"tcp://127.0.0.1:{a}/{target}", "-F", f"forward+tls://127.0.0.1:{b}{fq}", name="client")
    return a, client


def test_forward_tls_hop_carries_curl(pw, http_server, certs):
    a, _ = two_hop(pw, f"127.0.0.1:{http_server.port}", certs.server,
                   f"secure=true&caFile={certs.ca[0]}&serverName=localhost")
    rc, out, err = curl(f"http://127.0.0.1:{a}/")
    assert rc == 0 and out == "hello from the backend\n", err


@pytest.mark.parametrize("which,reason", [
    ("expired", "certificate has expired"),
    ("otherca", "unable to get local issuer certificate"),
    ("wrongname", "hostname mismatch"),
])
def test_dialer_refuses_bad_server_certificates(pw, http_server, certs, which, reason):
    a, client = two_hop(pw, f"127.0.0.1:{http_server.port}", getattr(certs, which),
                        f"secure=true&caFile={certs.ca[0]}&serverName=localhost")
    rc, out, err = curl(f"http://127.0.0.1:{a}/", timeout=10)
    assert out == "", out
    client.wait_log(reason)
    line = [ln for ln in client.text().splitlines() if reason in ln][0]
    assert "TLS handshake with 127.0.0.1:" in line and "server name localhost" in line, line


def test_dialer_without_secure_does_not_verify(pw, http_server, certs):
    """GOST's default, documented: no secure and no caFile, no verification."""
    a, _ = two_hop(pw, f"127.0.0.1:{http_server.port}", certs.expired, "")
    rc, out, err = curl(f"http://127.0.0.1:{a}/")
    assert rc == 0 and out == "hello from the backend\n", err


def test_dialer_client_certificate_for_mtls(pw, http_server, certs):
    target = f"127.0.0.1:{http_server.port}"
    a, client = two_hop(pw, target, certs.server,
                        f"secure=true&caFile={certs.ca[0]}&certFile={certs.client[0]}&keyFile={certs.client[1]}",
                        listen_extra=f"caFile={certs.ca[0]}")
    rc, out, err = curl(f"http://127.0.0.1:{a}/")
    assert rc == 0 and out == "hello from the backend\n", err


def test_tls_over_a_tunnelled_tls_hop(pw, echo, certs):
    """Hop 2's TLS handshake runs inside hop 1's TLS stream (B only forwards bytes to C)."""
    e = echo()
    a, b, c = free_port(), free_port(), free_port()
    pw.start("-L", tls_url("tcp+tls", c, f"127.0.0.1:{e.port}", certs.server), name="c")
    pw.start("-L", tls_url("tcp+tls", b, f"127.0.0.1:{c}", certs.server), name="b")
    sec = f"secure=true&caFile={certs.ca[0]}&serverName=localhost"
    pw.start("-L", f"tcp://127.0.0.1:{a}/127.0.0.1:{e.port}", "-F", f"forward+tls://127.0.0.1:{b}?{sec}",
             "-F", f"forward+tls://127.0.0.1:{c}?{sec}", name="a")
    echo_transfer(a, 4 << 20)


def test_handshake_timeout(pw, echo, certs):
    e = echo()
    port = free_port()
    p = pw.start("-L", tls_url("tcp+tls", port, f"127.0.0.1:{e.port}", certs.server, "handshakeTimeout=1s"))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.time()
    assert s.recv(100) == b""
    assert 0.5 < time.time() - t0 < 5
    s.close()
    p.wait_log("timed out")


def test_plain_http_to_tls_listener(pw, echo, certs):
    e = echo()
    port = free_port()
    p = pw.start("-L", tls_url("tcp+tls", port, f"127.0.0.1:{e.port}", certs.server))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        try:
            d = s.recv(100)
        except ConnectionResetError:
            break
        if not d:
            break
        data += d
    s.close()
    assert b"HTTP" not in data  # a TLS alert at most, never an answer
    p.wait_log("TLS handshake with 127.0.0.1:")
    assert tls_roundtrip(port, client_ctx()) == b"ping\n"  # still serving


def test_bad_certificate_configuration(pw, tmp_path, certs):
    code, out = pw.run("-t", "-L", f"tcp+tls://127.0.0.1:{free_port()}/127.0.0.1:1?certFile={tmp_path}/none.pem"
                       f"&keyFile={tmp_path}/none.key")
    assert code != 0 and "tls.certFile" in out and "none.pem" in out, out
    code, out = pw.run("-t", "-L", f"tcp+tls://127.0.0.1:{free_port()}/127.0.0.1:1?certFile={certs.server[0]}"
                       f"&keyFile={certs.client[1]}")
    assert code != 0 and "tls.keyFile" in out and "mismatch" in out, out
    code, out = pw.run("-t", "-L", f"tcp://127.0.0.1:{free_port()}/127.0.0.1:1",
                       "-F", f"forward+tls://127.0.0.1:1?caFile={tmp_path}/none.pem")
    assert code != 0 and "tls.caFile" in out, out


def test_http_proxy_over_tls(pw, http_server, certs):
    """curl speaks HTTPS to the proxy itself (http+tls), then plain HTTP through it."""
    port = free_port()
    pw.start("-L", tls_url("http+tls", port, "", certs.server))
    rc, out, err = curl("--proxy", f"https://localhost:{port}", "--proxy-cacert", certs.ca[0],
                        f"http://127.0.0.1:{http_server.port}/")
    assert rc == 0 and out == "hello from the backend\n", err


def test_relay_over_tls_chain(pw, http_server, certs):
    b, a = free_port(), free_port()
    pw.start("-L", tls_url("relay+tls", b, "", certs.server), name="server")
    pw.start("-L", f"http://127.0.0.1:{a}", "-F",
             f"relay+tls://127.0.0.1:{b}?secure=true&caFile={certs.ca[0]}&serverName=localhost", name="client")
    rc, out, err = curl("-x", f"http://127.0.0.1:{a}", f"http://127.0.0.1:{http_server.port}/")
    assert rc == 0 and out == "hello from the backend\n", err


def test_secure_without_ca_file_uses_the_system_bundle(pw, http_server, certs):
    """secure=true alone verifies against the system CA bundle (SSL_CERT_FILE moves it)."""
    target = f"127.0.0.1:{http_server.port}"
    b, a1, a2 = free_port(), free_port(), free_port()
    pw.start("-L", tls_url("tcp+tls", b, target, certs.server), name="server")
    fwd = f"forward+tls://127.0.0.1:{b}?secure=true&serverName=localhost"
    pw.start("-L", f"tcp://127.0.0.1:{a1}/{target}", "-F", fwd, env={"SSL_CERT_FILE": certs.ca[0]}, name="ours")
    plain = pw.start("-L", f"tcp://127.0.0.1:{a2}/{target}", "-F", fwd, name="system")
    rc, out, err = curl(f"http://127.0.0.1:{a1}/")
    assert rc == 0 and out == "hello from the backend\n", err
    rc, out, err = curl(f"http://127.0.0.1:{a2}/", timeout=10)
    assert out == ""
    plain.wait_log("unable to get local issuer certificate")
