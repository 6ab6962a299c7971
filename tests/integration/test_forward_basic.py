"""TCP port forwarding: the basics a user relies on first."""
from conftest import curl, free_port, wait_port


def test_curl_through_tcp_forward(pw, http_server):
    port = free_port()
    pw.start("-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{http_server.port}")
    wait_port(port)
    code, out, err = curl(f"http://127.0.0.1:{port}/index.html")
    assert code == 0, err
    assert out == "hello from the backend\n"


def test_unknown_handler_is_a_config_error(pw):
    code, out = pw.run("-L", "nosuch+tcp://:1/127.0.0.1:2", "-t")
    # GOST falls back to auto for an unknown handler; portway refuses it (fail closed)
    assert code == 2, out
    assert '-L nosuch+tcp://:1/127.0.0.1:2: unknown handler "nosuch" (known: tcp, udp' in out
    code, out = pw.run("-L", "tcp://:notaport/127.0.0.1:80", "-t")
    assert code == 2
    assert "expected host:port" in out
