/* Unit tests for the smux frame codec: doc/protocols/gost-relay.md §4 example frames. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "proto/smux.h"

static const uint8_t SYN3[] = { 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00 };
static const uint8_t PSH3_HDR[] = { 0x01, 0x02, 0x0e, 0x00, 0x03, 0x00, 0x00, 0x00 };
static const uint8_t FIN3[] = { 0x01, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00 };
static const uint8_t NOP[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
/* The 14-byte per-stream relay header of spec §1.4, carried by the PSH. */
static const uint8_t STREAM_HDR[] = { 0x01, 0x00, 0x00, 0x0a, 0x02, 0x00, 0x07,
				      0x01, 0xcb, 0x00, 0x71, 0x05, 0xc7, 0x38 };
/* v2 window update on stream 3: consumed 32768, window 65536. */
static const uint8_t UPD3[] = { 0x02, 0x04, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00,
				0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00 };

static uint8_t reader_buf[SMUX_MAX_FRAME_SIZE];

static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(SMUX_HEADER_LEN, 8);
	assert_int_equal(SMUX_DEFAULT_MAX_FRAME_SIZE, 32768);
	assert_int_equal(SMUX_MAX_FRAME_SIZE, 65535);
	assert_int_equal(SMUX_DEFAULT_KEEPALIVE_INTERVAL_MS, 10000);
	assert_int_equal(SMUX_DEFAULT_KEEPALIVE_TIMEOUT_MS, 30000);
	assert_int_equal(SMUX_V2_INITIAL_PEER_WINDOW, 262144);
	assert_int_equal(SMUX_DEFAULT_MAX_RECEIVE_BUFFER, 4194304);
	assert_int_equal(SMUX_DEFAULT_MAX_STREAM_BUFFER, 65536);
}

static void test_encode_examples(void **state)
{
	uint8_t buf[64];

	(void)state;
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_SYN, 3, NULL, 0), 8);
	assert_memory_equal(buf, SYN3, 8);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_PSH, 3,
					   STREAM_HDR, sizeof(STREAM_HDR)), 22);
	assert_memory_equal(buf, PSH3_HDR, 8);
	assert_memory_equal(buf + 8, STREAM_HDR, 14);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_FIN, 3, NULL, 0), 8);
	assert_memory_equal(buf, FIN3, 8);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_NOP, 0, NULL, 0), 8);
	assert_memory_equal(buf, NOP, 8);

	{
		uint8_t upd[SMUX_UPD_LEN];

		assert_int_equal(smux_upd_encode(upd, sizeof(upd), 32768, 65536), 8);
		assert_int_equal(smux_frame_encode(buf, sizeof(buf), 2, SMUX_CMD_UPD, 3, upd, 8), 16);
		assert_memory_equal(buf, UPD3, 16);
		assert_int_equal(smux_upd_encode(upd, 7, 1, 1), -1);
	}

	{
		struct smux_header h = { .version = 1, .cmd = SMUX_CMD_PSH, .length = 0x1234,
					 .sid = 0xa1b2c3d4 };
		const uint8_t want[] = { 0x01, 0x02, 0x34, 0x12, 0xd4, 0xc3, 0xb2, 0xa1 };

		assert_int_equal(smux_header_encode(buf, 8, &h), 8);
		assert_memory_equal(buf, want, 8);
		assert_int_equal(smux_header_encode(buf, 7, &h), -1);
	}
}

