/* Unit tests for the TLS ClientHello / SNI peek (proto/tls_peek.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "proto/tls_peek.h"

/*
 * Captured from OpenSSL 3.0 s_client against a listening socket:
 *   openssl s_client -connect 127.0.0.1:PORT -servername x.example
 * (TLS 1.3, extensions server_name, ec_point_formats, supported_groups,
 * session_ticket, encrypt_then_mac, extended_master_secret,
 * signature_algorithms, supported_versions, psk_key_exchange_modes,
 * key_share).
 */
static const uint8_t hello_sni[] = {
  0x16, 0x03, 0x01, 0x01, 0x36, 0x01, 0x00, 0x01, 0x32, 0x03, 0x03, 0xcf,
  0x3c, 0xae, 0x65, 0x31, 0xa4, 0xbb, 0x7b, 0x25, 0x67, 0x21, 0x07, 0x82,
  0xc6, 0x7e, 0x93, 0xc7, 0x8e, 0xa9, 0x9c, 0x47, 0xd1, 0x97, 0x56, 0x5e,
  0x8f, 0xf1, 0x5a, 0xe9, 0xe3, 0x35, 0xf3, 0x20, 0x98, 0x34, 0x72, 0x6b,
  0xb2, 0x7a, 0xbf, 0xb0, 0x29, 0xa4, 0x24, 0x41, 0xb4, 0xad, 0x88, 0x7a,
  0x4f, 0xe1, 0x5b, 0x8d, 0x15, 0x77, 0x6a, 0x1d, 0x2c, 0x5b, 0x5b, 0x4e,
  0xb8, 0x3e, 0xaf, 0xb6, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
  0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
  0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
  0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
  0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
  0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xab,
  0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x78, 0x2e, 0x65,
  0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00,
  0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17,
  0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02,
  0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00,
  0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03,
  0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a,
  0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01,
  0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02,
  0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03,
  0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00,
  0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x81, 0x3a, 0xac, 0xc2, 0xec,
  0xe5, 0xb7, 0x57, 0xa6, 0xe4, 0x8f, 0x19, 0x7c, 0xca, 0xbf, 0x14, 0x19,
  0xb1, 0x5c, 0xe2, 0xae, 0x4c, 0x1c, 0x78, 0x72, 0xa1, 0x74, 0xaa, 0x69,
  0x57, 0x8d, 0x3c
};

/* The same client with -noservername: no server_name extension. */
static const uint8_t hello_nosni[] = {
  0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x4c,
  0x71, 0xd8, 0x65, 0x5c, 0x2e, 0x02, 0xe3, 0x66, 0xd0, 0x1e, 0xdc, 0x91,
  0x96, 0x9d, 0xc9, 0xad, 0x58, 0x12, 0x53, 0x46, 0x40, 0x7a, 0xfc, 0x69,
  0x37, 0xa8, 0x73, 0x3b, 0x4d, 0x65, 0x5f, 0x20, 0xc9, 0xa6, 0x50, 0x71,
  0xad, 0x04, 0xfd, 0xe1, 0x19, 0x69, 0xb0, 0xcb, 0xbc, 0xbe, 0xad, 0xd5,
  0x52, 0xb1, 0x1c, 0xe9, 0x18, 0xb6, 0x28, 0xd3, 0xa0, 0xff, 0x91, 0x84,
  0x13, 0xfc, 0x9d, 0x73, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
  0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
  0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
  0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
  0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
  0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
  0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
  0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
  0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23,
  0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
  0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
  0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
  0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
  0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
  0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
  0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
  0x20, 0x81, 0x45, 0x1c, 0x76, 0x74, 0xb9, 0xb5, 0x9f, 0xb7, 0x38, 0x60,
  0xcc, 0xaf, 0x3b, 0x08, 0x37, 0xa0, 0x5f, 0x20, 0xb6, 0x77, 0xbd, 0x18,
  0xf1, 0xf2, 0x1e, 0xdb, 0x8e, 0x5a, 0xea, 0x85, 0x26
};

