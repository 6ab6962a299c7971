"""The Onifast-compatible gateway and its agent, end to end on loopback with real programs."""
import base64
import hashlib
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import PORTWAY, curl, free_port, wait_port

DOMAIN = "example.test"


def tunnel_add(db, name):
    r = subprocess.run([PORTWAY, "tunnel", "add", name, "--db", str(db)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()[-1]


def api(port, method, path, body=None, token=None, source="127.0.0.1"):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    data = json.dumps(body) if isinstance(body, (dict, list)) else (body or "")
    head = f"{method} {path} HTTP/1.1\r\nHost: gw\r\nContent-Length: {len(data)}\r\nConnection: close\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    s.sendall((head + "\r\n" + data).encode())
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


class Gateway:
    def __init__(self, pw, tmp_path, extra="", name="gateway"):
        self.db = tmp_path / f"{name}.db"
        self.port = free_port()
        self.web = free_port()
        self.secret = tunnel_add(self.db, "site")
        self.proc = pw.start("-L", f"gateway://127.0.0.1:{self.port}?webAddr=127.0.0.1:{self.web}&db={self.db}"
                                   f"&domains={DOMAIN}{extra}", name=name)
        wait_port(self.port)
        wait_port(self.web)

    def pools(self, kind="relay"):
        status, body = api(self.port, "GET", f"/{kind}/pools")
        assert status == 200
        return body


def start_agent(pw, gw, target_port, workers=2, extra="", name="agent", secret=None):
    p = pw.start("-L", f"agent://127.0.0.1:{target_port}?gateway=ws://127.0.0.1:{gw.port}&subdomain=site"
                       f"&secret={secret or gw.secret}&relayWorkers={workers}&tunnelWorkers={workers}{extra}",
                 name=name)
    deadline = time.time() + 10
    while time.time() < deadline:
        if gw.pools().get("site") == workers and gw.pools("tunnel").get("site") == workers:
            return p
        time.sleep(0.05)
    raise AssertionError(f"agent workers did not arrive: {gw.pools()} {gw.pools('tunnel')}\n{p.text()}")


@pytest.fixture
def nginx(tmp_path):
    root = tmp_path / "nginx"
    (root / "html").mkdir(parents=True)
    (root / "html" / "index.html").write_text("<h1>nginx behind the agent</h1>\n")
    with open(root / "html" / "big.bin", "wb") as f:
        f.write(os.urandom(50 * 1024 * 1024))
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(f"""
daemon off;
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
  uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
  server {{ listen 127.0.0.1:{port}; root {root}/html; keepalive_requests 1000; }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)

    class N:
        pass

    n = N()
    n.port = port
    n.big_sha = hashlib.sha256((root / "html" / "big.bin").read_bytes()).hexdigest()
    yield n
    proc.terminate()
    proc.wait()


def test_web_page_keepalive_and_50mib(pw, tmp_path, nginx):
    gw = Gateway(pw, tmp_path)
    start_agent(pw, gw, nginx.port)
    code, out, err = curl("-H", f"Host: site.{DOMAIN}", f"http://127.0.0.1:{gw.web}/index.html")
    assert code == 0, err
    assert out == "<h1>nginx behind the agent</h1>\n"
    # keep-alive: two requests on one connection
    code, out, err = curl("-v", "-H", f"Host: site.{DOMAIN}", f"http://127.0.0.1:{gw.web}/index.html",
                          f"http://127.0.0.1:{gw.web}/index.html")
    assert code == 0 and out.count("nginx behind the agent") == 2
    assert "Re-using existing connection" in err or "Reusing existing connection" in err
    r = subprocess.run(["curl", "-sS", "--max-time", "60", "-H", f"Host: site.{DOMAIN}",
                        f"http://127.0.0.1:{gw.web}/big.bin"], capture_output=True, timeout=70)
    assert r.returncode == 0
    assert hashlib.sha256(r.stdout).hexdigest() == nginx.big_sha


def test_unknown_subdomain_404_known_without_agent_502(pw, tmp_path):
    gw = Gateway(pw, tmp_path)
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: nosuch.{DOMAIN}",
                          f"http://127.0.0.1:{gw.web}/")
    assert out == "404"
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: site.{DOMAIN}",
                          f"http://127.0.0.1:{gw.web}/")
    assert out == "502"
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: site.other.test",
                          f"http://127.0.0.1:{gw.web}/")
    assert out == "404", "a host outside the configured domains is not routed"


def test_websocket_upgrade_through_web_port(pw, tmp_path):
    """A WebSocket echo server behind the agent, reached through 4053 with the Host header."""
    ws_port = free_port()
    server = subprocess.Popen([sys.executable, "-c", f"""
import asyncio, websockets
async def echo(ws, *a):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, "127.0.0.1", {ws_port}):
        await asyncio.Future()
asyncio.run(main())
"""])
    try:
        wait_port(ws_port)
        gw = Gateway(pw, tmp_path)
        start_agent(pw, gw, ws_port)
        r = subprocess.run([sys.executable, "-c", f"""
import asyncio, websockets
async def main():
    async with websockets.connect("ws://site.{DOMAIN}:{gw.web}/chat", host="127.0.0.1", port={gw.web}) as ws:
        await ws.send("hello over the gateway")
        print(await asyncio.wait_for(ws.recv(), 5))
asyncio.run(main())
"""], capture_output=True, text=True, timeout=20)
        assert r.stdout.strip() == "hello over the gateway", r.stderr
    finally:
        server.terminate()
        server.wait()


@pytest.fixture
def sshd(tmp_path):
    d = tmp_path / "ssh"
    d.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client_key")], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    (d / "sshd_config").write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {d}/sshd.pid
""")
    os.makedirs("/run/sshd", exist_ok=True)
    sshd_bin = "/usr/sbin/sshd"
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)

    class S:
        pass

    s = S()
    s.port = port
    s.key = d / "client_key"
    yield s
    proc.terminate()
    proc.wait()


