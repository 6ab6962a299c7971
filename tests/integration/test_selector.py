"""Node selection as GOST's selector does it: the hash strategy (client IP, or the target with a
handler's hash: host), weighted random, backup nodes, on forwarders and chain hops."""
import socket
import struct
import threading
import time
import zlib

from conftest import free_port, wait_port


class TagServer:
    """Answers every connection with its tag and closes: which node a connection reached."""

    def __init__(self, tag, port=0):
        self.tag = tag
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.sendall(self.tag.encode() + b"\n")
            except OSError:
                pass
            c.close()

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def read_tag(sock):
    sock.settimeout(20)
    data = b""
    while not data.endswith(b"\n"):
        d = sock.recv(100)
        if not d:
            break
        data += d
    sock.close()
    return data.decode().strip()


def tag_via(port, source="127.0.0.1"):
    """Connect from source (any 127/8 address is ours on loopback) and read the node's tag."""
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    return read_tag(s)


def gost_hash_index(key, n):
    """GOST's hash strategy: CRC-32 (IEEE) of the key modulo the nodes in the selection."""
    return zlib.crc32(key.encode()) % n


def socks5_tag(port, host, target_port=80):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    h = host.encode()
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(h)]) + h + struct.pack(">H", target_port))
    rep = b""
    while len(rep) < 10:
        d = s.recv(10 - len(rep))
        assert d, "socks5 reply cut short"
        rep += d
    assert rep[1] == 0, f"socks5 reply {rep[1]}"
    return read_tag(s)


def test_hash_keeps_a_client_on_one_node(pw):
    tags = [TagServer(f"n{i}") for i in range(3)]
    try:
        port = free_port()
        nodes = "".join(f"        - {{name: n{i}, addr: 127.0.0.1:{t.port}}}\n" for i, t in enumerate(tags))
        pw.start(config=f"""services:
  - name: fwd
    addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    listener: {{type: tcp}}
    forwarder:
      selector: {{strategy: hash}}
      nodes:
{nodes}""")
        wait_port(port)
        # two sources GOST's hash puts on different nodes
        a = "127.0.0.1"
        b = next(f"127.0.0.{k}" for k in range(2, 60) if gost_hash_index(f"127.0.0.{k}", 3) != gost_hash_index(a, 3))
        for _ in range(8):
            assert tag_via(port, a) == f"n{gost_hash_index(a, 3)}"
            assert tag_via(port, b) == f"n{gost_hash_index(b, 3)}"
    finally:
        for t in tags:
            t.close()


def test_hash_host_through_a_chain_hop(pw):
    """handler metadata hash: host keys a hash hop on the target: one target, one node, whoever asks."""
    tags = [TagServer(f"n{i}") for i in range(2)]
    try:
        port = free_port()
        nodes = "".join(f"""        - name: n{i}
          addr: 127.0.0.1:{t.port}
          connector: {{type: forward}}
          dialer: {{type: tcp}}
""" for i, t in enumerate(tags))
        pw.start(config=f"""services:
  - name: socks
    addr: 127.0.0.1:{port}
    handler:
      type: socks5
      chain: c0
      metadata: {{hash: host}}
    listener: {{type: tcp}}
chains:
  - name: c0
    hops:
      - name: h0
        selector: {{strategy: hash}}
        nodes:
{nodes}""")
        wait_port(port)
        targets = [f"t{k}.example" for k in range(40)]
        x = targets[0]
        y = next(t for t in targets if gost_hash_index(f"{t}:80", 2) != gost_hash_index(f"{x}:80", 2))
        for _ in range(6):
            assert socks5_tag(port, x) == f"n{gost_hash_index(x + ':80', 2)}"
            assert socks5_tag(port, y) == f"n{gost_hash_index(y + ':80', 2)}"
    finally:
        for t in tags:
            t.close()


def test_weights_shift_random_selection(pw):
    tags = [TagServer("heavy"), TagServer("light")]
    try:
        port = free_port()
        pw.start(config=f"""services:
  - name: fwd
    addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    listener: {{type: tcp}}
    forwarder:
      selector: {{strategy: rand}}
      nodes:
        - {{name: heavy, addr: 127.0.0.1:{tags[0].port}, metadata: {{weight: 9}}}}
        - {{name: light, addr: 127.0.0.1:{tags[1].port}, metadata: {{weight: 1}}}}
""")
        wait_port(port)
        counts = {"heavy": 0, "light": 0}
        for _ in range(200):
            counts[tag_via(port)] += 1
        # 9:1 expects 180:20; equal weights would give 100:100
        assert counts["heavy"] >= 140 and counts["light"] >= 1, counts
    finally:
        for t in tags:
            t.close()


