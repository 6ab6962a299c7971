/*
 * Unit tests for the Shadowsocks AEAD codec. The known answers were computed
 * independently with Python (hashlib/hmac for the kdf and HKDF-SHA1, the
 * cryptography package for AES-GCM and ChaCha20-Poly1305): password
 * "test-password", salt 00 01 02 ... (key length), one chunk holding the
 * address example.com:80 (03 0b "example.com" 00 50) and "hello".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/shadowsocks.h"
#include "proto/socks5.h"

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

static const char PASSWORD[] = "test-password";
static const uint8_t PLAIN[] = "\x03\x0b" "example.com" "\x00\x50" "hello";
#define PLAIN_LEN (sizeof PLAIN - 1)

struct kat {
	const char *method, *key, *subkey, *wire;
};

static const struct kat kats[] = {
	{ "aes-128-gcm", "dfb450efddbb5387197c84460623675b", "780f000955954fb33743812b1002261b",
	  "000102030405060708090a0b0c0d0e0fe8d4545cda09f64577dca5b66de56420551aedd8a78e85106507fc6a81446311da6282f1186e"
	  "6fb0b438a4be6c691d3eb742ef96f2c7" },
	{ "aes-192-gcm", "dfb450efddbb5387197c84460623675b69f2cebcd8ef520a",
	  "30df37b421120561e5290d957f1b362b02f951c3fef03a55",
	  "000102030405060708090a0b0c0d0e0f1011121314151617782e51fe4cd275f65292d0a22cb4a116e0cb10984410f3feb010422958ac"
	  "52d7f14f61ecaf315fe89bea914d56f4be3cdbaa77f0cc79" },
	{ "aes-256-gcm", "dfb450efddbb5387197c84460623675b69f2cebcd8ef520a3dfddef7c3d540b2",
	  "7b6ca12d45ef79467432717aaa6a6ae6e1dd046a505fb2ebaaac602210919595",
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fe0c40606180ff32c00ebeefb93f73bd69104ab1c2f94"
	  "cb201cb1e8ee1b82a1586842e921d88e5982e27578866e49a01a35b6e7e484d6" },
	{ "chacha20-ietf-poly1305", "dfb450efddbb5387197c84460623675b69f2cebcd8ef520a3dfddef7c3d540b2",
	  "7b6ca12d45ef79467432717aaa6a6ae6e1dd046a505fb2ebaaac602210919595",
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f7a0b96bc8350de0824cde579a77f814e6be0f4d23087"
	  "3748dd3c17a7eeb5aa429de271115f2df94fa9ceed3759a51f7ce9f525a56fe3" },
};
#define NKATS (sizeof kats / sizeof *kats)

/* aes-128-gcm, same password and salt: a length chunk saying 0x4000. */
static const char OVERSIZE[] = "000102030405060708090a0b0c0d0e0fa8c05c06179385b820e0d7f3054a90ec92b6";
/* aes-128-gcm: an empty chunk, then "ab". */
static const char EMPTY_CHUNK[] =
	"000102030405060708090a0b0c0d0e0fe8c0e56594d112c9dcbc77544e4316d9bb02a5b0c354db20440a7c735fd58fac53417cbd7075a6"
	"90555ebf6ccf5f6be794bde1a332bbbbb0fb3d694616e073c0c462aa6e0ae0";

static const struct ss_method *method(const char *name)
{
	const struct ss_method *m = ss_method_find(name);
	assert_non_null(m);
	return m;
}

static void key_of(const struct ss_method *m, const char *pw, uint8_t key[SS_KEY_MAX])
{
	assert_int_equal(ss_password_key(m, pw, strlen(pw), key), 0);
}

static void salt_of(const struct ss_method *m, uint8_t *salt)
{
	for (size_t i = 0; i < m->salt_len; i++)
		salt[i] = (uint8_t)i;
}

