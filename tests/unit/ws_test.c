/* Unit tests for the WebSocket codec, starting from the RFC 6455 examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/ws.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t hello_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Every proper prefix of a valid header must ask for more bytes. */
static void assert_prefixes_incomplete(const uint8_t *hdr, size_t hlen, enum ws_role role)
{
	struct ws_frame_header h;

	for (size_t n = 0; n < hlen; n++)
		assert_int_equal(ws_frame_header_parse(hdr, n, role, 0, &h), 0);
}

/* RFC 6455 5.7: a single-frame unmasked text message. */
static void test_rfc_hello_unmasked(void **state)
{
	static const uint8_t frame[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	struct ws_frame_header h;
	uint8_t out[WS_FRAME_HEADER_MAX];
	(void)state;

	assert_int_equal(ws_frame_header_parse(frame, sizeof frame, WS_ROLE_CLIENT, 0, &h), 2);
	assert_true(h.fin);
	assert_int_equal(h.opcode, WS_OP_TEXT);
	assert_false(h.masked);
	assert_int_equal(h.payload_len, 5);
	assert_memory_equal(frame + 2, "Hello", 5);
	assert_prefixes_incomplete(frame, 2, WS_ROLE_CLIENT);

	assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_TEXT, 5, NULL), 2);
	assert_memory_equal(out, frame, 2);
	assert_int_equal(ws_frame_header_encode(out, sizeof out, &h), 2);
	assert_memory_equal(out, frame, 2);
}

/* RFC 6455 5.7: a single-frame masked text message. */
static void test_rfc_hello_masked(void **state)
{
	static const uint8_t frame[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct ws_frame_header h;
	uint8_t out[32], payload[5];
	(void)state;

	assert_int_equal(ws_frame_header_parse(frame, sizeof frame, WS_ROLE_SERVER, 0, &h), 6);
	assert_true(h.fin);
	assert_int_equal(h.opcode, WS_OP_TEXT);
	assert_true(h.masked);
	assert_memory_equal(h.mask_key, hello_key, 4);
	assert_int_equal(h.payload_len, 5);
	assert_prefixes_incomplete(frame, 6, WS_ROLE_SERVER);

	memcpy(payload, frame + 6, 5);
	assert_int_equal(ws_mask(payload, 5, h.mask_key, 0), 1);
	assert_memory_equal(payload, "Hello", 5);

	/* A client writes the same bytes with the same key. */
	assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_TEXT, 5, hello_key), 6);
	memcpy(out + 6, "Hello", 5);
	ws_mask(out + 6, 5, hello_key, 0);
	assert_memory_equal(out, frame, sizeof frame);
}

/* RFC 6455 5.7: a fragmented unmasked text message, "Hel" then "lo". */
static void test_rfc_fragmented(void **state)
{
	static const uint8_t f1[] = { 0x01, 0x03, 0x48, 0x65, 0x6c };
	static const uint8_t f2[] = { 0x80, 0x02, 0x6c, 0x6f };
	struct ws_frame_header h;
	uint8_t msg_op = 0, out[WS_FRAME_HEADER_MAX];
	(void)state;

	assert_int_equal(ws_frame_header_parse(f1, sizeof f1, WS_ROLE_CLIENT, 0, &h), 2);
	assert_false(h.fin);
	assert_int_equal(h.opcode, WS_OP_TEXT);
	assert_int_equal(h.payload_len, 3);
	assert_int_equal(ws_frame_sequence_check(&msg_op, &h), WS_OP_TEXT);
	assert_int_equal(msg_op, WS_OP_TEXT);
	assert_int_equal(ws_frame_header_write(out, sizeof out, false, WS_OP_TEXT, 3, NULL), 2);
	assert_memory_equal(out, f1, 2);

	assert_int_equal(ws_frame_header_parse(f2, sizeof f2, WS_ROLE_CLIENT, 0, &h), 2);
	assert_true(h.fin);
	assert_int_equal(h.opcode, WS_OP_CONTINUATION);
	assert_int_equal(h.payload_len, 2);
	assert_int_equal(ws_frame_sequence_check(&msg_op, &h), WS_OP_TEXT);
	assert_int_equal(msg_op, 0);
	assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_CONTINUATION, 2, NULL), 2);
	assert_memory_equal(out, f2, 2);
}

