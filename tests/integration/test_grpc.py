"""GOST's grpc transport (listener/grpc, dialer/grpc): the bidirectional call GostTunel.Tunnel
of Chunk{bytes data = 1} messages over HTTP/2, with TLS or `insecure` (h2c).

Between two portway processes: 16 MiB each way with checksums and a hundred concurrent short
requests through relay+grpc, http+grpc and socks5+grpc chains. Against grpc-go (Debian's
golang-google-grpc-dev), a peer written from go-gost/x's gost.proto, with its own protobuf
encoding (encoding/binary varints, not portway's code): grpc-go as the server portway's dialer
calls, and as the client portway's listener serves, with TLS and h2c and a renamed service.
Bad bytes: a compressed message and a malformed one close the call, portway goes on."""
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import build_go_peer, curl, free_port, wait_port
from test_tls_helpers import Certs

GRPC_SRC = "/usr/share/gocode/src/google.golang.org/grpc"

PEER_GO = r'''
// A GOST grpc transport peer (test helper for portway): "server" accepts GostTunel.Tunnel calls
// and pipes each to a TCP target, as GOST's grpc listener hands its handler a connection;
// "client" accepts TCP connections and makes one call per connection, as GOST's grpc dialer.
// Chunk{bytes data = 1} is encoded by hand: tag 0x0a, uvarint length, bytes.
package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

type raw struct{}

func (raw) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (raw) Unmarshal(d []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), d...)
	return nil
}
func (raw) Name() string   { return "proto" }
func (raw) String() string { return "proto" }

func chunk(data []byte) []byte {
	b := []byte{0x0a}
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// chunkData returns the bytes of field 1, skipping other fields as protobuf does.
func chunkData(m []byte) ([]byte, error) {
	var out []byte
	for len(m) > 0 {
		key, n := binary.Uvarint(m)
		if n <= 0 {
			return nil, errors.New("bad key")
		}
		m = m[n:]
		switch key & 7 {
		case 0:
			_, n = binary.Uvarint(m)
			if n <= 0 {
				return nil, errors.New("bad varint")
			}
			m = m[n:]
		case 2:
			l, n := binary.Uvarint(m)
			if n <= 0 || uint64(len(m)-n) < l {
				return nil, errors.New("bad length")
			}
			if key>>3 == 1 {
				out = append(out, m[n:n+int(l)]...)
			}
			m = m[n+int(l):]
		default:
			return nil, fmt.Errorf("wire type %d", key&7)
		}
	}
	return out, nil
}

type stream interface {
	SendMsg(m interface{}) error
	RecvMsg(m interface{}) error
}

// pump: the call's messages to c; then half close c.
func pump(s stream, c *net.TCPConn) error {
	for {
		var m []byte
		if err := s.RecvMsg(&m); err != nil {
			c.CloseWrite()
			if err == io.EOF {
				return nil
			}
			return err
		}
		d, err := chunkData(m)
		if err != nil {
			return err
		}
		if _, err := c.Write(d); err != nil {
			return err
		}
	}
}

// feed: c's bytes to the call, until c's EOF.
func feed(s stream, c *net.TCPConn) error {
	buf := make([]byte, 32*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			m := chunk(buf[:n])
			if e := s.SendMsg(&m); e != nil {
				return e
			}
		}
		if err != nil {
			return nil
		}
	}
}

func split(path string) (string, string) {
	v := strings.SplitN(strings.Trim(path, "/"), "/", 2)
	return v[0], v[1]
}

func server(listen, target, path, cert, key string) {
	var opts []grpc.ServerOption
	opts = append(opts, grpc.CustomCodec(raw{}))
	if cert != "" {
		c, err := credentials.NewServerTLSFromFile(cert, key)
		if err != nil {
			panic(err)
		}
		opts = append(opts, grpc.Creds(c))
	}
	s := grpc.NewServer(opts...)
	svc, method := split(path)
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: svc,
		HandlerType: (*interface{})(nil),
		Streams: []grpc.StreamDesc{{StreamName: method, ServerStreams: true, ClientStreams: true,
			Handler: func(_ interface{}, ss grpc.ServerStream) error {
				c, err := net.Dial("tcp", target)
				if err != nil {
					return err
				}
				defer c.Close()
				go pump(ss, c.(*net.TCPConn))
				// as GOST's handlers: the call ends when the target is done (trailers, status 0)
				return feed(ss, c.(*net.TCPConn))
			}}},
	}, struct{}{})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		panic(err)
	}
	fmt.Println("listening")
	s.Serve(ln)
}

func client(listen, server, path string, useTLS bool) {
	var opt grpc.DialOption
	if useTLS {
		opt = grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}))
	} else {
		opt = grpc.WithInsecure()
	}
	cc, err := grpc.Dial(server, opt, grpc.WithDefaultCallOptions(grpc.ForceCodec(raw{})))
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		panic(err)
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c *net.TCPConn) {
			defer c.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, path)
			if err != nil {
				fmt.Fprintln(os.Stderr, "call:", err)
				return
			}
			done := make(chan error, 1)
			go func() { done <- pump(s, c) }()
			feed(s, c)
			s.CloseSend()
			if err := <-done; err != nil {
				fmt.Fprintln(os.Stderr, "call ended:", err)
			}
		}(c.(*net.TCPConn))
	}
}

func main() {
	mode := flag.String("mode", "server", "server or client")
	listen := flag.String("listen", "", "")
	target := flag.String("target", "", "server: where calls go; client: the gRPC server")
	path := flag.String("path", "/GostTunel/Tunnel", "")
	cert := flag.String("cert", "", "")
	key := flag.String("key", "", "")
	useTLS := flag.Bool("tls", false, "client: TLS")
	flag.Parse()
	if *mode == "server" {
		server(*listen, *target, *path, *cert, *key)
	} else {
		client(*listen, *target, *path, *useTLS)
	}
}
'''


