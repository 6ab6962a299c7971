"""The command line itself: --help, --version, -O (the effective configuration), -D/-DD, and
GOST flags portway does not implement yet refused by name."""
import json
import os
import subprocess

from conftest import PORTWAY


def run(*args, timeout=10):
    r = subprocess.run([PORTWAY, *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def test_help_and_version():
    for flag in ("--help", "-h"):
        code, out, _ = run(flag)
        assert code == 0 and "Usage: portway" in out and "-O yaml|json" in out and "--version" in out
    for flag in ("--version", "-V"):
        code, out, _ = run(flag)
        assert code == 0
        first, build, libs = out.splitlines()[:3]
        assert first.startswith("portway ") and "(commit " in first
        assert build.startswith("build: ") and "sanitizers" in build
        for lib in ("OpenSSL", "libev", "libyaml", "SQLite", "c-ares", "zlib", "Mbed TLS"):
            assert lib in libs, libs


def test_output_yaml_round_trips(tmp_path):
    args = ["-L", "http://user:pass@:8080?idleTimeout=30s", "-L", "tcp://127.0.0.1:9000/10.0.0.1:80,10.0.0.2:80",
            "-F", "socks5://127.0.0.1:1080", "-F", "relay+tls://u:p@127.0.0.1:8443"]
    code, out, err = run(*args, "-O", "yaml")
    assert code == 0, err
    assert "type: http" in out and "username: user" in out and "addr: 127.0.0.1:8443" in out
    f = tmp_path / "effective.yaml"
    f.write_text(out)
    code, ok, err = run("-C", str(f), "-t")
    assert code == 0 and "configuration OK: 2 services, 1 chains" in ok, err
    code, again, err = run("-C", str(f), "-O", "yaml")
    assert code == 0 and again == out, (again, out)


def test_output_json_is_json_with_numbers():
    code, out, err = run("-L", "tcp://:8080/127.0.0.1:80?idleTimeout=30&nodelay=true", "-O", "json")
    assert code == 0, err
    doc = json.loads(out)
    svc = doc["services"][0]
    assert svc["addr"] == ":8080" and svc["handler"]["type"] == "tcp"
    assert svc["forwarder"]["nodes"][0]["addr"] == "127.0.0.1:80"
    assert svc["metadata"]["idleTimeout"] == 30 and svc["metadata"]["nodelay"] is True


def test_bad_output_format_and_unimplemented_flags():
    code, _, err = run("-L", "tcp://:8080/127.0.0.1:80", "-O", "toml")
    assert code == 2 and "expected yaml or json" in err
    for flag in ():
        code, _, err = run(*flag, "-L", "tcp://:8080/127.0.0.1:80")
        assert code == 2 and "not implemented" in err, (flag, err)


def test_dd_is_gosts_trace_flag():
    """GOST's -DD (trace) is two -D, not an unknown option."""
    code, out, err = run("-DD", "-L", "tcp://127.0.0.1:0/127.0.0.1:1", "-t")
    assert code == 0 and "configuration OK" in out, err


def forward_yaml(name, port, level=None):
    text = (f"services:\n- name: {name}\n  addr: 127.0.0.1:{port}\n  handler: {{type: tcp}}\n"
            f"  listener: {{type: tcp}}\n  forwarder: {{nodes: [{{name: t, addr: 127.0.0.1:9}}]}}\n")
    return text + (f"log: {{level: {level}}}\n" if level else "")


def test_several_sources_merge_in_order(tmp_path):
    """As GOST's parser: -C sources merged in order (lists add up, single settings are the last
    one's), then -L/-F; a source may be stdin or inline JSON."""
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(forward_yaml("a", 9001, "debug"))
    b.write_text(forward_yaml("b", 9002, "warn"))
    inline = json.dumps({"services": [{"name": "c", "addr": "127.0.0.1:9003", "handler": {"type": "tcp"},
                                       "listener": {"type": "tcp"},
                                       "forwarder": {"nodes": [{"name": "t", "addr": "127.0.0.1:9"}]}}]})
    code, out, err = run("-C", str(a), "-C", str(b), "-C", inline, "-L", "tcp://127.0.0.1:9004/127.0.0.1:9",
                         "-O", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert [s["name"] for s in doc["services"]] == ["a", "b", "c", "service-0"]
    assert doc["log"] == {"level": "warn"}
    r = subprocess.run([PORTWAY, "-C", "-", "-t"], input=forward_yaml("s", 9005), capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0 and "configuration OK: 1 services" in r.stdout, r.stderr
    # an error in the second file names that file and its line
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n- name: x\n  addr: nowhere\n")
    code, _, err = run("-C", str(a), "-C", str(bad), "-t")
    assert code == 2 and f"{bad}:3:9:" in err and "nowhere" in err, err


def test_default_file_when_nothing_is_named(tmp_path):
    """With neither -C nor -L, GOST's gost.yaml in ~/.gost (or the working directory) is read."""
    home = tmp_path / "home"
    (home / ".gost").mkdir(parents=True)
    (home / ".gost" / "gost.yaml").write_text(forward_yaml("from-home", 9006))
    env = dict(os.environ, HOME=str(home))
    r = subprocess.run([PORTWAY, "-O", "yaml"], capture_output=True, text=True, timeout=10, env=env, cwd=tmp_path)
    assert r.returncode == 0 and "name: from-home" in r.stdout, r.stderr
    (tmp_path / "gost.yml").write_text(forward_yaml("from-cwd", 9007))
    r = subprocess.run([PORTWAY, "-O", "yaml"], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, HOME=str(tmp_path / "nohome")), cwd=tmp_path)
    assert r.returncode == 0 and "name: from-cwd" in r.stdout, r.stderr
    r = subprocess.run([PORTWAY, "-t"], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, HOME=str(tmp_path / "nohome")), cwd=home)
    assert r.returncode == 2 and "nothing to run" in r.stderr


COMPLETION = os.path.join(os.path.dirname(__file__), "..", "..", "etc", "bash-completion", "portway")


def complete(*words):
    """What bash completes for the command line `portway WORDS...` (the last word being typed)."""
    script = f"""source {COMPLETION}
COMP_WORDS=(portway {' '.join(repr(w) if w else "''" for w in words)})
COMP_CWORD={len(words)}
_portway
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, timeout=10, cwd=os.path.dirname(COMPLETION))
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.split("\n") if w]


def test_bash_completion_offers_what_the_binary_takes():
    # every option offered is one --help documents, and every subcommand one `portway help` lists
    _, usage, _ = run("--help")
    _, subs, _ = run("help")
    offered = complete("")
    assert "-C" in offered and "probe" in offered and "--version" in offered
    for w in offered:
        if w.startswith("-"):
            assert w in usage or (w == "-DD" and "-DD" in usage), w
        else:
            assert f"portway {w}" in subs, w
    assert complete("-O", "") == ["json", "yaml"] or sorted(complete("-O", "")) == ["json", "yaml"]
    assert "relay+tls://" in complete("-F", "rel")
    # a subcommand's flags are what its own --help names
    for sub in ("probe", "gateway", "cert"):
        _, text, err = run(sub, "--help")
        for flag in complete(sub, "--"):
            assert flag in text + err, (sub, flag)
    assert sorted(complete("tunnel", "")) == ["add", "del", "list"]
    # -L schemes the completion offers are types the binary knows
    for scheme in complete("-L", ""):
        url = scheme + "127.0.0.1:1"
        code, _, err = run("-L", url, "-t")
        assert "unknown" not in err, (scheme, err)
