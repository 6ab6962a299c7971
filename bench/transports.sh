#!/bin/bash
# GOST's encrypted transports side by side: one relay hop between two portway
# processes over tls (a TLS handshake per connection), mtls (smux streams over one
# TLS connection), h2 (HTTP/2 streams over one TLS connection) and grpc (gRPC calls
# over one HTTP/2 TLS connection); the "## Transports" section of doc/benchmarks.md
# is written from it.
#
#   bench/transports.sh [--quick] [--out FILE]
#
# Each chain: portway -L tcp://P/target -F relay+X://S  +  portway -L relay+X://S.
# Measures (rounds interleaved across transports; medians):
#   a) new connections per second: wrk -c 64 -t 2 "Connection: close" to a 1 KiB
#      nginx file, so every request opens a connection through the chain
#   b) single-stream throughput, iperf3 client->server, and the CPU seconds both
#      chain processes used per GB
#   c) memory per idle tunnel: RSS of both processes before and with IDLE idle
#      connections held through the chain (bench/idle_conns.py), divided by IDLE
#
# Environment: PORTWAY, BENCH_TIME (10), BENCH_ROUNDS (3), BENCH_IDLE (2000),
# BENCH_OUT (doc/benchmarks.md). --quick: 3 s runs, 1 round, 300 idle connections.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

TIME=${BENCH_TIME:-10}
ROUNDS=${BENCH_ROUNDS:-3}
IDLE=${BENCH_IDLE:-2000}
OUT=${BENCH_OUT:-$ROOT/doc/benchmarks.md}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) TIME=3; ROUNDS=1; IDLE=300 ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
	esac
	shift
done

. bench/lib.sh
need_tools "$PORTWAY" iperf3 wrk nginx openssl
ulimit -n "$(ulimit -Hn)" 2>/dev/null
TRANSPORTS="tls mtls h2 grpc"
bench_workdir portway-transports

read -r IPERF_PORT NGINX_PORT IDLE_BACK <<<"$(free_ports 3)"
start iperf3 iperf3 -s -p "$IPERF_PORT" --idle-timeout 300
small_page "portway transports benchmark "
start_nginx "$NGINX_PORT"
start idle-backend "$PY" "$ROOT/bench/idle_conns.py" server "$IDLE_BACK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
CERT="certFile=$WORK/cert.pem&keyFile=$WORK/key.pem"

declare -A SRV CLI HTTP IPERF IDLEP
for t in $TRANSPORTS; do
	read -r s h i d <<<"$(free_ports 4)"
	start "srv-$t" "$PORTWAY" -L "relay+$t://127.0.0.1:$s?$CERT"
	SRV[$t]=$LASTPID
	wait_port "$s"
	start "cli-$t" "$PORTWAY" -L "tcp://127.0.0.1:$h/127.0.0.1:$NGINX_PORT" \
		-L "tcp://127.0.0.1:$i/127.0.0.1:$IPERF_PORT" -L "tcp://127.0.0.1:$d/127.0.0.1:$IDLE_BACK" \
		-F "relay+$t://127.0.0.1:$s"
	CLI[$t]=$LASTPID
	HTTP[$t]=$h IPERF[$t]=$i IDLEP[$t]=$d
	wait_port "$h"
done
sleep 1

rss() { # PID... -> summed RSS KiB
	local sum=0 pid
	for pid in "$@"; do
		sum=$((sum + $("$PY" "$ROOT/bench/procstat.py" mem "$pid" | awk '{print $1}')))
	done
	echo "$sum"
}

