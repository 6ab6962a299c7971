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

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
PORTWAY=${PORTWAY:-$ROOT/build/src/portway}
for tool in "$PORTWAY" wrk nginx curl; do
	if ! command -v "$tool" >/dev/null; then
		echo "http_proxy.sh: $tool not found (scripts/setup.sh installs and builds everything)" >&2
		exit 1
	fi
done
PEERS=""
for p in tinyproxy haproxy v2ray; do
	command -v "$p" >/dev/null && PEERS="$PEERS $p"
done

WORK=$(mktemp -d /tmp/portway-httpbench.XXXXXX)
chmod 755 "$WORK"
RESULTS=$WORK/results.tsv
: >"$RESULTS"
PIDS=()

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	sleep 0.3
	for pid in "${PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	if [ -n "${KEEP_WORK:-}" ]; then
		log "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # NAME CMD...: in the background, output in $WORK/NAME.log
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=("$!")
}

wait_port() {
	local port=$1 i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "http_proxy.sh: nothing listens on 127.0.0.1:$port; logs in $WORK" >&2
	KEEP_WORK=1
	exit 1
}

read -r NGINX_PORT PW_PORT TP_PORT HA_PORT V2_PORT <<<"$("$PY" - <<'EOF'
import socket
socks = []
for _ in range(5):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)"

# ---- the origin: nginx with a 1 KiB page and a 1 GiB file ----

mkdir -p "$WORK/www" "$WORK/nginx-tmp"
"$PY" -c 'import sys; sys.stdout.write(("portway benchmark " * 64)[:1023] + "\n")' >"$WORK/www/small.html"
truncate -s 1G "$WORK/www/big.bin"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx-tmp;
    proxy_temp_path $WORK/nginx-tmp;
    fastcgi_temp_path $WORK/nginx-tmp;
    uwsgi_temp_path $WORK/nginx-tmp;
    scgi_temp_path $WORK/nginx-tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        root $WORK/www;
    }
}
EOF
start nginx nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf"

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
		echo "http_proxy.sh: nginx through $t does not answer; logs in $WORK" >&2
		KEEP_WORK=1
		exit 1
	fi
done

# wrk sends the path as given: an absolute URI makes it a proxy request; Host names the
# origin, as browsers send it (HAProxy refuses a Host that differs from the URI).
cat >"$WORK/proxy.lua" <<EOF
wrk.path = "$SMALL"
wrk.headers["Host"] = "127.0.0.1:$NGINX_PORT"
EOF

{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc=$(nproc)"
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "portway=$("$PORTWAY" -V 2>&1 | head -1) ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
	command -v tinyproxy >/dev/null && echo "tinyproxy=$(tinyproxy -v 2>&1 | head -1)"
	command -v haproxy >/dev/null && echo "haproxy=$(haproxy -v 2>&1 | head -1 | sed 's/ - https.*//')"
	command -v v2ray >/dev/null && echo "v2ray=$(v2ray -version 2>&1 | head -1)"
	echo "nginx=$(nginx -v 2>&1 | head -1 | sed 's/.*: //')"
	echo "wrk=$(wrk --version 2>&1 | head -1 | sed 's/ Copyright.*//')"
	echo "time=$TIME"
	echo "rounds=$ROUNDS"
} >"$WORK/meta.env"

record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; } # TEST TARGET ROUND VALUE

ms() { # wrk latency ("1.23ms", "850.00us", "1.02s") -> milliseconds
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else print "NA" }'
}

run_wrk() { # TARGET ROUND
	local port rps p50 p99 errs args=()
	port=$(port_of "$1")
	[ "$1" = direct ] || args=(-s "$WORK/proxy.lua")
	timeout $((TIME + 30)) wrk -c 64 -t 2 -d "${TIME}s" --latency "${args[@]}" \
		"http://127.0.0.1:$port/small.html" >"$WORK/wrk.out" 2>&1
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.out")
	p50=$(ms "$(awk '$1 == "50%" {print $2}' "$WORK/wrk.out")")
	p99=$(ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")")
	errs=$(grep -E 'Socket errors|Non-2xx' "$WORK/wrk.out" | tr -s ' ' | tr '\n' ';')
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

rotate() { # ROUND: every target first once in a while
	local list=($TARGETS) n i
	n=${#list[@]}
	for i in $(seq 0 $((n - 1))); do
		echo "${list[$(((i + $1) % n))]}"
	done
}

log "work directory $WORK; ${TIME}s runs, $ROUNDS rounds; targets: $TARGETS"
for r in $(seq 1 "$ROUNDS"); do
	for t in $(rotate "$r"); do
		run_wrk "$t" "$r"
	done
done
for r in $(seq 1 "$ROUNDS"); do
	for t in $(rotate "$r"); do
		[ "$t" = haproxy ] && continue
		run_connect "$t" "$r"
	done
done

"$PY" - "$WORK/meta.env" "$RESULTS" >"$WORK/summary.md" <<'EOF'
import statistics, sys
meta = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[1]) if "=" in l)
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
