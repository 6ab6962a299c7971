"""GOST's transparent proxy (handler and listener red, alias redir/redirect) in network
namespaces the tests create (never the host's rules): iptables REDIRECT in the nat table with
SO_ORIGINAL_DST, and TPROXY from a second namespace over a veth pair (tproxy=true). The
connection reaches the address the client dialed, directly or through a chain; the service's
bypass refuses a destination."""
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
                                reason="needs root, ip and iptables (scripts/setup.sh installs iptables)")

# A TCP server that answers who it is and what it was sent: "ADDR:PORT got DATA".
TARGET = r'''
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
print("ready", flush=True)
def serve(c):
    with c:
        d = c.recv(1000)
        c.sendall(f"{sys.argv[1]}:{sys.argv[2]} got ".encode() + d)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''

# A client that connects, sends its argument and prints the answer (or "closed": EOF or reset).
CLIENT = r'''
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(sys.argv[3].encode())
out = b""
try:
    while True:
        d = c.recv(1000)
        if not d:
            break
        out += d
except ConnectionResetError:  # closed with our bytes unread
    pass
print(out.decode() or "closed")
'''


def sh(ns, *cmd, check=True):
    r = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, f"{cmd}: {r.stderr}"
    return r


class Netns:
    def __init__(self, name):
        self.name = name
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "add", name], check=True)
        sh(name, "ip", "link", "set", "lo", "up")
        self.procs = []

    def spawn(self, *cmd):
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def target(self, addr, port):
        p = self.spawn(sys.executable, "-c", TARGET, addr, str(port))
        assert p.stdout.readline().strip() == "ready"

    def client(self, addr, port, data, uid=None):
        cmd = [sys.executable, "-c", CLIENT, addr, str(port), data]
        if uid is not None:
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
        return sh(self.name, *cmd).stdout.strip()

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


@pytest.fixture
def netns():
    made = []

    def make(tag):
        ns = Netns(f"pw-{tag}-{os.getpid()}")
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.close()


NOBODY = 65534


def test_redirect_reaches_the_original_destination(pw, netns):
    ns = netns("red")
    for a in ("192.0.2.10", "192.0.2.20"):
        sh(ns.name, "ip", "addr", "add", f"{a}/32", "dev", "lo")
    ns.target("192.0.2.10", 8080)
    ns.target("192.0.2.20", 8080)
    red, chained, proxy = free_port(), free_port(), free_port()
    p = pw.start(config=f"""
services:
- name: transparent
  addr: 127.0.0.1:{red}
  bypass: no-20
  handler: {{type: red}}
  listener: {{type: red}}
bypasses:
- name: no-20
  matchers: ["192.0.2.20"]
""", netns=ns.name, name="red")
    # only the unprivileged client's connections are redirected, so portway's own dials are not
    sh(ns.name, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "192.0.2.10", "--dport", "8080",
       "-m", "owner", "--uid-owner", str(NOBODY), "-j", "REDIRECT", "--to-ports", str(red))
    sh(ns.name, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "192.0.2.20", "--dport", "8080",
       "-m", "owner", "--uid-owner", str(NOBODY), "-j", "REDIRECT", "--to-ports", str(red))
    assert ns.client("192.0.2.10", 8080, "hello", uid=NOBODY) == "192.0.2.10:8080 got hello"
    p.wait_log("-> 192.0.2.10:8080 (redirected)")
    # the bypass refuses 192.0.2.20: closed, nothing reached it
    assert ns.client("192.0.2.20", 8080, "nope", uid=NOBODY) == "closed"
    p.wait_log("192.0.2.20:8080 is bypassed")
    # through a chain: the http proxy (another portway in the namespace) is asked for the original destination
    px = pw.start("-L", f"http://127.0.0.1:{proxy}", netns=ns.name, name="proxy")
    pw.start("-L", f"redir://127.0.0.1:{chained}", "-F", f"http://127.0.0.1:{proxy}", netns=ns.name, name="chained")
    sh(ns.name, "iptables", "-t", "nat", "-I", "OUTPUT", "-p", "tcp", "-d", "192.0.2.10", "--dport", "8080",
       "-m", "owner", "--uid-owner", str(NOBODY), "-j", "REDIRECT", "--to-ports", str(chained))
    assert ns.client("192.0.2.10", 8080, "via proxy", uid=NOBODY) == "192.0.2.10:8080 got via proxy"
    px.wait_log("CONNECT 192.0.2.10:8080")


def test_tproxy_from_another_namespace(pw, netns):
    """The client's namespace routes 198.51.100.0/24 to the proxy's over a veth pair; there TPROXY
    hands the connection to portway's IP_TRANSPARENT listener, whose own address is the destination."""
    a, b = netns("tpa"), netns("tpb")
    vb = veth_pair(a, b)
    # in b: the target really is 198.51.100.7 (on lo)
    sh(b.name, "ip", "addr", "add", "198.51.100.7/32", "dev", "lo")
    b.target("198.51.100.7", 80)
    port = free_port()
    p = pw.start("-L", f"red://0.0.0.0:{port}?tproxy=true", netns=b.name, name="tproxy")
    sh(b.name, "iptables", "-t", "mangle", "-A", "PREROUTING", "-i", vb, "-p", "tcp", "-d", "198.51.100.7",
       "--dport", "80", "-j", "TPROXY", "--on-port", str(port), "--tproxy-mark", "1")
    assert a.client("198.51.100.7", 80, "transparent") == "198.51.100.7:80 got transparent"
    p.wait_log("10.200.0.1")
    p.wait_log("-> 198.51.100.7:80 (redirected)")


# A UDP server that answers each datagram with "ADDR:PORT got DATA".
UDP_TARGET = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(f"{sys.argv[1]}:{sys.argv[2]} got ".encode() + d, a)
'''

