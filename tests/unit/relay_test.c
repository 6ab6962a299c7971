/* Unit tests for the GOST relay codec: doc/protocols/gost-relay.md §1.4 and §2.6 vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/relay.h"

/* Decode a hex string with optional spaces into out; returns the length. */
static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	while (*s) {
		unsigned v;

		if (*s == ' ') {
			s++;
			continue;
		}
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

#define ZERO16 "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"

static const char CONNECT_VEC[] =
	"01 01 00 19 01 00 04 01 75 01 70 "
	"02 00 0f 03 0b 65 78 61 6d 70 6c 65 2e 63 6f 6d 01 bb";
static const char UDP_CONNECT_VEC[] =
	"01 81 00 0f 04 00 02 00 01 02 00 07 01 08 08 08 08 00 35";
static const char BIND_X_VEC[] =
	"01 02 00 16 01 00 04 01 75 01 70 04 00 02 00 00 02 00 07 01 00 00 00 00 08 ae";
static const char BIND_X81_VEC[] =
	"01 02 00 13 01 00 04 01 75 01 70 04 00 02 00 00 02 00 04 03 00 08 ae";
static const char BIND_OK_V4_VEC[] = "01 00 00 0a 02 00 07 01 00 00 00 00 08 ae";
static const char BIND_OK_V6_VEC[] = "01 00 00 16 02 00 13 04 " ZERO16 " 08 ae";
static const char STREAM_HDR_VEC[] = "01 00 00 0a 02 00 07 01 cb 00 71 05 c7 38";
static const char UDP_BIND_VEC[] = "00 03 ff 01 08 08 08 08 00 35 61 62 63";

typedef int (*parse_fn)(const uint8_t *, size_t, struct relay_msg *);

/* Every proper prefix of a valid message must ask for more bytes, and the
 * message followed by payload must consume exactly the message. */
static void check_prefixes(parse_fn parse, const uint8_t *buf, size_t n)
{
	uint8_t ext[2048];
	struct relay_msg m;
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(parse(buf, i, &m), 0);
	memcpy(ext, buf, n);
	memcpy(ext + n, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(parse(ext, n + 16, &m), (int)n);
}

/* An encoder must refuse every buffer that is one byte too small or less. */
static void check_encode_caps(int (*enc)(uint8_t *, size_t, const struct relay_msg *),
			      const struct relay_msg *m, size_t n)
{
	uint8_t buf[2048];
	size_t cap;

	for (cap = 0; cap < n; cap++)
		assert_int_equal(enc(buf, cap, m), -1);
	assert_int_equal(enc(buf, n, m), (int)n);
}

static void test_connect_vector(void **state)
{
	uint8_t want[64], got[RELAY_MSG_MAX_LEN];
	size_t n = unhex(CONNECT_VEC, want);
	struct relay_msg m;
	struct relay_addr a;

	(void)state;
	assert_int_equal(n, 29);
	assert_int_equal(relay_request_parse(want, n, &m), 29);
	assert_int_equal(m.version, 1);
	assert_int_equal(m.cmd, RELAY_CMD_CONNECT);
	assert_true(m.has_user_auth);
	assert_int_equal(m.username_len, 1);
	assert_string_equal(m.username, "u");
	assert_int_equal(m.password_len, 1);
	assert_string_equal(m.password, "p");
	assert_false(m.has_network);
	assert_false(m.has_tunnel);
	assert_int_equal(m.naddr, 1);
	assert_int_equal(m.addr[0].atyp, RELAY_ATYP_DOMAIN);
	assert_string_equal(m.addr[0].host, "example.com");
	assert_int_equal(m.addr[0].port, 443);
	assert_ptr_equal(relay_msg_last_addr(&m), &m.addr[0]);
	check_prefixes(relay_request_parse, want, n);

	relay_msg_init(&m);
	m.cmd = RELAY_CMD_CONNECT;
	assert_int_equal(relay_msg_set_user_auth(&m, "u", "p"), 0);
	assert_int_equal(relay_addr_from_string(&a, "example.com:443"), 0);
	assert_int_equal(relay_msg_add_addr(&m, &a), 0);
	assert_int_equal(relay_request_encode(got, sizeof(got), &m), 29);
	assert_memory_equal(got, want, 29);
	check_encode_caps(relay_request_encode, &m, 29);
}

static void test_ok_response(void **state)
{
	uint8_t want[4] = { 1, 0, 0, 0 }, got[16];
	struct relay_msg m;

	(void)state;
	assert_int_equal(relay_response_parse(want, 4, &m), 4);
	assert_int_equal(m.status, RELAY_STATUS_OK);
	assert_int_equal(m.naddr, 0);
	assert_null(relay_msg_last_addr(&m));
	check_prefixes(relay_response_parse, want, 4);
	assert_int_equal(relay_response_encode_addrs(got, sizeof(got), RELAY_STATUS_OK, NULL, 0), 4);
	assert_memory_equal(got, want, 4);
	assert_int_equal(relay_response_encode_addrs(got, 3, RELAY_STATUS_OK, NULL, 0), -1);
}

static void test_error_responses(void **state)
{
	uint8_t got[8];
	struct relay_msg m;
	unsigned st;

	(void)state;
	for (st = RELAY_STATUS_BAD_REQUEST; st <= RELAY_STATUS_INTERNAL_SERVER_ERROR; st++) {
		const uint8_t want[4] = { 0x01, (uint8_t)st, 0x00, 0x00 };

		relay_msg_init(&m);
		m.status = (uint8_t)st;
		assert_int_equal(relay_response_encode(got, sizeof(got), &m), 4);
		assert_memory_equal(got, want, 4);
		assert_int_equal(relay_response_parse(got, 4, &m), 4);
		assert_int_equal(m.status, st);
	}
}

static void test_udp_connect_vector(void **state)
{
	uint8_t want[64], got[RELAY_MSG_MAX_LEN];
	size_t n = unhex(UDP_CONNECT_VEC, want);
	struct relay_msg m;
	struct relay_addr a;

	(void)state;
	assert_int_equal(relay_request_parse(want, n, &m), (int)n);
	assert_int_equal(m.cmd, RELAY_FLAG_UDP | RELAY_CMD_CONNECT);
	assert_int_equal(m.cmd & RELAY_CMD_MASK, RELAY_CMD_CONNECT);
	assert_true(m.has_network);
	assert_int_equal(m.network, RELAY_NETWORK_UDP);
	assert_false(m.has_user_auth);
	assert_int_equal(m.naddr, 1);
	assert_int_equal(m.addr[0].atyp, RELAY_ATYP_IPV4);
	assert_string_equal(m.addr[0].host, "8.8.8.8");
	assert_int_equal(m.addr[0].port, 53);
	check_prefixes(relay_request_parse, want, n);

	relay_msg_init(&m);
	m.cmd = RELAY_FLAG_UDP | RELAY_CMD_CONNECT;
	m.has_network = true;
	m.network = RELAY_NETWORK_UDP;
	assert_int_equal(relay_addr_set(&a, "8.8.8.8", 53), 0);
	relay_msg_add_addr(&m, &a);
	assert_int_equal(relay_request_encode(got, sizeof(got), &m), (int)n);
	assert_memory_equal(got, want, n);
}

/* CONNECT with UDP and credentials: Network goes before UserAuth. */
static void test_connect_order_network_first(void **state)
{
	uint8_t got[RELAY_MSG_MAX_LEN], want[64];
	size_t n = unhex("01 81 00 16 04 00 02 00 01 01 00 04 01 75 01 70 "
			 "02 00 07 01 08 08 08 08 00 35", want);
	struct relay_msg m;
	struct relay_addr a;

	(void)state;
	relay_msg_init(&m);
	m.cmd = 0x81;
	m.has_network = true;
	m.network = RELAY_NETWORK_UDP;
	relay_msg_set_user_auth(&m, "u", "p");
	relay_addr_set(&a, "8.8.8.8", 53);
	relay_msg_add_addr(&m, &a);
	assert_int_equal(relay_request_encode(got, sizeof(got), &m), (int)n);
	assert_memory_equal(got, want, n);
	assert_int_equal(relay_request_parse(want, n, &m), (int)n);
	assert_int_equal(m.order, RELAY_ORDER_NETWORK_FIRST);
}

static void test_bind_x_vector(void **state)
{
	uint8_t want[64], got[RELAY_MSG_MAX_LEN];
	size_t n = unhex(BIND_X_VEC, want);
	struct relay_msg m;
	struct relay_addr a;

	(void)state;
	assert_int_equal(relay_request_parse(want, n, &m), (int)n);
	assert_int_equal(m.cmd, RELAY_CMD_BIND);
	assert_int_equal(m.order, RELAY_ORDER_AUTH_FIRST);
	assert_true(m.has_user_auth);
	assert_true(m.has_network);
	assert_int_equal(m.network, RELAY_NETWORK_TCP);
	assert_int_equal(m.naddr, 1);
	assert_int_equal(m.addr[0].atyp, RELAY_ATYP_IPV4);
	assert_string_equal(m.addr[0].host, "0.0.0.0");
	assert_int_equal(m.addr[0].port, 2222);
	check_prefixes(relay_request_parse, want, n);

	/* AUTO order picks UserAuth first for BIND. */
	relay_msg_init(&m);
	m.cmd = RELAY_CMD_BIND;
	relay_msg_set_user_auth(&m, "u", "p");
	m.has_network = true;
	m.network = RELAY_NETWORK_TCP;
	assert_int_equal(relay_addr_from_string(&a, "0.0.0.0:2222"), 0);
	relay_msg_add_addr(&m, &a);
	assert_int_equal(relay_request_encode(got, sizeof(got), &m), (int)n);
	assert_memory_equal(got, want, n);
	check_encode_caps(relay_request_encode, &m, n);

	/* Explicit NETWORK_FIRST (tunnel BIND style) swaps the two. */
	m.order = RELAY_ORDER_NETWORK_FIRST;
	assert_int_equal(relay_request_encode(got, sizeof(got), &m), (int)n);
	assert_memory_equal(got + 4, want + 11, 5);
	assert_memory_equal(got + 9, want + 4, 7);
}

static void test_bind_x81_vector(void **state)
{
	uint8_t want[64], got[RELAY_MSG_MAX_LEN];
	size_t n = unhex(BIND_X81_VEC, want);
	struct relay_msg m;
	struct relay_addr a;

	(void)state;
	assert_int_equal(relay_request_parse(want, n, &m), (int)n);
	assert_int_equal(m.naddr, 1);
	assert_int_equal(m.addr[0].atyp, RELAY_ATYP_DOMAIN);
	assert_string_equal(m.addr[0].host, "");
	assert_int_equal(m.addr[0].port, 2222);
	check_prefixes(relay_request_parse, want, n);

	relay_msg_init(&m);
	m.cmd = RELAY_CMD_BIND;
	relay_msg_set_user_auth(&m, "u", "p");
	m.has_network = true;
	assert_int_equal(relay_addr_from_string(&a, ":2222"), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_DOMAIN);
	relay_msg_add_addr(&m, &a);
	assert_int_equal(relay_request_encode(got, sizeof(got), &m), (int)n);
	assert_memory_equal(got, want, n);
}

static void test_bind_replies(void **state)
{
	uint8_t want[64], got[RELAY_MSG_MAX_LEN];
	size_t n;
	struct relay_msg m;
	struct relay_addr a;

	(void)state;
	n = unhex(BIND_OK_V4_VEC, want);
	assert_int_equal(relay_response_parse(want, n, &m), (int)n);
	assert_int_equal(m.status, 0);
	assert_int_equal(m.naddr, 1);
	assert_string_equal(m.addr[0].host, "0.0.0.0");
	assert_int_equal(m.addr[0].port, 2222);
	check_prefixes(relay_response_parse, want, n);
	relay_addr_set(&a, "0.0.0.0", 2222);
	assert_int_equal(relay_response_encode_addrs(got, sizeof(got), 0, &a, 1), (int)n);
	assert_memory_equal(got, want, n);

	n = unhex(BIND_OK_V6_VEC, want);
	assert_int_equal(n, 26);
	assert_int_equal(relay_response_parse(want, n, &m), (int)n);
	assert_int_equal(m.addr[0].atyp, RELAY_ATYP_IPV6);
	assert_string_equal(m.addr[0].host, "::");
	assert_int_equal(m.addr[0].port, 2222);
	check_prefixes(relay_response_parse, want, n);
	assert_int_equal(relay_addr_from_string(&a, "[::]:2222"), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_IPV6);
	assert_int_equal(relay_response_encode_addrs(got, sizeof(got), 0, &a, 1), (int)n);
	assert_memory_equal(got, want, n);
	check_encode_caps(relay_response_encode, &m, n);
}

static void test_stream_header_vector(void **state)
{
	uint8_t want[64], got[RELAY_MSG_MAX_LEN];
	size_t n = unhex(STREAM_HDR_VEC, want);
	struct relay_msg m;
	struct relay_addr a[2];
	char text[64];

	(void)state;
	assert_int_equal(relay_response_parse(want, n, &m), (int)n);
	assert_string_equal(m.addr[0].host, "203.0.113.5");
	assert_int_equal(m.addr[0].port, 51000);
	assert_int_equal(relay_addr_format(&m.addr[0], text, sizeof(text)), 17);
	assert_string_equal(text, "203.0.113.5:51000");
	check_prefixes(relay_response_parse, want, n);

	assert_int_equal(relay_addr_from_string(&a[0], "203.0.113.5:51000"), 0);
	assert_int_equal(relay_response_encode_addrs(got, sizeof(got), 0, a, 1), (int)n);
	assert_memory_equal(got, want, n);

	/* With the optional second Addr (metadata host) the connector reads. */
	relay_addr_set(&a[1], "10.0.0.1", 22);
	n = (size_t)relay_response_encode_addrs(got, sizeof(got), 0, a, 2);
	assert_int_equal(n, 24);
	assert_int_equal(relay_response_parse(got, n, &m), 24);
	assert_int_equal(m.naddr, 2);
	assert_string_equal(m.addr[1].host, "10.0.0.1");
	assert_ptr_equal(relay_msg_last_addr(&m), &m.addr[1]);
	assert_int_equal(relay_response_encode_addrs(got, sizeof(got), 0, a, 3), -1);
}

static void test_udp_bind_frame_vector(void **state)
{
	uint8_t want[64], got[64];
	size_t n = unhex(UDP_BIND_VEC, want), i, plen;
	const uint8_t *payload;
	struct relay_addr a;

	(void)state;
	assert_int_equal(relay_udp_bind_frame_parse(want, n, &a, &payload, &plen), (int)n);
	assert_int_equal(a.atyp, RELAY_ATYP_IPV4);
	assert_string_equal(a.host, "8.8.8.8");
	assert_int_equal(a.port, 53);
	assert_int_equal(plen, 3);
	assert_memory_equal(payload, "abc", 3);
	for (i = 0; i < n; i++)
		assert_int_equal(relay_udp_bind_frame_parse(want, i, &a, &payload, &plen), 0);

	relay_addr_set(&a, "8.8.8.8", 53);
	assert_int_equal(relay_udp_bind_frame_encode(got, sizeof(got), &a,
						     (const uint8_t *)"abc", 3), (int)n);
	assert_memory_equal(got, want, n);
	for (i = 0; i < n; i++)
		assert_int_equal(relay_udp_bind_frame_encode(got, i, &a,
							     (const uint8_t *)"abc", 3), -1);
	assert_int_equal(relay_udp_bind_header_encode(got, sizeof(got), &a, 3), 10);
	assert_memory_equal(got, want, 10);

	/* FRAG is ignored on read. */
	want[2] = 0x00;
	assert_int_equal(relay_udp_bind_frame_parse(want, n, &a, &payload, &plen), (int)n);
}

static void test_udp_bind_frame_rejects(void **state)
{
	static uint8_t buf[70000], big[65536];
	const uint8_t *payload;
	size_t plen;
	struct relay_addr a;

	(void)state;
	relay_addr_set(&a, "example.com", 5353);
	/* Empty datagrams would be read by GOST as plain SOCKS5. */
	assert_int_equal(relay_udp_bind_header_encode(buf, sizeof(buf), &a, 0), -1);
	assert_int_equal(relay_udp_bind_frame_encode(buf, sizeof(buf), &a, NULL, 0), -1);
	memset(big, 'x', sizeof(big));
	assert_int_equal(relay_udp_bind_frame_encode(buf, sizeof(buf), &a, big, 65536), -1);
	assert_int_equal(relay_udp_bind_frame_encode(buf, sizeof(buf), &a, big, 65535),
			 3 + 2 + 11 + 2 + 65535);
	assert_int_equal(relay_udp_bind_frame_parse(buf, 3 + 2 + 11 + 2 + 65535, &a, &payload, &plen),
			 3 + 2 + 11 + 2 + 65535);
	assert_string_equal(a.host, "example.com");
	assert_int_equal(plen, 65535);

	{
		const uint8_t rsv0[] = { 0x00, 0x00 };
		const uint8_t bad_atyp[] = { 0x00, 0x03, 0xff, 0x02 };
		const uint8_t nul_domain[] = { 0x00, 0x01, 0xff, 0x03, 0x02, 'a', 0x00, 0, 53, 'x' };

		assert_int_equal(relay_udp_bind_frame_parse(rsv0, 2, &a, &payload, &plen), -1);
		assert_int_equal(relay_udp_bind_frame_parse(bad_atyp, 4, &a, &payload, &plen), -1);
		assert_int_equal(relay_udp_bind_frame_parse(bad_atyp, 3, &a, &payload, &plen), 0);
		assert_int_equal(relay_udp_bind_frame_parse(nul_domain, sizeof(nul_domain), &a,
							    &payload, &plen), -1);
	}
}

static void test_udp_len_framing(void **state)
{
	uint8_t buf[16] = { 0x00, 0x03, 'a', 'b', 'c', 0x00 };
	const uint8_t *payload;
	size_t plen, i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(relay_udp_len_frame_parse(buf, i, &payload, &plen), 0);
	assert_int_equal(relay_udp_len_frame_parse(buf, 6, &payload, &plen), 5);
	assert_ptr_equal(payload, buf + 2);
	assert_int_equal(plen, 3);
	/* An empty datagram is legal here. */
	assert_int_equal(relay_udp_len_frame_parse(buf + 5, 2, &payload, &plen), 2);
	assert_int_equal(plen, 0);

	assert_int_equal(relay_udp_len_header_encode(buf, sizeof(buf), 0x1234), 2);
	assert_int_equal(buf[0], 0x12);
	assert_int_equal(buf[1], 0x34);
	assert_int_equal(relay_udp_len_header_encode(buf, sizeof(buf), 65535), 2);
	assert_int_equal(relay_udp_len_header_encode(buf, sizeof(buf), 65536), -1);
	assert_int_equal(relay_udp_len_header_encode(buf, 1, 1), -1);
}

struct bad_case {
	const char *name;
	const char *hex;
};

/* Complete messages that must be refused. */
static const struct bad_case bad_messages[] = {
	{ "version 0", "00 01 00 00" },
	{ "version 2", "02 01 00 00" },
	{ "feature type 0", "01 01 00 03 00 00 00" },
	{ "feature type 5", "01 01 00 03 05 00 00" },
	{ "feature type 0xff", "01 01 00 05 ff 00 02 00 00" },
	{ "one byte of garbage", "01 01 00 01 04" },
	{ "two bytes of garbage", "01 01 00 02 04 00" },
	{ "garbage after a feature", "01 01 00 06 04 00 02 00 01 04" },
	{ "feature longer than FEALEN", "01 01 00 05 04 00 03 00 01" },
	{ "user auth empty", "01 01 00 03 01 00 00" },
	{ "user auth 1 byte", "01 01 00 04 01 00 01 00" },
	{ "user auth ulen overflow", "01 01 00 05 01 00 02 05 75" },
	{ "user auth no plen", "01 01 00 05 01 00 02 01 75" },
	{ "user auth plen overflow", "01 01 00 07 01 00 04 01 75 02 70" },
	{ "addr empty", "01 01 00 03 02 00 00" },
	{ "addr 3 bytes", "01 01 00 06 02 00 03 03 00 00" },
	{ "addr atyp 0", "01 01 00 0a 02 00 07 00 01 02 03 04 00 50" },
	{ "addr atyp 2", "01 01 00 0a 02 00 07 02 01 02 03 04 00 50" },
	{ "addr atyp 5", "01 01 00 0a 02 00 07 05 01 02 03 04 00 50" },
	{ "addr ipv4 short", "01 01 00 09 02 00 06 01 01 02 03 04 00" },
	{ "addr ipv6 short", "01 01 00 15 02 00 12 04 " ZERO16 " 00" },
	{ "addr domain short", "01 01 00 08 02 00 05 03 03 61 62 00" },
	{ "addr domain with NUL", "01 01 00 09 02 00 06 03 02 61 00 00 50" },
	{ "network 1 byte", "01 01 00 04 04 00 01 00" },
	{ "network empty", "01 01 00 03 04 00 00" },
	{ "tunnel 15 bytes", "01 01 00 12 03 00 0f 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00" },
};

static void test_malformed(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_messages) / sizeof(bad_messages[0]); i++) {
		uint8_t buf[128];
		size_t n = unhex(bad_messages[i].hex, buf);
		struct relay_msg m;
		int r1 = relay_request_parse(buf, n, &m), r2 = relay_response_parse(buf, n, &m);

		if (r1 != -1 || r2 != -1)
			fail_msg("%s: request %d response %d", bad_messages[i].name, r1, r2);
	}
}

