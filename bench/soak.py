#!/usr/bin/python3
"""A bounded soak: churn through a TCP forward, an HTTP proxy, a relay hop and the
gateway, with clean closes, RST aborts, half closes and silent clients, and what each
portway process holds (descriptors, RSS, threads) at the baseline, at the peak and after.

  bench/soak.py [--seconds 120] [--concurrency 64] [--portway build/src/portway] [--doc doc/benchmarks.md]

Everything runs on loopback. Exit status 1 when a process died, or holds more descriptors
after the churn (and the grace period) than before it: a leak. Run it alone on the machine.
"""
import argparse
import asyncio
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

DOMAIN = "soak.test"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def proc_stat(pid):
    """(descriptors, RSS KiB, threads) of a live process, or None."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        rss = threads = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        return fds, rss, threads
    except OSError:
        return None


# ---- backends, in this process ----

async def echo_handler(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def http_handler(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            body = b"soak backend\n" * 8
            keep = b"connection: close" not in head.lower()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (
                len(body), b"" if keep else b"Connection: close\r\n") + body)
            await writer.drain()
            if not keep:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
        pass
    finally:
        writer.close()


# ---- clients: one behaviour each ----

async def open_conn(port):
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)


async def echo_clean(port, rng):
    r, w = await open_conn(port)
    data = os.urandom(rng.choice((100, 4096, 65536, 300000)))
    w.write(data)
    await w.drain()
    got = await asyncio.wait_for(r.readexactly(len(data)), 10)
    w.close()
    return got == data


async def echo_half_close(port, rng):
    r, w = await open_conn(port)
    data = os.urandom(rng.choice((1000, 50000)))
    w.write(data)
    w.write_eof()
    got = await asyncio.wait_for(r.read(-1), 10)
    w.close()
    return got == data


async def rst_abort(port, rng):
    r, w = await open_conn(port)
    w.write(os.urandom(rng.choice((10, 20000, 200000))))
    await asyncio.sleep(rng.random() * 0.05)
    sock = w.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.transport.abort()
    return True


async def silent(port, rng):
    r, w = await open_conn(port)
    await asyncio.sleep(1 + rng.random() * 3)
    w.close()
    return True


def http_client(port, target, host=None):
    async def run(_port, rng):
        r, w = await open_conn(port)
        req = f"GET {target} HTTP/1.1\r\nHost: {host or '127.0.0.1'}\r\nConnection: close\r\n\r\n".encode()
        if rng.random() < 0.3:  # a head in pieces
            for i in range(0, len(req), 7):
                w.write(req[i:i + 7])
                await w.drain()
                await asyncio.sleep(0.001)
        else:
            w.write(req)
        got = await asyncio.wait_for(r.read(-1), 10)
        w.close()
        return got.startswith(b"HTTP/1.1 200") and got.endswith(b"soak backend\n")
    run.__name__ = "http_request"
    return run


def http_abort(port, target, host=None):
    async def run(_port, rng):
        r, w = await open_conn(port)
        req = f"GET {target} HTTP/1.1\r\nHost: {host or '127.0.0.1'}\r\n\r\n".encode()
        w.write(req[:rng.randint(1, len(req))])
        await asyncio.sleep(rng.random() * 0.05)
        w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()
        return True
    run.__name__ = "http_rst_abort"
    return run


# ---- the run ----

class Setup:
    def __init__(self, portway, tmp, echo_port, http_port):
        self.procs = {}
        self.tmp = tmp
        self.portway = portway
        env = dict(os.environ, PORTWAY_GRACE="2")
        self.env = env
        fwd, proxy, relay, hop = free_port(), free_port(), free_port(), free_port()
        gw, web = free_port(), free_port()
        self.start("forward", "-L", f"tcp://127.0.0.1:{fwd}/127.0.0.1:{echo_port}")
        self.start("http-proxy", "-L", f"http://127.0.0.1:{proxy}")
        self.start("relay-server", "-L", f"relay://127.0.0.1:{relay}")
        self.start("relay-client", "-L", f"tcp://127.0.0.1:{hop}/127.0.0.1:{echo_port}", "-F",
                   f"relay://127.0.0.1:{relay}")
        db = os.path.join(tmp, "gw.db")
        out = subprocess.run([portway, "tunnel", "add", "site", "--db", db], capture_output=True, text=True,
                             check=True).stdout
        secret = out.split()[-1]
        self.start("gateway", "-L", f"gateway://127.0.0.1:{gw}?webAddr=127.0.0.1:{web}&db={db}&domains={DOMAIN}")
        wait_port(gw)
        self.start("agent", "-L", f"agent://127.0.0.1:{http_port}?gateway=ws://127.0.0.1:{gw}&subdomain=site"
                                  f"&secret={secret}&relayWorkers=8&tunnelWorkers=2")
        for p in (fwd, proxy, relay, hop, web):
            wait_port(p)
        time.sleep(1)  # the agent's workers join
        target = f"http://127.0.0.1:{http_port}/"
        self.mix = [
            ("forward", fwd, echo_clean), ("forward", fwd, echo_half_close), ("forward", fwd, rst_abort),
            ("forward", fwd, silent),
            ("http proxy", proxy, http_client(proxy, target)), ("http proxy", proxy, http_abort(proxy, target)),
            ("http proxy", proxy, silent),
            ("relay hop", hop, echo_clean), ("relay hop", hop, echo_half_close), ("relay hop", hop, rst_abort),
            ("relay hop", hop, silent),
            ("gateway", web, http_client(web, "/", f"site.{DOMAIN}")),
            ("gateway", web, http_abort(web, "/", f"site.{DOMAIN}")), ("gateway", web, silent),
        ]

    def start(self, name, *args):
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        self.procs[name] = subprocess.Popen([self.portway, *args], stdout=log, stderr=subprocess.STDOUT,
                                            env=self.env)

    def stats(self):
        return {n: proc_stat(p.pid) for n, p in self.procs.items()}

    def stop(self):
        codes = {}
        for n, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for n, p in self.procs.items():
            try:
                codes[n] = p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                codes[n] = "hung"
        return codes


async def churn(setup, seconds, concurrency, samples):
    rng = random.Random(1)
    outcome = {}
    deadline = time.time() + seconds

    async def one():
        while time.time() < deadline:
            kind, port, fn = rng.choice(setup.mix)
            key = (kind, fn.__name__)
            try:
                ok = await fn(port, rng)
            except (asyncio.TimeoutError, ConnectionError, OSError, asyncio.IncompleteReadError):
                ok = False
            good, bad = outcome.get(key, (0, 0))
            outcome[key] = (good + bool(ok), bad + (not ok))

    async def sample():
        while time.time() < deadline:
            samples.append(setup.stats())
            await asyncio.sleep(1)

    await asyncio.gather(sample(), *[one() for _ in range(concurrency)])
    return outcome


def summarize(baseline, samples, after):
    rows = []
    for name in baseline:
        b, a = baseline[name], after.get(name)
        seen = [s[name] for s in samples if s.get(name)]
        peak = tuple(max(v[i] for v in seen) for i in range(3)) if seen else None
        rows.append((name, b, peak, a))
    return rows


async def main_async(args):
    tmp = tempfile.mkdtemp(prefix="portway-soak-")
    echo = await asyncio.start_server(echo_handler, "127.0.0.1", 0)
    http = await asyncio.start_server(http_handler, "127.0.0.1", 0)
    echo_port, http_port = echo.sockets[0].getsockname()[1], http.sockets[0].getsockname()[1]
    setup = await asyncio.get_running_loop().run_in_executor(None, Setup, args.portway, tmp, echo_port, http_port)
    try:
        # A short warm-up first, so that what is pooled on purpose (splice pipes) is in the baseline.
        await churn(setup, 3, args.concurrency, [])
        await asyncio.sleep(5)
        baseline = setup.stats()
        samples = []
        outcome = await churn(setup, args.seconds, args.concurrency, samples)
        await asyncio.sleep(5)  # silent clients' leftovers go, idle timeouts run
        after = setup.stats()
    finally:
        codes = setup.stop()
        echo.close()
        http.close()
    return tmp, baseline, samples, after, outcome, codes


def report(args, tmp, baseline, samples, after, outcome, codes):
    load = os.getloadavg()
    lines = ["## Soak", "",
             f"`bench/soak.py --seconds {args.seconds} --concurrency {args.concurrency}`: clean closes, RST "
             "aborts, half closes, heads in pieces and silent clients through each path at once, on "
             f"loopback; load average before the run {load[0]:.2f} (1 min). Descriptors / RSS KiB / threads "
             "of each process at the baseline (after a 3 s warm-up and 5 s of rest), the peak and 5 s after the churn.", "",
             "| process | baseline | peak | after | exit |", "|---|---|---|---|---|"]
    leaks = []
    for name, b, peak, a in summarize(baseline, samples, after):
        f = lambda v: "gone" if v is None else f"{v[0]} / {v[1]:,} / {v[2]}"  # noqa: E731
        lines.append(f"| {name} | {f(b)} | {f(peak)} | {f(a)} | {codes.get(name)} |")
        if a is None or b is None or a[0] > b[0] or codes.get(name) != 0:
            leaks.append(name)
    lines += ["", "| path | client | ok | failed |", "|---|---|---|---|"]
    for (kind, fn), (good, bad) in sorted(outcome.items()):
        lines.append(f"| {kind} | {fn} | {good:,} | {bad:,} |")
    lines.append("")
    text = "\n".join(lines) + "\n"
    print(text)
    print("logs:", tmp)
    if args.doc:
        benchlib.splice(args.doc, "## Soak", text)
    return leaks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--portway", default=os.path.join(HERE, "..", "build", "src", "portway"))
    ap.add_argument("--doc", help="splice the section into this file (doc/benchmarks.md)")
    args = ap.parse_args()
    args.seconds = max(5, min(args.seconds, 900))
    result = asyncio.run(main_async(args))
    leaks = report(args, *result)
    if leaks:
        print("soak: more descriptors after than before, or a bad exit:", ", ".join(leaks))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
