"""GOST's port ranges on the command line: -L tcp://:8000-8003/host:8000-8003 is one service per
listen port, listen port i forwarding to target port i (or all to a single target)."""
import random
import socket
import threading

from conftest import wait_port


def consecutive_ports(n, kind=socket.SOCK_STREAM, hold=False):
    """n consecutive free loopback ports; with hold, the bound sockets too."""
    for _ in range(200):
        base = random.randint(20000, 60000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, kind)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                socks.append(s)
                s.bind(("127.0.0.1", p))
        except OSError:
            for s in socks:
                s.close()
            continue
        if hold:
            return base, socks
        for s in socks:
            s.close()
        return base, None
    raise RuntimeError("no run of free ports")


class PortTeller:
    """On each bound socket: TCP answers a connection with the port it reached; UDP answers a datagram."""

    def __init__(self, socks, udp=False):
        self.socks = socks
        for s in socks:
            if not udp:
                s.listen(16)
            threading.Thread(target=self._udp if udp else self._tcp, args=(s,), daemon=True).start()

    @staticmethod
    def _tcp(s):
        port = s.getsockname()[1]
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            try:
                c.sendall(b"%d\n" % port)
            except OSError:
                pass
            c.close()

    @staticmethod
    def _udp(s):
        port = s.getsockname()[1]
        while True:
            try:
                data, addr = s.recvfrom(2048)
                if addr is None:  # shut down by close()
                    return
                s.sendto(b"%d:" % port + data, addr)
            except OSError:
                return

    def close(self):
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def tcp_answer(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    data = b""
    while True:
        d = s.recv(100)
        if not d:
            break
        data += d
    s.close()
    return int(data)


def udp_answer(port, payload=b"hi"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        for _ in range(10):
            s.sendto(payload, ("127.0.0.1", port))
            try:
                return s.recv(2048)
            except socket.timeout:
                continue
    finally:
        s.close()
    raise AssertionError(f"no answer through udp port {port}")


def test_tcp_range_maps_port_to_port(pw):
    tbase, tsocks = consecutive_ports(4, hold=True)
    teller = PortTeller(tsocks)
    try:
        lbase, _ = consecutive_ports(3)
        # the target range is longer than the listen range: GOST leaves the rest out
        pw.start("-L", f"tcp://127.0.0.1:{lbase}-{lbase + 2}/127.0.0.1:{tbase}-{tbase + 3}")
        for i in range(3):
            wait_port(lbase + i)
            for _ in range(3):
                assert tcp_answer(lbase + i) == tbase + i
    finally:
        teller.close()


def test_tcp_range_to_one_target(pw):
    tbase, tsocks = consecutive_ports(1, hold=True)
    teller = PortTeller(tsocks)
    try:
        lbase, _ = consecutive_ports(3)
        pw.start("-L", f"tcp://127.0.0.1:{lbase}-{lbase + 2}/127.0.0.1:{tbase}")
        for i in range(3):
            wait_port(lbase + i)
            assert tcp_answer(lbase + i) == tbase
    finally:
        teller.close()


def test_udp_range_maps_port_to_port(pw):
    tbase, tsocks = consecutive_ports(2, socket.SOCK_DGRAM, hold=True)
    teller = PortTeller(tsocks, udp=True)
    try:
        lbase, _ = consecutive_ports(2, socket.SOCK_DGRAM)
        pw.start("-L", f"udp://127.0.0.1:{lbase}-{lbase + 1}/127.0.0.1:{tbase}-{tbase + 1}")
        for i in range(2):
            assert udp_answer(lbase + i, b"x%d" % i) == b"%d:x%d" % (tbase + i, i)
    finally:
        teller.close()


def test_single_listen_port_balances_over_a_target_range(pw):
    tbase, tsocks = consecutive_ports(3, hold=True)
    teller = PortTeller(tsocks)
    try:
        lbase, _ = consecutive_ports(1)
        pw.start("-L", f"tcp://127.0.0.1:{lbase}/127.0.0.1:{tbase}-{tbase + 2}?strategy=round")
        wait_port(lbase)
        assert {tcp_answer(lbase) for _ in range(9)} == {tbase, tbase + 1, tbase + 2}
    finally:
        teller.close()


def test_range_errors(pw):
    bad = {
        "tcp://:8000-8003/127.0.0.1:9000-9001": "4 listen ports but 2 targets",
        "tcp://:8010-8000/127.0.0.1:9000": '":8010-8000": a port range is min-max',
        "udp://:8000/127.0.0.1:9000-": '"127.0.0.1:9000-": a port range is min-max',
        "tcp://:8000/127.0.0.1:9000-70000": '"127.0.0.1:9000-70000": a port range is min-max',
        "tcp://:1-5000/127.0.0.1:9000": "at most 4096 ports in one range",
    }
    for url, msg in bad.items():
        code, out = pw.run("-L", url, "-t")
        assert code == 2, out
        assert f"-L #1 {url}: " in out and msg in out, out
    code, out = pw.run(config="""services:
  - addr: ":8000-8003"
    handler: {type: tcp}
    forwarder: {nodes: [{addr: "127.0.0.1:9000"}]}
""", *["-t"])
    assert code == 2, out
    assert ":2:11: services[0].addr: a port range (\":8000-8003\") is expanded only in -L URLs" in out, out
    code, out = pw.run("-L", "http://127.0.0.1:1", "-F", "socks5://127.0.0.1:1080-1081", "-t")
    assert code == 2, out
    assert 'a port range ("127.0.0.1:1080-1081") is expanded only in -L URLs' in out, out
