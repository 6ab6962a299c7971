#!/bin/bash
# Throughput of a two-process tunnel, tcp -> (transport hop) -> tcp, on
# loopback: portway's tls, ws and wss hops side by side with a pair of
# stunnel processes, in one run, with a markdown summary (medians, ratios).
#
#   bench/tls_tunnel.sh [--quick] [--out FILE]
#
# Each tunnel is a client process listening on 127.0.0.1:A that carries
# every connection over the transport to a server process on 127.0.0.1:B,
# which forwards it to iperf3 -s:
#   direct   iperf3 without a tunnel (the ceiling)
#   tcp      portway -L tcp://A/T -F forward://B  +  portway -L tcp://B/T
#            (plain TCP both ways, the splice path: the cost of two processes)
#   tls      portway -L tcp://A/T -F forward+tls://B  +  portway -L tcp+tls://B/T
#   stunnel  stunnel client=yes accept A connect B  +  stunnel accept B connect T
#   ws       portway forward+ws / tcp+ws
#   wss      portway forward+wss / tcp+wss
# Same certificate (ECDSA P-256, made here by openssl) and OpenSSL defaults
# on both sides (TLS 1.3, TLS_AES_256_GCM_SHA384), the client verifying the
# server against the CA in both portway and stunnel.
#
# Measured: iperf3 single stream, -t BENCH_TIME, client->server (fwd) and -R
# (rev), rounds interleaved with the order rotated; the CPU seconds both
# tunnel processes used during each run (bench/procstat.py).
#
# Environment: PORTWAY (binary, else build/src/portway), BENCH_TIME (10),
# BENCH_ROUNDS (3), BENCH_OUT (write the summary there too), KEEP_WORK=1.
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
STUNNEL=$(command -v stunnel4 || command -v stunnel)
[ -n "$STUNNEL" ] || STUNNEL=stunnel
need_tools "$PORTWAY" iperf3 openssl "$STUNNEL"

bench_workdir portway-bench-tls

# ---- certificates: a CA and a server certificate for localhost / 127.0.0.1 ----

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" -out "$WORK/ca.pem" \
	-days 2 -subj "/CN=bench CA" -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1 &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/server.key" \
		-out "$WORK/server.csr" -subj "/CN=localhost" >/dev/null 2>&1 &&
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$WORK/ext.cnf" &&
	openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
		-out "$WORK/server.pem" -days 2 -extfile "$WORK/ext.cnf" >/dev/null 2>&1 ||
	fail "openssl could not make the certificates"
CERT=$WORK/server.pem
KEY=$WORK/server.key
CA=$WORK/ca.pem

read -r IPERF_PORT TCP_A TCP_B TLS_A TLS_B ST_A ST_B WS_A WS_B WSS_A WSS_B <<<"$(free_ports 11)"

start iperf3 iperf3 -s -p "$IPERF_PORT"
T=127.0.0.1:$IPERF_PORT
VERIFY="secure=true&caFile=$CA&serverName=localhost"
SRVTLS="certFile=$CERT&keyFile=$KEY"

pw() { # NAME ARGS...
	local name=$1
	shift
	start "$name" "$PORTWAY" "$@"
}

pw tcp-server -L "tcp://127.0.0.1:$TCP_B/$T"
TCP_SRV=$LASTPID
pw tcp-client -L "tcp://127.0.0.1:$TCP_A/$T" -F "forward://127.0.0.1:$TCP_B"
TCP_CLI=$LASTPID
pw tls-server -L "tcp+tls://127.0.0.1:$TLS_B/$T?$SRVTLS"
TLS_SRV=$LASTPID
pw tls-client -L "tcp://127.0.0.1:$TLS_A/$T" -F "forward+tls://127.0.0.1:$TLS_B?$VERIFY"
TLS_CLI=$LASTPID
pw ws-server -L "tcp+ws://127.0.0.1:$WS_B/$T"
WS_SRV=$LASTPID
pw ws-client -L "tcp://127.0.0.1:$WS_A/$T" -F "forward+ws://127.0.0.1:$WS_B"
WS_CLI=$LASTPID
pw wss-server -L "tcp+wss://127.0.0.1:$WSS_B/$T?$SRVTLS"
WSS_SRV=$LASTPID
pw wss-client -L "tcp://127.0.0.1:$WSS_A/$T" -F "forward+wss://127.0.0.1:$WSS_B?$VERIFY"
WSS_CLI=$LASTPID

cat >"$WORK/stunnel-server.conf" <<EOF
foreground = yes
pid =
debug = warning
[bench-server]
accept = 127.0.0.1:$ST_B
connect = $T
cert = $CERT
key = $KEY
EOF
cat >"$WORK/stunnel-client.conf" <<EOF
foreground = yes
pid =
debug = warning
[bench-client]
client = yes
accept = 127.0.0.1:$ST_A
connect = 127.0.0.1:$ST_B
CAfile = $CA
verifyChain = yes
checkHost = localhost
EOF
start stunnel-server "$STUNNEL" "$WORK/stunnel-server.conf"
ST_SRV=$LASTPID
start stunnel-client "$STUNNEL" "$WORK/stunnel-client.conf"
ST_CLI=$LASTPID

for p in "$IPERF_PORT" "$TCP_A" "$TCP_B" "$TLS_A" "$TLS_B" "$ST_A" "$ST_B" "$WS_A" "$WS_B" "$WSS_A" "$WSS_B"; do
	wait_port "$p"
done

