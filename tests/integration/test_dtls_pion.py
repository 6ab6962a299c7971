"""DTLS interoperability with pion/dtls, the library of the GoDoxy agent and of GOST.

A small Go peer is built against Debian's pion/dtls v2 (golang-github-pion-dtls.v2-dev)
and configured as GoDoxy configures it: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 only,
the extended master secret required, client certificates required and verified.
Skipped when Go or that package is missing (scripts/setup.sh installs both).
"""
import os
import shutil
import socket
import subprocess

import pytest

from conftest import build_go_peer, free_port
from test_dtls import GRACE, certs, client_yaml, server_yaml, udp_exchange  # noqa: F401 (certs is a fixture)

PION_SRC = "/usr/share/gocode/src/github.com/pion/dtls/v2"

PEER_GO = r'''
// A pion/dtls peer configured like the GoDoxy agent (test helper).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pion/dtls/v2"
)

func main() {
	mode := flag.String("mode", "server", "server (echo each record) or client")
	addr := flag.String("addr", "127.0.0.1:0", "listen or connect address")
	certFile := flag.String("cert", "", "certificate")
	keyFile := flag.String("key", "", "key")
	caFile := flag.String("ca", "", "CA")
	name := flag.String("name", "localhost", "server name (client)")
	sizes := flag.String("sizes", "275,1,1200,1500,8000", "record sizes the client sends (client)")
	flag.Parse()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Println("cert:", err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(*caFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		fmt.Println("ca:", err)
		os.Exit(2)
	}
	cfg := &dtls.Config{
		Certificates:         []tls.Certificate{cert},
		CipherSuites:         []dtls.CipherSuiteID{dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		ExtendedMasterSecret: dtls.RequireExtendedMasterSecret,
	}
	udpAddr, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	if *mode == "server" {
		cfg.ClientCAs = pool
		cfg.ClientAuth = dtls.RequireAndVerifyClientCert
		ln, err := dtls.Listen("udp", udpAddr, cfg)
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		fmt.Printf("listening %s\n", ln.Addr())
		for {
			c, err := ln.Accept()
			if err != nil {
				fmt.Printf("accept: %v\n", err)
				continue
			}
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, 65535)
				for {
					n, err := c.Read(buf)
					if err != nil {
						fmt.Printf("read: %v\n", err)
						return
					}
					fmt.Printf("record %d\n", n)
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}(c)
		}
	}
	cfg.RootCAs = pool
	cfg.ServerName = *name
	c, err := dtls.Dial("udp", udpAddr, cfg)
	if err != nil {
		fmt.Printf("dial: %v\n", err)
		os.Exit(1)
	}
	defer c.Close()
	buf := make([]byte, 65535)
	for i, s := range strings.Split(*sizes, ",") {
		n, _ := strconv.Atoi(s)
		msg := make([]byte, n)
		for k := range msg {
			msg[k] = byte(i + k)
		}
		if _, err := c.Write(msg); err != nil {
			fmt.Printf("write: %v\n", err)
			os.Exit(1)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		m, err := c.Read(buf)
		if err != nil {
			fmt.Printf("read: %v\n", err)
			os.Exit(1)
		}
		if m != n || string(buf[:m]) != string(msg) {
			fmt.Printf("mismatch: sent %d got %d\n", n, m)
			os.Exit(1)
		}
		fmt.Printf("echo %d ok\n", n)
	}
	fmt.Println("done")
}
'''


@pytest.fixture(scope="module")
def pion_peer(tmp_path_factory):
    return build_go_peer(tmp_path_factory, "pionpeer", PEER_GO, PION_SRC, "golang-github-pion-dtls.v2-dev")


def test_pion_client_to_portway_listener(pw, echo, certs, pion_peer):  # noqa: F811
    """The GoDoxy side's DTLS client against a portway dtls listener: cookie, EMS, mTLS,
    the 275-byte header record alone, then records up to 8000 bytes, each echoed."""
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    srv = pw.start("-D", config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    r = subprocess.run([pion_peer, "-mode", "client", "-addr", f"127.0.0.1:{sp}", "-cert", certs.client,
                        "-key", certs.client_key, "-ca", certs.good_ca, "-name", "localhost"],
                       capture_output=True, timeout=20)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out + srv.text()
    assert "echo 275 ok" in out and "done" in out
    assert target.connections == 5
    srv.wait_log("dtls peer 127.0.0.1:")  # pion's Close sends close_notify


def test_pion_client_without_the_right_cert_is_refused(pw, echo, certs, pion_peer):  # noqa: F811
    target = echo(udp=True)
    sp = free_port(socket.SOCK_DGRAM)
    srv = pw.start(config=server_yaml(sp, target.port, certs), name="server", env=GRACE)
    r = subprocess.run([pion_peer, "-mode", "client", "-addr", f"127.0.0.1:{sp}", "-cert", certs.badclient,
                        "-key", certs.badclient_key, "-ca", certs.good_ca], capture_output=True, timeout=40)
    assert r.returncode != 0
    # pion sends no certificate when none is from the CAs the server named
    srv.wait_log("dtls handshake with 127.0.0.1:")
    assert "No client certification received" in srv.text() or "not correctly signed" in srv.text()
    assert target.connections == 0


def test_portway_dialer_to_pion_server(pw, certs, pion_peer):  # noqa: F811
    """portway as the GoDoxy side: a udp listener whose chain dials a pion DTLS server (the agent)."""
    sp, cp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    peer = subprocess.Popen([pion_peer, "-mode", "server", "-addr", f"127.0.0.1:{sp}", "-cert", certs.server,
                             "-key", certs.server_key, "-ca", certs.good_ca],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert peer.stdout.readline().startswith(b"listening")
        pw.start(config=client_yaml(cp, sp, certs, secure=True), name="client", env=GRACE)
        msgs = [b"h" * 275, b"x", b"y" * 1400, b"z" * 8000]
        assert udp_exchange(cp, msgs) == msgs
        # A datagram larger than pion's 8 KiB read buffer is cut into records it can take,
        # and the session survives.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(b"w" * 9000, ("127.0.0.1", cp))
        got = s.recvfrom(65535)[0] + s.recvfrom(65535)[0]
        assert got == b"w" * 9000
        s.close()
        assert udp_exchange(cp, [b"after"]) == [b"after"]
    finally:
        peer.kill()
        peer.wait()
    out = peer.stdout.read().decode(errors="replace")
    assert "record 275" in out
