"""Bandwidth limiters (GOST's `limiters:` and -L ?limiter.in=...): curl through a tcp
forward (the splice path), a tls listener (the copy path) and an http proxy, each
direction, one connection and two at once sharing "$" or each with its own "$$".

A bucket starts full (go-gost's rate.Limiter does too), so a transfer of S bytes at
rate R with burst B takes (S - B) / R: the rate measured is (S - B) / elapsed, which
must be within 10 % of R. A sanitizer build on a loaded machine may be slower than the
limit; there only the upper bound, the one the limiter enforces, is asserted."""
import http.server
import os
import socketserver
import threading
import time

import pytest

from conftest import curl, free_port
from test_tls_helpers import certs  # noqa: F401 (a fixture)

SANITIZED = os.environ.get("PORTWAY_SANITIZED") == "1"
MiB = 1 << 20
RATE = 2 * MiB  # "2MB": go-gost's units are powers of 1024


class Backend(http.server.BaseHTTPRequestHandler):
    """GET /N: N bytes; PUT: reads the body, answers how much it got."""
    protocol_version = "HTTP/1.1"
    chunk = os.urandom(64 * 1024)

    def do_GET(self):
        n = int(self.path.strip("/"))
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        while n > 0:
            part = self.chunk[:min(n, len(self.chunk))]
            self.wfile.write(part)
            n -= len(part)

    def do_PUT(self):
        n = int(self.headers["Content-Length"])
        got = 0
        while got < n:
            b = self.rfile.read(min(65536, n - got))
            if not b:
                break
            got += len(b)
        body = str(got).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@pytest.fixture
def backend():
    srv = ThreadingServer(("127.0.0.1", 0), Backend)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def transfer(*args, upload=None):
    """One curl; returns (bytes moved, seconds they took). The seconds start when the body
    starts (a download's first byte, an upload's request), so that the connection's set-up
    on a loaded machine does not count."""
    w = ("%{size_upload} %{time_total} %{time_pretransfer}" if upload else
         "%{size_download} %{time_total} %{time_starttransfer}")
    extra = ["-T", str(upload)] if upload else []
    t0 = time.monotonic()
    code, out, err = curl("-f", "-o", "/dev/null", "-w", w, *extra, *args, timeout=60)
    assert code == 0, err
    size, total, start = out.split()
    spans.append((t0 + float(start), t0 + float(total)))
    return int(float(size)), float(total) - float(start)


spans = []  # (start, end) of each transfer's body, in time.monotonic()


def wall(n):
    """Seconds from the first start to the last end of the last n transfers."""
    last = spans[-n:]
    return max(e for _, e in last) - min(b for b, _ in last)


def assert_rate(moved, secs, rate, burst):
    """(moved - burst) / secs is the rate after the bucket's initial burst."""
    measured = (moved - burst) / secs
    assert measured <= rate * 1.10, f"{measured / MiB:.2f} MiB/s over the limit of {rate / MiB:.2f} MiB/s"
    if not SANITIZED:
        assert measured >= rate * 0.90, f"{measured / MiB:.2f} MiB/s, far under the limit of {rate / MiB:.2f} MiB/s"


def parallel(*fns):
    """Run the functions at once; their results in order."""
    results, errors = [None] * len(fns), []

    def run(i):
        try:
            results[i] = fns[i]()
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_download_through_tcp_forward_splice_path(pw, backend):
    """-L ...?limiter.out=2MB: what the service writes to its client (GOST's "out")."""
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{backend}?limiter.out=2MB")
    size = 8 * MiB
    moved, secs = transfer(f"http://127.0.0.1:{port}/{size}")
    assert moved == size
    assert_rate(moved, secs, RATE, RATE)


