#!/bin/bash
# portway's TCP port forward side by side with socat and HAProxy, on loopback,
# in one run; the "TCP port forwarding" section of doc/benchmarks.md is
# written from it (the other sections, from the other bench/ scripts, stay).
#
#   bench/tcp_forward.sh [--quick] [--out FILE]
#
# Forwarders, each 127.0.0.1:P -> 127.0.0.1:T:
#   portway  portway -L tcp://127.0.0.1:P/127.0.0.1:T      ($PORTWAY, else build/src/portway)
#   socat    socat TCP-LISTEN:P,fork,reuseaddr,bind=127.0.0.1 TCP:127.0.0.1:T
#   haproxy  mode tcp, nbthread 2, a generated configuration
# and "direct" (no forwarder) as the baseline where it makes sense. For the
# throughput runs a second HAProxy with splice-request/splice-response (its
# kernel splicing, off by default) is measured too, as portway splices.
#
# Measures (rounds interleaved across forwarders; the report takes medians):
#   a) single-stream throughput, iperf3, client->server and -R
#   b) HTTP requests/s to nginx (own instance, 1 KiB static file), wrk -c 64 -t 2
#   c) new connections/s: the same wrk run with "Connection: close", so every
#      request is a new TCP connection through the forwarder
#   d) memory of each forwarder holding N idle forwarded connections
#      (bench/idle_conns.py client and server, separate processes)
#
# Environment: PORTWAY (binary), BENCH_TIME (seconds per run, 10),
# BENCH_ROUNDS (3), BENCH_IDLE (idle connections, 9500), BENCH_OUT,
# BENCH_NICE (-10: the priority of the whole run when started as root).
# --quick: 3 s runs, 1 round, 1000 idle connections (to check the script).
#
# Every process started here is stopped on exit; every run is bounded by timeout(1).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

TIME=${BENCH_TIME:-10}
ROUNDS=${BENCH_ROUNDS:-3}
IDLE=${BENCH_IDLE:-9500}
OUT=${BENCH_OUT:-$ROOT/doc/benchmarks.md}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) TIME=3; ROUNDS=1; IDLE=1000 ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
	esac
	shift
done

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
PORTWAY=${PORTWAY:-$ROOT/build/src/portway}
for tool in "$PORTWAY" iperf3 wrk nginx haproxy socat; do
	if ! command -v "$tool" >/dev/null; then
		echo "tcp_forward.sh: $tool not found (scripts/setup.sh installs and builds everything)" >&2
		exit 1
	fi
done

# Each forwarded connection costs 2 descriptors in the forwarder, and the
# idle client and backend need IDLE each: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((2 * IDLE + 200)) ]; then
	echo "tcp_forward.sh: open-file limit $(ulimit -n) is too low for $IDLE idle connections" >&2
	exit 1
fi

# Other work on a shared machine disturbs less at a higher priority; every
# process measured here (forwarders, clients, servers) inherits the same one.
NICE=${BENCH_NICE:--10}
[ "$(id -u)" = 0 ] && [ "$NICE" != 0 ] && renice -n "$NICE" -p $$ >/dev/null

WORK=$(mktemp -d /tmp/portway-bench.XXXXXX)
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
	sleep 0.5
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

# start NAME CMD...: in the background, output in $WORK/NAME.log; sets LASTPID.
start() {
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	LASTPID=$!
	PIDS+=("$LASTPID")
}

stop() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

wait_port() {
	local port=$1 i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "tcp_forward.sh: nothing listens on 127.0.0.1:$port; logs in $WORK" >&2
	KEEP_WORK=1
	exit 1
}