/* -tls1_2 -servername Portway.Example.COM: a TLS 1.2 hello, mixed-case name. */
static const uint8_t hello_tls12[] = {
  0x16, 0x03, 0x01, 0x00, 0xd3, 0x01, 0x00, 0x00, 0xcf, 0x03, 0x03, 0x44,
  0x6e, 0x3b, 0x08, 0x0e, 0x49, 0x6f, 0x7b, 0x5f, 0xd6, 0x74, 0xd3, 0xe5,
  0x36, 0x3d, 0x3d, 0xfd, 0x70, 0xb8, 0x42, 0xc3, 0xfd, 0x6d, 0x39, 0x3e,
  0x43, 0x7e, 0xba, 0x32, 0xc3, 0x2a, 0xac, 0x00, 0x00, 0x38, 0xc0, 0x2c,
  0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b,
  0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23,
  0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09,
  0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
  0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x6e, 0x00, 0x00,
  0x00, 0x18, 0x00, 0x16, 0x00, 0x00, 0x13, 0x50, 0x6f, 0x72, 0x74, 0x77,
  0x61, 0x79, 0x2e, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x43,
  0x4f, 0x4d, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a,
  0x00, 0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19,
  0x00, 0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17,
  0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03,
  0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b,
  0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
  0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02
};

static char host[TLS_PEEK_HOST_MAX + 1];

#define PEEK(a, n) tls_peek_sni(a, n, host)

/* ---- a ClientHello builder for the malformed cases ---- */

struct hb {
	uint8_t version_major;
	size_t sid_len, cs_len, comp_len;
	bool ext_block;
	int ext_len_delta; /* added to the declared extensions length */
	const uint8_t *ext;
	size_t ext_n;
};

static size_t put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t build(uint8_t *out, const struct hb *h)
{
	size_t n = 9;
	out[n++] = h->version_major;
	out[n++] = 3;
	memset(out + n, 0xaa, 32);
	n += 32;
	out[n++] = (uint8_t)h->sid_len;
	memset(out + n, 0x5a, h->sid_len);
	n += h->sid_len;
	n += put16(out + n, h->cs_len);
	memset(out + n, 0x13, h->cs_len);
	n += h->cs_len;
	out[n++] = (uint8_t)h->comp_len;
	memset(out + n, 0, h->comp_len);
	n += h->comp_len;
	if (h->ext_block) {
		n += put16(out + n, (size_t)((int)h->ext_n + h->ext_len_delta));
		if (h->ext_n)
			memcpy(out + n, h->ext, h->ext_n);
		n += h->ext_n;
	}
	size_t body = n - 9;
	out[0] = 0x16;
	out[1] = 3;
	out[2] = 1;
	put16(out + 3, body + 4);
	out[5] = 1;
	out[6] = (uint8_t)(body >> 16);
	put16(out + 7, body & 0xffff);
	return n;
}

static struct hb defaults(const uint8_t *ext, size_t ext_n)
{
	return (struct hb){ 3, 32, 4, 1, true, 0, ext, ext_n };
}

/* server_name extension with one entry of the given type. */
static size_t ext_name(uint8_t *p, uint8_t type, const char *name, size_t n)
{
	size_t k = 0;
	k += put16(p + k, 0);
	k += put16(p + k, 2 + 3 + n);
	k += put16(p + k, 3 + n);
	p[k++] = type;
	k += put16(p + k, n);
	memcpy(p + k, name, n);
	return k + n;
}

static size_t ext_other(uint8_t *p, unsigned type, size_t n)
{
	size_t k = put16(p, type);
	k += put16(p + k, n);
	memset(p + k, 0x01, n);
	return k + n;
}

static int peek_built(const struct hb *h)
{
	static uint8_t buf[70000];
	return PEEK(buf, build(buf, h));
}

/*
 * Re-frames a one-record hello into records whose fragments have the given
 * sizes (the last one takes the rest).
 */
static size_t reframe(uint8_t *out, const uint8_t *in, size_t in_len, const size_t *sizes,
		      size_t nsizes)
{
	const uint8_t *hs = in + 5;
	size_t left = in_len - 5, o = 0;
	for (size_t i = 0; left; i++) {
		size_t f = i < nsizes && sizes[i] < left ? sizes[i] : left;
		out[o++] = 0x16;
		out[o++] = 3;
		out[o++] = 1;
		o += put16(out + o, f);
		memcpy(out + o, hs, f);
		o += f;
		hs += f;
		left -= f;
	}
	return o;
}

/* ---- captured hellos ---- */