@pytest.fixture(scope="module")
def grpcpeer(tmp_path_factory):
    return build_go_peer(tmp_path_factory, "grpcpeer", PEER_GO, GRPC_SRC, "golang-google-grpc-dev")


@pytest.fixture
def peer(tmp_path):
    procs = []

    def start(binary, *args):
        log = tmp_path / f"peer{len(procs)}.log"
        p = subprocess.Popen([binary, *args], stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        procs.append(p)
        deadline = time.time() + 20
        while b"listening" not in log.read_bytes():
            assert p.poll() is None and time.time() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


class BulkServer:
    """A TCP server that answers each connection's request line: "up N" reads N bytes and
    answers their SHA-256; "down N" sends N pseudo-random bytes and then their SHA-256."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
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
        with c:
            line = b""
            while not line.endswith(b"\n"):
                d = c.recv(1)
                if not d:
                    return
                line += d
            cmd, n = line.split()
            n = int(n)
            h = hashlib.sha256()
            if cmd == b"up":
                left = n
                while left:
                    d = c.recv(min(left, 65536))
                    if not d:
                        return
                    h.update(d)
                    left -= len(d)
                c.sendall(h.hexdigest().encode())
            else:
                block = os.urandom(65536)
                left = n
                while left:
                    k = min(left, len(block))
                    c.sendall(block[:k])
                    h.update(block[:k])
                    left -= k
                c.sendall(h.hexdigest().encode())

    def close(self):
        self.sock.close()


def recv_all(s):
    out = b""
    while True:
        d = s.recv(1 << 16)
        if not d:
            return out
        out += d


def socks5_connect(port, host, tport):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack(">H", tport))
    rep = b""
    while len(rep) < 10:
        rep += s.recv(10 - len(rep))
    assert rep[1] == 0, rep
    return s


def http_connect(port, host, tport):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"CONNECT {host}:{tport} HTTP/1.1\r\nHost: {host}:{tport}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        assert d, head
        head += d
    assert head.startswith(b"HTTP/1.1 200"), head
    return s


def bulk_both_ways(connect, bulk, size):
    s = connect(bulk.port)
    data = os.urandom(size)
    s.sendall(f"up {size}\n".encode() + data)
    assert recv_all(s).decode() == hashlib.sha256(data).hexdigest()
    s.close()
    s = connect(bulk.port)
    s.sendall(f"down {size}\n".encode())
    got = recv_all(s)
    assert len(got) == size + 64
    assert hashlib.sha256(got[:size]).hexdigest() == got[size:].decode()
    s.close()


def hundred_short(connect, bulk):
    def one(i):
        s = connect(bulk.port)
        data = f"request {i} ".encode() * 10
        s.sendall(f"up {len(data)}\n".encode() + data)
        ok = recv_all(s).decode() == hashlib.sha256(data).hexdigest()
        s.close()
        return ok
    with ThreadPoolExecutor(max_workers=100) as ex:
        assert all(ex.map(one, range(100)))


@pytest.mark.parametrize("secure", [True, False], ids=["tls", "insecure"])
@pytest.mark.parametrize("scheme", ["relay", "http", "socks5"])
def test_portway_to_portway_bulk_and_concurrency(pw, tmp_path, scheme, secure):
    bulk = BulkServer()
    try:
        server, entry = free_port(), free_port()
        q = "" if secure else "?grpcInsecure=true"
        pw.start("-L", f"{scheme}+grpc://127.0.0.1:{server}{q}", name="server")
        wait_port(server)
        pw.start("-L", f"socks5://127.0.0.1:{entry}", "-F", f"{scheme}+grpc://127.0.0.1:{server}{q}", name="entry")
        wait_port(entry)
        connect = lambda p: socks5_connect(entry, "127.0.0.1", p)  # noqa: E731
        size = (4 if os.environ.get("PORTWAY_SANITIZED") else 16) << 20
        bulk_both_ways(connect, bulk, size)
        hundred_short(connect, bulk)
    finally:
        bulk.close()


def test_custom_path_and_wrong_path(pw):
    server, entry, entry_wrong = free_port(), free_port(), free_port()
    bulk = BulkServer()
    try:
        pw.start("-L", f"relay+grpc://127.0.0.1:{server}?path=/my.Service/Pipe", name="server")
        wait_port(server)
        pw.start("-L", f"http://127.0.0.1:{entry}", "-F", f"relay+grpc://127.0.0.1:{server}?path=/my.Service/Pipe",
                 name="entry")
        p_wrong = pw.start("-L", f"http://127.0.0.1:{entry_wrong}", "-F", f"relay+grpc://127.0.0.1:{server}",
                           name="wrong")
        wait_port(entry)
        wait_port(entry_wrong)
        hundred_short(lambda p: http_connect(entry, "127.0.0.1", p), bulk)
        # the default method is unknown to this server: the call ends at once, the proxy says 502
        code, out, _ = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{entry_wrong}",
                            f"http://127.0.0.1:{bulk.port}/")
        assert out == "502"
    finally:
        bulk.close()


def test_grpc_go_server_behind_portways_dialer(pw, tmp_path, grpcpeer, peer):
    """portway's grpc dialer against grpc-go: the Go server pipes each call to portway's plain
    relay server, so relay+grpc's bytes cross grpc-go unchanged."""
    certs = Certs(tmp_path / "certs")
    bulk = BulkServer()
    try:
        relay, go_tls, go_plain, entry_tls, entry_plain = (free_port() for _ in range(5))
        pw.start("-L", f"relay://127.0.0.1:{relay}", name="relay")
        wait_port(relay)
        peer(grpcpeer, "-mode", "server", "-listen", f"127.0.0.1:{go_tls}", "-target", f"127.0.0.1:{relay}",
             "-cert", certs.p("server.pem"), "-key", certs.p("server.key"))
        peer(grpcpeer, "-mode", "server", "-listen", f"127.0.0.1:{go_plain}", "-target", f"127.0.0.1:{relay}",
             "-path", "/tun.Svc/Up")
        pw.start("-L", f"socks5://127.0.0.1:{entry_tls}", "-F", f"relay+grpc://127.0.0.1:{go_tls}", name="e1")
        pw.start("-L", f"socks5://127.0.0.1:{entry_plain}", "-F",
                 f"relay+grpc://127.0.0.1:{go_plain}?grpcInsecure=true&path=/tun.Svc/Up", name="e2")
        wait_port(entry_tls)
        wait_port(entry_plain)
        for entry in (entry_tls, entry_plain):
            connect = lambda p, e=entry: socks5_connect(e, "127.0.0.1", p)  # noqa: E731
            bulk_both_ways(connect, bulk, 4 << 20)
            hundred_short(connect, bulk)
    finally:
        bulk.close()


def test_grpc_go_client_to_portways_listener(pw, tmp_path, grpcpeer, peer):
    """grpc-go's client calls portway's grpc listener (TLS and h2c), whose handler is relay."""
    bulk = BulkServer()
    try:
        srv_tls, srv_plain, go_tls, go_plain, entry_tls, entry_plain = (free_port() for _ in range(6))
        pw.start("-L", f"relay+grpc://127.0.0.1:{srv_tls}", name="srv-tls")
        pw.start("-L", f"relay+grpc://127.0.0.1:{srv_plain}?grpcInsecure=true&path=/a/b/c", name="srv-plain")
        wait_port(srv_tls)
        wait_port(srv_plain)
        peer(grpcpeer, "-mode", "client", "-listen", f"127.0.0.1:{go_tls}", "-target", f"127.0.0.1:{srv_tls}", "-tls")
        peer(grpcpeer, "-mode", "client", "-listen", f"127.0.0.1:{go_plain}", "-target", f"127.0.0.1:{srv_plain}",
             "-path", "/a/b-c")
        # portway's relay connector over plain TCP to the Go client, which carries it over gRPC
        pw.start("-L", f"socks5://127.0.0.1:{entry_tls}", "-F", f"relay://127.0.0.1:{go_tls}", name="e1")
        pw.start("-L", f"socks5://127.0.0.1:{entry_plain}", "-F", f"relay://127.0.0.1:{go_plain}", name="e2")
        wait_port(entry_tls)
        wait_port(entry_plain)
        for entry in (entry_tls, entry_plain):
            connect = lambda p, e=entry: socks5_connect(e, "127.0.0.1", p)  # noqa: E731
            bulk_both_ways(connect, bulk, 4 << 20)
            hundred_short(connect, bulk)
    finally:
        bulk.close()


def h2c_call(port, path, body):
    """A hand-made HTTP/2 gRPC call with prior knowledge: what the server answers and whether it
    closed the connection. body is the raw request DATA."""
    def frame(ftype, flags, sid, payload):
        return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload

    def literal(name, value):  # literal header field without indexing, new name
        assert len(name) < 127 and len(value) < 127
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    hdrs = b"".join(literal(n, v) for n, v in [(b":method", b"POST"), (b":scheme", b"http"), (b":path", path),
                                               (b":authority", b"x"), (b"content-type", b"application/grpc"),
                                               (b"te", b"trailers")])
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(1, 4, 1, hdrs) + frame(0, 0, 1, body))
    got = b""
    s.settimeout(5)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
            if b"\x03\x00\x00\x00\x01" in got or b"hello" in got:  # RST_STREAM on stream 1, or the echo
                break
    except socket.timeout:
        pass
    s.close()
    return got


def test_bad_messages_close_the_call(pw, echo):
    e = echo()
    port = free_port()
    p = pw.start("-L", f"tcp+grpc://127.0.0.1:{port}/127.0.0.1:{e.port}?grpcInsecure=true")
    wait_port(port)
    compressed = b"\x01\x00\x00\x00\x07\x0a\x05hello"
    malformed = b"\x00\x00\x00\x00\x03\x0a\x09h"
    for body in (compressed, malformed):
        got = h2c_call(port, b"/GostTunel/Tunnel", body)
        assert b"hello" not in got
    p.wait_log("compressed gRPC message")
    p.wait_log("protobuf field overruns its message")
    # a good call still works afterwards, and reaches the echo server
    good = b"\x00\x00\x00\x00\x07\x0a\x05hello"
    assert b"hello" in h2c_call(port, b"/GostTunel/Tunnel", good)
