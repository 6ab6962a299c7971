"""Running out of descriptors: every accept loop pauses instead of spinning, and serves again.

The gateway (its web port, a static port forward and its control port) is
started normally, then its RLIMIT_NOFILE is lowered to a few descriptors more
than it holds, and idle connections use them up. The pending connections that
follow make accept fail with EMFILE on each port. (test_forward_tcp.py has the
same for a plain service listener.)
"""
import os
import resource
import socket
import time

from conftest import free_port, wait_port
from test_gateway import DOMAIN, Gateway, api, start_agent

HEADROOM = 16  # descriptors portway may still open once its limit is lowered


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def web_status(port, host=f"nosuch.{DOMAIN}"):
    """The status code the web port answers, or None if it does not answer in time."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(100)
    except OSError:
        return None
    return int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else None


def forward_echoes(port, payload):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(3)
            s.sendall(payload)
            return s.recv(100) == payload
    except OSError:
        return False


def eventually(check, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_gateway_ports_pause_on_emfile_and_recover(pw, tmp_path, echo):
    srv = echo()
    # Clients hold their descriptors: web clients while they send no request, forward clients
    # while they wait for a tunnel worker. Nothing closes by itself while the limit is low.
    gw = Gateway(pw, tmp_path, extra="&headerTimeout=60s&workerWait=30s")
    start_agent(pw, gw, srv.port)
    lp = free_port()
    assert api(gw.port, "POST", "/portforwards/add",
               {"listen_port": lp, "tunnel_host": "site", "target_port": srv.port})[0] == 200
    wait_port(lp)
    assert forward_echoes(lp, b"before")
    assert web_status(gw.web) == 404

    assert eventually(lambda: gw.pools("tunnel").get("site") == 2), "the agent did not refill its tunnel pool"
    time.sleep(0.3)  # the first forward's connections are closed
    pid = gw.proc.proc.pid
    limit = open_fds(pid) + HEADROOM
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
    flood = []
    try:
        # Idle web clients take the headroom and the rest wait in the backlog. Descriptors that
        # something else held for a moment may still be free when the forward's clients come:
        # more of them than the headroom leaves some in its backlog whatever happened.
        for _ in range(HEADROOM * 3):
            flood.append(socket.create_connection(("127.0.0.1", gw.web), timeout=2))
        for _ in range(HEADROOM + 4):
            flood.append(socket.create_connection(("127.0.0.1", lp), timeout=2))
        gw.proc.wait_log("web port: accept: Too many open files; pausing this listener briefly", 10)
        gw.proc.wait_log(f"port forward :{lp}: accept: Too many open files; pausing this listener briefly", 10)

        cpu0, t0 = cpu_seconds(pid), time.time()
        time.sleep(1.5)
        cpu = (cpu_seconds(pid) - cpu0) / (time.time() - t0)
        assert cpu < 0.25, f"portway uses {cpu:.0%} CPU while out of descriptors"
        assert gw.proc.proc.poll() is None, gw.proc.text()
    finally:
        for s in flood:
            s.close()

    # The pauses run out, the dead backlog is drained, and every port serves again (the agent
    # refills its tunnel workers through the control port once that accepts again).
    # Forward clients waiting for a worker may keep their descriptors until workerWait (30 s) ends.
    assert eventually(lambda: web_status(gw.web) == 404, timeout=45), gw.proc.text()
    assert eventually(lambda: forward_echoes(lp, b"after")), gw.proc.text()
    assert api(gw.port, "GET", "/status")[0] == 200
    assert gw.proc.proc.poll() is None
    t = gw.proc.text()
    # one warning for each shortage of each port, not one per failed accept
    assert t.count("web port: accept: Too many open files") == 1, t
    assert t.count(f"port forward :{lp}: accept: Too many open files") == 1, t
