"""GoDoxy interoperability: a Go peer written from the spec (doc/protocols/godoxy-stream.md) the way
GoDoxy's code does it: crypto/tls with ALPN godoxy-agent-stream/1 and SNI godoxy.agent, a Go
http.Server whose TLSNextProto hands that ALPN to the stream handler, io.ReadFull of the
275-byte header (also from pion/dtls, one record per read), the header encoded with Go's
hash/crc32. Both directions:
  - the GoDoxy side (Go) -> portway's stream handler (agent), TCP, UDP, health checks, the API;
  - portway's stream connector and `portway probe` -> the Go agent.
Built against Debian's pion/dtls v2 (GoDoxy pins v3, whose record handling is the same);
skipped when Go or that package is missing (scripts/setup.sh installs both).
"""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import build_go_peer, PORTWAY, curl, free_port
from test_godoxy import GRACE, agent_query, certs, client_query, start_agent  # noqa: F401 (certs: a fixture)

PION_SRC = "/usr/share/gocode/src/github.com/pion/dtls/v2"

PEER_GO = r'''
// GoDoxy's two sides as the spec describes them (test helper for portway).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/dtls/v2"
)

const alpn = "godoxy-agent-stream/1"
const certName = "godoxy.agent"
const headerSize = 275

var version = [8]byte{'0', '.', '1', '.', '0', 0, 0, 0}

func header(host, port string, flag byte) []byte {
	b := make([]byte, headerSize)
	copy(b[0:8], version[:])
	b[8] = byte(len(host))
	copy(b[9:264], host)
	b[264] = byte(len(port))
	copy(b[265:270], port)
	b[270] = flag
	binary.BigEndian.PutUint32(b[271:], crc32.ChecksumIEEE(b[:271]))
	return b
}

// validate returns the target address, whether it is a health check, or an error.
func validate(b []byte) (string, bool, error) {
	if !bytes.Equal(b[0:8], version[:]) {
		return "", false, errors.New("bad version")
	}
	if b[264] > 5 {
		return "", false, errors.New("bad port length")
	}
	if binary.BigEndian.Uint32(b[271:]) != crc32.ChecksumIEEE(b[:271]) {
		return "", false, errors.New("bad checksum")
	}
	host := string(b[9 : 9+int(b[8])])
	port := string(b[265 : 265+int(b[264])])
	return net.JoinHostPort(host, port), b[270]&1 != 0, nil
}

var (
	addr     = flag.String("addr", "", "agent address (client) or listen address (agent)")
	certFile = flag.String("cert", "", "certificate")
	keyFile  = flag.String("key", "", "key")
	caFile   = flag.String("ca", "", "CA")
	target   = flag.String("target", "", "destination host:port (client modes)")
	mode     = flag.String("mode", "", "client-tcp, client-udp, health-tcp, health-udp, api, agent")
)

func must(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func load() (tls.Certificate, *x509.CertPool) {
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	must(err)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(*caFile)
	must(err)
	if !pool.AppendCertsFromPEM(pem) {
		must(errors.New("no CA"))
	}
	return cert, pool
}

func tcpClient(cert tls.Certificate, pool *x509.CertPool) *tls.Conn {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: certName,
		MinVersion: tls.VersionTLS12, NextProtos: []string{alpn}}
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", *addr, cfg)
	must(err)
	if c.ConnectionState().NegotiatedProtocol != alpn {
		must(fmt.Errorf("negotiated %q", c.ConnectionState().NegotiatedProtocol))
	}
	return c
}

func udpClient(cert tls.Certificate, pool *x509.CertPool) net.Conn {
	cfg := &dtls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: certName,
		CipherSuites:         []dtls.CipherSuiteID{dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		ExtendedMasterSecret: dtls.RequireExtendedMasterSecret}
	ua, err := net.ResolveUDPAddr("udp", *addr)
	must(err)
	c, err := dtls.Dial("udp", ua, cfg)
	must(err)
	return c
}

func splitTarget() (string, string) {
	h, p, err := net.SplitHostPort(*target)
	must(err)
	return h, p
}

func main() {
	flag.Parse()
	cert, pool := load()
	switch *mode {
	case "client-tcp":
		c := tcpClient(cert, pool)
		h, p := splitTarget()
		_, err := c.Write(header(h, p, 0))
		must(err)
		msg := bytes.Repeat([]byte("godoxy"), 20000)
		go c.Write(msg)
		got := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(c, got)
		must(err)
		if !bytes.Equal(got, msg) {
			must(errors.New("echo mismatch"))
		}
		c.Close()
		fmt.Println("ok")
	case "health-tcp", "health-udp":
		// As GoDoxy's TCPHealthCheck / UDPHealthCheck: handshake, the header, done.
		var c net.Conn
		if *mode == "health-tcp" {
			c = tcpClient(cert, pool)
		} else {
			c = udpClient(cert, pool)
		}
		_, err := c.Write(header("", "", 1))
		must(err)
		// Not what GoDoxy does, but the proof the agent took it: it closes without a byte.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 10))
		if n != 0 || !errors.Is(err, io.EOF) {
			must(fmt.Errorf("agent did not close: n=%d err=%v", n, err))
		}
		c.Close()
		fmt.Println("ok")
	case "client-udp":
		c := udpClient(cert, pool)
		h, p := splitTarget()
		_, err := c.Write(header(h, p, 0))
		must(err)
		buf := make([]byte, 65535)
		for _, n := range []int{1, 500, 1400, 4000} {
			msg := bytes.Repeat([]byte{byte(n)}, n)
			_, err := c.Write(msg)
			must(err)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			m, err := c.Read(buf)
			must(err)
			if !bytes.Equal(buf[:m], msg) {
				must(fmt.Errorf("udp echo mismatch: sent %d got %d", n, m))
			}
		}
		c.Close()
		fmt.Println("ok")
	case "api":
		// GoDoxy's API client: the same certificates, no NextProtos, a fake host.
		tr := &http.Transport{
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				if a != certName+":443" {
					return nil, errors.New("unexpected address " + a)
				}
				return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", *addr)
			},
			TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: certName,
				MinVersion: tls.VersionTLS12},
		}
		cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := cl.Get("https://" + certName + "/godoxy/agent/info")
		must(err)
		var info struct {
			Version string `json:"version"`
			Name    string `json:"name"`
			Runtime string `json:"runtime"`
			TCP     bool   `json:"supports_tcp_stream"`
			UDP     bool   `json:"supports_udp_stream"`
		}
		must(json.NewDecoder(resp.Body).Decode(&info))
		resp.Body.Close()
		fmt.Printf("info %d %s %s %s %v %v\n", resp.StatusCode, info.Version, info.Name, info.Runtime, info.TCP, info.UDP)
		h, p := splitTarget()
		resp, err = cl.Get("https://" + certName + "/godoxy/agent/health?scheme=tcp&host=" + h + "&port=" + p)
		must(err)
		var hr struct {
			Healthy bool          `json:"healthy"`
			Detail  string        `json:"detail"`
			Latency time.Duration `json:"latency"`
		}
		must(json.NewDecoder(resp.Body).Decode(&hr))
		resp.Body.Close()
		fmt.Printf("health %d %v %v\n", resp.StatusCode, hr.Healthy, hr.Latency > 0)
	case "agent":
		runAgent(cert, pool)
	default:
		must(errors.New("unknown mode"))
	}
}

func logf(format string, a ...interface{}) {
	fmt.Printf(format+"\n", a...)
}

func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { io.Copy(a, b); wg.Done() }()
	go func() { io.Copy(b, a); wg.Done() }()
	wg.Wait()
	a.Close()
	b.Close()
}

func serveStream(c *tls.Conn) {
	defer c.Close()
	hdr := make([]byte, headerSize)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, hdr); err != nil {
		logf("stream read: %v", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	to, health, err := validate(hdr)
	if err != nil {
		logf("invalid header: %v", err)
		return
	}
	if health {
		logf("health check tcp")
		return
	}
	d, err := net.DialTimeout("tcp", to, 10*time.Second)
	if err != nil {
		logf("dial: %v", err)
		return
	}
	logf("stream tcp %s", to)
	pipe(c, d)
}

func serveDTLS(c net.Conn) {
	defer c.Close()
	hdr := make([]byte, headerSize)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, hdr); err != nil {
		logf("dtls read: %v", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	to, health, err := validate(hdr)
	if err != nil {
		logf("invalid header: %v", err)
		return
	}
	if health {
		logf("health check udp")
		return
	}
	ua, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		return
	}
	d, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return
	}
	defer d.Close()
	logf("stream udp %s", to)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, err := d.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 65535)
	for {
		n, err := c.Read(buf)
		if err != nil {
			logf("udp session ended: %v", err)
			return
		}
		d.Write(buf[:n])
	}
}

func runAgent(cert tls.Certificate, pool *x509.CertPool) {
	ln, err := net.Listen("tcp", *addr)
	must(err)
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1", alpn}}
	mux := http.NewServeMux()
	mux.HandleFunc("/godoxy/agent/info", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"version":"v0.20.0","name":"go-agent","runtime":"docker"}`))
	})
	srv := &http.Server{Handler: mux, TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){
		alpn: func(_ *http.Server, c *tls.Conn, _ http.Handler) { serveStream(c) },
	}}
	ua, err := net.ResolveUDPAddr("udp", strings.Replace(ln.Addr().String(), "[::]", "", 1))
	must(err)
	dln, err := dtls.Listen("udp", ua, &dtls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth:           dtls.RequireAndVerifyClientCert,
		CipherSuites:         []dtls.CipherSuiteID{dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		ExtendedMasterSecret: dtls.RequireExtendedMasterSecret})
	must(err)
	go func() {
		for {
			c, err := dln.Accept()
			if err != nil {
				logf("dtls accept: %v", err)
				continue
			}
			go serveDTLS(c)
		}
	}()
	logf("listening %s", ln.Addr())
	must(srv.Serve(tls.NewListener(ln, tcfg)))
}
'''


