#!/bin/bash
# portway's HTTP proxy (handler http) side by side with tinyproxy, HAProxy and
# v2ray, on loopback, with a markdown summary of medians and ratios at the end.
#
#   bench/http_proxy.sh [--quick] [--out FILE]
#
# Proxies, each on 127.0.0.1:P in front of one local nginx:
#   portway   portway -C (handler http, log level warn)     ($PORTWAY, else build/src/portway)
#   tinyproxy a generated configuration, logging off
#   haproxy   mode http, nbthread 2, absolute-URI requests sent to url_ip:url_port
#             (HAProxy has no CONNECT tunnel: it is left out of c)
#   v2ray     an http inbound and a freedom outbound (Debian's v2ray, if installed)
# and "direct" (nginx without a proxy) as the baseline.
#
# Measures (rounds interleaved; the summary takes medians):
#   a) requests/s, wrk -c 64 -t 2, absolute-URI GETs of a 1 KiB file with keep-alive
#   b) latency of the same runs: wrk's 50th and 99th percentiles
#   c) CONNECT tunnel throughput: curl -p downloading a 1 GiB file through the proxy
#
# Environment: PORTWAY (binary), BENCH_TIME (seconds per wrk run, 10),
# BENCH_ROUNDS (3), BENCH_OUT (write the summary there too).
# --quick: 3 s runs, 1 round (to check the script).
# Every process started here is stopped on exit; every run is bounded by timeout(1).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

TIME=${BENCH_TIME:-10}
ROUNDS=${BENCH_ROUNDS:-3}
OUT=${BENCH_OUT:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) TIME=3; ROUNDS=1 ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
	esac
	shift
done

. bench/lib.sh
need_tools "$PORTWAY" wrk nginx curl
PEERS=""
for p in tinyproxy haproxy v2ray; do
	command -v "$p" >/dev/null && PEERS="$PEERS $p"
done

bench_workdir portway-httpbench

read -r NGINX_PORT PW_PORT TP_PORT HA_PORT V2_PORT <<<"$(free_ports 5)"

# ---- the origin: nginx with a 1 KiB page and a 1 GiB file ----

small_page "portway benchmark "
truncate -s 1G "$WORK/www/big.bin"
start_nginx "$NGINX_PORT" "sendfile on;" "keepalive_requests 1000000;"

# ---- the proxies ----

cat >"$WORK/portway.yaml" <<EOF
log: {level: warn}
workers: 2
services:
- name: http
  addr: 127.0.0.1:$PW_PORT
  handler: {type: http}
EOF
start portway "$PORTWAY" -C "$WORK/portway.yaml"

cat >"$WORK/tinyproxy.conf" <<EOF
Port $TP_PORT
Listen 127.0.0.1
Timeout 600
MaxClients 1024
LogLevel Critical
LogFile "$WORK/tinyproxy-own.log"
PidFile "$WORK/tinyproxy.pid"
ConnectPort $NGINX_PORT
EOF
case " $PEERS " in *" tinyproxy "*) start tinyproxy tinyproxy -d -c "$WORK/tinyproxy.conf" ;; esac

cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 2
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:$HA_PORT
    default_backend be
backend be
    http-request set-dst url_ip
    http-request set-dst-port url_port
    server origin 0.0.0.0:0
EOF
case " $PEERS " in *" haproxy "*) start haproxy haproxy -db -f "$WORK/haproxy.cfg" ;; esac

cat >"$WORK/v2ray.json" <<EOF
{"log": {"loglevel": "none"},
 "inbounds": [{"listen": "127.0.0.1", "port": $V2_PORT, "protocol": "http", "settings": {}}],
 "outbounds": [{"protocol": "freedom", "settings": {}}]}
EOF
case " $PEERS " in *" v2ray "*) start v2ray v2ray -config "$WORK/v2ray.json" ;; esac

TARGETS="direct portway$PEERS"
port_of() {
	case "$1" in
	direct) echo "$NGINX_PORT" ;; portway) echo "$PW_PORT" ;; tinyproxy) echo "$TP_PORT" ;;
	haproxy) echo "$HA_PORT" ;; v2ray) echo "$V2_PORT" ;;
	esac
}
for t in $TARGETS; do
	wait_port "$(port_of "$t")"
done
SMALL=http://127.0.0.1:$NGINX_PORT/small.html
for t in portway$PEERS; do
	if ! timeout 10 curl -fsS -x "http://127.0.0.1:$(port_of "$t")" "$SMALL" -o /dev/null; then
		fail "nginx through $t does not answer"
	fi
done