def test_upload_through_http_proxy_is_in(pw, backend, tmp_path):
    """"$ 2MB": what the service reads from its client (an upload), not what it sends it."""
    port = free_port()
    pw.start(config=f"""
services:
  - name: proxy
    addr: 127.0.0.1:{port}
    limiter: lim
    handler: {{type: http}}
    listener: {{type: tcp}}
limiters:
  - name: lim
    limits:
      - '$ 2MB'
""")
    up = tmp_path / "up.bin"
    up.write_bytes(os.urandom(8 * MiB))
    moved, secs = transfer("-p", "-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{backend}/up", upload=up)
    assert moved == 8 * MiB
    assert_rate(moved, secs, RATE, RATE)
    # the output is not limited: a download of the same size takes a fraction of the time
    moved, secs = transfer("-p", "-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{backend}/{8 * MiB}")
    assert moved == 8 * MiB
    if not SANITIZED:
        assert secs < (8 * MiB - RATE) / RATE / 2, f"a download took {secs:.2f}s: it was limited"


def test_copy_path_tls_listener_both_directions(pw, backend, certs, tmp_path):  # noqa: F811
    """A TLS listener's connections are copied, not spliced: the same limits hold there."""
    port = free_port()
    pw.start(config=f"""
services:
  - name: tls
    addr: 127.0.0.1:{port}
    limiter: lim
    handler: {{type: tcp}}
    listener:
      type: tls
      tls: {{certFile: {certs.server[0]}, keyFile: {certs.server[1]}}}
    forwarder: {{nodes: [{{addr: 127.0.0.1:{backend}}}]}}
limiters:
  - name: lim
    limits:
      - '$ 1MB 2MB'
""")
    moved, secs = transfer("-k", f"https://127.0.0.1:{port}/{6 * MiB}")
    assert moved == 6 * MiB
    assert_rate(moved, secs, RATE, RATE)
    up = tmp_path / "up.bin"
    up.write_bytes(os.urandom(4 * MiB))
    moved, secs = transfer("-k", f"https://127.0.0.1:{port}/up", upload=up)
    assert moved == 4 * MiB
    assert_rate(moved, secs, MiB, MiB)


def start_forward(pw, backend, *lines):
    """A tcp forward to the backend on two workers, limited by these limit lines; its port."""
    port = free_port()
    pw.start(config=f"""
workers: 2
services:
  - name: fwd
    addr: 127.0.0.1:{port}
    limiter: lim
    handler: {{type: tcp}}
    forwarder: {{nodes: [{{addr: 127.0.0.1:{backend}}}]}}
limiters:
  - name: lim
    limits: {list(lines)}
""")
    return port


def test_two_connections_share_the_service_bucket(pw, backend):
    """"$": one bucket for every connection of the service, on every worker."""
    port = start_forward(pw, backend, "$ 0 2MB")
    size = 6 * MiB
    one = lambda: transfer(f"http://127.0.0.1:{port}/{size}")  # noqa: E731
    res = parallel(one, one)
    assert all(m == size for m, _ in res)
    assert_rate(2 * size, wall(2), RATE, RATE)


def test_each_connection_has_its_own_bucket(pw, backend):
    """"$$": each connection is limited alone, so two at once move twice as much."""
    port = start_forward(pw, backend, "$$ 1MB 1MB")
    size = 4 * MiB
    one = lambda: transfer(f"http://127.0.0.1:{port}/{size}")  # noqa: E731
    res = parallel(one, one)
    for moved, secs in res:
        assert moved == size
        assert_rate(moved, secs, MiB, MiB)


def test_tighter_of_service_and_connection_limits(pw, backend):
    """"$" and "$$" together: a lone connection gets the tighter one."""
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{backend}?limiter.out=4MB&limiter.conn.out=1MB")
    size = 4 * MiB
    moved, secs = transfer(f"http://127.0.0.1:{port}/{size}")
    assert moved == size
    assert_rate(moved, secs, MiB, MiB)


