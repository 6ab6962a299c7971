"""GOST's multiplexed transports mtcp, mtls, mws, mwss: many streams over one smux session on one
TCP / TLS / WebSocket connection, between two portway processes and against the real xtaci/smux
(Debian's golang-github-xtaci-smux-dev) as a client and as a server.

The dialer keeps one session per node on each worker, so the clients here run on one worker when a
test counts connections. Nothing probes the ports: portway listens before it logs "running with",
and a probe would be a connection of its own (a session on the client side).
"""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import build_go_peer, curl, free_port

TRANSPORTS = ["mtcp", "mtls", "mws", "mwss"]
SMUX_SRC = "/usr/share/gocode/src/github.com/xtaci/smux"


def established_to(port):
    """Established TCP connections whose remote port is `port` (the client ends), IPv4 and IPv6."""
    n = 0
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            rem, state = parts[2], parts[3]
            if state == "01" and int(rem.rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def client_config(entry, target, transport, server, connector="relay", workers=1, md=""):
    """A forwarding service on `entry` to `target` through one hop: connector+transport at `server`."""
    return f"""
workers: {workers}
services:
- name: entry
  addr: 127.0.0.1:{entry}
  handler: {{type: tcp, chain: c}}
  listener: {{type: tcp}}
  forwarder:
    nodes:
    - name: target
      addr: {target}
chains:
- name: c
  hops:
  - name: h0
    nodes:
    - name: mux
      addr: 127.0.0.1:{server}
      connector: {{type: {connector}}}
      dialer:
        type: {transport}{md}
"""


def echo_once(port, payload, timeout=10):
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        c.sendall(payload)
        got = b""
        while len(got) < len(payload):
            try:
                d = c.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            got += d
        return got
    finally:
        c.close()


def transfer(port, nbytes, timeout=60):
    """nbytes of random data each way through an echo; True when both checksums match."""
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sent = hashlib.sha256()
    chunk = os.urandom(1 << 20)

    def send():
        left = nbytes
        while left:
            piece = chunk[: min(left, len(chunk))]
            sent.update(piece)
            c.sendall(piece)
            left -= len(piece)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    got, recv = 0, hashlib.sha256()
    try:
        while got < nbytes:
            d = c.recv(1 << 18)
            if not d:
                break
            recv.update(d)
            got += len(d)
    finally:
        t.join(timeout)
        c.close()
    return got == nbytes and sent.hexdigest() == recv.hexdigest()


def mux_pair(pw, echo, transport, server_args="", workers=1, md="", name=""):
    """portway relay server on `transport`, a one-worker client forwarding to an echo through it."""
    srv = echo()
    server = free_port()
    # -D: the server logs every TCP connection it accepts ("connection from")
    sp = pw.start("-D", "-L", f"relay+{transport}://127.0.0.1:{server}{server_args}", name=f"server{name}")
    entry = free_port()
    cp = pw.start(config=client_config(entry, f"127.0.0.1:{srv.port}", transport, server, workers=workers, md=md),
                  name=f"client{name}")
    return server, sp, entry, cp


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bulk_16mib_each_way(pw, echo, transport):
    server, sp, entry, cp = mux_pair(pw, echo, transport)
    assert transfer(entry, 16 << 20)
    # a second transfer, while the first's stream is gone, uses the same session
    assert transfer(entry, 1 << 20)
    assert cp.text().count("mux session up") == 1, cp.text()
    assert established_to(server) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_100_concurrent_requests_share_one_connection(pw, echo, transport):
    server, sp, entry, cp = mux_pair(pw, echo, transport)
    results = [None] * 100
    # hold every stream open until all are done, so they overlap on the session
    barrier = threading.Barrier(100, timeout=30)

    def run(i):
        payload = b"request %d " % i * 50
        c = socket.create_connection(("127.0.0.1", entry), timeout=20)
        try:
            c.sendall(payload)
            got = b""
            while len(got) < len(payload):
                d = c.recv(65536)
                if not d:
                    break
                got += d
            results[i] = got == payload
            barrier.wait()
            if i == 0:
                results.append(established_to(server))
        except Exception:  # noqa: BLE001 - the assertion below reports it
            results[i] = False
        finally:
            c.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert results[:100].count(True) == 100, results
    assert results[100] == 1  # while all 100 were open: one connection to the server
    assert cp.text().count("mux session up") == 1, cp.text()
    assert established_to(server) == 1
    assert sp.text().count("connection from") == 1  # and no other was ever made


def test_two_workers_at_most_one_session_each(pw, echo):
    server, sp, entry, cp = mux_pair(pw, echo, "mtcp", workers=2)
    threads = [threading.Thread(target=lambda: echo_once(entry, b"x" * 1000)) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert 1 <= established_to(server) <= 2
    assert 1 <= cp.text().count("mux session up") <= 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_restart_session_replaced(pw, echo, transport):
    server, sp, entry, cp = mux_pair(pw, echo, transport)
    assert echo_once(entry, b"before") == b"before"
    sp.kill()
    sp.proc.wait()
    cp.wait_log("mux session closed", 5)
    # nobody listens: the request fails (the client connection is closed)
    assert echo_once(entry, b"while down") != b"while down"
    sp2 = pw.start("-L", f"relay+{transport}://127.0.0.1:{server}", name="server2")
    assert echo_once(entry, b"after restart") == b"after restart"
    assert transfer(entry, 1 << 20)
    assert cp.text().count("mux session up") == 2, cp.text()
    assert established_to(server) == 1
    sp2.stop()


def test_session_killed_under_load_is_replaced(pw, echo):
    """Streams live on a session when it breaks: they end, and the next request gets a new session."""
    server, sp, entry, cp = mux_pair(pw, echo, "mtcp")
    socks = []
    for _ in range(5):
        c = socket.create_connection(("127.0.0.1", entry), timeout=10)
        c.sendall(b"hi")
        assert c.recv(2) == b"hi"
        socks.append(c)
    sp.kill()
    sp.proc.wait()
    for c in socks:  # every piped client connection is closed
        c.settimeout(5)
        try:
            assert c.recv(10) == b""
        except ConnectionResetError:
            pass
        c.close()
    pw.start("-L", f"relay+mtcp://127.0.0.1:{server}", name="server2")
    assert echo_once(entry, b"again") == b"again"


def test_requests_while_node_down_fail_promptly(pw, echo):
    """Requests waiting for a session whose dial is refused learn it at once, not at their timeout."""
    srv = echo()
    server, entry = free_port(), free_port()
    cp = pw.start(config=client_config(entry, f"127.0.0.1:{srv.port}", "mtls", server))
    results = []
    t0 = time.time()
    threads = [threading.Thread(target=lambda: results.append(echo_once(entry, b"x" * 100, timeout=10)))
               for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert len(results) == 20 and not any(results)
    assert time.time() - t0 < 5
    pw.start("-L", f"relay+mtls://127.0.0.1:{server}", name="server")
    assert echo_once(entry, b"now up") == b"now up"
    assert cp.text().count("mux session up") == 1


def test_mux_hop_behind_another_hop(pw, echo):
    """-F http://hop -F relay+mtls://server: the session runs through the http hop, once."""
    srv = echo()
    hop_port, server, entry = free_port(), free_port(), free_port()
    hp = pw.start("-L", f"http://127.0.0.1:{hop_port}", name="hop")
    pw.start("-L", f"relay+mtls://127.0.0.1:{server}", name="server")
    cp = pw.start("-L", f"tcp://127.0.0.1:{entry}/127.0.0.1:{srv.port}", "-F", f"http://127.0.0.1:{hop_port}",
                  "-F", f"relay+mtls://127.0.0.1:{server}", name="client")
    results = []
    for _ in range(3):  # sequential first: every request after the first reuses the session
        results.append(echo_once(entry, b"seq") == b"seq")
    threads = [threading.Thread(target=lambda i=i: results.append(echo_once(entry, b"%d" % i * 999)
                                                                  == b"%d" % i * 999)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results.count(True) == 23
    # one session per client worker, each a single CONNECT through the http hop
    n = hp.text().count(f"CONNECT 127.0.0.1:{server}")
    assert 1 <= n <= 2 and n == cp.text().count("mux session up"), hp.text()
    assert transfer(entry, 4 << 20)


def test_reload_retires_the_old_session(pw, echo, tmp_path):
    """A reload that changes the chain: a connection on the old session lives on; once it ends the
    old configuration goes, and with it its session; new requests get a session of the new one."""
    srv = echo()
    server, entry = free_port(), free_port()
    pw.start("-L", f"relay+mwss://127.0.0.1:{server}", name="server")
    cfg = tmp_path / "client.yaml"
    cfg.write_text(client_config(entry, f"127.0.0.1:{srv.port}", "mwss", server))
    cp = pw.start("-C", str(cfg), name="client")
    held = socket.create_connection(("127.0.0.1", entry), timeout=10)
    held.sendall(b"held")
    assert held.recv(4) == b"held"
    cfg.write_text(client_config(entry, f"127.0.0.1:{srv.port}", "mwss", server,
                                 md="\n        metadata: {mux.keepaliveInterval: 5s}"))
    cp.signal(signal.SIGHUP)
    cp.wait_log("reload done", 10)
    assert echo_once(entry, b"new config") == b"new config"
    held.sendall(b"still held")
    assert held.recv(10) == b"still held"
    assert cp.text().count("mux session up") == 2
    held.close()
    cp.wait_log("mux session closed", 10)  # the old configuration's session, retired
    assert echo_once(entry, b"again") == b"again"
    assert cp.text().count("mux session up") == 2


def test_http_over_mtls_and_auto_over_mws(pw, http_server):
    url = f"http://127.0.0.1:{http_server.port}/index.html"
    # -L http+mtls on the server, -F http+mtls on the client
    b = free_port()
    pw.start("-L", f"http+mtls://127.0.0.1:{b}", name="server-http")
    a = free_port()
    pw.start("-L", f"http://127.0.0.1:{a}", "-F", f"http+mtls://127.0.0.1:{b}", name="client-http")
    for _ in range(3):
        code, out, err = curl("-x", f"http://127.0.0.1:{a}", url)
        assert code == 0 and out == "hello from the backend\n", err
    # a lone mws: the auto handler on the server, the http connector on the client
    b2 = free_port()
    pw.start("-L", f"mws://127.0.0.1:{b2}", name="server-auto")
    a2 = free_port()
    pw.start("-L", f"socks5://127.0.0.1:{a2}", "-F", f"mws://127.0.0.1:{b2}", name="client-auto")
    code, out, err = curl("--socks5-hostname", f"127.0.0.1:{a2}", url)
    assert code == 0 and out == "hello from the backend\n", err
    # and socks5 over mtcp
    b3 = free_port()
    pw.start("-L", f"socks5+mtcp://127.0.0.1:{b3}", name="server-s5")
    a3 = free_port()
    pw.start("-L", f"http://127.0.0.1:{a3}", "-F", f"socks5+mtcp://127.0.0.1:{b3}", name="client-s5")
    code, out, err = curl("-x", f"http://127.0.0.1:{a3}", url)
    assert code == 0 and out == "hello from the backend\n", err


def test_mux_keys_and_versions(pw, echo):
    """Both ends must agree on mux.version; the keys GOST names are honoured."""
    md = "\n        metadata: {mux.version: 1, mux.keepaliveInterval: 200ms, mux.keepaliveTimeout: 600ms, " \
         "mux.maxFrameSize: 4096, mux.maxStreamBuffer: 65536}"
    server, sp, entry, cp = mux_pair(pw, echo, "mtcp", server_args="?mux.version=1&mux.keepaliveInterval=200ms",
                                     md=md)
    assert transfer(entry, 2 << 20)
    time.sleep(1.5)  # idle past the keepalive timeout: the NOPs keep the session
    assert echo_once(entry, b"still") == b"still"
    assert cp.text().count("mux session up") == 1, cp.text()
    # a v2 client against the v1 server: the server drops the session, the request fails
    entry2 = free_port()
    pw.start(config=client_config(entry2, "127.0.0.1:1", "mtcp", server), name="v2client")
    assert echo_once(entry2, b"mismatch", timeout=5) != b"mismatch"


def test_config_errors(pw):
    code, out = pw.run("-L", "relay+mtcp://127.0.0.1:1?mux.type=yamux", "-t")
    assert code != 0 and "mux.type" in out and "yamux" in out, out
    code, out = pw.run("-L", "tcp://127.0.0.1:1/127.0.0.1:2", "-F", "relay+mwss://127.0.0.1:3?mux.version=3", "-t")
    assert code != 0 and "mux.version" in out, out
    code, out = pw.run("-L", "relay+mtls://127.0.0.1:1", "-F", "relay+mws://127.0.0.1:3", "-t")
    assert code == 0, out


@pytest.mark.parametrize("transport", ["mtcp", "mtls"])
def test_garbage_gets_closed(pw, echo, transport):
    server, sp, entry, cp = mux_pair(pw, echo, transport)
    for junk in (b"\x05" * 64, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096),
                 b"\x01\x00\xff\xff\x01\x00\x00\x00"):  # a v1 SYN with a bad length, then nothing
        c = socket.create_connection(("127.0.0.1", server), timeout=5)
        c.sendall(junk)
        c.settimeout(35)  # a silent half-frame ends with the keepalive timeout at the latest
        try:
            while c.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        c.close()
    assert transfer(entry, 1 << 20)
    assert sp.proc.poll() is None


# ---- against the real xtaci/smux ----

PEER_GO = r'''
// An smux client and an smux server with xtaci/smux, as GOST's mtcp dialer and listener use it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"sync"
	"time"

	"github.com/xtaci/smux"
)

func config(version int) *smux.Config {
	c := smux.DefaultConfig()
	c.Version = version
	c.KeepAliveInterval = 200 * time.Millisecond
	c.KeepAliveTimeout = 2 * time.Second
	return c
}

// client: one TCP connection, n concurrent streams, each echoing size random bytes.
func client(addr string, version, n, size int) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		panic(err)
	}
	sess, err := smux.Client(conn, config(version))
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st, err := sess.OpenStream()
			if err != nil {
				fmt.Println("open:", err)
				return
			}
			defer st.Close()
			p := make([]byte, size+i)
			rand.Read(p)
			go st.Write(p)
			got := make([]byte, len(p))
			if _, err := io.ReadFull(st, got); err != nil {
				fmt.Println("read:", err)
				return
			}
			if bytes.Equal(p, got) {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	time.Sleep(1 * time.Second) // idle past a few keepalive intervals
	if sess.IsClosed() {
		fmt.Println("session closed")
		os.Exit(1)
	}
	fmt.Println("ok", ok)
}

// server: every TCP connection is a session; every stream is echoed.
func server(listen string, version int) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		panic(err)
	}
	fmt.Println("listening", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Println("session from", c.RemoteAddr())
		go func(c net.Conn) {
			sess, err := smux.Server(c, config(version))
			if err != nil {
				return
			}
			for {
				st, err := sess.AcceptStream()
				if err != nil {
					fmt.Println("session ended:", err)
					return
				}
				go func(st *smux.Stream) {
					io.Copy(st, st)
					st.Close()
				}(st)
			}
		}(c)
	}
}

func main() {
	mode := flag.String("mode", "", "client or server")
	addr := flag.String("addr", "", "client: portway's mtcp listener; server: where to listen")
	version := flag.Int("version", 2, "smux version")
	n := flag.Int("n", 20, "client: streams")
	size := flag.Int("size", 100000, "client: bytes per stream")
	flag.Parse()
	if *mode == "client" {
		client(*addr, *version, *n, *size)
	} else {
		server(*addr, *version)
	}
}
'''


@pytest.fixture(scope="module")
def gopeer(tmp_path_factory):
    return build_go_peer(tmp_path_factory, "muxpeer", PEER_GO, SMUX_SRC, "golang-github-xtaci-smux-dev")


@pytest.mark.parametrize("version", [1, 2])
def test_xtaci_smux_client_against_portway_mtcp(pw, echo, gopeer, tmp_path, version):
    """A Go smux client opens 20 streams over one TCP connection to portway's -L mtcp:// forwarder."""
    srv = echo()
    port = free_port()
    q = "" if version == 2 else "?mux.version=1"  # mtcp's default is 2
    pw.start("-L", f"mtcp://127.0.0.1:{port}/127.0.0.1:{srv.port}{q}", name="mtcp")
    before = srv.connections
    r = subprocess.run([gopeer, "-mode", "client", "-addr", f"127.0.0.1:{port}", "-version", str(version)],
                       capture_output=True, timeout=60)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and "ok 20" in out, out + r.stderr.decode(errors="replace")
    assert srv.connections - before == 20  # one forwarded connection per stream


@pytest.mark.parametrize("version", [1, 2])
def test_portway_mtcp_dialer_against_xtaci_smux_server(pw, gopeer, tmp_path, version):
    """portway -F forward+mtcp:// dials a Go smux server: one session, a stream per request."""
    gport = free_port()
    log = tmp_path / "goserver.out"
    g = subprocess.Popen([gopeer, "-mode", "server", "-addr", f"127.0.0.1:{gport}", "-version", str(version)],
                         stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        while "listening" not in log.read_text() and time.time() < deadline:
            time.sleep(0.05)
        entry = free_port()
        md = f"\n        metadata: {{mux.version: {version}}}"
        pw.start(config=client_config(entry, "127.0.0.1:1", "mtcp", gport, connector="forward", md=md))
        threads = [threading.Thread(target=lambda i=i: results.append(echo_once(entry, b"%d" % i * 3000)
                                                                      == b"%d" % i * 3000)) for i in range(30)]
        results = []
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert results.count(True) == 30
        assert transfer(entry, 4 << 20)
        assert log.read_text().count("session from") == 1, log.read_text()
        assert "session ended" not in log.read_text()
    finally:
        g.send_signal(signal.SIGKILL)
        g.wait()