/* Errors detectable in a prefix are reported without waiting for FEALEN. */
static void test_malformed_early(void **state)
{
	uint8_t buf[16];
	struct relay_msg m;

	(void)state;
	buf[0] = 0x05;
	assert_int_equal(relay_request_parse(buf, 1, &m), -1);
	unhex("01 01 01 00 07", buf);
	assert_int_equal(relay_request_parse(buf, 4, &m), 0);
	assert_int_equal(relay_request_parse(buf, 5, &m), -1);
	unhex("01 01 01 00 02 00 20 09", buf);
	assert_int_equal(relay_request_parse(buf, 7, &m), 0);
	assert_int_equal(relay_request_parse(buf, 8, &m), -1);
	unhex("01 01 01 00 02 00 20 03 05 61 00", buf);
	assert_int_equal(relay_request_parse(buf, 10, &m), 0);
	assert_int_equal(relay_request_parse(buf, 11, &m), -1);
}

static void test_lenient_features(void **state)
{
	uint8_t buf[128];
	struct relay_msg m;
	size_t n;

	(void)state;
	/* Bytes after the fields inside a feature's LEN are ignored, as GOST does. */
	n = unhex("01 01 00 0c 02 00 09 01 01 02 03 04 00 50 aa bb", buf);
	assert_int_equal(relay_request_parse(buf, n, &m), (int)n);
	assert_string_equal(m.addr[0].host, "1.2.3.4");
	assert_int_equal(m.addr[0].port, 80);
	n = unhex("01 01 00 08 01 00 05 00 00 ee ee ee", buf);
	assert_int_equal(relay_request_parse(buf, n, &m), (int)n);
	assert_true(m.has_user_auth);
	assert_int_equal(m.username_len, 0);
	assert_int_equal(m.password_len, 0);
	n = unhex("01 01 00 06 04 00 03 00 11 ff", buf);
	assert_int_equal(relay_request_parse(buf, n, &m), (int)n);
	assert_int_equal(m.network, RELAY_NETWORK_SERIAL);

	/* A 16-byte (go-gost/relay v0.5) tunnel id is zero-extended. */
	n = unhex("01 02 00 13 03 00 10 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11", buf);
	assert_int_equal(relay_request_parse(buf, n, &m), (int)n);
	assert_true(m.has_tunnel);
	assert_int_equal(m.tunnel[15], 0x11);
	assert_int_equal(m.tunnel[16], 0);
	assert_int_equal(m.tunnel[19], 0);

	/* An unknown network id is kept raw and reads as tcp. */
	n = unhex("01 01 00 05 04 00 02 12 34", buf);
	assert_int_equal(relay_request_parse(buf, n, &m), (int)n);
	assert_int_equal(m.network, 0x1234);
	assert_string_equal(relay_network_name(m.network), "tcp");

	/* Forward-mode clients send an empty domain with port 0. */
	n = unhex("01 01 00 07 02 00 04 03 00 00 00", buf);
	assert_int_equal(relay_request_parse(buf, n, &m), (int)n);
	assert_string_equal(m.addr[0].host, "");
	assert_int_equal(m.addr[0].port, 0);
}