# wrk sends the path as given: an absolute URI makes it a proxy request; Host names the
# origin, as browsers send it (HAProxy refuses a Host that differs from the URI).
cat >"$WORK/proxy.lua" <<EOF
wrk.path = "$SMALL"
wrk.headers["Host"] = "127.0.0.1:$NGINX_PORT"
EOF

{
	meta_machine
	meta_versions $PEERS nginx wrk
	echo "time=$TIME"
	echo "rounds=$ROUNDS"
} >"$WORK/meta.env"

record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; } # TEST TARGET ROUND VALUE

run_wrk() { # TARGET ROUND
	local port rps p50 p99 errs args=()
	port=$(port_of "$1")
	[ "$1" = direct ] || args=(-s "$WORK/proxy.lua")
	wrk_client "$port" --latency "${args[@]}"
	rps=$(wrk_rps)
	p50=$(wrk_ms 50%)
	p99=$(wrk_ms 99%)
	errs=$(wrk_errors)
	log "wrk via $1: ${rps:-NA} req/s, p50 ${p50} ms, p99 ${p99} ms ${errs}"
	record rps "$1" "$2" "${rps:-NA}"
	record p50 "$1" "$2" "$p50"
	record p99 "$1" "$2" "$p99"
}

run_connect() { # TARGET ROUND
	local port args=() bps
	port=$(port_of "$1")
	[ "$1" = direct ] || args=(-p -x "http://127.0.0.1:$port")
	bps=$(timeout 120 curl -sS "${args[@]}" "http://127.0.0.1:$NGINX_PORT/big.bin" -o /dev/null \
		-w '%{speed_download}' 2>"$WORK/curl.err")
	bps=$(awk -v b="${bps:-0}" 'BEGIN { if (b > 0) printf "%.2f", b * 8 / 1e9; else print "NA" }')
	log "CONNECT download via $1: $bps Gbit/s $(head -c 200 "$WORK/curl.err")"
	record connect "$1" "$2" "$bps"
}

log "work directory $WORK; ${TIME}s runs, $ROUNDS rounds; targets: $TARGETS"
for r in $(seq 1 "$ROUNDS"); do
	for t in $(rotate "$r" $TARGETS); do
		run_wrk "$t" "$r"
	done
done
for r in $(seq 1 "$ROUNDS"); do
	for t in $(rotate "$r" $TARGETS); do
		[ "$t" = haproxy ] && continue
		run_connect "$t" "$r"
	done
done

"$PY" - "$WORK/meta.env" "$RESULTS" >"$WORK/summary.md" <<'EOF'
import statistics, sys
from benchlib import load_meta
meta = load_meta(sys.argv[1])
rows = {}
for line in open(sys.argv[2]):
    test, target, _, value = line.rstrip("\n").split("\t")
    try:
        rows.setdefault((test, target), []).append(float(value))
    except ValueError:
        pass
med = lambda t, x: statistics.median(rows[(t, x)]) if rows.get((t, x)) else None
targets = []
for t, x in rows:
    if x not in targets:
        targets.append(x)
def fmt(v, nd=0):
    return "n/a" if v is None else f"{v:,.{nd}f}"
def ratio(a, b, inverse=False):
    if a is None or b is None or a == 0 or b == 0:
        return "n/a"
    return f"{(b / a if inverse else a / b):.2f}x"
print(f"HTTP proxy benchmark, {meta.get('date')}, {meta.get('nproc')} CPUs ({meta.get('cpu')}), "
      f"{meta.get('time')} s runs, median of {meta.get('rounds')} rounds.")
print()
print("| via | requests/s | p50 ms | p99 ms | CONNECT download Gbit/s | portway's rps / this | portway's CONNECT / this |")
print("|---|---:|---:|---:|---:|---:|---:|")
pr, pc = med("rps", "portway"), med("connect", "portway")
for x in targets:
    print(f"| {x} | {fmt(med('rps', x))} | {fmt(med('p50', x), 3)} | {fmt(med('p99', x), 3)} | "
          f"{fmt(med('connect', x), 2)} | {ratio(pr, med('rps', x)) if x != 'portway' else ''} | "
          f"{ratio(pc, med('connect', x)) if x != 'portway' else ''} |")
print()
for k in ("portway", "tinyproxy", "haproxy", "v2ray", "nginx", "wrk"):
    if k in meta:
        print(f"- {k}: {meta[k]}")
EOF
cat "$WORK/summary.md"
if [ -n "$OUT" ]; then
	mkdir -p "$(dirname "$OUT")"
	cp "$WORK/summary.md" "$OUT"
	log "wrote $OUT"
fi
