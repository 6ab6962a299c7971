# Scaffolding shared by the bench/*.sh scripts, which source it after
#   cd "$(dirname "$0")/.."; ROOT=$(pwd); . bench/lib.sh
# so that each script keeps only what it measures. Sets PY, PORTWAY (default
# build/src/portway), PYTHONPATH (bench/, for benchlib.py) and PIDS; the work
# directory, with cleanup on exit, comes from bench_workdir.
BENCH=$(basename "$0")
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
PORTWAY=${PORTWAY:-$ROOT/build/src/portway}
export PYTHONPATH="$ROOT/bench${PYTHONPATH:+:$PYTHONPATH}"
PIDS=()
LASTPID=
WORK=

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

fail() { # MESSAGE: stop the run and keep the logs
	echo "$BENCH: $*; logs in $WORK" >&2
	KEEP_WORK=1
	exit 1
}

need_tools() { # TOOL...: exit unless every one is found
	local tool
	for tool in "$@"; do
		if [ -z "$tool" ] || ! command -v "$tool" >/dev/null; then
			echo "$BENCH: ${tool:-a tool} not found (scripts/setup.sh installs and builds everything)" >&2
			exit 1
		fi
	done
}

bench_workdir() { # PREFIX: WORK=/tmp/PREFIX.XXXXXX, RESULTS in it; removed on exit unless KEEP_WORK
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	# 755: nginx's worker drops root and still reads the files in it.
	chmod 755 "$WORK"
	RESULTS=$WORK/results.tsv
	: >"$RESULTS"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	stop_pids "${PIDS[@]}"
	wait 2>/dev/null
	if [ -n "${KEEP_WORK:-}" ]; then
		log "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}

# start NAME CMD...: in the background, output in $WORK/NAME.log; sets LASTPID.
start() {
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	LASTPID=$!
	PIDS+=("$LASTPID")
}

alive() { # PID...: true while one of them runs
	local pid
	for pid in "$@"; do
		kill -0 "$pid" 2>/dev/null && return 0
	done
	return 1
}

stop_pids() { # PID...: TERM, then KILL what is left after 5 s
	local pid i
	[ $# -gt 0 ] || return 0
	for pid in "$@"; do
		kill "$pid" 2>/dev/null
	done
	for i in $(seq 50); do
		alive "$@" || break
		sleep 0.1
	done
	for pid in "$@"; do
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	return 0
}

wait_port() { # PORT: until something accepts on 127.0.0.1:PORT (10 s)
	local i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	fail "nothing listens on 127.0.0.1:$1"
}

free_ports() { # N -> N free loopback ports
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

rotate() { # ROUND ITEM...: the items rotated by ROUND, so no one always runs first
	local r=$1 i
	shift
	local list=("$@") n=$#
	for i in $(seq 0 $((n - 1))); do
		echo "${list[$(((i + r) % n))]}"
	done
}

delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; } # A B -> B - A

cpu_sum() { # PID...: user+system seconds of each and its children (bench/procstat.py), summed; "-" or "" count 0
	local total=0 p c
	for p in "$@"; do
		[ -z "$p" ] || [ "$p" = - ] && continue
		c=$("$PY" "$ROOT/bench/procstat.py" cpu "$p" 2>/dev/null || echo 0)
		total=$(awk -v a="$total" -v b="$c" 'BEGIN { print a + b }')
	done
	echo "$total"
}

# ---- nginx as the origin ----

small_page() { # TEXT: $WORK/www/small.html, 1 KiB of TEXT repeated
	mkdir -p "$WORK/www"
	"$PY" -c 'import sys; sys.stdout.write((sys.argv[1] * 64)[:1023] + "\n")' "$1" >"$WORK/www/small.html"
}

start_nginx() { # PORT [DIRECTIVE...]: one worker serving $WORK/www, the directives added to http {}
	local port=$1 d extra=""
	shift
	for d in "$@"; do
		extra="$extra    $d"$'\n'
	done
	mkdir -p "$WORK/www" "$WORK/nginx-tmp"
	cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
$extra    client_body_temp_path $WORK/nginx-tmp;
    proxy_temp_path $WORK/nginx-tmp;
    fastcgi_temp_path $WORK/nginx-tmp;
    uwsgi_temp_path $WORK/nginx-tmp;
    scgi_temp_path $WORK/nginx-tmp;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $WORK/www;
    }
}
EOF
	start nginx nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf"
}

# ---- load generators and their output ----

iperf_client() { # PORT fwd|rev: one iperf3 stream, -t $TIME, JSON in $WORK/iperf.json
	local rflag=""
	[ "$2" = rev ] && rflag=-R
	timeout $((TIME + 30)) iperf3 -c 127.0.0.1 -p "$1" -t "$TIME" -O 1 -J $rflag >"$WORK/iperf.json" 2>&1
}

iperf_gbps() { # -> the received Gbit/s of $WORK/iperf.json, or NA
	"$PY" -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception:
    print("NA")' "$WORK/iperf.json"
}

wrk_client() { # PORT [WRK ARG...]: wrk -c 64 -t 2 -d $TIME on /small.html, output in $WORK/wrk.out
	local port=$1
	shift
	timeout $((TIME + 30)) wrk -c 64 -t 2 -d "${TIME}s" "$@" "http://127.0.0.1:$port/small.html" >"$WORK/wrk.out" 2>&1
}

wrk_rps() { awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.out"; }

wrk_errors() { grep -E 'Socket errors|Non-2xx' "$WORK/wrk.out" | tr -s ' ' | tr '\n' ';'; }

wrk_ms() { # PERCENTILE (50%, 99%) -> wrk --latency's figure in milliseconds, or NA
	awk -v p="$1" '$1 == p {print $2}' "$WORK/wrk.out" | awk '
		/us$/ { sub(/us$/, ""); printf "%.3f", $0 / 1000; f = 1; exit }
		/ms$/ { sub(/ms$/, ""); printf "%.3f", $0; f = 1; exit }
		/s$/ { sub(/s$/, ""); printf "%.3f", $0 * 1000; f = 1; exit }
		END { if (!f) print "NA" }'
}

# ---- the machine and the programs, for meta.env ----

meta_machine() { # date, nproc, cpu, kernel and portway (with the tree's commit), as KEY=VALUE lines
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc=$(nproc)"
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "kernel=$(uname -r)"
	echo "portway=$("$PORTWAY" -V 2>&1 | head -1) ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
}

meta_versions() { # TOOL...: TOOL=its version line, for each
	local t v
	for t in "$@"; do
		case "$t" in
		haproxy) v=$(haproxy -v 2>&1 | head -1 | sed 's/ - https.*//') ;;
		nginx) v=$(nginx -v 2>&1 | head -1 | sed 's/.*: //') ;;
		wrk) v=$(wrk --version 2>&1 | head -1 | sed 's/ Copyright.*//') ;;
		iperf3) v=$(iperf3 --version 2>&1 | head -1) ;;
		socat) v=$(socat -V 2>&1 | grep -m1 'socat version' | sed 's/ on .*//') ;;
		v2ray) v=$(v2ray -version 2>&1 | head -1) ;;
		tinyproxy) v=$(tinyproxy -v 2>&1 | head -1) ;;
		ss) v=$(ss-server -h 2>&1 | grep -m1 -i 'shadowsocks-libev' | sed 's/^ *//') ;;
		openssl) v=$(openssl version) ;;
		*) v=$("$t" --version 2>&1 | head -1) ;;
		esac
		echo "$t=$v"
	done
}
