/* Unit tests for the GoDoxy agent stream header (doc/protocols/godoxy-stream.md 1.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "proto/stream_header.h"

/* Lays out the expected wire image by hand, independent of the encoder. */
static void expected_image(uint8_t out[STREAM_HEADER_SIZE], const char *host, const char *port,
			   uint8_t flag, const uint8_t crc[4])
{
	static const uint8_t ver[8] = { 0x30, 0x2e, 0x31, 0x2e, 0x30, 0x00, 0x00, 0x00 };

	memset(out, 0, STREAM_HEADER_SIZE);
	memcpy(out, ver, 8);
	out[8] = (uint8_t)strlen(host);
	memcpy(out + 9, host, strlen(host));
	out[264] = (uint8_t)strlen(port);
	memcpy(out + 265, port, strlen(port));
	out[270] = flag;
	memcpy(out + 271, crc, 4);
}

static void test_vector_health_check(void **state)
{
	static const uint8_t crc[4] = { 0x7d, 0x62, 0x1c, 0x75 };
	uint8_t want[STREAM_HEADER_SIZE], got[STREAM_HEADER_SIZE];
	struct stream_header h;
	(void)state;

	expected_image(want, "", "", 0x01, crc);
	assert_int_equal(stream_header_build_health_check(got), STREAM_HEADER_SIZE);
	assert_memory_equal(got, want, STREAM_HEADER_SIZE);

	assert_int_equal(stream_header_parse(want, sizeof want, &h), STREAM_HEADER_SIZE);
	assert_int_equal(h.flag, STREAM_HEADER_FLAG_CLOSE_IMMEDIATELY);
	assert_int_equal(h.host_len, 0);
	assert_int_equal(h.port_len, 0);
	assert_string_equal(h.host, "");
	assert_string_equal(h.port, "");
}

static void test_vector_example_com(void **state)
{
	static const uint8_t crc[4] = { 0xe8, 0x9b, 0x2e, 0x09 };
	uint8_t want[STREAM_HEADER_SIZE], got[STREAM_HEADER_SIZE];
	struct stream_header h;
	char addr[STREAM_HEADER_ADDR_MAX];
	(void)state;

	expected_image(want, "example.com", "443", 0, crc);
	assert_int_equal(stream_header_build(got, "example.com", "443"), STREAM_HEADER_SIZE);
	assert_memory_equal(got, want, STREAM_HEADER_SIZE);
	memset(got, 0xaa, sizeof got);
	assert_int_equal(stream_header_build_addr(got, "example.com:443"), STREAM_HEADER_SIZE);
	assert_memory_equal(got, want, STREAM_HEADER_SIZE);

	assert_int_equal(stream_header_parse(want, sizeof want, &h), STREAM_HEADER_SIZE);
	assert_int_equal(h.flag, 0);
	assert_int_equal(h.host_len, 11);
	assert_string_equal(h.host, "example.com");
	assert_int_equal(h.port_len, 3);
	assert_string_equal(h.port, "443");
	assert_int_equal(stream_header_port_number(&h), 443);
	assert_int_equal(stream_header_dial_addr(&h, addr, sizeof addr), 15);
	assert_string_equal(addr, "example.com:443");
}

static void test_vector_loopback(void **state)
{
	static const uint8_t crc[4] = { 0x24, 0x9c, 0xed, 0xad };
	uint8_t want[STREAM_HEADER_SIZE], got[STREAM_HEADER_SIZE];
	struct stream_header h;
	char addr[STREAM_HEADER_ADDR_MAX];
	(void)state;

	expected_image(want, "127.0.0.1", "8080", 0, crc);
	assert_int_equal(stream_header_build(got, "127.0.0.1", "8080"), STREAM_HEADER_SIZE);
	assert_memory_equal(got, want, STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_parse(want, sizeof want, &h), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_port_number(&h), 8080);
	assert_int_equal(stream_header_dial_addr(&h, addr, sizeof addr), 14);
	assert_string_equal(addr, "127.0.0.1:8080");
}

/* CRC-32 catches every single-bit error, so each of the 2200 flips must fail. */
static void test_every_bit_flip_rejected(void **state)
{
	uint8_t good[STREAM_HEADER_SIZE], bad[STREAM_HEADER_SIZE];
	struct stream_header h;
	(void)state;

	assert_int_equal(stream_header_build(good, "example.com", "443"), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_validate(good), 0);
	for (size_t bit = 0; bit < STREAM_HEADER_SIZE * 8; bit++) {
		memcpy(bad, good, sizeof bad);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = stream_header_parse(bad, sizeof bad, &h);
		if (rc >= 0)
			fail_msg("bit %zu flip accepted", bit);
		assert_int_equal(stream_header_validate(bad), rc);
		if (bit < 64)
			assert_int_equal(rc, STREAM_HEADER_ERR_VERSION);
	}
	/* Same for the health check, whose host and port are all zero. */
	assert_int_equal(stream_header_build_health_check(good), STREAM_HEADER_SIZE);
	for (size_t bit = 0; bit < STREAM_HEADER_SIZE * 8; bit++) {
		memcpy(bad, good, sizeof bad);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (stream_header_validate(bad) >= 0)
			fail_msg("health check: bit %zu flip accepted", bit);
	}
}

