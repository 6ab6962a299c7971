#!/bin/bash
# The Onifast-compatible gateway (handler gateway, agent listener) on loopback:
# HTTP through the web port (4053) to nginx behind an agent, side by side with
# nginx direct and with HAProxy in front of nginx; then one gateway holding
# the idle worker WebSockets of many agents. A markdown summary at the end.
#
#   bench/gateway.sh [--quick] [--out FILE] [--doc FILE]
#
# a) requests/s, p50 and p99 (wrk -c 64 -t 2 -d 10s --latency, GETs of a 1 KiB
#    static file, keep-alive), rounds interleaved, medians:
#      direct     nginx itself (worker_processes 1)
#      gateway    wrk -> gateway web port (Host: site.bench.test) -> a relay
#                 worker WebSocket -> the agent -> nginx; the agent keeps
#                 BENCH_RELAY_WORKERS (100) idle relay workers, as every
#                 keep-alive client connection holds one worker for its life
#      haproxy-1t HAProxy, mode http, nbthread 1, in front of nginx
#      haproxy-2t the same with nbthread 2
#    (Debian has no frp or chisel package, so no reverse-tunnel peer: HAProxy
#    is the reference for "one proxy hop in front of nginx".) The CPU seconds
#    the gateway and the agent used during each gateway run are recorded too.
#    The same with "Connection: close" for direct, gateway and haproxy-1t:
#    every request a new connection, so through the gateway every request
#    takes a fresh worker; the gateway answers 502 when its pool is empty,
#    and requests/s count 2xx answers only.
# b) one gateway holding BENCH_AGENTS (500) agents with BENCH_AGENT_WORKERS (10)
#    idle relay workers each, in BENCH_AGENT_PROCS (20) agent processes (each a
#    portway with BENCH_AGENTS/BENCH_AGENT_PROCS agent services; every agent
#    service is its own tunnel with its own secret, added with
#    `portway tunnel add`). A fresh gateway: its RSS (VmRSS) and descriptors
#    before the agents and with every worker connected, its CPU (utime+stime)
#    over BENCH_IDLE_TIME (30) seconds of idle (pings included: the gateway
#    pings each idle worker every 30 s), the same per idle worker; then a)'s
#    gateway runs again with all those workers held, alternating with runs
#    through a)'s gateway (same machine load, no extra workers); then the
#    agents are stopped and the gateway must drop back to its descriptors.
#
# Environment: PORTWAY (binary, else build/src/portway), BENCH_TIME (10),
# BENCH_ROUNDS (5), BENCH_AGENTS, BENCH_AGENT_WORKERS, BENCH_AGENT_PROCS,
# BENCH_IDLE_TIME, BENCH_RELAY_WORKERS (above), BENCH_OUT (write the summary
# there too), KEEP_WORK=1 (keep the work directory with every log).
# --quick: 3 s runs, 1 round, 50 agents, 5 s idle (to check the script).
# --doc FILE: put the summary into FILE as its "## Gateway" section (replaced
# if there, appended otherwise; other sections are kept).
# Every process started here is stopped on exit; every step is bounded in time.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

TIME=${BENCH_TIME:-10}
ROUNDS=${BENCH_ROUNDS:-5}
AGENTS=${BENCH_AGENTS:-500}
AGENT_WORKERS=${BENCH_AGENT_WORKERS:-10}
AGENT_PROCS=${BENCH_AGENT_PROCS:-20}
IDLE_TIME=${BENCH_IDLE_TIME:-30}
RELAY_WORKERS=${BENCH_RELAY_WORKERS:-100}
OUT=${BENCH_OUT:-}
DOC=
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) TIME=3; ROUNDS=1; AGENTS=50; AGENT_PROCS=5; IDLE_TIME=5 ;;
	--out) OUT=$2; shift ;;
	--doc) DOC=$2; shift ;;
	*) echo "usage: $0 [--quick] [--out FILE] [--doc FILE]" >&2; exit 2 ;;
	esac
	shift
done
[ "$AGENT_PROCS" -gt "$AGENTS" ] && AGENT_PROCS=$AGENTS
IDLE_WORKERS=$((AGENTS * AGENT_WORKERS))

