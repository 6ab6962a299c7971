"""The web API (top-level api, -api): GOST's routes and JSON shapes, changes applied as a
reload (unchanged services keep their connections), auth, pathPrefix, request bodies
arriving in pieces."""
import json
import socket
import time

from conftest import curl, free_port, wait_port


def api_config(port, extra="", api_extra=""):
    return f"""api:
  addr: 127.0.0.1:{port}
{api_extra}{extra}"""


def call(port, method, path, body=None, auth=None, prefix=""):
    """(status, parsed JSON or text) through curl."""
    args = ["-o", "-", "-w", "\n%{http_code}", "-X", method, f"http://127.0.0.1:{port}{prefix}{path}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary",
                 body if isinstance(body, str) else json.dumps(body)]
    if auth:
        args += ["-u", auth]
    code, out, err = curl(*args)
    assert code == 0, err
    text, status = out.rsplit("\n", 1)
    try:
        return int(status), json.loads(text) if text else None
    except ValueError:
        return int(status), text


def tcp_forward(name, port, target):
    return {"name": name, "addr": f"127.0.0.1:{port}", "handler": {"type": "tcp"},
            "listener": {"type": "tcp"}, "forwarder": {"nodes": [{"name": "t", "addr": f"127.0.0.1:{target}"}]}}


