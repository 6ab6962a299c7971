"""GOST's hosts and resolvers: where a name goes when portway dials it. The names are .test
names that nothing else resolves; the nameservers are dnsmasq on loopback ports."""
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port, wait_port


class TagServer:
    """Answers every connection with its tag, on host:port."""

    def __init__(self, host, port=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.tag = host.encode()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.sendall(self.tag + b"\n")
            finally:
                c.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def tags():
    """Tag servers on 127.0.0.2 and 127.0.0.3 (and ::1) sharing one port."""
    for _ in range(20):
        a = TagServer("127.0.0.2")
        try:
            b = TagServer("127.0.0.3", a.port)
            c = TagServer("::1", a.port)
        except OSError:
            a.close()
            continue
        yield a.port
        for s in (a, b, c):
            s.close()
        return
    pytest.fail("no port free on 127.0.0.2, 127.0.0.3 and ::1 at once")


def fetch_tag(port, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                data = b""
                while not data.endswith(b"\n"):
                    d = s.recv(100)
                    if not d:
                        break
                    data += d
                return data.decode().strip()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


HOSTS = """
hosts:
  - name: hosts-0
    mappings:
      - {ip: 127.0.0.3, hostname: backend.test, aliases: [alias.test]}
      - {ip: 127.0.0.2, hostname: backend.test}
      - {ip: "::1", hostname: six.test}
      - {ip: 127.0.0.2, hostname: .corp.test}
"""


def forward(port, target, extra=""):
    return f"""
  - name: fwd-{port}
    addr: 127.0.0.1:{port}
{extra}    handler: {{type: tcp}}
    listener: {{type: tcp}}
    forwarder: {{nodes: [{{addr: "{target}"}}]}}
"""


def test_hosts_pick_the_forward_target(pw, tags):
    ports = [free_port() for _ in range(5)]
    svc = "    hosts: hosts-0\n"
    cfg = HOSTS + "services:" + \
        forward(ports[0], f"backend.test:{tags}", svc) + \
        forward(ports[1], f"alias.test:{tags}", svc) + \
        forward(ports[2], f"a.b.corp.test:{tags}", svc) + \
        forward(ports[3], f"six.test:{tags}", svc) + \
        forward(ports[4], f"backend.test:{tags}")
    pw.start(config=cfg)
    assert fetch_tag(ports[0]) == "127.0.0.3"   # the first address written
    assert fetch_tag(ports[1]) == "127.0.0.3"   # an alias
    assert fetch_tag(ports[2]) == "127.0.0.2"   # a wildcard, two levels up
    assert fetch_tag(ports[3]) == "::1"         # IPv6
    # without the service's hosts the name is not known: the client is closed
    assert fetch_tag(ports[4]) == ""


def test_hosts_on_the_command_line(pw, tags):
    p = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{p}/backend.test:{tags}?hosts=backend.test:127.0.0.2,six.test:::1")
    assert fetch_tag(p) == "127.0.0.2"
    q = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{q}/six.test:{tags}?hosts=backend.test:127.0.0.2,six.test:::1")
    assert fetch_tag(q) == "::1"


def test_hosts_in_a_chain(pw, tags):
    """The hop's hosts find the node (proxy.test); the service's find the target, before the chain:
    the proxy is asked for 127.0.0.3, which it could not have resolved from backend.test itself."""
    proxy, front, direct = free_port(), free_port(), free_port()
    cfg = HOSTS + f"""
chains:
  - name: chain-0
    hops:
      - name: hop-0
        hosts: hosts-0
        nodes:
          - {{name: n0, addr: "proxy.test:{proxy}", connector: {{type: http}}, dialer: {{type: tcp}}}}
services:
  - name: proxy
    addr: 127.0.0.1:{proxy}
    handler: {{type: http}}
    listener: {{type: tcp}}
  - name: front
    addr: 127.0.0.1:{front}
    hosts: hosts-0
    handler: {{type: tcp, chain: chain-0}}
    listener: {{type: tcp}}
    forwarder: {{nodes: [{{addr: "backend.test:{tags}"}}]}}
"""
    cfg = cfg.replace("hosts-0\n    mappings:", "hosts-0\n    mappings:\n      - {ip: 127.0.0.1, hostname: proxy.test}")
    pw.start(config=cfg)
    assert fetch_tag(front) == "127.0.0.3"


def test_hosts_in_a_cli_chain(pw, tags):
    proxy, front = free_port(), free_port()
    pw.start("-L", f"http://127.0.0.1:{proxy}", name="proxy")
    pw.start("-L", f"tcp://127.0.0.1:{front}/127.0.0.2:{tags}",
             "-F", f"http://proxy.test:{proxy}?hosts=proxy.test:127.0.0.1")
    assert fetch_tag(front) == "127.0.0.2"


def test_bad_hosts_and_resolvers_are_refused(pw):
    code, out = pw.run("-t", "-L", "tcp://127.0.0.1:1/a.test:1?hosts=a.test:1.2.3")
    assert code == 2 and "\"1.2.3\" is not an IPv4 or IPv6 address" in out
    code, out = pw.run("-t", "-L", "tcp://127.0.0.1:1/a.test:1?resolver=tls://127.0.0.1:853")
    assert code == 2 and "tls:// (DNS over TLS) is not implemented by portway" in out
    code, out = pw.run("-t", config="hosts:\n  - name: h\n    redis: {addr: 127.0.0.1:6379}\n")
    assert code == 2 and "hosts[0].redis: is not implemented by portway" in out


# ---- resolvers: dnsmasq on loopback ports ----

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def dns_query(name, qtype=1, qid=0x1234):
    q = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"


class Dnsmasq:
    """dnsmasq answering only the --address= names given, on a loopback port (UDP and TCP)."""

    def __init__(self, tmp_path, addresses, ttl=0):
        # the UDP port free_port found may be taken for TCP: then another port
        for _ in range(10):
            self.port = free_port(socket.SOCK_DGRAM)
            if self._start(tmp_path, addresses, ttl):
                return
        pytest.fail("dnsmasq found no port: " + self.proc.stderr.read().decode(errors="replace"))

    def _start(self, tmp_path, addresses, ttl):
        args = [DNSMASQ, "-k", "-C", "/dev/null", "-p", str(self.port), "--listen-address=127.0.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts", "--user=root", "--log-queries",
                f"--log-facility={tmp_path}/dnsmasq-{self.port}.log", f"--pid-file={tmp_path}/dnsmasq-{self.port}.pid",
                f"--local-ttl={ttl}"]
        args += [f"--address=/{name}/{ip}" for name, ip in addresses]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2)
                try:
                    s.sendto(dns_query("probe.invalid"), ("127.0.0.1", self.port))
                    s.recv(512)
                    return True
                except OSError:
                    pass
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                if "in use" in err:
                    return False
                pytest.fail("dnsmasq exited: " + err)
            if time.monotonic() > deadline:
                pytest.fail("dnsmasq did not answer")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def dnsmasq(tmp_path):
    started = []

    def make(addresses, ttl=0):
        d = Dnsmasq(tmp_path, addresses, ttl)
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()


class TcpOnlyDns:
    """A DNS server reachable over TCP only (nothing listens on its UDP port): it passes each
    length-prefixed query on to a UDP nameserver, so an answer proves the query came over TCP."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            while True:
                head = c.recv(2, socket.MSG_WAITALL)
                if len(head) < 2:
                    return
                msg = c.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL)
                self.queries += 1
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.settimeout(5)
                    u.sendto(msg, ("127.0.0.1", self.upstream))
                    ans = u.recv(4096)
                c.sendall(len(ans).to_bytes(2, "big") + ans)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


def resolver_service(port, target, resolver, extra=""):
    return forward(port, target, f"    resolver: {resolver}\n" + extra)


def test_resolvers_pick_the_forward_target(pw, tags, dnsmasq):
    a = dnsmasq([("name.test", "127.0.0.2")])
    b = dnsmasq([("name.test", "127.0.0.3")])
    ports = [free_port() for _ in range(4)]
    cfg = f"""
hosts:
  - name: h
    mappings: [{{ip: 127.0.0.3, hostname: name.test}}]
resolvers:
  - name: ra
    nameservers: [{{addr: "127.0.0.1:{a.port}"}}]
  - name: rb
    nameservers: [{{addr: "udp://127.0.0.1:{b.port}"}}]
services:""" + resolver_service(ports[0], f"name.test:{tags}", "ra") + \
        resolver_service(ports[1], f"name.test:{tags}", "rb") + \
        resolver_service(ports[2], f"name.test:{tags}", "ra", "    hosts: h\n") + \
        resolver_service(ports[3], f"missing.test:{tags}", "ra")
    pw.start(config=cfg)
    assert fetch_tag(ports[0]) == "127.0.0.2"
    assert fetch_tag(ports[1]) == "127.0.0.3"
    assert fetch_tag(ports[2]) == "127.0.0.3"   # hosts before the resolver
    assert fetch_tag(ports[3]) == ""            # no such name: the client is closed


def test_resolver_over_tcp(pw, tags, dnsmasq):
    d = dnsmasq([("name.test", "127.0.0.3")])
    tcp = TcpOnlyDns(d.port)
    try:
        p = free_port()
        pw.start("-L", f"tcp://127.0.0.1:{p}/name.test:{tags}?resolver=tcp://127.0.0.1:{tcp.port}")
        assert fetch_tag(p) == "127.0.0.3"
        assert tcp.queries >= 1
    finally:
        tcp.close()


def test_resolver_prefer_only_and_order(pw, tags, dnsmasq):
    d = dnsmasq([("six.test", "127.0.0.3"), ("six.test", "::1"), ("v6only.test", "::1")])
    dead = free_port(socket.SOCK_DGRAM)   # nothing answers there: the next nameserver is asked
    ports = [free_port() for _ in range(5)]
    ns = f'"127.0.0.1:{d.port}"'
    cfg = f"""
resolvers:
  - name: plain
    nameservers: [{{addr: {ns}}}]
  - name: six
    nameservers: [{{addr: {ns}, prefer: ipv6}}]
  - name: only4
    nameservers: [{{addr: {ns}, only: ipv4}}]
  - name: fallback
    nameservers: [{{addr: "127.0.0.1:{dead}", timeout: 1s}}, {{addr: {ns}}}]
services:""" + resolver_service(ports[0], f"six.test:{tags}", "plain") + \
        resolver_service(ports[1], f"six.test:{tags}", "six") + \
        resolver_service(ports[2], f"v6only.test:{tags}", "plain") + \
        resolver_service(ports[3], f"v6only.test:{tags}", "only4") + \
        resolver_service(ports[4], f"six.test:{tags}", "fallback")
    pw.start(config=cfg)
    assert fetch_tag(ports[0]) == "127.0.0.3"   # IPv4 first by default
    assert fetch_tag(ports[1]) == "::1"
    assert fetch_tag(ports[2]) == "::1"         # no A record: then AAAA
    assert fetch_tag(ports[3]) == ""            # only ipv4: the AAAA is never asked for
    assert fetch_tag(ports[4]) == "127.0.0.3"


def test_resolver_ttl_cache(pw, tags, dnsmasq):
    """dnsmasq answers with TTL 0: with ttl 60s the answer is kept, without it it is not."""
    d = dnsmasq([("name.test", "127.0.0.2")])
    cached, uncached = free_port(), free_port()
    cfg = f"""
workers: 1
resolvers:
  - name: keep
    nameservers: [{{addr: "127.0.0.1:{d.port}", ttl: 60s, timeout: 1s}}]
  - name: ask
    nameservers: [{{addr: "127.0.0.1:{d.port}", timeout: 1s}}]
services:""" + resolver_service(cached, f"name.test:{tags}", "keep") + \
        resolver_service(uncached, f"name.test:{tags}", "ask")
    pw.start(config=cfg)
    assert fetch_tag(cached) == "127.0.0.2"
    assert fetch_tag(uncached) == "127.0.0.2"
    d.stop()
    assert fetch_tag(cached) == "127.0.0.2"
    assert fetch_tag(uncached) == ""


def test_resolver_for_a_chain_node(pw, tags, dnsmasq):
    d = dnsmasq([("proxy.test", "127.0.0.1")])
    proxy, front = free_port(), free_port()
    pw.start("-L", f"http://127.0.0.1:{proxy}", name="proxy")
    pw.start("-L", f"tcp://127.0.0.1:{front}/127.0.0.3:{tags}",
             "-F", f"http://proxy.test:{proxy}?resolver=127.0.0.1:{d.port}")
    assert fetch_tag(front) == "127.0.0.3"


def test_hosts_and_resolvers_through_the_web_api(pw, tags):
    """/config/hosts and /config/resolvers as GOST's API: a change applies as a reload does."""
    from test_api import call
    api, fwd = free_port(), free_port()
    pw.start(config=f"api:\n  addr: 127.0.0.1:{api}\n")
    wait_port(api)
    hosts = {"name": "h1", "mappings": [{"ip": "127.0.0.2", "hostname": "backend.test"}]}
    assert call(api, "POST", "/config/hosts", hosts)[0] == 200
    svc = {"name": "fwd", "addr": f"127.0.0.1:{fwd}", "hosts": "h1", "handler": {"type": "tcp"},
           "listener": {"type": "tcp"}, "forwarder": {"nodes": [{"name": "t", "addr": f"backend.test:{tags}"}]}}
    assert call(api, "POST", "/config/services", svc)[0] == 200
    assert fetch_tag(fwd) == "127.0.0.2"
    hosts["mappings"][0]["ip"] = "127.0.0.3"
    assert call(api, "PUT", "/config/hosts/h1", hosts)[0] == 200
    deadline = time.monotonic() + 10
    while fetch_tag(fwd) != "127.0.0.3":
        assert time.monotonic() < deadline, "the changed mapping did not apply"
        time.sleep(0.1)
    status, body = call(api, "GET", "/config/hosts/h1")
    assert status == 200 and body["data"]["mappings"][0]["ip"] == "127.0.0.3"
    # a hosts list a service names cannot go; a DoT nameserver is refused as at load
    assert call(api, "DELETE", "/config/hosts/h1")[0] == 400
    ok = {"name": "r1", "nameservers": [{"addr": "udp://127.0.0.1:53"}]}
    assert call(api, "POST", "/config/resolvers", ok)[0] == 200
    assert [r["name"] for r in call(api, "GET", "/config/resolvers")[1]["data"]["list"]] == ["r1"]
    status, body = call(api, "POST", "/config/resolvers", {"name": "r2", "nameservers": [{"addr": "tls://127.0.0.1:853"}]})
    assert status == 400, body
    assert fetch_tag(fwd) == "127.0.0.3"