/* Decodes wire fed in the given segment sizes (cycled); returns the first error or 0; out collects plaintext. */
static int decode_segments(const struct ss_method *m, const uint8_t *key, const uint8_t *wire, size_t len,
			   const size_t *segs, size_t nsegs, uint8_t *out, size_t *outlen, int *chunks)
{
	static uint8_t pt[SS_PAYLOAD_MAX];
	struct ss_decoder *d = malloc(sizeof *d);
	int err = 0;
	assert_int_equal(ss_decoder_init(d, m, key), 0);
	*outlen = 0;
	*chunks = 0;
	for (size_t off = 0, i = 0; off < len && !err; i++) {
		size_t seg = segs[i % nsegs];
		if (seg > len - off)
			seg = len - off;
		size_t pos = 0;
		while (pos < seg) {
			size_t used, n;
			int r = ss_decode(d, wire + off + pos, seg - pos, &used, pt, &n);
			pos += used;
			if (r < 0) {
				err = r;
				break;
			}
			if (r == 0) {
				assert_int_equal(pos, seg);
				break;
			}
			memcpy(out + *outlen, pt, n);
			*outlen += n;
			(*chunks)++;
		}
		off += seg;
	}
	ss_decoder_free(d);
	free(d);
	return err;
}

static void test_methods(void **state)
{
	(void)state;
	assert_int_equal(method("AES-256-GCM")->key_len, 32);
	assert_int_equal(method("aes-192-gcm")->salt_len, 24);
	assert_int_equal(method("chacha20-ietf-poly1305")->tag_len, 16);
	assert_int_equal(method("dummy")->cipher, SS_CIPHER_NONE);
	assert_null(ss_method_find("rc4-md5"));
	assert_null(ss_method_find("aes-256-cfb"));
	assert_null(ss_method_find(NULL));
	assert_non_null(strstr(ss_method_names(), "chacha20-ietf-poly1305"));
}

static void test_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < NKATS; i++) {
		const struct ss_method *m = method(kats[i].method);
		uint8_t key[SS_KEY_MAX], sub[SS_KEY_MAX], salt[SS_SALT_MAX], want[SS_KEY_MAX];
		key_of(m, PASSWORD, key);
		assert_int_equal(unhex(kats[i].key, want), m->key_len);
		assert_memory_equal(key, want, m->key_len);
		salt_of(m, salt);
		assert_int_equal(ss_subkey(m, key, salt, sub), 0);
		assert_int_equal(unhex(kats[i].subkey, want), m->key_len);
		assert_memory_equal(sub, want, m->key_len);
	}
}

static void test_encode_kat(void **state)
{
	(void)state;
	for (size_t i = 0; i < NKATS; i++) {
		const struct ss_method *m = method(kats[i].method);
		uint8_t key[SS_KEY_MAX], salt[SS_SALT_MAX], want[256], out[256];
		struct ss_encoder e;
		key_of(m, PASSWORD, key);
		salt_of(m, salt);
		size_t wl = unhex(kats[i].wire, want);
		assert_int_equal(ss_encoder_init(&e, m, key, salt), 0);
		assert_int_equal(ss_encoded_size(&e, PLAIN_LEN), wl);
		assert_int_equal(ss_encode(&e, PLAIN, PLAIN_LEN, out, wl - 1), -1); /* short output */
		assert_int_equal(ss_encode(&e, PLAIN, PLAIN_LEN, out, sizeof out), wl);
		assert_memory_equal(out, want, wl);
		/* The salt goes once: the next chunk is length+tag, payload+tag. */
		assert_int_equal(ss_encoded_size(&e, 3), 3 + 2 + 32);
		assert_int_equal(ss_encode(&e, (const uint8_t *)"abc", 3, out, sizeof out), 3 + 2 + 32);
		ss_encoder_free(&e);
	}
}

