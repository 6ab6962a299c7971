"""The gateway's status page (GET /dashboard on the API port, /dashboard.json beside it): an
agent that just opened its tunnel shows in a real headless Chromium, with its idle workers, the
connect event, and the tunnel from the database; with a token, the page wants it as the Basic
password."""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import curl, free_port, wait_port
from test_gateway import Gateway, api, start_agent
from test_status_page import CHROMIUM, chromium


def test_dashboard_json_shows_the_agent_and_its_events(pw, tmp_path, echo):
    gw = Gateway(pw, tmp_path, extra="&poolIdleTimeout=1s&gcInterval=200ms")
    e = echo()
    status, d = api(gw.port, "GET", "/dashboard.json")
    assert status == 200 and d["subdomains"] == [] and d["events"] == []
    agent = start_agent(pw, gw, e.port, workers=3)
    status, d = api(gw.port, "GET", "/dashboard.json")
    site = next(x for x in d["subdomains"] if x["subdomain"] == "site")
    assert site["relayIdle"] == 3 and site["tunnelIdle"] == 3 and site["relayWaiting"] == 0
    assert {(x["event"], x["kind"]) for x in d["events"]} == {("connected", "relay"), ("connected", "tunnel")}
    assert d["stats"]["agentsAccepted"] >= 6
    # the agent goes: its pools empty, and once collected the disconnect events come first
    agent.stop()
    deadline = time.time() + 10
    while time.time() < deadline:
        _, d = api(gw.port, "GET", "/dashboard.json")
        if d["events"] and d["events"][0]["event"] == "disconnected":
            break
        time.sleep(0.05)
    assert d["events"][0]["event"] == "disconnected" and d["events"][0]["subdomain"] == "site"
    # the API's allow-list applies: another address is refused
    assert api(gw.port, "GET", "/dashboard.json", source="127.0.0.2")[0] == 403
    assert api(gw.port, "POST", "/dashboard")[0] == 405


def test_dashboard_wants_the_token_as_basic_password(pw, tmp_path):
    gw = Gateway(pw, tmp_path, extra="&token=t0ken-secret")
    code, out, _ = curl("-s", "-i", f"http://127.0.0.1:{gw.port}/dashboard")
    assert out.startswith("HTTP/1.1 401") and 'WWW-Authenticate: Basic realm="portway gateway"' in out
    code, out, _ = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "admin:wrong",
                        f"http://127.0.0.1:{gw.port}/dashboard.json")
    assert out == "401"
    code, out, _ = curl("-s", "-u", "anyone:t0ken-secret", f"http://127.0.0.1:{gw.port}/dashboard.json")
    assert json.loads(out)["subdomains"] == []
    assert api(gw.port, "GET", "/status", token="t0ken-secret")[0] == 200


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh --tests installs it)")
def test_chromium_shows_the_tunnel_an_agent_just_opened(pw, tmp_path, echo):
    gw = Gateway(pw, tmp_path)
    e = echo()
    start_agent(pw, gw, e.port, workers=2)
    url = f"http://127.0.0.1:{gw.port}/dashboard"
    dom = chromium(tmp_path, "--dump-dom", url)
    rows = re.findall(r'<tr data-status="(\w+)">(.*?)</tr>', dom, re.S)
    cells = [(s, re.findall(r"<td[^>]*>(.*?)</td>", r)) for s, r in rows]
    subdomains = [c for s, c in cells if len(c) == 6]
    tunnels = [c for s, c in cells if len(c) == 3]
    events = [(s, c) for s, c in cells if len(c) == 4 and s in ("connected", "disconnected")]
    assert ["site", "2", "0", "2", "0"] == subdomains[0][:5], dom[-3000:]
    assert tunnels and tunnels[0][0] == "site" and tunnels[0][2] == "4", dom[-3000:]
    assert {c[3] for s, c in events if s == "connected" and c[2] == "site"} == {"relay", "tunnel"}
    assert '<p id="err"></p>' in dom
    out_dir = os.path.join(os.environ.get("BUILDDIR", str(tmp_path)), "test-artifacts")
    os.makedirs(out_dir, exist_ok=True)
    shot = os.path.join(out_dir, "gateway-dashboard.png")
    chromium(tmp_path, "--window-size=1200,800", f"--screenshot={shot}", url)
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
