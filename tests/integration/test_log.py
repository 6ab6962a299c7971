"""Logs as an operator expects: the connection line's fields in JSON, log.rotation (size,
maxBackups, gzip), SIGUSR1 reopening the file after logrotate moved it, the journal's <N>
priority prefix, and the configuration errors of the log keys."""
import gzip
import json
import os
import re
import signal
import socket
import threading
import time

from conftest import free_port

SENT, REPLIED = 1000, 300


class ReplyServer:
    """Reads SENT bytes from each client, answers REPLIED bytes, closes: in and out differ."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _serve(c):
        got = 0
        with c:
            while got < SENT:
                b = c.recv(65536)
                if not b:
                    return
                got += len(b)
            c.sendall(b"r" * REPLIED)

    def close(self):
        self.sock.close()


def exchange(port):
    """One connection through portway: SENT bytes out, REPLIED back, then closed. Our address."""
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"s" * SENT)
    got = b""
    while len(got) < REPLIED:
        b = c.recv(65536)
        assert b, "closed early"
        got += b
    me = "%s:%d" % c.getsockname()
    c.close()
    return me


def poll(cond, what, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def json_lines(text):
    """Every line of the log must be one JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_connection_line_carries_fields(pw):
    srv = ReplyServer()
    port = free_port()
    p = pw.start(config=f"""
log:
  format: json
services:
  - name: fwd
    addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    listener: {{type: tcp}}
    forwarder:
      nodes: [{{name: target-a, addr: "127.0.0.1:{srv.port}"}}]
""")
    me = exchange(port)
    p.wait_log(">-<")
    line = poll(lambda: [r for r in json_lines(p.text()) if ">-<" in r["msg"]], "the connection line")
    assert len(line) == 1
    r = line[0]
    assert r["msg"] == f"{me} >-< 127.0.0.1:{srv.port}"
    assert r["level"] == "info"
    assert r["service"] == "fwd" and r["handler"] == "tcp" and r["listener"] == "tcp"
    assert r["client"] == me and r["dst"] == f"127.0.0.1:{srv.port}"
    assert r["node"] == "target-a" and "chain" not in r
    assert r["inputBytes"] == SENT and r["outputBytes"] == REPLIED
    assert isinstance(r["duration"], int) and r["duration"] >= 0
    assert r["result"] == "eof"
    srv.close()


