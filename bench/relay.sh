#!/bin/bash
# One relay hop, portway against the usual two-process tunnels, on loopback,
# in one run; the "Relay" section of doc/benchmarks.md is written from it.
#
#   bench/relay.sh [--quick] [--out FILE]
#
# Chains, each "client process -> server process -> target", entered at 127.0.0.1:P:
#   portway      portway -L tcp://P/target -F relay://R   +  portway -L relay://R
#   portway-tls  the same over relay+tls (self-signed certificate)
#   portway-rtcp remote forwarding instead: portway -L rtcp://P/target -F relay://R
#                + portway -L relay://R?bind=true, entered at the port the BIND opened
#   ss           ss-tunnel -L target  +  ss-server, shadowsocks-libev, chacha20-ietf-poly1305
#                (its aes-128-gcm, through mbedTLS, ran 7x slower on the test machine)
#   v2ray        dokodemo-door -> VLESS (no TLS)  +  VLESS -> freedom, Debian's v2ray
# and "direct" (the target itself) as the baseline. ss and v2ray are used when
# installed (apt-get install shadowsocks-libev v2ray). Note what is compared:
# relay and VLESS carry bytes in the clear, shadowsocks and relay+tls encrypt.
#
# Measures (rounds interleaved across chains; the report takes medians):
#   a) single-stream throughput, iperf3, client->server and -R, with the CPU
#      seconds both chain processes used
#   b) new connections per second: wrk -c 64 -t 2 "Connection: close" to a
#      1 KiB nginx file, so every request opens a connection through the chain
#   c) latency: round trip of 64-byte messages on an open connection (echo),
#      and a new connection's first answer (HTTP/1.0 to nginx); medians and p99
#      of BENCH_PINGS sequential samples; "added" is the chain minus direct
#
# Environment: PORTWAY (binary, else build/src/portway), BENCH_TIME (seconds per
# run, 10), BENCH_ROUNDS (3), BENCH_PINGS (5000), BENCH_OUT (doc/benchmarks.md).
# --quick: 3 s runs, 1 round, 1000 pings (to check the script).
# Only the "## Relay" section of the output file is replaced; the rest stays.
# Every process started here is stopped on exit; every run is bounded by timeout(1).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

TIME=${BENCH_TIME:-10}
ROUNDS=${BENCH_ROUNDS:-3}
PINGS=${BENCH_PINGS:-5000}
OUT=${BENCH_OUT:-$ROOT/doc/benchmarks.md}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) TIME=3; ROUNDS=1; PINGS=1000 ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
	esac
	shift
done

. bench/lib.sh
need_tools "$PORTWAY" iperf3 wrk nginx openssl
CHAINS="direct portway portway-tls portway-rtcp"
command -v ss-server >/dev/null && command -v ss-tunnel >/dev/null && CHAINS="$CHAINS ss"
command -v v2ray >/dev/null && CHAINS="$CHAINS v2ray"

bench_workdir portway-relaybench

read -r IPERF_PORT NGINX_PORT ECHO_PORT RELAY_PORT RELAYTLS_PORT RELAYBIND_PORT SS_PORT V2_PORT \
	PW_IPERF PW_HTTP PW_ECHO PT_IPERF PT_HTTP PT_ECHO PR_IPERF PR_HTTP PR_ECHO SS_IPERF SS_HTTP SS_ECHO \
	V2_IPERF V2_HTTP V2_ECHO <<<"$(free_ports 23)"

# ---- targets ----

start iperf3 iperf3 -s -p "$IPERF_PORT" --idle-timeout 120
small_page "portway benchmark "
start_nginx "$NGINX_PORT"
# An echo server for the round trips: one asyncio loop, TCP_NODELAY.
cat >"$WORK/echo.py" <<'EOF'
import asyncio, socket, sys

async def echo(r, w):
    w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            d = await r.read(65536)
            if not d:
                break
            w.write(d)
    except ConnectionError:
        pass
    w.close()

