"""Chains: every outgoing connection of a service through hops of portway processes."""
import signal
import socket
import time

import pytest

from conftest import curl, free_port, wait_port
from test_proxy_http import Backend


def hop(pw, url, name):
    port = free_port()
    p = pw.start("-L", url.format(port=port), name=name)
    wait_port(port)
    return port, p


def count(p, needle, want=None, timeout=5):
    """How often needle is in p's log; with want, first wait (bounded) until it is that often:
    a log line may reach the file a moment after the client saw the answer."""
    deadline = time.time() + timeout
    while want is not None and p.text().count(needle) < want and time.time() < deadline:
        time.sleep(0.02)
    return p.text().count(needle)


# What portway's HTTP handler answers when the chain (or the target behind it) cannot be reached.
BAD_GATEWAY = ("HTTP/1.1 502 Bad Gateway\r\nProxy-Agent: portway\r\nContent-Type: text/plain\r\n"
               "Content-Length: 16\r\nConnection: close\r\n\r\n502 Bad Gateway\n")


def test_three_hop_chain_http_socks5_http(pw, http_server):
    s5, p_s5 = hop(pw, "socks5://u1:p1@127.0.0.1:{port}", "hop-socks5")
    h2, p_h2 = hop(pw, "http://u2:p2@127.0.0.1:{port}", "hop-http")
    entry_http, entry_s5 = free_port(), free_port()
    p_entry = pw.start("-L", f"http://127.0.0.1:{entry_http}", "-L", f"socks5://127.0.0.1:{entry_s5}",
                       "-F", f"socks5://u1:p1@127.0.0.1:{s5}", "-F", f"http://u2:p2@127.0.0.1:{h2}", name="entry")
    wait_port(entry_http)
    wait_port(entry_s5)
    target = f"127.0.0.1:{http_server.port}"
    url = f"http://{target}/index.html"
    code, out, err = curl("-x", f"http://127.0.0.1:{entry_http}", url)
    assert code == 0 and out == "hello from the backend\n", err
    code, out, err = curl("-p", "-x", f"http://127.0.0.1:{entry_http}", url)
    assert code == 0 and out == "hello from the backend\n", err
    code, out, err = curl("--socks5-hostname", f"127.0.0.1:{entry_s5}", url)
    assert code == 0 and out == "hello from the backend\n", err
    # each hop carried all three: the socks5 hop was asked for the http hop, the http hop for the target
    p_s5.wait_log(f"CONNECT 127.0.0.1:{h2}")
    assert count(p_s5, f"CONNECT 127.0.0.1:{h2}", 3) == 3
    assert count(p_h2, f"CONNECT {target}", 3) == 3
    assert count(p_entry, f"GET http://{target}", 1) == 1
    assert count(p_entry, f"CONNECT {target}", 2) == 2


def test_chain_of_six_hops(pw, http_server):
    """Any length: each transport is carried inside the one before."""
    schemes = ["http", "socks5", "socks5", "http", "socks5", "http"]
    ports, procs = [], []
    for i, sch in enumerate(schemes):
        port, p = hop(pw, f"{sch}://127.0.0.1:{{port}}", f"hop{i}")
        ports.append(port)
        procs.append(p)
    entry = free_port()
    args = ["-L", f"socks5://127.0.0.1:{entry}"]
    for sch, port in zip(schemes, ports):
        args += ["-F", f"{sch}://127.0.0.1:{port}"]
    pw.start(*args, name="entry")
    wait_port(entry)
    code, out, err = curl("--socks5-hostname", f"127.0.0.1:{entry}", f"http://localhost:{http_server.port}/index.html")
    assert code == 0 and out == "hello from the backend\n", err
    for i, p in enumerate(procs):
        nxt = f"127.0.0.1:{ports[i + 1]}" if i + 1 < len(ports) else f"localhost:{http_server.port}"
        p.wait_log(f"CONNECT {nxt}")


