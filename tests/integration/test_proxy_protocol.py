"""PROXY protocol (GOST's proxyProtocol): HAProxy in front of portway with send-proxy and
send-proxy-v2, raw headers (segmented, malformed, absent), and the configuration forms."""
import signal
import socket
import ssl
import struct
import subprocess
import time

import pytest

from conftest import free_port, wait_port

SIG2 = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, sport, dst, dport, cmd=0x21, fam=0x11, tlvs=b""):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport) + tlvs
    return SIG2 + bytes([cmd, fam]) + struct.pack(">H", len(body)) + body


def forward_config(port, target, where="service"):
    md = "    metadata: {proxyProtocol: 1}\n" if where == "service" else ""
    lmd = ", metadata: {proxyProtocol: 2}" if where == "listener" else ""
    return (f"services:\n  - name: pp\n    addr: 127.0.0.1:{port}\n{md}"
            f"    handler: {{type: tcp}}\n    listener: {{type: tcp{lmd}}}\n"
            f"    forwarder: {{nodes: [{{name: t, addr: 127.0.0.1:{target}}}]}}\n")


def roundtrip(sock, data=b"ping through portway"):
    sock.sendall(data)
    got = b""
    sock.settimeout(20)
    while len(got) < len(data):
        d = sock.recv(65536)
        if not d:
            break
        got += d
    return got


def wait_closed(sock, timeout=30):
    """True when the peer closes (EOF or reset) before the deadline."""
    sock.settimeout(timeout)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.fixture
def haproxy(tmp_path):
    procs = []

    def start(backend_port, option):
        port = free_port()
        cfg = tmp_path / f"haproxy-{len(procs)}.cfg"
        cfg.write_text(
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
            f"frontend f\n  bind 127.0.0.1:{port}\n  default_backend b\n"
            f"backend b\n  server s1 127.0.0.1:{backend_port} {option}\n")
        p = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_port(port)
        return port

    yield start
    for p in procs:
        p.terminate()
        p.wait()


@pytest.mark.parametrize("option", ["send-proxy", "send-proxy-v2"])
def test_haproxy_client_address(pw, echo, haproxy, option):
    """portway behind HAProxy names the client HAProxy accepted, not HAProxy."""
    e = echo()
    port = free_port()
    p = pw.start(config=forward_config(port, e.port))
    hp = haproxy(port, option)
    c = socket.socket()
    c.bind(("127.0.0.5", 0))
    client = "127.0.0.5:%d" % c.getsockname()[1]
    c.connect(("127.0.0.1", hp))
    assert roundtrip(c) == b"ping through portway"
    c.close()
    # portway's socket peer is HAProxy on 127.0.0.1; only the header names 127.0.0.5
    p.wait_log(f"{client} >-< 127.0.0.1:{e.port}", 20)


def test_no_header_falls_back_to_socket_address(pw, echo):
    """As GOST (go-proxyproto's default): a connection without a header goes on as it is."""
    e = echo()
    port = free_port()
    p = pw.start(config=forward_config(port, e.port))
    c = socket.create_connection(("127.0.0.1", port))
    local = "127.0.0.1:%d" % c.getsockname()[1]
    assert roundtrip(c, b"GET / HTTP/1.0\r\n") == b"GET / HTTP/1.0\r\n"
    c.close()
    p.wait_log(f"{local} >-< 127.0.0.1:{e.port}", 20)


def test_segmented_header_listener_metadata(pw, echo):
    """The header and the data after it, one byte per segment (listener.metadata form)."""
    e = echo()
    port = free_port()
    p = pw.start(config=forward_config(port, e.port, where="listener"))
    data = v2_header("203.0.113.9", 4242, "127.0.0.1", port, tlvs=b"\x04\x00\x02xx") + b"segmented"
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in data:
        c.send(bytes([b]))
        time.sleep(0.002)
    got = b""
    c.settimeout(20)
    while len(got) < 9:
        d = c.recv(100)
        if not d:
            break
        got += d
    assert got == b"segmented"
    c.close()
    p.wait_log(f"203.0.113.9:4242 >-< 127.0.0.1:{e.port}", 20)


def test_v1_header_and_local_command(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start(config=forward_config(port, e.port))
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"PROXY TCP6 2001:db8::7 ::1 5555 80\r\n")
    assert roundtrip(c) == b"ping through portway"
    c.close()
    p.wait_log(f"[2001:db8::7]:5555 >-< 127.0.0.1:{e.port}", 20)
    # LOCAL (a health check): the socket's own address stands
    c = socket.create_connection(("127.0.0.1", port))
    local = "127.0.0.1:%d" % c.getsockname()[1]
    c.sendall(SIG2 + b"\x20\x00\x00\x00")
    assert roundtrip(c) == b"ping through portway"
    c.close()
    p.wait_log(f"{local} >-< 127.0.0.1:{e.port}", 20)


