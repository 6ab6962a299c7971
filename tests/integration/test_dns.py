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