def test_hop_credentials_must_match(pw, http_server):
    s5, p_s5 = hop(pw, "socks5://u:right@127.0.0.1:{port}", "s5")
    h, p_h = hop(pw, "http://u:right@127.0.0.1:{port}", "h")
    target = f"127.0.0.1:{http_server.port}"
    url = f"http://{target}/index.html"
    cases = (
        # upstream, what the entry logs for its node, what the hop logs
        (f"socks5://u:wrong@127.0.0.1:{s5}", "SOCKS5 authentication failed", p_s5,
         "SOCKS5 authentication failed for user u"),
        (f"http://u:wrong@127.0.0.1:{h}", "CONNECT refused: 407 Proxy Authentication Required", p_h,
         "proxy authentication failed for user u"),
        (f"socks5://127.0.0.1:{s5}", "no acceptable SOCKS5 method (the server wants credentials)", p_s5,
         "no acceptable SOCKS5 method"),
    )
    for i, (upstream, entry_says, p_hop, hop_says) in enumerate(cases):
        entry = free_port()
        p = pw.start("-L", f"http://127.0.0.1:{entry}", "-F", upstream, name=f"entry{i}")
        wait_port(entry)
        before = count(p_hop, hop_says)
        code, out, err = curl("-i", "-x", f"http://127.0.0.1:{entry}", url)
        assert code == 0 and out == BAD_GATEWAY, (upstream, out, err)
        # the node that failed, and why, on both sides
        node = upstream.split("@")[-1].split("//")[-1]
        p.wait_log(f"node node-0 ({node}): {entry_says}")
        p.wait_log(f"GET http://{target}: Permission denied")
        deadline = time.time() + 5
        while count(p_hop, hop_says) == before and time.time() < deadline:
            time.sleep(0.02)
        assert count(p_hop, hop_says) == before + 1, p_hop.text()
        # CONNECT fails the same way, before any tunnel
        code, out, err = curl("-p", "-x", f"http://127.0.0.1:{entry}", url)
        assert code == 56 and "CONNECT tunnel failed, response 502" in err, (upstream, err)
        p.wait_log(f"CONNECT {target}: Permission denied")
    # the hops never asked for the target; with the right credentials the chain answers
    assert f"CONNECT {target}" not in p_s5.text() + p_h.text()
    entry = free_port()
    pw.start("-L", f"http://127.0.0.1:{entry}", "-F", f"socks5://u:right@127.0.0.1:{s5}",
             "-F", f"http://u:right@127.0.0.1:{h}", name="entry-right")
    wait_port(entry)
    code, out, err = curl("-x", f"http://127.0.0.1:{entry}", url)
    assert code == 0 and out == "hello from the backend\n", err
    p_s5.wait_log(f"CONNECT 127.0.0.1:{h}")
    p_h.wait_log(f"CONNECT {target}")


def chain_config(entry, nodes, selector="", handler_extra="", hop_extra="", extra=""):
    node_yaml = "".join(f"""
      - name: {name}
        addr: 127.0.0.1:{port}
        connector: {{type: http}}{bypass}""" for name, port, bypass in nodes)
    return f"""
services:
- name: entry
  addr: 127.0.0.1:{entry}
  handler:
    type: http
    chain: c{handler_extra}
chains:
- name: c
  hops:
  - name: h0{selector}{hop_extra}
    nodes:{node_yaml}
{extra}"""


def test_failing_node_is_skipped(pw, http_server):
    good, p_good = hop(pw, "http://127.0.0.1:{port}", "good")
    dead = free_port()
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    entry = free_port()
    sel = "\n    selector: {strategy: fifo, maxFails: 1, failTimeout: 30s}"
    p_fifo = pw.start(config=chain_config(entry, [("dead", dead, ""), ("good", good, "")], selector=sel), name="fifo")
    wait_port(entry)
    code, out, err = curl("-i", "-x", f"http://127.0.0.1:{entry}", url)
    assert code == 0 and out == BAD_GATEWAY, out  # the first node is tried first and fails
    p_fifo.wait_log(f"node dead (127.0.0.1:{dead}) marked down for 30s")
    p_fifo.wait_log(f"GET http://127.0.0.1:{http_server.port}: Connection refused")
    assert count(p_good, "CONNECT") == 0
    for _ in range(3):  # then it is marked down and skipped
        code, out, err = curl("-x", f"http://127.0.0.1:{entry}", url)
        assert code == 0 and out == "hello from the backend\n", err
    assert count(p_good, f"CONNECT 127.0.0.1:{http_server.port}") == 3
    # with handler retries the first request already succeeds
    entry2 = free_port()
    pw.start(config=chain_config(entry2, [("dead", dead, ""), ("good", good, "")], selector=sel,
                                 handler_extra="\n    retries: 1"), name="retry")
    wait_port(entry2)
    code, out, err = curl("-x", f"http://127.0.0.1:{entry2}", url)
    assert code == 0 and out == "hello from the backend\n", err
    assert count(p_good, f"CONNECT 127.0.0.1:{http_server.port}") == 4


