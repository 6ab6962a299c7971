"""Remote port forwarding: rtcp and rudp listeners through a relay BIND (doc/protocols/gost-relay.md §3.3, §5).

End to end against portway's own relay server (a real sshd, parallel connections, the relay
killed and back), and against a fake GOST relay written here that checks portway's BIND
request byte for byte and drives the smux session itself.
"""
import getpass
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import free_port
from test_relay_bind import (FIN, NOP, PSH, SYN, Smux, bind_request, read_relay_msg, recv_exact, refused,
                             response, udp_frame, wait_refused)


def start_relay(pw, query="bind=true", name="relay", port=None):
    port = port or free_port()
    p = pw.start("-L", f"relay://127.0.0.1:{port}?{query}", name=name)
    return port, p


def start_rtcp(pw, remote_port, target_port, relay_port, query="", scheme="rtcp", name="rtcp"):
    q = f"?{query}" if query else ""
    p = pw.start("-L", f"{scheme}://127.0.0.1:{remote_port}/127.0.0.1:{target_port}", "-F",
                 f"relay://127.0.0.1:{relay_port}{q}", name=name)
    return p


def wait_bound(p, times=1, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.text().count("bound on the relay") >= times:
            return
        time.sleep(0.05)
    raise TimeoutError(p.text())


def echo_once(port, data, timeout=10):
    """Send data, read the same amount back (no half close: smux streams have none)."""
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    threading.Thread(target=lambda: c.sendall(data), daemon=True).start()
    got = bytearray()
    while len(got) < len(data):
        d = c.recv(65536)
        if not d:
            break
        got += d
    c.close()
    return bytes(got)


# ---- end to end through portway's relay ----


@pytest.fixture
def sshd(tmp_path):
    if not shutil.which("ssh-keygen") or not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("openssh-server/openssh-client not installed")
    user = getpass.getuser()
    host_key = tmp_path / "host_key"
    client_key = tmp_path / "client_key"
    for k in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
    (tmp_path / "authorized_keys").write_text((tmp_path / "client_key.pub").read_text())
    port = free_port()
    cfg = tmp_path / "sshd_config"
    cfg.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
AuthorizedKeysFile {tmp_path}/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
PidFile none
LogLevel ERROR
""")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    elif not os.path.isdir("/run/sshd"):
        pytest.skip("sshd needs /run/sshd (run the tests as root)")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "sshd.log", "wb"))
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None, (tmp_path / "sshd.log").read_text()
            time.sleep(0.05)

    class S:
        pass

    s = S()
    s.port, s.key, s.user = port, client_key, user
    yield s
    proc.terminate()
    proc.wait()


def ssh_run(sshd, port, command):
    """Run command with the real ssh client against sshd reached at 127.0.0.1:port."""
    return subprocess.run(["ssh", "-i", str(sshd.key), "-p", str(port), "-o", "StrictHostKeyChecking=no",
                           "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                           f"{sshd.user}@127.0.0.1", command], capture_output=True, text=True, timeout=30)


def test_rtcp_exposes_sshd(pw, sshd):
    relay, _ = start_relay(pw)
    remote = free_port()
    client = start_rtcp(pw, remote, sshd.port, relay)
    wait_bound(client)
    r = ssh_run(sshd, remote, "echo hello through rtcp; uname -s")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello through rtcp\nLinux\n"


def test_rtcp_parallel_connections_share_one_session(pw, echo):
    srv = echo()
    relay, relay_p = start_relay(pw)
    remote = free_port()
    client = start_rtcp(pw, remote, srv.port, relay)
    wait_bound(client)
    results = []
    payloads = [os.urandom(100000 + i * 997) for i in range(20)]

    def run(i):
        results.append(echo_once(remote, payloads[i]) == payloads[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count(True) == 20
    assert srv.connections == 20
    assert relay_p.text().count("BIND tcp on") == 1


def test_rtcp_large_transfer_both_ways(pw, echo):
    srv = echo()
    relay, _ = start_relay(pw)
    remote = free_port()
    wait_bound(start_rtcp(pw, remote, srv.port, relay))
    data = os.urandom(8 << 20)
    assert echo_once(remote, data, timeout=30) == data


def test_rtcp_smux_v2_end_to_end(pw, echo):
    srv = echo()
    relay, _ = start_relay(pw, query="bind=true&mux.version=2")
    remote = free_port()
    wait_bound(start_rtcp(pw, remote, srv.port, relay, query="mux.version=2"))
    data = os.urandom(3 << 20)
    assert echo_once(remote, data, timeout=30) == data


def test_rtcp_session_killed_then_bound_again(pw, echo):
    srv = echo()
    relay, relay_p = start_relay(pw, name="relay1")
    remote = free_port()
    client = start_rtcp(pw, remote, srv.port, relay)
    wait_bound(client)
    assert echo_once(remote, b"before") == b"before"
    relay_p.kill()
    assert refused(remote), "the remote port dies with the relay"
    client.wait_log("ended", 5)
    time.sleep(1.5)
    start_relay(pw, name="relay2", port=relay)
    wait_bound(client, times=2, timeout=12)
    assert echo_once(remote, b"after") == b"after"
    text = client.text()
    assert "binding again in 1s" in text


def test_rtcp_stopped_closes_the_remote_port(pw, echo):
    srv = echo()
    relay, relay_p = start_relay(pw)
    remote = free_port()
    client = start_rtcp(pw, remote, srv.port, relay)
    wait_bound(client)
    assert not refused(remote)
    client.stop()
    assert wait_refused(remote, 5)
    relay_p.wait_log("the port is closed", 5)


def test_rtcp_refused_bind_backs_off(pw, echo):
    srv = echo()
    relay, relay_p = start_relay(pw, query="nodelay=false")  # bind not allowed
    client = start_rtcp(pw, free_port(), srv.port, relay)
    client.wait_log("BIND refused: 3 Forbidden", 5)
    client.wait_log("binding again in 1s", 5)
    client.wait_log("binding again in 2s", 5)
    assert "BIND tcp on" not in relay_p.text()


def test_rtcp_target_down_closes_the_stream(pw):
    relay, _ = start_relay(pw)
    remote = free_port()
    client = start_rtcp(pw, remote, free_port(), relay)
    wait_bound(client)
    c = socket.create_connection(("127.0.0.1", remote), timeout=5)
    assert c.recv(10) == b""
    # the session survives a failed target
    c2 = socket.create_connection(("127.0.0.1", remote), timeout=5)
    assert c2.recv(10) == b""


def test_rtcp_yaml_with_chain(pw, echo):
    srv = echo()
    relay, _ = start_relay(pw)
    remote = free_port()
    client = pw.start(config=f"""
services:
  - name: expose
    addr: 127.0.0.1:{remote}
    handler: {{type: rtcp}}
    listener: {{type: rtcp, chain: to-relay}}
    forwarder:
      nodes: [{{name: echo, addr: "127.0.0.1:{srv.port}"}}]
chains:
  - name: to-relay
    hops:
      - name: hop-0
        nodes: [{{name: relay, addr: "127.0.0.1:{relay}", connector: {{type: relay}}, dialer: {{type: tcp}}}}]
""", name="rtcp")
    wait_bound(client)
    assert echo_once(remote, b"yaml") == b"yaml"


def test_rtcp_through_a_hop_before_the_relay(pw, echo):
    """The chain's other hops are crossed with CONNECT; the BIND goes to the last node."""
    srv = echo()
    relay, relay_p = start_relay(pw)
    front = free_port()
    pw.start("-L", f"relay://127.0.0.1:{front}", name="front")
    remote = free_port()
    client = pw.start("-L", f"rtcp://127.0.0.1:{remote}/127.0.0.1:{srv.port}", "-F",
                      f"relay://127.0.0.1:{front}", "-F", f"relay://127.0.0.1:{relay}", name="rtcp")
    wait_bound(client)
    assert echo_once(remote, b"two hops") == b"two hops"
    assert relay_p.text().count("BIND tcp on") == 1


def test_rtcp_config_errors(pw):
    code, out = pw.run("-L", "rtcp://:2222/127.0.0.1:22", "-t")
    assert code == 2 and "rtcp needs a chain" in out
    code, out = pw.run("-L", "rtcp://:2222/127.0.0.1:22", "-F", "forward://127.0.0.1:1", "-t")
    assert code == 2 and "connector must be relay" in out
    code, out = pw.run("-L", "rtcp://:2222", "-F", "relay://127.0.0.1:1", "-t")
    assert code == 2 and "forwarder" in out
    code, out = pw.run("-L", "rudp://:2222/127.0.0.1:53", "-F", "relay://127.0.0.1:1?mux.version=7", "-t")
    assert code == 2 and "mux.version" in out


# ---- against a fake GOST relay ----


class FakeRelay:
    """One-connection relay server that records the BIND request and runs the session by hand."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]

    def accept(self, timeout=10):
        self.lsock.settimeout(timeout)
        c, _ = self.lsock.accept()
        return c

    def close(self):
        self.lsock.close()


@pytest.fixture
def fake_relay():
    f = FakeRelay()
    yield f
    f.close()


def read_request(sock):
    head = recv_exact(sock, 4)
    return head + recv_exact(sock, struct.unpack(">H", head[2:4])[0])


def test_rtcp_against_fake_gost_relay(pw, echo, fake_relay):
    srv = echo()
    remote = free_port()
    client = pw.start("-L", f"rtcp://:{remote}/127.0.0.1:{srv.port}", "-F",
                      f"relay://u:p@127.0.0.1:{fake_relay.port}?mux.keepaliveInterval=300ms", name="rtcp")
    s = fake_relay.accept()
    # [UserAuth] Network=tcp Addr=0.0.0.0:port, exactly as GOST's connector sends it
    assert read_request(s) == bytes.fromhex("01020016010004017501700400020000020007010000000" "0") + \
        struct.pack(">H", remote)
    # a dual-stack GOST answers [::]:port
    s.sendall(response(0, [("::", remote)]))
    client.wait_log(f"remote address [::]:{remote}", 5)
    mux = Smux(s)
    # GOST opens stream 3 with the peer's address, then data
    mux.send(SYN, 3)
    mux.send(PSH, 3, bytes.fromhex("0100000a02000701cb007105c738"))  # 203.0.113.5:51000
    mux.send(PSH, 3, b"ping")
    mux.pump(lambda m: m.data.get(3) == b"ping")
    assert srv.connections == 1
    # header and data in one frame, split across frames too
    mux.send(SYN, 5)
    both = bytes.fromhex("0100000a02000701cb007105c739") + b"pong"
    mux.send(PSH, 5, both[:6])
    mux.send(PSH, 5, both[6:])
    mux.pump(lambda m: m.data.get(5) == b"pong")
    # a stream whose header is not OK is closed without reaching the target
    mux.send(SYN, 7)
    mux.send(PSH, 7, bytes.fromhex("01010000"))
    mux.pump(lambda m: 7 in m.fins)
    assert srv.connections == 2
    # portway keeps the session alive with NOPs
    mux.pump(lambda m: m.nops >= 2, timeout=3)
    # FIN from the relay ends the target connection, whose close comes back as FIN
    mux.send(FIN, 3)
    mux.pump(lambda m: 3 in m.fins)
    # the session's end makes portway bind again
    s.close()
    s2 = fake_relay.accept(timeout=10)
    assert read_request(s2)[:4] == bytes.fromhex("01020016")
    s2.close()


def test_rtcp_fake_relay_sending_garbage_rebinds(pw, echo, fake_relay):
    srv = echo()
    client = pw.start("-L", f"rtcp://127.0.0.1:{free_port()}/127.0.0.1:{srv.port}", "-F",
                      f"relay://127.0.0.1:{fake_relay.port}", name="rtcp")
    s = fake_relay.accept()
    read_request(s)
    s.sendall(bytes.fromhex("02000000"))  # relay version 2: malformed
    client.wait_log("malformed reply", 5)
    s.close()
    s = fake_relay.accept()
    read_request(s)
    s.sendall(response(0, [("127.0.0.1", 1)]))
    s.sendall(bytes.fromhex("0107000000000000"))  # smux cmd 7: protocol error
    client.wait_log("protocol error", 5)
    s.close()
    fake_relay.accept().close()


# ---- rudp ----


def dns_like_server():
    """Answers each query with the same 2-byte id and the question reversed."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))

    def run():
        while True:
            try:
                d, a = s.recvfrom(65535)
            except OSError:
                return
            s.sendto(d[:2] + b"\x81\x80" + d[2:][::-1], a)

    threading.Thread(target=run, daemon=True).start()
    return s


def test_rudp_dns_like_datagrams(pw):
    dns = dns_like_server()
    relay, relay_p = start_relay(pw)
    remote = free_port(socket.SOCK_DGRAM)
    client = start_rtcp(pw, remote, dns.getsockname()[1], relay, scheme="rudp")
    wait_bound(client)
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    for i, c in enumerate(clients):
        c.settimeout(5)
        for q in range(5):
            qid = struct.pack(">H", i * 100 + q)
            question = b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + f"\x07example{i}\x03com\x00".encode() + b"\x00\x01\x00\x01"
            c.sendto(qid + question, ("127.0.0.1", remote))
            data, src = c.recvfrom(65535)
            assert src == ("127.0.0.1", remote)
            assert data == qid + b"\x81\x80" + question[::-1]
    assert "BIND udp on" in relay_p.text()
    dns.close()


def test_rudp_against_fake_gost_relay(pw, fake_relay):
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind(("127.0.0.1", 0))
    tport = target.getsockname()[1]
    remote = free_port(socket.SOCK_DGRAM)
    client = pw.start("-L", f"rudp://:{remote}/127.0.0.1:{tport}", "-F", f"relay://127.0.0.1:{fake_relay.port}",
                      name="rudp")
    s = fake_relay.accept()
    # UDP BIND: CMD 0x82, Network=udp, Addr=0.0.0.0:port
    assert read_request(s) == bytes.fromhex("0182000f0400020001020007010000000" "0") + struct.pack(">H", remote)
    s.sendall(response(0, [("0.0.0.0", remote)]))
    client.wait_log("bound on the relay", 5)
    # two peers, frames split and joined on the connection
    s.sendall(udp_frame("203.0.113.7", 4000, b"from seven")[:5])
    time.sleep(0.1)
    s.sendall(udp_frame("203.0.113.7", 4000, b"from seven")[5:] + udp_frame("203.0.113.8", 4001, b"from eight"))
    target.settimeout(5)
    got = {}
    for _ in range(2):
        d, a = target.recvfrom(100)
        got[d] = a
    assert set(got) == {b"from seven", b"from eight"}
    assert got[b"from seven"] != got[b"from eight"], "one target socket per remote peer"
    target.sendto(b"to seven", got[b"from seven"])
    assert recv_exact(s, 2 + 1 + 7 + 8) == bytes.fromhex("0008ff01cb007107") + struct.pack(">H", 4000) + b"to seven"
    target.sendto(b"to eight", got[b"from eight"])
    assert recv_exact(s, 18) == bytes.fromhex("0008ff01cb007108") + struct.pack(">H", 4001) + b"to eight"
    # an empty datagram cannot be framed (RSV=0 would desync GOST): dropped
    target.sendto(b"", got[b"from seven"])
    target.sendto(b"z", got[b"from seven"])
    assert recv_exact(s, 11) == bytes.fromhex("0001ff01cb007107") + struct.pack(">H", 4000) + b"z"
    s.close()
    client.wait_log("ended", 5)


def test_rudp_max_sessions_drops_new_peers(pw, fake_relay):
    """Past maxSessions a new peer's datagrams are dropped (and logged); known peers go on, and a
    peer whose session ended makes room."""
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind(("127.0.0.1", 0))
    target.settimeout(5)
    tport = target.getsockname()[1]
    remote = free_port(socket.SOCK_DGRAM)
    client = pw.start("-L", f"rudp://:{remote}/127.0.0.1:{tport}?maxSessions=1&ttl=500ms", "-F",
                      f"relay://127.0.0.1:{fake_relay.port}", name="rudp")
    s = fake_relay.accept()
    read_request(s)
    s.sendall(response(0, [("0.0.0.0", remote)]))
    client.wait_log("bound on the relay", 5)
    s.sendall(udp_frame("203.0.113.7", 4000, b"seven 1"))
    assert target.recvfrom(100)[0] == b"seven 1"
    s.sendall(udp_frame("203.0.113.8", 4001, b"eight 1"))
    client.wait_log(": 1 sessions, dropping a datagram from a new peer", 5)
    s.sendall(udp_frame("203.0.113.7", 4000, b"seven 2"))
    d, seven = target.recvfrom(100)
    assert d == b"seven 2", "eight's datagram must not have reached the target"
    target.sendto(b"to seven", seven)
    assert recv_exact(s, 2 + 1 + 7 + 8) == bytes.fromhex("0008ff01cb007107") + struct.pack(">H", 4000) + b"to seven"
    time.sleep(1.5)  # seven's session ends with the ttl
    s.sendall(udp_frame("203.0.113.8", 4001, b"eight 2"))
    d, eight = target.recvfrom(100)
    assert d == b"eight 2"
    assert eight != seven, "a new session, a new target socket"
    s.close()
    client.wait_log("ended", 5)


def test_rtcp_over_tls_to_the_relay(pw, echo, tmp_path):
    """The relay node's dialer handshake (TLS) runs before the BIND."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=relay", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    srv = echo()
    relay = free_port()
    relay_p = pw.start("-L", f"relay+tls://127.0.0.1:{relay}?bind=true&certFile={cert}&keyFile={key}", name="relay")
    remote = free_port()
    client = pw.start("-L", f"rtcp://127.0.0.1:{remote}/127.0.0.1:{srv.port}", "-F", f"relay+tls://127.0.0.1:{relay}",
                      name="rtcp")
    wait_bound(client)
    data = os.urandom(1 << 20)
    assert echo_once(remote, data) == data
    assert "BIND tcp on" in relay_p.text()


def half_close_echo(port, data, timeout=10):
    """Send data, shut down the write side, read until the server closes."""
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        d = c.recv(65536)
        if not d:
            break
        got += d
    c.close()
    return bytes(got)


@pytest.mark.parametrize("size", [1000, 1 << 20])
def test_rtcp_half_close_keeps_the_answer(pw, echo, size):
    """A client that shuts down its write side still gets every byte back: between two portways
    an smux FIN is a half close (smux itself, and so GOST, loses what comes after it)."""
    srv = echo()
    relay, _ = start_relay(pw)
    remote = free_port()
    wait_bound(start_rtcp(pw, remote, srv.port, relay))
    data = os.urandom(size)
    assert half_close_echo(remote, data, timeout=30) == data
