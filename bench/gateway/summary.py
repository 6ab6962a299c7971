#!/usr/bin/python3
"""The "## Gateway" section of doc/benchmarks.md from one run of bench/gateway.sh.

  summary.py META_ENV RESULTS_TSV        -> the section, on stdout
  summary.py --splice DOC SECTION_FILE   -> DOC's "## Gateway" section replaced
                                            by SECTION_FILE (appended if absent);
                                            every other section is kept as it is

RESULTS_TSV lines: test, target, round, value.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import fmt, load_meta, ratio, splice  # noqa: E402

HEADING = "## Gateway"


def load(meta_path, tsv_path):
    meta = load_meta(meta_path)
    rows = {}
    with open(tsv_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            try:
                rows.setdefault((parts[0], parts[1]), []).append(float(parts[3]))
            except ValueError:
                pass
    return meta, rows


def section(meta, rows):
    def med(test, target):
        vs = rows.get((test, target))
        return statistics.median(vs) if vs else None

    def total(test, target):
        vs = rows.get((test, target))
        return sum(vs) if vs else None

    agents, per = int(meta["agents"]), int(meta["agent_workers"])
    workers = agents * per
    relay = int(meta["relay_workers"])
    idle_time = float(meta["idle_time"])
    rounds, secs = meta["rounds"], meta["time"]
    n = "{:,}".format
    out = []
    p = out.append
    p(HEADING)
    p("")
    p("`bench/gateway.sh`, {date}; {nproc} CPUs ({cpu}), {mem}, Linux {kernel}; open-file hard limit {nofile}. "
      "Everything on loopback on this one machine: wrk, nginx, the proxies and the agents share the {nproc} CPUs "
      "(load average {load_start} at the start, {load_end} at the end: other work ran on the machine too, so "
      "absolute numbers are noisy, p99 most of all; the rounds are interleaved so that the ratios are less so, and "
      "each table gives the best round beside the median)."
      .format(**{**meta, "load_end": meta.get("load_end", "?")}))
    p("")
    p("### HTTP through the web port (4053) to nginx behind an agent")
    p("")
    p("wrk -c 64 -t 2 -d {t}s --latency, GET of a 1 KiB static file, the Host header naming the tunnel; median of "
      "{r} interleaved rounds. Path through the gateway: wrk -> gateway web port -> an idle relay worker WebSocket "
      "-> the agent (a second portway process) -> nginx. Each client connection holds one worker for its life and "
      "the agent dials a replacement when one is taken (as in Onifast), so the agent keeps {rw} idle relay workers "
      "(at most 100 per tunnel are kept by the gateway). The gateway's state lives on one event loop "
      "(`single_worker`), and so does the agent's. {note}."
      .format(t=secs, r=rounds, rw=relay, note=meta.get("peer_note", "")))
    p("")
    names = {
        "direct": "nginx direct",
        "gateway": "portway gateway + agent",
        "gateway-paired": "portway gateway + agent, again, alternated with the next row",
        "gateway-loaded": "the same, the gateway holding %s more idle workers of %d agents" % (n(workers), agents),
        "haproxy-1t": "HAProxy (mode http, nbthread 1)",
        "haproxy-2t": "HAProxy (mode http, nbthread 2)",
    }
    def best(test, target):
        vs = rows.get((test, target))
        if not vs:
            return None
        return min(vs) if test == "p99" else max(vs)

    def both(f, a, b):  # "median ratio (best-round ratio)"
        return "%s (%s)" % (ratio(f(med, a), f(med, b)), ratio(f(best, a), f(best, b)))

    def both_x(f, a, b):
        return "**%s x** (best rounds: %s x)" % (ratio(f(med, a), f(med, b)), ratio(f(best, a), f(best, b)))

    for mode, title in (("", "Keep-alive (the wrk command of issue 7):"),
                        ("+close", "Every request on a new connection (`Connection: close`), so every request takes "
                                   "a fresh worker through the gateway:")):
        p(title)
        p("")
        p("| via | requests/s (2xx): median (best round) | p50 ms | p99 ms: median (best round) | errors (all rounds) "
          "| gateway's requests/s / this: median (best) | gateway's p99 / this: median (best) |")
        p("|---|---:|---:|---:|---:|---:|---:|")
        for t in ("direct", "gateway", "haproxy-1t", "haproxy-2t", "gateway-paired", "gateway-loaded"):
            if ("rps", t + mode) not in rows:
                continue
            same = t in ("gateway", "gateway-paired", "gateway-loaded")
            errs = total("errors", t + mode)
            no_w = total("no_worker", t + mode)
            err_text = fmt(errs, 0)
            if no_w:
                err_text += " of %s requests, %s%s 502 for want of an idle worker" % (
                    fmt(total("requests", t + mode), 0), "all" if no_w == errs else fmt(no_w, 0),
                    "" if no_w == errs else " of them")
            p("| %s | %s (%s) | %s | %s (%s) | %s | %s | %s |" % (
                names[t], fmt(med("rps", t + mode), 0), fmt(best("rps", t + mode), 0), fmt(med("p50", t + mode), 3),
                fmt(med("p99", t + mode), 3), fmt(best("p99", t + mode), 3), err_text,
                "" if same else both(lambda f, x: f("rps", x), "gateway" + mode, t + mode),
                "" if same else both(lambda f, x: f("p99", x), "gateway" + mode, t + mode)))
        p("")
    rps = lambda f, x: f("rps", x)
    p99 = lambda f, x: f("p99", x)
    p("**Ratios (keep-alive; the median of the rounds, then the ratio of the best rounds, which other work on the "
      "machine can only have made worse)**: the gateway path serves %s the requests/s of nginx direct, %s those of "
      "HAProxy with one thread and %s those of HAProxy with two; its p99 is %s nginx's, %s HAProxy's with one "
      "thread and %s with two. With %s more idle workers held, its requests/s are %s and its p99 %s those of the "
      "gateway without them (runs alternated with the loaded ones). With a new connection per request it serves "
      "%s nginx's and %s HAProxy's (1 thread) requests/s." % (
          both_x(rps, "gateway", "direct"), both_x(rps, "gateway", "haproxy-1t"),
          both_x(rps, "gateway", "haproxy-2t"), both_x(p99, "gateway", "direct"),
          both_x(p99, "gateway", "haproxy-1t"), both_x(p99, "gateway", "haproxy-2t"), n(workers),
          both_x(rps, "gateway-loaded", "gateway-paired"), both_x(p99, "gateway-loaded", "gateway-paired"),
          both_x(rps, "gateway+close", "direct+close"), both_x(rps, "gateway+close", "haproxy-1t+close")))
    p("")
    close_502, close_req = total("no_worker", "gateway+close"), total("requests", "gateway+close")
    loaded_502, loaded_req = total("no_worker", "gateway-loaded+close"), total("requests", "gateway-loaded+close")
    if close_502:
        p("With a new connection per request, %s %% of the requests (%s %% with the %s idle workers held) got the "
          "gateway's 502: each request takes a worker, the agent dials its replacement at once (a TCP connection, "
          "a WebSocket handshake and a secret check on the gateway's database thread), and whenever replacements "
          "come back later than %d workers' worth of new connections, the pool is empty and the gateway answers "
          "502 at once, as the specification has it (it does not wait for a worker). No error of any kind with "
          "keep-alive." % (
              fmt(close_502 * 100 / close_req, 1) if close_req else "n/a",
              fmt(loaded_502 * 100 / loaded_req, 1) if loaded_502 and loaded_req else "0", n(workers), relay))
        p("")
    p("CPU during a %s s gateway run (median): keep-alive: gateway %s s (%s µs per request), agent %s s; "
      "new connection per request: gateway %s s (%s µs per request), agent %s s." % (
          secs, fmt(med("gw_cpu", "gateway")), fmt(med("gw_us_per_req", "gateway"), 1),
          fmt(med("agent_cpu", "gateway")), fmt(med("gw_cpu", "gateway+close")),
          fmt(med("gw_us_per_req", "gateway+close"), 1), fmt(med("agent_cpu", "gateway+close"))))
    p("")
    p("### One gateway holding %d agents with %d workers each" % (agents, per))
    p("")
    procs = int(meta["agent_procs"])
    if procs == agents:
        how = "each in its own portway process"
    else:
        how = ("run in %d portway processes of %d agent services rather than %d processes: the gateway sees the "
               "same worker WebSockets, each its own TCP connection with its own WebSocket handshake and secret "
               "check" % (procs, (agents + procs - 1) // procs, agents))
    p("%d agent services (one tunnel each, each with its own secret from `portway tunnel add`, %s ms per call), "
      "%d idle relay workers each (%s workers), %s. A fresh gateway; the load agent of the table above (%d workers) connected first, so that "
      "its pool is the last of %d in the gateway's list; then the %d agents: all %s of their workers were connected "
      "within %s s of their processes' start (polled every 0.2 s). Idle means nothing but the gateway's WebSocket pings (every 30 s per "
      "worker) and the agents' pongs." % (
          agents, fmt(med("tunnel_add_ms", "all"), 1), per, n(workers), how, relay, agents + 1, agents, n(workers), fmt(med("connect_all_s", "all"), 1)))
    p("")
    rss0, rss1 = med("idle_rss_before", "gateway"), med("idle_rss", "gateway")
    cpu = med("idle_cpu_s", "gateway")
    per_kib = (rss1 - rss0) / workers if rss0 is not None and rss1 is not None else None
    p("| gateway | value | per idle worker |")
    p("|---|---:|---:|")
    p("| RSS, fresh | %s KiB | |" % fmt(med("fresh_rss", "gateway"), 0))
    p("| RSS with the load agent's %d workers | %s KiB | |" % (relay, fmt(rss0, 0)))
    p("| RSS with %s more, from %d agents | %s KiB | %s KiB (the growth / %s) |" % (
        n(workers), agents, fmt(rss1, 0), fmt(per_kib, 2), n(workers)))
    p("| descriptors, fresh / with the load agent / with every agent | %s / %s / %s | |" % (
        fmt(med("fresh_fds", "gateway"), 0), fmt(med("idle_fds_before", "gateway"), 0),
        fmt(med("idle_fds", "gateway"), 0)))
    if cpu is not None:
        p("| CPU (utime+stime) over %g s idle, %s workers held | %s s (%s %% of one CPU) | %s µs of CPU per "
          "second |" % (idle_time, n(workers + relay), fmt(cpu), fmt(cpu * 100 / idle_time, 2),
                        fmt(cpu * 1e6 / idle_time / (workers + relay), 3)))
    p("| threads | %s | |" % fmt(med("threads", "gateway"), 0))
    p("")
    arss = med("idle_rss", "agents")
    p("The %d agent processes together: RSS %s KiB (%s KiB per agent service), %s descriptors, CPU %s s over the "
      "same %g s. After every agent was stopped the gateway held %s idle workers and %s descriptors (%s when "
      "fresh), RSS %s KiB. The gateway of the table above had %s KiB RSS and %s descriptors after all its runs, "
      "its %d relay workers idle again." % (
          procs, fmt(arss, 0), fmt(arss / agents if arss else None, 0), fmt(med("idle_fds", "agents"), 0),
          fmt(med("idle_cpu_s", "agents")), idle_time, fmt(med("gone_workers", "gateway"), 0),
          fmt(med("gone_fds", "gateway"), 0), fmt(med("fresh_fds", "gateway"), 0),
          fmt(med("gone_rss", "gateway"), 0), fmt(med("after_load_rss", "gateway"), 0),
          fmt(med("after_load_fds", "gateway"), 0), relay))
    p("")
    for k in ("portway", "haproxy", "nginx", "wrk"):
        if k in meta:
            p("- %s: %s" % (k, meta[k]))
    p("")
    return "\n".join(out)


def main(argv):
    if len(argv) == 4 and argv[1] == "--splice":
        with open(argv[3]) as f:
            splice(argv[2], HEADING, f.read().rstrip("\n") + "\n")
        return 0
    if len(argv) == 3:
        meta, rows = load(argv[1], argv[2])
        sys.stdout.write(section(meta, rows))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
