"""The status page of the web API (GET /status, /status.json): what it shows moves with the
traffic, it sits behind the API's auth, and a real headless Chromium renders it."""
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import curl, free_port, wait_port

CHROMIUM = shutil.which("chromium")


def start(pw, echo, api_extra=""):
    api, proxy, fwd = free_port(), free_port(), free_port()
    e = echo()
    p = pw.start(config=f"""
api:
  addr: 127.0.0.1:{api}
{api_extra}services:
- name: web-proxy
  addr: 127.0.0.1:{proxy}
  handler: {{type: http, chain: upstream}}
- name: echo-forward
  addr: 127.0.0.1:{fwd}
  handler: {{type: tcp}}
  forwarder: {{nodes: [{{name: echo, addr: 127.0.0.1:{e.port}}}]}}
chains:
- name: upstream
  hops:
  - name: hop-0
    selector: {{maxFails: 1, failTimeout: 60s}}
    nodes:
    - {{name: dead-node, addr: 127.0.0.1:{free_port()}}}
""")
    wait_port(api)
    wait_port(proxy)
    wait_port(fwd)
    return p, api, proxy, fwd


def status(api, auth=None):
    args = ["-s", f"http://127.0.0.1:{api}/status.json"] + (["-u", auth] if auth else [])
    code, out, err = curl(*args)
    assert code == 0, err
    return json.loads(out)


def by_name(items, name):
    return next(x for x in items if x["name"] == name)


def test_status_json_moves_with_traffic(pw, echo):
    _, api, proxy, fwd = start(pw, echo)
    before = by_name(status(api)["services"], "echo-forward")
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", fwd), timeout=5) as s:
            s.sendall(b"x" * 1000)
            got = b""
            while len(got) < 1000:
                got += s.recv(4096)
    # the node fails once: marked down for failTimeout
    curl("-s", "-o", "/dev/null", "-x", f"http://127.0.0.1:{proxy}", "http://example.test/")
    deadline = time.time() + 10
    while True:
        st = status(api)
        after = by_name(st["services"], "echo-forward")
        if (after["requests"] - before["requests"] == 3 and after["inFlight"] == 0) or time.time() > deadline:
            break
        time.sleep(0.05)
    assert after["requests"] - before["requests"] == 3
    assert after["inputBytes"] - before["inputBytes"] == 3000 and after["outputBytes"] - before["outputBytes"] == 3000
    assert after["status"] == "ready" and after["handler"] == "tcp" and after["listener"] == "tcp"
    node = st["chains"][0]["hops"][0]["nodes"][0]
    assert node["name"] == "dead-node" and node["status"] == "down" and node["errors"] >= 1
    assert 0 < node["downForSeconds"] <= 60
    assert by_name(st["services"], "web-proxy")["errors"] >= 1
    assert st["process"]["workers"] >= 1 and st["process"]["residentBytes"] > 0


def test_status_page_needs_the_api_auth(pw, echo):
    _, api, _, _ = start(pw, echo, api_extra="  auth: {username: admin, password: s3cret}\n")
    for path in ("/status", "/status.json"):
        code, out, _ = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{api}{path}")
        assert out == "401", path
        code, out, _ = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "admin:wrong",
                            f"http://127.0.0.1:{api}{path}")
        assert out == "401", path
    assert by_name(status(api, "admin:s3cret")["services"], "web-proxy")["chain"] == "upstream"
    code, out, _ = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "admin:s3cret", "-X", "POST",
                        f"http://127.0.0.1:{api}/status")
    assert out == "405"


def chromium(tmp_path, *args):
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
           "--virtual-time-budget=8000", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh --tests installs it)")
def test_chromium_renders_the_status_page(pw, echo, tmp_path):
    _, api, proxy, _ = start(pw, echo)
    curl("-s", "-o", "/dev/null", "-x", f"http://127.0.0.1:{proxy}", "http://example.test/")
    url = f"http://127.0.0.1:{api}/status"
    dom = chromium(tmp_path, "--dump-dom", url)
    # the rows the page's script built from status.json, not the empty table of the HTML
    rows = re.findall(r'<tr data-status="(\w+)">(.*?)</tr>', dom, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for _, r in rows]
    services = {c[0]: (s, c) for (s, _), c in zip(rows, cells) if len(c) == 11}
    nodes = {c[2]: (s, c) for (s, _), c in zip(rows, cells) if len(c) == 10}
    assert set(services) == {"web-proxy", "echo-forward"}, dom[-3000:]
    assert services["web-proxy"][0] == "ready" and services["web-proxy"][1][4] == "upstream"
    assert nodes["dead-node"][0] == "down" and nodes["dead-node"][1][0] == "upstream"
    assert '<p id="err"></p>' in dom  # no fetch error shown
    # a screenshot, kept as a test artifact beside the build
    out_dir = os.path.join(os.environ.get("BUILDDIR", str(tmp_path)), "test-artifacts")
    os.makedirs(out_dir, exist_ok=True)
    shot = os.path.join(out_dir, "status-page.png")
    chromium(tmp_path, "--window-size=1200,700", f"--screenshot={shot}", url)
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