def test_round_robin_spreads_connections(pw, http_server):
    a, p_a = hop(pw, "http://127.0.0.1:{port}", "a")
    b, p_b = hop(pw, "http://127.0.0.1:{port}", "b")
    entry = free_port()
    pw.start(config=chain_config(entry, [("a", a, ""), ("b", b, "")], selector="\n    selector: {strategy: round}"))
    wait_port(entry)
    for _ in range(6):
        code, out, err = curl("-x", f"http://127.0.0.1:{entry}", f"http://127.0.0.1:{http_server.port}/index.html")
        assert code == 0, err
    assert count(p_a, "CONNECT 127.0.0.1") == 3 and count(p_b, "CONNECT 127.0.0.1") == 3


def test_bypass_on_hop_and_on_node(pw):
    direct, via = Backend("direct"), Backend("via")
    try:
        a, p_a = hop(pw, "http://127.0.0.1:{port}", "a")
        b, p_b = hop(pw, "http://127.0.0.1:{port}", "b")
        entry = free_port()
        extra = f"""bypasses:
- name: hopbp
  matchers: ["127.0.0.1:{direct.port}"]
- name: nodebp
  matchers: ["127.0.0.1:{via.port}-{via.port}", "*.nowhere.test"]
"""
        # the hop's bypass sends "direct" around the chain; node a's bypass leaves "via" to node b
        pw.start(config=chain_config(entry, [("a", a, "\n        bypass: nodebp"), ("b", b, "")],
                                     hop_extra="\n    bypass: hopbp", extra=extra))
        wait_port(entry)
        for _ in range(2):
            code, out, err = curl("-x", f"http://127.0.0.1:{entry}", f"http://127.0.0.1:{direct.port}/")
            assert code == 0 and '"server": "direct"' in out, err
        for _ in range(4):
            code, out, err = curl("-x", f"http://127.0.0.1:{entry}", f"http://127.0.0.1:{via.port}/")
            assert code == 0 and '"server": "via"' in out, err
        assert count(p_a, "CONNECT") == 0
        assert count(p_b, f"CONNECT 127.0.0.1:{via.port}") == 4
        assert count(p_b, f"127.0.0.1:{direct.port}") == 0
    finally:
        direct.close()
        via.close()


def test_whitelist_bypass_sends_only_listed_hosts_through_the_chain(pw):
    listed, other = Backend("listed"), Backend("other")
    try:
        a, p_a = hop(pw, "http://127.0.0.1:{port}", "a")
        entry = free_port()
        extra = f"""bypasses:
- name: only
  whitelist: true
  matchers: ["127.0.0.1:{listed.port}"]
"""
        pw.start(config=chain_config(entry, [("a", a, "")], hop_extra="\n    bypass: only", extra=extra))
        wait_port(entry)
        code, out, err = curl("-x", f"http://127.0.0.1:{entry}", f"http://127.0.0.1:{listed.port}/")
        assert code == 0 and '"listed"' in out
        code, out, err = curl("-x", f"http://127.0.0.1:{entry}", f"http://127.0.0.1:{other.port}/")
        assert code == 0 and '"other"' in out
        # the hop's own lines about the target, not the close line of the connection it joined
        dials = lambda port: sum(1 for line in p_a.text().splitlines() if f"127.0.0.1:{port}" in line and " >-< " not in line)  # noqa: E731
        assert dials(listed.port) == 1
        assert dials(other.port) == 0
    finally:
        listed.close()
        other.close()