/* RFC 6455 5.7: unmasked ping and masked pong, both carrying "Hello". */
static void test_rfc_ping_pong(void **state)
{
	static const uint8_t ping[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	static const uint8_t pong[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct ws_frame_header h;
	uint8_t out[32], msg_op = 0;
	(void)state;

	assert_int_equal(ws_frame_header_parse(ping, sizeof ping, WS_ROLE_CLIENT, 0, &h), 2);
	assert_true(h.fin);
	assert_int_equal(h.opcode, WS_OP_PING);
	assert_int_equal(h.payload_len, 5);
	assert_int_equal(ws_frame_sequence_check(&msg_op, &h), WS_OP_PING);
	assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_PING, 5, NULL), 2);
	assert_memory_equal(out, ping, 2);

	assert_int_equal(ws_frame_header_parse(pong, sizeof pong, WS_ROLE_SERVER, 0, &h), 6);
	assert_int_equal(h.opcode, WS_OP_PONG);
	assert_true(h.masked);
	assert_memory_equal(h.mask_key, hello_key, 4);
	memcpy(out, pong + 6, 5);
	ws_mask(out, 5, h.mask_key, 0);
	assert_memory_equal(out, "Hello", 5);
	assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_PONG, 5, hello_key), 6);
	assert_memory_equal(out, pong, 6);
}

/* RFC 6455 5.7: 256 bytes of binary data in one unmasked frame. */
static void test_rfc_256_bytes(void **state)
{
	static const uint8_t hdr[] = { 0x82, 0x7e, 0x01, 0x00 };
	uint8_t frame[4 + 256], out[WS_FRAME_HEADER_MAX];
	struct ws_frame_header h;
	(void)state;

	memcpy(frame, hdr, 4);
	memset(frame + 4, 0x5a, 256);
	assert_int_equal(ws_frame_header_parse(frame, sizeof frame, WS_ROLE_CLIENT, 0, &h), 4);
	assert_true(h.fin);
	assert_int_equal(h.opcode, WS_OP_BINARY);
	assert_int_equal(h.payload_len, 256);
	assert_prefixes_incomplete(hdr, 4, WS_ROLE_CLIENT);
	assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_BINARY, 256, NULL), 4);
	assert_memory_equal(out, hdr, 4);
}

/* RFC 6455 5.7: 64 KiB of binary data in one unmasked frame. */
static void test_rfc_64k(void **state)
{
	static const uint8_t hdr[] = { 0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00 };
	uint8_t *frame = malloc(10 + 65536), out[WS_FRAME_HEADER_MAX];
	struct ws_frame_header h;
	(void)state;

	assert_non_null(frame);
	memcpy(frame, hdr, 10);
	memset(frame + 10, 0xa5, 65536);
	assert_int_equal(ws_frame_header_parse(frame, 10 + 65536, WS_ROLE_CLIENT, 0, &h), 10);
	assert_true(h.fin);
	assert_int_equal(h.opcode, WS_OP_BINARY);
	assert_int_equal(h.payload_len, 65536);
	assert_prefixes_incomplete(hdr, 10, WS_ROLE_CLIENT);
	assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_BINARY, 65536, NULL), 10);
	assert_memory_equal(out, hdr, 10);
	free(frame);
}

/* The encoder picks the shortest length form at each boundary. */
static void test_encode_minimal_lengths(void **state)
{
	static const struct {
		uint64_t len;
		int hlen;
		uint8_t bytes[10];
	} cases[] = {
		{ 0, 2, { 0x82, 0x00 } },
		{ 125, 2, { 0x82, 0x7d } },
		{ 126, 4, { 0x82, 0x7e, 0x00, 0x7e } },
		{ 65535, 4, { 0x82, 0x7e, 0xff, 0xff } },
		{ 65536, 10, { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0, 0 } },
		{ 0x7fffffffffffffffULL, 10, { 0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
	};
	uint8_t out[WS_FRAME_HEADER_MAX];
	struct ws_frame_header h;
	(void)state;

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_BINARY, cases[i].len, NULL),
				 cases[i].hlen);
		assert_memory_equal(out, cases[i].bytes, (size_t)cases[i].hlen);
		assert_int_equal(ws_frame_header_parse(out, (size_t)cases[i].hlen, WS_ROLE_CLIENT, 0, &h),
				 cases[i].hlen);
		assert_int_equal(h.payload_len, cases[i].len);

		/* Masked: same plus four key bytes at the end. */
		assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_BINARY, cases[i].len, hello_key),
				 cases[i].hlen + 4);
		assert_int_equal(out[1], cases[i].bytes[1] | 0x80);
		assert_memory_equal(out + cases[i].hlen, hello_key, 4);
		assert_int_equal(ws_frame_header_parse(out, (size_t)cases[i].hlen + 4, WS_ROLE_SERVER, 0, &h),
				 cases[i].hlen + 4);
		assert_int_equal(h.payload_len, cases[i].len);
	}
}

