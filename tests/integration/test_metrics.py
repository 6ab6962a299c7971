"""The Prometheus endpoint: GOST's metric names and labels, counted per worker, scraped with curl
and checked with promtool."""
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import PORTWAY, curl, free_port, wait_port
from test_gateway import DOMAIN, Gateway, start_agent, tunnel_add

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(port, path="/metrics", user=None, check=True):
    args = ["-i", f"http://127.0.0.1:{port}{path}"]
    if user:
        args = ["-u", user] + args
    code, out, err = curl(*args)
    assert code == 0, err
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    status = int(head.split()[1])
    if check and status == 200:
        promtool(body)
    return status, body


def promtool(text):
    if not shutil.which("promtool"):
        pytest.skip("promtool is not installed (Debian package prometheus)")
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert r.returncode == 0, (r.stdout + r.stderr).decode() + "\n" + text[:4000]


def parse(body):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(samples, name, **labels):
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def metrics(port, **kw):
    status, body = scrape(port, **kw)
    assert status == 200, body
    return parse(body)


def settle(port, service, **kw):
    """Scrape once the service has no request in flight (closing connections end on their worker)."""
    deadline = time.time() + 10
    while True:
        m = metrics(port, **kw)
        if value(m, "gost_service_requests_in_flight", service=service) == 0 or time.time() > deadline:
            return m
        time.sleep(0.05)


def echo_through(port, payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return got


def test_flag_counts_requests_bytes_errors_and_duration(pw, http_server, echo):
    mport, proxy, fwd = free_port(), free_port(), free_port()
    e = echo()
    p = pw.start("-metrics", f"127.0.0.1:{mport}", "-L", f"http://127.0.0.1:{proxy}",
                 "-L", f"tcp://127.0.0.1:{fwd}/127.0.0.1:{e.port}")
    wait_port(mport)
    assert "metrics: serving http://127.0.0.1:" in p.text()
    before = metrics(mport)
    assert value(before, "gost_services") == 2
    assert value(before, "gost_service_status", state="ready") == 2
    for name in ("service-0", "service-1"):
        assert value(before, "gost_service_requests_total", service=name) == 0
    assert value(before, "process_open_fds") > 0
    assert value(before, "process_resident_memory_bytes") > 1 << 20
    assert abs(value(before, "process_start_time_seconds") - time.time()) < 120

    # three CONNECT tunnels through the http proxy, one forwarded connection with 300 KB each way
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    for _ in range(3):
        code, out, err = curl("-p", "-x", f"http://127.0.0.1:{proxy}", url)
        assert code == 0 and out == "hello from the backend\n", err
    code, out, err = curl("-x", f"http://127.0.0.1:{proxy}", url)  # a plain GET, relayed by the handler
    assert code == 0 and out == "hello from the backend\n", err
    payload = bytes(range(256)) * 1200
    assert echo_through(fwd, payload) == payload
    # a target that refuses: a handler error
    dead = free_port()
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{proxy}",
                          f"http://127.0.0.1:{dead}/")
    assert out == "502", (out, err)

    m = settle(mport, "service-0")
    m = settle(mport, "service-1")
    assert value(m, "gost_service_requests_total", service="service-0") == 5
    assert value(m, "gost_service_requests_total", service="service-1") == 1
    assert value(m, "gost_service_handler_errors_total", service="service-0") == 1
    assert value(m, "gost_service_handler_errors_total", service="service-1") == 0
    assert value(m, "gost_service_transfer_input_bytes_total", service="service-1") >= len(payload)
    assert value(m, "gost_service_transfer_output_bytes_total", service="service-1") >= len(payload)
    assert value(m, "gost_service_transfer_output_bytes_total", service="service-0") >= 4 * len(
        "hello from the backend\n")
    assert value(m, "gost_service_transfer_input_bytes_total", service="service-0") >= 5 * len("GET / HTTP/1.1\r\n")
    assert value(m, "gost_service_request_duration_seconds_count", service="service-0") == 5
    assert value(m, "gost_service_request_duration_seconds_count", service="service-1") == 1
    assert value(m, "gost_service_request_duration_seconds_bucket", service="service-1", le="+Inf") == 1
    assert value(m, "gost_service_request_duration_seconds_bucket", service="service-0", le="60") == 5
    assert value(m, "gost_service_request_duration_seconds_sum", service="service-0") >= 0

    # one tunnel held open: in flight while it lasts
    s = socket.create_connection(("127.0.0.1", fwd), timeout=10)
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    assert value(metrics(mport), "gost_service_requests_in_flight", service="service-1") == 1
    s.close()
    assert value(settle(mport, "service-1"), "gost_service_requests_total", service="service-1") == 2

    # only the path serves metrics; HEAD and a query are fine
    status, _ = scrape(mport, path="/other")
    assert status == 404
    status, _ = scrape(mport, path="/metrics?x=1")
    assert status == 200
    code, out, err = curl("-I", f"http://127.0.0.1:{mport}/metrics")
    assert code == 0 and " 200 " in out and "version=0.0.4" in out


