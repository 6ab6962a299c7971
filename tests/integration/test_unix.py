"""unix sockets, GOST's forms: listener unix (-L unix:///path), dialer and connector unix
(-F unix:///path), handler unix (-L unix://a.sock/b.sock, or through a chain)."""
import os
import socket
import stat
import threading
import time

import pytest

from conftest import free_port, wait_port


class UnixEcho:
    """A threaded echo server on a unix stream socket; answers with a prefix to tell it apart."""

    def __init__(self, path, prefix=b""):
        self.path = str(path)
        self.prefix = prefix
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(64)
        self.connections = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    def _echo(self, c):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(self.prefix + d)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


def roundtrip(s, data=b"hello unix\n"):
    s.settimeout(10)
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        d = s.recv(65536)
        if not d:
            break
        got += d
    return got


def unix_connect(path, timeout=10):
    deadline = time.time() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def sockdir(tmp_path):
    # sun_path holds 108 bytes: pytest's tmp_path may be longer
    d = f"/tmp/h15u-{os.getpid()}-{tmp_path.name[-12:]}"
    os.makedirs(d, exist_ok=True)
    yield d
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)


def test_tcp_to_unix_socket(pw, sockdir):
    """GOST: -L tcp://localhost:8080 -F unix://gost.sock"""
    backend = UnixEcho(f"{sockdir}/app.sock")
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}", "-F", f"unix://{sockdir}/app.sock")
    s = socket.create_connection(("127.0.0.1", port))
    data = os.urandom(300000)
    s.settimeout(10)
    threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
    got = b""
    while len(got) < len(data):
        d = s.recv(65536)
        assert d
        got += d
    assert got == data
    s.close()
    backend.close()


def test_unix_listener_to_tcp(pw, sockdir, echo):
    """GOST: -L unix:///path -F tcp://host:port (the tcp connector hands the stream on)"""
    e = echo()
    path = f"{sockdir}/in.sock"
    pw.start("-L", f"unix://{path}", "-F", f"tcp://127.0.0.1:{e.port}")
    s = unix_connect(path)
    assert roundtrip(s) == b"hello unix\n"
    s.close()


def test_unix_to_unix_forward(pw, sockdir):
    """GOST: -L unix://a.sock/b.sock (relative paths there), failing over between targets"""
    b = UnixEcho(f"{sockdir}/b.sock", prefix=b"b:")
    path = f"{sockdir}/a.sock"
    pw.start(config=f"""
services:
- name: service-0
  addr: {path}
  handler: {{type: unix}}
  listener: {{type: unix}}
  forwarder:
    nodes:
    - {{name: target-0, addr: {sockdir}/missing.sock}}
    - {{name: target-1, addr: {sockdir}/b.sock}}
""")
    for _ in range(3):
        s = unix_connect(path)
        assert roundtrip(s, b"x") == b"b:x"
        s.close()
    b.close()


def test_socks5_over_unix_listener(pw, sockdir, echo):
    e = echo()
    path = f"{sockdir}/socks.sock"
    pw.start("-L", f"socks5+unix://{path}")
    s = unix_connect(path)
    s.settimeout(10)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + e.port.to_bytes(2, "big"))
    assert s.recv(10)[:2] == b"\x05\x00"
    assert roundtrip(s) == b"hello unix\n"
    s.close()


def test_chain_first_hop_over_unix(pw, sockdir, echo):
    """-F socks5+unix:///path: the first hop is a SOCKS5 proxy on a unix socket."""
    e = echo()
    path = f"{sockdir}/proxy.sock"
    pw.start("-L", f"socks5+unix://{path}", name="proxy")
    unix_connect(path).close()
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{e.port}", "-F", f"socks5+unix://{path}", name="front")
    s = socket.create_connection(("127.0.0.1", port))
    assert roundtrip(s) == b"hello unix\n"
    s.close()


def test_mode_and_cleanup(pw, sockdir, echo):
    e = echo()
    path = f"{sockdir}/mode.sock"
    p = pw.start("-L", f"unix://{path}?mode=0600", "-F", f"tcp://127.0.0.1:{e.port}")
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    p.stop()
    assert not os.path.exists(path)


