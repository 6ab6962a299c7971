"""GOST's sshd listener and handler against the real OpenSSH client: ssh -L, -D and -R through
portway's SSH server, public key and password authentication, refusals, bulk data."""
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import curl, free_port, wait_port

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=0"]


@pytest.fixture
def keys(tmp_path):
    d = tmp_path / "keys"
    d.mkdir()
    for name in ("client", "stranger", "host"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text("# portway test\n\n" + (d / "client.pub").read_text())

    class K:
        pass

    k = K()
    k.dir = d
    k.client = d / "client"
    k.stranger = d / "stranger"
    k.host = d / "host"
    k.authorized = d / "authorized_keys"
    return k


class Ssh:
    """OpenSSH clients started for one test, stopped at teardown."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.procs = []

    def cmd(self, port, *args, key=None, password=None, user="gost", command=()):
        base = ["ssh"] + SSH_OPTS
        if password is not None:
            base = ["sshpass", "-p", password] + base + ["-o", "PreferredAuthentications=password",
                                                          "-o", "PubkeyAuthentication=no",
                                                          "-o", "NumberOfPasswordPrompts=1"]
        else:
            base += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
            if key:
                base += ["-i", str(key)]
        return base + list(args) + ["-l", user, "-p", str(port), "127.0.0.1"] + list(command)

    def start(self, port, *args, **kw):
        log = open(self.tmp_path / f"ssh{len(self.procs)}.log", "wb")
        p = subprocess.Popen(self.cmd(port, "-N", *args, **kw), stdout=log, stderr=subprocess.STDOUT)
        p.log_path = log.name
        self.procs.append(p)
        return p

    def run(self, port, *args, timeout=20, **kw):
        return subprocess.run(self.cmd(port, *args, **kw), capture_output=True, text=True, timeout=timeout)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture
def ssh(tmp_path):
    s = Ssh(tmp_path)
    yield s
    s.close()


def wait_forward(port, proc, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ssh exited ({proc.returncode}): {open(proc.log_path).read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"forward on {port} never came up: {open(proc.log_path).read()}")


def sshd_url(port, user="gost", password=None, **md):
    auth = f"{user}:{password}@" if password is not None else (f"{user}@" if user else "")
    q = "&".join(f"{k}={v}" for k, v in md.items())
    return f"sshd://{auth}127.0.0.1:{port}" + (f"?{q}" if q else "")


def echo_roundtrip(port, data, timeout=60):
    """Send data through port to an echo server and read it all back; returns what came back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = []

    def reader():
        n = 0
        while n < len(data):
            b = s.recv(1 << 20)
            if not b:
                break
            got.append(b)
            n += len(b)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    t.join(timeout)
    s.close()
    return b"".join(got)


def test_local_forward_with_public_key(pw, ssh, keys, http_server):
    port, lport = free_port(), free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{http_server.port}", key=keys.client)
    wait_forward(lport, p)
    rc, out, err = curl(f"http://127.0.0.1:{lport}/")
    assert rc == 0, err
    assert out == "hello from the backend\n"


def test_dynamic_socks_forward(pw, ssh, keys, http_server):
    port, lport = free_port(), free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    p = ssh.start(port, "-D", str(lport), key=keys.client)
    wait_forward(lport, p)
    # the name is resolved by portway, at the far end of the channel
    rc, out, err = curl("--socks5-hostname", f"127.0.0.1:{lport}", f"http://localhost:{http_server.port}/")
    assert rc == 0, err
    assert out == "hello from the backend\n"


def test_remote_forward(pw, ssh, keys, http_server):
    port, rport = free_port(), free_port()
    app = pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized), "-D")
    p = ssh.start(port, "-R", f"{rport}:127.0.0.1:{http_server.port}", key=keys.client)
    wait_forward(rport, p)
    for _ in range(3):
        rc, out, err = curl(f"http://127.0.0.1:{rport}/")
        assert rc == 0, err
        assert out == "hello from the backend\n"
    # the forward ends with the session
    p.terminate()
    p.wait()
    app.wait_log("the ssh session ended")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", rport), timeout=2).close()


def test_remote_forward_port_zero_tells_the_port(pw, ssh, keys, echo):
    srv = echo()
    port = free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    log = open(ssh.tmp_path / "ssh-r0.log", "wb")
    cmd = ssh.cmd(port, "-N", "-R", f"0:127.0.0.1:{srv.port}", key=keys.client)
    cmd[cmd.index("LogLevel=ERROR")] = "LogLevel=INFO"   # "Allocated port N ..." is an INFO line
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    ssh.procs.append(p)
    deadline = time.time() + 15
    rport = None
    while time.time() < deadline and rport is None:
        for line in open(log.name).read().splitlines():
            if line.startswith("Allocated port "):
                rport = int(line.split()[2])
        time.sleep(0.05)
    assert rport, open(log.name).read()
    assert echo_roundtrip(rport, b"ping through port zero") == b"ping through port zero"