CHAINS = """
services:
- name: good
  addr: 127.0.0.1:{good}
  handler: {{type: http, chain: via-hop}}
  listener: {{type: tcp}}
- name: bad
  addr: 127.0.0.1:{bad}
  handler: {{type: http, chain: via-dead}}
  listener: {{type: tcp}}
- name: hop
  addr: 127.0.0.1:{hop}
  handler: {{type: http}}
  listener: {{type: tcp}}
chains:
- name: via-hop
  hops:
  - name: hop-0
    nodes:
    - {{name: the-hop, addr: "127.0.0.1:{hop}", connector: {{type: http}}, dialer: {{type: tcp}}}}
- name: via-dead
  hops:
  - name: hop-1
    nodes:
    - {{name: dead-node, addr: "127.0.0.1:{dead}", connector: {{type: http}}, dialer: {{type: tcp}}}}
metrics:
  addr: 127.0.0.1:{mport}
  path: /m
  auth: {{username: prom, password: "s3cret"}}
"""


def test_yaml_section_with_auth_and_chain_metrics(pw, http_server):
    ports = dict(good=free_port(), bad=free_port(), hop=free_port(), dead=free_port(), mport=free_port())
    pw.start(config=CHAINS.format(**ports))
    mport = ports["mport"]
    wait_port(mport)
    status, _ = scrape(mport, path="/m")
    assert status == 401
    code, out, _ = curl("-i", f"http://127.0.0.1:{mport}/m")
    assert 'WWW-Authenticate: Basic realm="portway metrics"' in out
    status, _ = scrape(mport, path="/m", user="prom:wrong")
    assert status == 401
    status, _ = scrape(mport, path="/m", user="other:s3cret")
    assert status == 401
    status, _ = scrape(mport, path="/metrics", user="prom:s3cret")
    assert status == 404
    auth = dict(path="/m", user="prom:s3cret")
    before = metrics(mport, **auth)
    assert value(before, "gost_chain_errors_total", chain="via-dead", node="dead-node") == 0
    assert value(before, "gost_chain_node_connect_duration_seconds_count", chain="via-hop", node="the-hop") == 0

    url = f"http://127.0.0.1:{http_server.port}/index.html"
    code, out, err = curl("-p", "-x", f"http://127.0.0.1:{ports['good']}", url)
    assert code == 0 and out == "hello from the backend\n", err
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{ports['bad']}", url)
    assert out == "502", (out, err)

    m = settle(mport, "bad", **auth)
    m = settle(mport, "good", **auth)
    assert value(m, "gost_chain_errors_total", chain="via-dead", node="dead-node") == 1
    assert value(m, "gost_chain_errors_total", chain="via-hop", node="the-hop") == 0
    assert value(m, "gost_chain_node_connect_duration_seconds_count", chain="via-hop", node="the-hop") == 1
    assert value(m, "gost_chain_node_connect_duration_seconds_bucket", chain="via-hop", node="the-hop",
                 le="+Inf") == 1
    assert value(m, "gost_chain_node_connect_duration_seconds_count", chain="via-dead", node="dead-node") == 0
    assert value(m, "gost_service_handler_errors_total", service="bad") == 1
    assert value(m, "gost_service_requests_total", service="good") == 1
    assert value(m, "gost_service_requests_total", service="hop") == 1  # the chain's hop is a service here