static void test_last_one_wins(void **state)
{
	uint8_t buf[128];
	struct relay_msg m;
	size_t n;
	const struct relay_addr *last;

	(void)state;
	n = unhex("01 01 00 2c "
		  "01 00 04 01 61 01 62 "
		  "02 00 07 01 01 01 01 01 00 01 "
		  "02 00 07 01 02 02 02 02 00 02 "
		  "01 00 04 01 63 01 64 "
		  "02 00 07 01 03 03 03 03 00 03", buf);
	assert_int_equal(relay_request_parse(buf, n, &m), (int)n);
	assert_string_equal(m.username, "c");
	assert_string_equal(m.password, "d");
	assert_int_equal(m.naddr, 2);
	assert_int_equal(m.naddr_total, 3);
	assert_string_equal(m.addr[0].host, "1.1.1.1");
	assert_string_equal(m.addr[1].host, "2.2.2.2");
	last = relay_msg_last_addr(&m);
	assert_non_null(last);
	assert_string_equal(last->host, "3.3.3.3");
	assert_int_equal(last->port, 3);

	n = unhex("01 01 00 0a 04 00 02 00 01 04 00 02 00 10", buf);
	assert_int_equal(relay_request_parse(buf, n, &m), (int)n);
	assert_int_equal(m.network, RELAY_NETWORK_UNIX);
}

