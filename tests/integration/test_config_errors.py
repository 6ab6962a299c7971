"""The command line and configuration checking of the real binary: -t, -V, usage
errors, and every bad configuration file exits 2 with its own message."""
import os
import re
import socket
import subprocess

import pytest

from conftest import PORTWAY, curl, free_port

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
TOP = os.path.dirname(os.path.dirname(os.path.dirname(CONFIGS)))


def cfg(name):
    return os.path.join(CONFIGS, name)


# file, "line:col: field: message" (after "portway: configuration error: <path>:")
BAD = [
    ("bad_yaml.yaml", "4:4: did not find expected '-' indicator"),
    ("bad_unknown_key.yaml",
     "1:1: (top level).servics: unknown key (expected one of: services, chains, hops, authers, bypasses, log, workers, metrics, api, "
     "admissions, climiters, rlimiters, hosts, resolvers, limiters)"),
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
    ("bad_selector.yaml", "8:19: strategy: unknown strategy \"fastest\" (known: round, rand, fifo, hash)"),
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
    assert re.match(r"portway \d+\.\d+\.\d+\S* \(commit (?:[0-9a-f]{12}|unknown)\)\n", out), out


def test_help(pw):
    code, out = pw.run("-h")
    assert code == 0
    assert out.startswith("Usage: portway")
    for opt in ("-C FILE", "-L URL", "-F URL", "-t", "-V"):
        assert opt in out


@pytest.mark.parametrize("args,message", [
    ((), "nothing to run: give -C FILE or at least one -L URL"),
    (("-C", "no-such.yaml", "-L", "tcp://:1/1.2.3.4:5"), "no-such.yaml: cannot open"),
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


# ---- fail closed: what portway does not implement is an error, never plain tcp or auto ----

def run_split(*args, timeout=10):
    """Run to completion; (code, stdout, stderr) apart, as the errors must be on stderr."""
    r = subprocess.run([PORTWAY, *args], capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def known_names(pw, kind):
    """The names portway lists for a kind, as its own error for an unknown one says."""
    section = {"handler": "handler: {type: nosuch}",
               "listener": "handler: {type: http}\n    listener: {type: nosuch}"}.get(kind)
    if section:
        text = f"services:\n  - addr: 127.0.0.1:1\n    {section}\n"
    else:
        other = "dialer: {type: tcp}" if kind == "connector" else "connector: {type: relay}"
        text = (f"chains:\n  - name: c\n    hops:\n      - nodes: [{{addr: 127.0.0.1:1, {other}, "
                f"{kind}: {{type: nosuch}}}}]\n")
    code, out = pw.run("-t", config=text)
    assert code == 2, out
    return re.search(rf'unknown {kind} "nosuch" \(known: ([^)]*)\)', out).group(1)


UNKNOWN_SCHEMES = [
    # option, scheme, kind, name: GOST would run these over tcp (or as auto / http)
    ("-L", "http+pht", "listener", "pht"),
    ("-L", "relay+kcp", "listener", "kcp"),
    ("-L", "http+quic", "listener", "quic"),
    ("-L", "socks5+quic", "listener", "quic"),
    ("-L", "nosuch+tcp", "handler", "nosuch"),
    ("-F", "relay+phts", "dialer", "phts"),
    ("-F", "relay+quic", "dialer", "quic"),
    ("-F", "sshd+tcp", "connector", "sshd"),
]


@pytest.mark.parametrize("opt,scheme,kind,name", UNKNOWN_SCHEMES, ids=[f"{u[0]} {u[1]}" for u in UNKNOWN_SCHEMES])
def test_unknown_scheme_half_is_an_error(pw, opt, scheme, kind, name):
    known = known_names(pw, kind)
    port = free_port()
    url = f"{scheme}://127.0.0.1:{port}" + ("/127.0.0.1:80" if scheme == "nosuch+tcp" else "")
    args = ["-L", url] if opt == "-L" else ["-L", f"http://127.0.0.1:{port}", "-F", url]
    for extra in (["-t"], []):
        code, out, err = run_split(*args, *extra)
        assert code == 2, out + err
        assert f'portway: configuration error: {opt} {url}: unknown {kind} "{name}" (known: {known})' in err, err
        assert "configuration OK" not in out + err


@pytest.mark.parametrize("word", ["phts", "kcp", "pht"])
def test_unknown_one_word_scheme_is_an_error(pw, word):
    """-L mwss:// used to run the auto proxy in the clear (mwss exists now; phts does not)."""
    handlers, listeners = known_names(pw, "handler"), known_names(pw, "listener")
    port = free_port()
    url = f"{word}://127.0.0.1:{port}"
    for extra in (["-t"], []):
        code, out, err = run_split("-L", url, *extra)
        assert code == 2, out + err
        assert (f'-L {url}: unknown scheme "{word}": neither a handler (known: {handlers}) '
                f'nor a listener (known: {listeners})') in err, err


def test_http_over_an_unknown_listener_does_not_listen():
    """What GOST runs as a plain HTTP proxy: portway exits at once and nothing listens."""
    port = free_port()
    # a listener would keep portway running: the timeout would fire
    code, out, err = run_split("-L", f"http+pht://127.0.0.1:{port}", timeout=10)
    assert code == 2, out + err
    assert "unknown listener \"pht\"" in err
    assert "running with" not in out + err
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_gost_shorthands_still_run(pw):
    code, out = pw.run("-L", "tls://127.0.0.1:1", "-L", "wss://127.0.0.1:2", "-L", "127.0.0.1:3",
                       "-L", "https://127.0.0.1:4", "-L", "socks://127.0.0.1:5", "-L", "tcp://127.0.0.1:6/127.0.0.1:7",
                       "-F", "relay://127.0.0.1:8", "-t")
    assert code == 0, out
    assert "configuration OK: 6 services, 1 chains" in out


QUERY_KEYS = ["admission=10.0.0.0/8", "climiter=10", "rlimiter=5",
              "probeResist=code:404", "probe_resist=code:404", "knock=x.example"]
# On -L these are the service's own lists (test_admission_limits.py); on -F GOST would not apply them.
SERVICE_QUERY_KEYS = ("admission", "climiter", "rlimiter")


@pytest.mark.parametrize("kv", QUERY_KEYS)
def test_security_query_key_is_an_error(kv):
    key = kv.split("=")[0]
    port = free_port()
    url = f"http://127.0.0.1:{port}?{kv}"
    for extra in (["-t"], []) if key not in SERVICE_QUERY_KEYS else ():
        code, out, err = run_split("-L", url, *extra)
        assert code == 2, out + err
        assert (f"portway: configuration error: {url}: services[0].metadata.{key}: is not implemented by portway, "
                "so it would not be enforced (remove it to run without it)") in err, err
    furl = f"relay://127.0.0.1:{port}?{kv}"
    code, out, err = run_split("-L", "http://127.0.0.1:1", "-F", furl, "-t")
    assert code == 2, out + err
    assert f"{furl}: chains[0].hops[0].nodes[0].metadata.{key}: is not implemented by portway" in err, err


def test_users_on_a_forward_are_an_error():
    for url in ("tcp://alice:s3cret@127.0.0.1:1/127.0.0.1:2", "tcp://127.0.0.1:1/127.0.0.1:2?auth=YTpi"):
        code, out, err = run_split("-L", url, "-t")
        assert code == 2, out + err
        assert (f"{url}: services[0].handler.auth: handler tcp does not authenticate its clients, so these users "
                "would not be asked for (handlers that do: auto, http, socks5, socks4, relay, ss, ssu, http2)") in err, err


def test_query_auth_is_applied(pw, http_server):
    """GOST's ?auth=base64(user:pass) protects the proxy instead of being dropped."""
    port = free_port()
    pw.start("-L", f"http://127.0.0.1:{port}?auth=YWxpY2U6czNjcmV0")  # alice:s3cret
    out = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{port}",
               f"http://127.0.0.1:{http_server.port}/index.html")[1]
    assert out == "407"
    out = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://alice:s3cret@127.0.0.1:{port}",
               f"http://127.0.0.1:{http_server.port}/index.html")[1]
    assert out == "200"


# file text, line:col of the key, field
YAML_REFUSED = [
    ("services: []\ntls: {certFile: c.pem, keyFile: k.pem, caFile: ca.pem}\n", "2:1", "(top level).tls"),
    ("services:\n  - addr: 127.0.0.1:1\n    quotas: [q]\n    handler: {type: http}\n", "3:5", "services[0].quotas"),
    ("services:\n  - addr: 127.0.0.1:1\n    handler:\n      type: http\n      metadata:\n        probeResist: code:404\n",
     "6:9", "services[0].handler.metadata.probeResist"),
    ("services:\n  - addr: 127.0.0.1:1\n    handler:\n      type: http\n      metadata:\n        knock: a.example\n",
     "6:9", "services[0].handler.metadata.knock"),
    ("services:\n  - addr: 127.0.0.1:1\n    handler:\n      type: udp\n"
     "      metadata: {proxyProtocol: 1}\n    listener: {type: udp}\n    forwarder: {nodes: [{addr: 127.0.0.1:2}]}\n",
     "5:18", "services[0].handler.metadata.proxyProtocol"),
    ("services:\n  - addr: 127.0.0.1:1\n    handler: {type: http}\n    listener:\n      type: tls\n"
     "      tls: {rejectUnknownSNI: true}\n", "6:13", "services[0].listener.tls.rejectUnknownSNI"),
]


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text,where,field", YAML_REFUSED, ids=[y[2] for y in YAML_REFUSED])
def test_security_yaml_key_is_an_error(tmp_path, text, where, field):
    path = write(tmp_path, text)
    for extra in (["-t"], []):
        code, out, err = run_split("-C", path, *extra)
        assert code == 2, out + err
        assert (f"portway: configuration error: {path}:{where}: {field}: is not implemented by portway, so it "
                "would not be enforced (remove it to run without it)") in err, err
        assert "configuration OK" not in out + err


YAML_NOT_APPLIED = [
    ("services:\n  - addr: 127.0.0.1:1\n    handler: {type: tcp, auth: {username: u, password: p}}\n"
     "    forwarder: {nodes: [{addr: 127.0.0.1:2}]}\n", "3:26",
     "services[0].handler.auth: handler tcp does not authenticate its clients"),
    ("services:\n  - addr: 127.0.0.1:1\n    handler: {type: http}\n    listener: {type: tcp, tls: {caFile: ca.pem}}\n",
     "4:27", "services[0].listener.tls: listener tcp does not use TLS, so it would not be applied"),
    ("chains:\n  - name: c\n    hops:\n      - nodes:\n          - addr: 127.0.0.1:1\n"
     "            connector: {type: relay}\n            dialer: {type: tcp, tls: {secure: true}}\n", "7:33",
     "node node-0: dialer.tls: dialer tcp does not use TLS, so it would not be applied"),
]


@pytest.mark.parametrize("text,where,message", YAML_NOT_APPLIED, ids=["tcp auth", "tcp listener tls", "tcp dialer tls"])
def test_setting_no_type_applies_is_an_error(tmp_path, text, where, message):
    path = write(tmp_path, text)
    code, out, err = run_split("-C", path, "-t")
    assert code == 2, out + err
    assert f"portway: configuration error: {path}:{where}: {message}" in err, err


def test_informational_gost_keys_only_warn(tmp_path):
    path = write(tmp_path, "observers: []\nrecorders: []\nprofiling: {addr: \":6060\"}\n"
                           "services:\n  - addr: 127.0.0.1:1\n    observer: o\n    handler: {type: http}\n")
    code, out, err = run_split("-C", path, "-t")
    assert code == 0, out + err
    assert "configuration OK: 1 services" in out
    for key in ("(top level).observers", "(top level).recorders", "(top level).profiling", "services[0].observer"):
        assert f"{key} is not supported by portway and is ignored" in err, err