free_ports() {
	"$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

read -r IPERF_PORT NGINX_PORT IDLE_BACK \
	PW_IPERF PW_HTTP SO_IPERF SO_HTTP HA_IPERF HA_HTTP PW_IDLE SO_IDLE HA_IDLE HS_IPERF <<<"$(free_ports 13)"

# ---- backends ----

start iperf3 iperf3 -s -p "$IPERF_PORT" --idle-timeout 60
IPERF_PID=$LASTPID

mkdir -p "$WORK/www" "$WORK/nginx-tmp"
"$PY" -c 'import sys; sys.stdout.write(("portway benchmark " * 64)[:1023] + "\n")' >"$WORK/www/small.html"
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
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

start idle-backend "$PY" "$ROOT/bench/idle_conns.py" server "$IDLE_BACK"

# ---- forwarders (for a, b, c) ----

start portway "$PORTWAY" -L "tcp://127.0.0.1:$PW_IPERF/127.0.0.1:$IPERF_PORT" \
	-L "tcp://127.0.0.1:$PW_HTTP/127.0.0.1:$NGINX_PORT"
PW_PID=$LASTPID
start socat-iperf socat "TCP-LISTEN:$SO_IPERF,fork,reuseaddr,bind=127.0.0.1" "TCP:127.0.0.1:$IPERF_PORT"
SO_IPERF_PID=$LASTPID
start socat-http socat "TCP-LISTEN:$SO_HTTP,fork,reuseaddr,bind=127.0.0.1" "TCP:127.0.0.1:$NGINX_PORT"
SO_HTTP_PID=$LASTPID

haproxy_cfg() { # FILE [--splice] then pairs of LISTEN TARGET
	local file=$1 i=0 splice="" maxconn=$((IDLE + 300))
	shift
	if [ "$1" = --splice ]; then
		# Throughput only; splicing reserves descriptors for pipes (maxconn/4 of them).
		splice=$'    option splice-request\n    option splice-response'
		maxconn=1000
		shift
	fi
	cat >"$file" <<EOF
global
    nbthread 2
    maxconn $maxconn
defaults
    mode tcp
$splice
    maxconn $maxconn
    timeout connect 5s
    timeout client 10m
    timeout server 10m
EOF
	while [ $# -gt 0 ]; do
		cat >>"$file" <<EOF
frontend fe$i
    bind 127.0.0.1:$1
    default_backend be$i
backend be$i
    server s$i 127.0.0.1:$2 maxconn $maxconn
EOF
		shift 2
		i=$((i + 1))
	done
}
haproxy_cfg "$WORK/haproxy.cfg" "$HA_IPERF" "$IPERF_PORT" "$HA_HTTP" "$NGINX_PORT"
start haproxy haproxy -db -f "$WORK/haproxy.cfg"
HA_PID=$LASTPID
haproxy_cfg "$WORK/haproxy-splice.cfg" --splice "$HS_IPERF" "$IPERF_PORT"
start haproxy-splice haproxy -db -f "$WORK/haproxy-splice.cfg"
HS_PID=$LASTPID

for p in "$IPERF_PORT" "$NGINX_PORT" "$IDLE_BACK" "$PW_IPERF" "$PW_HTTP" "$SO_IPERF" "$SO_HTTP" "$HA_IPERF" "$HA_HTTP" "$HS_IPERF"; do
	wait_port "$p"
done
timeout 10 curl -fsS "http://127.0.0.1:$PW_HTTP/small.html" -o /dev/null || {
	echo "tcp_forward.sh: nginx through portway does not answer; logs in $WORK" >&2
	KEEP_WORK=1
	exit 1
}

# ---- the machine and the programs ----

{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc=$(nproc)"
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "kernel=$(uname -r)"
	echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "nice=$(ps -o ni= -p $$ | tr -d ' ')"
	echo "portway=$("$PORTWAY" -V 2>&1 | head -1) ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
	echo "haproxy=$(haproxy -v 2>&1 | head -1 | sed 's/ - https.*//')"
	echo "socat=$(socat -V 2>&1 | grep -m1 'socat version' | sed 's/ on .*//')"
	echo "iperf3=$(iperf3 --version 2>&1 | head -1)"
	echo "nginx=$(nginx -v 2>&1 | head -1 | sed 's/.*: //')"
	echo "wrk=$(wrk --version 2>&1 | head -1 | sed 's/ Copyright.*//')"
	echo "time=$TIME"
	echo "rounds=$ROUNDS"
	echo "idle=$IDLE"
} >"$WORK/meta.env"

# record TEST TARGET ROUND VALUE CPU_SECONDS NOTE
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

cpu_of() { [ -n "$1" ] && "$PY" "$ROOT/bench/procstat.py" cpu "$1" || echo 0; }

# TARGET -> "port pid" for a test kind (iperf, http)
endpoint() {
	case "$1:$2" in
	direct:iperf) echo "$IPERF_PORT -" ;;
	portway:iperf) echo "$PW_IPERF $PW_PID" ;;
	socat:iperf) echo "$SO_IPERF $SO_IPERF_PID" ;;
	haproxy:iperf) echo "$HA_IPERF $HA_PID" ;;
	haproxy-splice:iperf) echo "$HS_IPERF $HS_PID" ;;
	direct:http) echo "$NGINX_PORT -" ;;
	portway:http) echo "$PW_HTTP $PW_PID" ;;
	socat:http) echo "$SO_HTTP $SO_HTTP_PID" ;;
	haproxy:http) echo "$HA_HTTP $HA_PID" ;;
	esac
}