def test_json_connection_line_through_a_chain_names_chain_and_node(pw):
    srv = ReplyServer()
    hop, entry = free_port(), free_port()
    pw.start("-L", f"socks5://127.0.0.1:{hop}", name="hop")
    p = pw.start(config=f"""
log: {{format: json}}
services:
  - name: entry
    addr: 127.0.0.1:{entry}
    handler: {{type: http, chain: c0}}
    listener: {{type: tcp}}
chains:
  - name: c0
    hops:
      - name: h0
        nodes: [{{name: s5, addr: "127.0.0.1:{hop}", connector: {{type: socks5}}, dialer: {{type: tcp}}}}]
""", name="entry")
    c = socket.create_connection(("127.0.0.1", entry), timeout=10)
    c.sendall(f"CONNECT 127.0.0.1:{srv.port} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = c.recv(1)
        assert b
        head += b
    assert b" 200 " in head.split(b"\r\n")[0]
    c.sendall(b"s" * SENT)
    got = b""
    while len(got) < REPLIED:
        got += c.recv(65536)
    me = "%s:%d" % c.getsockname()
    c.close()
    rs = poll(lambda: [r for r in json_lines(p.text()) if ">-<" in r["msg"]], "the connection line")
    r = rs[0]
    assert r["client"] == me and r["dst"] == f"127.0.0.1:{srv.port}"
    assert r["chain"] == "c0" and r["node"] == "s5"
    assert r["inputBytes"] == SENT and r["outputBytes"] == REPLIED
    srv.close()


def test_text_connection_line_stays_readable(pw):
    srv = ReplyServer()
    port = free_port()
    p = pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{srv.port}")
    me = exchange(port)
    want = f"service service-0: {me} >-< 127.0.0.1:{srv.port}: {SENT} bytes in, {REPLIED} bytes out, "
    p.wait_log(want)
    line = [ln for ln in p.text().splitlines() if want in ln][0]
    assert re.search(r", \d+\.\d{3}s, eof \(node target-0\)$", line), line
    srv.close()


def backups(d, stem="portway", ext=".log"):
    pat = re.compile(re.escape(stem) + r"-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}" + re.escape(ext) + r"(\.gz)?$")
    return sorted(n for n in os.listdir(d) if pat.match(n))


def read_or_empty(path):
    """A log file or backup (gzipped or not), or "" when it was deleted since it was listed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode()


def rotation_config(port, target, logfile, rotation):
    return f"""
log:
  level: debug
  output: {logfile}
  rotation: {rotation}
services:
  - addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    listener: {{type: tcp}}
    forwarder: {{nodes: [{{addr: "127.0.0.1:{target}"}}]}}
"""


MAX = int(0.002 * 1048576)  # maxSize: 0.002 (megabytes)


def test_rotation_keeps_max_backups_each_within_max_size(pw, tmp_path):
    srv = ReplyServer()
    port = free_port()
    logdir = tmp_path / "logs"
    logdir.mkdir()
    logfile = logdir / "portway.log"
    pw.start(config=rotation_config(port, srv.port, logfile, "{maxSize: 0.002, maxBackups: 3}"), wait=False)
    poll(lambda: logfile.exists() and "running with" in logfile.read_text(), "portway running")
    seen = set()
    # Enough connections for many more rotations than backups kept.
    for _ in range(60):
        last = exchange(port)
        seen.update(backups(logdir))

    def logged_everywhere():
        seen.update(backups(logdir))
        texts = [read_or_empty(logfile)] + [read_or_empty(logdir / n) for n in backups(logdir)]
        return any(f"{last} >-<" in t for t in texts)
    # Once the last line is out nothing rotates any more: what the writer thread deletes settles.
    poll(logged_everywhere, "the last connection's line")
    poll(lambda: len(backups(logdir)) == 3, "only 3 backups")
    assert len(seen.union(backups(logdir))) >= 6
    for name in backups(logdir):
        size = (logdir / name).stat().st_size
        assert 0 < size <= MAX, (name, size)
        assert (logdir / name).read_text().endswith("\n")  # rotated between whole lines
    # the newest backups are kept: they are the last ones created
    assert backups(logdir) == sorted(seen.union(backups(logdir)))[-3:]
    srv.close()


def test_rotation_compresses_backups_with_gzip(pw, tmp_path):
    srv = ReplyServer()
    port = free_port()
    logdir = tmp_path / "logs"
    logdir.mkdir()
    logfile = logdir / "portway.log"
    pw.start(config=rotation_config(port, srv.port, logfile, "{maxSize: 0.002, maxBackups: 2, compress: true}"),
             wait=False)
    poll(lambda: logfile.exists() and "running with" in logfile.read_text(), "portway running")
    for _ in range(40):
        last = exchange(port)

    def settled():
        # the last line out (nothing rotates any more), two backups, gzipped, no gzip in progress
        texts = [read_or_empty(logfile)] + [read_or_empty(logdir / n) for n in backups(logdir)]
        if not any(f"{last} >-<" in t for t in texts):
            return None
        b = backups(logdir)
        tmp = [n for n in os.listdir(logdir) if n.endswith(".tmp")]
        return b if len(b) == 2 and all(n.endswith(".gz") for n in b) and not tmp else None
    names = poll(settled, "two gzipped backups")
    text = ""
    for name in names:
        data = gzip.decompress((logdir / name).read_bytes())
        assert 0 < len(data) <= MAX
        text += data.decode()
    assert ">-<" in text
    srv.close()


def test_sigusr1_reopens_the_moved_log_file(pw, tmp_path):
    srv = ReplyServer()
    port = free_port()
    logfile = tmp_path / "out.log"
    p = pw.start(config=f"""
log: {{output: {logfile}}}
services:
  - addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    listener: {{type: tcp}}
    forwarder: {{nodes: [{{addr: "127.0.0.1:{srv.port}"}}]}}
""", wait=False)
    poll(lambda: logfile.exists() and "running with" in logfile.read_text(), "portway running")
    first = exchange(port)
    poll(lambda: f"{first} >-<" in logfile.read_text(), "the first connection's line")
    moved = tmp_path / "out.log.1"
    os.rename(logfile, moved)
    p.signal(signal.SIGUSR1)
    poll(lambda: logfile.exists() and "log file reopened" in logfile.read_text(), "the reopened file")
    second = exchange(port)
    poll(lambda: f"{second} >-<" in logfile.read_text(), "the second connection's line in the new file")
    assert f"{second} >-<" not in moved.read_text()
    assert f"{first} >-<" not in logfile.read_text()
    assert p.proc.poll() is None


def test_sigusr1_without_a_log_file_changes_nothing(pw):
    p = pw.start("-L", f"tcp://127.0.0.1:{free_port()}/127.0.0.1:1")
    p.signal(signal.SIGUSR1)
    p.wait_log("SIGUSR1: the log output is no file, nothing to reopen")
    assert p.proc.poll() is None


def test_journal_priority_prefix_when_stderr_is_the_journal(pw, tmp_path):
    # The harness sends stderr to tmp_path/NAME.log, opened without changing the file (same inode).
    out = tmp_path / "journal.log"
    out.write_bytes(b"")
    st = os.stat(out)
    port = free_port()
    p = pw.start(config=f"""
log: {{level: debug, rotation: {{maxSize: 1}}}}
services:
  - addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    listener: {{type: tcp}}
    forwarder: {{nodes: [{{addr: "127.0.0.1:1"}}]}}
""", name="journal", env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert p.log_path == out
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.recv(10)  # the dial to port 1 fails: portway closes
    c.close()
    p.wait_log("running with")
    lines = [ln for ln in p.text().splitlines() if ln]
    assert lines and all(re.match(r"<[2-7]>\d{4}-", ln) for ln in lines), lines
    assert any(ln.startswith("<6>") and "running with" in ln for ln in lines)
    assert any(ln.startswith("<4>") and "log.rotation applies only" in ln for ln in lines)  # a warning
    assert any(ln.startswith("<7>") for ln in lines)


def test_no_journal_prefix_for_another_stream(pw, tmp_path):
    p = pw.start("-L", f"tcp://127.0.0.1:{free_port()}/127.0.0.1:1", env={"JOURNAL_STREAM": "1:1"})
    assert not [ln for ln in p.text().splitlines() if ln.startswith("<")]


def test_log_configuration_errors_name_the_place(pw):
    cases = [
        ("log:\n  output: /tmp/x.log\n  rotation:\n    maxSize: huge\n", ":4:14: log.rotation.maxSize: expected"),
        ("log:\n  output: /tmp/x.log\n  rotation:\n    maxBackups: -1\n", ":4:17: maxBackups: expected a whole"),
        ("log:\n  rotation:\n    interval: 1d\n", ":3:5: log.rotation.interval: unknown key"),
        ("loggers:\n  - name: l0\n    log: {output: stderr}\n", ":1:1: (top level).loggers: is not implemented"),
        ("services:\n  - addr: :0\n    logger: l0\n    handler: {type: http}\n",
         ":3:5: services[0].logger: is not implemented"),
    ]
    for text, want in cases:
        code, out = pw.run("-t", config=text)
        assert code == 2, out
        assert re.search(r"portway-\d+\.yaml" + re.escape(want), out), (want, out)