/* RFC 6455 5.2 wants minimal lengths, but we only enforce that on write. */
static void test_parse_accepts_non_minimal_lengths(void **state)
{
	static const uint8_t len16[] = { 0x82, 0x7e, 0x00, 0x05 };
	static const uint8_t len64[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x05 };
	static const uint8_t len64_small16[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct ws_frame_header h;
	(void)state;

	assert_int_equal(ws_frame_header_parse(len16, sizeof len16, WS_ROLE_ANY, 0, &h), 4);
	assert_int_equal(h.payload_len, 5);
	assert_int_equal(ws_frame_header_parse(len64, sizeof len64, WS_ROLE_ANY, 0, &h), 10);
	assert_int_equal(h.payload_len, 5);
	assert_int_equal(ws_frame_header_parse(len64_small16, sizeof len64_small16, WS_ROLE_ANY, 0, &h), 10);
	assert_int_equal(h.payload_len, 65535);
}

static void test_reject_rsv(void **state)
{
	struct ws_frame_header h;
	(void)state;

	for (unsigned rsv = 1; rsv <= 7; rsv++) {
		uint8_t frame[] = { (uint8_t)(0x82 | rsv << 4), 0x00 };
		/* One byte is enough to know. */
		assert_int_equal(ws_frame_header_parse(frame, 1, WS_ROLE_ANY, 0, &h), WS_ERR_RSV);
		assert_int_equal(ws_frame_header_parse(frame, 2, WS_ROLE_ANY, 0, &h), WS_ERR_RSV);
	}
	assert_int_equal(ws_error_close_code(WS_ERR_RSV), 1002);
}

static void test_reject_opcodes(void **state)
{
	struct ws_frame_header h;
	(void)state;

	for (unsigned op = 0; op < 16; op++) {
		uint8_t frame[] = { (uint8_t)(0x80 | op), 0x00 };
		int rc = ws_frame_header_parse(frame, 1, WS_ROLE_ANY, 0, &h);
		bool known = op <= 2 || (op >= 8 && op <= 10);

		assert_int_equal(rc, known ? 0 : WS_ERR_OPCODE);
		assert_int_equal(ws_frame_header_parse(frame, 2, WS_ROLE_ANY, 0, &h), known ? 2 : WS_ERR_OPCODE);
		assert_int_equal(ws_frame_header_write(frame, sizeof frame, true, (enum ws_opcode)op, 0, NULL),
				 known ? 2 : -1);
	}
	assert_int_equal(ws_error_close_code(WS_ERR_OPCODE), 1002);
}

static void test_reject_control_fragmented(void **state)
{
	static const uint8_t ops[] = { WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG };
	struct ws_frame_header h;
	uint8_t out[WS_FRAME_HEADER_MAX];
	(void)state;

	for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
		uint8_t frame[] = { ops[i], 0x00 };
		assert_int_equal(ws_frame_header_parse(frame, 1, WS_ROLE_ANY, 0, &h), WS_ERR_CONTROL_FRAGMENTED);
		assert_int_equal(ws_frame_header_write(out, sizeof out, false, ops[i], 0, NULL), -1);
	}
}

static void test_reject_control_too_long(void **state)
{
	static const uint8_t ops[] = { WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG };
	struct ws_frame_header h;
	uint8_t out[WS_FRAME_HEADER_MAX];
	(void)state;

	for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
		uint8_t ok[] = { (uint8_t)(0x80 | ops[i]), 125 };
		uint8_t len7_126[] = { (uint8_t)(0x80 | ops[i]), 126, 0x00, 0x05 };
		uint8_t len7_127[] = { (uint8_t)(0x80 | ops[i]), 127, 0, 0, 0, 0, 0, 0, 0, 0x05 };

		assert_int_equal(ws_frame_header_parse(ok, sizeof ok, WS_ROLE_ANY, 0, &h), 2);
		/* Even a small length in the extended form is refused: the
		 * 7-bit field itself says "more than 125". */
		assert_int_equal(ws_frame_header_parse(len7_126, 2, WS_ROLE_ANY, 0, &h), WS_ERR_CONTROL_TOO_LONG);
		assert_int_equal(ws_frame_header_parse(len7_126, sizeof len7_126, WS_ROLE_ANY, 0, &h),
				 WS_ERR_CONTROL_TOO_LONG);
		assert_int_equal(ws_frame_header_parse(len7_127, sizeof len7_127, WS_ROLE_ANY, 0, &h),
				 WS_ERR_CONTROL_TOO_LONG);
		assert_int_equal(ws_frame_header_write(out, sizeof out, true, ops[i], 125, NULL), 2);
		assert_int_equal(ws_frame_header_write(out, sizeof out, true, ops[i], 126, NULL), -1);
	}
}