. bench/lib.sh
PSTAT=$ROOT/bench/gateway/pstat.py
need_tools "$PORTWAY" wrk nginx haproxy curl
# The gateway holds one descriptor per idle worker, and so do the agents.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_WORKERS + 1000)) ]; then
	echo "gateway.sh: open-file limit $(ulimit -n) is too low for $IDLE_WORKERS idle workers" >&2
	exit 1
fi

bench_workdir portway-gwbench
DOMAIN=bench.test

status_field() { # CONTROL_PORT FIELD: from the gateway's /status
	timeout 5 curl -s "http://127.0.0.1:$1/status" |
		"$PY" -c 'import json, sys
try:
    print(json.load(sys.stdin)[sys.argv[1]])
except Exception:
    print(-1)' "$2"
}

wait_idle_workers() { # CONTROL_PORT COUNT SECONDS
	local i n=-1
	for i in $(seq $(($3 * 5))); do
		n=$(status_field "$1" idle_workers)
		[ "$n" = "$2" ] && return 0
		sleep 0.2
	done
	fail "the gateway on :$1 holds $n idle workers, not $2, after $3 s"
}

tunnel_add() { # DB NAME -> the secret
	local out
	out=$(timeout 10 "$PORTWAY" tunnel add "$2" --db "$1") || fail "portway tunnel add $2 failed"
	echo "${out##*$'\n'}"
}

record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; } # TEST TARGET ROUND VALUE

read -r NGINX_PORT GW_CTL GW_WEB HA1_PORT HA2_PORT GW2_CTL GW2_WEB <<<"$(free_ports 7)"

# ---- the origin: nginx with a 1 KiB page ----

small_page "portway gateway benchmark "
start_nginx "$NGINX_PORT" "sendfile on;" "keepalive_requests 1000000;"

# ---- HAProxy in front of nginx, 1 and 2 threads ----

HA_PIDS=()
for t in 1 2; do
	port=$HA1_PORT
	[ "$t" = 2 ] && port=$HA2_PORT
	cat >"$WORK/haproxy-$t.cfg" <<EOF
global
    nbthread $t
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:$port
    default_backend be
backend be
    server origin 127.0.0.1:$NGINX_PORT
EOF
	start "haproxy-$t" haproxy -db -f "$WORK/haproxy-$t.cfg"
	HA_PIDS+=("$LASTPID")
done

# ---- gateway A (one tunnel "site") and its agent ----

gateway_config() { # FILE CONTROL_PORT WEB_PORT DB
	cat >"$1" <<EOF
log: {level: warn}
workers: 2
services:
- name: gateway
  addr: 127.0.0.1:$2
  listener: {type: tcp}
  handler:
    type: gateway
    metadata: {webAddr: "127.0.0.1:$3", db: "$4", domains: [$DOMAIN]}
EOF
}

agent_service() { # NAME SUBDOMAIN SECRET CONTROL_PORT RELAY_WORKERS
	cat <<EOF
- name: $1
  addr: 127.0.0.1:$NGINX_PORT
  handler: {type: agent}
  listener:
    type: agent
    metadata: {gateway: "ws://127.0.0.1:$4", subdomain: $2, secret: "$3", relayWorkers: $5, tunnelWorkers: 0}
EOF
}

agent_config() { # FILE, then the services on stdin
	{
		printf 'log: {level: warn}\nworkers: 1\nservices:\n'
		cat
	} >"$1"
}

DB_A=$WORK/gateway-a.db
SITE_SECRET_A=$(tunnel_add "$DB_A" site)
gateway_config "$WORK/gateway-a.yaml" "$GW_CTL" "$GW_WEB" "$DB_A"
"$PORTWAY" -t -C "$WORK/gateway-a.yaml" >/dev/null 2>&1 || fail "gateway-a.yaml does not load"
start gateway-a "$PORTWAY" -C "$WORK/gateway-a.yaml"
GW_A_PID=$LASTPID
agent_service site site "$SITE_SECRET_A" "$GW_CTL" "$RELAY_WORKERS" | agent_config "$WORK/agent-a.yaml"
wait_port "$GW_CTL"
wait_port "$GW_WEB"
start agent-a "$PORTWAY" -C "$WORK/agent-a.yaml"
AGENT_A_PID=$LASTPID
for p in "$NGINX_PORT" "$HA1_PORT" "$HA2_PORT"; do
	wait_port "$p"
done
wait_idle_workers "$GW_CTL" "$RELAY_WORKERS" 20