BAD = [
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",               # no CR
    b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n",
    b"PROXY " + b"A" * 200,                              # no line end within 107 bytes
    SIG2 + b"\x11\x11\x00\x0c" + b"\x00" * 12,           # version 1 in a v2 header
    SIG2 + b"\x21\x11\x00\x0b" + b"\x00" * 11,           # addresses cut short
    SIG2 + b"\x21\x11\xff\xff",                          # over the size bound
]


@pytest.mark.parametrize("header", BAD, ids=range(len(BAD)))
def test_bad_header_closes_and_forwards_nothing(pw, echo, header):
    e = echo()
    port = free_port()
    p = pw.start(config=forward_config(port, e.port))
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(header + b"payload")
    assert wait_closed(c)
    c.close()
    p.wait_log("malformed PROXY header; closed", 20)
    assert e.connections == 0


def test_incomplete_header_times_out(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start(config=forward_config(port, e.port))
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"PROXY TCP4 1.2.3.4")
    assert wait_closed(c, 60)
    c.close()
    p.wait_log("no complete PROXY header in time; closed", 20)
    assert e.connections == 0


def test_header_before_tls(pw, echo):
    """tls listener: the header comes before the TLS handshake (and TLS alone still works)."""
    e = echo()
    port = free_port()
    cfg = forward_config(port, e.port).replace("listener: {type: tcp}", "listener: {type: tls}")
    p = pw.start(config=cfg)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port))
    raw.sendall(b"PROXY TCP4 198.51.100.3 127.0.0.1 777 443\r\n")
    t = ctx.wrap_socket(raw)
    assert roundtrip(t, b"over tls") == b"over tls"
    t.close()
    p.wait_log(f"198.51.100.3:777 >-< 127.0.0.1:{e.port}", 20)
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    assert roundtrip(t, b"tls alone") == b"tls alone"
    t.close()


def test_cli_form(pw, echo):
    """-L tcp://...?proxyProtocol=1 is the service's, as GOST's command line puts it."""
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{e.port}?proxyProtocol=1")
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(v2_header("192.0.2.44", 1000, "127.0.0.1", port))
    assert roundtrip(c) == b"ping through portway"
    c.close()
    p.wait_log(f"192.0.2.44:1000 >-< 127.0.0.1:{e.port}", 20)


@pytest.mark.parametrize("config,where", [
    ("services:\n  - addr: :1\n    metadata: {proxyProtocol: 3}\n    handler: {type: tcp}\n"
     "    forwarder: {nodes: [{addr: 127.0.0.1:2}]}\n", "3:"),
    ("services:\n  - addr: :1\n    metadata: {proxyProtocol: 1}\n    handler: {type: udp}\n"
     "    listener: {type: udp}\n    forwarder: {nodes: [{addr: 127.0.0.1:2}]}\n", "3:"),
])
def test_config_refusals(pw, config, where):
    code, out = pw.run("-t", config=config)
    assert code == 2, out
    assert "proxyProtocol" in out and where in out, out


@pytest.fixture
def nginx_pp(tmp_path):
    """nginx listening with proxy_protocol, answering with the addresses the header named."""
    d = tmp_path / "nginx"
    d.mkdir()
    port = free_port()
    (d / "nginx.conf").write_text(
        f"pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n"
        f"  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n"
        f"  server {{\n    listen 127.0.0.1:{port} proxy_protocol;\n"
        "    location / { return 200 \"src=$proxy_protocol_addr:$proxy_protocol_port "
        "dst=$proxy_protocol_server_addr:$proxy_protocol_server_port\\n\"; }\n  }\n}\n")
    p = subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    yield port
    p.terminate()
    p.wait()


def send_config(port, target, version, receive=False):
    md = "    metadata: {proxyProtocol: 1}\n" if receive else ""
    return (f"services:\n  - name: send\n    addr: 127.0.0.1:{port}\n{md}"
            f"    handler: {{type: tcp, metadata: {{proxyProtocol: {version}}}}}\n"
            f"    forwarder: {{nodes: [{{name: nginx, addr: 127.0.0.1:{target}}}]}}\n")


def http_get(sock):
    sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    sock.settimeout(20)
    got = b""
    while True:
        d = sock.recv(65536)
        if not d:
            return got.decode()
        got += d


