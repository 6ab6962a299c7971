"""The ws and wss transports: listener and dialer, against python's websockets
(client and server), curl, raw sockets for the protocol errors, and chains
of portway processes."""
import asyncio
import base64
import os
import socket
import ssl
import struct
import time

import pytest
import websockets
import websockets.exceptions

from conftest import curl, free_port
from test_tls_helpers import certs, echo_transfer  # noqa: F401 (certs is a fixture)


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def ws_echo_check(uri, **kw):
    """Send messages of several sizes through an echo path; bytes come back in any framing."""
    async with websockets.connect(uri, max_size=None, **kw) as ws:
        for size in (1, 125, 126, 65535, 65536, 300000):
            msg = os.urandom(size)
            await ws.send(msg)
            got = b""
            while len(got) < size:
                got += await ws.recv()
            assert got == msg
        await ws.send("text goes through as bytes")
        assert await ws.recv() == b"text goes through as bytes"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        headers = ws.response_headers
    return headers


def test_websockets_client_against_ws_listener(pw, echo):
    e = echo()
    port = free_port()
    pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}")
    run(ws_echo_check(f"ws://127.0.0.1:{port}/ws"))


def test_wss_listener_with_websockets_client(pw, echo, certs):
    e = echo()
    port = free_port()
    pw.start("-L", f"tcp+wss://127.0.0.1:{port}/127.0.0.1:{e.port}?certFile={certs.server[0]}"
             f"&keyFile={certs.server[1]}")
    ctx = ssl.create_default_context(cafile=certs.ca[0])
    run(ws_echo_check(f"wss://localhost:{port}/ws", ssl=ctx))


def test_path_and_extra_headers(pw, echo):
    e = echo()
    port = free_port()
    pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}?path=/tunnel&header.X-Served-By=portway")
    headers = run(ws_echo_check(f"ws://127.0.0.1:{port}/tunnel?token=abc"))
    assert headers["X-Served-By"] == "portway"
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
        run(ws_echo_check(f"ws://127.0.0.1:{port}/ws"))
    assert ei.value.status_code == 404