/* Every split point in two segments, and one byte at a time. */
static void test_decode_segmented(void **state)
{
	(void)state;
	for (size_t i = 0; i < NKATS; i++) {
		const struct ss_method *m = method(kats[i].method);
		uint8_t key[SS_KEY_MAX], wire[256], out[256];
		size_t outlen;
		int chunks;
		key_of(m, PASSWORD, key);
		size_t wl = unhex(kats[i].wire, wire);
		for (size_t cut = 1; cut <= wl; cut++) {
			size_t segs[2] = { cut, wl };
			assert_int_equal(decode_segments(m, key, wire, wl, segs, 2, out, &outlen, &chunks), 0);
			assert_int_equal(chunks, 1);
			assert_int_equal(outlen, PLAIN_LEN);
			assert_memory_equal(out, PLAIN, PLAIN_LEN);
		}
		size_t one = 1;
		assert_int_equal(decode_segments(m, key, wire, wl, &one, 1, out, &outlen, &chunks), 0);
		assert_int_equal(outlen, PLAIN_LEN);
		/* The plaintext starts with the target, as a SOCKS5 address. */
		struct socks5_addr a;
		assert_int_equal(socks5_addr_parse(out, outlen, &a), 15);
		assert_string_equal(a.u.domain, "example.com");
		assert_int_equal(a.port, 80);
	}
}

static void test_truncated_needs_more(void **state)
{
	(void)state;
	const struct ss_method *m = method("aes-256-gcm");
	uint8_t key[SS_KEY_MAX], wire[256], pt[SS_PAYLOAD_MAX];
	struct ss_decoder *d = malloc(sizeof *d);
	size_t used, n;
	key_of(m, PASSWORD, key);
	size_t wl = unhex(kats[2].wire, wire);
	assert_int_equal(ss_decoder_init(d, m, key), 0);
	/* All but the last byte of the payload's tag: everything consumed, nothing yet. */
	assert_int_equal(ss_decode(d, wire, wl - 1, &used, pt, &n), 0);
	assert_int_equal(used, wl - 1);
	assert_int_equal(ss_decode(d, wire + wl - 1, 1, &used, pt, &n), 1);
	assert_int_equal(used, 1);
	assert_int_equal(n, PLAIN_LEN);
	assert_memory_equal(pt, PLAIN, PLAIN_LEN);
	/* Nothing more: need more, with nothing consumed. */
	assert_int_equal(ss_decode(d, wire, 0, &used, pt, &n), 0);
	assert_int_equal(used, 0);
	ss_decoder_free(d);
	free(d);
}

static void test_wrong_key(void **state)
{
	(void)state;
	for (size_t i = 0; i < NKATS; i++) {
		const struct ss_method *m = method(kats[i].method);
		uint8_t key[SS_KEY_MAX], wire[256], out[256];
		size_t outlen, whole = 1000;
		int chunks;
		key_of(m, "another-password", key);
		size_t wl = unhex(kats[i].wire, wire);
		assert_int_equal(decode_segments(m, key, wire, wl, &whole, 1, out, &outlen, &chunks), SS_ERR_AUTH);
		assert_int_equal(outlen, 0);
	}
	/* Once failed, always failed. */
	const struct ss_method *m = method("aes-128-gcm");
	uint8_t key[SS_KEY_MAX], wire[256], pt[SS_PAYLOAD_MAX];
	struct ss_decoder *d = malloc(sizeof *d);
	size_t used, n;
	key_of(m, "another-password", key);
	size_t wl = unhex(kats[0].wire, wire);
	assert_int_equal(ss_decoder_init(d, m, key), 0);
	assert_int_equal(ss_decode(d, wire, wl, &used, pt, &n), SS_ERR_AUTH);
	assert_int_equal(ss_decode(d, wire, wl, &used, pt, &n), SS_ERR_AUTH);
	assert_int_equal(used, 0);
	ss_decoder_free(d);
	free(d);
}

static void test_tampered(void **state)
{
	(void)state;
	const struct ss_method *m = method("chacha20-ietf-poly1305");
	uint8_t key[SS_KEY_MAX], wire[256], out[256];
	size_t outlen, whole = 1000;
	int chunks;
	key_of(m, PASSWORD, key);
	size_t wl = unhex(kats[3].wire, wire);
	for (size_t pos = m->salt_len; pos < wl; pos++) {
		wire[pos] ^= 0x01;
		assert_int_equal(decode_segments(m, key, wire, wl, &whole, 1, out, &outlen, &chunks), SS_ERR_AUTH);
		wire[pos] ^= 0x01;
	}
	/* A different salt is a different subkey. */
	wire[0] ^= 0x80;
	assert_int_equal(decode_segments(m, key, wire, wl, &whole, 1, out, &outlen, &chunks), SS_ERR_AUTH);
}