def echo_through(port, payload=b"hello"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            d = s.recv(65536)
            if not d:
                break
            got += d
        return got


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def service_yaml(name, port, target):
    return f"""  - name: {name}
    addr: 127.0.0.1:{port}
    handler: {{type: tcp}}
    listener: {{type: tcp}}
    forwarder:
      nodes:
        - name: t
          addr: 127.0.0.1:{target}
"""


def test_get_config_shape(pw, echo):
    e = echo()
    api, p1 = free_port(), free_port()
    pw.start(config=api_config(api, "services:\n" + service_yaml("s1", p1, e.port) +
                               "chains:\n  - name: c1\n    hops:\n      - name: h1\n        nodes:\n"
                               "          - name: n1\n            addr: 127.0.0.1:1\n"
                               "            connector: {type: http}\n            dialer: {type: tcp}\n"))
    st, doc = call(api, "GET", "/config")
    assert st == 200
    assert doc["api"]["addr"] == f"127.0.0.1:{api}"
    assert [s["name"] for s in doc["services"]] == ["s1"]
    assert doc["services"][0]["forwarder"]["nodes"][0]["addr"] == f"127.0.0.1:{e.port}"
    assert doc["chains"][0]["hops"][0]["nodes"][0]["connector"]["type"] == "http"

    st, doc = call(api, "GET", "/config/services")
    assert st == 200 and doc["data"]["count"] == 1 and doc["data"]["list"][0]["name"] == "s1"
    st, doc = call(api, "GET", "/config/services/s1")
    assert st == 200 and doc["data"]["addr"] == f"127.0.0.1:{p1}"
    st, doc = call(api, "GET", "/config/services/nope")
    assert st == 200 and doc == {}  # as GOST: no data
    st, doc = call(api, "GET", "/config/chains")
    assert doc["data"]["count"] == 1 and doc["data"]["list"][0]["name"] == "c1"
    st, doc = call(api, "GET", "/config/hops")
    assert st == 200 and doc["data"] == {"count": 0, "list": []}

    code, out, _ = curl("-i", f"http://127.0.0.1:{api}/config?format=yaml")
    assert code == 0 and "text/x-yaml" in out and "- name: s1" in out

    st, doc = call(api, "GET", "/nothing")
    assert st == 404
    st, doc = call(api, "PATCH", "/config/services")
    assert st == 405


def test_post_put_delete_service(pw, echo):
    a, b = echo(), echo()
    api, port = free_port(), free_port()
    pw.start(config=api_config(api))
    st, doc = call(api, "POST", "/config/services", tcp_forward("fwd", port, a.port))
    assert (st, doc) == (200, {"msg": "OK"})
    assert echo_through(port) == b"hello"
    assert a.connections == 1 and b.connections == 0
    st, doc = call(api, "GET", "/config/services/fwd")
    assert doc["data"]["forwarder"]["nodes"][0]["addr"] == f"127.0.0.1:{a.port}"

    st, doc = call(api, "PUT", "/config/services/fwd", tcp_forward("ignored", port, b.port))
    assert (st, doc) == (200, {"msg": "OK"})
    assert echo_through(port) == b"hello"
    assert a.connections == 1 and b.connections == 1
    st, doc = call(api, "GET", "/config/services")
    assert doc["data"]["count"] == 1 and doc["data"]["list"][0]["name"] == "fwd"  # the path's name
    assert doc["data"]["list"][0]["forwarder"]["nodes"][0]["addr"] == f"127.0.0.1:{b.port}"

    st, doc = call(api, "DELETE", "/config/services/fwd")
    assert (st, doc) == (200, {"msg": "OK"})
    assert refused(port)
    st, doc = call(api, "GET", "/config/services")
    assert doc["data"]["count"] == 0


def test_errors_change_nothing(pw, echo):
    e = echo()
    api, p1, p2 = free_port(), free_port(), free_port()
    p = pw.start(config=api_config(api, "services:\n" + service_yaml("s1", p1, e.port)))
    before = call(api, "GET", "/config")[1]

    bad = tcp_forward("bad", p2, e.port)
    bad["handler"]["type"] = "nope"
    st, doc = call(api, "POST", "/config/services", bad)
    assert st == 400 and doc["code"] == 40001
    assert doc["msg"].startswith('services[1].handler.type: unknown handler "nope"'), doc
    assert "yaml" not in doc["msg"]  # no file position: the tree came from the API

    st, doc = call(api, "POST", "/config/services", tcp_forward("s1", p2, e.port))
    assert (st, doc["code"], doc["msg"]) == (400, 40002, "service s1 already exists")
    st, doc = call(api, "POST", "/config/services", {"addr": f"127.0.0.1:{p2}"})
    assert (st, doc["code"], doc["msg"]) == (400, 40001, "service name is required")
    st, doc = call(api, "PUT", "/config/services/nope", tcp_forward("nope", p2, e.port))
    assert (st, doc["code"], doc["msg"]) == (400, 40004, "service nope not found")
    st, doc = call(api, "DELETE", "/config/chains/nope")
    assert (st, doc["code"], doc["msg"]) == (400, 40004, "chain nope not found")
    st, doc = call(api, "POST", "/config/services", "{not json")
    assert st == 400 and doc["code"] == 40001 and "not JSON" in doc["msg"]

    # A port already taken: the change cannot bind, so nothing changes (409, as GOST's 40003).
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    st, doc = call(api, "POST", "/config/services", tcp_forward("s3", busy.getsockname()[1], e.port))
    busy.close()
    assert st == 409 and doc["code"] == 40003, doc

    assert call(api, "GET", "/config")[1] == before
    assert echo_through(p1) == b"hello"
    assert refused(p2)
    assert "api: change refused" in p.text()


def test_unchanged_service_keeps_its_connections(pw, echo):
    e = echo()
    api, p1, p2 = free_port(), free_port(), free_port()
    pw.start(config=api_config(api, "services:\n" + service_yaml("s1", p1, e.port)))
    held = socket.create_connection(("127.0.0.1", p1), timeout=5)
    held.sendall(b"one")
    assert held.recv(16) == b"one"
    assert call(api, "POST", "/config/services", tcp_forward("s2", p2, e.port))[0] == 200
    assert call(api, "DELETE", "/config/services/s2")[0] == 200
    held.sendall(b"two")
    assert held.recv(16) == b"two"  # the same connection, through the same service
    held.close()
    assert e.connections == 1


def test_chains_and_references(pw, echo):
    e = echo()
    api, port = free_port(), free_port()
    pw.start(config=api_config(api))
    chain = {"name": "c1", "hops": [{"name": "h1", "nodes": [{"name": "n1", "addr": "127.0.0.1:1",
                                                             "connector": {"type": "http"},
                                                             "dialer": {"type": "tcp"}}]}]}
    assert call(api, "POST", "/config/chains", chain) == (200, {"msg": "OK"})
    svc = {"name": "px", "addr": f"127.0.0.1:{port}", "handler": {"type": "http", "chain": "c1"},
           "listener": {"type": "tcp"}}
    assert call(api, "POST", "/config/services", svc) == (200, {"msg": "OK"})
    wait_port(port)
    st, doc = call(api, "DELETE", "/config/chains/c1")
    assert st == 400 and "c1" in doc["msg"], doc  # still used by px
    assert call(api, "DELETE", "/config/services/px")[0] == 200
    assert call(api, "DELETE", "/config/chains/c1")[0] == 200
    st, doc = call(api, "GET", "/config/chains")
    assert doc["data"]["count"] == 0

    assert call(api, "POST", "/config/bypasses", {"name": "b1", "matchers": ["10.0.0.0/8"]})[0] == 200
    assert call(api, "POST", "/config/authers", {"name": "a1", "auths": [{"username": "u", "password": "p"}]})[0] == 200
    st, doc = call(api, "GET", "/config/authers/a1")
    assert doc["data"]["auths"][0]["username"] == "u"
    assert call(api, "PUT", "/config/bypasses/b1", {"matchers": ["*.example.com"]})[0] == 200
    assert call(api, "GET", "/config/bypasses/b1")[1]["data"]["matchers"] == ["*.example.com"]


def test_auth(pw):
    api = free_port()
    pw.start(config=api_config(api, api_extra="  auth:\n    username: admin\n    password: s3cret\n"))
    code, out, _ = curl("-i", f"http://127.0.0.1:{api}/config")
    assert code == 0 and out.startswith("HTTP/1.1 401") and "WWW-Authenticate: Basic" in out
    assert '{"code":401,"msg":"Unauthorized"}' in out
    assert call(api, "GET", "/config", auth="admin:wrong")[0] == 401
    assert call(api, "GET", "/config", auth="other:s3cret")[0] == 401
    assert call(api, "POST", "/config/reload", auth="admin:wrong")[0] == 401
    st, doc = call(api, "GET", "/config/services", auth="admin:s3cret")
    assert st == 200 and doc["data"]["count"] == 0


def test_api_flag_and_auther(pw, echo, tmp_path):
    e = echo()
    api, port = free_port(), free_port()
    pw.start("-api", f"u:p@127.0.0.1:{api}?pathPrefix=/gost&accesslog=true",
             "-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{e.port}")
    st, doc = call(api, "GET", "/config", auth="u:p", prefix="/gost")
    assert st == 200 and doc["api"]["pathPrefix"] == "/gost" and doc["services"][0]["addr"] == f"127.0.0.1:{port}"
    assert call(api, "GET", "/config", auth="u:p")[0] == 404
    assert call(api, "GET", "/config", prefix="/gost")[0] == 401

    api2 = free_port()
    p = pw.start(config=f"""authers:
  - name: admins
    auths: [{{username: root, password: toor}}]
api:
  addr: 127.0.0.1:{api2}
  auther: admins
  accesslog: true
""")
    assert call(api2, "GET", "/config/services", auth="root:toor")[0] == 200
    assert call(api2, "GET", "/config/services", auth="root:x")[0] == 401
    p.wait_log("GET     /config/services")


def test_path_prefix(pw):
    api = free_port()
    pw.start(config=api_config(api, api_extra="  pathPrefix: /api/v1/\n"))
    assert call(api, "GET", "/api/v1/config")[0] == 200
    assert call(api, "GET", "/api/v1/config/services")[1]["data"]["count"] == 0
    assert call(api, "GET", "/config")[0] == 404
    assert call(api, "GET", "/api/config")[0] == 404


def test_non_loopback_without_auth_refused(pw):
    api = free_port()
    code, out = pw.run(config=f"api:\n  addr: :{api}\n")
    assert code == 2
    assert f"api.addr: :{api} is not a loopback address and the API has no auth" in out
    code, out = pw.run("-api", f"0.0.0.0:{api}", "-L", "tcp://127.0.0.1:1/127.0.0.1:2")
    assert code == 2 and "not a loopback address" in out
    code, out = pw.run("-api", f"u@0.0.0.0:{api}", "-t")
    assert code == 2 and "any password would do" in out
    code, out = pw.run("-api", f"u:p@:{api}", "-t")
    assert code == 0, out
    code, out = pw.run("-api", f"[::1]:{api}", "-t")
    assert code == 0, out
    p = pw.start(config=f"api:\n  addr: :{api}\n", wait=False, expect_exit=2)
    p.proc.wait(10)
    assert "not a loopback address" in p.text()


def raw_request(port, parts, delay=0.02):
    """Send parts one write at a time; the whole answer (the API closes: Connection: close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    for part in parts:
        s.sendall(part)
        time.sleep(delay)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return got


def test_split_request_bodies(pw, echo):
    e = echo()
    api, p1, p2 = free_port(), free_port(), free_port()
    pw.start(config=api_config(api))
    body = json.dumps(tcp_forward("split", p1, e.port)).encode()
    req = (b"POST /config/services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    # Every byte its own write, head and body alike.
    got = raw_request(api, [req[i:i + 1] for i in range(len(req))], delay=0.002)
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b'{"msg":"OK"}'), got
    assert echo_through(p1) == b"hello"

    # Chunked, split inside the chunk lines, and two requests on one connection.
    body = json.dumps(tcp_forward("chunked", p2, e.port)).encode()
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
    req = (b"POST /config/services HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked +
           b"GET /config/services/chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = raw_request(api, [req[i:i + 7] for i in range(0, len(req), 7)])
    assert got.count(b"HTTP/1.1 200 OK") == 2, got
    assert b'"name":"chunked"' in got
    assert echo_through(p2) == b"hello"

    # Expect: 100-continue gets its interim answer before the body is sent.
    body = json.dumps({"name": "b1", "matchers": ["10.0.0.0/8"]}).encode()
    s = socket.create_connection(("127.0.0.1", api), timeout=5)
    s.sendall(b"POST /config/bypasses HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    assert s.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(body)
    assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")
    s.close()
    assert call(api, "DELETE", "/config/services/split")[0] == 200
    assert refused(p1)


def test_reload_and_save(pw, echo, tmp_path):
    e = echo()
    api, p1, p2 = free_port(), free_port(), free_port()
    p = pw.start(config=api_config(api, "services:\n" + service_yaml("s1", p1, e.port)))
    cfg = tmp_path / "portway-1.yaml"

    # Save: the running configuration, with what the API added, written to the -C file.
    assert call(api, "POST", "/config/services", tcp_forward("s2", p2, e.port))[0] == 200
    assert call(api, "POST", "/config?path=/tmp/elsewhere.yaml")[0] == 400
    assert call(api, "POST", "/config") == (200, {"msg": "OK"})
    text = cfg.read_text()
    assert "name: s2" in text and f"127.0.0.1:{p2}" in text
    code, out = pw.run("-C", str(cfg), "-t")
    assert code == 0 and "2 services" in out, out

    # Reload reads the file again (as SIGHUP): an invalid file answers 400 and changes nothing.
    cfg.write_text(text.replace("type: tcp", "type: nope", 1))
    st, doc = call(api, "POST", "/config/reload")
    assert st == 400 and doc["code"] == 40001 and "unknown" in doc["msg"] and str(cfg) in doc["msg"]
    assert echo_through(p2) == b"hello"
    cfg.write_text(api_config(api, "services:\n" + service_yaml("s1", p1, e.port)))
    assert call(api, "POST", "/config/reload") == (200, {"msg": "OK"})
    assert refused(p2)
    assert echo_through(p1) == b"hello"
    assert "reload done: 1 services" in p.text()


def test_api_only_from_the_command_line(pw):
    api = free_port()
    pw.start("-api", f"127.0.0.1:{api}")
    assert call(api, "GET", "/config/services")[1]["data"]["count"] == 0
    st, doc = call(api, "POST", "/config/reload")
    assert st == 400 and "nothing to reload" in doc["msg"]
    st, doc = call(api, "POST", "/config")
    assert st == 400 and doc["code"] == 40005


def test_reload_moves_and_stops_the_api(pw, tmp_path):
    import signal
    a, b = free_port(), free_port()
    p = pw.start(config=api_config(a))
    cfg = tmp_path / "portway-1.yaml"
    cfg.write_text(api_config(b))
    # Asked on the old address, answered there, then served on the new one.
    assert call(a, "POST", "/config/reload") == (200, {"msg": "OK"})
    assert refused(a)
    assert call(b, "GET", "/config")[1]["api"]["addr"] == f"127.0.0.1:{b}"
    cfg.write_text("services: []\n")
    p.signal(signal.SIGHUP)
    p.wait_log("api: stopped listening")
    assert refused(b)