def raw_http(port, request, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(request)
    data = b""
    while True:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            break
        if not d:
            break
        data += d
    s.close()
    return data


def test_plain_http_requests_get_http_errors(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}")
    rc, out, err = curl("-i", f"http://127.0.0.1:{port}/ws")
    assert rc == 0 and out.startswith("HTTP/1.1 426 Upgrade Required"), out + err
    assert "Sec-WebSocket-Version: 13" in out and "not a WebSocket upgrade" in out
    rc, out, err = curl("-i", f"http://127.0.0.1:{port}/elsewhere")
    assert out.startswith("HTTP/1.1 404 Not Found"), out
    rc, out, err = curl("-i", "-d", "x=1", f"http://127.0.0.1:{port}/ws")
    assert out.startswith("HTTP/1.1 405 Method Not Allowed") and "Allow: GET" in out, out
    assert raw_http(port, b"\x16\x03\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400 Bad Request")
    assert raw_http(port, b"GET /ws HTTP/1.1\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431")
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    assert raw_http(port, b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 8\r\n\r\n").startswith(b"HTTP/1.1 426")
    assert "refused (426)" in p.text()
    assert e.connections == 0  # nothing reached the handler


def ws_handshake(port, path="/ws"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        assert d, head
        head += d
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def frame(opcode, payload, mask=True, fin=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    k = (key * (n // 4 + 1))[:n]
    return hdr + key + (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def read_frame(s):
    def exact(n):
        b = b""
        while len(b) < n:
            d = s.recv(n - len(b))
            if not d:
                raise EOFError(b)
            b += d
        return b
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    assert not b1 & 0x80, "server frames must not be masked"
    return b0 & 0x0F, exact(n)


def test_raw_frames_fragmentation_ping_and_close(pw, echo):
    e = echo()
    port = free_port()
    pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}")
    s = ws_handshake(port)
    # A fragmented message with a ping in the middle; the header itself split over two writes.
    f1 = frame(0x2, b"hello ", fin=False)
    s.sendall(f1[:1])
    time.sleep(0.05)
    s.sendall(f1[1:] + frame(0x9, b"p1") + frame(0x0, b"world", fin=True))
    got = b""
    pong = None
    while len(got) < 11 or pong is None:
        op, payload = read_frame(s)
        if op == 0xA:
            pong = payload
        else:
            assert op == 0x2
            got += payload
    assert got == b"hello world" and pong == b"p1"
    # Our close: the echo target sees EOF and closes, so portway's close comes back.
    s.sendall(frame(0x8, struct.pack("!H", 1000)))
    op, payload = read_frame(s)
    assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == 1000
    assert s.recv(10) == b""
    s.close()


@pytest.mark.parametrize("bad,code", [
    (frame(0x2, b"unmasked", mask=False), 1002),
    (bytes([0x83, 0x80]) + b"\0\0\0\0", 1002),            # reserved opcode
    (bytes([0xC2, 0x80]) + b"\0\0\0\0", 1002),            # RSV1 without an extension
    (frame(0x9, b"x" * 126), 1002),                       # control frame too long
    (frame(0x0, b"orphan continuation"), 1002),
    (frame(0x8, b"\x03\xe8\xff\xfe"), 1007),              # close reason not UTF-8
])
def test_protocol_errors_close_with_a_code(pw, echo, bad, code):
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}")
    s = ws_handshake(port)
    s.sendall(bad)
    op, payload = read_frame(s)
    assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == code
    assert s.recv(10) == b""
    s.close()
    p.wait_log("WebSocket protocol error")


def test_max_frame_size(pw, echo):
    e = echo()
    port = free_port()
    pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}?maxFrameSize=2048")

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send(b"x" * 2048)
            got = b""
            while len(got) < 2048:
                got += await ws.recv()
            await ws.send(b"x" * 2049)
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as ei:
                await ws.recv()
            return ei.value.rcvd.code
    assert run(go()) == 1009


def test_keepalive_pings_and_drops_a_silent_peer(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}?keepAlive=true&ttl=500ms")
    s = ws_handshake(port)
    op, payload = read_frame(s)
    assert op == 0x9
    # Stay silent: after about two intervals the server gives up.
    t0 = time.time()
    with pytest.raises(EOFError):
        while True:
            read_frame(s)
    assert time.time() - t0 < 5
    p.wait_log("keep-alive")
    s.close()
    # A peer that answers stays.
    s = ws_handshake(port)
    for _ in range(6):
        op, payload = read_frame(s)
        assert op == 0x9
        s.sendall(frame(0xA, payload))
    s.close()


def test_server_side_close_reaches_the_client(pw):
    """The target closes first: the client gets the data, then a clean 1000 close."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve():
        c, _ = srv.accept()
        c.sendall(b"bye")
        c.close()
    import threading
    threading.Thread(target=serve, daemon=True).start()
    port = free_port()
    pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{srv.getsockname()[1]}")

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            assert await ws.recv() == b"bye"
            with pytest.raises(websockets.exceptions.ConnectionClosedOK):
                await ws.recv()
            return ws.close_code
    assert run(go()) == 1000
    srv.close()


def start_ws_server(path_seen):
    """A python websockets echo server; records the request path and headers."""
    loop = asyncio.new_event_loop()
    port = free_port()

    async def handler(ws, path=None):
        path_seen.append((ws.path, ws.request_headers))
        async for msg in ws:
            await ws.send(msg)

    async def main():
        async with websockets.serve(handler, "127.0.0.1", port, max_size=None):
            await asyncio.Future()
    import threading
    threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True).start()
    return port


def test_ws_dialer_against_websockets_server(pw):
    seen = []
    sport = start_ws_server(seen)
    time.sleep(0.3)
    a = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{a}/127.0.0.1:1", "-F",
             f"forward+ws://127.0.0.1:{sport}?path=/agent%3Fid%3D7&host=tunnel.example&header.X-Token=abc")
    # A standard WebSocket peer answers a close frame (our half close) with its own
    # and stops: no half close with it, so the client closes once all is back.
    echo_transfer(a, 4 << 20, half_close=False)
    path, headers = seen[0]
    assert path == "/agent?id=7"
    assert headers["Host"] == "tunnel.example" and headers["X-Token"] == "abc"


def test_ws_dialer_refused_by_plain_http_server(pw, http_server):
    a = free_port()
    client = pw.start("-L", f"tcp://127.0.0.1:{a}/127.0.0.1:1", "-F", f"forward+ws://127.0.0.1:{http_server.port}")
    s = socket.create_connection(("127.0.0.1", a), timeout=10)
    assert s.recv(10) == b""
    s.close()
    client.wait_log("server answered 404")


def chain_args(transport, port, certs):
    if transport == "wss":
        return f"relay+wss://127.0.0.1:{port}?secure=true&caFile={certs.ca[0]}&serverName=localhost"
    return f"relay+ws://127.0.0.1:{port}"


def relay_server(pw, transport, port, certs, name):
    q = f"?certFile={certs.server[0]}&keyFile={certs.server[1]}" if transport == "wss" else ""
    return pw.start("-L", f"relay+{transport}://127.0.0.1:{port}{q}", name=name)


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_relay_chain_curl_and_100mib(pw, http_server, echo, certs, transport):
    """curl and 100 MiB (SHA-256 checked) through relay over ws/wss: ws on tls on tcp."""
    b = free_port()
    relay_server(pw, transport, b, certs, "server")
    a, t = free_port(), free_port()
    e = echo()
    pw.start("-L", f"http://127.0.0.1:{a}", "-L", f"tcp://127.0.0.1:{t}/127.0.0.1:{e.port}",
             "-F", chain_args(transport, b, certs), name="client")
    rc, out, err = curl("-x", f"http://127.0.0.1:{a}", f"http://127.0.0.1:{http_server.port}/")
    assert rc == 0 and out == "hello from the backend\n", err
    echo_transfer(t, 100 << 20, timeout=240)


def test_wss_hop_inside_a_relay_wss_hop(pw, http_server, echo, certs):
    """Two hops: the second node's TLS and WebSocket handshakes run inside the
    first node's relay connection, itself WebSocket on TLS on TCP."""
    b, c = free_port(), free_port()
    relay_server(pw, "wss", b, certs, "hop1")
    relay_server(pw, "wss", c, certs, "hop2")
    a, t = free_port(), free_port()
    e = echo()
    pw.start("-L", f"http://127.0.0.1:{a}", "-L", f"tcp://127.0.0.1:{t}/127.0.0.1:{e.port}",
             "-F", chain_args("wss", b, certs), "-F", chain_args("wss", c, certs), name="client")
    rc, out, err = curl("-x", f"http://127.0.0.1:{a}", f"http://127.0.0.1:{http_server.port}/")
    assert rc == 0 and out == "hello from the backend\n", err
    echo_transfer(t, 16 << 20)


def test_forward_wss_chain_to_tcp_wss_listener(pw, echo, certs):
    """The core alone: tcp forwarding through a forward+wss node to a tcp+wss listener."""
    e = echo()
    a, b = free_port(), free_port()
    pw.start("-L", f"tcp+wss://127.0.0.1:{b}/127.0.0.1:{e.port}?certFile={certs.server[0]}"
             f"&keyFile={certs.server[1]}&path=/t", name="server")
    pw.start("-L", f"tcp://127.0.0.1:{a}/127.0.0.1:{e.port}", "-F",
             f"forward+wss://127.0.0.1:{b}?path=/t&secure=true&caFile={certs.ca[0]}&serverName=localhost",
             name="client")
    echo_transfer(a, 8 << 20)


def test_handshake_timeout(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}?handshakeTimeout=1s")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /ws HTTP/1.1\r\n")
    t0 = time.time()
    assert s.recv(100) == b""
    assert 0.5 < time.time() - t0 < 5
    p.wait_log("no upgrade request within 1s")


def test_bad_header_configuration(pw):
    code, out = pw.run("-t", "-L", f"tcp+ws://127.0.0.1:{free_port()}/127.0.0.1:1?header.Upgrade=x")
    assert code != 0 and "Upgrade is set by the WebSocket handshake" in out, out
    code, out = pw.run("-t", "-L", f"tcp+ws://127.0.0.1:{free_port()}/127.0.0.1:1?maxFrameSize=10")
    assert code != 0 and "maxFrameSize" in out, out


def test_socks5_over_ws_chain(pw, http_server):
    b, a = free_port(), free_port()
    pw.start("-L", f"socks5+ws://127.0.0.1:{b}?path=/s", name="server")
    pw.start("-L", f"socks5://127.0.0.1:{a}", "-F", f"socks5+ws://127.0.0.1:{b}?path=/s", name="client")
    rc, out, err = curl("--socks5-hostname", f"127.0.0.1:{a}", f"http://127.0.0.1:{http_server.port}/")
    assert rc == 0 and out == "hello from the backend\n", err


def test_yaml_wss_dialer_tls_block_and_header_map(pw, certs):
    """A YAML node: dialer wss with a tls block and metadata (path, host, a header map)."""
    seen = []
    sport = free_port()
    loop = asyncio.new_event_loop()
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(certs.server[0], certs.server[1])

    async def handler(ws, path=None):
        seen.append((ws.path, ws.request_headers))
        async for msg in ws:
            await ws.send(msg)

    async def main():
        async with websockets.serve(handler, "127.0.0.1", sport, ssl=sctx, max_size=None):
            await asyncio.Future()
    import threading
    threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True).start()
    time.sleep(0.3)
    a = free_port()
    pw.start(config=f"""
services:
- name: in
  addr: 127.0.0.1:{a}
  handler: {{type: tcp, chain: out}}
  listener: {{type: tcp}}
  forwarder:
    nodes: [{{name: t, addr: "127.0.0.1:1"}}]
chains:
- name: out
  hops:
  - name: h
    nodes:
    - name: py
      addr: 127.0.0.1:{sport}
      connector: {{type: forward}}
      dialer:
        type: wss
        tls: {{secure: true, caFile: {certs.ca[0]}, serverName: localhost}}
        metadata:
          path: /agent
          host: agent.example
          header: {{X-Agent: one, X-Version: "2"}}
""")
    echo_transfer(a, 1 << 20, half_close=False)
    path, headers = seen[0]
    assert path == "/agent" and headers["Host"] == "agent.example"
    assert headers["X-Agent"] == "one" and headers["X-Version"] == "2"


def test_random_frames_split_anywhere(pw, echo):
    """Many frames of random sizes, some fragmented, with pings between, written
    in random pieces (headers split too): the payload bytes come back in order."""
    import random
    rnd = random.Random(6455)
    e = echo()
    port = free_port()
    pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}")
    s = ws_handshake(port)
    wire, want, pings = b"", b"", 0
    for i in range(300):
        size = rnd.choice([0, 1, 2, 125, 126, 127, 1000, 65535, 65536, rnd.randrange(0, 70000)])
        payload = rnd.randbytes(size)
        if rnd.random() < 0.3 and size > 2:
            cut = rnd.randrange(1, size)
            wire += frame(0x2, payload[:cut], fin=False) + frame(0x9, b"%d" % i) + frame(0x0, payload[cut:])
            pings += 1
        else:
            wire += frame(0x2, payload)
        want += payload
    import threading

    def writer():
        pos = 0
        while pos < len(wire):
            n = rnd.choice([1, 2, 3, 7, 13, 100, 4096, 65536])
            s.sendall(wire[pos:pos + n])
            pos += n
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    got, pongs = b"", 0
    while len(got) < len(want) or pongs < pings:
        op, payload = read_frame(s)
        if op == 0xA:
            pongs += 1
        else:
            got += payload
    t.join(30)
    assert got == want and pongs == pings
    s.close()


def test_lone_wss_scheme_is_auto_over_wss(pw, http_server):
    """GOST's short forms: -L wss:// is the auto handler over wss, -F wss:// the
    http connector over wss; neither is worth a warning."""
    b, a = free_port(), free_port()
    server = pw.start("-L", f"wss://127.0.0.1:{b}", name="server")
    client = pw.start("-L", f"http://127.0.0.1:{a}", "-F", f"wss://127.0.0.1:{b}", name="client")
    rc, out, err = curl("-x", f"http://127.0.0.1:{a}", f"http://127.0.0.1:{http_server.port}/")
    assert rc == 0 and out == "hello from the backend\n", err
    assert "not known" not in server.text() + client.text()


UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def end_before_upgrade(port, sent, wait_close=True):
    """Send part of an upgrade request and end the connection; with wait_close, half
    close and wait until portway has closed its side (it has read our EOF by then)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if sent:
        s.sendall(sent)
    if wait_close:
        s.shutdown(socket.SHUT_WR)
        assert s.recv(100) == b""  # no answer to a request that never came whole
    s.close()


def test_clients_gone_before_the_upgrade_completes(pw, echo):
    """A client that ends before its upgrade request is whole (having sent part of it,
    or nothing) costs only its own connection: the listener goes on serving. The end
    of input during the handshake once copied 0 bytes from NULL, which a sanitized
    build aborts on, taking every service with it."""
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp+ws://127.0.0.1:{port}/127.0.0.1:{e.port}")
    end_before_upgrade(port, b"")
    end_before_upgrade(port, b"GET /ws HTTP/1.1\r\nHost: x\r\n")
    p.wait_log("connection closed before a full request")
    # The head cut at every byte, one connection each; and written in two pieces.
    for cut in range(len(UPGRADE)):
        end_before_upgrade(port, UPGRADE[:cut])
    for cut in range(0, len(UPGRADE), 7):
        end_before_upgrade(port, UPGRADE[:cut], wait_close=False)
    for cut in range(1, len(UPGRADE)):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(UPGRADE[:cut])
        s.sendall(UPGRADE[cut:])
        head = b""
        while b"\r\n\r\n" not in head:
            d = s.recv(4096)
            assert d, head
            head += d
        assert head.startswith(b"HTTP/1.1 101"), head
        s.close()
    assert p.proc.poll() is None, p.text()
    run(ws_echo_check(f"ws://127.0.0.1:{port}/ws"))
    assert e.connections >= 1


def test_ws_dialer_server_gone_before_answering(pw, echo):
    """The dialer's side of the same: a server that closes before (or while) answering
    the upgrade fails that dial only; the same client then tunnels once the node answers."""
    e = echo()
    b = free_port()
    pw.start("-L", f"tcp+ws://127.0.0.1:{b}/127.0.0.1:{e.port}", name="server")
    node = socket.socket()
    node.bind(("127.0.0.1", 0))
    node.listen(16)
    early = [b"", b"HTTP/1.1 101 Switching"]  # nothing at all; half a status line
    import threading

    def pipe(src, dst):
        while True:
            try:
                d = src.recv(65536)
            except OSError:
                d = b""
            if not d:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            dst.sendall(d)

    def serve():
        n = 0
        while True:
            try:
                c, _ = node.accept()
            except OSError:
                return
            if n < len(early):
                c.recv(4096)
                c.sendall(early[n])
                c.close()
            else:  # from now on the node is the real ws listener
                up = socket.create_connection(("127.0.0.1", b))
                threading.Thread(target=pipe, args=(c, up), daemon=True).start()
                threading.Thread(target=pipe, args=(up, c), daemon=True).start()
            n += 1
    threading.Thread(target=serve, daemon=True).start()
    a = free_port()
    client = pw.start("-L", f"tcp://127.0.0.1:{a}/127.0.0.1:{e.port}", "-F",
                      f"forward+ws://127.0.0.1:{node.getsockname()[1]}", name="client")
    for _ in early:
        s = socket.create_connection(("127.0.0.1", a), timeout=10)
        assert s.recv(10) == b""
        s.close()
    client.wait_log("connection closed before the server answered")
    echo_transfer(a, 1 << 20)
    assert client.proc.poll() is None, client.text()
    node.close()