static void test_real_hello_with_sni(void **state)
{
	(void)state;
	assert_int_equal(PEEK(hello_sni, sizeof hello_sni), TLS_PEEK_SNI);
	assert_string_equal(host, "x.example");
	for (size_t n = 0; n < sizeof hello_sni; n++)
		if (PEEK(hello_sni, n) != TLS_PEEK_NEED_MORE)
			fail_msg("prefix of %zu bytes did not ask for more", n);

	/* bytes after the hello (early data, garbage) do not matter */
	uint8_t more[sizeof hello_sni + 7];
	memcpy(more, hello_sni, sizeof hello_sni);
	memcpy(more + sizeof hello_sni, "\x17\x03\x03\x00\x02xy", 7);
	assert_int_equal(PEEK(more, sizeof more), TLS_PEEK_SNI);
}

static void test_real_hello_without_sni(void **state)
{
	(void)state;
	strcpy(host, "untouched");
	assert_int_equal(PEEK(hello_nosni, sizeof hello_nosni), TLS_PEEK_NO_SNI);
	assert_string_equal(host, "untouched");
	for (size_t n = 0; n < sizeof hello_nosni; n++)
		assert_int_equal(PEEK(hello_nosni, n), TLS_PEEK_NEED_MORE);
}

static void test_real_tls12_hello_lowercased(void **state)
{
	(void)state;
	assert_int_equal(PEEK(hello_tls12, sizeof hello_tls12), TLS_PEEK_SNI);
	assert_string_equal(host, "portway.example.com");
}

/* ---- not TLS at all ---- */

static void test_not_tls(void **state)
{
	(void)state;
	assert_int_equal(PEEK("GET / HTTP/1.1\r\n", 16), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("G", 1), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("SSH-2.0-OpenSSH_9.2\r\n", 21), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("\x05\x01\x00", 3), TLS_PEEK_NOT_TLS); /* SOCKS5 */
	assert_int_equal(PEEK("", 0), TLS_PEEK_NEED_MORE);
	assert_int_equal(PEEK("\x16", 1), TLS_PEEK_NEED_MORE);
	/* SSLv2-compatible hello */
	assert_int_equal(PEEK("\x80\x2e\x01\x03\x01", 5), TLS_PEEK_NOT_TLS);
	/* alert and application data records */
	assert_int_equal(PEEK("\x15\x03\x03\x00\x02\x02\x28", 7), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("\x17\x03\x03\x00\x01x", 6), TLS_PEEK_NOT_TLS);
	/* record version */
	assert_int_equal(PEEK("\x16\x02", 2), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("\x16\x03\x05", 3), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("\x16\x03\x04", 3), TLS_PEEK_NEED_MORE);
	/* record length 0 and 2^14 + 1 */
	assert_int_equal(PEEK("\x16\x03\x01\x00\x00", 5), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("\x16\x03\x01\x40\x01", 5), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("\x16\x03\x01\x40\x00", 5), TLS_PEEK_NEED_MORE);
	/* a ServerHello, a handshake header split over records */
	assert_int_equal(PEEK("\x16\x03\x03\x00\x30\x02", 6), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("\x16\x03\x01\x00\x03\x01\x00\x00", 8), TLS_PEEK_NOT_TLS);
	/* handshake length below the smallest hello, or beyond the peek limit */
	assert_int_equal(PEEK("\x16\x03\x01\x00\x30\x01\x00\x00\x28", 9), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK("\x16\x03\x01\x00\x30\x01\x00\x00\x29", 9), TLS_PEEK_NEED_MORE);
	assert_int_equal(PEEK("\x16\x03\x01\x40\x00\x01\x00\x40\x00", 9), TLS_PEEK_NEED_MORE);
	assert_int_equal(PEEK("\x16\x03\x01\x40\x00\x01\x00\x40\x02", 9), TLS_PEEK_NOT_TLS);
}

/* ---- built hellos: each field ---- */

static void test_built_minimal(void **state)
{
	uint8_t ext[300];
	struct hb h;
	(void)state;

	h = defaults(NULL, 0);
	h.ext_block = false;
	assert_int_equal(peek_built(&h), TLS_PEEK_NO_SNI); /* no extensions block */
	h.sid_len = 0;
	h.cs_len = 2;
	assert_int_equal(peek_built(&h), TLS_PEEK_NO_SNI); /* the smallest hello: 41 bytes */

	h = defaults(ext, ext_name(ext, 0, "A-b_c.0", 7));
	assert_int_equal(peek_built(&h), TLS_PEEK_SNI);
	assert_string_equal(host, "a-b_c.0");

	h = defaults(NULL, 0);
	assert_int_equal(peek_built(&h), TLS_PEEK_NO_SNI); /* empty extensions block */

	/* other extensions around server_name */
	size_t n = ext_other(ext, 0x0010, 5);
	n += ext_name(ext + n, 0, "mid.example", 11);
	n += ext_other(ext + n, 0xfe0d, 0);
	h = defaults(ext, n);
	assert_int_equal(peek_built(&h), TLS_PEEK_SNI);
	assert_string_equal(host, "mid.example");

	/* a name of another type only; then another type followed by host_name */
	h = defaults(ext, ext_name(ext, 1, "x", 1));
	assert_int_equal(peek_built(&h), TLS_PEEK_NO_SNI);
	static const uint8_t two[] = { 0, 0, 0, 11, 0, 9, 1, 0, 1, 'x', 0, 0, 2, 'o', 'k' };
	h = defaults(two, sizeof two);
	assert_int_equal(peek_built(&h), TLS_PEEK_SNI);
	assert_string_equal(host, "ok");
}