def test_cancel_remote_forward(pw, ssh, keys, echo, tmp_path):
    srv = echo()
    port, rport = free_port(), free_port()
    app = pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized), "-D")
    ctl = str(tmp_path / "ctl")
    p = ssh.start(port, "-M", "-S", ctl, "-R", f"{rport}:127.0.0.1:{srv.port}", key=keys.client)
    wait_forward(rport, p)
    assert echo_roundtrip(rport, b"before cancel") == b"before cancel"
    r = subprocess.run(["ssh", "-S", ctl, "-O", "cancel", "-R", f"{rport}:127.0.0.1:{srv.port}", "127.0.0.1"],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 0, r.stderr
    app.wait_log("cancelled by the client")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", rport), timeout=2).close()
    assert p.poll() is None   # the session goes on


@pytest.mark.skipif(not shutil.which("sshpass"), reason="sshpass not installed")
def test_password_auth(pw, ssh, echo):
    srv = echo()
    port, lport = free_port(), free_port()
    pw.start("-L", sshd_url(port, user="gost", password="s3cret"))
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{srv.port}", password="s3cret")
    wait_forward(lport, p)
    assert echo_roundtrip(lport, b"hello with a password") == b"hello with a password"


@pytest.mark.skipif(not shutil.which("sshpass"), reason="sshpass not installed")
def test_wrong_password_refused(pw, ssh, echo):
    srv = echo()
    port, lport = free_port(), free_port()
    app = pw.start("-L", sshd_url(port, user="gost", password="s3cret"))
    r = ssh.run(port, "-N", "-L", f"{lport}:127.0.0.1:{srv.port}", password="wrong")
    assert r.returncode != 0
    assert "Permission denied" in r.stderr
    r = ssh.run(port, "-N", "-L", f"{lport}:127.0.0.1:{srv.port}", password="s3cret", user="other")
    assert r.returncode != 0
    assert srv.connections == 0
    app.wait_log("password rejected")   # the log is written asynchronously


def test_unknown_key_refused(pw, ssh, keys, echo):
    srv = echo()
    port, lport = free_port(), free_port()
    app = pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    r = ssh.run(port, "-N", "-L", f"{lport}:127.0.0.1:{srv.port}", key=keys.stranger)
    assert r.returncode == 255
    assert "Permission denied" in r.stderr
    app.wait_log("unknown public key")   # the log is written asynchronously
    assert srv.connections == 0


def test_key_only_refuses_passwords(pw, ssh, keys):
    """With authorizedKeys and no user in the URL there is no password authentication at all."""
    port = free_port()
    pw.start("-L", f"sshd://127.0.0.1:{port}?authorizedKeys={keys.authorized}")
    r = ssh.run(port, "-N", key=keys.stranger)
    assert r.returncode == 255
    assert "publickey" in r.stderr and "password" not in r.stderr.split("Permission denied")[-1]


def test_no_auth_lets_everyone_in(pw, ssh, echo):
    """GOST's NoClientAuth: no users and no keys."""
    srv = echo()
    port, lport = free_port(), free_port()
    pw.start("-L", f"sshd://127.0.0.1:{port}")
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{srv.port}")
    wait_forward(lport, p)
    assert echo_roundtrip(lport, b"anyone") == b"anyone"


def test_shell_is_refused(pw, ssh, keys):
    """Only forwarding: a session channel (a shell, a command) is refused."""
    port = free_port()
    app = pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    r = ssh.run(port, key=keys.client, command=["true"])
    assert r.returncode == 255
    app.wait_log("channel type refused")   # the log is written asynchronously


def test_unreachable_target_closes_the_channel(pw, ssh, keys):
    port, lport, dead = free_port(), free_port(), free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{dead}", key=keys.client)
    wait_forward(lport, p)
    s = socket.create_connection(("127.0.0.1", lport), timeout=10)
    assert s.recv(100) == b""
    s.close()
    assert p.poll() is None


def test_16mib_through_local_forward(pw, ssh, keys, echo):
    srv = echo()
    port, lport = free_port(), free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{srv.port}", key=keys.client)
    wait_forward(lport, p)
    data = os.urandom(16 << 20)
    back = echo_roundtrip(lport, data)
    assert len(back) == len(data)
    assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()


class Sender:
    """A server that sends data to each client, then closes."""

    def __init__(self, data):
        self.data = data
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._send, args=(c,), daemon=True).start()

    def _send(self, c):
        try:
            c.sendall(self.data)
        except OSError:
            pass    # wait_forward's probe goes away at once
        finally:
            c.close()