def test_ip_and_cidr_lines(pw, backend):
    """A block's line gives each of its addresses a bucket of its own, shared by that address's
    connections; an address's own line comes before any block. Clients on 127.0.0.0/8
    addresses of their own (curl --interface)."""
    port = start_forward(pw, backend, "127.0.0.0/8 0 1MB", "127.0.0.3 0 2MB")

    def get(src, size):
        return lambda: transfer("--interface", src, f"http://127.0.0.1:{port}/{size}")

    # two addresses of the block: a bucket each
    (m1, s1), (m2, s2) = parallel(get("127.0.0.1", 3 * MiB), get("127.0.0.2", 3 * MiB))
    assert m1 == m2 == 3 * MiB
    assert_rate(m1, s1, MiB, MiB)
    assert_rate(m2, s2, MiB, MiB)
    # two connections of one address: one bucket
    res = parallel(get("127.0.0.4", 2 * MiB), get("127.0.0.4", 2 * MiB))
    assert all(m == 2 * MiB for m, _ in res)
    assert_rate(4 * MiB, wall(2), MiB, MiB)
    # an address of its own line
    moved, secs = get("127.0.0.3", 5 * MiB)()
    assert_rate(moved, secs, RATE, RATE)


def test_limiter_errors_exit_2(pw, tmp_path):
    cases = [
        ("limiters: [{name: l, limits: ['$ 100']}]\n", "limiters[0].limits[0]: input rate \"100\""),
        ("limiters: [{name: l, file: {path: /x}}]\n", "limiters[0].file: is not implemented by portway"),
        ("limiters: [{name: l, limits: ['10.0.0.0/33 1MB']}]\n",
         "scope \"10.0.0.0/33\" is not $, $$, an IP address or a CIDR block"),
        ("services: [{addr: '127.0.0.1:1', limiter: x, handler: {type: http}}]\n",
         "services[0].limiter: no limiter named \"x\" in limiters"),
    ]
    for text, msg in cases:
        code, out = pw.run("-t", config=text)[:2]
        assert code == 2, out
        assert msg in out, out
    code, out = pw.run("-L", "tcp://127.0.0.1:1/127.0.0.1:2?limiter.in=fast", "-t")[:2]
    assert code == 2 and "input rate \"fast\" is not a byte quantity" in out, out
    code, out = pw.run("-L", "http://127.0.0.1:1", "-F", "relay://127.0.0.1:2?limiter.in=1MB", "-t")[:2]
    assert code == 2 and "nodes[0].metadata.limiter.in: is not implemented by portway" in out, out


def test_limiter_through_the_web_api(pw, backend):
    """/config/limiters as GOST's API: add one, point a service at it, and it limits;
    a limiter still named by a service cannot be deleted."""
    from test_api import call
    api, port = free_port(), free_port()
    pw.start(config=f"""api:
  addr: 127.0.0.1:{api}
services:
  - name: fwd
    addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    forwarder: {{nodes: [{{addr: 127.0.0.1:{backend}}}]}}
""")
    st, doc = call(api, "POST", "/config/limiters", {"name": "l1", "limits": ["$ 0 1MB"]})
    assert st == 200, doc
    assert call(api, "GET", "/config/limiters/l1")[1]["data"]["limits"] == ["$ 0 1MB"]
    st, doc = call(api, "POST", "/config/limiters", {"name": "l2", "limits": ["$ 1"]})
    assert st == 400 and "input rate \"1\"" in doc["msg"], doc
    svc = {"name": "fwd", "addr": f"127.0.0.1:{port}", "limiter": "l1", "handler": {"type": "tcp"},
           "forwarder": {"nodes": [{"name": "t", "addr": f"127.0.0.1:{backend}"}]}}
    st, doc = call(api, "PUT", "/config/services/fwd", svc)
    assert st == 200, doc
    st, doc = call(api, "DELETE", "/config/limiters/l1")
    assert st == 400 and "l1" in doc["msg"], doc
    size = 3 * MiB
    deadline_ok = False
    for _ in range(50):  # the new service replaces the old one: wait until the limited one answers
        moved, secs = transfer(f"http://127.0.0.1:{port}/{size}")
        if secs > 1:
            deadline_ok = True
            break
    assert deadline_ok, "the service was never limited"
    assert_rate(moved, secs, MiB, MiB)