static void test_tunnel_round_trip(void **state)
{
	uint8_t buf[RELAY_MSG_MAX_LEN];
	struct relay_msg m, back;
	struct relay_addr a;
	int n, i;

	(void)state;
	relay_msg_init(&m);
	m.cmd = RELAY_CMD_BIND;
	m.order = RELAY_ORDER_NETWORK_FIRST;
	m.has_network = true;
	m.network = RELAY_NETWORK_UDP;
	relay_msg_set_user_auth(&m, "user", "");
	relay_addr_set(&a, "192.0.2.1", 1000);
	relay_msg_add_addr(&m, &a);
	relay_addr_set(&a, "2001:db8::1", 2000);
	relay_msg_add_addr(&m, &a);
	m.has_tunnel = true;
	for (i = 0; i < RELAY_TUNNEL_LEN; i++)
		m.tunnel[i] = (uint8_t)(i + 1);
	n = relay_request_encode(buf, sizeof(buf), &m);
	assert_int_equal(n, 4 + 5 + 9 + 10 + 22 + 23);
	assert_int_equal(buf[4], RELAY_FEATURE_NETWORK);
	assert_int_equal(buf[9], RELAY_FEATURE_USER_AUTH);
	assert_int_equal(buf[n - 23], RELAY_FEATURE_TUNNEL);
	assert_int_equal(relay_request_parse(buf, (size_t)n, &back), n);
	assert_int_equal(back.order, RELAY_ORDER_NETWORK_FIRST);
	assert_string_equal(back.username, "user");
	assert_int_equal(back.password_len, 0);
	assert_string_equal(back.addr[1].host, "2001:db8::1");
	assert_int_equal(back.addr[1].atyp, RELAY_ATYP_IPV6);
	assert_memory_equal(back.tunnel, m.tunnel, RELAY_TUNNEL_LEN);
	check_encode_caps(relay_request_encode, &m, (size_t)n);
}