static void test_truncated_needs_more(void **state)
{
	uint8_t buf[STREAM_HEADER_SIZE + 10];
	struct stream_header h;
	(void)state;

	assert_int_equal(stream_header_build(buf, "example.com", "443"), STREAM_HEADER_SIZE);
	for (size_t len = 0; len < STREAM_HEADER_SIZE; len++)
		assert_int_equal(stream_header_parse(buf, len, &h), 0);
	/* Payload may follow in the same read; only the header is consumed. */
	memset(buf + STREAM_HEADER_SIZE, 'x', 10);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
}

/* Rewrites the CRC so that only the field under test is wrong. */
static void fix_crc(uint8_t buf[STREAM_HEADER_SIZE])
{
	uLong crc = crc32(crc32(0L, Z_NULL, 0), buf, 271);

	buf[271] = (uint8_t)(crc >> 24);
	buf[272] = (uint8_t)(crc >> 16);
	buf[273] = (uint8_t)(crc >> 8);
	buf[274] = (uint8_t)crc;
}

static void test_bad_version(void **state)
{
	static const char *const versions[] = { "0.1.1\0\0\0", "0.1.0\0\0\1", "0.1.0 \0\0", "1.0.0\0\0\0",
						"\0\0\0\0\0\0\0\0" };
	uint8_t buf[STREAM_HEADER_SIZE];
	struct stream_header h;
	(void)state;

	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		assert_int_equal(stream_header_build(buf, "example.com", "443"), STREAM_HEADER_SIZE);
		memcpy(buf, versions[i], 8);
		fix_crc(buf);
		assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_ERR_VERSION);
	}
}

static void test_bad_port_length(void **state)
{
	uint8_t buf[STREAM_HEADER_SIZE];
	struct stream_header h;
	(void)state;

	for (unsigned n = 6; n <= 255; n++) {
		assert_int_equal(stream_header_build(buf, "example.com", "443"), STREAM_HEADER_SIZE);
		buf[264] = (uint8_t)n;
		fix_crc(buf);
		assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_ERR_PORT_LENGTH);
	}
	/* 5 is the maximum and is fine, whatever the port bytes say. */
	assert_int_equal(stream_header_build(buf, "h", "65535"), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_port_number(&h), 65535);
}

static void test_bad_checksum(void **state)
{
	uint8_t buf[STREAM_HEADER_SIZE];
	struct stream_header h;
	(void)state;

	assert_int_equal(stream_header_build(buf, "example.com", "443"), STREAM_HEADER_SIZE);
	/* Little-endian CRC must not be accepted. */
	uint8_t t = buf[271];
	buf[271] = buf[274];
	buf[274] = t;
	t = buf[272];
	buf[272] = buf[273];
	buf[273] = t;
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_ERR_CHECKSUM);
	memset(buf + 271, 0, 4);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_ERR_CHECKSUM);
}