# Sends each argument as a datagram to ADDR:PORT from one socket; prints "FROM REPLY" per answer.
UDP_CLIENT = r'''
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(10)
for d in sys.argv[3:]:
    c.sendto(d.encode(), (sys.argv[1], int(sys.argv[2])))
    r, a = c.recvfrom(65535)
    print(f"{a[0]}:{a[1]} {r.decode()}")
'''


def veth_pair(a, b):
    """a (the client side, 10.200.0.1) routes 198.51.100.0/24 to b (10.200.0.2); b's marked packets
    are delivered locally, as TPROXY needs."""
    va, vb = f"pwa{os.getpid() % 100000}", f"pwb{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", va, "netns", a.name, "type", "veth", "peer", "name", vb, "netns", b.name],
                   check=True)
    sh(a.name, "ip", "addr", "add", "10.200.0.1/24", "dev", va)
    sh(b.name, "ip", "addr", "add", "10.200.0.2/24", "dev", vb)
    sh(a.name, "ip", "link", "set", va, "up")
    sh(b.name, "ip", "link", "set", vb, "up")
    sh(a.name, "ip", "route", "add", "198.51.100.0/24", "via", "10.200.0.2")
    sh(b.name, "ip", "rule", "add", "fwmark", "1", "lookup", "100")
    sh(b.name, "ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")
    return vb


def test_redu_tproxy_udp(pw, netns):
    """UDP through TPROXY: each client's datagrams reach the address it wrote to, and the answers
    come back from that address (the session socket is bound there)."""
    a, b, c = netns("ua"), netns("ub"), netns("uc")
    vb = veth_pair(a, b)
    # the destinations live in c, behind b (b's session sockets are bound to those addresses, so
    # they cannot be b's own)
    vb2, vc = f"pwc{os.getpid() % 100000}", f"pwd{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", vb2, "netns", b.name, "type", "veth", "peer", "name", vc, "netns", c.name],
                   check=True)
    sh(b.name, "ip", "addr", "add", "10.201.0.1/24", "dev", vb2)
    sh(c.name, "ip", "addr", "add", "10.201.0.2/24", "dev", vc)
    sh(b.name, "ip", "link", "set", vb2, "up")
    sh(c.name, "ip", "link", "set", vc, "up")
    sh(b.name, "ip", "route", "add", "198.51.100.0/24", "via", "10.201.0.2")
    for addr in ("198.51.100.7", "198.51.100.8"):
        sh(c.name, "ip", "addr", "add", f"{addr}/32", "dev", "lo")
    p_t = c.spawn(sys.executable, "-c", UDP_TARGET, "198.51.100.7", "53")
    assert p_t.stdout.readline().strip() == "ready"
    p_t = c.spawn(sys.executable, "-c", UDP_TARGET, "198.51.100.8", "5353")
    assert p_t.stdout.readline().strip() == "ready"
    port = free_port(socket.SOCK_DGRAM)
    p = pw.start("-L", f"redu://0.0.0.0:{port}?ttl=5s", netns=b.name, name="redu")
    sh(b.name, "iptables", "-t", "mangle", "-A", "PREROUTING", "-i", vb, "-p", "udp", "-d", "198.51.100.0/24",
       "-j", "TPROXY", "--on-port", str(port), "--tproxy-mark", "1")
    out = sh(a.name, sys.executable, "-c", UDP_CLIENT, "198.51.100.7", "53", "one", "two", "three").stdout.split("\n")
    assert out[:3] == ["198.51.100.7:53 198.51.100.7:53 got one", "198.51.100.7:53 198.51.100.7:53 got two",
                       "198.51.100.7:53 198.51.100.7:53 got three"], out
    out = sh(a.name, sys.executable, "-c", UDP_CLIENT, "198.51.100.8", "5353", "other").stdout.strip()
    assert out == "198.51.100.8:5353 198.51.100.8:5353 got other"
    p.wait_log("-> 198.51.100.7:53 (redirected)")
    p.wait_log("-> 198.51.100.8:5353 (redirected)")
    # one session per client and destination: three datagrams, one redirect line
    assert p.text().count("-> 198.51.100.7:53 (redirected)") == 1


def test_sniffing_and_mitm_are_refused(pw):
    code, out = pw.run("-L", "red://:12345?sniffing=true", "-t")
    assert code == 2 and "sniffing is not implemented" in out
    code, out = pw.run("-L", "red://:12345?mitm.certFile=/x", "-t")
    assert code == 2 and "mitm.certFile" in out
    code, out = pw.run("-L", "redirect://:12345?tproxy=true", "-t")
    assert code == 0, out
    code, out = pw.run("-L", "redu://:12345?sniffing=true", "-t")
    assert code == 2 and "QUIC sniffing is not implemented" in out
    code, out = pw.run("-L", "redu+udp://:12345", "-t")
    assert code == 2 and "handler redu takes its sessions from listener redu" in out
