#!/usr/bin/python3
"""Turn one run of bench/tcp_forward.sh into the "## TCP port forwarding"
section of doc/benchmarks.md.

  report.py META_ENV RESULTS_TSV DOC

DOC's section is replaced (appended if absent); the other sections, written by
the other bench/ scripts, stay as they are. The section is also printed.

RESULTS_TSV lines: test, target, round, value, forwarder CPU seconds, note.
"""
import statistics
import sys

from benchlib import fmt, load_meta, ratio, splice

HEADING = "## TCP port forwarding"

FORWARDERS = ["portway", "haproxy", "socat"]
ALL = ["direct"] + FORWARDERS
NAMES = {"direct": "direct", "portway": "portway", "haproxy": "HAProxy", "haproxy-splice": "HAProxy, splice on",
         "socat": "socat"}


def load(meta_path, tsv_path):
    meta = load_meta(meta_path)
    rows = {}
    with open(tsv_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            while len(parts) < 6:
                parts.append("")
            test, target, rnd, value, cpu, note = parts[:6]
            try:
                v = float(value)
            except ValueError:
                v = None
            try:
                c = float(cpu)
            except ValueError:
                c = 0.0
            rows.setdefault((test, target), []).append((int(rnd), v, c, note))
    return meta, rows


def values(rows, test, target):
    return [v for _, v, _, _ in sorted(rows.get((test, target), [])) if v is not None]


def med(rows, test, target):
    vs = values(rows, test, target)
    return statistics.median(vs) if vs else None


def cpu_med(rows, test, target):
    cs = [c for _, v, c, _ in rows.get((test, target), []) if v is not None]
    return statistics.median(cs) if cs else None


def spread(rows, test, target, digits=2):
    vs = values(rows, test, target)
    if not vs:
        return "n/a"
    if len(vs) == 1:
        return fmt(vs[0], digits)
    return "%s (%s)" % (fmt(statistics.median(vs), digits), ", ".join(fmt(v, digits) for v in vs))


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    meta, rows = load(argv[1], argv[2])
    t = float(meta.get("time", "10"))
    n_idle = int(meta.get("idle", "9500"))
    mib = {k: (med(rows, "idle_rss", k) / 1024 if med(rows, "idle_rss", k) is not None else None) for k in FORWARDERS}
    pss_mib = {k: (med(rows, "idle_pss", k) / 1024 if med(rows, "idle_pss", k) is not None else None)
               for k in FORWARDERS}
    out = []
    w = out.append

    w(HEADING)
    w("")
    w("portway's TCP port forward (`-L tcp://...`) against HAProxy (`mode tcp`) and socat, from one")
    w("run of `bench/tcp_forward.sh` (which rewrites this section; `--quick` checks the script in")
    w("a minute). The forwarders are measured in turn, round after round, in a rotating order;")
    w("compare the ratios, which come from the same run.")
    w("")
    w("### Machine and programs")
    w("")
    w("| | |")
    w("| --- | --- |")
    w("| date | %s |" % meta.get("date", "?"))
    w("| cores (nproc) | %s |" % meta.get("nproc", "?"))
    w("| CPU | %s |" % meta.get("cpu", "?"))
    w("| memory | %s |" % meta.get("mem", "?"))
    w("| kernel | %s |" % meta.get("kernel", "?"))
    w("| load average at start, at end | %s; %s |" % (meta.get("load", "?"), meta.get("load_end", "?")))
    w("| priority of the run (nice) | %s |" % meta.get("nice", "?"))
    for k in ("portway", "haproxy", "socat", "iperf3", "nginx", "wrk"):
        w("| %s | %s |" % (k, meta.get(k, "?")))
    w("| runs | %s s each, %s rounds, medians reported |" % (meta.get("time", "?"), meta.get("rounds", "?")))
    w("")

    w("### Summary")
    w("")
    w("Medians over the rounds. For memory, lower is better; for everything else, higher.")
    w("")
    w("| metric | direct | portway | HAProxy | socat | portway/HAProxy | portway/socat |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    summary = [
        ("throughput client→server, Gbit/s (iperf3)", "iperf_fwd"),
        ("throughput server→client, Gbit/s (iperf3 -R)", "iperf_rev"),
        ("HTTP requests/s, keep-alive (wrk -c 64 -t 2)", "http"),
        ("new connections/s (wrk, Connection: close)", "connrate"),
    ]
    for label, test in summary:
        m = {k: med(rows, test, k) for k in ALL}
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, fmt(m["direct"]), fmt(m["portway"]), fmt(m["haproxy"]), fmt(m["socat"]),
            ratio(m["portway"], m["haproxy"]), ratio(m["portway"], m["socat"])))
    w("| RSS holding %s idle forwarded connections, MiB | | %s | %s | %s (sum over its processes) | %s | %s |" % (
        "{:,}".format(n_idle), fmt(mib["portway"], 1), fmt(mib["haproxy"], 1), fmt(mib["socat"], 1),
        ratio(mib["portway"], mib["haproxy"]), ratio(mib["portway"], mib["socat"])))
    w("| PSS holding the same, MiB | | %s | %s | %s (sum) | %s | %s |" % (
        fmt(pss_mib["portway"], 1), fmt(pss_mib["haproxy"], 1), fmt(pss_mib["socat"], 1),
        ratio(pss_mib["portway"], pss_mib["haproxy"]), ratio(pss_mib["portway"], pss_mib["socat"])))
    w("")

    w("### Floors (issue 2)")
    w("")
    missed_tp = False
    splice_slower = True
    for test, label in (("iperf_fwd", "client→server"), ("iperf_rev", "server→client")):
        p, h, hs = med(rows, test, "portway"), med(rows, test, "haproxy"), med(rows, test, "haproxy-splice")
        ok = p is not None and h is not None and p >= h
        missed_tp |= not ok
        splice_slower &= hs is not None and h is not None and hs < h
        w("- Single-stream throughput %s at least HAProxy's: **%s** (portway %s, HAProxy %s Gbit/s, ratio %s;"
          " HAProxy with its splice on: %s Gbit/s, portway/that %s)." % (
              label, "met" if ok else "missed", fmt(p), fmt(h), ratio(p, h), fmt(hs), ratio(p, hs)))
    p = mib["portway"]
    ok = p is not None and p < 40 and meta.get("idle") == "9500"
    w("- RSS for 9,500 idle connections under 40 MiB: **%s** (%s MiB for %s connections)." % (
        "met" if ok else ("not measured at 9,500" if meta.get("idle") != "9500" else "missed"), fmt(p, 1),
        "{:,}".format(n_idle)))
    if missed_tp and splice_slower:
        level = all(med(rows, t, "portway") and med(rows, t, "haproxy-splice") and
                    0.9 <= med(rows, t, "portway") / med(rows, t, "haproxy-splice") <= 1.1
                    for t in ("iperf_fwd", "iperf_rev"))

        def cpu_per_gbit(k):
            v = [cpu_med(rows, t, k) / med(rows, t, k) for t in ("iperf_fwd", "iperf_rev")
                 if cpu_med(rows, t, k) is not None and med(rows, t, k)]
            return sum(v) / len(v) if len(v) == 2 else None

        cp, ch = cpu_per_gbit("portway"), cpu_per_gbit("haproxy")
        text = ("On loopback, splicing costs single-stream throughput: HAProxy loses about as much when its "
                "own splice is turned on%s. portway splices plain TCP to plain TCP%s; but the receiving "
                "process on the same machine then copies from the pages the sender wrote, which are cold in "
                "the cache (perf during such runs: the receiving iperf3 spends about 2.5 times as long per "
                "byte in the copy as when the forwarder copies), and the sender cannot recycle its pages while "
                "they are in flight. Through a network card the receiver is another machine and that cost is "
                "not paid here." % (
                    ", and portway is level with that HAProxy" if level else "",
                    ", so the forwarder itself uses less CPU per byte (%.2f of HAProxy's, table a)" % (cp / ch)
                    if cp and ch and cp < ch else ""))
        w("")
        line = ""
        for word in text.split():
            if len(line) + len(word) + 1 > 88:
                w(line)
                line = word
            else:
                line = word if not line else line + " " + word
        w(line)
    w("")

    w("### a) Single-stream throughput")
    w("")
    w("`iperf3 -c 127.0.0.1 -p PORT -t %s -O 1 -J` (and `-R`): one TCP stream through the forwarder" % meta.get("time"))
    w("to an `iperf3 -s`; the received rate, first second omitted. Each round's value in parentheses.")
    w("CPU: the forwarder's user+system time during the run, in % of one core.")
    w("")
    w("| | client→server Gbit/s | forwarder CPU | server→client Gbit/s | forwarder CPU |")
    w("| --- | ---: | ---: | ---: | ---: |")
    for k in ["direct", "portway", "haproxy", "haproxy-splice", "socat"]:
        if not rows.get(("iperf_fwd", k)):
            continue
        cells = []
        for test in ("iperf_fwd", "iperf_rev"):
            c = cpu_med(rows, test, k)
            cells.append(spread(rows, test, k))
            cells.append("" if k == "direct" or c is None else "%.0f%%" % (100 * c / (t + 1)))
        w("| %s | %s |" % (NAMES[k], " | ".join(cells)))
    w("")

    w("### b) HTTP requests per second")
    w("")
    w("`wrk -c 64 -t 2 -d %ss` for a 1 KiB static file from nginx (one worker, access log off)," % meta.get("time"))
    w("keep-alive connections. CPU per request: the forwarder's user+system time divided by the requests.")
    w("")
    w("| | requests/s | forwarder CPU µs/request | errors |")
    w("| --- | ---: | ---: | --- |")
    for k in ALL:
        c, r = cpu_med(rows, "http", k), med(rows, "http", k)
        per = "" if k == "direct" or not r or c is None else "%.1f" % (c / (r * t) * 1e6)
        notes = sorted({n.strip().rstrip(";").strip() for _, _, _, n in rows.get(("http", k), []) if n.strip()})
        w("| %s | %s | %s | %s |" % (NAMES[k], spread(rows, "http", k), per, "; ".join(notes) or "none"))
    w("")

    w("### c) New connections per second")
    w("")
    w("The same wrk run with `-H 'Connection: close'`: nginx closes after each response and wrk")
    w("reconnects, so every request is a new TCP connection accepted by the forwarder and a new")
    w("connection from the forwarder to nginx. Run last, as it leaves sockets in TIME_WAIT.")
    w("")
    w("| | connections/s | forwarder CPU µs/connection | errors |")
    w("| --- | ---: | ---: | --- |")
    for k in ALL:
        c, r = cpu_med(rows, "connrate", k), med(rows, "connrate", k)
        per = "" if k == "direct" or not r or c is None else "%.1f" % (c / (r * t) * 1e6)
        notes = sorted({n.strip().rstrip(";").strip() for _, _, _, n in rows.get(("connrate", k), []) if n.strip()})
        w("| %s | %s | %s | %s |" % (NAMES[k], spread(rows, "connrate", k), per, "; ".join(notes) or "none"))
    w("")

    w("### d) Memory holding %s idle connections" % "{:,}".format(n_idle))
    w("")
    w("A fresh forwarder, alone, to a Python asyncio backend (`bench/idle_conns.py server`);")
    w("a Python asyncio client in another process (`bench/idle_conns.py client`) opens the")
    w("connections 8 at a time, sends one byte on each and waits for its echo, so every")
    w("connection is proven end to end, then leaves them idle. VmRSS from /proc/PID/status")
    w("2 s after the last one is up. socat forks one process per connection: its figure is the")
    w("sum over the listening process and all its children, which counts the shared pages")
    w("(libc, the binary) once per process; the PSS sum (smaps_rollup) shares them out and is")
    w("the fairer number for socat.")
    w("")
    w("| | RSS before, MiB | RSS with the connections, MiB | per connection, KiB | PSS, MiB | processes | RSS after they close, MiB |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in FORWARDERS:
        b, d, a = med(rows, "idle_rss_before", k), med(rows, "idle_rss", k), med(rows, "idle_rss_after", k)
        procs = [n for _, _, _, n in rows.get(("idle_rss", k), []) if n]
        per = "%.2f" % ((d - b) / n_idle) if b is not None and d is not None else "n/a"
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            NAMES[k], fmt(b / 1024 if b is not None else None, 1), fmt(d / 1024 if d is not None else None, 1), per,
            fmt(pss_mib[k], 1), procs[0] if procs else "n/a", fmt(a / 1024 if a is not None else None, 1)))
    w("")

    w("### How each forwarder runs")
    w("")
    w("- portway: `portway -L tcp://127.0.0.1:P/127.0.0.1:T` (one `-L` per forward; workers: one")
    w("  per core, the default). Plain TCP on both sides, so the pipe splices.")
    w("- HAProxy: `mode tcp`, `nbthread 2`, `maxconn` idle+300, client/server timeouts 10 min, a")
    w("  frontend and a backend per forward; no splice options (HAProxy's default: buffered copy).")
    w("  \"HAProxy, splice on\" (throughput only) adds `option splice-request` and")
    w("  `option splice-response`.")
    w("- socat: `socat TCP-LISTEN:P,fork,reuseaddr,bind=127.0.0.1 TCP:127.0.0.1:T`: one process per")
    w("  connection, listen backlog 5 (socat's default).")
    w("- Backends: `iperf3 -s`; nginx with `worker_processes 1`; `bench/idle_conns.py server`.")
    w("")
    section = "\n".join(out).rstrip("\n") + "\n"
    splice(argv[3], HEADING, section, preamble=True)
    sys.stdout.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
