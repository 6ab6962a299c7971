/* Unit tests for the PROXY protocol codec (HAProxy's proxy-protocol.txt, v1 and v2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "proto/proxy_protocol.h"

static const uint8_t SIG2[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

static long parse_str(const char *s, struct pp_header *h) { return pp_parse((const uint8_t *)s, strlen(s), h); }

/* A v2 header by hand: ver_cmd, fam, then plen payload bytes. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *payload, size_t plen)
{
	memcpy(out, SIG2, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(plen >> 8);
	out[15] = (uint8_t)plen;
	if (plen)
		memcpy(out + 16, payload, plen);
	return 16 + plen;
}

static void test_v1_tcp4(void **state)
{
	(void)state;
	struct pp_header h;
	const char *s = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET /";
	assert_int_equal(parse_str(s, &h), 45);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.has_addrs, 1);
	assert_int_equal(h.src.family, 4);
	assert_memory_equal(h.src.ip, "\xC0\x00\x02\x07", 4);
	assert_memory_equal(h.dst.ip, "\xC6\x33\x64\x01", 4);
	assert_int_equal(h.src.port, 56324);
	assert_int_equal(h.dst.port, 443);
}

static void test_v1_tcp6_and_unknown(void **state)
{
	(void)state;
	struct pp_header h;
	const char *s = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
	assert_int_equal(parse_str(s, &h), (long)strlen(s));
	assert_int_equal(h.src.family, 6);
	assert_int_equal(h.src.ip[0], 0x20);
	assert_int_equal(h.src.ip[15], 1);
	assert_int_equal(h.dst.ip[15], 1);
	assert_int_equal(h.src.port, 65535);
	assert_int_equal(h.dst.port, 0);
	assert_int_equal(parse_str("PROXY UNKNOWN\r\n", &h), 15);
	assert_int_equal(h.has_addrs, 0);
	/* UNKNOWN's rest of the line is ignored */
	assert_int_equal(parse_str("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", &h), 35);
	assert_int_equal(h.has_addrs, 0);
}

static void test_v1_rejects(void **state)
{
	(void)state;
	struct pp_header h;
	static const char *bad[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",          /* LF without CR */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",        /* protocol */
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",          /* a field missing */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",      /* one too many */
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",       /* two spaces */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",       /* trailing space */
		"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",            /* family mismatch */
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",          /* address */
		"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
		"PROXY TCP4 host 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",    /* port range */
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",       /* leading zero */
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (parse_str(bad[i], &h) != PP_INVALID)
			fail_msg("accepted: %s", bad[i]);
	}
	/* a NUL inside the line */
	const uint8_t nul[] = "PROXY TCP4 1.2.3.4\0005.6.7.8 1 2\r\n";
	assert_int_equal(pp_parse(nul, sizeof nul - 1, &h), PP_INVALID);
	/* no LF within 107 bytes */
	char longline[200];
	memset(longline, 'A', sizeof longline);
	memcpy(longline, "PROXY UNKNOWN ", 14);
	assert_int_equal(pp_parse((const uint8_t *)longline, PP_V1_MAX_LEN, &h), PP_INVALID);
	assert_int_equal(pp_parse((const uint8_t *)longline, PP_V1_MAX_LEN - 1, &h), PP_NEED_MORE);
	/* exactly 107 with CRLF is fine, 108 is not */
	memcpy(longline + 105, "\r\n", 2);
	assert_int_equal(pp_parse((const uint8_t *)longline, 107, &h), 107);
	memset(longline, 'A', sizeof longline);
	memcpy(longline, "PROXY UNKNOWN ", 14);
	memcpy(longline + 106, "\r\n", 2);
	assert_int_equal(pp_parse((const uint8_t *)longline, 108, &h), PP_INVALID);
}

static void test_not_proxy_and_prefixes(void **state)
{
	(void)state;
	struct pp_header h;
	assert_int_equal(parse_str("GET / HTTP/1.1\r\n", &h), PP_NOT_PROXY);
	assert_int_equal(parse_str("\x05\x01\x00", &h), PP_NOT_PROXY);
	assert_int_equal(parse_str("PROXX", &h), PP_NOT_PROXY);
	assert_int_equal(parse_str("POST", &h), PP_NOT_PROXY);
	assert_int_equal(parse_str("\r\n\r\n\r", &h), PP_NOT_PROXY);
	assert_int_equal(pp_parse(NULL, 0, &h), PP_NEED_MORE);
	assert_int_equal(parse_str("P", &h), PP_NEED_MORE);
	assert_int_equal(parse_str("PROXY", &h), PP_NEED_MORE);
	assert_int_equal(pp_parse(SIG2, 7, &h), PP_NEED_MORE);
	assert_int_equal(pp_parse(SIG2, 12, &h), PP_NEED_MORE);
	/* a signature seen: a header has begun */
	assert_false(pp_signature_seen((const uint8_t *)"PROXY", 5));
	assert_true(pp_signature_seen((const uint8_t *)"PROXY ", 6));
	assert_false(pp_signature_seen(SIG2, 11));
	assert_true(pp_signature_seen(SIG2, 12));
	assert_false(pp_signature_seen((const uint8_t *)"GET / ", 6));
}

