"""GOST's HTTP/2 types: the http2 proxy (handler + listener, connector + dialer) and the h2 / h2c
tunnel transports, between two portways and against Go's x/net/http2 (Debian's
golang-golang-x-net-dev) as the peer GOST itself is built on: a client doing CONNECT as GOST's http2
connector and h2 dialer do, and a server answering CONNECT as GOST's http2 handler does.

Debian's curl 7.88 cannot use an HTTP/2 proxy (--proxy-http2 came with 8.1), so the Go client stands
in for it. The dialers keep one HTTP/2 connection per node on each worker: clients run on one worker
where a test counts connections.
"""
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import build_go_peer, free_port
from test_mux import established_to, echo_once, transfer

XNET_SRC = "/usr/share/gocode/src/golang.org/x/net/http2"

PEER_GO = r'''// h2peer: GOST's HTTP/2 peers in Go (x/net/http2), for portway's interop tests.
//   client: CONNECT through an HTTP/2 proxy or tunnel (as GOST's http2 connector and h2 dialer),
//           send -size bytes, read them back from an echo, print "ok <n>".
//   server: an HTTP/2 server answering CONNECT (as GOST's http2 handler: dial r.Host) or, with
//           -target, piping every tunnel to that address (as GOST's h2 listener + forward).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func transport(plain bool) *http2.Transport {
	if plain {
		return &http2.Transport{AllowHTTP: true, DialTLS: func(network, addr string, cfg *tls.Config) (net.Conn, error) {
			return net.Dial(network, addr)
		}}
	}
	return &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}}
}

func one(client *http.Client, proxy, target, method, path, auth string, plain bool, size int) error {
	pr, pw := io.Pipe()
	scheme := "https"
	if plain {
		scheme = "http"
	}
	req := &http.Request{Method: method, URL: &url.URL{Scheme: scheme, Host: proxy, Path: path}, Host: target,
		Header: make(http.Header), Body: pr, ProtoMajor: 2}
	if auth != "" {
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	data := make([]byte, size)
	rand.Read(data)
	go func() {
		pw.Write(data)
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(resp.Body, got); err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("data differs")
	}
	pw.Close()
	return nil
}

func client(proxy, target, method, path, auth string, plain bool, size, n int) {
	c := &http.Client{Transport: transport(plain)}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- one(c, proxy, target, method, path, auth, plain, size)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	fmt.Println("ok", n)
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

func server(listen, target, certFile, keyFile string, plain bool) {
	var conns int
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := target
		if addr == "" {
			if r.Method != http.MethodConnect {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			addr = r.Host
		}
		fmt.Printf("request %s %s %s auth=%q\n", r.Proto, r.Method, r.Host, r.Header.Get("Proxy-Authorization"))
		cc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		defer cc.Close()
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		done := make(chan struct{})
		go func() {
			io.Copy(cc, r.Body)
			cc.(*net.TCPConn).CloseWrite()
			close(done)
		}()
		io.Copy(flushWriter{w}, cc)
		<-done
	})
	srv := &http.Server{Addr: listen, Handler: h, ConnState: func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			fmt.Println("connections", conns)
			mu.Unlock()
		}
	}}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		panic(err)
	}
	fmt.Println("listening")
	if plain {
		srv.Handler = h2c.NewHandler(h, &http2.Server{})
		srv.Serve(ln)
		return
	}
	http2.ConfigureServer(srv, nil)
	srv.ServeTLS(ln, certFile, keyFile)
}

func main() {
	mode := flag.String("mode", "client", "client or server")
	proxy := flag.String("proxy", "", "client: the HTTP/2 server")
	target := flag.String("target", "", "client: :authority; server: pipe tunnels here instead of dialing r.Host")
	method := flag.String("method", "CONNECT", "client: CONNECT, or GET with -path")
	path := flag.String("path", "", "client: the path of a GET tunnel")
	auth := flag.String("auth", "", "client: user:pass for Proxy-Authorization")
	plain := flag.Bool("h2c", false, "HTTP/2 without TLS")
	size := flag.Int("size", 65536, "client: bytes per request")
	n := flag.Int("n", 1, "client: concurrent requests")
	listen := flag.String("listen", "", "server: address")
	cert := flag.String("cert", "", "server: certificate")
	key := flag.String("key", "", "server: key")
	flag.Parse()
	_ = context.Background
	if *mode == "server" {
		server(*listen, *target, *cert, *key, *plain)
		return
	}
	client(*proxy, *target, *method, *path, *auth, *plain, *size, *n)
}
'''


@pytest.fixture(scope="module")
def h2peer(tmp_path_factory):
    return build_go_peer(tmp_path_factory, "h2peer", PEER_GO, XNET_SRC, "golang-golang-x-net-dev")


