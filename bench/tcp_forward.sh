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

. bench/lib.sh
need_tools "$PORTWAY" iperf3 wrk nginx haproxy socat

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

bench_workdir portway-bench

read -r IPERF_PORT NGINX_PORT IDLE_BACK \
	PW_IPERF PW_HTTP SO_IPERF SO_HTTP HA_IPERF HA_HTTP PW_IDLE SO_IDLE HA_IDLE HS_IPERF <<<"$(free_ports 13)"

# ---- backends ----

start iperf3 iperf3 -s -p "$IPERF_PORT" --idle-timeout 60
IPERF_PID=$LASTPID

small_page "portway benchmark "
start_nginx "$NGINX_PORT" "keepalive_requests 1000000;"

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
timeout 10 curl -fsS "http://127.0.0.1:$PW_HTTP/small.html" -o /dev/null ||
	fail "nginx through portway does not answer"

# ---- the machine and the programs ----

{
	meta_machine
	echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "nice=$(ps -o ni= -p $$ | tr -d ' ')"
	meta_versions haproxy socat iperf3 nginx wrk
	echo "time=$TIME"
	echo "rounds=$ROUNDS"
	echo "idle=$IDLE"
} >"$WORK/meta.env"

# record TEST TARGET ROUND VALUE CPU_SECONDS NOTE
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

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
	local port pid c0 c1 gbps
	read -r port pid <<<"$(endpoint "$1" iperf)"
	c0=$(cpu_sum "$pid")
	iperf_client "$port" "$3"
	sleep 0.5 # socat reaps its child: its CPU time lands in cutime
	c1=$(cpu_sum "$pid")
	gbps=$(iperf_gbps)
	log "iperf3 $3 via $1: $gbps Gbit/s"
	record "iperf_$3" "$1" "$2" "$gbps" "$(delta "$c0" "$c1")" ""
}

run_wrk() { # TEST(http|connrate) TARGET ROUND
	local port pid c0 c1 rps errs hdr=()
	read -r port pid <<<"$(endpoint "$2" http)"
	[ "$1" = connrate ] && hdr=(-H "Connection: close")
	c0=$(cpu_sum "$pid")
	wrk_client "$port" "${hdr[@]}"
	sleep 0.5
	c1=$(cpu_sum "$pid")
	rps=$(wrk_rps)
	errs=$(wrk_errors)
	log "wrk $1 via $2: ${rps:-NA} req/s ${errs}"
	record "$1" "$2" "$3" "${rps:-NA}" "$(delta "$c0" "$c1")" "$errs"
}

log "work directory $WORK; ${TIME}s runs, $ROUNDS rounds, $IDLE idle connections"
for r in $(seq 1 "$ROUNDS"); do
	for t in $(rotate "$r" direct portway haproxy haproxy-splice socat); do
		run_iperf "$t" "$r" fwd
		run_iperf "$t" "$r" rev
	done
done
for r in $(seq 1 "$ROUNDS"); do
	for t in $(rotate "$r" direct portway haproxy socat); do
		run_wrk http "$t" "$r"
	done
done

# ---- d) idle connections: a fresh forwarder each, alone ----

stop_pids "$PW_PID" "$SO_IPERF_PID" "$SO_HTTP_PID" "$HA_PID" "$HS_PID"

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
		stop_pids "$cpid"
		stop_pids "$pid"
		return
	fi
	sleep 2
	during=$("$PY" "$ROOT/bench/procstat.py" mem "$pid")
	stop_pids "$cpid"
	sleep 3
	after=$("$PY" "$ROOT/bench/procstat.py" mem "$pid")
	stop_pids "$pid"
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
	for t in $(rotate "$r" direct portway haproxy socat); do
		run_wrk connrate "$t" "$r"
	done
done

echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/meta.env"
mkdir -p "$(dirname "$OUT")"
"$PY" "$ROOT/bench/report.py" "$WORK/meta.env" "$RESULTS" "$OUT" || exit 1
log "wrote the TCP port forwarding section of $OUT"
