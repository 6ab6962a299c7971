"""Command-line behaviour: GOST's ?bypass= on -L and -F URLs, and an address held by another process."""
from conftest import curl, free_port, wait_port


def test_service_bypass_from_url_refuses(pw, http_server):
    port = free_port()
    pw.start("-L", f"http://127.0.0.1:{port}?bypass=127.0.0.0/8")
    wait_port(port)
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{port}",
                          f"http://127.0.0.1:{http_server.port}/index.html")
    assert out == "403"


def test_service_whitelist_from_url_allows_only_listed(pw, http_server):
    port = free_port()
    pw.start("-L", f"http://127.0.0.1:{port}?bypass=~127.0.0.1")
    wait_port(port)
    code, out, err = curl("-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{http_server.port}/index.html")
    assert out == "hello from the backend\n"
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{port}",
                          f"http://localhost:{http_server.port}/index.html")
    assert out == "403"


def test_hop_bypass_from_url_goes_direct(pw, http_server):
    port = free_port()
    dead = free_port()  # nothing listens: the hop would fail if it were used
    pw.start("-L", f"http://127.0.0.1:{port}", "-F", f"socks5://127.0.0.1:{dead}?bypass=127.0.0.1")
    wait_port(port)
    code, out, err = curl("-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{http_server.port}/index.html")
    assert out == "hello from the backend\n", err
    code, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{port}",
                          f"http://localhost:{http_server.port}/index.html")
    assert out == "502", "a host outside the bypass still takes the (dead) hop"


def test_second_process_on_the_same_address_is_refused(pw, echo):
    """SO_REUSEPORT would let a second portway share the port silently; it must fail instead."""
    srv = echo()
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{srv.port}")
    code, out = pw.run("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{srv.port}")
    assert code == 1
    assert "Address already in use" in out


def test_sigterm_does_not_wait_for_udp_sessions(pw, echo):
    """UDP sessions end only by timing out: shutdown must not spend its grace period on them."""
    import socket
    import time
    srv = echo(udp=True)
    port = free_port(socket.SOCK_DGRAM)
    p = pw.start("-L", f"udp://127.0.0.1:{port}/127.0.0.1:{srv.port}", env={"PORTWAY_GRACE": "10"})
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(3)
    c.sendto(b"ping", ("127.0.0.1", port))
    assert c.recvfrom(100)[0] == b"ping"
    t0 = time.time()
    assert p.stop() == 0
    assert time.time() - t0 < 5


def test_bare_F_url_is_an_http_proxy_without_warning(pw):
    code, out = pw.run("-L", "tcp://127.0.0.1:1/127.0.0.1:2", "-F", "127.0.0.1:3128", "-t")
    assert code == 0
    assert "not known" not in out