RELOAD = """
services:
- name: a
  addr: 127.0.0.1:{a}
  handler: {{type: tcp}}
  listener: {{type: tcp}}
  forwarder: {{nodes: [{{name: t, addr: "127.0.0.1:{echo}"}}]}}
{more}
metrics:
  addr: 127.0.0.1:{mport}
"""


def test_reload_keeps_counters_of_surviving_services(pw, echo):
    e = echo()
    ports = dict(a=free_port(), b=free_port(), mport=free_port(), echo=e.port)
    p = pw.start(config=RELOAD.format(more="", **ports))
    wait_port(ports["mport"])
    for _ in range(2):
        assert echo_through(ports["a"], b"hello") == b"hello"
    assert value(settle(ports["mport"], "a"), "gost_service_requests_total", service="a") == 2
    # a changed (idleTimeout) and a new service b: a goes on counting, b starts at 0
    more = ("  metadata: {{idleTimeout: 30s}}\n- name: b\n  addr: 127.0.0.1:{b}\n  handler: {{type: tcp}}\n"
            "  listener: {{type: tcp}}\n  forwarder: {{nodes: [{{name: t, addr: \"127.0.0.1:{echo}\"}}]}}")
    path = p.args[p.args.index("-C") + 1]
    with open(path, "w") as f:
        f.write(RELOAD.format(more=more.format(**ports), **ports))
    p.signal(signal.SIGHUP)
    p.wait_log("reload done")
    m = metrics(ports["mport"])
    assert value(m, "gost_services") == 2
    assert value(m, "gost_service_requests_total", service="a") == 2
    assert value(m, "gost_service_requests_total", service="b") == 0
    assert echo_through(ports["a"], b"again") == b"again"
    assert echo_through(ports["b"], b"bee") == b"bee"
    m = settle(ports["mport"], "b")
    assert value(m, "gost_service_requests_total", service="a") == 3
    assert value(m, "gost_service_requests_total", service="b") == 1
    # the metrics section moves with a reload too
    new_m = free_port()
    with open(path, "w") as f:
        f.write(RELOAD.format(more="", **dict(ports, mport=new_m)))
    p.signal(signal.SIGHUP)
    p.wait_log(f"serving http://127.0.0.1:{new_m}/metrics")
    assert value(metrics(new_m), "gost_services") == 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ports["mport"]), timeout=2).close()


