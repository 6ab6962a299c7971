#!/bin/bash
# Shadowsocks AEAD throughput: portway's handler ss and connector ss side by side
# with shadowsocks-libev, on loopback, in front of one local nginx.
#
#   bench/shadowsocks.sh [--quick] [--out FILE]
#
# For each method (aes-256-gcm, chacha20-ietf-poly1305), curl downloads a file of
# $BENCH_MB MiB (default 1024) through a SOCKS5 entry:
#   server   ss-local -> portway -L ss://   versus   ss-local -> ss-server
#   client   portway -L socks5:// -F ss:// -> ss-server   versus   ss-local -> ss-server
# and reports MiB/s plus the CPU seconds of the process under test (portway, or the
# libev process in the same seat). Rounds are interleaved; the summary takes medians.
#
# Environment: PORTWAY (binary), BENCH_MB (1024), BENCH_ROUNDS (3), BENCH_OUT.
# --quick: 256 MiB, 1 round. Every process started here is stopped on exit.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

MB=${BENCH_MB:-1024}
ROUNDS=${BENCH_ROUNDS:-3}
OUT=${BENCH_OUT:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) MB=256; ROUNDS=1 ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
	esac
	shift
done

. bench/lib.sh
need_tools "$PORTWAY" nginx curl ss-server ss-local
bench_workdir portway-ssbench
PASS=bench-pass

read -r NGINX_PORT <<<"$(free_ports 1)"
mkdir -p "$WORK/www"
truncate -s "${MB}M" "$WORK/www/big.bin"
start_nginx "$NGINX_PORT" "sendfile on;"
wait_port "$NGINX_PORT"

# download SOCKS_PORT -> MiB/s (or NA)
download() {
	local bps
	bps=$(timeout 300 curl -sS -o /dev/null -w '%{speed_download}' --socks5-hostname "127.0.0.1:$1" \
		"http://127.0.0.1:$NGINX_PORT/big.bin" 2>>"$WORK/curl.log") || { echo NA; return; }
	awk -v b="$bps" 'BEGIN { printf "%.0f", b / 1048576 }'
}

# one SETUP METHOD: starts the chain, measures, stops it; appends "setup method MiB/s cpu" to RESULTS
run_one() {
	local setup=$1 m=$2 srv cli entry measured
	read -r srv cli <<<"$(free_ports 2)"
	local before=${#PIDS[@]}
	case "$setup" in
	portway-server)
		start pw "$PORTWAY" -L "ss://$m:$PASS@127.0.0.1:$srv"
		measured=$LASTPID
		start sslocal ss-local -s 127.0.0.1 -p "$srv" -b 127.0.0.1 -l "$cli" -k "$PASS" -m "$m"
		entry=$cli ;;
	libev-server)
		start ssserver ss-server -s 127.0.0.1 -p "$srv" -k "$PASS" -m "$m"
		measured=$LASTPID
		start sslocal ss-local -s 127.0.0.1 -p "$srv" -b 127.0.0.1 -l "$cli" -k "$PASS" -m "$m"
		entry=$cli ;;
	portway-client)
		start ssserver ss-server -s 127.0.0.1 -p "$srv" -k "$PASS" -m "$m"
		start pw "$PORTWAY" -L "socks5://127.0.0.1:$cli" -F "ss://$m:$PASS@127.0.0.1:$srv"
		measured=$LASTPID
		entry=$cli ;;
	libev-client)
		start ssserver ss-server -s 127.0.0.1 -p "$srv" -k "$PASS" -m "$m"
		start sslocal ss-local -s 127.0.0.1 -p "$srv" -b 127.0.0.1 -l "$cli" -k "$PASS" -m "$m"
		measured=$LASTPID
		entry=$cli ;;
	esac
	wait_port "$srv"
	wait_port "$cli"
	local c0 c1 speed
	c0=$(cpu_sum "$measured")
	speed=$(download "$entry")
	c1=$(cpu_sum "$measured")
	printf '%s\t%s\t%s\t%s\n' "$setup" "$m" "$speed" "$(delta "$c0" "$c1")" >>"$RESULTS"
	log "$setup $m: $speed MiB/s, $(delta "$c0" "$c1") s CPU"
	stop_pids "${PIDS[@]:$before}"
	PIDS=("${PIDS[@]:0:$before}")
}

for r in $(seq "$ROUNDS"); do
	for m in aes-256-gcm chacha20-ietf-poly1305; do
		for setup in $(rotate "$r" portway-server libev-server portway-client libev-client); do
			run_one "$setup" "$m"
		done
	done
done

summary() {
	echo "Shadowsocks, curl through SOCKS5 downloading ${MB} MiB from nginx on loopback; median of $ROUNDS"
	echo "($(nproc) CPUs, $(ss-server -h 2>&1 | grep -m1 -i 'shadowsocks-libev' | sed 's/^ *//'), $(openssl version))"
	echo
	echo "| seat | method | portway MiB/s | libev MiB/s | portway CPU s | libev CPU s |"
	echo "|---|---|---|---|---|---|"
	"$PY" - "$RESULTS" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    setup, m, speed, cpu = line.rstrip("\n").split("\t")
    rows.setdefault((setup, m), []).append((speed, cpu))
def med(vals):
    v = [float(x) for x in vals if x not in ("NA", "")]
    return "%.0f" % statistics.median(v) if v else "NA"
def medf(vals):
    v = [float(x) for x in vals if x not in ("NA", "")]
    return "%.2f" % statistics.median(v) if v else "NA"
for seat in ("server", "client"):
    for m in ("aes-256-gcm", "chacha20-ietf-poly1305"):
        p = rows.get(("portway-" + seat, m), [])
        l = rows.get(("libev-" + seat, m), [])
        print(f"| {seat} | {m} | {med(s for s, _ in p)} | {med(s for s, _ in l)} | "
              f"{medf(c for _, c in p)} | {medf(c for _, c in l)} |")
EOF
}

summary | tee ${OUT:+"$OUT"}