@pytest.mark.parametrize("version", [1, 2])
def test_forward_sends_header_to_nginx(pw, nginx_pp, version):
    """handler proxyProtocol: nginx behind the forward sees the client and the address it reached."""
    port = free_port()
    pw.start(config=send_config(port, nginx_pp, version))
    c = socket.create_connection(("127.0.0.1", port))
    me = "127.0.0.1:%d" % c.getsockname()[1]
    body = http_get(c)
    c.close()
    assert body.startswith("HTTP/1.1 200"), body
    assert f"src={me} dst=127.0.0.1:{port}\n" in body, body


def test_received_address_is_passed_on(pw, nginx_pp):
    """Received from one side, sent on the other: nginx learns the original client."""
    port = free_port()
    pw.start(config=send_config(port, nginx_pp, 2, receive=True))
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"PROXY TCP4 203.0.113.9 192.0.2.80 4242 8080\r\n")
    body = http_get(c)
    c.close()
    assert "src=203.0.113.9:4242 dst=192.0.2.80:8080\n" in body, body


def test_haproxy_portway_nginx(pw, haproxy, nginx_pp, tmp_path):
    """HAProxy (send-proxy-v2) -> portway (receives, sends v1) -> nginx: the client HAProxy saw."""
    port = free_port()
    pw.start(config=send_config(port, nginx_pp, 1, receive=True))
    hp = haproxy(port, "send-proxy-v2")
    c = socket.socket()
    c.bind(("127.0.0.7", 0))
    me = "127.0.0.7:%d" % c.getsockname()[1]
    c.connect(("127.0.0.1", hp))
    body = http_get(c)
    c.close()
    assert f"src={me} dst=127.0.0.1:{hp}\n" in body, body


def test_pending_header_at_reload_and_shutdown(pw, echo):
    """A connection still sending its header when the service goes (reload) or portway stops:
    closed, and portway exits cleanly (teardown checks the status and the sanitizer)."""
    e = echo()
    port = free_port()
    p = pw.start(config=forward_config(port, e.port))
    c1 = socket.create_connection(("127.0.0.1", port))
    c1.sendall(b"\r\n\r\n")
    cfg = pw.tmp_path / f"portway-{pw.n}.yaml"
    cfg.write_text(forward_config(port, e.port, where="listener"))
    p.signal(signal.SIGHUP)
    p.wait_log("reload done", 20)
    p.wait_log("the service stopped before its PROXY header ended; closed", 20)
    assert wait_closed(c1, 30)
    c1.close()
    c2 = socket.create_connection(("127.0.0.1", port))
    c2.sendall(b"PROXY TCP4 ")
    time.sleep(0.2)
    # c2 stays open into the teardown's SIGTERM
    assert e.connections == 0


def test_silent_client_goes_on_after_the_header_timeout(pw):
    """As GOST: a client that waits for the server to speak first (no header, no bytes) is
    passed on when the header time is up, with its socket's address."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    accepted = []

    def serve():
        c, _ = srv.accept()
        accepted.append(c)
        c.sendall(b"220 server speaks first\r\n")

    import threading
    threading.Thread(target=serve, daemon=True).start()
    port = free_port()
    p = pw.start(config=forward_config(port, srv.getsockname()[1]))
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(60)
    assert c.recv(100) == b"220 server speaks first\r\n"
    c.close()
    srv.close()
    for a in accepted:
        a.close()
    assert "PROXY header" not in p.text()


def test_admission_judges_the_header_source(pw, echo):
    """As GOST (proxyproto before admission): the admission sees the header's source."""
    e = echo()
    port = free_port()
    cfg = (f"services:\n  - name: adm\n    addr: 127.0.0.1:{port}\n    admission: a\n"
           "    metadata: {proxyProtocol: 1}\n    handler: {type: tcp}\n"
           f"    forwarder: {{nodes: [{{addr: 127.0.0.1:{e.port}}}]}}\n"
           "admissions:\n  - name: a\n    matchers: [203.0.113.0/24]\n")
    p = pw.start(config=cfg)
    ok = socket.create_connection(("127.0.0.1", port))
    ok.sendall(b"PROXY TCP4 198.51.100.1 127.0.0.1 1111 80\r\n")
    assert roundtrip(ok) == b"ping through portway"
    ok.close()
    p.wait_log(f"198.51.100.1:1111 >-< 127.0.0.1:{e.port}", 20)
    seen = e.connections
    bad = socket.create_connection(("127.0.0.1", port))
    bad.sendall(b"PROXY TCP4 203.0.113.9 127.0.0.1 2222 80\r\nping")
    assert wait_closed(bad)
    bad.close()
    assert e.connections == seen