def poll_tag(port, want, deadline=30):
    end = time.time() + deadline
    seen = []
    while time.time() < end:
        t = tag_via(port)
        if t == want:
            return
        seen.append(t)
        time.sleep(0.05)
    raise AssertionError(f"never reached {want}: {seen[-10:]}")


def test_backup_only_while_every_primary_is_down(pw):
    p1, p2, backup = TagServer("p1"), TagServer("p2"), TagServer("backup")
    p1_port = p1.port
    try:
        port = free_port()
        pw.start(config=f"""services:
  - name: fwd
    addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    listener: {{type: tcp}}
    forwarder:
      selector: {{strategy: round, maxFails: 1, failTimeout: 1s}}
      nodes:
        - {{name: backup, addr: 127.0.0.1:{backup.port}, metadata: {{backup: true}}}}
        - {{name: p1, addr: 127.0.0.1:{p1.port}}}
        - {{name: p2, addr: 127.0.0.1:{p2.port}}}
""")
        wait_port(port)
        assert {tag_via(port) for _ in range(10)} == {"p1", "p2"}
        # one primary down: the other takes everything, the backup still none
        p2.close()
        assert {tag_via(port) for _ in range(10)} == {"p1"}
        # every primary down: the backup
        p1.close()
        assert {tag_via(port) for _ in range(6)} == {"backup"}
        # a primary back: once its failTimeout is over the backup leaves the selection
        p1 = TagServer("p1", p1_port)
        poll_tag(port, "p1")
        assert {tag_via(port) for _ in range(10)} == {"p1"}
    finally:
        for t in (p1, p2, backup):
            t.close()


def test_unimplemented_strategy_is_a_config_error(pw):
    code, out = pw.run("-L", "tcp://127.0.0.1:1/127.0.0.1:2,127.0.0.1:3?strategy=parallel", "-t")
    assert code == 2, out
    assert 'strategy "parallel" is not implemented in portway' in out
    code, out = pw.run(config="""services:
  - addr: 127.0.0.1:1
    handler: {type: tcp}
    forwarder:
      selector: {strategy: lowest}
      nodes: [{addr: 127.0.0.1:2}]
""")
    assert code == 2, out
    assert ':5:' in out and 'strategy "lowest" is not implemented in portway' in out


def socks5_auth_tag(port, user, password, host, source):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    s.sendall(b"\x05\x01\x02")
    assert s.recv(2) == b"\x05\x02"
    s.sendall(bytes([1, len(user)]) + user.encode() + bytes([len(password)]) + password.encode())
    assert s.recv(2) == b"\x01\x00"
    h = host.encode()
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(h)]) + h + struct.pack(">H", 80))
    rep = b""
    while len(rep) < 10:
        d = s.recv(10 - len(rep))
        assert d, "socks5 reply cut short"
        rep += d
    assert rep[1] == 0, f"socks5 reply {rep[1]}"
    return read_tag(s)


def test_hash_keys_on_the_authenticated_user(pw):
    """GOST: a client's id (the user it authenticated as) is the key, before hash: host or its IP."""
    tags = [TagServer(f"n{i}") for i in range(2)]
    try:
        port = free_port()
        nodes = "".join(f"""        - name: n{i}
          addr: 127.0.0.1:{t.port}
          connector: {{type: forward}}
""" for i, t in enumerate(tags))
        users = [f"user{k}" for k in range(20)]
        u0 = users[0]
        u1 = next(u for u in users if gost_hash_index(u, 2) != gost_hash_index(u0, 2))
        pw.start(config=f"""services:
  - name: socks
    addr: 127.0.0.1:{port}
    handler:
      type: socks5
      chain: c0
      auther: users
      metadata: {{hash: host}}
authers:
  - name: users
    auths:
      - {{username: {u0}, password: p}}
      - {{username: {u1}, password: p}}
chains:
  - name: c0
    hops:
      - name: h0
        selector: {{strategy: hash}}
        nodes:
{nodes}""")
        wait_port(port)
        for k in range(6):
            target, source = f"t{k}.example", f"127.0.0.{k + 1}"
            assert socks5_auth_tag(port, u0, "p", target, source) == f"n{gost_hash_index(u0, 2)}"
            assert socks5_auth_tag(port, u1, "p", target, source) == f"n{gost_hash_index(u1, 2)}"
    finally:
        for t in tags:
            t.close()
