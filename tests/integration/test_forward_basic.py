"""TCP port forwarding: the basics a user relies on first."""
from conftest import curl, free_port, wait_port


def test_curl_through_tcp_forward(pw, http_server):
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{http_server.port}")
    wait_port(port)
    code, out, err = curl(f"http://127.0.0.1:{port}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"


def test_unknown_handler_in_a_url_falls_back_to_auto(pw, http_server):
    """As in GOST, an -L URL with an unknown handler runs the auto handler (with a warning)."""
    code, out = pw.run("-L", "nosuch+tcp://:1/127.0.0.1:2", "-t")
    assert code == 0, out
    assert "configuration OK: 1 services, 0 chains" in out
    assert 'handler "nosuch" is not known, using auto' in out
    # and it runs as auto: an HTTP and a SOCKS5 proxy on one port
    port = free_port()
    p = pw.start("-L", f"nosuch://127.0.0.1:{port}")
    wait_port(port)
    assert 'handler "nosuch" is not known, using auto' in p.text()
    for proxy in (f"http://127.0.0.1:{port}", f"socks5h://127.0.0.1:{port}"):
        code, out, err = curl("-x", proxy, f"http://127.0.0.1:{http_server.port}/index.html")
        assert code == 0 and out == "hello from the backend\n", (proxy, err)


def test_bad_listen_address_is_a_config_error(pw):
    code, out = pw.run("-L", "tcp://:notaport/127.0.0.1:80", "-t")
    assert code == 2, out
    assert 'services[0].addr: expected host:port (or :port, [v6]:port), got ":notaport"' in out
    assert "configuration OK" not in out