@pytest.fixture(scope="module")
def gopeer(tmp_path_factory):
    return build_go_peer(tmp_path_factory, "gdxpeer", PEER_GO, PION_SRC, "golang-github-pion-dtls.v2-dev")


def go(gopeer, mode, port, certs, target=None, cert=None, key=None, timeout=30):
    args = [gopeer, "-mode", mode, "-addr", f"127.0.0.1:{port}", "-cert", cert or certs.client,
            "-key", key or certs.client_key, "-ca", certs.ca]
    if target:
        args += ["-target", target]
    r = subprocess.run(args, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


@pytest.fixture
def go_agent(gopeer, certs):
    port = free_port()
    p = subprocess.Popen([gopeer, "-mode", "agent", "-addr", f"127.0.0.1:{port}", "-cert", certs.server,
                          "-key", certs.server_key, "-ca", certs.ca], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    line = p.stdout.readline()
    assert line.startswith(b"listening"), line
    p.port = port
    yield p
    p.kill()
    p.wait()


# ---- GoDoxy's side (Go) -> portway's agent ----


def test_go_tcp_client_to_portway_agent(pw, echo, certs, gopeer):
    target = echo()
    agent = start_agent(pw, certs, udp=False)
    rc, out = go(gopeer, "client-tcp", agent.port, certs, target=f"127.0.0.1:{target.port}")
    assert rc == 0 and out.strip() == "ok", out + agent.text()
    assert target.connections == 1


def test_go_udp_client_to_portway_agent(pw, echo, certs, gopeer):
    target = echo(udp=True)
    agent = start_agent(pw, certs, tcp=False)
    rc, out = go(gopeer, "client-udp", agent.port, certs, target=f"127.0.0.1:{target.port}")
    assert rc == 0 and out.strip() == "ok", out + agent.text()
    assert target.connections == 4
    agent.wait_log("closed by the client", 20)  # pion's close_notify ends the session (one datagram)


def test_go_health_checks_to_portway_agent(pw, echo, certs, gopeer):
    agent = start_agent(pw, certs)
    for mode in ("health-tcp", "health-udp"):
        rc, out = go(gopeer, mode, agent.port, certs)
        assert rc == 0 and out.strip() == "ok", mode + out + agent.text()
    bad = [line for line in agent.text().splitlines() if " warn " in line or " error " in line]
    assert not bad, bad
    # a client certificate from another CA: refused over both transports
    for mode in ("health-tcp", "health-udp"):
        rc, out = go(gopeer, mode, agent.port, certs, cert=certs.bad_client, key=certs.bad_client_key)
        assert rc != 0, mode + out


def test_go_api_client_to_portway_agent(pw, echo, certs, gopeer):
    target = echo()
    agent = start_agent(pw, certs, udp=False, extra="&agentName=pw-agent")
    rc, out = go(gopeer, "api", agent.port, certs, target=f"127.0.0.1:{target.port}")
    assert rc == 0, out
    assert "info 200 v0.1.0 pw-agent docker true true" in out
    assert "health 200 true true" in out


# ---- portway's side -> the Go agent ----


def test_portway_connector_to_go_agent(pw, echo, http_server, certs, go_agent):
    target = echo()
    lp, wp = free_port(), free_port()
    q = client_query(certs)
    pw.start("-L", f"tcp://127.0.0.1:{lp}/127.0.0.1:{target.port}", "-L",
             f"tcp://127.0.0.1:{wp}/127.0.0.1:{http_server.port}", "-F", f"stream+tls://127.0.0.1:{go_agent.port}?{q}",
             name="client", env=GRACE)
    with socket.create_connection(("127.0.0.1", lp), timeout=5) as s:
        s.sendall(b"through the go agent")
        assert s.recv(100) == b"through the go agent"
    rc, body, err = curl(f"http://127.0.0.1:{wp}/")
    assert rc == 0 and body == "hello from the backend\n", err
    assert target.connections == 1


def test_portway_udp_connector_to_go_agent(pw, echo, certs, go_agent):
    target = echo(udp=True)
    lp = free_port(socket.SOCK_DGRAM)
    pw.start("-L", f"udp://127.0.0.1:{lp}/127.0.0.1:{target.port}",
             "-F", f"stream+dtls://127.0.0.1:{go_agent.port}?{client_query(certs)}", name="client", env=GRACE)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    for m in (b"a", b"b" * 1000, b"c" * 7000):
        s.sendto(m, ("127.0.0.1", lp))
        assert s.recvfrom(65535)[0] == m
    s.close()


def test_portway_probe_to_go_agent(certs, go_agent):
    q = client_query(certs)
    for scheme in ("stream+tls", "stream+dtls"):
        r = subprocess.run([PORTWAY, "probe", "--json", f"{scheme}://127.0.0.1:{go_agent.port}?{q}"],
                           capture_output=True, timeout=15)
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["healthy"] is True
    # the Go agent's API through the same port, as GoDoxy reaches it
    rc, out, err = curl("--cacert", certs.ca, "--cert", certs.client, "--key", certs.client_key, "--resolve",
                        f"godoxy.agent:{go_agent.port}:127.0.0.1", f"https://godoxy.agent:{go_agent.port}/godoxy/agent/info")
    assert rc == 0 and json.loads(out)["name"] == "go-agent", err
    go_agent.kill()
    go_agent.wait()
    time.sleep(0.1)
    r = subprocess.run([PORTWAY, "probe", "--timeout", "1s", f"stream+tls://127.0.0.1:{go_agent.port}?{q}"],
                       capture_output=True, timeout=15)
    assert r.returncode == 1 and r.stdout.startswith(b"FAIL")
