"""The NAT relay of kazluu/relayServer: the relay, the server-side helper, and the wire format."""
import re
import socket
import threading
import time

import pytest

from conftest import curl, free_port, wait_port


def read_line(sock, timeout=5):
    sock.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\n"):
        d = sock.recv(1)
        if not d:
            raise EOFError(f"closed after {buf!r}")
        buf += d
    return buf.decode()


def recv_all(sock, timeout=5):
    sock.settimeout(timeout)
    out = b""
    while True:
        d = sock.recv(65536)
        if not d:
            return out
        out += d


def start_relay(pw, extra=""):
    port = free_port()
    pw.start("-L", f"natrelay://127.0.0.1:{port}{extra}", name="relay")
    wait_port(port)
    return port


def test_wire_format_by_hand(pw, echo):
    """A raw client speaks the control protocol: [PORT], a client, [NEW], connect back, bytes both ways."""
    relay = start_relay(pw)
    ctl = socket.create_connection(("127.0.0.1", relay))
    m = re.fullmatch(r"\[PORT\] (\d+)\n", read_line(ctl))
    assert m, "the first line must be [PORT] <client port>"
    client_port = int(m.group(1))
    client = socket.create_connection(("127.0.0.1", client_port))
    m = re.fullmatch(r"\[NEW\] (\d+)\n", read_line(ctl))
    assert m, "a waiting client must be announced as [NEW] <server port>"
    server = socket.create_connection(("127.0.0.1", int(m.group(1))))
    client.sendall(b"ping from client")
    server.settimeout(5)
    assert server.recv(100) == b"ping from client"
    server.sendall(b"pong from server")
    client.settimeout(5)
    assert client.recv(100) == b"pong from server"
    # half close: the client stops writing and still receives everything the server sends
    client.shutdown(socket.SHUT_WR)
    assert recv_all(server) == b""
    server.sendall(b"x" * 200000)
    server.close()
    assert recv_all(client) == b"x" * 200000
    client.close()
    ctl.close()


def test_server_connection_without_client_is_closed(pw):
    relay = start_relay(pw)
    ctl = socket.create_connection(("127.0.0.1", relay))
    read_line(ctl)
    # the server port is announced only with [NEW]; get it by queueing a client, pairing it, then connecting again
    client_port = None
    # read [PORT] was consumed; open a client to learn the server port
    ctl2 = socket.create_connection(("127.0.0.1", relay))
    client_port = int(read_line(ctl2).split()[1])
    c = socket.create_connection(("127.0.0.1", client_port))
    server_port = int(read_line(ctl2).split()[1])
    s1 = socket.create_connection(("127.0.0.1", server_port))  # pairs with c
    s2 = socket.create_connection(("127.0.0.1", server_port))  # nobody waits: closed
    assert recv_all(s2) == b""
    for s in (s1, s2, c, ctl, ctl2):
        s.close()


def test_control_dropped_closes_listeners_and_waiting_clients(pw):
    relay = start_relay(pw)
    ctl = socket.create_connection(("127.0.0.1", relay))
    client_port = int(read_line(ctl).split()[1])
    waiting = socket.create_connection(("127.0.0.1", client_port))
    read_line(ctl)  # [NEW]
    ctl.close()
    assert recv_all(waiting) == b"", "a waiting client is closed with its control connection"
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", client_port), timeout=2).recv(1)


def test_unpaired_client_is_closed_after_timeout(pw):
    relay = start_relay(pw, "?pairTimeout=1s")
    ctl = socket.create_connection(("127.0.0.1", relay))
    client_port = int(read_line(ctl).split()[1])
    t0 = time.time()
    c = socket.create_connection(("127.0.0.1", client_port))
    read_line(ctl)
    assert recv_all(c, timeout=5) == b""
    assert 0.8 < time.time() - t0 < 4


def test_waiting_limit(pw):
    relay = start_relay(pw, "?maxWaiting=2")
    ctl = socket.create_connection(("127.0.0.1", relay))
    client_port = int(read_line(ctl).split()[1])
    a = socket.create_connection(("127.0.0.1", client_port))
    b = socket.create_connection(("127.0.0.1", client_port))
    read_line(ctl), read_line(ctl)
    c = socket.create_connection(("127.0.0.1", client_port))
    assert recv_all(c) == b"", "the third waiting client is refused"
    for s in (a, b, c, ctl):
        s.close()


