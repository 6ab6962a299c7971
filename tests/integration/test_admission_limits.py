"""GOST's admissions, climiters and rlimiters (concepts/admission, concepts/limiter): a refused
client is closed right after accept and gets no byte; 127.0.0.2 is the other client address."""
import socket
import ssl
import time

from conftest import curl, free_port

OTHER = "127.0.0.2"


def connect(port, src="127.0.0.1"):
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def reply(s, payload=b"ping"):
    """What comes back for payload: the echo, or b"" when portway closes without a byte."""
    try:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            d = s.recv(100)
            if not d:
                break
            got += d
        return got
    except (ConnectionResetError, BrokenPipeError):
        return b""


def exchange(port, src="127.0.0.1"):
    s = connect(port, src)
    try:
        return reply(s)
    finally:
        s.close()


def forward(port, target, extra):
    return f"""
services:
- name: fwd
  addr: 127.0.0.1:{port}
  handler: {{type: tcp}}
  listener: {{type: tcp}}
  forwarder: {{nodes: [{{addr: 127.0.0.1:{target}}}]}}
{extra}"""


def insecure_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def until(cond, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


# ---- admissions ----

def blacklist_config(port, target, adm):
    return f"""
services:
- name: fwd
  addr: 127.0.0.1:{port}
  admission: a
  handler: {{type: tcp}}
  listener: {{type: tcp}}
  forwarder: {{nodes: [{{addr: 127.0.0.1:{target}}}]}}
admissions:
- name: a
{adm}"""


def test_blacklist_refuses_listed_client_before_any_byte(pw, echo):
    srv = echo()
    port = free_port()
    pw.start(config=blacklist_config(port, srv.port, "  matchers: [127.0.0.2]"))
    assert exchange(port) == b"ping"
    seen = srv.connections
    assert exchange(port, OTHER) == b""
    assert srv.connections == seen, "a refused client must not reach the target"


def test_whitelist_and_reverse(pw, echo):
    srv = echo()
    for key in ("whitelist", "reverse"):
        port = free_port()
        pw.start(config=blacklist_config(port, srv.port, f"  {key}: true\n  matchers: [10.0.0.0/8, 127.0.0.1]"))
        assert exchange(port) == b"ping"
        assert exchange(port, OTHER) == b""


def test_cidr_and_mapped_v6_matchers_on_a_dual_stack_listener(pw, echo):
    """Listening on every address, IPv4 clients are IPv4-mapped IPv6 peers: they still match IPv4 rules."""
    srv = echo()
    port = free_port()
    pw.start(config=blacklist_config(port, srv.port, "  matchers: [127.0.0.2/32, \"::1\"]")
             .replace("addr: 127.0.0.1:" + str(port), "addr: :" + str(port)))
    assert exchange(port) == b"ping"
    assert exchange(port, OTHER) == b""
    s = socket.socket(socket.AF_INET6)
    s.settimeout(10)
    try:
        s.connect(("::1", port))
    except OSError:
        return  # no IPv6 loopback here
    assert reply(s) == b""
    s.close()


def test_admissions_group_all_must_admit(pw, echo):
    srv = echo()
    port = free_port()
    pw.start(config=f"""
services:
- name: fwd
  addr: 127.0.0.1:{port}
  admissions: [allow-loopback, deny-one]
  handler: {{type: tcp}}
  forwarder: {{nodes: [{{addr: 127.0.0.1:{srv.port}}}]}}
admissions:
- name: allow-loopback
  whitelist: true
  matchers: [127.0.0.0/8]
- name: deny-one
  matchers: [127.0.0.2]
""")
    assert exchange(port) == b"ping"
    assert exchange(port, OTHER) == b""


def test_admission_from_a_file(pw, echo, tmp_path):
    srv = echo()
    port = free_port()
    f = tmp_path / "deny.txt"
    f.write_text("# refused clients\n127.0.0.2   # the other one\n\n")
    pw.start(config=blacklist_config(port, srv.port, f"  file: {{path: {f}}}"))
    assert exchange(port) == b"ping"
    assert exchange(port, OTHER) == b""


def test_tls_listener_refuses_before_the_handshake(pw, echo):
    srv = echo()
    port = free_port()
    pw.start(config=blacklist_config(port, srv.port, "  matchers: [127.0.0.2]")
             .replace("listener: {type: tcp}", "listener: {type: tls}"))
    ctx = insecure_tls()
    with ctx.wrap_socket(connect(port), server_hostname="x") as t:
        t.sendall(b"ping")
        assert t.recv(4) == b"ping"
    # the other client's ClientHello gets no ServerHello: no byte at all
    s = connect(port, OTHER)
    obj = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(obj[0], obj[1], server_hostname="x")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    assert reply(s, obj[1].read()) == b""
    s.close()


def test_http_proxy_cli_admission(pw, http_server):
    port = free_port()
    pw.start("-L", f"http://127.0.0.1:{port}?admission=127.0.0.2")
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    code, out, err = curl("-x", f"http://127.0.0.1:{port}", url)
    assert out == "hello from the backend\n", err
    code, out, err = curl("--interface", OTHER, "-x", f"http://127.0.0.1:{port}", url)
    assert code != 0 and out == ""


def test_http_proxy_cli_whitelist(pw, http_server):
    port = free_port()
    pw.start("-L", f"http://127.0.0.1:{port}?admission=~127.0.0.2,10.0.0.0/8")
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    code, out, err = curl("--interface", OTHER, "-x", f"http://127.0.0.1:{port}", url)
    assert out == "hello from the backend\n", err
    code, out, err = curl("-x", f"http://127.0.0.1:{port}", url)
    assert code != 0 and out == ""


def test_udp_datagrams_of_a_refused_client_are_dropped(pw):
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind(("127.0.0.1", 0))
    target.settimeout(10)
    port = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{target.getsockname()[1]}?admission=127.0.0.2")
    denied = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    denied.bind((OTHER, 0))
    allowed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    allowed.bind(("127.0.0.1", 0))
    seen = []
    for i in range(3):
        denied.sendto(b"deny", ("127.0.0.1", port))
        allowed.sendto(b"allow%d" % i, ("127.0.0.1", port))
        data, _ = target.recvfrom(100)
        seen.append(data)
        while data != b"allow%d" % i:  # a datagram of the refused client would show here
            data, _ = target.recvfrom(100)
            seen.append(data)
    assert b"deny" not in seen


def test_bad_admission_is_a_config_error(pw):
    code, out = pw.run("-t", config="services:\n- addr: :1\n  admission: a\n  handler: {type: http}\n"
                                    "admissions:\n- name: a\n  matchers: [10.0.0.0/40]\n")
    assert code == 2
    assert ":7:14: admissions[0].matchers: \"10.0.0.0/40\" is not an IP address, a CIDR or a host name" in out


def test_host_name_matchers_resolve_at_load(pw, echo):
    """GOST's documented form: ?admission=127.0.0.1,192.168.0.0/16,example.com (names resolved)."""
    srv = echo()
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{srv.port}?admission=~localhost,192.168.0.0/16")
    assert exchange(port) == b"ping"
    assert exchange(port, OTHER) == b""


# ---- climiters ----

def climiter_config(port, target, limits):
    return f"""
services:
- name: fwd
  addr: 127.0.0.1:{port}
  climiter: c
  handler: {{type: tcp}}
  forwarder: {{nodes: [{{addr: 127.0.0.1:{target}}}]}}
climiters:
- name: c
  limits: {limits}
"""


def test_climiter_refuses_the_next_connection_and_accepts_after_one_closes(pw, echo):
    srv = echo()
    port = free_port()
    pw.start(config=climiter_config(port, srv.port, '["$ 3"]'))
    held = [connect(port) for _ in range(3)]
    for s in held:  # each one echoes: accepted and counted, whichever worker took it
        assert reply(s) == b"ping"
    assert exchange(port) == b""
    assert exchange(port, OTHER) == b"", "$ counts every client"
    held.pop().close()
    assert until(lambda: exchange(port) == b"ping"), "a closed connection frees its slot"
    for s in held:
        s.close()


def test_climiter_per_ip_and_ip_lines(pw, echo):
    srv = echo()
    port = free_port()
    pw.start(config=climiter_config(port, srv.port, '["$$ 1", "127.0.0.2 2"]'))
    one = connect(port)
    assert reply(one) == b"ping"
    assert exchange(port) == b"", "$$ 1: one connection for each address"
    other = [connect(port, OTHER) for _ in range(2)]
    for s in other:
        assert reply(s) == b"ping"
    assert exchange(port, OTHER) == b"", "127.0.0.2 has its own line: 2"
    one.close()
    assert until(lambda: exchange(port) == b"ping")
    for s in other:
        s.close()


def test_climiter_cidr_counts_each_address(pw, echo):
    """GOST gives each address inside a CIDR line a counter of its own."""
    srv = echo()
    port = free_port()
    pw.start(config=climiter_config(port, srv.port, '["127.0.0.0/8 1"]'))
    a, b = connect(port), connect(port, OTHER)
    assert reply(a) == b"ping" and reply(b) == b"ping"
    assert exchange(port) == b"" and exchange(port, OTHER) == b""
    a.close()
    b.close()


def test_climiter_cli(pw, echo):
    srv = echo()
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{srv.port}?climiter=1")
    a = connect(port)
    assert reply(a) == b"ping"
    assert exchange(port) == b""
    a.close()
    assert until(lambda: exchange(port) == b"ping")


def test_climiter_on_tls_refuses_before_the_handshake(pw, echo):
    srv = echo()
    port = free_port()
    pw.start(config=climiter_config(port, srv.port, '["$ 1"]').replace("handler: {type: tcp}",
                                                                      "handler: {type: tcp}\n  listener: {type: tls}"))
    ctx = insecure_tls()
    t = ctx.wrap_socket(connect(port), server_hostname="x")
    t.sendall(b"ping")
    assert t.recv(4) == b"ping"
    s = connect(port)
    assert reply(s, b"\x16\x03\x01\x00\x05hello") == b""
    s.close()
    t.close()


# ---- rlimiters ----

def test_rlimiter_refuses_above_the_rate(pw, echo):
    """0.5 requests a second, burst 1 (GOST: int(r)+1): of several quick connections some are
    refused, and a later one goes through again."""
    srv = echo()
    port = free_port()
    pw.start(config=f"""
services:
- name: fwd
  addr: 127.0.0.1:{port}
  rlimiter: r
  handler: {{type: tcp}}
  forwarder: {{nodes: [{{addr: 127.0.0.1:{srv.port}}}]}}
rlimiters:
- name: r
  limits: ["$ 0.5"]
""")
    t0 = time.time()
    results = [exchange(port) for _ in range(6)]
    took = time.time() - t0
    # at most one at once plus one per 2 s elapsed went through
    assert results.count(b"ping") <= 1 + int(took / 2) + 1
    assert b"" in results
    assert until(lambda: exchange(port) == b"ping", 20)


def test_rlimiter_cli_and_per_ip(pw, http_server):
    port = free_port()
    pw.start("-L", f"http://127.0.0.1:{port}?rlimiter=0.2")
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    codes = [curl("-x", f"http://127.0.0.1:{port}", url)[1] for _ in range(4)]
    assert codes.count("hello from the backend\n") < 4
    assert "" in codes


def test_bad_limits_are_config_errors(pw):
    code, out = pw.run("-t", config="climiters:\n- name: c\n  limits: [\"$ many\"]\n")
    assert code == 2
    assert ":3:12: climiters[0].limits: \"$ many\": the limit is not a whole number" in out
    code, out = pw.run("-t", "-L", "http://127.0.0.1:1?rlimiter=fast")
    assert code == 2
    assert "rlimiter: expected a number of requests per second" in out


def test_sighup_rereads_the_admission_file(pw, echo, tmp_path):
    """The file is part of what the service depends on: a changed file restarts the service with it."""
    import signal
    srv = echo()
    port = free_port()
    f = tmp_path / "deny.txt"
    f.write_text("10.0.0.1\n")
    cfg = tmp_path / "adm.yaml"
    cfg.write_text(blacklist_config(port, srv.port, f"  file: {{path: {f}}}"))
    p = pw.start("-C", str(cfg))
    assert exchange(port, OTHER) == b"ping"
    f.write_text("10.0.0.1\n127.0.0.2\n")
    p.signal(signal.SIGHUP)
    assert until(lambda: "reload done" in p.text() or "reload rejected" in p.text())
    assert "reload done" in p.text(), p.text()
    assert until(lambda: exchange(port, OTHER) == b"")
    assert exchange(port) == b"ping"


def test_climiter_counts_connections_of_a_multiplexed_listener(pw, echo):
    """GOST's mtcp listener is limited where it accepts: one smux session is one connection,
    whatever the number of streams in it."""
    srv = echo()
    port, local = free_port(), free_port()
    pw.start(config=f"""
services:
- name: mux
  addr: 127.0.0.1:{port}
  climiter: c
  handler: {{type: relay}}
  listener: {{type: mtcp}}
climiters:
- name: c
  limits: ["$ 1"]
""", name="server")
    # one worker: one session (each worker of a client keeps its own)
    pw.start(config=f"""
workers: 1
services:
- name: fwd
  addr: 127.0.0.1:{local}
  handler: {{type: tcp, chain: c}}
  forwarder: {{nodes: [{{addr: 127.0.0.1:{srv.port}}}]}}
chains:
- name: c
  hops: [{{nodes: [{{addr: 127.0.0.1:{port}, connector: {{type: relay}}, dialer: {{type: mtcp}}}}]}}]
""", name="client")
    streams = [connect(local) for _ in range(3)]
    for s in streams:  # three streams over the one session the limit lets in
        assert reply(s) == b"ping"
    assert exchange(port) == b"", "a second connection to the mtcp listener is refused"
    for s in streams:
        s.close()


def test_web_api_admissions_and_limiters(pw, echo):
    """GOST's /config/admissions, /config/climiters, /config/rlimiters: a change is a reload, and a
    service naming the list is restarted with it."""
    import json
    srv = echo()
    api, port = free_port(), free_port()
    pw.start(config=f"api:\n  addr: 127.0.0.1:{api}\n")

    def call(method, path, body=None):
        args = ["-o", "-", "-w", "\n%{http_code}", "-X", method, f"http://127.0.0.1:{api}{path}"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        code, out, err = curl(*args)
        assert code == 0, err
        text, status = out.rsplit("\n", 1)
        return int(status), json.loads(text) if text else None

    assert call("POST", "/config/admissions", {"name": "a", "matchers": ["127.0.0.2"]})[0] == 200
    assert call("POST", "/config/climiters", {"name": "c", "limits": ["$ 10"]})[0] == 200
    assert call("POST", "/config/rlimiters", {"name": "r", "limits": ["$ 1000"]})[0] == 200
    st, doc = call("POST", "/config/services", {
        "name": "fwd", "addr": f"127.0.0.1:{port}", "admission": "a", "climiter": "c", "rlimiter": "r",
        "handler": {"type": "tcp"}, "forwarder": {"nodes": [{"name": "t", "addr": f"127.0.0.1:{srv.port}"}]}})
    assert st == 200, doc
    assert until(lambda: exchange(port) == b"ping")
    assert exchange(port, OTHER) == b""
    assert call("GET", "/config/admissions/a")[1]["data"]["matchers"] == ["127.0.0.2"]
    st, doc = call("DELETE", "/config/admissions/a")
    assert st == 400, doc  # still named by fwd
    assert call("PUT", "/config/admissions/a", {"name": "a", "matchers": ["10.0.0.1"]})[0] == 200
    assert until(lambda: exchange(port, OTHER) == b"ping")
    st, doc = call("POST", "/config/climiters", {"name": "bad", "limits": ["$ many"]})
    assert st == 400 and "the limit is not a whole number" in doc["msg"], doc