static void test_reject_length_top_bit(void **state)
{
	static const uint8_t bad[] = { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t max[] = { 0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct ws_frame_header h;
	uint8_t out[WS_FRAME_HEADER_MAX];
	(void)state;

	assert_int_equal(ws_frame_header_parse(bad, sizeof bad, WS_ROLE_ANY, 0, &h), WS_ERR_LENGTH_OVERFLOW);
	assert_int_equal(ws_frame_header_parse(bad, 9, WS_ROLE_ANY, 0, &h), 0);
	assert_int_equal(ws_frame_header_parse(max, sizeof max, WS_ROLE_ANY, 0, &h), 10);
	assert_int_equal(h.payload_len, 0x7fffffffffffffffULL);
	assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_BINARY, 0x8000000000000000ULL, NULL), -1);
	assert_int_equal(ws_frame_header_write(out, sizeof out, true, WS_OP_BINARY, UINT64_MAX, NULL), -1);
	assert_int_equal(ws_error_close_code(WS_ERR_LENGTH_OVERFLOW), 1002);
}

static void test_mask_role(void **state)
{
	static const uint8_t unmasked[] = { 0x82, 0x00 };
	static const uint8_t masked[] = { 0x82, 0x80, 1, 2, 3, 4 };
	struct ws_frame_header h;
	(void)state;

	assert_int_equal(ws_frame_header_parse(unmasked, 2, WS_ROLE_SERVER, 0, &h), WS_ERR_MASK_REQUIRED);
	assert_int_equal(ws_frame_header_parse(masked, 2, WS_ROLE_CLIENT, 0, &h), WS_ERR_MASK_FORBIDDEN);
	assert_int_equal(ws_frame_header_parse(unmasked, 2, WS_ROLE_CLIENT, 0, &h), 2);
	assert_int_equal(ws_frame_header_parse(masked, 6, WS_ROLE_SERVER, 0, &h), 6);
	assert_int_equal(ws_frame_header_parse(unmasked, 2, WS_ROLE_ANY, 0, &h), 2);
	assert_false(h.masked);
	assert_int_equal(ws_frame_header_parse(masked, 6, WS_ROLE_ANY, 0, &h), 6);
	assert_true(h.masked);
	assert_memory_equal(h.mask_key, masked + 2, 4);
	assert_int_equal(ws_error_close_code(WS_ERR_MASK_REQUIRED), 1002);
	assert_int_equal(ws_error_close_code(WS_ERR_MASK_FORBIDDEN), 1002);
}

static void test_max_payload(void **state)
{
	static const uint8_t len7[] = { 0x82, 0x80 | 101, 1, 2, 3, 4 };
	static const uint8_t len16[] = { 0x82, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4 };
	static const uint8_t len64[] = { 0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4 };
	struct ws_frame_header h;
	(void)state;

	assert_int_equal(ws_frame_header_parse(len7, sizeof len7, WS_ROLE_SERVER, 101, &h), 6);
	assert_int_equal(ws_frame_header_parse(len7, sizeof len7, WS_ROLE_SERVER, 100, &h), WS_ERR_TOO_BIG);
	/* Known before the mask key arrives. */
	assert_int_equal(ws_frame_header_parse(len7, 2, WS_ROLE_SERVER, 100, &h), WS_ERR_TOO_BIG);
	assert_int_equal(ws_frame_header_parse(len16, 4, WS_ROLE_SERVER, 255, &h), WS_ERR_TOO_BIG);
	assert_int_equal(ws_frame_header_parse(len16, sizeof len16, WS_ROLE_SERVER, 256, &h), 8);
	assert_int_equal(ws_frame_header_parse(len64, 10, WS_ROLE_SERVER, 1048576, &h), WS_ERR_TOO_BIG);
	assert_int_equal(ws_frame_header_parse(len64, sizeof len64, WS_ROLE_SERVER, 1048577, &h), 14);
	assert_int_equal(h.payload_len, 1048577);
	assert_int_equal(ws_frame_header_parse(len64, sizeof len64, WS_ROLE_SERVER, 0, &h), 14);
	assert_int_equal(ws_error_close_code(WS_ERR_TOO_BIG), 1009);
}