def test_port_range(pw):
    lo = free_port()
    relay = start_relay(pw, f"?portRange={lo}-{lo + 20}")
    ctl = socket.create_connection(("127.0.0.1", relay))
    client_port = int(read_line(ctl).split()[1])
    assert lo <= client_port <= lo + 20
    ctl.close()


def first_ports(relay_proc, relay_port):
    """The client and server ports the relay picks for its first control connection."""
    ctl = socket.create_connection(("127.0.0.1", relay_port))
    client_port = int(read_line(ctl).split()[1])
    relay_proc.wait_log("server port")
    server_port = int(re.search(r"client port \d+, server port (\d+)", relay_proc.text()).group(1))
    ctl.close()
    return client_port, server_port


def test_port_choice_differs_between_starts(pw):
    """Each process seeds its random generator from the OS: two starts of the same relay do not walk
    the range from the same place (unseeded rand() picked the same two ports every time)."""
    lo = min(free_port(), 65535 - 999)
    picks = []
    for i in range(2):
        relay_port = free_port()
        relay = pw.start("-L", f"natrelay://127.0.0.1:{relay_port}?portRange={lo}-{lo + 999}", name=f"relay{i}")
        wait_port(relay_port)
        picks.append(first_ports(relay, relay_port))
        relay.stop()  # its ports are free again for the next start
    for client_port, server_port in picks:
        assert lo <= client_port <= lo + 999 and lo <= server_port <= lo + 999
    # equal by chance with probability about 1 in 10^6
    assert picks[0] != picks[1], picks


def helper_public_port(p):
    p.wait_log("clients connect to relay")
    return int(re.findall(r"clients connect to relay 127\.0\.0\.1:(\d+)", p.text())[-1])


def test_helper_exposes_echo_server_to_concurrent_clients(pw, echo):
    srv = echo()
    relay = start_relay(pw)
    helper = pw.start("-L", f"natrelay-server://127.0.0.1:{srv.port}", "-F", f"natrelay://127.0.0.1:{relay}",
                      name="helper")
    port = helper_public_port(helper)
    results = {}

    def client(i):
        s = socket.create_connection(("127.0.0.1", port))
        payload = (f"client {i} ".encode()) * 5000
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        results[i] = recv_all(s, timeout=10) == payload
        s.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join(20) for t in threads]
    assert results == {i: True for i in range(8)}


def test_helper_exposes_web_server(pw, http_server):
    relay = start_relay(pw)
    helper = pw.start("-L", f"natrelay-server://127.0.0.1:{http_server.port}", "-F",
                      f"natrelay://127.0.0.1:{relay}", name="helper")
    port = helper_public_port(helper)
    code, out, err = curl(f"http://127.0.0.1:{port}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"


def test_helper_reconnects_when_relay_comes_back(pw, echo):
    srv = echo()
    relay_port = free_port()
    relay = pw.start("-L", f"natrelay://127.0.0.1:{relay_port}", name="relay1")
    helper = pw.start("-L", f"natrelay-server://127.0.0.1:{srv.port}", "-F", f"natrelay://127.0.0.1:{relay_port}",
                      name="helper")
    helper_public_port(helper)
    relay.stop()
    helper.wait_log("control connection to", 5)
    pw.start("-L", f"natrelay://127.0.0.1:{relay_port}", name="relay2")
    deadline = time.time() + 10
    while time.time() < deadline and helper.text().count("clients connect to relay") < 2:
        time.sleep(0.1)
    assert helper.text().count("clients connect to relay") >= 2, helper.text()
    port = helper_public_port(helper)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"again")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"again"


def test_yaml_form(pw, echo):
    srv = echo()
    relay = start_relay(pw)
    helper = pw.start(config=f"""
services:
  - name: expose-echo
    addr: 127.0.0.1:{srv.port}
    handler: {{type: natrelay-server}}
    listener:
      type: natrelay-server
      metadata: {{relay: "127.0.0.1:{relay}"}}
""", name="helper")
    port = helper_public_port(helper)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"yaml")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"yaml"


def test_helper_without_relay_is_a_config_error(pw):
    code, out = pw.run("-L", "natrelay-server://127.0.0.1:8080", "-t")
    assert code == 2
    assert "natrelay-server needs the relay" in out


def test_bad_port_range_is_a_config_error(pw):
    code, out = pw.run("-L", "natrelay://127.0.0.1:9000?portRange=9-1", "-t")
    assert code == 2
    assert "portRange" in out
