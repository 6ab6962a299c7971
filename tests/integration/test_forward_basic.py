"""TCP port forwarding: the basics a user relies on first."""
import socket

import pytest

from conftest import curl, free_port, wait_port


def test_curl_through_tcp_forward(pw, http_server):
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{http_server.port}")
    wait_port(port)
    code, out, err = curl(f"http://127.0.0.1:{port}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"


def test_unknown_handler_is_a_config_error(pw):
    """GOST falls back to auto for an unknown handler; portway refuses it (fail closed), with -t and
    without, and nothing listens."""
    code, out = pw.run("-L", "nosuch+tcp://:1/127.0.0.1:2", "-t")
    assert code == 2, out
    assert '-L nosuch+tcp://:1/127.0.0.1:2: unknown handler "nosuch" (known: tcp, udp' in out
    port = free_port()
    code, out = pw.run("-L", f"nosuch://127.0.0.1:{port}")
    assert code == 2 and 'unknown scheme "nosuch"' in out, out
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_bad_listen_address_is_a_config_error(pw):
    code, out = pw.run("-L", "tcp://:notaport/127.0.0.1:80", "-t")
    assert code == 2, out
    assert 'services[0].addr: expected host:port (or :port, [v6]:port), got ":notaport"' in out
    assert "configuration OK" not in out
