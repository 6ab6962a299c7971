"""BIND interoperability with the real xtaci/smux (Debian's golang-github-xtaci-smux-dev, the same
wire protocol as the v1.5.31 GOST pins): a Go peer written from doc/protocols/gost-relay.md plays
  - GOST's relay handler with bind=true (listens, replies, smux *client*, one stream per
    accepted connection with the peer's address first) for portway's rtcp listener, and
  - GOST's relay connector BIND as rtcp uses it (smux *server*, reads each stream's header,
    dials the target) against portway's relay handler.
Both with smux versions 1 and 2 and short keepalives. Skipped when Go or the package is missing
(scripts/setup.sh installs both).
"""
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import build_go_peer, free_port
from test_rtcp import echo_once, wait_bound

SMUX_SRC = "/usr/share/gocode/src/github.com/xtaci/smux"

PEER_GO = r'''
// GOST's relay BIND, both sides, as doc/protocols/gost-relay.md describes it (test helper for portway).
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/xtaci/smux"
)

func addrFeature(hostport string) []byte {
	host, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		panic(err)
	}
	port, _ := strconv.Atoi(ps)
	var b []byte
	if ip := net.ParseIP(host); ip != nil {
		if ip4 := ip.To4(); ip4 != nil {
			b = append([]byte{1}, ip4...)
		} else {
			b = append([]byte{4}, ip.To16()...)
		}
	} else {
		b = append([]byte{3, byte(len(host))}, host...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(port))
	f := []byte{2, 0, 0}
	binary.BigEndian.PutUint16(f[1:], uint16(len(b)))
	return append(f, b...)
}

func message(first, second byte, features ...[]byte) []byte {
	var body []byte
	for _, f := range features {
		body = append(body, f...)
	}
	m := []byte{first, second, 0, 0}
	binary.BigEndian.PutUint16(m[2:], uint16(len(body)))
	return append(m, body...)
}

// readMessage returns the status/cmd byte and the Addr features as host:port strings.
func readMessage(r io.Reader) (byte, []string, error) {
	h := make([]byte, 4)
	if _, err := io.ReadFull(r, h); err != nil {
		return 0, nil, err
	}
	if h[0] != 1 {
		return 0, nil, errors.New("bad version")
	}
	body := make([]byte, binary.BigEndian.Uint16(h[2:]))
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	var addrs []string
	for len(body) >= 3 {
		t, n := body[0], int(binary.BigEndian.Uint16(body[1:3]))
		d := body[3 : 3+n]
		body = body[3+n:]
		if t != 2 {
			continue
		}
		var host string
		switch d[0] {
		case 1:
			host, d = net.IP(d[1:5]).String(), d[5:]
		case 4:
			host, d = net.IP(d[1:17]).String(), d[17:]
		case 3:
			host, d = string(d[2:2+int(d[1])]), d[2+int(d[1]):]
		}
		addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(d)))))
	}
	return h[1], addrs, nil
}

func pipe(a, b io.ReadWriteCloser) {
	var once sync.Once
	done := func() { once.Do(func() { a.Close(); b.Close() }) }
	go func() { io.Copy(a, b); done() }()
	go func() { io.Copy(b, a); done() }()
}

func config(version int, ka time.Duration) *smux.Config {
	c := smux.DefaultConfig()
	c.Version = version
	if ka > 0 {
		c.KeepAliveInterval = ka
		c.KeepAliveTimeout = 3 * ka
	}
	return c
}

// server: GOST's relay handler with bind=true.
func server(listen string, version int, ka time.Duration) {
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
		go serveBind(c, version, ka)
	}
}

func serveBind(c net.Conn, version int, ka time.Duration) {
	cmd, addrs, err := readMessage(c)
	if err != nil || cmd&0x0f != 2 || len(addrs) == 0 {
		c.Close()
		return
	}
	host, port, _ := net.SplitHostPort(addrs[len(addrs)-1])
	if host == "0.0.0.0" || host == "" {
		host = "127.0.0.1" // loopback only in tests
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		c.Write([]byte{1, 5, 0, 0})
		c.Close()
		return
	}
	c.Write(message(1, 0, addrFeature(ln.Addr().String())))
	fmt.Println("bound", ln.Addr())
	sess, err := smux.Client(c, config(version, ka))
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			s, err := sess.AcceptStream()
			if err != nil {
				ln.Close()
				fmt.Println("session closed:", err)
				return
			}
			s.Close()
		}
	}()
	for {
		pc, err := ln.Accept()
		if err != nil {
			sess.Close()
			return
		}
		st, err := sess.OpenStream()
		if err != nil {
			pc.Close()
			continue
		}
		st.Write(message(1, 0, addrFeature(pc.RemoteAddr().String())))
		pipe(pc, st)
	}
}

// client: GOST's relay connector BIND plus the rtcp handler.
func client(relay, bind, target string, version int, ka time.Duration) {
	c, err := net.Dial("tcp", relay)
	if err != nil {
		panic(err)
	}
	host, port, _ := net.SplitHostPort(bind)
	if host == "" {
		host = "0.0.0.0"
	}
	c.Write(message(1, 2, []byte{4, 0, 2, 0, 0}, addrFeature(net.JoinHostPort(host, port))))
	status, addrs, err := readMessage(c)
	if err != nil || status != 0 {
		fmt.Println("bind failed", status, err)
		os.Exit(1)
	}
	fmt.Println("bound", addrs[0])
	sess, err := smux.Server(c, config(version, ka))
	if err != nil {
		panic(err)
	}
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			fmt.Println("session closed:", err)
			os.Exit(0)
		}
		go func(st *smux.Stream) {
			status, addrs, err := readMessage(st)
			if err != nil || status != 0 || len(addrs) == 0 {
				st.Close()
				return
			}
			fmt.Println("peer", addrs[0])
			t, err := net.Dial("tcp", target)
			if err != nil {
				st.Close()
				return
			}
			pipe(st, t)
		}(st)
	}
}

func main() {
	mode := flag.String("mode", "", "server or client")
	listen := flag.String("listen", "127.0.0.1:0", "server: the relay address")
	relay := flag.String("relay", "", "client: the relay")
	bind := flag.String("bind", "", "client: the address to bind")
	target := flag.String("target", "", "client: where streams go")
	version := flag.Int("version", 1, "smux version")
	ka := flag.Duration("keepalive", 0, "keepalive interval (timeout 3x)")
	flag.Parse()
	switch *mode {
	case "server":
		server(*listen, *version, *ka)
	case "client":
		client(*relay, *bind, *target, *version, *ka)
	}
}
'''


