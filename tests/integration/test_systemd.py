"""systemd integration: the notifications a Type=notify unit relies on, sent to a NOTIFY_SOCKET
the test listens on, and the shipped units checked by systemd-analyze."""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import PORTWAY, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def service_yaml(port):
    return f"services:\n- name: fwd\n  addr: 127.0.0.1:{port}\n  handler: {{type: tcp}}\n" \
           f"  listener: {{type: tcp}}\n  forwarder: {{nodes: [{{name: t, addr: 127.0.0.1:9}}]}}\n"


class Notify:
    def __init__(self, tmp_path):
        self.path = str(tmp_path / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.seen = []

    def next(self, want, timeout=10):
        """The next message containing want (earlier ones are kept in seen)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.seen.append(msg)
            if want in msg.split("\n"):
                return dict(line.split("=", 1) for line in msg.split("\n") if "=" in line)
        raise AssertionError(f"no {want} in {self.seen}")


def test_ready_reloading_stopping(pw, tmp_path):
    n = Notify(tmp_path)
    cfg = tmp_path / "portway.yaml"
    cfg.write_text(service_yaml(free_port()))
    p = pw.start("-C", str(cfg), env={"NOTIFY_SOCKET": n.path})
    assert n.next("READY=1")["STATUS"] == "running 1 services"
    cfg.write_text(service_yaml(free_port()) + service_yaml(free_port()).replace("fwd", "fwd2", 1)
                   .replace("services:\n", ""))
    p.signal(signal.SIGHUP)
    m = n.next("RELOADING=1")
    assert int(m["MONOTONIC_USEC"]) > 0
    assert n.next("READY=1")["STATUS"] == "reload done: running 2 services"
    cfg.write_text("services: [ {name: broken, addr: nowhere}\n")
    p.signal(signal.SIGHUP)
    n.next("RELOADING=1")
    assert n.next("READY=1")["STATUS"] == "reload rejected, running the previous configuration (2 services)"
    p.signal(signal.SIGTERM)
    assert n.next("STOPPING=1")["STATUS"].startswith("stopping")


def test_watchdog_is_fed_while_workers_answer(pw, tmp_path):
    n = Notify(tmp_path)
    cfg = tmp_path / "portway.yaml"
    cfg.write_text(service_yaml(free_port()))
    pw.start("-C", str(cfg), env={"NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": "200000"})
    n.next("READY=1")
    start = time.time()
    for _ in range(5):
        n.next("WATCHDOG=1", timeout=2)
    # twice per 200 ms period: five pings take about 0.4 s, never the 10 s timeout
    assert time.time() - start < 3


def make_units(tmp_path):
    """The shipped unit templates with this build's binary and a config directory of the test's."""
    etc = tmp_path / "etc"
    (etc / "portway" / "presets").mkdir(parents=True)
    shutil.copy(os.path.join(TOP, "etc", "portway.yaml"), etc / "portway" / "portway.yaml")
    for preset in ("onifast-gateway.yaml", "onifast-agent.yaml"):
        shutil.copy(os.path.join(TOP, "etc", "presets", preset), etc / "portway" / "presets" / preset)
    units = []
    for name in ("portway", "portway-gateway", "portway-agent"):
        text = open(os.path.join(TOP, "etc", "systemd", name + ".service.in")).read()
        text = text.replace("@bindir@", os.path.dirname(os.path.abspath(PORTWAY))).replace("@sysconfdir@", str(etc))
        assert "@" not in text.replace("$MAINPID", ""), text
        path = tmp_path / (name + ".service")
        path.write_text(text)
        units.append(path)
    return etc, units


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze (Debian package systemd) not installed")
def test_units_verify(tmp_path):
    _, units = make_units(tmp_path)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for u in units:
        text = u.read_text()
        assert "Type=notify" in text and "WatchdogSec=" in text


def test_reload_command_refuses_a_bad_configuration(tmp_path):
    """ExecReload runs `portway -C FILE -t` first: a file portway would reject fails the reload."""
    etc, units = make_units(tmp_path)
    reload_lines = [line.split("=", 1)[1] for line in units[0].read_text().splitlines()
                    if line.startswith("ExecReload=")]
    check = reload_lines[0].split()
    assert check[-1] == "-t" and reload_lines[1] == "/bin/kill -HUP $MAINPID"
    assert subprocess.run(check, capture_output=True, timeout=10).returncode == 0
    (etc / "portway" / "portway.yaml").write_text("services: [{name: x, addr: nowhere}]\n")
    assert subprocess.run(check, capture_output=True, timeout=10).returncode == 2