static void test_encode_buffer_too_small(void **state)
{
	static const uint64_t lens[] = { 5, 300, 70000 };
	uint8_t out[WS_FRAME_HEADER_MAX];
	(void)state;

	for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
		for (int masked = 0; masked <= 1; masked++) {
			const uint8_t *key = masked ? hello_key : NULL;
			int n = ws_frame_header_write(out, sizeof out, true, WS_OP_BINARY, lens[i], key);
			assert_true(n >= 2);
			for (int cap = 0; cap < n; cap++)
				assert_int_equal(ws_frame_header_write(out, (size_t)cap, true, WS_OP_BINARY, lens[i], key), -1);
			assert_int_equal(ws_frame_header_write(out, (size_t)n, true, WS_OP_BINARY, lens[i], key), n);
		}
	}
}

/* Unmasking in arbitrary pieces equals unmasking in one go. */
static void test_mask_in_pieces(void **state)
{
	static const uint8_t key[4] = { 0xde, 0xad, 0xbe, 0xef };
	uint8_t orig[97], whole[97], pieces[97];
	(void)state;

	for (size_t i = 0; i < sizeof orig; i++)
		orig[i] = (uint8_t)(i * 7 + 3);
	memcpy(whole, orig, sizeof whole);
	assert_int_equal(ws_mask(whole, sizeof whole, key, 0), 97 % 4);
	for (size_t i = 0; i < sizeof orig; i++)
		assert_int_equal(whole[i], orig[i] ^ key[i % 4]);

	for (size_t a = 0; a <= sizeof orig; a++) {
		for (size_t b = a; b <= sizeof orig; b += 5) {
			size_t off;
			memcpy(pieces, orig, sizeof pieces);
			off = ws_mask(pieces, a, key, 0);
			off = ws_mask(pieces + a, b - a, key, off);
			ws_mask(pieces + b, sizeof pieces - b, key, off);
			assert_memory_equal(pieces, whole, sizeof whole);
		}
	}
	/* The offset may also be the absolute payload position. */
	memcpy(pieces, orig, sizeof pieces);
	ws_mask(pieces, 13, key, 0);
	ws_mask(pieces + 13, sizeof pieces - 13, key, 1000013);
	assert_memory_equal(pieces, whole, sizeof whole);
	/* Masking twice restores the data; an empty piece keeps the offset. */
	ws_mask(whole, sizeof whole, key, 0);
	assert_memory_equal(whole, orig, sizeof orig);
	assert_int_equal(ws_mask(whole, 0, key, 3), 3);
}

static void test_sequence_errors(void **state)
{
	struct ws_frame_header cont = { .fin = true, .opcode = WS_OP_CONTINUATION };
	struct ws_frame_header bin_first = { .fin = false, .opcode = WS_OP_BINARY };
	struct ws_frame_header text = { .fin = true, .opcode = WS_OP_TEXT };
	struct ws_frame_header ping = { .fin = true, .opcode = WS_OP_PING };
	struct ws_frame_header mid = { .fin = false, .opcode = WS_OP_CONTINUATION };
	uint8_t op = 0;
	(void)state;

	assert_int_equal(ws_frame_sequence_check(&op, &cont), WS_ERR_UNEXPECTED_CONTINUATION);
	assert_int_equal(ws_frame_sequence_check(&op, &mid), WS_ERR_UNEXPECTED_CONTINUATION);
	assert_int_equal(ws_frame_sequence_check(&op, &text), WS_OP_TEXT);
	assert_int_equal(op, 0);
	assert_int_equal(ws_frame_sequence_check(&op, &bin_first), WS_OP_BINARY);
	assert_int_equal(ws_frame_sequence_check(&op, &ping), WS_OP_PING); /* interleaved control */
	assert_int_equal(ws_frame_sequence_check(&op, &mid), WS_OP_BINARY);
	assert_int_equal(ws_frame_sequence_check(&op, &text), WS_ERR_EXPECTED_CONTINUATION);
	assert_int_equal(ws_frame_sequence_check(&op, &bin_first), WS_ERR_EXPECTED_CONTINUATION);
	assert_int_equal(op, WS_OP_BINARY);
	assert_int_equal(ws_frame_sequence_check(&op, &cont), WS_OP_BINARY);
	assert_int_equal(op, 0);
	assert_int_equal(ws_frame_sequence_check(&op, &cont), WS_ERR_UNEXPECTED_CONTINUATION);
	assert_int_equal(ws_error_close_code(WS_ERR_UNEXPECTED_CONTINUATION), 1002);
	assert_int_equal(ws_error_close_code(WS_ERR_EXPECTED_CONTINUATION), 1002);
}