def read_all(port, timeout=60):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = []
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        got.append(b)
    s.close()
    return b"".join(got)


def test_64mib_download_through_local_forward(pw, ssh, keys):
    """One way only, server to client: the channel's writes wait for the client's window adjusts."""
    data = os.urandom(64 << 20)
    srv = Sender(data)
    port, lport = free_port(), free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{srv.port}", key=keys.client)
    wait_forward(lport, p)
    back = read_all(lport)
    assert len(back) == len(data)
    assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()
    srv.sock.close()


def test_8mib_through_remote_forward(pw, ssh, keys, echo):
    srv = echo()
    port, rport = free_port(), free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    p = ssh.start(port, "-R", f"{rport}:127.0.0.1:{srv.port}", key=keys.client)
    wait_forward(rport, p)
    data = os.urandom(8 << 20)
    back = echo_roundtrip(rport, data)
    assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()


def test_parallel_channels(pw, ssh, keys, echo):
    srv = echo()
    port, lport = free_port(), free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{srv.port}", key=keys.client)
    wait_forward(lport, p)
    results = {}

    def one(i):
        data = os.urandom(256 << 10)
        results[i] = echo_roundtrip(lport, data) == data

    ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert results == {i: True for i in range(8)}


def test_yaml_listener_auth_and_host_key(pw, ssh, keys, echo):
    """The YAML form: listener.auth, authorizedKeys and privateKeyFile; the host key is the file's."""
    srv = echo()
    port, lport = free_port(), free_port()
    pw.start(config=f"""
services:
- name: sshd
  addr: 127.0.0.1:{port}
  handler:
    type: sshd
  listener:
    type: sshd
    auth:
      username: gost
      password: s3cret
    metadata:
      authorizedKeys: {keys.authorized}
      privateKeyFile: {keys.host}
""")
    scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(port), "127.0.0.1"], capture_output=True,
                          text=True, timeout=15)
    assert keys.host.with_suffix(".pub").read_text().split()[1] in scan.stdout
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{srv.port}", key=keys.client)
    wait_forward(lport, p)
    assert echo_roundtrip(lport, b"yaml") == b"yaml"


def test_bad_authorized_keys_is_a_config_error(pw, tmp_path):
    bad = tmp_path / "nokeys"
    bad.write_text("# nothing here\n")
    port = free_port()
    code, out = pw.run("-L", f"sshd://127.0.0.1:{port}?authorizedKeys={bad}", "-t")
    assert code != 0
    assert "authorizedKeys" in out and "no public key" in out


def test_remote_forward_on_a_busy_port_is_refused(pw, ssh, keys, echo):
    srv = echo()
    port = free_port()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    rport = busy.getsockname()[1]
    app = pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    r = ssh.run(port, "-N", "-R", f"{rport}:127.0.0.1:{srv.port}", key=keys.client)
    busy.close()
    assert r.returncode == 255
    app.wait_log("cannot listen")   # the log is written asynchronously


def test_direct_channels_go_through_the_chain(pw, ssh, keys, http_server):
    proxy, port, lport = free_port(), free_port(), free_port()
    hop = pw.start("-L", f"socks5://127.0.0.1:{proxy}", "-D", name="hop")
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized), "-F", f"socks5://127.0.0.1:{proxy}")
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{http_server.port}", key=keys.client)
    wait_forward(lport, p)
    rc, out, err = curl(f"http://127.0.0.1:{lport}/")
    assert rc == 0, err
    assert out == "hello from the backend\n"
    hop.wait_log(f"127.0.0.1:{http_server.port}")


def test_reload_keeps_live_sessions(pw, ssh, keys, echo, tmp_path):
    """A reload that changes the service binds it anew; a session already open goes on serving."""
    import signal
    srv = echo()
    port, lport = free_port(), free_port()
    cfg = tmp_path / "sshd.yaml"

    def write(backlog):
        cfg.write_text(f"""
services:
- name: sshd
  addr: 127.0.0.1:{port}
  handler: {{type: sshd}}
  listener:
    type: sshd
    metadata: {{authorizedKeys: {keys.authorized}, backlog: {backlog}}}
""")

    write(128)
    app = pw.start("-C", str(cfg))
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{srv.port}", key=keys.client)
    wait_forward(lport, p)
    assert echo_roundtrip(lport, b"before") == b"before"
    write(64)
    app.signal(signal.SIGHUP)
    app.wait_log("reload done")
    assert echo_roundtrip(lport, b"after, old session") == b"after, old session"
    lport2 = free_port()
    p2 = ssh.start(port, "-L", f"{lport2}:127.0.0.1:{srv.port}", key=keys.client)
    wait_forward(lport2, p2)
    assert echo_roundtrip(lport2, b"new session") == b"new session"