{
	meta_machine
	echo "stunnel=$("$STUNNEL" -version 2>&1 | grep -m1 '^stunnel' | sed 's/ on .*//')"
	meta_versions openssl iperf3
	echo "time=$TIME"
	echo "rounds=$ROUNDS"
} >"$WORK/meta.env"

# TARGET -> "port pid pid"
endpoint() {
	case "$1" in
	direct) echo "$IPERF_PORT - -" ;;
	tcp) echo "$TCP_A $TCP_CLI $TCP_SRV" ;;
	tls) echo "$TLS_A $TLS_CLI $TLS_SRV" ;;
	stunnel) echo "$ST_A $ST_CLI $ST_SRV" ;;
	ws) echo "$WS_A $WS_CLI $WS_SRV" ;;
	wss) echo "$WSS_A $WSS_CLI $WSS_SRV" ;;
	esac
}

run_iperf() { # TARGET ROUND DIRECTION(fwd|rev)
	local port p1 p2 c0 c1 gbps
	read -r port p1 p2 <<<"$(endpoint "$1")"
	c0=$(cpu_sum "$p1" "$p2")
	iperf_client "$port" "$3"
	c1=$(cpu_sum "$p1" "$p2")
	gbps=$(iperf_gbps)
	log "iperf3 $3 via $1: $gbps Gbit/s"
	printf '%s\t%s\t%s\t%s\t%s\n' "$3" "$1" "$2" "$gbps" "$(delta "$c0" "$c1")" >>"$RESULTS"
}

TARGETS=(direct tcp tls stunnel ws wss)
log "work directory $WORK; ${TIME}s runs, $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
	for t in $(rotate "$r" "${TARGETS[@]}"); do
		run_iperf "$t" "$r" fwd
		run_iperf "$t" "$r" rev
	done
done

summary() {
	"$PY" - "$WORK/meta.env" "$RESULTS" <<'EOF'
import statistics, sys
from benchlib import load_meta
meta = load_meta(sys.argv[1])
rows = {}
for line in open(sys.argv[2]):
    d, t, r, v, cpu = line.rstrip("\n").split("\t")
    if v == "NA":
        continue
    rows.setdefault((d, t), []).append((float(v), float(cpu)))
def med(d, t, i=0):
    xs = [x[i] for x in rows.get((d, t), [])]
    return statistics.median(xs) if xs else None
def fmt(x, p=2):
    return "n/a" if x is None else f"{x:.{p}f}"
def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b
names = {"direct": "direct (no tunnel)", "tcp": "portway tcp hop (splice)", "tls": "portway tls hop",
         "stunnel": "stunnel pair", "ws": "portway ws hop", "wss": "portway wss hop"}
def cpu_per_gb(d, t):
    # CPU seconds of both tunnel processes per GB carried: steadier than
    # throughput on a loaded machine, where iperf3 competes for the CPUs.
    xs = [c / (g * float(meta.get("time", 10)) / 8) for g, c in rows.get((d, t), []) if g > 0]
    return statistics.median(xs) if xs else None
print("## TLS and WebSocket hops")
print()
print(f"bench/tls_tunnel.sh, {meta.get('date')}: {meta.get('nproc')} CPUs ({meta.get('cpu')}), "
      f"Linux {meta.get('kernel')}; {meta.get('portway')}, {meta.get('stunnel')}, {meta.get('openssl')}; "
      f"iperf3 single stream, {meta.get('time')} s runs, median of {meta.get('rounds')} rounds. "
      "CPU s/GB: seconds of CPU used by both tunnel processes per gigabyte carried (lower is better).")
print()
print("| tunnel | fwd Gbit/s | rev Gbit/s | fwd CPU s/GB | rev CPU s/GB | Gbit/s vs stunnel (fwd, rev) "
      "| CPU/GB vs stunnel (fwd, rev) |")
print("|---|---|---|---|---|---|---|")
for t in ["direct", "tcp", "tls", "stunnel", "ws", "wss"]:
    f, r = med("fwd", t), med("rev", t)
    cf, cr = cpu_per_gb("fwd", t), cpu_per_gb("rev", t)
    tput = f"{fmt(ratio(f, med('fwd', 'stunnel')))}, {fmt(ratio(r, med('rev', 'stunnel')))}"
    cpu = "-" if t == "direct" else \
        f"{fmt(ratio(cf, cpu_per_gb('fwd', 'stunnel')))}, {fmt(ratio(cr, cpu_per_gb('rev', 'stunnel')))}"
    print(f"| {names[t]} | {fmt(f)} | {fmt(r)} | {'-' if t == 'direct' else fmt(cf)} "
          f"| {'-' if t == 'direct' else fmt(cr)} | {tput} | {cpu} |")
print()
for a, b in (("tls", "stunnel"), ("wss", "tls"), ("ws", "tcp")):
    print(f"- {a} / {b}: throughput fwd {fmt(ratio(med('fwd', a), med('fwd', b)))}, "
          f"rev {fmt(ratio(med('rev', a), med('rev', b)))}; CPU per GB fwd "
          f"{fmt(ratio(cpu_per_gb('fwd', a), cpu_per_gb('fwd', b)))}, "
          f"rev {fmt(ratio(cpu_per_gb('rev', a), cpu_per_gb('rev', b)))}")
EOF
}

summary | tee "$WORK/summary.md"
if [ -n "$OUT" ]; then
	mkdir -p "$(dirname "$OUT")"
	cp "$WORK/summary.md" "$OUT"
	log "wrote $OUT"
fi