@pytest.fixture(scope="module")
def gopeer(tmp_path_factory):
    return build_go_peer(tmp_path_factory, "smuxpeer", PEER_GO, SMUX_SRC, "golang-github-xtaci-smux-dev")


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

    def start(gopeer, *args, name="peer"):
        p = Peer([gopeer] + list(args), tmp_path, name)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.mark.parametrize("version", [1, 2])
def test_rtcp_against_xtaci_smux_relay(pw, echo, gopeer, peers, version):
    """portway rtcp (smux server) <- Go relay with BIND (xtaci/smux client)."""
    srv = echo()
    relay_port = free_port()
    relay = peers(gopeer, "-mode", "server", "-listen", f"127.0.0.1:{relay_port}", "-version", str(version),
                  "-keepalive", "200ms", name="relay")
    relay.wait("listening")
    remote = free_port()
    client = pw.start("-L", f"rtcp://:{remote}/127.0.0.1:{srv.port}", "-F",
                      f"relay://127.0.0.1:{relay_port}?mux.version={version}&mux.keepaliveInterval=200ms", name="rtcp")
    wait_bound(client)
    relay.wait(f"bound 127.0.0.1:{remote}")
    results = []
    payloads = [os.urandom(200000 + i) for i in range(10)]

    def run(i):
        results.append(echo_once(remote, payloads[i], timeout=20) == payloads[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count(True) == 10
    big = os.urandom(6 << 20)
    assert echo_once(remote, big, timeout=30) == big
    # idle for several keepalive timeouts (600 ms): both sides' NOPs keep the session
    time.sleep(2)
    assert echo_once(remote, b"still there") == b"still there"
    assert client.text().count("bound on the relay") == 1, client.text()
    assert "session closed" not in relay.text()


@pytest.mark.parametrize("version", [1, 2])
def test_xtaci_smux_client_against_portway_relay(pw, echo, gopeer, peers, version):
    """Go rtcp client (xtaci/smux server) -> portway relay handler with bind=true (smux client)."""
    srv = echo()
    relay_port = free_port()
    relay = pw.start("-L", f"relay://127.0.0.1:{relay_port}?bind=true&mux.version={version}"
                     "&mux.keepaliveInterval=200ms&mux.keepaliveTimeout=600ms", name="relay")
    remote = free_port()
    client = peers(gopeer, "-mode", "client", "-relay", f"127.0.0.1:{relay_port}", "-bind", f":{remote}",
                   "-target", f"127.0.0.1:{srv.port}", "-version", str(version), "-keepalive", "200ms", name="client")
    client.wait(f"bound [::]:{remote}")  # 0.0.0.0 listens on every address, as in GOST
    results = []
    payloads = [os.urandom(150000 + i) for i in range(10)]

    def run(i):
        results.append(echo_once(remote, payloads[i], timeout=20) == payloads[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count(True) == 10
    big = os.urandom(6 << 20)
    assert echo_once(remote, big, timeout=30) == big
    # the per-stream header carried the real peer address
    c = socket.create_connection(("127.0.0.1", remote))
    c.sendall(b"who")
    assert c.recv(3) == b"who"
    client.wait(f"peer 127.0.0.1:{c.getsockname()[1]}")
    c.close()
    time.sleep(2)  # idle past the keepalive timeout: NOPs both ways
    assert echo_once(remote, b"still there") == b"still there"
    assert "session closed" not in client.text()
    assert "ended" not in relay.text()
    # the Go side goes away: portway closes the port
    client.stop()
    relay.wait_log("the port is closed", 5)