static void test_encode_limits(void **state)
{
	uint8_t buf[RELAY_MSG_MAX_LEN + 16];
	struct relay_msg m, back;
	char longs[300];
	int n;

	(void)state;
	memset(longs, 'x', sizeof(longs));
	longs[256] = '\0';
	relay_msg_init(&m);
	assert_int_equal(relay_msg_set_user_auth(&m, longs, "p"), -1);
	assert_int_equal(relay_msg_set_user_auth(&m, "u", longs), -1);
	longs[255] = '\0';
	assert_int_equal(relay_msg_set_user_auth(&m, longs, longs), 0);

	/* The largest message fits RELAY_MSG_MAX_LEN. */
	m.has_network = true;
	m.has_tunnel = true;
	assert_int_equal(relay_addr_set(&m.addr[0], longs, 1), 0);
	assert_int_equal(relay_addr_set(&m.addr[1], longs, 2), 0);
	m.naddr = 2;
	n = relay_request_encode(buf, sizeof(buf), &m);
	assert_int_equal(n, RELAY_MSG_MAX_LEN);
	assert_int_equal(relay_request_parse(buf, (size_t)n, &back), n);
	assert_int_equal(back.username_len, 255);
	assert_int_equal(strlen(back.addr[1].host), 255);
	assert_int_equal(relay_msg_add_addr(&m, &m.addr[0]), -1);

	longs[255] = 'x';
	assert_int_equal(relay_addr_set(&m.addr[0], longs, 1), -1);

	/* Invalid addresses are refused rather than sent as 0.0.0.0. */
	relay_msg_init(&m);
	m.naddr = 1;
	m.addr[0].atyp = RELAY_ATYP_IPV4;
	strcpy(m.addr[0].host, "example.com");
	assert_int_equal(relay_request_encode(buf, sizeof(buf), &m), -1);
	m.addr[0].atyp = RELAY_ATYP_IPV6;
	assert_int_equal(relay_request_encode(buf, sizeof(buf), &m), -1);
	m.addr[0].atyp = 0;
	assert_int_equal(relay_request_encode(buf, sizeof(buf), &m), -1);
	m.addr[0].atyp = 2;
	assert_int_equal(relay_request_encode(buf, sizeof(buf), &m), -1);
	m.naddr = 3;
	assert_int_equal(relay_request_encode(buf, sizeof(buf), &m), -1);

	/* IPv4 text under ATYP 4 and mapped IPv6 under ATYP 1 encode like Go's To16/To4. */
	m.naddr = 1;
	m.addr[0].atyp = RELAY_ATYP_IPV6;
	strcpy(m.addr[0].host, "1.2.3.4");
	assert_int_equal(relay_request_encode(buf, sizeof(buf), &m), 4 + 3 + 19);
	assert_int_equal(buf[4 + 3 + 11], 0xff);
	assert_int_equal(buf[4 + 3 + 13], 1);
	m.addr[0].atyp = RELAY_ATYP_IPV4;
	strcpy(m.addr[0].host, "::ffff:1.2.3.4");
	assert_int_equal(relay_request_encode(buf, sizeof(buf), &m), 4 + 3 + 7);
	assert_int_equal(buf[4 + 3 + 1], 1);
	strcpy(m.addr[0].host, "::1");
	assert_int_equal(relay_request_encode(buf, sizeof(buf), &m), -1);
}