static void test_built_bad_fields(void **state)
{
	uint8_t ext[300];
	struct hb h;
	size_t n;
	(void)state;

	n = ext_name(ext, 0, "a.example", 9);
	h = defaults(ext, n);
	h.version_major = 2;
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);
	h = defaults(ext, n);
	h.sid_len = 33;
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);
	h = defaults(ext, n);
	h.cs_len = 3;
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);
	h = defaults(ext, n);
	h.cs_len = 0;
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);
	h = defaults(ext, n);
	h.comp_len = 0;
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);
	h = defaults(ext, n);
	h.ext_len_delta = 1;
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);
	h = defaults(ext, n);
	h.ext_len_delta = -1;
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);

	/* a lone byte where the two-byte extensions length belongs */
	uint8_t buf[200];
	h = defaults(NULL, 0);
	h.ext_block = false;
	size_t len = build(buf, &h);
	buf[len] = 0;
	buf[4]++; /* record length */
	buf[8]++; /* handshake length */
	assert_int_equal(PEEK(buf, len + 1), TLS_PEEK_NOT_TLS);

	/* an extension longer than what is left */
	static const uint8_t over[] = { 0, 0x10, 0, 9, 1, 2, 3 };
	h = defaults(over, sizeof over);
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);
	static const uint8_t half[] = { 0, 0x10, 0 };
	h = defaults(half, sizeof half);
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);
}

static void test_built_bad_server_name(void **state)
{
	uint8_t ext[600];
	char name[300];
	struct hb h;
	size_t n;
	(void)state;

#define BAD_EXT(...)                                              \
	do {                                                      \
		static const uint8_t e_[] = { __VA_ARGS__ };      \
		h = defaults(e_, sizeof e_);                      \
		assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS); \
	} while (0)
	BAD_EXT(0, 0, 0, 0);					    /* empty extension */
	BAD_EXT(0, 0, 0, 2, 0, 0);				    /* empty list */
	BAD_EXT(0, 0, 0, 5, 0, 4, 0, 0, 0);			    /* list longer than data */
	BAD_EXT(0, 0, 0, 6, 0, 3, 0, 0, 0, 0);			    /* list shorter than data */
	BAD_EXT(0, 0, 0, 6, 0, 4, 0, 0, 2, 'a');		    /* name overruns the list */
	BAD_EXT(0, 0, 0, 5, 0, 3, 0, 0, 0);			    /* empty host name */
	BAD_EXT(0, 0, 0, 7, 0, 5, 0, 0, 2, 'a', ' ');		    /* space */
	BAD_EXT(0, 0, 0, 7, 0, 5, 0, 0, 2, 'a', 0);		    /* NUL */
	BAD_EXT(0, 0, 0, 7, 0, 5, 0, 0, 2, 0xc3, 0xa9);	    /* non-ASCII */
	BAD_EXT(0, 0, 0, 7, 0, 5, 0, 0, 2, 'a', '/');		    /* slash */
	BAD_EXT(0, 0, 0, 10, 0, 8, 0, 0, 1, 'a', 0, 0, 1, 'b'); /* two host names */
	BAD_EXT(0, 0, 0, 6, 0, 4, 0, 0, 1, 'a', 0, 0, 0, 6, 0, 4, 0, 0, 1, 'b'); /* twice */
#undef BAD_EXT

	memset(name, 'n', sizeof name);
	h = defaults(ext, ext_name(ext, 0, name, 255));
	assert_int_equal(peek_built(&h), TLS_PEEK_SNI);
	assert_int_equal(strlen(host), 255);
	h = defaults(ext, ext_name(ext, 0, name, 256));
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);

	/* the first malformed extension decides even if a good one follows */
	n = ext_name(ext, 0, "a b", 3);
	n += ext_name(ext + n, 0, "ok", 2);
	h = defaults(ext, n);
	assert_int_equal(peek_built(&h), TLS_PEEK_NOT_TLS);
}