def test_users_file_reloaded_on_sighup(pw, tmp_path, http_server):
    users = tmp_path / "users.txt"
    users.write_text("# proxy users\nalice first pass\n\tbob\t  bobpw  \n")
    port = free_port()
    cfg = f"""
authers:
- name: staff
  file: {users}
services:
- name: proxy
  addr: 127.0.0.1:{port}
  handler:
    type: auto
    authers: [staff]
"""
    p = pw.start(config=cfg)
    wait_port(port)
    url = f"http://127.0.0.1:{http_server.port}/index.html"

    def status(user, password):
        code, out, err = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x",
                              f"http://{user}:{password}@127.0.0.1:{port}".replace(" ", "%20"), url)
        return out

    assert status("alice", "first pass") == "200"
    assert status("bob", "bobpw") == "200"
    assert status("bob", "nope") == "407"
    code, out, err = curl("-x", f"socks5h://alice:first%20pass@127.0.0.1:{port}", url)
    assert code == 0, err
    users.write_text("carol c4rol\n")
    p.signal(signal.SIGHUP)
    p.wait_log("reload done")
    assert status("carol", "c4rol") == "200"
    assert status("alice", "first pass") == "407"
    code, out, err = curl("-x", f"socks5h://alice:first%20pass@127.0.0.1:{port}", url)
    assert code == 97


def test_command_line_chain_uses_bare_host_as_http(pw, http_server):
    """GOST: -F without a scheme is an HTTP proxy node."""
    h, p_h = hop(pw, "http://127.0.0.1:{port}", "h")
    entry = free_port()
    pw.start("-L", f"socks5://127.0.0.1:{entry}", "-F", f"127.0.0.1:{h}")
    wait_port(entry)
    code, out, err = curl("--socks5-hostname", f"127.0.0.1:{entry}", f"http://127.0.0.1:{http_server.port}/index.html")
    assert code == 0 and out == "hello from the backend\n", err
    p_h.wait_log(f"CONNECT 127.0.0.1:{http_server.port}")


def test_socks4_connector(pw, http_server):
    s4, p_s4 = hop(pw, "socks4://127.0.0.1:{port}", "s4")
    entry = free_port()
    p_entry = pw.start("-L", f"http://127.0.0.1:{entry}", "-F", f"socks4a://127.0.0.1:{s4}")
    wait_port(entry)
    for host in ("127.0.0.1", "localhost"):  # SOCKS4, then SOCKS4a for a name
        code, out, err = curl("-x", f"http://127.0.0.1:{entry}", f"http://{host}:{http_server.port}/index.html")
        assert code == 0 and out == "hello from the backend\n", err
        p_s4.wait_log(f"SOCKS4 CONNECT {host}:{http_server.port}")
    # the hop works but the target behind it does not answer: the hop says so, the entry answers 502
    dead = free_port()
    code, out, err = curl("-i", "-x", f"http://127.0.0.1:{entry}", f"http://127.0.0.1:{dead}/")
    assert code == 0 and out == BAD_GATEWAY, out
    p_s4.wait_log(f"SOCKS4 CONNECT 127.0.0.1:{dead}: Connection refused")
    p_entry.wait_log(f"node node-0 (127.0.0.1:{s4}): SOCKS4 request rejected (91)")
    p_entry.wait_log(f"GET http://127.0.0.1:{dead}: Connection refused")


def test_hop_credentials_from_an_auth_file(pw, tmp_path, http_server):
    """GOST's auth: {file: ...} on a connector: the file's first user line is what the hop is sent."""
    s5, p_s5 = hop(pw, "socks5://carol:s3cret@127.0.0.1:{port}", "s5")
    creds = tmp_path / "hop.txt"
    creds.write_text("# the hop's user\ncarol s3cret\nmallory wrong\n")
    entry = free_port()
    pw.start(config=f"""
services:
- name: entry
  addr: 127.0.0.1:{entry}
  handler: {{type: http, chain: c}}
chains:
- name: c
  hops:
  - name: h0
    nodes:
    - name: s5
      addr: 127.0.0.1:{s5}
      connector: {{type: socks5, auth: {{file: {creds}}}}}
""", name="entry")
    wait_port(entry)
    code, out, err = curl("-x", f"http://127.0.0.1:{entry}", f"http://127.0.0.1:{http_server.port}/index.html")
    assert code == 0 and out == "hello from the backend\n", err
    assert count(p_s5, f"CONNECT 127.0.0.1:{http_server.port}", 1) == 1