/* Every split point of a valid header: each prefix needs more, the whole parses. */
static void test_every_prefix_needs_more(void **state)
{
	(void)state;
	struct pp_header h;
	uint8_t buf[64];
	const char *s = "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n";
	for (size_t i = 0; i < strlen(s); i++)
		assert_int_equal(pp_parse((const uint8_t *)s, i, &h), PP_NEED_MORE);
	uint8_t pl[12] = { 10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 1, 187 };
	size_t n = v2(buf, 0x21, 0x11, pl, sizeof pl);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pp_parse(buf, i, &h), PP_NEED_MORE);
	assert_int_equal(pp_parse(buf, n, &h), (long)n);
}

static void test_v2_inet_inet6_tlvs(void **state)
{
	(void)state;
	struct pp_header h;
	uint8_t buf[128], pl[64];
	uint8_t a4[12] = { 203, 0, 113, 9, 127, 0, 0, 1, 0xDB, 0xC4, 0x1F, 0x90 };
	memcpy(pl, a4, 12);
	/* two TLVs: ALPN "h2" and a NOOP with no value */
	memcpy(pl + 12, "\x01\x00\x02h2\x04\x00\x00", 8);
	size_t n = v2(buf, 0x21, 0x11, pl, 20);
	memcpy(buf + n, "data", 4);
	assert_int_equal(pp_parse(buf, n + 4, &h), (long)n);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.has_addrs, 1);
	assert_int_equal(h.src.family, 4);
	assert_memory_equal(h.src.ip, a4, 4);
	assert_int_equal(h.src.port, 56260);
	assert_int_equal(h.dst.port, 8080);

	memset(pl, 0, 36);
	pl[0] = 0x20, pl[15] = 1, pl[31] = 2, pl[33] = 7, pl[35] = 9;
	n = v2(buf, 0x21, 0x21, pl, 36);
	assert_int_equal(pp_parse(buf, n, &h), (long)n);
	assert_int_equal(h.src.family, 6);
	assert_int_equal(h.src.ip[15], 1);
	assert_int_equal(h.dst.ip[15], 2);
	assert_int_equal(h.src.port, 7);
	assert_int_equal(h.dst.port, 9);
	/* transport unspecified: still addresses */
	n = v2(buf, 0x21, 0x20, pl, 36);
	assert_int_equal(pp_parse(buf, n, &h), (long)n);
	assert_int_equal(h.has_addrs, 1);
}

static void test_v2_local_unspec_unix(void **state)
{
	(void)state;
	struct pp_header h;
	uint8_t buf[300], pl[216] = { 0 };
	/* LOCAL: addresses (if any) ignored */
	size_t n = v2(buf, 0x20, 0x00, NULL, 0);
	assert_int_equal(pp_parse(buf, n, &h), 16);
	assert_int_equal(h.has_addrs, 0);
	n = v2(buf, 0x20, 0x11, pl, 12);
	assert_int_equal(pp_parse(buf, n, &h), 28);
	assert_int_equal(h.has_addrs, 0);
	/* PROXY with AF_UNSPEC or AF_UNIX: no IP addresses */
	n = v2(buf, 0x21, 0x00, NULL, 0);
	assert_int_equal(pp_parse(buf, n, &h), 16);
	assert_int_equal(h.has_addrs, 0);
	n = v2(buf, 0x21, 0x31, pl, 216);
	assert_int_equal(pp_parse(buf, n, &h), (long)n);
	assert_int_equal(h.has_addrs, 0);
}