static void test_oversized_length(void **state)
{
	(void)state;
	const struct ss_method *m = method("aes-128-gcm");
	uint8_t key[SS_KEY_MAX], wire[256], out[256];
	size_t outlen, whole = 1000;
	int chunks;
	key_of(m, PASSWORD, key);
	size_t wl = unhex(OVERSIZE, wire);
	assert_int_equal(decode_segments(m, key, wire, wl, &whole, 1, out, &outlen, &chunks), SS_ERR_LENGTH);
}

static void test_empty_chunk(void **state)
{
	(void)state;
	const struct ss_method *m = method("aes-128-gcm");
	uint8_t key[SS_KEY_MAX], wire[256], out[256];
	size_t outlen, whole = 1000;
	int chunks;
	key_of(m, PASSWORD, key);
	size_t wl = unhex(EMPTY_CHUNK, wire);
	assert_int_equal(decode_segments(m, key, wire, wl, &whole, 1, out, &outlen, &chunks), 0);
	assert_int_equal(chunks, 2);
	assert_int_equal(outlen, 2);
	assert_memory_equal(out, "ab", 2);
}

/* Larger than one chunk: split at 0x3FFF, and back at odd segment sizes. */
static void test_round_trip_large(void **state)
{
	(void)state;
	static const char *const names[] = { "aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
					     "none" };
	size_t len = 3 * SS_PAYLOAD_MAX + 1000;
	uint8_t *in = malloc(len), *wire = malloc(len + 1024), *out = malloc(len);
	for (size_t i = 0; i < len; i++)
		in[i] = (uint8_t)(i * 7 + (i >> 8));
	for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
		const struct ss_method *m = method(names[k]);
		uint8_t key[SS_KEY_MAX], salt[SS_SALT_MAX];
		struct ss_encoder e;
		size_t outlen;
		int chunks;
		key_of(m, "big", key);
		memset(salt, 0xa5, sizeof salt);
		assert_int_equal(ss_encoder_init(&e, m, key, salt), 0);
		size_t want = m->salt_len + len + 4 * (2 + 2 * m->tag_len);
		assert_int_equal(ss_encoded_size(&e, len), want);
		assert_int_equal(ss_encode(&e, in, len, wire, len + 1024), want);
		ss_encoder_free(&e);
		size_t segs[] = { 1, 17, 4096, 3, 65536, 2 };
		assert_int_equal(decode_segments(m, key, wire, want, segs, 6, out, &outlen, &chunks), 0);
		assert_int_equal(chunks, 4);
		assert_int_equal(outlen, len);
		assert_memory_equal(out, in, len);
	}
	free(in);
	free(wire);
	free(out);
}

/* GOST's none: salt, then plain lengths and payloads. */
static void test_none_wire(void **state)
{
	(void)state;
	const struct ss_method *m = method("none");
	uint8_t salt[SS_SALT_MAX] = { 0 }, out[64];
	struct ss_encoder e;
	assert_int_equal(ss_encoder_init(&e, m, NULL, salt), 0);
	assert_int_equal(ss_encode(&e, (const uint8_t *)"hi", 2, out, sizeof out), 16 + 2 + 2);
	assert_memory_equal(out + 16, "\x00\x02hi", 4);
	ss_encoder_free(&e);
}

/* ---- UDP packets: the same password and salts, plaintext PLAIN, nonce zero (Python, cryptography) ---- */

static const struct kat udp_kats[] = {
	{ "aes-128-gcm", NULL, NULL,
	  "000102030405060708090a0b0c0d0e0febcbae175a9f6fc2a2f32f31a633e7b192cf4bb28e1f7db7d7f9b0cea92c2b62983a719b" },
	{ "aes-256-gcm", NULL, NULL,
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fe3dbc5e6c5f2761e4b39f64fd98e43e1e9ab5ef818"
	  "87617bb871d29c927bc2421313b651" },
	{ "chacha20-ietf-poly1305", NULL, NULL,
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f79145246619dfb39bb6f3e4e8f1152f8d723ba56de"
	  "e1dbba0c71dc6c7c32308ecf20a5d1" },
};
#define NUDP (sizeof udp_kats / sizeof *udp_kats)

