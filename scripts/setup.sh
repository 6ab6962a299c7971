#!/bin/sh
# Install what portway needs on Debian 12 (as root), then configure and build.
#   scripts/setup.sh                 the build dependencies only; build in ./build
#   scripts/setup.sh --tests         also what the tests drive (scripts/test.sh uses this)
#   scripts/setup.sh --sanitizers    build with ASan+UBSan in ./build-san
set -eu
cd "$(dirname "$0")/.."
BUILD=build
CONFIGURE_FLAGS=""
WITH_TESTS=0
for arg in "$@"; do
	case $arg in
	--sanitizers) BUILD=build-san CONFIGURE_FLAGS="--enable-sanitizers" ;;
	--tests) WITH_TESTS=1 ;;
	*) echo "setup.sh: unknown option $arg (--sanitizers, --tests)" >&2; exit 2 ;;
	esac
done

# What building needs; then, with --tests (scripts/test.sh), what the tests and benchmarks drive:
# real clients, servers and peers, a Go toolchain for the interop peers, clang for the fuzzers.
BUILD_PKGS="build-essential autoconf automake pkg-config libev-dev libssl-dev libmbedtls-dev libyaml-dev
libsqlite3-dev libc-ares-dev zlib1g-dev libsystemd-dev libssh-dev libjansson-dev libnghttp2-dev libhiredis-dev"
TEST_PKGS="libcmocka-dev dnsmasq-base clang python3 python3-pytest python3-websockets python3-openssl golang-go
golang-github-pion-dtls.v2-dev golang-github-xtaci-smux-dev curl openssl socat ncat netcat-openbsd nginx-light
openssh-server openssh-client sshpass iperf3 haproxy wrk redis-server sqlite3 iproute2 procps psmisc stunnel4 tinyproxy
v2ray shadowsocks-libev prometheus golang-golang-x-net-dev debhelper dpkg-dev fakeroot lintian chromium golang-google-grpc-dev iptables systemd
kcptun golang-github-xtaci-kcp-dev golang-github-klauspost-reedsolomon-dev golang-github-miekg-dns-dev dnsutils
golang-golang-x-crypto-dev iputils-ping"
PKGS=$BUILD_PKGS
[ "$WITH_TESTS" = 1 ] && PKGS="$BUILD_PKGS $TEST_PKGS"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup.sh: missing packages:$missing (run as root, or apt-get install them)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Services from these packages must not start on install (nginx, redis, ssh): tests start their own.
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi

[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
mkdir -p "$BUILD"
cd "$BUILD"
# A build configured before the test packages came has its unit tests off: configure again.
if [ ! -f Makefile ] || { [ "$WITH_TESTS" = 1 ] && grep -q "^HAVE_CMOCKA_TRUE='#'" config.log; }; then
	../configure -q $CONFIGURE_FLAGS
fi
make -j"$(nproc)" -s
echo "setup.sh: built $BUILD/src/portway"