static void test_v2_rejects(void **state)
{
	(void)state;
	struct pp_header h;
	uint8_t buf[PP_HEADER_MAX + 32], pl[PP_V2_MAX_PAYLOAD + 1];
	memset(pl, 0, sizeof pl);
	struct { uint8_t vc, fam; size_t plen; } bad[] = {
		{ 0x11, 0x11, 12 },     /* version 1 in a v2 signature */
		{ 0x31, 0x11, 12 },     /* version 3 */
		{ 0x22, 0x11, 12 },     /* command 2 */
		{ 0x2F, 0x11, 12 },
		{ 0x21, 0x41, 12 },     /* family 4 */
		{ 0x21, 0x13, 12 },     /* transport 3 */
		{ 0x21, 0x12, 12 },     /* DGRAM addresses on a stream */
		{ 0x21, 0x11, 11 },     /* too short for IPv4 addresses */
		{ 0x21, 0x21, 35 },     /* too short for IPv6 */
		{ 0x21, 0x31, 215 },    /* too short for AF_UNIX */
		{ 0x21, 0x11, 13 },     /* a TLV cut after its type */
		{ 0x21, 0x11, 14 },     /* ... after one length byte */
		{ 0x21, 0x11, PP_V2_MAX_PAYLOAD + 1 },   /* over the size bound */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t n = v2(buf, bad[i].vc, bad[i].fam, pl, bad[i].plen);
		if (pp_parse(buf, n, &h) != PP_INVALID)
			fail_msg("accepted case %zu", i);
	}
	/* a TLV whose length runs past the header */
	memcpy(pl + 12, "\x02\x00\x05" "abcd", 7);
	size_t n = v2(buf, 0x21, 0x11, pl, 19);
	assert_int_equal(pp_parse(buf, n, &h), PP_INVALID);
	/* the size bound is judged from the fixed part, before the payload arrives */
	v2(buf, 0x21, 0x11, pl, 0);
	buf[14] = 0xFF, buf[15] = 0xFF;
	assert_int_equal(pp_parse(buf, 16, &h), PP_INVALID);
	/* the largest accepted payload */
	memset(pl, 0, sizeof pl);
	pl[12] = 0x04;
	pl[13] = (uint8_t)((PP_V2_MAX_PAYLOAD - 15) >> 8);
	pl[14] = (uint8_t)(PP_V2_MAX_PAYLOAD - 15);
	n = v2(buf, 0x21, 0x11, pl, PP_V2_MAX_PAYLOAD);
	assert_int_equal(pp_parse(buf, n, &h), PP_HEADER_MAX);
}

static void roundtrip(int version, const struct pp_addr *s, const struct pp_addr *d, const char *v1text)
{
	uint8_t buf[PP_HEADER_MAX];
	struct pp_header h;
	long n = pp_encode(buf, sizeof buf, version, s, d);
	assert_true(n > 0);
	if (v1text) {
		assert_int_equal(n, (long)strlen(v1text));
		assert_memory_equal(buf, v1text, (size_t)n);
	}
	assert_int_equal(pp_parse(buf, (size_t)n, &h), n);
	assert_int_equal(h.version, version);
	assert_int_equal(h.has_addrs, s->family && d->family);
	if (h.has_addrs) {
		assert_int_equal(h.src.port, s->port);
		assert_int_equal(h.dst.port, d->port);
	}
}

static void test_encode(void **state)
{
	(void)state;
	struct pp_addr s4 = { 4, { 192, 0, 2, 1 }, 1234 }, d4 = { 4, { 127, 0, 0, 1 }, 80 };
	struct pp_addr s6 = { 6, { 0x20, 0x01, 0x0d, 0xb8, [15] = 5 }, 4000 }, none = { 0 };
	roundtrip(1, &s4, &d4, "PROXY TCP4 192.0.2.1 127.0.0.1 1234 80\r\n");
	roundtrip(1, &s6, &s6, "PROXY TCP6 2001:db8::5 2001:db8::5 4000 4000\r\n");
	roundtrip(1, &s6, &d4, "PROXY TCP6 2001:db8::5 ::ffff:127.0.0.1 4000 80\r\n");
	roundtrip(1, &none, &d4, "PROXY UNKNOWN\r\n");
	roundtrip(2, &s4, &d4, NULL);
	roundtrip(2, &s6, &s6, NULL);
	roundtrip(2, &s4, &none, NULL);

	uint8_t buf[64];
	assert_int_equal(pp_encode(buf, sizeof buf, 2, &s4, &d4), 28);
	assert_memory_equal(buf, SIG2, 12);
	assert_int_equal(buf[12], 0x21);
	assert_int_equal(buf[13], 0x11);
	assert_int_equal(buf[15], 12);
	assert_memory_equal(buf + 16, "\xC0\x00\x02\x01\x7F\x00\x00\x01\x04\xD2\x00\x50", 12);
	assert_int_equal(pp_encode(buf, sizeof buf, 2, &s4, &s6), 52);
	assert_int_equal(buf[13], 0x21);
	/* too small, or no such version */
	assert_int_equal(pp_encode(buf, 27, 2, &s4, &d4), -1);
	assert_int_equal(pp_encode(buf, 20, 1, &s4, &d4), -1);
	assert_int_equal(pp_encode(buf, sizeof buf, 3, &s4, &d4), -1);
	assert_int_equal(pp_encode(buf, sizeof buf, 0, &s4, &d4), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_tcp4),
		cmocka_unit_test(test_v1_tcp6_and_unknown),
		cmocka_unit_test(test_v1_rejects),
		cmocka_unit_test(test_not_proxy_and_prefixes),
		cmocka_unit_test(test_every_prefix_needs_more),
		cmocka_unit_test(test_v2_inet_inet6_tlvs),
		cmocka_unit_test(test_v2_local_unspec_unix),
		cmocka_unit_test(test_v2_rejects),
		cmocka_unit_test(test_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