static void test_packet_seal_kat(void **state)
{
	(void)state;
	for (size_t i = 0; i < NUDP; i++) {
		const struct ss_method *m = method(udp_kats[i].method);
		uint8_t key[SS_KEY_MAX], salt[SS_SALT_MAX], want[256], got[256];
		struct ss_aead a = { 0 };
		key_of(m, PASSWORD, key);
		salt_of(m, salt);
		size_t wl = unhex(udp_kats[i].wire, want);
		assert_int_equal(ss_packet_overhead(m), m->salt_len + SS_TAG_LEN);
		/* twice with one context: each packet starts from nonce zero again */
		for (int k = 0; k < 2; k++) {
			ssize_t n = ss_packet_seal(&a, m, key, salt, PLAIN, PLAIN_LEN, got, sizeof got);
			assert_int_equal(n, (ssize_t)wl);
			assert_memory_equal(got, want, wl);
		}
		assert_int_equal(ss_packet_seal(&a, m, key, salt, PLAIN, PLAIN_LEN, got, wl - 1), SS_ERR_SPACE);
		ss_aead_free(&a);
	}
}

static void test_packet_open(void **state)
{
	(void)state;
	for (size_t i = 0; i < NUDP; i++) {
		const struct ss_method *m = method(udp_kats[i].method);
		uint8_t key[SS_KEY_MAX], wire[256], out[256];
		struct ss_aead a = { 0 };
		struct socks5_addr addr;
		key_of(m, PASSWORD, key);
		size_t wl = unhex(udp_kats[i].wire, wire);
		for (int k = 0; k < 2; k++) {
			ssize_t n = ss_packet_open(&a, m, key, wire, wl, out, sizeof out);
			assert_int_equal(n, (ssize_t)PLAIN_LEN);
			assert_memory_equal(out, PLAIN, PLAIN_LEN);
			int hl = ss_packet_addr(out, (size_t)n, &addr);
			assert_int_equal(hl, 2 + 11 + 2);
			assert_int_equal(addr.atyp, SOCKS5_ATYP_DOMAIN);
			assert_string_equal(addr.u.domain, "example.com");
			assert_int_equal(addr.port, 80);
			assert_memory_equal(out + hl, "hello", 5);
		}
		/* out must hold the plaintext */
		assert_int_equal(ss_packet_open(&a, m, key, wire, wl, out, PLAIN_LEN - 1), SS_ERR_SPACE);
		ss_aead_free(&a);
	}
}

static void test_packet_short(void **state)
{
	(void)state;
	const struct ss_method *m = method("aes-256-gcm");
	uint8_t key[SS_KEY_MAX], wire[256], out[256];
	struct ss_aead a = { 0 };
	key_of(m, PASSWORD, key);
	unhex(udp_kats[1].wire, wire);
	/* anything shorter than salt + tag, down to nothing */
	for (size_t len = 0; len < m->salt_len + SS_TAG_LEN; len++)
		assert_int_equal(ss_packet_open(&a, m, key, wire, len, out, sizeof out), SS_ERR_SHORT);
	/* exactly salt + tag: an empty plaintext, whose tag is not this one */
	assert_int_equal(ss_packet_open(&a, m, key, wire, m->salt_len + SS_TAG_LEN, out, sizeof out), SS_ERR_AUTH);
	/* a packet cut short by a byte: the tag is wrong */
	size_t wl = unhex(udp_kats[1].wire, wire);
	assert_int_equal(ss_packet_open(&a, m, key, wire, wl - 1, out, sizeof out), SS_ERR_AUTH);
	ss_aead_free(&a);
}