static void test_encode_rejects(void **state)
{
	static uint8_t buf[70000], big[65536];
	struct smux_header h = { .version = 3, .cmd = SMUX_CMD_NOP };

	(void)state;
	assert_int_equal(smux_header_encode(buf, sizeof(buf), &h), -1);
	h.version = 0;
	assert_int_equal(smux_header_encode(buf, sizeof(buf), &h), -1);
	h.version = 1;
	h.cmd = 5;
	assert_int_equal(smux_header_encode(buf, sizeof(buf), &h), -1);

	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_PSH, 3, big, 65536), -1);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_PSH, 3, big, 65535),
			 8 + 65535);
	assert_int_equal(buf[2], 0xff);
	assert_int_equal(buf[3], 0xff);
	assert_int_equal(smux_frame_encode(buf, 8 + 65534, 1, SMUX_CMD_PSH, 3, big, 65535), -1);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_SYN, 3, big, 1), -1);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_FIN, 3, big, 1), -1);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_NOP, 0, big, 1), -1);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 2, SMUX_CMD_UPD, 3, big, 7), -1);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 2, SMUX_CMD_UPD, 3, big, 9), -1);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, 5, 3, NULL, 0), -1);
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 3, SMUX_CMD_SYN, 3, NULL, 0), -1);
	assert_int_equal(smux_frame_encode(buf, 7, 1, SMUX_CMD_SYN, 3, NULL, 0), -1);
}

static void test_parse_examples(void **state)
{
	uint8_t buf[64];
	struct smux_frame f;
	size_t need, i;
	uint32_t consumed, window;

	(void)state;
	assert_int_equal(smux_frame_parse(SYN3, 8, 1, &f, &need), 8);
	assert_int_equal(f.hdr.version, 1);
	assert_int_equal(f.hdr.cmd, SMUX_CMD_SYN);
	assert_int_equal(f.hdr.sid, 3);
	assert_null(f.payload);
	assert_int_equal(f.payload_len, 0);

	memcpy(buf, PSH3_HDR, 8);
	memcpy(buf + 8, STREAM_HDR, 14);
	for (i = 0; i < 22; i++) {
		need = 0;
		assert_int_equal(smux_frame_parse(buf, i, 1, &f, &need), 0);
		assert_int_equal(need, i < 8 ? 8 : 22);
	}
	assert_int_equal(smux_frame_parse(buf, 22, 1, &f, NULL), 22);
	assert_int_equal(f.hdr.cmd, SMUX_CMD_PSH);
	assert_int_equal(f.hdr.length, 14);
	assert_ptr_equal(f.payload, buf + 8);
	assert_int_equal(f.payload_len, 14);

	assert_int_equal(smux_frame_parse(FIN3, 8, 1, &f, NULL), 8);
	assert_int_equal(f.hdr.cmd, SMUX_CMD_FIN);
	assert_int_equal(smux_frame_parse(NOP, 8, 1, &f, NULL), 8);
	assert_int_equal(f.hdr.cmd, SMUX_CMD_NOP);
	assert_int_equal(f.hdr.sid, 0);

	for (i = 0; i < 16; i++)
		assert_int_equal(smux_frame_parse(UPD3, i, 2, &f, &need), 0);
	assert_int_equal(smux_frame_parse(UPD3, 16, 2, &f, &need), 16);
	assert_int_equal(f.hdr.cmd, SMUX_CMD_UPD);
	assert_int_equal(smux_upd_decode(f.payload, f.payload_len, &consumed, &window), 8);
	assert_int_equal(consumed, 32768);
	assert_int_equal(window, 65536);
	assert_int_equal(smux_upd_decode(f.payload, 7, &consumed, &window), 0);
}

/* smux reads no body for SYN/FIN/NOP and always 8 bytes for UPD, whatever
 * LENGTH says; anything else would fall out of step with the peer. */
static void test_body_len_follows_smux(void **state)
{
	uint8_t buf[32] = { 0x01, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00 };
	struct smux_frame f;
	struct smux_header h;

	(void)state;
	assert_int_equal(smux_frame_parse(buf, 8, 1, &f, NULL), 8);
	assert_int_equal(f.hdr.length, 5);
	assert_int_equal(f.payload_len, 0);
	buf[1] = SMUX_CMD_UPD;
	assert_int_equal(smux_frame_parse(buf, 15, 1, &f, NULL), 0);
	assert_int_equal(smux_frame_parse(buf, 16, 1, &f, NULL), 16);
	assert_int_equal(f.payload_len, 8);
	/* A zero-length PSH is a frame of its own. */
	buf[1] = SMUX_CMD_PSH;
	buf[2] = 0;
	assert_int_equal(smux_frame_parse(buf, 8, 1, &f, NULL), 8);
	assert_null(f.payload);

	assert_int_equal(smux_header_decode(buf, 7, &h), 0);
	h.cmd = SMUX_CMD_FIN;
	h.length = 100;
	assert_int_equal(smux_frame_body_len(&h), 0);
	h.cmd = SMUX_CMD_PSH;
	assert_int_equal(smux_frame_body_len(&h), 100);
}