def test_off_loopback_needs_auth(pw):
    svc = ["-L", "tcp://127.0.0.1:0/127.0.0.1:1"]
    for flag in (":9000", "0.0.0.0:9000", "[::]:9000", "192.0.2.1:9000"):
        code, out = pw.run("-metrics", flag, *svc, "-t")
        assert code == 2 and "not a loopback address" in out, (flag, out)
    code, out = pw.run("-metrics", "u:p@0.0.0.0:9000", *svc, "-t")
    assert code == 0, out
    code, out = pw.run("--metrics=127.0.0.1:9000?path=/x", *svc, "-t")
    assert code == 0, out
    code, out = pw.run("-metrics", *svc[:1])
    assert code == 2, out
    base = "services:\n- {name: s, addr: '127.0.0.1:0', handler: {type: tcp}, listener: {type: tcp}, " \
           "forwarder: {nodes: [{name: t, addr: '127.0.0.1:1'}]}}\n"
    code, out = pw.run("-t", config=base + "metrics:\n  addr: :9000\n")
    assert code == 2 and "metrics.addr" in out and "not a loopback address" in out, out
    code, out = pw.run("-t", config=base + "metrics:\n  addr: :9000\n  auth: {username: u, password: p}\n")
    assert code == 0, out
    code, out = pw.run("-t", config=base + "authers:\n- {name: m, auths: [{username: u, password: p}]}\n"
                                            "metrics: {addr: ':9000', auther: m}\n")
    assert code == 0, out
    code, out = pw.run("-t", config=base + "metrics: {addr: '127.0.0.1:9000', path: metrics}\n")
    assert code == 2 and "metrics.path" in out, out
    code, out = pw.run("-t", config=base + "metrics: {addr: '127.0.0.1:9000', bogus: 1}\n")
    assert code == 2 and "metrics.bogus" in out, out
    # refused at start too, not only by -t
    code, out = pw.run("-metrics", ":9000", *svc)
    assert code == 2 and "not a loopback address" in out, out


def test_auther_users_may_scrape(pw):
    mport = free_port()
    cfg = ("services:\n- {name: s, addr: '127.0.0.1:0', handler: {type: tcp}, listener: {type: tcp}, "
           "forwarder: {nodes: [{name: t, addr: '127.0.0.1:1'}]}}\n"
           "authers:\n- {name: m, auths: [{username: a, password: x}, {username: b, password: y}]}\n"
           f"metrics: {{addr: '127.0.0.1:{mport}', auther: m}}\n")
    pw.start(config=cfg)
    wait_port(mport)
    assert scrape(mport)[0] == 401
    assert scrape(mport, user="a:x")[0] == 200
    assert scrape(mport, user="b:y")[0] == 200
    assert scrape(mport, user="a:y")[0] == 401


def test_gateway_pools_and_dialins(pw, tmp_path, http_server):
    mport = free_port()
    db = tmp_path / "gw2.db"
    secret = tunnel_add(db, "site")
    port, web = free_port(), free_port()
    p = pw.start("-metrics", f"127.0.0.1:{mport}", "-L",
                 f"gateway://127.0.0.1:{port}?webAddr=127.0.0.1:{web}&db={db}&domains={DOMAIN}", name="gw2")
    wait_port(port)
    wait_port(mport)

    class G:
        pass

    g = G()
    g.port, g.web, g.secret = port, web, secret
    g.pools = lambda kind="relay": Gateway.pools(g, kind)
    start_agent(pw, g, http_server.port, workers=2)
    m = metrics(mport)
    assert value(m, "portway_gateway_pools", service="service-0", kind="relay") == 1
    assert value(m, "portway_gateway_idle_workers", service="service-0", kind="relay") == 2
    assert value(m, "portway_gateway_idle_workers", service="service-0", kind="tunnel") == 2
    assert value(m, "portway_gateway_waiting_clients", service="service-0", kind="relay") == 0
    assert value(m, "portway_gateway_agent_dialins_total", service="service-0", result="accepted") >= 4
    assert value(m, "portway_gateway_agent_dialins_total", service="service-0", result="refused") == 0
    code, out, err = curl("-H", f"Host: site.{DOMAIN}", f"http://127.0.0.1:{web}/index.html")
    assert code == 0 and out == "hello from the backend\n", err
    # an agent with a wrong secret is refused
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /relay?subdomain=site&secret=nope HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert b" 401 " in s.recv(4096)
    s.close()
    deadline = time.time() + 10
    while True:
        m = metrics(mport)
        if value(m, "portway_gateway_agent_dialins_total", service="service-0", result="refused") == 1:
            break
        assert time.time() < deadline, m
        time.sleep(0.05)
    assert value(m, "portway_gateway_requests_total", service="service-0") >= 1
    assert value(m, "portway_gateway_webhook_failures_total", service="service-0") == 0