static void test_addr_set(void **state)
{
	struct relay_addr a;

	(void)state;
	assert_int_equal(relay_addr_set(&a, "10.1.2.3", 80), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_IPV4);
	assert_string_equal(a.host, "10.1.2.3");
	assert_int_equal(relay_addr_set(&a, "::ffff:10.1.2.3", 80), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_IPV4);
	assert_string_equal(a.host, "10.1.2.3");
	assert_int_equal(relay_addr_set(&a, "2001:DB8:0::1", 80), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_IPV6);
	assert_string_equal(a.host, "2001:db8::1");
	assert_int_equal(relay_addr_set(&a, "", 0), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_DOMAIN);
	assert_string_equal(a.host, "");
	assert_int_equal(relay_addr_set(&a, NULL, 7), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_DOMAIN);
	assert_int_equal(relay_addr_set(&a, "fe80::1%eth0", 1), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_DOMAIN);
	assert_int_equal(relay_addr_set(&a, "/run/app.sock", 0), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_DOMAIN);
	assert_string_equal(a.host, "/run/app.sock");
}

static void test_addr_from_string(void **state)
{
	struct relay_addr a;
	char text[300];

	(void)state;
	assert_int_equal(relay_addr_from_string(&a, "[2001:db8::2]:8443"), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_IPV6);
	assert_string_equal(a.host, "2001:db8::2");
	assert_int_equal(a.port, 8443);
	assert_int_equal(relay_addr_format(&a, text, sizeof(text)), 18);
	assert_string_equal(text, "[2001:db8::2]:8443");
	assert_int_equal(relay_addr_format(&a, text, 18), -1);

	assert_int_equal(relay_addr_from_string(&a, "::1"), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_IPV6);
	assert_int_equal(a.port, 0);
	assert_int_equal(relay_addr_from_string(&a, "[::]"), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_IPV6);
	assert_int_equal(relay_addr_from_string(&a, "/tmp/x.sock"), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_DOMAIN);
	assert_string_equal(a.host, "/tmp/x.sock");
	assert_int_equal(a.port, 0);
	assert_int_equal(relay_addr_from_string(&a, ":0"), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_DOMAIN);
	assert_string_equal(a.host, "");
	assert_int_equal(relay_addr_from_string(&a, ""), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_DOMAIN);
	assert_int_equal(relay_addr_from_string(&a, "host:"), 0);
	assert_int_equal(a.port, 0);
	assert_int_equal(relay_addr_from_string(&a, "host:65535"), 0);
	assert_int_equal(a.port, 65535);
	assert_int_equal(relay_addr_from_string(&a, "::ffff:1.2.3.4"), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_IPV4);
	assert_int_equal(relay_addr_from_string(&a, "host:65536"), -1);
	assert_int_equal(relay_addr_from_string(&a, "host:http"), -1);
	assert_int_equal(relay_addr_from_string(&a, "host:-1"), -1);
	assert_int_equal(relay_addr_from_string(&a, "[::1]:x"), -1);

	assert_int_equal(relay_addr_from_string(&a, "[fe80::1%eth0]:22"), 0);
	assert_int_equal(a.atyp, RELAY_ATYP_DOMAIN);
	assert_string_equal(a.host, "fe80::1%eth0");
	assert_int_equal(relay_addr_format(&a, text, sizeof(text)), 17);
	assert_string_equal(text, "[fe80::1%eth0]:22");

	assert_int_equal(relay_addr_from_string(&a, ":2222"), 0);
	assert_int_equal(relay_addr_format(&a, text, sizeof(text)), 5);
	assert_string_equal(text, ":2222");
}