static void test_parse_rejects(void **state)
{
	uint8_t buf[16];
	struct smux_frame f;

	(void)state;
	/* A v2 peer talking to a v1 session and vice versa. */
	assert_int_equal(smux_frame_parse(UPD3, 16, 1, &f, NULL), -1);
	assert_int_equal(smux_frame_parse(SYN3, 8, 2, &f, NULL), -1);
	assert_int_equal(smux_frame_parse(SYN3, 1, 2, &f, NULL), -1);
	memcpy(buf, SYN3, 8);
	buf[0] = 0;
	assert_int_equal(smux_frame_parse(buf, 8, 1, &f, NULL), -1);
	buf[0] = 3;
	assert_int_equal(smux_frame_parse(buf, 8, 1, &f, NULL), -1);
	buf[0] = 1;
	buf[1] = 5;
	assert_int_equal(smux_frame_parse(buf, 8, 1, &f, NULL), -1);
	assert_int_equal(smux_frame_parse(buf, 2, 1, &f, NULL), -1);
	assert_int_equal(smux_frame_parse(buf, 1, 1, &f, NULL), 0);
	buf[1] = 0xff;
	assert_int_equal(smux_frame_parse(buf, 8, 1, &f, NULL), -1);
}

static void test_max_frame(void **state)
{
	static uint8_t buf[8 + 65535], payload[65535];
	struct smux_frame f;
	size_t need;

	(void)state;
	memset(payload, 0x5a, sizeof(payload));
	assert_int_equal(smux_frame_encode(buf, sizeof(buf), 1, SMUX_CMD_PSH, 7, payload, 65535),
			 (int)sizeof(buf));
	assert_int_equal(smux_frame_parse(buf, sizeof(buf) - 1, 1, &f, &need), 0);
	assert_int_equal(need, sizeof(buf));
	assert_int_equal(smux_frame_parse(buf, sizeof(buf), 1, &f, &need), (int)sizeof(buf));
	assert_int_equal(f.payload_len, 65535);
	assert_int_equal(f.hdr.sid, 7);
}

/* SYN, PSH(14), FIN, NOP back to back, as the relay server sends them. */
static size_t build_session_bytes(uint8_t *out)
{
	size_t n = 0;

	memcpy(out + n, SYN3, 8);
	n += 8;
	memcpy(out + n, PSH3_HDR, 8);
	n += 8;
	memcpy(out + n, STREAM_HDR, 14);
	n += 14;
	memcpy(out + n, FIN3, 8);
	n += 8;
	memcpy(out + n, NOP, 8);
	n += 8;
	return n;
}

static void check_session_frames(const struct smux_frame *fr, size_t count)
{
	assert_int_equal(count, 4);
	assert_int_equal(fr[0].hdr.cmd, SMUX_CMD_SYN);
	assert_int_equal(fr[0].hdr.sid, 3);
	assert_int_equal(fr[1].hdr.cmd, SMUX_CMD_PSH);
	assert_int_equal(fr[1].payload_len, 14);
	assert_int_equal(fr[2].hdr.cmd, SMUX_CMD_FIN);
	assert_int_equal(fr[3].hdr.cmd, SMUX_CMD_NOP);
}

/* Feed the stream in pieces cut at `cuts`; returns frames seen. Payloads
 * are compared while still valid. */
static size_t feed_pieces(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts,
			  struct smux_frame *out)
{
	struct smux_reader r;
	size_t start = 0, count = 0, c;