async def main():
    srv = await asyncio.start_server(echo, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    await srv.serve_forever()

asyncio.run(main())
EOF
start echo "$PY" "$WORK/echo.py" "$ECHO_PORT"

# ---- chains ----

# portway: plain relay, and relay over TLS (a self-signed certificate is made here)
start pw-server "$PORTWAY" -L "relay://127.0.0.1:$RELAY_PORT"
PW_SERVER=$LASTPID
start pw-client "$PORTWAY" -L "tcp://127.0.0.1:$PW_IPERF/127.0.0.1:$IPERF_PORT" \
	-L "tcp://127.0.0.1:$PW_HTTP/127.0.0.1:$NGINX_PORT" -L "tcp://127.0.0.1:$PW_ECHO/127.0.0.1:$ECHO_PORT" \
	-F "relay://127.0.0.1:$RELAY_PORT"
PW_CLIENT=$LASTPID
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
	>/dev/null 2>&1
start pt-server "$PORTWAY" -L "relay+tls://127.0.0.1:$RELAYTLS_PORT?certFile=$WORK/cert.pem&keyFile=$WORK/key.pem"
PT_SERVER=$LASTPID
start pt-client "$PORTWAY" -L "tcp://127.0.0.1:$PT_IPERF/127.0.0.1:$IPERF_PORT" \
	-L "tcp://127.0.0.1:$PT_HTTP/127.0.0.1:$NGINX_PORT" -L "tcp://127.0.0.1:$PT_ECHO/127.0.0.1:$ECHO_PORT" \
	-F "relay+tls://127.0.0.1:$RELAYTLS_PORT"
PT_CLIENT=$LASTPID
start pr-server "$PORTWAY" -L "relay://127.0.0.1:$RELAYBIND_PORT?bind=true"
PR_SERVER=$LASTPID
start pr-client "$PORTWAY" -L "rtcp://127.0.0.1:$PR_IPERF/127.0.0.1:$IPERF_PORT" \
	-L "rtcp://127.0.0.1:$PR_HTTP/127.0.0.1:$NGINX_PORT" -L "rtcp://127.0.0.1:$PR_ECHO/127.0.0.1:$ECHO_PORT" \
	-F "relay://127.0.0.1:$RELAYBIND_PORT"
PR_CLIENT=$LASTPID

SS_PIDS=""
if [[ " $CHAINS " == *" ss "* ]]; then
	SS_ARGS=(-k portway-bench -m chacha20-ietf-poly1305)
	start ss-server ss-server -s 127.0.0.1 -p "$SS_PORT" "${SS_ARGS[@]}"
	SS_PIDS=$LASTPID
	for pair in "$SS_IPERF:$IPERF_PORT" "$SS_HTTP:$NGINX_PORT" "$SS_ECHO:$ECHO_PORT"; do
		start "ss-tunnel-${pair%%:*}" ss-tunnel -s 127.0.0.1 -p "$SS_PORT" -b 127.0.0.1 -l "${pair%%:*}" \
			-L "127.0.0.1:${pair##*:}" "${SS_ARGS[@]}"
		SS_PIDS="$SS_PIDS $LASTPID"
	done
fi

V2_PIDS=""
if [[ " $CHAINS " == *" v2ray "* ]]; then
	UUID=$(cat /proc/sys/kernel/random/uuid)
	cat >"$WORK/v2-server.json" <<EOF
{"log": {"loglevel": "none"},
 "inbounds": [{"listen": "127.0.0.1", "port": $V2_PORT, "protocol": "vless",
   "settings": {"clients": [{"id": "$UUID"}], "decryption": "none"}}],
 "outbounds": [{"protocol": "freedom"}]}
EOF
	door() { echo "{\"listen\": \"127.0.0.1\", \"port\": $1, \"protocol\": \"dokodemo-door\", \"settings\": {\"address\": \"127.0.0.1\", \"port\": $2, \"network\": \"tcp\"}}"; }
	cat >"$WORK/v2-client.json" <<EOF
{"log": {"loglevel": "none"},
 "inbounds": [$(door "$V2_IPERF" "$IPERF_PORT"), $(door "$V2_HTTP" "$NGINX_PORT"), $(door "$V2_ECHO" "$ECHO_PORT")],
 "outbounds": [{"protocol": "vless", "settings": {"vnext": [{"address": "127.0.0.1", "port": $V2_PORT,
   "users": [{"id": "$UUID", "encryption": "none"}]}]}}]}
EOF
	start v2-server v2ray -config "$WORK/v2-server.json"
	V2_PIDS=$LASTPID
	start v2-client v2ray -config "$WORK/v2-client.json"
	V2_PIDS="$V2_PIDS $LASTPID"
fi

# CHAIN KIND(iperf|http|echo) -> port
port_of() {
	case "$1:$2" in
	direct:iperf) echo "$IPERF_PORT" ;; direct:http) echo "$NGINX_PORT" ;; direct:echo) echo "$ECHO_PORT" ;;
	portway:iperf) echo "$PW_IPERF" ;; portway:http) echo "$PW_HTTP" ;; portway:echo) echo "$PW_ECHO" ;;
	portway-tls:iperf) echo "$PT_IPERF" ;; portway-tls:http) echo "$PT_HTTP" ;; portway-tls:echo) echo "$PT_ECHO" ;;
	portway-rtcp:iperf) echo "$PR_IPERF" ;; portway-rtcp:http) echo "$PR_HTTP" ;; portway-rtcp:echo) echo "$PR_ECHO" ;;
	ss:iperf) echo "$SS_IPERF" ;; ss:http) echo "$SS_HTTP" ;; ss:echo) echo "$SS_ECHO" ;;
	v2ray:iperf) echo "$V2_IPERF" ;; v2ray:http) echo "$V2_HTTP" ;; v2ray:echo) echo "$V2_ECHO" ;;
	esac
}
pids_of() {
	case "$1" in
	portway) echo "$PW_CLIENT $PW_SERVER" ;;
	portway-tls) echo "$PT_CLIENT $PT_SERVER" ;;
	portway-rtcp) echo "$PR_CLIENT $PR_SERVER" ;;
	ss) echo "$SS_PIDS" ;;
	v2ray) echo "$V2_PIDS" ;;
	esac
}