static void test_close_parse(void **state)
{
	static const uint8_t bye[] = { 0x03, 0xe8, 'b', 'y', 'e' };
	static const uint8_t going[] = { 0x03, 0xe9 };
	static const uint8_t utf8[] = { 0x0f, 0xa0, 0xc3, 0xa9, 0xe2, 0x82, 0xac }; /* 4000 "é€" */
	struct ws_close c;
	(void)state;

	assert_int_equal(ws_close_payload_parse(NULL, 0, &c), 0);
	assert_int_equal(c.code, WS_CLOSE_NO_STATUS);
	assert_int_equal(c.reason_len, 0);
	assert_int_equal(ws_close_payload_parse(bye, sizeof bye, &c), 0);
	assert_int_equal(c.code, 1000);
	assert_int_equal(c.reason_len, 3);
	assert_memory_equal(c.reason, "bye", 3);
	assert_int_equal(ws_close_payload_parse(going, sizeof going, &c), 0);
	assert_int_equal(c.code, 1001);
	assert_int_equal(c.reason_len, 0);
	assert_int_equal(ws_close_payload_parse(utf8, sizeof utf8, &c), 0);
	assert_int_equal(c.code, 4000);
	assert_int_equal(c.reason_len, 5);
}

static void test_close_reject(void **state)
{
	static const unsigned bad_codes[] = { 0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535 };
	static const unsigned good_codes[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
					       1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 };
	static const uint8_t one[] = { 0x03 };
	static const uint8_t bad_utf8[] = { 0x03, 0xe8, 'o', 0xff, 'k' };
	uint8_t buf[130];
	struct ws_close c;
	(void)state;

	assert_int_equal(ws_close_payload_parse(one, 1, &c), WS_ERR_CLOSE_LENGTH);
	assert_int_equal(ws_error_close_code(WS_ERR_CLOSE_LENGTH), 1002);
	for (size_t i = 0; i < ARRAY_LEN(bad_codes); i++) {
		uint8_t p[2] = { (uint8_t)(bad_codes[i] >> 8), (uint8_t)bad_codes[i] };
		assert_false(ws_close_code_valid(bad_codes[i]));
		assert_int_equal(ws_close_payload_parse(p, 2, &c), WS_ERR_CLOSE_CODE);
		assert_int_equal(ws_close_payload_encode(buf, sizeof buf, (uint16_t)bad_codes[i], NULL, 0),
				 bad_codes[i] == 0 ? 0 : -1);
	}
	for (size_t i = 0; i < ARRAY_LEN(good_codes); i++) {
		uint8_t p[2] = { (uint8_t)(good_codes[i] >> 8), (uint8_t)good_codes[i] };
		assert_true(ws_close_code_valid(good_codes[i]));
		assert_int_equal(ws_close_payload_parse(p, 2, &c), 0);
		assert_int_equal(c.code, good_codes[i]);
	}
	assert_int_equal(ws_error_close_code(WS_ERR_CLOSE_CODE), 1002);

	assert_int_equal(ws_close_payload_parse(bad_utf8, sizeof bad_utf8, &c), WS_ERR_CLOSE_UTF8);
	assert_int_equal(ws_error_close_code(WS_ERR_CLOSE_UTF8), 1007);

	buf[0] = 0x03;
	buf[1] = 0xe8;
	memset(buf + 2, 'r', sizeof buf - 2);
	assert_int_equal(ws_close_payload_parse(buf, 125, &c), 0);
	assert_int_equal(c.reason_len, 123);
	assert_int_equal(ws_close_payload_parse(buf, 126, &c), WS_ERR_CONTROL_TOO_LONG);
}