def run_peer(h2peer, *args, timeout=60):
    r = subprocess.run([h2peer] + list(args), capture_output=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


class Peer:
    def __init__(self, args, tmp_path, name):
        self.path = tmp_path / f"{name}.out"
        self.proc = subprocess.Popen(args, stdout=open(self.path, "wb"), stderr=subprocess.STDOUT)

    def text(self):
        return self.path.read_text(errors="replace")

    def wait(self, needle, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.text():
                return
            assert self.proc.poll() is None, self.text()
            time.sleep(0.05)
        raise TimeoutError(self.text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def peers(tmp_path):
    started = []

    def start(h2peer, *args, name="peer"):
        p = Peer([h2peer] + list(args), tmp_path, name)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def client_config(entry, target, server, connector, dialer, workers=1, node_extra="", dialer_md=""):
    """A forwarding service on `entry` to `target` through one hop: connector+dialer at `server`."""
    md = f"\n        metadata: {{{dialer_md}}}" if dialer_md else ""
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
    - name: n
      addr: 127.0.0.1:{server}{node_extra}
      connector: {{type: {connector}}}
      dialer:
        type: {dialer}{md}
"""


# (server -L scheme, client connector, client dialer)
PAIRS = {
    "relay+h2": ("relay+h2", "relay", "h2"),
    "http+h2c": ("http+h2c", "http", "h2c"),
    "relay+h2c": ("relay+h2c", "relay", "h2c"),
    "http2": ("http2", "http2", "http2"),
}


def pair(pw, echo, kind, server_query="", workers=1, node_extra="", dialer_md=""):
    srv = echo()
    server = free_port()
    scheme, connector, dialer = PAIRS[kind]
    sp = pw.start("-D", "-L", f"{scheme}://127.0.0.1:{server}{server_query}", name="server")
    entry = free_port()
    cp = pw.start(config=client_config(entry, f"127.0.0.1:{srv.port}", server, connector, dialer, workers=workers,
                                       node_extra=node_extra, dialer_md=dialer_md), name="client")
    return server, sp, entry, cp


@pytest.mark.parametrize("kind", list(PAIRS))
def test_bulk_16mib_each_way(pw, echo, kind):
    server, sp, entry, cp = pair(pw, echo, kind)
    assert transfer(entry, 16 << 20)
    assert transfer(entry, 1 << 20)  # the same connection again
    assert cp.text().count("http2 session up") == 1, cp.text()
    assert established_to(server) == 1


@pytest.mark.parametrize("kind", ["relay+h2", "http+h2c", "http2"])
def test_100_concurrent_requests_share_one_connection(pw, echo, kind):
    server, sp, entry, cp = pair(pw, echo, kind)
    results = [None] * 100
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
    assert results[100] == 1
    assert cp.text().count("http2 session up") == 1, cp.text()
    assert sp.text().count("connection from") == 1


def test_half_close_through_h2c(pw, echo):
    """The client's EOF reaches the target as END_STREAM; the answer after it still comes back."""
    server, sp, entry, cp = pair(pw, echo, "relay+h2c")
    c = socket.create_connection(("127.0.0.1", entry), timeout=10)
    c.sendall(b"x" * 100000)
    c.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        got += d
    c.close()
    assert got == b"x" * 100000


def test_h2_path_tunnel(pw, echo):
    server, sp, entry, cp = pair(pw, echo, "relay+h2", server_query="?path=/tunnel", dialer_md="path: /tunnel")
    assert echo_once(entry, b"over GET /tunnel") == b"over GET /tunnel"


def test_h2_wrong_path_refused(pw, echo):
    server, sp, entry, cp = pair(pw, echo, "relay+h2c", server_query="?path=/tunnel", dialer_md="path: /other")
    assert echo_once(entry, b"nope") != b"nope"
    cp.wait_log("answered 400", 5)
    sp.wait_log("bad request", 5)


def test_http2_auth(pw, echo, h2peer):
    srv = echo()
    port = free_port()
    pw.start("-L", f"http2://alice:secret@127.0.0.1:{port}")
    rc, out = run_peer(h2peer, "-proxy", f"127.0.0.1:{port}", "-target", f"127.0.0.1:{srv.port}")
    assert rc != 0 and "status 407" in out, out
    rc, out = run_peer(h2peer, "-proxy", f"127.0.0.1:{port}", "-target", f"127.0.0.1:{srv.port}",
                       "-auth", "alice:wrong")
    assert rc != 0 and "status 407" in out, out
    rc, out = run_peer(h2peer, "-proxy", f"127.0.0.1:{port}", "-target", f"127.0.0.1:{srv.port}",
                       "-auth", "alice:secret")
    assert rc == 0 and "ok 1" in out, out
    # portway's connector sends the node's credentials
    entry = free_port()
    pw.start(config=client_config(entry, f"127.0.0.1:{srv.port}", port, "http2", "http2").replace(
        "connector: {type: http2}", "connector: {type: http2, auth: {username: alice, password: secret}}"))
    assert echo_once(entry, b"authorised") == b"authorised"


def test_http2_probe_resist_refused(pw):
    code, out = pw.run("-L", f"http2://alice:secret@127.0.0.1:{free_port()}?probeResist=code:404")
    assert code != 0 and "probeResist" in out, out


def test_go_client_through_portway_http2_proxy(pw, echo, h2peer):
    """x/net/http2 CONNECT (GOST's http2 connector) -> portway http2 handler: 50 at once, one connection."""
    srv = echo()
    port = free_port()
    sp = pw.start("-D", "-L", f"http2://127.0.0.1:{port}")
    rc, out = run_peer(h2peer, "-proxy", f"127.0.0.1:{port}", "-target", f"127.0.0.1:{srv.port}",
                       "-size", str(1 << 20), "-n", "50")
    assert rc == 0 and "ok 50" in out, out
    assert sp.text().count("connection from") == 1
    # a plain GET is not forwarded (GOST would): 501
    rc, out = run_peer(h2peer, "-proxy", f"127.0.0.1:{port}", "-target", f"127.0.0.1:{srv.port}",
                       "-method", "GET", "-path", "/")
    assert rc != 0 and "status 501" in out, out


@pytest.mark.parametrize("plain", [False, True], ids=["h2", "h2c"])
def test_go_client_through_portway_tunnel(pw, echo, h2peer, plain):
    """x/net/http2 CONNECT (GOST's h2 / h2c dialer) -> portway tcp forwarding on an h2 / h2c listener."""
    srv = echo()
    port = free_port()
    scheme = "h2c" if plain else "h2"
    pw.start("-L", f"tcp+{scheme}://127.0.0.1:{port}/127.0.0.1:{srv.port}")
    args = ["-proxy", f"127.0.0.1:{port}", "-target", f"127.0.0.1:{port}", "-size", str(1 << 20), "-n", "20"]
    rc, out = run_peer(h2peer, *(args + (["-h2c"] if plain else [])))
    assert rc == 0 and "ok 20" in out, out


def test_portway_http2_connector_against_go_server(pw, echo, h2peer, peers, tmp_path):
    """portway http2 connector + dialer -> x/net/http2 server answering CONNECT (GOST's http2 handler)."""
    srv = echo()
    port = free_port()
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert), "-days", "2"],
                   check=True, capture_output=True)
    g = peers(h2peer, "-mode", "server", "-listen", f"127.0.0.1:{port}", "-cert", str(cert), "-key", str(key))
    g.wait("listening")
    entry = free_port()
    pw.start(config=client_config(entry, f"127.0.0.1:{srv.port}", port, "http2", "http2"))
    assert transfer(entry, 4 << 20)
    threads = [threading.Thread(target=lambda: echo_once(entry, b"y" * 5000)) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert g.text().count("request HTTP/2.0 CONNECT") == 31, g.text()
    assert g.text().count("connections") == 1, g.text()


@pytest.mark.parametrize("plain", [False, True], ids=["h2", "h2c"])
def test_portway_tunnel_dialer_against_go_server(pw, echo, h2peer, peers, tmp_path, plain):
    """portway h2 / h2c dialer (forward connector) -> x/net/http2 server piping each CONNECT to an echo."""
    srv = echo()
    port = free_port()
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert), "-days", "2"],
                   check=True, capture_output=True)
    args = ["-mode", "server", "-listen", f"127.0.0.1:{port}", "-target", f"127.0.0.1:{srv.port}",
            "-cert", str(cert), "-key", str(key)]
    g = peers(h2peer, *(args + (["-h2c"] if plain else [])))
    g.wait("listening")
    entry = free_port()
    pw.start(config=client_config(entry, "127.0.0.1:9", port, "forward", "h2c" if plain else "h2"))
    assert transfer(entry, 4 << 20)
    assert echo_once(entry, b"again") == b"again"
    assert g.text().count("connections") == 1, g.text()