for c in $CHAINS; do
	for k in iperf http echo; do
		wait_port "$(port_of "$c" "$k")"
	done
	if ! timeout 10 curl -fsS "http://127.0.0.1:$(port_of "$c" http)/small.html" -o /dev/null; then
		fail "nginx through $c does not answer"
	fi
done

# ---- the machine and the programs ----

{
	meta_machine
	echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
	meta_versions ss v2ray iperf3 wrk
	echo "time=$TIME"
	echo "rounds=$ROUNDS"
	echo "pings=$PINGS"
	echo "chains=$CHAINS"
} >"$WORK/meta.env"

# record TEST CHAIN ROUND VALUE CPU_SECONDS
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

run_iperf() { # CHAIN ROUND DIRECTION(fwd|rev)
	local c0 c1 gbps pids
	pids=$(pids_of "$1")
	c0=$(cpu_sum $pids)
	iperf_client "$(port_of "$1" iperf)" "$3"
	c1=$(cpu_sum $pids)
	gbps=$(iperf_gbps)
	log "iperf3 $3 via $1: $gbps Gbit/s"
	record "iperf_$3" "$1" "$2" "$gbps" "$(delta "$c0" "$c1")"
}

run_connrate() { # CHAIN ROUND
	local c0 c1 rps pids
	pids=$(pids_of "$1")
	c0=$(cpu_sum $pids)
	wrk_client "$(port_of "$1" http)" -H "Connection: close"
	c1=$(cpu_sum $pids)
	rps=$(wrk_rps)
	log "wrk new connections via $1: ${rps:-NA}/s $(grep -E 'Socket errors|Non-2xx' "$WORK/wrk.out" | tr -s ' ')"
	record connrate "$1" "$2" "${rps:-NA}" "$(delta "$c0" "$c1")"
}

cat >"$WORK/latency.py" <<'EOF'
"""latency.py ECHO_PORT HTTP_PORT N: round trips on one open connection, then new connections."""
import socket, statistics, sys, time

echo_port, http_port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
msg = b"x" * 64
c = socket.create_connection(("127.0.0.1", echo_port))
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtt = []
for i in range(n + 200):
    t = time.perf_counter()
    c.sendall(msg)
    got = 0
    while got < len(msg):
        got += len(c.recv(65536))
    if i >= 200:  # warm-up
        rtt.append((time.perf_counter() - t) * 1e6)