static void test_close_encode(void **state)
{
	static const uint8_t bye[] = { 0x03, 0xe8, 'b', 'y', 'e' };
	char reason[WS_CLOSE_REASON_MAX + 1];
	uint8_t out[WS_CONTROL_PAYLOAD_MAX + 8], frame[WS_FRAME_HEADER_MAX];
	(void)state;

	assert_int_equal(ws_close_payload_encode(out, sizeof out, 1000, "bye", 3), 5);
	assert_memory_equal(out, bye, 5);
	assert_int_equal(ws_close_payload_encode(out, sizeof out, 1009, NULL, 0), 2);
	assert_int_equal(out[0], 0x03);
	assert_int_equal(out[1], 0xf1);
	assert_int_equal(ws_close_payload_encode(out, sizeof out, 0, NULL, 0), 0);
	assert_int_equal(ws_close_payload_encode(out, sizeof out, 0, "x", 1), -1);
	assert_int_equal(ws_close_payload_encode(out, sizeof out, 1005, NULL, 0), -1);
	assert_int_equal(ws_close_payload_encode(out, sizeof out, 1000, "\xc0\xaf", 2), -1);
	assert_int_equal(ws_close_payload_encode(out, sizeof out, 1000, NULL, 1), -1);

	memset(reason, 'r', sizeof reason);
	assert_int_equal(ws_close_payload_encode(out, sizeof out, 1000, reason, 123), 125);
	assert_int_equal(ws_frame_header_write(frame, sizeof frame, true, WS_OP_CLOSE, 125, NULL), 2);
	assert_int_equal(ws_close_payload_encode(out, sizeof out, 1000, reason, 124), -1);
	assert_int_equal(ws_close_payload_encode(out, 4, 1000, "bye", 3), -1);
	assert_int_equal(ws_close_payload_encode(out, 1, 1000, NULL, 0), -1);
}