static void test_addr_parse_prefixes(void **state)
{
	uint8_t buf[32];
	struct relay_addr a;
	size_t n, i;

	(void)state;
	n = unhex("04 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 01 bb", buf);
	assert_int_equal(relay_addr_parse(buf, n, &a), (int)n);
	assert_string_equal(a.host, "2001:db8::1");
	assert_int_equal(a.port, 443);
	for (i = 0; i < n; i++)
		assert_int_equal(relay_addr_parse(buf, i, &a), 0);
	assert_int_equal(relay_addr_encode(buf, n - 1, &a), -1);
}

static void test_texts(void **state)
{
	(void)state;
	assert_string_equal(relay_status_text(0), "OK");
	assert_string_equal(relay_status_text(1), "Bad Request");
	assert_string_equal(relay_status_text(2), "Unauthorized");
	assert_string_equal(relay_status_text(3), "Forbidden");
	assert_string_equal(relay_status_text(4), "Timeout");
	assert_string_equal(relay_status_text(5), "Service Unavailable");
	assert_string_equal(relay_status_text(6), "Host Unreachable");
	assert_string_equal(relay_status_text(7), "Network Unreachable");
	assert_string_equal(relay_status_text(8), "Internal Server Error");
	assert_string_equal(relay_status_text(9), "Unknown");
	assert_string_equal(relay_network_name(0), "tcp");
	assert_string_equal(relay_network_name(1), "udp");
	assert_string_equal(relay_network_name(2), "ip");
	assert_string_equal(relay_network_name(0x10), "unix");
	assert_string_equal(relay_network_name(0x11), "serial");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_vector),
		cmocka_unit_test(test_ok_response),
		cmocka_unit_test(test_error_responses),
		cmocka_unit_test(test_udp_connect_vector),
		cmocka_unit_test(test_connect_order_network_first),
		cmocka_unit_test(test_bind_x_vector),
		cmocka_unit_test(test_bind_x81_vector),
		cmocka_unit_test(test_bind_replies),
		cmocka_unit_test(test_stream_header_vector),
		cmocka_unit_test(test_udp_bind_frame_vector),
		cmocka_unit_test(test_udp_bind_frame_rejects),
		cmocka_unit_test(test_udp_len_framing),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_malformed_early),
		cmocka_unit_test(test_lenient_features),
		cmocka_unit_test(test_last_one_wins),
		cmocka_unit_test(test_tunnel_round_trip),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_addr_set),
		cmocka_unit_test(test_addr_from_string),
		cmocka_unit_test(test_addr_parse_prefixes),
		cmocka_unit_test(test_texts),
	};

	return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