/* The agent ignores flag bits other than bit0 and non-zero padding. */
static void test_lenient_flag_and_padding(void **state)
{
	uint8_t buf[STREAM_HEADER_SIZE];
	struct stream_header h;
	(void)state;

	assert_int_equal(stream_header_encode(buf, "a", 1, "1", 1, 0xfe), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_int_equal(h.flag, 0xfe);
	assert_false(h.flag & STREAM_HEADER_FLAG_CLOSE_IMMEDIATELY);

	assert_int_equal(stream_header_build(buf, "a", "1"), STREAM_HEADER_SIZE);
	buf[9 + 1] = 'z';   /* host padding */
	buf[265 + 1] = '9'; /* port padding */
	fix_crc(buf);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_string_equal(h.host, "a");
	assert_string_equal(h.port, "1");
}

static void test_build_limits(void **state)
{
	uint8_t buf[STREAM_HEADER_SIZE];
	char host[STREAM_HEADER_HOST_MAX + 2];
	struct stream_header h;
	char addr[STREAM_HEADER_ADDR_MAX];
	(void)state;

	memset(host, 'h', sizeof host);
	host[STREAM_HEADER_HOST_MAX + 1] = '\0';
	assert_int_equal(stream_header_build(buf, host, "443"), -1);
	host[STREAM_HEADER_HOST_MAX] = '\0';
	assert_int_equal(stream_header_build(buf, host, "443"), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_int_equal(h.host_len, 255);
	assert_memory_equal(h.host, host, 256);
	assert_int_equal(stream_header_dial_addr(&h, addr, sizeof addr), 255 + 4);
	assert_int_equal(stream_header_dial_addr(&h, addr, 255 + 4), -1);
	assert_int_equal(stream_header_dial_addr(&h, addr, 255 + 5), 255 + 4);

	assert_int_equal(stream_header_build(buf, "h", "123456"), -1);
	assert_int_equal(stream_header_build(buf, "h", "12345"), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_encode(buf, host, 256, "1", 1, 0), -1);
	assert_int_equal(stream_header_encode(buf, "h", 1, "123456", 6, 0), -1);
	assert_int_equal(stream_header_build(buf, NULL, "1"), -1);
	assert_int_equal(stream_header_build(buf, "h", NULL), -1);
}

static void test_ipv6(void **state)
{
	uint8_t buf[STREAM_HEADER_SIZE];
	struct stream_header h;
	char addr[STREAM_HEADER_ADDR_MAX];
	(void)state;

	assert_int_equal(stream_header_build_addr(buf, "[2001:db8::1]:8443"), STREAM_HEADER_SIZE);
	assert_int_equal(buf[8], 11);
	assert_memory_equal(buf + 9, "2001:db8::1", 11);
	assert_int_equal(buf[264], 4);
	assert_memory_equal(buf + 265, "8443", 4);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_string_equal(h.host, "2001:db8::1");
	assert_int_equal(stream_header_dial_addr(&h, addr, sizeof addr), 18);
	assert_string_equal(addr, "[2001:db8::1]:8443");

	/* A zone stays part of the host, as in Go. */
	assert_int_equal(stream_header_build_addr(buf, "[fe80::1%eth0]:22"), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_string_equal(h.host, "fe80::1%eth0");
	assert_int_equal(stream_header_dial_addr(&h, addr, sizeof addr), 17);
	assert_string_equal(addr, "[fe80::1%eth0]:22");
}

static void test_split_host_port(void **state)
{
	static const char *const bad[] = {
		"",		   "example.com",    "::1:80",	      "[::1]",	       "[::1]80",
		"[::1]:80:",	   "[::1:80",	     "a[b]:80",	      "a]:80",	       "[a]:[80",
		"[a]:80]",	   "[a]b:80",	     "[[a]]:80",      "x:123456",      ":123456",
	};
	uint8_t buf[STREAM_HEADER_SIZE];
	struct stream_header h;
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (stream_header_build_addr(buf, bad[i]) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(stream_header_build_addr(buf, NULL), -1);

	/* Go allows empty host and port; so do we. */
	assert_int_equal(stream_header_build_addr(buf, ":80"), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_int_equal(h.host_len, 0);
	assert_string_equal(h.port, "80");
	assert_int_equal(stream_header_build_addr(buf, "host:"), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_string_equal(h.host, "host");
	assert_int_equal(h.port_len, 0);
	assert_int_equal(stream_header_port_number(&h), -1);
	assert_int_equal(stream_header_build_addr(buf, "[]:1"), STREAM_HEADER_SIZE);
}

static void test_dial_addr_refuses_nul(void **state)
{
	uint8_t buf[STREAM_HEADER_SIZE];
	struct stream_header h;
	char addr[STREAM_HEADER_ADDR_MAX];
	(void)state;

	assert_int_equal(stream_header_encode(buf, "evil\0.com", 9, "80", 2, 0), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_int_equal(h.host_len, 9);
	assert_int_equal(stream_header_dial_addr(&h, addr, sizeof addr), -1);

	assert_int_equal(stream_header_encode(buf, "ok", 2, "8\0", 2, 0), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
	assert_int_equal(stream_header_dial_addr(&h, addr, sizeof addr), -1);
}

static void test_port_number(void **state)
{
	static const struct {
		const char *port;
		int want;
	} cases[] = {
		{ "0", 0 },	  { "1", 1 },	 { "00080", 80 }, { "65535", 65535 }, { "65536", -1 },
		{ "99999", -1 }, { "8a", -1 },	 { "-1", -1 },	   { "+1", -1 },	 { " 1", -1 },
		{ "", -1 },	  { "http", -1 },
	};
	uint8_t buf[STREAM_HEADER_SIZE];
	struct stream_header h;
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(stream_header_build(buf, "h", cases[i].port), STREAM_HEADER_SIZE);
		assert_int_equal(stream_header_parse(buf, sizeof buf, &h), STREAM_HEADER_SIZE);
		assert_int_equal(stream_header_port_number(&h), cases[i].want);
	}
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(stream_header_strerror(0), "ok");
	assert_string_equal(stream_header_strerror(STREAM_HEADER_ERR_CHECKSUM), "stream header checksum mismatch");
	assert_non_null(stream_header_strerror(STREAM_HEADER_ERR_VERSION));
	assert_non_null(stream_header_strerror(STREAM_HEADER_ERR_PORT_LENGTH));
	assert_string_equal(stream_header_strerror(-99), "unknown stream header error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_health_check),
		cmocka_unit_test(test_vector_example_com),
		cmocka_unit_test(test_vector_loopback),
		cmocka_unit_test(test_every_bit_flip_rejected),
		cmocka_unit_test(test_truncated_needs_more),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_bad_port_length),
		cmocka_unit_test(test_bad_checksum),
		cmocka_unit_test(test_lenient_flag_and_padding),
		cmocka_unit_test(test_build_limits),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_split_host_port),
		cmocka_unit_test(test_dial_addr_refuses_nul),
		cmocka_unit_test(test_port_number),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