c.close()
req = b"GET /small.html HTTP/1.0\r\n\r\n"
conn = []
for i in range(max(n // 10, 100)):
    # until the whole answer is in (by Content-Length): some tunnels pass the close on late
    t = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", http_port))
    s.sendall(req)
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep:
            m = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if m and len(body) >= int(m[0].split(b":")[1]):
                break
    conn.append((time.perf_counter() - t) * 1e6)
    s.close()
q = lambda v, p: sorted(v)[min(len(v) - 1, int(len(v) * p))]
print("%.1f %.1f %.1f %.1f" % (statistics.median(rtt), q(rtt, 0.99), statistics.median(conn), q(conn, 0.99)))
EOF

run_latency() { # CHAIN ROUND
	local rtt rtt99 conn conn99
	read -r rtt rtt99 conn conn99 <<<"$(timeout 300 "$PY" "$WORK/latency.py" "$(port_of "$1" echo)" \
		"$(port_of "$1" http)" "$PINGS" 2>"$WORK/latency.err" || echo "NA NA NA NA")"
	log "latency via $1: round trip ${rtt} us (p99 ${rtt99}), new connection ${conn} us (p99 ${conn99})"
	record rtt "$1" "$2" "$rtt" 0
	record rtt99 "$1" "$2" "$rtt99" 0
	record conn_latency "$1" "$2" "$conn" 0
	record conn_latency99 "$1" "$2" "$conn99" 0
}

log "work directory $WORK; chains: $CHAINS; ${TIME}s runs, $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
	for c in $(rotate "$r" $CHAINS); do
		run_iperf "$c" "$r" fwd
		run_iperf "$c" "$r" rev
		run_latency "$c" "$r"
	done
done
# last: it leaves sockets in TIME_WAIT
for r in $(seq 1 "$ROUNDS"); do
	for c in $(rotate "$r" $CHAINS); do
		run_connrate "$c" "$r"
		sleep 2
	done
done

# ---- the report: replace the "## Relay" section of $OUT ----

"$PY" - "$WORK/meta.env" "$RESULTS" "$OUT" <<'EOF'
import statistics, sys
from benchlib import fmt as f, load_meta, ratio, splice

meta = load_meta(sys.argv[1])
rows = {}
for line in open(sys.argv[2]):
    test, chain, rnd, value, cpu = line.rstrip("\n").split("\t")
    try:
        rows.setdefault((test, chain), []).append((float(value), float(cpu)))
    except ValueError:
        pass
chains = meta["chains"].split()
names = {"direct": "direct (no hop)", "portway": "portway relay", "portway-tls": "portway relay+tls",
         "portway-rtcp": "portway rtcp (BIND, smux)",
         "ss": "shadowsocks-libev chacha20-ietf-poly1305", "v2ray": "v2ray VLESS"}


def med(test, chain):
    v = [x for x, _ in rows.get((test, chain), [])]
    return statistics.median(v) if v else None


def cpu(test, chain):
    v = [c for _, c in rows.get((test, chain), [])]
    return statistics.median(v) if v else None


out = ["## Relay", "",
       "One relay hop (`portway -L tcp://... -F relay://...` in front of `portway -L relay://...`) against "
       "two-process shadowsocks-libev (ss-tunnel + ss-server) and v2ray (dokodemo-door + VLESS) chains, "
       "all on loopback, from one run of `bench/relay.sh` (%s rounds of %s s, medians). "
       "*portway rtcp* is the same hop used the other way round: remote forwarding, the connections "
       "arriving at the port a BIND opened on the relay and coming back over one smux session. "
       "relay and VLESS carry the bytes in the clear; shadowsocks and relay+tls encrypt." % (meta["rounds"], meta["time"]),
       "",
       "Machine: %s, %s cores, Linux %s, load %s at the start, %s. %s; %s; %s; %s." % (
           meta["cpu"], meta["nproc"], meta["kernel"], meta["load"], meta["date"], meta["portway"], meta["ss"] or "no ss",
           meta["v2ray"] or "no v2ray", meta["iperf3"]),
       "",
       "| chain | iperf3 Gbit/s | -R Gbit/s | CPU s per run (both processes) | new connections/s | vs portway (conn/s) |",
       "|---|---|---|---|---|---|"]
pw_conn = med("connrate", "portway")
for c in chains:
    out.append("| %s | %s | %s | %s | %s | %s |" % (
        names.get(c, c), f(med("iperf_fwd", c)), f(med("iperf_rev", c)),
        "-" if c == "direct" else f(cpu("iperf_fwd", c)), f(med("connrate", c)),
        ratio(med("connrate", c), pw_conn)))
out += ["",
        "Latency: the round trip of a 64-byte message on an open connection (%s samples) and a new "
        "connection's first answer (HTTP/1.0 to nginx), in microseconds; *added* is the chain minus direct." % meta["pings"],
        "",
        "| chain | round trip median | p99 | added | new connection median | p99 | added |",
        "|---|---|---|---|---|---|---|"]
d_rtt, d_conn = med("rtt", "direct"), med("conn_latency", "direct")
for c in chains:
    rtt, conn = med("rtt", c), med("conn_latency", c)
    out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
        names.get(c, c), f(rtt, 1), f(med("rtt99", c), 1),
        "-" if c == "direct" or rtt is None or d_rtt is None else f(rtt - d_rtt, 1),
        f(conn, 1), f(med("conn_latency99", c), 1),
        "-" if c == "direct" or conn is None or d_conn is None else f(conn - d_conn, 1)))


def tput(c):
    v = [x for x in (med("iperf_fwd", c), med("iperf_rev", c)) if x is not None]
    return sum(v) / len(v) if v else None


def cpu_per_gbit(c):
    t, k = med("iperf_fwd", c), cpu("iperf_fwd", c)
    return k / t if t and k else None


out += ["", "Relative to portway relay (throughput: mean of both directions; CPU: seconds per Gbit/s "
        "forwarded, both processes):", ""]
for c in chains:
    if c in ("direct", "portway"):
        continue
    out.append("* %s: throughput %s×, CPU per byte %s×, new connections %s×." % (
        names.get(c, c), ratio(tput(c), tput("portway")), ratio(cpu_per_gbit(c), cpu_per_gbit("portway")),
        ratio(med("connrate", c), pw_conn)))
out.append("")
section = "\n".join(out) + "\n"

splice(sys.argv[3], "## Relay", section)
print(section)
EOF
log "wrote the Relay section of $OUT"