def test_client_killed_mid_transfer(pw, ssh, keys, echo):
    """The SSH connection goes away under live -L and -R channels: everything riding on it is
    closed, and the server goes on serving new sessions."""
    srv = echo()
    port, lport, rport = free_port(), free_port(), free_port()
    app = pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized), "-D")
    p = ssh.start(port, "-L", f"{lport}:127.0.0.1:{srv.port}", "-R", f"{rport}:127.0.0.1:{srv.port}",
                  key=keys.client)
    wait_forward(lport, p)
    wait_forward(rport, p)
    socks = []
    for fwd in (lport, rport):
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", fwd), timeout=10)
            s.sendall(os.urandom(1 << 20))   # more than the windows take: data in flight everywhere
            socks.append(s)
    time.sleep(0.3)
    p.kill()
    p.wait()
    app.wait_log("ssh session from")
    for s in socks:
        s.settimeout(10)
        try:
            while s.recv(1 << 20):
                pass
        except OSError:
            pass    # reset: fine, it ended
        s.close()
    # a new session works
    lport2 = free_port()
    p2 = ssh.start(port, "-L", f"{lport2}:127.0.0.1:{srv.port}", key=keys.client)
    wait_forward(lport2, p2)
    assert echo_roundtrip(lport2, b"still serving") == b"still serving"


def test_many_sessions(pw, ssh, keys, echo):
    srv = echo()
    port = free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    lports = [free_port() for _ in range(6)]
    procs = [ssh.start(port, "-L", f"{lp}:127.0.0.1:{srv.port}", key=keys.client) for lp in lports]
    for lp, p in zip(lports, procs):
        wait_forward(lp, p)
    for i, lp in enumerate(lports):
        msg = f"session {i}".encode()
        assert echo_roundtrip(lp, msg) == msg


def test_key_exchanges(pw, ssh, keys, echo):
    """curve25519, ECDH and the fixed DH groups; no group exchange (it would read a moduli file
    on the event loop)."""
    srv = echo()
    port = free_port()
    pw.start("-L", sshd_url(port, authorizedKeys=keys.authorized))
    for kex in ("curve25519-sha256", "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256"):
        lp = free_port()
        p = ssh.start(port, "-o", f"KexAlgorithms={kex}", "-L", f"{lp}:127.0.0.1:{srv.port}", key=keys.client)
        wait_forward(lp, p)
        assert echo_roundtrip(lp, kex.encode()) == kex.encode()
    r = ssh.run(port, "-N", "-o", "KexAlgorithms=diffie-hellman-group-exchange-sha256", key=keys.client)
    assert r.returncode == 255


def _scan(port, kind):
    r = subprocess.run(["ssh-keyscan", "-t", kind, "-p", str(port), "127.0.0.1"], capture_output=True, text=True,
                       timeout=15)
    return r.stdout


def test_host_key_from_passphrase_file_and_from_tls_key(pw, tmp_path):
    d = tmp_path / "hk"
    d.mkdir()
    # an encrypted OpenSSH key with its passphrase
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "open sesame", "-f", str(d / "enc")], check=True)
    p1 = free_port()
    pw.start("-L", f"sshd://127.0.0.1:{p1}?privateKeyFile={d / 'enc'}&passphrase=open%20sesame")
    assert (d / "enc.pub").read_text().split()[1] in _scan(p1, "ed25519")
    # a wrong passphrase is a configuration error
    code, out = pw.run("-L", f"sshd://127.0.0.1:{p1}?privateKeyFile={d / 'enc'}&passphrase=nope", "-t")
    assert code != 0 and "privateKeyFile" in out
    # without privateKeyFile, the key of the listener's TLS certificate (as GOST does)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem"), "-days", "1", "-subj", "/CN=x"],
                   check=True, capture_output=True)
    pub = subprocess.run(["ssh-keygen", "-y", "-f", str(d / "k.pem")], capture_output=True, text=True,
                         check=True).stdout.split()[1]
    p2 = free_port()
    pw.start("-L", f"sshd://127.0.0.1:{p2}?certFile={d / 'c.pem'}&keyFile={d / 'k.pem'}")
    assert pub in _scan(p2, "ecdsa")