/* ---- several records ---- */

static void test_split_records(void **state)
{
	uint8_t buf[sizeof hello_sni + 5 * 400];
	size_t hs = sizeof hello_sni - 5;
	(void)state;

	/* every split into two records, including inside the handshake header */
	for (size_t cut = 4; cut < hs; cut++) {
		size_t sizes[] = { cut };
		size_t n = reframe(buf, hello_sni, sizeof hello_sni, sizes, 1);
		assert_int_equal(n, sizeof hello_sni + 5);
		if (PEEK(buf, n) != TLS_PEEK_SNI || strcmp(host, "x.example") != 0)
			fail_msg("split at %zu not understood", cut);
		assert_int_equal(PEEK(buf, n - 1), TLS_PEEK_NEED_MORE);
		assert_int_equal(PEEK(buf, 5 + cut + 3), TLS_PEEK_NEED_MORE);
	}

	/* one byte per record after the first */
	size_t sizes[400];
	sizes[0] = 4;
	for (size_t i = 1; i < 400; i++)
		sizes[i] = 1;
	size_t n = reframe(buf, hello_sni, sizeof hello_sni, sizes, 400);
	assert_int_equal(PEEK(buf, n), TLS_PEEK_SNI);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(PEEK(buf, k), TLS_PEEK_NEED_MORE);

	/* a record of another type in between */
	size_t two[] = { 100 };
	n = reframe(buf, hello_sni, sizeof hello_sni, two, 1);
	buf[5 + 100] = 0x17;
	assert_int_equal(PEEK(buf, n), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK(buf, 5 + 100 + 1), TLS_PEEK_NOT_TLS);
	buf[5 + 100] = 0x16;
	buf[5 + 100 + 3] = 0;
	buf[5 + 100 + 4] = 0;
	assert_int_equal(PEEK(buf, n), TLS_PEEK_NOT_TLS); /* an empty record */
}

static void test_peek_limit(void **state)
{
	static uint8_t buf[2 * TLS_PEEK_MAX];
	static uint8_t ext[20000];
	struct hb h;
	size_t n;
	(void)state;

	/* a hello filling one whole 2^14-byte record: 90 bytes besides the padding */
	size_t pad = TLS_PEEK_MAX - 90;
	n = ext_other(ext, 0x0015, pad);
	h = defaults(ext, n);
	n = build(buf, &h);
	assert_int_equal(n, TLS_PEEK_MAX);
	assert_int_equal(PEEK(buf, n), TLS_PEEK_NO_SNI);
	assert_int_equal(PEEK(buf, n - 1), TLS_PEEK_NEED_MORE);

	/* the same hello one byte larger cannot fit one record: refused */
	n = ext_other(ext, 0x0015, pad + 1);
	h = defaults(ext, n);
	n = build(buf, &h);
	assert_int_equal(PEEK(buf, 9), TLS_PEEK_NOT_TLS);

	/* two records that end beyond TLS_PEEK_MAX */
	static uint8_t one[TLS_PEEK_MAX];
	n = ext_other(ext, 0x0015, pad);
	h = defaults(ext, n);
	size_t ol = build(one, &h);
	assert_int_equal(ol, TLS_PEEK_MAX);
	size_t sizes[] = { 8000 };
	n = reframe(buf, one, ol, sizes, 1);
	assert_true(n > TLS_PEEK_MAX);
	assert_int_equal(PEEK(buf, TLS_PEEK_MAX), TLS_PEEK_NOT_TLS);
	assert_int_equal(PEEK(buf, 8000 + 5), TLS_PEEK_NEED_MORE);
	size_t sizes2[] = { 16000 };
	n = reframe(buf, one, ol, sizes2, 1);
	assert_int_equal(PEEK(buf, TLS_PEEK_MAX), TLS_PEEK_NOT_TLS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_hello_with_sni),
		cmocka_unit_test(test_real_hello_without_sni),
		cmocka_unit_test(test_real_tls12_hello_lowercased),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_built_minimal),
		cmocka_unit_test(test_built_bad_fields),
		cmocka_unit_test(test_built_bad_server_name),
		cmocka_unit_test(test_split_records),
		cmocka_unit_test(test_peek_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