static void test_utf8(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		bool ok;
	} cases[] = {
		{ "", 0, true },
		{ "plain ascii", 11, true },
		{ "\0", 1, true },
		{ "\xc2\x80", 2, true },	     /* U+0080 */
		{ "\xdf\xbf", 2, true },	     /* U+07FF */
		{ "\xe0\xa0\x80", 3, true },	     /* U+0800 */
		{ "\xed\x9f\xbf", 3, true },	     /* U+D7FF */
		{ "\xee\x80\x80", 3, true },	     /* U+E000 */
		{ "\xef\xbf\xbf", 3, true },	     /* U+FFFF */
		{ "\xf0\x90\x80\x80", 4, true },     /* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4, true },     /* U+10FFFF */
		{ "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11, true },
		{ "\x80", 1, false },		     /* lone continuation */
		{ "\xbf", 1, false },
		{ "\xc0\x80", 2, false },	     /* overlong NUL */
		{ "\xc1\xbf", 2, false },	     /* overlong */
		{ "\xe0\x9f\xbf", 3, false },	     /* overlong */
		{ "\xed\xa0\x80", 3, false },	     /* surrogate U+D800 */
		{ "\xed\xbf\xbf", 3, false },	     /* surrogate U+DFFF */
		{ "\xf0\x8f\xbf\xbf", 4, false },    /* overlong */
		{ "\xf4\x90\x80\x80", 4, false },    /* U+110000 */
		{ "\xf5\x80\x80\x80", 4, false },
		{ "\xff", 1, false },
		{ "\xc2", 1, false },		     /* truncated */
		{ "\xe2\x82", 2, false },
		{ "\xf0\x90\x80", 3, false },
		{ "\xe2\x28\xa1", 3, false },	     /* bad continuation */
		{ "\xf0\x90\x28\x80", 4, false },
		{ "a\xc2", 2, false },
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		if (ws_utf8_valid((const uint8_t *)cases[i].s, cases[i].len) != cases[i].ok)
			fail_msg("utf8 case %zu", i);
}

/* RFC 6455 1.3 and 4.1 example. */
static void test_accept_key_rfc(void **state)
{
	char out[WS_ACCEPT_KEY_LEN + 1];
	(void)state;

	memset(out, 'x', sizeof out);
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_true(ws_accept_key_matches("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	assert_false(ws_accept_key_matches("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo"));
	assert_false(ws_accept_key_matches("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo= "));
	assert_false(ws_accept_key_matches("dGhlIHNhbXBsZSBub25jZR==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	assert_false(ws_accept_key_matches("dGhlIHNhbXBsZSBub25jZQ==", NULL));
}

static void test_accept_key_limits(void **state)
{
	char out[WS_ACCEPT_KEY_LEN + 1];
	char key[258];
	(void)state;

	assert_int_equal(ws_accept_key(NULL, out), -1);
	assert_int_equal(ws_accept_key("", out), 0);
	assert_int_equal(strlen(out), WS_ACCEPT_KEY_LEN);
	memset(key, 'k', sizeof key);
	key[256] = '\0';
	assert_int_equal(ws_accept_key(key, out), 0);
	key[256] = 'k';
	key[257] = '\0';
	assert_int_equal(ws_accept_key(key, out), -1);
	assert_false(ws_accept_key_matches(key, out));
	assert_false(ws_accept_key_matches(NULL, out));
}

static void test_client_key(void **state)
{
	static const uint8_t nonce[16] = "the sample nonce";
	static const uint8_t zeros[16];
	char key[WS_CLIENT_KEY_LEN + 1];
	(void)state;

	ws_client_key_make(nonce, key);
	assert_string_equal(key, "dGhlIHNhbXBsZSBub25jZQ==");
	assert_true(ws_client_key_valid(key));
	ws_client_key_make(zeros, key);
	assert_string_equal(key, "AAAAAAAAAAAAAAAAAAAAAA==");
	assert_true(ws_client_key_valid(key));
}

static void test_client_key_validation(void **state)
{
	static const char *const good[] = {
		"dGhlIHNhbXBsZSBub25jZQ==",
		"AAAAAAAAAAAAAAAAAAAAAA==",
		"/+/+/+/+/+/+/+/+/+/+/w==",
		"dGhlIHNhbXBsZSBub25jZR==", /* non-zero pad bits, as Go tolerates */
	};
	static const char *const bad[] = {
		"",
		"dGhlIHNhbXBsZSBub25jZQ=",	   /* short */
		"dGhlIHNhbXBsZSBub25jZQ===",	   /* long */
		"dGhlIHNhbXBsZSBub25jZQ==\n",
		" dGhlIHNhbXBsZSBub25jZQ==",
		"dGhlIHNhbXBsZSBub25jZQAA",	   /* 18 bytes, no padding */
		"dGhlIHNhbXBsZSBub25jZ===",	   /* 15 bytes */
		"dGhlIHNhbXBsZSBub25j=Q==",	   /* padding in the middle */
		"dGhlIHNhbXBsZSBub25jZQ-=",
		"dGhlIHNhbXBsZSBub25jZ-_==",	   /* URL alphabet */
		"dGhlIHNhbXBsZSBub2 jZQ==",
		"dGhlIHNhbXBsZSBub25jZQ\0=",
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		if (!ws_client_key_valid(good[i]))
			fail_msg("rejected \"%s\"", good[i]);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (ws_client_key_valid(bad[i]))
			fail_msg("accepted bad key %zu", i);
	assert_false(ws_client_key_valid(NULL));
}

static void test_error_names(void **state)
{
	(void)state;
	for (int e = WS_ERR_CLOSE_UTF8; e <= WS_ERR_RSV; e++) {
		assert_true(ws_error_close_code(e) == 1002 || ws_error_close_code(e) == 1007 ||
			    ws_error_close_code(e) == 1009);
		assert_string_not_equal(ws_strerror(e), ws_strerror(-100));
	}
	assert_int_equal(ws_error_close_code(0), 0);
	assert_int_equal(ws_error_close_code(-100), 0);
	assert_string_equal(ws_strerror(WS_ERR_TOO_BIG), "websocket: frame too big");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_hello_unmasked),
		cmocka_unit_test(test_rfc_hello_masked),
		cmocka_unit_test(test_rfc_fragmented),
		cmocka_unit_test(test_rfc_ping_pong),
		cmocka_unit_test(test_rfc_256_bytes),
		cmocka_unit_test(test_rfc_64k),
		cmocka_unit_test(test_encode_minimal_lengths),
		cmocka_unit_test(test_parse_accepts_non_minimal_lengths),
		cmocka_unit_test(test_reject_rsv),
		cmocka_unit_test(test_reject_opcodes),
		cmocka_unit_test(test_reject_control_fragmented),
		cmocka_unit_test(test_reject_control_too_long),
		cmocka_unit_test(test_reject_length_top_bit),
		cmocka_unit_test(test_mask_role),
		cmocka_unit_test(test_max_payload),
		cmocka_unit_test(test_encode_buffer_too_small),
		cmocka_unit_test(test_mask_in_pieces),
		cmocka_unit_test(test_sequence_errors),
		cmocka_unit_test(test_close_parse),
		cmocka_unit_test(test_close_reject),
		cmocka_unit_test(test_close_encode),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_accept_key_rfc),
		cmocka_unit_test(test_accept_key_limits),
		cmocka_unit_test(test_client_key),
		cmocka_unit_test(test_client_key_validation),
		cmocka_unit_test(test_error_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