@pytest.mark.parametrize("scheme", ["http2", "relay+h2", "relay+h2c"])
def test_garbage_closes_connection(pw, echo, scheme):
    server, sp, entry, cp = pair(pw, echo, {"http2": "http2", "relay+h2": "relay+h2", "relay+h2c": "relay+h2c"}[scheme])
    for n in (1, 24, 100, 5000):
        c = socket.create_connection(("127.0.0.1", server), timeout=10)
        if scheme != "relay+h2c":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            c = ctx.wrap_socket(c)
        c.sendall(os.urandom(n) if n != 24 else b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[:24])
        if n == 1:
            c.sendall(b"\xff" * 30)
        try:
            while c.recv(65536):
                pass
        except (ConnectionResetError, ssl.SSLError, OSError):
            pass
        c.close()
    # still serving
    assert transfer(entry, 1 << 20)


def test_h2c_listener_refuses_plain_get(pw, echo):
    """curl with prior knowledge: a GET on a tunnel listener without path is 405, as GOST answers."""
    port = free_port()
    srv = echo()
    pw.start("-L", f"tcp+h2c://127.0.0.1:{port}/127.0.0.1:{srv.port}")
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--http2-prior-knowledge",
                        f"http://127.0.0.1:{port}/"], capture_output=True, timeout=20)
    assert r.stdout.decode() == "405 2", r


def test_http2_listener_needs_http2_handler(pw):
    code, out = pw.run("-L", f"socks5+http2://127.0.0.1:{free_port()}")
    assert code != 0
    assert "http2 handler only" in out, out