run_iperf() { # TARGET ROUND DIRECTION(fwd|rev)
	local port pid c0 c1 gbps rflag=""
	read -r port pid <<<"$(endpoint "$1" iperf)"
	[ "$pid" = - ] && pid=""
	[ "$3" = rev ] && rflag=-R
	c0=$(cpu_of "$pid")
	timeout $((TIME + 30)) iperf3 -c 127.0.0.1 -p "$port" -t "$TIME" -O 1 -J $rflag >"$WORK/iperf.json" 2>&1
	sleep 0.5 # socat reaps its child: its CPU time lands in cutime
	c1=$(cpu_of "$pid")
	gbps=$("$PY" -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception:
    print("NA")' "$WORK/iperf.json")
	log "iperf3 $3 via $1: $gbps Gbit/s"
	record "iperf_$3" "$1" "$2" "$gbps" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')" ""
}

run_wrk() { # TEST(http|connrate) TARGET ROUND
	local port pid c0 c1 rps errs hdr=()
	read -r port pid <<<"$(endpoint "$2" http)"
	[ "$pid" = - ] && pid=""
	[ "$1" = connrate ] && hdr=(-H "Connection: close")
	c0=$(cpu_of "$pid")
	timeout $((TIME + 30)) wrk -c 64 -t 2 -d "${TIME}s" "${hdr[@]}" "http://127.0.0.1:$port/small.html" >"$WORK/wrk.out" 2>&1
	sleep 0.5
	c1=$(cpu_of "$pid")
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.out")
	errs=$(grep -E 'Socket errors|Non-2xx' "$WORK/wrk.out" | tr -s ' ' | tr '\n' ';')
	log "wrk $1 via $2: ${rps:-NA} req/s ${errs}"
	record "$1" "$2" "$3" "${rps:-NA}" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')" "$errs"
}

order() { # ROUND TARGET...: rotated each round so no one always runs first
	local r=$1 i
	shift
	local list=("$@") n=$#
	for i in $(seq 0 $((n - 1))); do
		echo "${list[$(((i + r) % n))]}"
	done
}

log "work directory $WORK; ${TIME}s runs, $ROUNDS rounds, $IDLE idle connections"
for r in $(seq 1 "$ROUNDS"); do
	for t in $(order "$r" direct portway haproxy haproxy-splice socat); do
		run_iperf "$t" "$r" fwd
		run_iperf "$t" "$r" rev
	done
done
for r in $(seq 1 "$ROUNDS"); do
	for t in $(order "$r" direct portway haproxy socat); do
		run_wrk http "$t" "$r"
	done
done

# ---- d) idle connections: a fresh forwarder each, alone ----

stop "$PW_PID"
stop "$SO_IPERF_PID"
stop "$SO_HTTP_PID"
stop "$HA_PID"
stop "$HS_PID"

idle_test() { # TARGET
	local t=$1 port pid before during after rss pss n
	case "$t" in
	portway)
		port=$PW_IDLE
		start portway-idle "$PORTWAY" -L "tcp://127.0.0.1:$port/127.0.0.1:$IDLE_BACK"
		;;
	socat)
		port=$SO_IDLE
		start socat-idle socat "TCP-LISTEN:$port,fork,reuseaddr,bind=127.0.0.1" "TCP:127.0.0.1:$IDLE_BACK"
		;;
	haproxy)
		port=$HA_IDLE
		haproxy_cfg "$WORK/haproxy-idle.cfg" "$port" "$IDLE_BACK"
		start haproxy-idle haproxy -db -f "$WORK/haproxy-idle.cfg"
		;;
	esac
	pid=$LASTPID
	wait_port "$port"
	sleep 1
	before=$("$PY" "$ROOT/bench/procstat.py" mem "$pid")
	# Few connects in flight at a time: socat listens with a backlog of 5.
	start "idle-client-$t" timeout 300 "$PY" "$ROOT/bench/idle_conns.py" client "$port" "$IDLE" --concurrency 8 --budget 240
	local cpid=$LASTPID i ok=0
	for i in $(seq 2500); do
		if grep -q '^ready' "$WORK/idle-client-$t.log"; then
			ok=1
			break
		fi
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	if [ $ok = 0 ]; then
		log "idle via $t: $(cat "$WORK/idle-client-$t.log")"
		record idle_rss "$t" 1 NA 0 "client failed"
		stop "$cpid"
		stop "$pid"
		return
	fi
	sleep 2
	during=$("$PY" "$ROOT/bench/procstat.py" mem "$pid")
	stop "$cpid"
	sleep 3
	after=$("$PY" "$ROOT/bench/procstat.py" mem "$pid")
	stop "$pid"
	read -r rss pss n <<<"$during"
	log "idle via $t: before [$before] with $IDLE [$during] after close [$after] (RSS KiB, PSS KiB, processes); $(cat "$WORK/idle-client-$t.log")"
	record idle_rss "$t" 1 "$rss" 0 "$n"
	record idle_pss "$t" 1 "$pss" 0 "$n"
	record idle_rss_before "$t" 1 "${before%% *}" 0 ""
	record idle_rss_after "$t" 1 "${after%% *}" 0 ""
}