TARGETS="direct gateway haproxy-1t haproxy-2t"
port_of() {
	case "${1%+close}" in
	direct) echo "$NGINX_PORT" ;; gateway) echo "$GW_WEB" ;;
	haproxy-1t) echo "$HA1_PORT" ;; haproxy-2t) echo "$HA2_PORT" ;;
	gateway-paired) echo "$GW_WEB" ;; gateway-loaded) echo "$GW2_WEB" ;;
	esac
}
for t in $TARGETS; do
	got=$(timeout 10 curl -fsS -H "Host: site.$DOMAIN" "http://127.0.0.1:$(port_of "$t")/small.html") ||
		fail "nginx through $t does not answer"
	[ "$got" = "$(cat "$WORK/www/small.html")" ] || fail "nginx through $t answers something else"
done

{
	meta_machine
	echo "mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	meta_versions haproxy nginx wrk
	echo "peer_note=Debian $(cut -d. -f1 /etc/debian_version 2>/dev/null) has no frp or chisel package (apt-cache policy frps frpc chisel: nothing), so HAProxy in front of nginx is the peer"
	echo "time=$TIME"
	echo "rounds=$ROUNDS"
	echo "agents=$AGENTS"
	echo "agent_workers=$AGENT_WORKERS"
	echo "agent_procs=$AGENT_PROCS"
	echo "idle_time=$IDLE_TIME"
	echo "relay_workers=$RELAY_WORKERS"
	echo "nofile=$(ulimit -Hn)"
} >"$WORK/meta.env"

cpu_of() { "$PY" "$PSTAT" "$@" | awk '{print $2}'; }