for round in $(seq 1 "$ROUNDS"); do
	for t in $(rotate "$round" $TRANSPORTS); do
		log "round $round: $t"
		wrk_client "${HTTP[$t]}" -H "Connection: close"
		echo -e "$t\tconn_rps\t$(wrk_rps)\t$(wrk_errors)" >>"$RESULTS"
		before=$(cpu_sum "${SRV[$t]}" "${CLI[$t]}")
		iperf_client "${IPERF[$t]}" fwd
		after=$(cpu_sum "${SRV[$t]}" "${CLI[$t]}")
		gbps=$(iperf_gbps)
		echo -e "$t\tgbps\t$gbps" >>"$RESULTS"
		# CPU seconds per GB moved: the run moved gbps * TIME / 8 GB
		echo -e "$t\tcpu_s_per_gb\t$(awk -v c="$(delta "$before" "$after")" -v g="$gbps" -v t="$TIME" \
			'BEGIN { if (g > 0) printf "%.3f", c / (g * t / 8); else print "NA" }')" >>"$RESULTS"
	done
done

# Idle tunnels last: one transport at a time, the others idle.
for t in $TRANSPORTS; do
	log "idle: $t, $IDLE connections"
	m0=$(rss "${SRV[$t]}" "${CLI[$t]}")
	start "idle-client-$t" timeout 300 "$PY" "$ROOT/bench/idle_conns.py" client "${IDLEP[$t]}" "$IDLE" \
		--concurrency 16 --budget 240
	IC=$LASTPID
	for _ in $(seq 1 240); do
		grep -q "^ready" "$WORK/idle-client-$t.log" 2>/dev/null && break
		alive "$IC" || break
		sleep 1
	done
	grep -q "^ready" "$WORK/idle-client-$t.log" || fail "idle connections through $t did not open"
	sleep 2
	m1=$(rss "${SRV[$t]}" "${CLI[$t]}")
	echo -e "$t\tidle_kib_per_conn\t$(awk -v a="$m0" -v b="$m1" -v n="$IDLE" 'BEGIN { printf "%.2f", (b - a) / n }')" >>"$RESULTS"
	stop_pids "$IC"
	sleep 2
done

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
meta_machine >"$WORK/meta"
"$PY" - "$RESULTS" "$OUT" "$WORK/meta" "$TIME" "$ROUNDS" "$IDLE" "$LOAD" <<'EOF'
import statistics, sys
from benchlib import fmt, load_meta, ratio, splice
results, out, meta, t, rounds, idle, load = sys.argv[1:]
vals = {}
for line in open(results):
    f = line.rstrip("\n").split("\t")
    try:
        vals.setdefault((f[0], f[1]), []).append(float(f[2]))
    except ValueError:
        pass
med = {k: statistics.median(v) for k, v in vals.items()}
m = load_meta(meta)
rows = ["| transport | new connections/s | vs tls | throughput Gbit/s | vs tls | CPU s/GB (both) | vs tls | KiB per idle tunnel (both) | vs tls |",
        "|---|---|---|---|---|---|---|---|---|"]
for tr in ("tls", "mtls", "h2", "grpc"):
    g = lambda k: med.get((tr, k))
    b = lambda k: med.get(("tls", k))
    rows.append(f"| relay+{tr} | {fmt(g('conn_rps'), 0)} | {ratio(g('conn_rps'), b('conn_rps'))}x | "
                f"{fmt(g('gbps'))} | {ratio(g('gbps'), b('gbps'))}x | {fmt(g('cpu_s_per_gb'))} | "
                f"{ratio(g('cpu_s_per_gb'), b('cpu_s_per_gb'))}x | {fmt(g('idle_kib_per_conn'))} | "
                f"{ratio(g('idle_kib_per_conn'), b('idle_kib_per_conn'))}x |")
section = "\n".join([
    "## Transports", "",
    f"One relay hop between two portway processes on loopback, over each transport (bench/transports.sh, "
    f"{m.get('date', '?')}, {m.get('nproc', '?')} cores, load average {load} at the end; {rounds} rounds of {t} s, "
    f"transports alternated, medians; {idle} idle connections for the memory column).", "",
    *rows, "",
    "New connections: wrk -c 64 with `Connection: close` to a 1 KiB nginx page through the chain (tls pays a TLS "
    "handshake per connection; the multiplexed transports open a stream on a connection they keep). "
    "Throughput: one iperf3 stream client->server. Memory: RSS of the two processes with the idle connections "
    "held, minus before, per connection.", "",
])
splice(out, "## Transports", section)
print(section)
EOF