def test_stale_socket_is_replaced_live_one_refused(pw, sockdir, echo):
    e = echo()
    path = f"{sockdir}/stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # a socket file nobody accepts on
    pw.start("-L", f"unix://{path}", "-F", f"tcp://127.0.0.1:{e.port}", name="first")
    c = unix_connect(path)
    assert roundtrip(c) == b"hello unix\n"
    c.close()
    code, out = pw.run("-L", f"unix://{path}", "-F", f"tcp://127.0.0.1:{e.port}", timeout=10)
    assert code != 0 and "in use" in out, out
    c = unix_connect(path)  # the first one still has it
    assert roundtrip(c) == b"hello unix\n"
    c.close()


def test_regular_file_is_not_replaced(pw, sockdir, echo):
    e = echo()
    path = f"{sockdir}/file"
    with open(path, "w") as f:
        f.write("data\n")
    code, out = pw.run("-L", f"unix://{path}", "-F", f"tcp://127.0.0.1:{e.port}")
    assert code != 0 and "no socket" in out, out
    assert open(path).read() == "data\n"


def test_yaml_form(pw, sockdir):
    b = UnixEcho(f"{sockdir}/y2.sock", prefix=b"y:")
    path = f"{sockdir}/y1.sock"
    port = free_port()
    pw.start(config=f"""
services:
- name: service-0
  addr: {path}
  handler:
    type: unix
  listener:
    type: unix
    metadata:
      mode: "0o660"
  forwarder:
    nodes:
    - name: target-0
      addr: {sockdir}/y2.sock
- name: service-1
  addr: 127.0.0.1:{port}
  handler:
    type: tcp
    chain: chain-0
  listener:
    type: tcp
chains:
- name: chain-0
  hops:
  - name: hop-0
    nodes:
    - name: node-0
      addr: {sockdir}/y2.sock
      connector:
        type: unix
      dialer:
        type: unix
""")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    s = unix_connect(path)
    assert roundtrip(s, b"1") == b"y:1"
    s.close()
    wait_port(port)
    s = socket.create_connection(("127.0.0.1", port))
    assert roundtrip(s, b"2") == b"y:2"
    s.close()
    b.close()


def test_unreachable_socket_closes(pw, sockdir):
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}", "-F", f"unix://{sockdir}/nobody.sock")
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    try:
        assert s.recv(10) == b""
    except ConnectionResetError:
        pass
    s.close()


def test_config_errors(pw, sockdir, echo):
    # unix targets through a chain: no connector here carries them
    code, out = pw.run("-t", "-L", "unix://a.sock/b.sock", "-F", "relay://127.0.0.1:1")
    assert code != 0 and "relay" in out, out
    # neither targets nor a chain
    code, out = pw.run("-t", "-L", f"unix://{sockdir}/a.sock")
    assert code != 0 and "forwarder nodes" in out, out
    code, out = pw.run("-t", "-L", "unix:///" + "x" * 120, "-F", "tcp://127.0.0.1:1")
    assert code != 0 and "107 bytes" in out, out
    code, out = pw.run("-t", "-L", f"unix://{sockdir}/a.sock?mode=rw", "-F", "tcp://127.0.0.1:1")
    assert code != 0 and "mode" in out, out


def test_reload_changes_target_keeps_path(pw, sockdir, tmp_path):
    """A changed unix service takes the socket path over at once; the old one's open connection
    goes on, and its stop leaves the new socket file in place."""
    import signal
    one, two = UnixEcho(f"{sockdir}/one.sock", b"1:"), UnixEcho(f"{sockdir}/two.sock", b"2:")
    path = f"{sockdir}/front.sock"

    def cfg(target):
        return f"""
services:
- name: front
  addr: {path}
  handler: {{type: unix}}
  listener: {{type: unix}}
  forwarder:
    nodes: [{{name: t, addr: {sockdir}/{target}}}]
"""
    f = tmp_path / "unix-reload.yaml"
    f.write_text(cfg("one.sock"))
    p = pw.start("-C", str(f))
    old = unix_connect(path)
    assert roundtrip(old, b"a") == b"1:a"
    f.write_text(cfg("two.sock"))
    p.signal(signal.SIGHUP)
    p.wait_log("reload done", 10)
    time.sleep(0.2)
    s = unix_connect(path)
    assert roundtrip(s, b"b") == b"2:b"
    s.close()
    assert roundtrip(old, b"c") == b"1:c"
    old.close()
    assert os.path.exists(path)
    one.close()
    two.close()