# TARGET ROUND [GATEWAY_PID AGENT_PID CONTROL_PORT]: TARGET+close sends
# "Connection: close", so every request is a new connection (and takes a new
# worker through the gateway).
run_wrk() {
	local port rps p50 p99 errs non2xx sock reqs c0 c1 a0 a1 nw0 nw1 extra="" args=()
	port=$(port_of "$1")
	case "$1" in *+close) args=(-H "Connection: close") ;; esac
	if [ $# -gt 2 ]; then
		c0=$(cpu_of "$3")
		a0=$(cpu_of "$4")
		nw0=$(status_field "$5" no_worker)
	fi
	wrk_client "$port" --latency -H "Host: site.$DOMAIN" "${args[@]}"
	{
		echo "=== $1 round $2"
		cat "$WORK/wrk.out"
	} >>"$WORK/wrk-all.out"
	rps=$(wrk_rps)
	reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
	p50=$(wrk_ms 50%)
	p99=$(wrk_ms 99%)
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$WORK/wrk.out")
	sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$WORK/wrk.out")
	errs=$((${non2xx:-0} + ${sock:-0}))
	# requests/s counts 2xx answers only: a 502 is quick and is no service
	[ -n "$rps" ] && [ "${reqs:-0}" -gt 0 ] &&
		rps=$(awk -v r="$rps" -v n="$reqs" -v e="${non2xx:-0}" 'BEGIN {printf "%.2f", r * (n - e) / n}')
	record rps "$1" "$2" "${rps:-NA}"
	record p50 "$1" "$2" "$p50"
	record p99 "$1" "$2" "$p99"
	record errors "$1" "$2" "$errs"
	record non2xx "$1" "$2" "${non2xx:-0}"
	record requests "$1" "$2" "${reqs:-0}"
	if [ $# -gt 2 ]; then
		c1=$(cpu_of "$3")
		a1=$(cpu_of "$4")
		nw1=$(status_field "$5" no_worker)
		record gw_cpu "$1" "$2" "$(delta "$c0" "$c1")"
		record agent_cpu "$1" "$2" "$(delta "$a0" "$a1")"
		record no_worker "$1" "$2" "$((nw1 - nw0))"
		[ -n "$reqs" ] && record gw_us_per_req "$1" "$2" \
			"$(awk -v a="$c0" -v b="$c1" -v n="$reqs" 'BEGIN {printf "%.2f", (b - a) * 1e6 / n}')"
		extra="; gateway CPU $(delta "$c0" "$c1") s, agent CPU $(delta "$a0" "$a1") s, 502 for want of a worker: $((nw1 - nw0))"
	fi
	log "wrk via $1: ${rps:-NA} req/s, p50 $p50 ms, p99 $p99 ms, errors $errs$extra"
}

log "work directory $WORK; ${TIME}s runs, $ROUNDS rounds; targets: $TARGETS (keep-alive), direct gateway haproxy-1t (Connection: close)"
for r in $(seq 1 "$ROUNDS"); do
	for t in $(rotate "$r" $TARGETS); do
		if [ "$t" = gateway ]; then
			run_wrk "$t" "$r" "$GW_A_PID" "$AGENT_A_PID" "$GW_CTL"
		else
			run_wrk "$t" "$r"
		fi
	done
	for t in direct gateway haproxy-1t; do
		if [ "$t" = gateway ]; then
			wait_idle_workers "$GW_CTL" "$RELAY_WORKERS" 10
			run_wrk "$t+close" "$r" "$GW_A_PID" "$AGENT_A_PID" "$GW_CTL"
		else
			run_wrk "$t+close" "$r"
		fi
	done
done
# Gateway A and its agent stay (idle) for the paired runs below.
stop_pids "${HA_PIDS[@]}"

# ---- gateway B: many agents, idle ----

DB_B=$WORK/gateway-b.db
log "adding $AGENTS tunnels with portway tunnel add"
t0=$(date +%s.%N)
SITE_SECRET_B=$(tunnel_add "$DB_B" site)
for i in $(seq 1 "$AGENTS"); do
	echo "$i $(tunnel_add "$DB_B" "t$i")"
done >"$WORK/secrets.txt"
t1=$(date +%s.%N)
record tunnel_add_ms all 1 "$(awk -v a="$t0" -v b="$t1" -v n="$((AGENTS + 1))" 'BEGIN {printf "%.2f", (b - a) * 1000 / n}')"

gateway_config "$WORK/gateway-b.yaml" "$GW2_CTL" "$GW2_WEB" "$DB_B"
start gateway-b "$PORTWAY" -C "$WORK/gateway-b.yaml"
GW_B_PID=$LASTPID
wait_port "$GW2_CTL"
wait_port "$GW2_WEB"
read -r rss _ fds thr <<<"$("$PY" "$PSTAT" "$GW_B_PID")"
record fresh_rss gateway 1 "$rss"
record fresh_fds gateway 1 "$fds"
record threads gateway 1 "$thr"
# The load agent ("site") comes first: the gateway looks pools up in a list,
# newest first, so "site" is the last of AGENTS + 1 pools (the worst case).
agent_service site site "$SITE_SECRET_B" "$GW2_CTL" "$RELAY_WORKERS" | agent_config "$WORK/agent-b.yaml"
start agent-b "$PORTWAY" -C "$WORK/agent-b.yaml"
AGENT_B_SITE=$LASTPID
wait_idle_workers "$GW2_CTL" "$RELAY_WORKERS" 20
sleep 1
read -r rss0 _ fds0 _ <<<"$("$PY" "$PSTAT" "$GW_B_PID")"
record idle_rss_before gateway 1 "$rss0"
record idle_fds_before gateway 1 "$fds0"

# Agents 1..AGENTS spread over AGENT_PROCS processes.
AGENT_B_PIDS=()
t0=$(date +%s.%N)
per=$(((AGENTS + AGENT_PROCS - 1) / AGENT_PROCS))
for p in $(seq 0 $((AGENT_PROCS - 1))); do
	lo=$((p * per + 1))
	hi=$(((p + 1) * per))
	[ "$hi" -gt "$AGENTS" ] && hi=$AGENTS
	[ "$lo" -gt "$hi" ] && continue
	awk -v lo="$lo" -v hi="$hi" '$1 >= lo && $1 <= hi' "$WORK/secrets.txt" | while read -r i secret; do
		agent_service "t$i" "t$i" "$secret" "$GW2_CTL" "$AGENT_WORKERS"
	done | agent_config "$WORK/agents-$p.yaml"
	start "agents-$p" "$PORTWAY" -C "$WORK/agents-$p.yaml"
	AGENT_B_PIDS+=("$LASTPID")
done
ALL_B=$((IDLE_WORKERS + RELAY_WORKERS))
log "${#AGENT_B_PIDS[@]} agent processes, $AGENTS agents, $AGENT_WORKERS relay workers each: waiting for $IDLE_WORKERS more workers"
wait_idle_workers "$GW2_CTL" "$ALL_B" 120
t1=$(date +%s.%N)
record connect_all_s all 1 "$(delta "$t0" "$t1")"
sleep 3
# Idle: nothing but the gateway's pings (every 30 s per worker) and their pongs.
read -r rss1 c0 fds1 _ <<<"$("$PY" "$PSTAT" "$GW_B_PID")"
a0=$(cpu_of "${AGENT_B_PIDS[@]}")
sleep "$IDLE_TIME"
read -r rss2 c1 fds2 _ <<<"$("$PY" "$PSTAT" "$GW_B_PID")"
read -r arss a1 afds _ <<<"$("$PY" "$PSTAT" "${AGENT_B_PIDS[@]}")"
n=$(status_field "$GW2_CTL" idle_workers)
record idle_workers gateway 1 "$n"
record idle_rss gateway 1 "$rss2"
record idle_fds gateway 1 "$fds2"
record idle_cpu_s gateway 1 "$(delta "$c0" "$c1")"
record idle_rss agents 1 "$arss"
record idle_fds agents 1 "$afds"
record idle_cpu_s agents 1 "$(delta "$a0" "$a1")"
log "gateway with $n idle workers: RSS $rss0 -> $rss2 KiB, descriptors $fds0 -> $fds2, CPU $(delta "$c0" "$c1") s in ${IDLE_TIME} s; agents: RSS $arss KiB, CPU $(delta "$a0" "$a1") s"
[ "$n" = "$ALL_B" ] || log "WARNING: $n idle workers after the idle period, not $ALL_B"

# The same HTTP load with all those workers held, in alternation with gateway
# A (same path, only its own 100 workers) so that both see the same machine.
for r in $(seq 1 "$ROUNDS"); do
	for mode in "" +close; do
		for which in $( ((r % 2)) && echo paired loaded || echo loaded paired); do
			if [ "$which" = paired ]; then
				wait_idle_workers "$GW_CTL" "$RELAY_WORKERS" 20
				run_wrk "gateway-paired$mode" "$r" "$GW_A_PID" "$AGENT_A_PID" "$GW_CTL"
			else
				wait_idle_workers "$GW2_CTL" "$ALL_B" 20
				run_wrk "gateway-loaded$mode" "$r" "$GW_B_PID" "$AGENT_B_SITE" "$GW2_CTL"
			fi
		done
	done
done
wait_idle_workers "$GW2_CTL" "$ALL_B" 20
# Every client connection closed: its worker went with it, the agent refilled.
wait_idle_workers "$GW_CTL" "$RELAY_WORKERS" 20
read -r rss _ fds _ <<<"$("$PY" "$PSTAT" "$GW_A_PID")"
record after_load_rss gateway 1 "$rss"
record after_load_fds gateway 1 "$fds"
stop_pids "$AGENT_A_PID" "$GW_A_PID"

# The agents leave: every descriptor must come back.
stop_pids "${AGENT_B_PIDS[@]}" "$AGENT_B_SITE"
fds_fresh=$(awk '$1 == "fresh_fds" {print $4}' "$RESULTS")
for i in $(seq 100); do
	read -r rss3 _ fds3 _ <<<"$("$PY" "$PSTAT" "$GW_B_PID")"
	[ "$fds3" -le "$fds_fresh" ] && break
	sleep 0.1
done
n=$(status_field "$GW2_CTL" idle_workers)
record gone_fds gateway 1 "$fds3"
record gone_rss gateway 1 "$rss3"
record gone_workers gateway 1 "$n"
log "agents gone: $n idle workers, descriptors $fds3 (before any agent: $fds_fresh), RSS $rss3 KiB"
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/meta.env"
kill -0 "$GW_B_PID" 2>/dev/null || fail "gateway B died"

"$PY" "$ROOT/bench/gateway/summary.py" "$WORK/meta.env" "$RESULTS" >"$WORK/summary.md" || fail "summary.py failed"
cat "$WORK/summary.md"
if [ -n "$OUT" ]; then
	mkdir -p "$(dirname "$OUT")"
	cp "$WORK/summary.md" "$OUT"
	log "wrote $OUT"
fi
if [ -n "$DOC" ]; then
	"$PY" "$ROOT/bench/gateway/summary.py" --splice "$DOC" "$WORK/summary.md" || fail "cannot update $DOC"
	log "updated the Gateway section of $DOC"
fi