static void test_packet_bad_tag(void **state)
{
	(void)state;
	for (size_t i = 0; i < NUDP; i++) {
		const struct ss_method *m = method(udp_kats[i].method);
		uint8_t key[SS_KEY_MAX], other[SS_KEY_MAX], wire[256], out[256];
		struct ss_aead a = { 0 };
		key_of(m, PASSWORD, key);
		key_of(m, "another-password", other);
		size_t wl = unhex(udp_kats[i].wire, wire);
		assert_int_equal(ss_packet_open(&a, m, other, wire, wl, out, sizeof out), SS_ERR_AUTH);
		/* every byte matters: salt (another subkey), ciphertext, tag */
		for (size_t pos = 0; pos < wl; pos++) {
			wire[pos] ^= 0x20;
			assert_int_equal(ss_packet_open(&a, m, key, wire, wl, out, sizeof out), SS_ERR_AUTH);
			wire[pos] ^= 0x20;
		}
		assert_int_equal(ss_packet_open(&a, m, key, wire, wl, out, sizeof out), (ssize_t)PLAIN_LEN);
		ss_aead_free(&a);
	}
}

static void test_packet_bad_address(void **state)
{
	(void)state;
	struct socks5_addr addr;
	static const struct {
		const char *plain;
		size_t len;
	} bad[] = {
		{ "", 0 },                                  /* nothing */
		{ "\x02\x7f\x00\x00\x01\x00\x35", 7 },      /* type 2 */
		{ "\x05\x7f\x00\x00\x01\x00\x35", 7 },      /* type 5 */
		{ "\x01\x7f\x00\x00\x01\x00", 6 },          /* IPv4 without the port's second byte */
		{ "\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 17 }, /* IPv6 cut */
		{ "\x03\x00\x00\x35", 4 },                  /* empty domain */
		{ "\x03\x05" "ab", 4 },                     /* domain longer than the packet */
		{ "\x03\x03" "a\0b" "\x00\x35", 7 },        /* NUL in the domain */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(ss_packet_addr((const uint8_t *)bad[i].plain, bad[i].len, &addr), SS_ERR_ADDRESS);
	/* an address with no payload after it is fine */
	assert_int_equal(ss_packet_addr((const uint8_t *)"\x01\x7f\x00\x00\x01\x00\x35", 7, &addr), 7);
	assert_int_equal(addr.atyp, SOCKS5_ATYP_IPV4);
	assert_int_equal(addr.port, 53);
}

static void test_packet_none(void **state)
{
	(void)state;
	const struct ss_method *m = method("none");
	uint8_t salt[SS_SALT_MAX], wire[256], out[256];
	struct ss_aead a = { 0 };
	memset(salt, 0xaa, sizeof salt);
	ssize_t n = ss_packet_seal(&a, m, NULL, salt, PLAIN, PLAIN_LEN, wire, sizeof wire);
	/* GOST's none: a 16-byte salt, then the plaintext as it is */
	assert_int_equal(n, (ssize_t)(16 + PLAIN_LEN));
	assert_int_equal(wire[15], 0xaa);
	assert_memory_equal(wire + 16, PLAIN, PLAIN_LEN);
	assert_int_equal(ss_packet_open(&a, m, NULL, wire, (size_t)n, out, sizeof out), (ssize_t)PLAIN_LEN);
	assert_memory_equal(out, PLAIN, PLAIN_LEN);
	assert_int_equal(ss_packet_open(&a, m, NULL, wire, 15, out, sizeof out), SS_ERR_SHORT);
	ss_aead_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_encode_kat),
		cmocka_unit_test(test_decode_segmented),
		cmocka_unit_test(test_truncated_needs_more),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_oversized_length),
		cmocka_unit_test(test_empty_chunk),
		cmocka_unit_test(test_round_trip_large),
		cmocka_unit_test(test_none_wire),
		cmocka_unit_test(test_packet_seal_kat),
		cmocka_unit_test(test_packet_open),
		cmocka_unit_test(test_packet_short),
		cmocka_unit_test(test_packet_bad_tag),
		cmocka_unit_test(test_packet_bad_address),
		cmocka_unit_test(test_packet_none),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