	assert_int_equal(smux_reader_init(&r, 1, reader_buf, sizeof(reader_buf)), 0);
	for (c = 0; c <= ncuts; c++) {
		size_t end = c < ncuts ? cuts[c] : len, used;
		const uint8_t *p = data + start;
		size_t left = end - start;
		struct smux_frame f;
		int rc;

		while ((rc = smux_reader_next(&r, p, left, &used, &f)) == 1) {
			if (f.payload_len) {
				assert_memory_equal(f.payload, STREAM_HDR, 14);
				/* The PSH body is data[16..30): in place iff it
				 * arrived within one piece. */
				if (start <= 16 && 30 <= end)
					assert_ptr_equal(f.payload, data + 16);
				else
					assert_ptr_equal(f.payload, reader_buf);
			}
			out[count++] = f;
			p += used;
			left -= used;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(used, left);
		start = end;
	}
	assert_int_equal(smux_reader_need(&r), 8);
	return count;
}

static void test_reader_every_split(void **state)
{
	uint8_t data[64];
	size_t len = build_session_bytes(data), i, j;
	struct smux_frame fr[8];

	(void)state;
	check_session_frames(fr, feed_pieces(data, len, NULL, 0, fr));
	for (i = 0; i <= len; i++) {
		size_t cuts[1] = { i };

		check_session_frames(fr, feed_pieces(data, len, cuts, 1, fr));
		for (j = i; j <= len; j++) {
			size_t cuts2[2] = { i, j };

			check_session_frames(fr, feed_pieces(data, len, cuts2, 2, fr));
		}
	}
}

static void test_reader_byte_by_byte(void **state)
{
	uint8_t data[64];
	size_t len = build_session_bytes(data), cuts[64], i;
	struct smux_frame fr[8];

	(void)state;
	for (i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	check_session_frames(fr, feed_pieces(data, len, cuts, len - 1, fr));
}

static void test_reader_zero_copy(void **state)
{
	uint8_t data[64];
	size_t len = build_session_bytes(data), used;
	struct smux_reader r;
	struct smux_frame f;

	(void)state;
	assert_int_equal(smux_reader_init(&r, 1, reader_buf, sizeof(reader_buf)), 0);
	assert_int_equal(smux_reader_next(&r, data, len, &used, &f), 1);
	assert_int_equal(used, 8);
	assert_int_equal(smux_reader_next(&r, data + 8, len - 8, &used, &f), 1);
	assert_int_equal(used, 22);
	assert_ptr_equal(f.payload, data + 16);

	/* Header split, payload whole in the next piece: still in place. */
	assert_int_equal(smux_reader_init(&r, 1, reader_buf, sizeof(reader_buf)), 0);
	assert_int_equal(smux_reader_next(&r, data + 8, 3, &used, &f), 0);
	assert_int_equal(used, 3);
	assert_int_equal(smux_reader_need(&r), 5);
	assert_int_equal(smux_reader_next(&r, data + 11, 19, &used, &f), 1);
	assert_int_equal(used, 19);
	assert_ptr_equal(f.payload, data + 16);

	/* Payload split: assembled in the reader's buffer. */
	assert_int_equal(smux_reader_next(&r, data + 8, 12, &used, &f), 0);
	assert_int_equal(used, 12);
	assert_int_equal(smux_reader_need(&r), 10);
	assert_int_equal(smux_reader_next(&r, data + 20, 0, &used, &f), 0);
	assert_int_equal(used, 0);
	assert_int_equal(smux_reader_next(&r, data + 20, 18, &used, &f), 1);
	assert_int_equal(used, 10);
	assert_ptr_equal(f.payload, reader_buf);
	assert_memory_equal(f.payload, STREAM_HDR, 14);
}

static void test_reader_errors(void **state)
{
	uint8_t data[16];
	size_t used;
	struct smux_reader r;
	struct smux_frame f;

	(void)state;
	assert_int_equal(smux_reader_init(&r, 3, reader_buf, sizeof(reader_buf)), -1);
	assert_int_equal(smux_reader_init(&r, 1, reader_buf, 65534), -1);
	assert_int_equal(smux_reader_init(&r, 1, NULL, 65535), -1);

	/* Bad version in a whole header; the error sticks. */
	assert_int_equal(smux_reader_init(&r, 1, reader_buf, sizeof(reader_buf)), 0);
	assert_int_equal(smux_reader_next(&r, UPD3, 16, &used, &f), -1);
	assert_int_equal(smux_reader_next(&r, SYN3, 8, &used, &f), -1);

	/* Bad version in the second piece of a split header. */
	assert_int_equal(smux_reader_init(&r, 2, reader_buf, sizeof(reader_buf)), 0);
	assert_int_equal(smux_reader_next(&r, UPD3, 16, &used, &f), 1);
	assert_int_equal(smux_reader_next(&r, SYN3, 0, &used, &f), 0);
	assert_int_equal(smux_reader_next(&r, SYN3, 1, &used, &f), -1);

	/* Unknown command seen from a two-byte piece. */
	memcpy(data, SYN3, 8);
	data[1] = 9;
	assert_int_equal(smux_reader_init(&r, 1, reader_buf, sizeof(reader_buf)), 0);
	assert_int_equal(smux_reader_next(&r, data, 1, &used, &f), 0);
	assert_int_equal(smux_reader_next(&r, data + 1, 1, &used, &f), -1);
	assert_int_equal(smux_reader_next(&r, SYN3, 8, &used, &f), -1);

	/* UPD is accepted in a v1 session, as smux v1.5.31 does. */
	memcpy(data, UPD3, 16);
	data[0] = 1;
	assert_int_equal(smux_reader_init(&r, 1, reader_buf, sizeof(reader_buf)), 0);
	assert_int_equal(smux_reader_next(&r, data, 16, &used, &f), 1);
	assert_int_equal(used, 16);
}

static void test_stream_ids(void **state)
{
	struct smux_stream_ids ids;
	uint32_t sid = 0;

	(void)state;
	smux_stream_ids_init(&ids, true);
	assert_int_equal(smux_stream_ids_next(&ids, &sid), 0);
	assert_int_equal(sid, 3);
	assert_int_equal(smux_stream_ids_next(&ids, &sid), 0);
	assert_int_equal(sid, 5);
	assert_int_equal(smux_stream_ids_next(&ids, &sid), 0);
	assert_int_equal(sid, 7);

	smux_stream_ids_init(&ids, false);
	assert_int_equal(smux_stream_ids_next(&ids, &sid), 0);
	assert_int_equal(sid, 2);
	assert_int_equal(smux_stream_ids_next(&ids, &sid), 0);
	assert_int_equal(sid, 4);

	smux_stream_ids_init(&ids, true);
	ids.last = 0xfffffffdu;
	assert_int_equal(smux_stream_ids_next(&ids, &sid), 0);
	assert_int_equal(sid, 0xffffffffu);
	assert_int_equal(smux_stream_ids_next(&ids, &sid), -1);
	assert_int_equal(smux_stream_ids_next(&ids, &sid), -1);

	smux_stream_ids_init(&ids, false);
	ids.last = 0xfffffffcu;
	assert_int_equal(smux_stream_ids_next(&ids, &sid), 0);
	assert_int_equal(sid, 0xfffffffeu);
	assert_int_equal(smux_stream_ids_next(&ids, &sid), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_encode_examples),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_parse_examples),
		cmocka_unit_test(test_body_len_follows_smux),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_max_frame),
		cmocka_unit_test(test_reader_every_split),
		cmocka_unit_test(test_reader_byte_by_byte),
		cmocka_unit_test(test_reader_zero_copy),
		cmocka_unit_test(test_reader_errors),
		cmocka_unit_test(test_stream_ids),
	};

	return cmocka_run_group_tests_name("smux", tests, NULL, NULL);
}