for t in portway haproxy socat; do
	idle_test "$t"
done

# ---- c) new connections per second (last: it leaves sockets in TIME_WAIT) ----

start portway "$PORTWAY" -L "tcp://127.0.0.1:$PW_HTTP/127.0.0.1:$NGINX_PORT"
PW_PID=$LASTPID
start socat-http socat "TCP-LISTEN:$SO_HTTP,fork,reuseaddr,bind=127.0.0.1" "TCP:127.0.0.1:$NGINX_PORT"
SO_HTTP_PID=$LASTPID
haproxy_cfg "$WORK/haproxy.cfg" "$HA_HTTP" "$NGINX_PORT"
start haproxy haproxy -db -f "$WORK/haproxy.cfg"
HA_PID=$LASTPID
for p in "$PW_HTTP" "$SO_HTTP" "$HA_HTTP"; do
	wait_port "$p"
done
for r in $(seq 1 "$ROUNDS"); do
	for t in $(order "$r" direct portway haproxy socat); do
		run_wrk connrate "$t" "$r"
	done
done

echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/meta.env"
mkdir -p "$(dirname "$OUT")"
"$PY" "$ROOT/bench/report.py" "$WORK/meta.env" "$RESULTS" "$OUT" || exit 1
log "wrote the TCP port forwarding section of $OUT"
