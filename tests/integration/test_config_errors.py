"""The command line and configuration checking of the real binary: -t, -V, usage
errors, and every bad configuration file exits 2 with its own message."""
import os
import re
import socket
import subprocess

import pytest

from conftest import PORTWAY

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
TOP = os.path.dirname(os.path.dirname(os.path.dirname(CONFIGS)))


def cfg(name):
    return os.path.join(CONFIGS, name)


# file, "line:col: field: message" (after "portway: configuration error: <path>:")
BAD = [
    ("bad_yaml.yaml", "4:4: did not find expected '-' indicator"),
    ("bad_unknown_key.yaml",
     "1:1: (top level).servics: unknown key (expected one of: services, chains, hops, authers, bypasses, log, workers)"),
    ("bad_top_level.yaml", "1:1: the top level must be a mapping (services:, chains:, ...)"),
    ("bad_addr.yaml", "3:11: services[0].addr: expected host:port (or :port, [v6]:port), got \"127.0.0.1:80800\""),
    ("bad_unknown_handler.yaml", "5:13: services[0].handler.type: unknown handler \"nosuch\" (known: tcp, udp"),
    ("bad_unknown_listener.yaml", "7:13: services[0].listener.type: unknown listener \"quic9\" (known: tcp, udp"),
    ("bad_connector.yaml",
     "9:21: chains[0].hops[0].nodes[0].connector.type: unknown connector \"carrier-pigeon\" (known: forward"),
    ("bad_no_forwarder.yaml", "2:5: forwarder: handler tcp needs forwarder nodes (the targets)"),
    ("bad_node_addr.yaml",
     "11:17: services[0].forwarder.nodes[1].addr: expected host:port (or :port, [v6]:port), got \"backend-without-port\""),
    ("bad_duration.yaml",
     "7:22: idleTimeout: expected a duration such as 10s, 500ms or 1m, got \"5 minutes\""),
    ("bad_chain_ref.yaml", "6:14: services[0].handler.chain: no chain named \"missing-chain\" in chains"),
    ("bad_duplicate_service.yaml", "6:5: services[1]: a service named \"web\" is already defined"),
    ("bad_selector.yaml", "8:19: strategy: unknown strategy \"fastest\" (known: round, random, fifo)"),
    ("bad_workers.yaml", "1:10: workers: expected a whole number from 0 to 256, got \"lots\""),
    ("bad_udp_max_sessions.yaml", "9:22: maxSessions: expected a whole number from 1 to 1000000, got \"lots\""),
    ("bad_same_addr.yaml", "7:11: services[1].addr: 127.0.0.1:18080 is already the address of service \"web\""),
    ("bad_log_level.yaml",
     "2:10: log.level: unknown level \"chatty\" (known: trace, debug, info, warn, error, fatal)"),
]


@pytest.mark.parametrize("name,where", BAD, ids=[b[0] for b in BAD])
def test_bad_config_exits_2_with_its_message(pw, name, where):
    want = f"portway: configuration error: {cfg(name)}:{where}"
    for args in (("-C", cfg(name), "-t"), ("-C", cfg(name))):
        code, out = pw.run(*args)
        assert code == 2, out
        assert want in out, f"want: {want}\ngot:  {out}"
        assert out.count("configuration error") == 1
        assert "running with" not in out


def test_unknown_type_lists_every_known_one(pw):
    code, out = pw.run("-C", cfg("bad_unknown_handler.yaml"), "-t")
    assert code == 2
    known = re.search(r'unknown handler "nosuch" \(known: ([^)]*)\)', out).group(1).split(", ")
    assert known[:2] == ["tcp", "udp"]
    assert len(known) == len(set(known))
    # every name listed is really accepted (other complaints about the service may follow)
    for h in known:
        code, out = pw.run("-t", config=f"services:\n  - addr: 127.0.0.1:1\n    handler: {{type: {h}}}\n")
        assert "unknown handler" not in out, out


@pytest.mark.parametrize("name,summary", [
    ("good_forward.yaml", "configuration OK: 2 services, 0 chains"),
    ("good_chain.yaml", "configuration OK: 1 services, 1 chains"),
])
def test_good_config_test_mode_exits_0(pw, name, summary):
    code, out = pw.run("-C", cfg(name), "-t")
    assert code == 0, out
    assert summary in out


def test_shipped_default_config_is_valid(pw):
    code, out = pw.run("-C", os.path.join(TOP, "etc", "portway.yaml"), "-t")
    assert code == 0, out
    assert "configuration OK: 2 services" in out


def test_url_mode_test(pw):
    code, out = pw.run("-L", "tcp://127.0.0.1:1/127.0.0.1:2", "-L", "udp://127.0.0.1:1/127.0.0.1:2", "-t")
    assert code == 0, out
    assert "configuration OK: 2 services, 0 chains" in out
    code, out = pw.run("-L", "tcp://127.0.0.1:1/127.0.0.1:2", "-F", "forward://127.0.0.1:3", "-t")
    assert code == 0, out
    assert "configuration OK: 1 services, 1 chains" in out
    code, out = pw.run("-L", "tcp://127.0.0.1:1/127.0.0.1:2", "-L", "tcp://127.0.0.1:1/127.0.0.1:3", "-t")
    assert code == 2
    assert "services[1].addr: 127.0.0.1:1 is already the address of service \"service-0\"" in out
    code, out = pw.run("-L", "tcp://127.0.0.1:1/127.0.0.1:2?idleTimeout=soon", "-t")
    assert code == 2
    assert "idleTimeout: expected a duration such as 10s, 500ms or 1m, got \"soon\"" in out


def test_version(pw):
    code, out = pw.run("-V")
    assert code == 0
    assert re.fullmatch(r"portway \d+\.\d+\.\d+\S*\n", out), out


def test_help(pw):
    code, out = pw.run("-h")
    assert code == 0
    assert out.startswith("Usage: portway")
    for opt in ("-C FILE", "-L URL", "-F URL", "-t", "-V"):
        assert opt in out


@pytest.mark.parametrize("args,message", [
    ((), "nothing to run: give -C FILE or at least one -L URL"),
    (("-C", "x.yaml", "-L", "tcp://:1/1.2.3.4:5"), "-C cannot be combined with -L/-F"),
    (("-L", "tcp://:1/1.2.3.4:5", "stray"), "unexpected argument \"stray\""),
    (("-Q",), "Usage: portway"),
    (("-C",), "Usage: portway"),
])
def test_usage_errors_exit_2(pw, args, message):
    code, out = pw.run(*args)
    assert code == 2, out
    assert message in out


def test_missing_config_file(pw, tmp_path):
    missing = tmp_path / "nope.yaml"
    code, out = pw.run("-C", str(missing), "-t")
    assert code == 2
    assert f"portway: configuration error: {missing}: cannot open: No such file or directory" in out


def test_unreadable_config_is_an_error_not_a_crash(pw, tmp_path):
    d = tmp_path / "adir.yaml"
    d.mkdir()
    code, out = pw.run("-C", str(d), "-t")
    assert code == 2, out
    assert f"portway: configuration error: {d}" in out


def test_listen_address_in_use_fails_to_start(pw, echo):
    e = echo()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    r = subprocess.run([PORTWAY, "-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{e.port}"], capture_output=True,
                       timeout=10)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0, out
    assert f"service service-0: cannot listen on 127.0.0.1:{port}: Address already in use" in out
    busy.close()


def test_listen_address_must_be_numeric(pw):
    code, out = pw.run("-L", "tcp://example.com:18080/127.0.0.1:80", timeout=10)
    assert code != 0
    assert "service service-0: listen address example.com: a numeric IP address is required" in out