def test_ssh_through_http_connect_on_4052(pw, tmp_path, sshd, nginx):
    gw = Gateway(pw, tmp_path)
    start_agent(pw, gw, nginx.port, extra=f"&allowPorts={sshd.port}")
    proxy = f"ncat --proxy 127.0.0.1:{gw.port} --proxy-type http %h %p"
    r = subprocess.run(["ssh", "-o", f"ProxyCommand={proxy}", "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-i", str(sshd.key),
                        "-p", "22", f"root@p{sshd.port}.site.{DOMAIN}", "echo", "ran-through-the-gateway"],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "ran-through-the-gateway", r.stderr


def test_tunnel_port_not_allowed_is_closed(pw, tmp_path, nginx, echo):
    srv = echo()
    gw = Gateway(pw, tmp_path)
    start_agent(pw, gw, nginx.port, extra="&allowPorts=1-2")
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(f"CONNECT p{srv.port}.site.{DOMAIN}:1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    s.settimeout(5)
    got = b""
    while True:
        d = s.recv(1000)
        if not d:
            break
        got += d
    assert srv.connections == 0
    assert b"hello" not in got


def test_sni_raw_tls_routed_to_relay_pool(pw, tmp_path):
    d = tmp_path / "tls"
    d.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem"), "-days", "1", "-subj", "/CN=site"],
                   check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(d / "c.pem"),
                               "-key", str(d / "k.pem"), "-www", "-quiet"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        gw = Gateway(pw, tmp_path)
        start_agent(pw, gw, port)
        r = subprocess.run(["curl", "-sk", "--max-time", "10", "--resolve", f"site.{DOMAIN}:{gw.port}:127.0.0.1",
                            f"https://site.{DOMAIN}:{gw.port}/"], capture_output=True, text=True, timeout=15)
        assert r.returncode == 0 and "s_server" in r.stdout, r.stderr
    finally:
        server.terminate()
        server.wait()


def test_static_port_forward_added_and_removed_live(pw, tmp_path, echo, nginx):
    srv = echo()
    gw = Gateway(pw, tmp_path)
    start_agent(pw, gw, nginx.port)
    lp = free_port()
    status, body = api(gw.port, "POST", "/portforwards/add",
                       {"listen_port": lp, "tunnel_host": "site", "target_port": srv.port, "active": True})
    assert status == 200, body
    wait_port(lp)
    s = socket.create_connection(("127.0.0.1", lp))
    s.sendall(b"through a static forward")
    s.settimeout(5)
    assert s.recv(100) == b"through a static forward"
    s.close()
    status, body = api(gw.port, "GET", "/portforwards/list")
    assert status == 200 and body == [{"listen_port": lp, "tunnel_host": "site", "target_port": srv.port,
                                       "active": True}]
    status, body = api(gw.port, "POST", "/portforwards/add",
                       {"listen_port": lp, "tunnel_host": "site", "target_port": srv.port})
    assert status == 409
    status, body = api(gw.port, "POST", "/portforwards/delete", {"listen_port": lp})
    assert status == 200
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", lp), timeout=2)
    status, body = api(gw.port, "POST", "/portforwards/delete", {"listen_port": lp})
    assert status == 404


def _reaches(host, port, payload):
    """True if host:port accepts and echoes payload back through the forward."""
    try:
        s = socket.create_connection((host, port), timeout=2)
    except OSError:
        return False
    with s:
        s.settimeout(5)
        s.sendall(payload)
        return s.recv(100) == payload


def test_port_forward_listens_on_the_gateways_host(pw, tmp_path, echo):
    """A gateway on 127.0.0.1 opens its forwards on 127.0.0.1 only: 127.0.0.2 (loopback as well on
    Linux) is refused. forwardBind="" opens them on every address."""
    srv = echo()
    for name, extra, other_host_reaches in (("gateway", "", False), ("gateway-any", "&forwardBind=", True)):
        gw = Gateway(pw, tmp_path, extra=extra, name=name)
        start_agent(pw, gw, srv.port, name=f"agent-{name}")
        lp = free_port()
        assert api(gw.port, "POST", "/portforwards/add",
                   {"listen_port": lp, "tunnel_host": "site", "target_port": srv.port})[0] == 200
        wait_port(lp)
        assert _reaches("127.0.0.1", lp, b"on the gateway's host")
        if other_host_reaches:
            assert _reaches("127.0.0.2", lp, b"on another address")
        else:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.2", lp), timeout=2)


def test_port_forwards_reloaded_at_start(pw, tmp_path, echo, nginx):
    srv = echo()
    gw = Gateway(pw, tmp_path)
    start_agent(pw, gw, nginx.port)
    lp = free_port()
    assert api(gw.port, "POST", "/portforwards/add",
               {"listen_port": lp, "tunnel_host": "site", "target_port": srv.port})[0] == 200
    out = subprocess.run(["sqlite3", str(gw.db), "SELECT listen_port, tunnel_host, target_port, active "
                                                 "FROM PortForwards"], capture_output=True, text=True).stdout
    assert out.strip() == f"{lp}|site|{srv.port}|1"
    gw.proc.stop()
    gw2 = pw.start("-L", f"gateway://127.0.0.1:{free_port()}?webAddr=127.0.0.1:{free_port()}&db={gw.db}",
                   name="gateway2")
    gw2.wait_log(f"port forward :{lp}")


def test_wrong_secret_is_401_and_no_pool(pw, tmp_path):
    gw = Gateway(pw, tmp_path)
    for path in (f"/relay?subdomain=site&secret=xyzzy-not-it", "/tunnel?subdomain=nosuch&secret=x", "/relay"):
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        s.settimeout(5)
        assert s.recv(100).startswith(b"HTTP/1.1 401")
    assert gw.pools() == {} and gw.pools("tunnel") == {}
    assert "xyzzy-not-it" not in gw.proc.text(), "the secret must not be logged"


def ws_dial(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    s.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def test_101_workers_evict_the_oldest(pw, tmp_path):
    gw = Gateway(pw, tmp_path)
    socks = [ws_dial(gw.port, f"/relay?subdomain=site&secret={gw.secret}") for _ in range(101)]
    deadline = time.time() + 5
    while time.time() < deadline and gw.pools().get("site") != 100:
        time.sleep(0.05)
    assert gw.pools() == {"site": 100}
    socks[0].settimeout(5)
    data = socks[0].recv(100)
    assert data == b"" or data[0] & 0x0F == 0x8, "the oldest worker is closed"
    for s in socks[1:]:
        s.setblocking(False)
        try:
            assert s.recv(100) != b""
        except BlockingIOError:
            pass
    for s in socks:
        s.close()


def test_agent_killed_502_then_restored(pw, tmp_path, nginx):
    gw = Gateway(pw, tmp_path)
    agent = start_agent(pw, gw, nginx.port)
    agent.kill()
    t0 = time.time()
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: site.{DOMAIN}",
                          f"http://127.0.0.1:{gw.web}/index.html")
    assert out == "502"
    assert time.time() - t0 < 1.5
    start_agent(pw, gw, nginx.port, name="agent2")
    code, out, err = curl("-H", f"Host: site.{DOMAIN}", f"http://127.0.0.1:{gw.web}/index.html")
    assert "nginx behind the agent" in out


class Sink(http.server.BaseHTTPRequestHandler):
    events = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        Sink.events.append(json.loads(self.rfile.read(n)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_webhook_and_idle_pool_collection(pw, tmp_path, nginx):
    Sink.events = []
    sink = http.server.HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        gw = Gateway(pw, tmp_path, extra=f"&poolIdleTimeout=1s&gcInterval=200ms"
                                         f"&webhook=http://127.0.0.1:{sink.server_port}/notify")
        agent = start_agent(pw, gw, nginx.port)
        deadline = time.time() + 5
        while time.time() < deadline and len(Sink.events) < 2:
            time.sleep(0.05)
        kinds = sorted((e["event"], e["kind"]) for e in Sink.events)
        assert kinds == [("connected", "relay"), ("connected", "tunnel")], Sink.events
        assert all(e["subdomain"] == "site" and e["text"] for e in Sink.events)
        agent.stop()
        deadline = time.time() + 8
        while time.time() < deadline and len(Sink.events) < 4:
            time.sleep(0.1)
        assert sorted(e["event"] for e in Sink.events[2:]) == ["disconnected", "disconnected"], Sink.events
        assert gw.pools() == {} and gw.pools("tunnel") == {}
    finally:
        sink.shutdown()


def test_api_allow_list_and_token(pw, tmp_path):
    gw = Gateway(pw, tmp_path)
    assert api(gw.port, "GET", "/status")[0] == 200
    status, body = api(gw.port, "GET", "/status", source="127.0.0.2")
    assert status == 403
    gw2_port = free_port()
    tok = "s3cr3t-token"
    pw.start("-L", f"gateway://127.0.0.1:{gw2_port}?webAddr=&db={tmp_path / 'gw2.db'}&token={tok}", name="gw2")
    wait_port(gw2_port)
    assert api(gw2_port, "GET", "/status")[0] == 401
    assert api(gw2_port, "GET", "/status", token="wrong")[0] == 401
    assert api(gw2_port, "GET", "/status", token=tok, source="127.0.0.2")[0] == 200


def test_api_malformed_json_and_methods(pw, tmp_path):
    gw = Gateway(pw, tmp_path)
    assert api(gw.port, "POST", "/portforwards/add", "{not json")[0] == 400
    assert api(gw.port, "POST", "/portforwards/add", {"listen_port": "x"})[0] == 400
    assert api(gw.port, "POST", "/portforwards/add", {"listen_port": 70000, "tunnel_host": "site",
                                                      "target_port": 1})[0] == 400
    assert api(gw.port, "GET", "/portforwards/add")[0] == 405
    assert api(gw.port, "GET", "/nope")[0] == 404


def test_tunnels_api_and_cli(pw, tmp_path):
    gw = Gateway(pw, tmp_path)
    status, body = api(gw.port, "POST", "/tunnels/add", {"subdomain": "second"})
    assert status == 200 and re.fullmatch(r"[0-9a-f]{64}", body["secret"])
    assert api(gw.port, "POST", "/tunnels/add", {"subdomain": "second"})[0] == 409
    assert api(gw.port, "POST", "/tunnels/add", {"subdomain": "Bad_Name"})[0] == 400
    status, body = api(gw.port, "GET", "/tunnels/list")
    assert [t["subdomain"] for t in body] == ["second", "site"]
    # the database holds hashes, never secrets
    rows = subprocess.run(["sqlite3", str(gw.db), "SELECT secret_hash FROM Tunnels"], capture_output=True,
                          text=True).stdout
    assert gw.secret not in rows and "sha256$" in rows
    r = subprocess.run([PORTWAY, "tunnel", "list", "--db", str(gw.db)], capture_output=True, text=True)
    assert "second" in r.stdout and "site" in r.stdout
    r = subprocess.run([PORTWAY, "tunnel", "del", "second", "--db", str(gw.db)], capture_output=True, text=True)
    assert r.returncode == 0
    r = subprocess.run([PORTWAY, "tunnel", "del", "second", "--db", str(gw.db)], capture_output=True, text=True)
    assert r.returncode == 1


def test_agent_reconnects_when_gateway_restarts(pw, tmp_path, nginx):
    gw = Gateway(pw, tmp_path)
    agent = start_agent(pw, gw, nginx.port)
    gw.proc.stop()
    time.sleep(0.5)
    gw_again = pw.start("-L", f"gateway://127.0.0.1:{gw.port}?webAddr=127.0.0.1:{gw.web}&db={gw.db}"
                              f"&domains={DOMAIN}", name="gateway-again")
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            if gw.pools().get("site") == 2:
                break
        except OSError:
            pass
        time.sleep(0.2)
    code, out, err = curl("-H", f"Host: site.{DOMAIN}", f"http://127.0.0.1:{gw.web}/index.html")
    assert "nginx behind the agent" in out, agent.text()


def test_502_page_is_well_formed(pw, tmp_path):
    gw = Gateway(pw, tmp_path)
    s = socket.create_connection(("127.0.0.1", gw.web))
    s.sendall(f"GET / HTTP/1.1\r\nHost: site.{DOMAIN}\r\n\r\n".encode())
    s.settimeout(5)
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    assert length == len(body)


def test_clients_wait_briefly_for_a_replacement_worker(pw, tmp_path, nginx):
    """One worker, many new connections in a row: each waits for the agent's replacement, none gets 502."""
    gw = Gateway(pw, tmp_path, extra="&workerWait=3s")
    start_agent(pw, gw, nginx.port, workers=1)
    codes = []
    for _ in range(20):
        code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: site.{DOMAIN}",
                              f"http://127.0.0.1:{gw.web}/index.html")
        codes.append(out)
    assert codes == ["200"] * 20


def test_evicted_workers_do_not_stall_refills(pw, tmp_path, nginx):
    """Two agents on one name over the pool cap evict each other; taken workers are still replaced at once."""
    gw = Gateway(pw, tmp_path, extra="&maxIdleWorkers=4&workerWait=3s")
    for name in ("a1", "a2"):
        pw.start("-L", f"agent://127.0.0.1:{nginx.port}?gateway=ws://127.0.0.1:{gw.port}&subdomain=site"
                       f"&secret={gw.secret}&relayWorkers=3&tunnelWorkers=0", name=name)
    time.sleep(1)
    codes = []
    for _ in range(30):
        code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: site.{DOMAIN}",
                              f"http://127.0.0.1:{gw.web}/index.html")
        codes.append(out)
    assert codes.count("200") == 30, codes


def test_api_allow_list_dual_stack_and_cidrs(pw, tmp_path):
    """An IPv4 client of a dual-stack gateway (::ffff:127.0.0.1) is 127.0.0.1 to the allow-list;
    CIDRs and ranges match by address; a malformed entry is a configuration error."""
    port = free_port()
    pw.start("-L", f"gateway://:{port}?webAddr=&db={tmp_path / 'ds.db'}", name="dual")
    wait_port(port)
    assert api(port, "GET", "/status")[0] == 200
    assert api(port, "GET", "/status", source="127.0.0.2")[0] == 403
    port2 = free_port()
    pw.start("-L", f"gateway://:{port2}?webAddr=&db={tmp_path / 'cidr.db'}&apiAllow=127.0.0.0/30,::1/128",
             name="cidr")
    wait_port(port2)
    assert api(port2, "GET", "/status", source="127.0.0.2")[0] == 200
    assert api(port2, "GET", "/status", source="127.0.0.9")[0] == 403
    port3 = free_port()
    pw.start("-L", f"gateway://:{port3}?webAddr=&db={tmp_path / 'range.db'}&apiAllow=127.0.0.5-127.0.0.7",
             name="range")
    wait_port(port3)
    assert api(port3, "GET", "/status", source="127.0.0.6")[0] == 200
    assert api(port3, "GET", "/status")[0] == 403
    for bad in ("127.0.0.0/33", "localhost", "10.0.0.0/x", "::1-127.0.0.1"):
        code, out = pw.run("-t", "-L", f"gateway://:{free_port()}?webAddr=&db={tmp_path / 'bad.db'}&apiAllow={bad}")
        assert code == 2 and "apiAllow" in out and bad in out, (bad, out)
