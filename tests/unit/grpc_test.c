/* Unit tests for GOST's gRPC Chunk framing (proto/grpc.h): the bytes grpc-go writes for
 * Chunk{data}, every segmentation of a stream of messages, skipped fields, and rejects. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "proto/grpc.h"

struct out {
	uint8_t buf[1 << 16];
	size_t len;
};

static void collect(void *ud, const uint8_t *p, size_t n)
{
	struct out *o = ud;
	assert_true(o->len + n <= sizeof o->buf);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* Feed in pieces of size step (0: all at once); returns feed's result. */
static int feed(const uint8_t *in, size_t n, size_t step, struct out *o, const char **why)
{
	struct grpc_reader r;
	grpc_reader_init(&r);
	o->len = 0;
	if (!step)
		step = n ? n : 1;
	for (size_t i = 0; i < n; i += step) {
		size_t k = n - i < step ? n - i : step;
		if (grpc_reader_feed(&r, in + i, k, collect, o, why) < 0)
			return -1;
	}
	return grpc_reader_at_boundary(&r) ? 0 : 1;
}

static void test_header_bytes(void **state)
{
	(void)state;
	uint8_t h[GRPC_CHUNK_HEADER_MAX];
	/* Chunk{data: "hi"}: 00 | 00000004 | 0a 02 */
	assert_int_equal(grpc_chunk_header(h, 2), 7);
	assert_memory_equal(h, "\x00\x00\x00\x00\x04\x0a\x02", 7);
	/* 300 bytes: varint ac 02, message length 1 + 2 + 300 */
	assert_int_equal(grpc_chunk_header(h, 300), 8);
	assert_memory_equal(h, "\x00\x00\x00\x01\x2f\x0a\xac\x02", 8);
	/* an empty chunk is the tag and a zero length */
	assert_int_equal(grpc_chunk_header(h, 0), 7);
	assert_memory_equal(h, "\x00\x00\x00\x00\x02\x0a\x00", 7);
}

static void test_every_segmentation(void **state)
{
	(void)state;
	static uint8_t stream[4096];
	size_t n = 0;
	uint8_t h[GRPC_CHUNK_HEADER_MAX];
	static const char *const parts[] = { "hello", "", "a longer piece of tunnel data", "x" };
	char want[128] = "";
	for (size_t i = 0; i < 4; i++) {
		size_t l = strlen(parts[i]);
		size_t hl = grpc_chunk_header(h, l);
		memcpy(stream + n, h, hl);
		memcpy(stream + n + hl, parts[i], l);
		n += hl + l;
		strcat(want, parts[i]);
	}
	/* a message another implementation might send: an unknown varint field (2), a fixed64
	 * field (3), a bytes field (4), then data split in two data fields (last one wins in
	 * protobuf, but GOST's peers never send two: both are passed on in order) */
	static const uint8_t odd[] = { 0, 0, 0, 0, 24, 0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8,
				       0x22, 2, 'z', 'z', 0x0a, 3, 'a', 'b', 'c', 0x0a, 1, 'd' };
	memcpy(stream + n, odd, sizeof odd);
	n += sizeof odd;
	strcat(want, "abcd");
	struct out o;
	const char *why;
	for (size_t step = 0; step <= n; step++) {
		assert_int_equal(feed(stream, n, step, &o, &why), 0);
		assert_int_equal(o.len, strlen(want));
		assert_memory_equal(o.buf, want, o.len);
	}
	/* cut anywhere inside a message: not at a boundary */
	for (size_t cut = 1; cut < 7; cut++)
		assert_int_equal(feed(stream, cut, 0, &o, &why), 1);
}

static void rejects(const uint8_t *in, size_t n, const char *msg_part)
{
	struct out o;
	const char *why = NULL;
	for (size_t step = 1; step <= n; step++) {
		assert_int_equal(feed(in, n, step, &o, &why), -1);
		assert_non_null(strstr(why, msg_part));
	}
}

static void test_rejects(void **state)
{
	(void)state;
	rejects((const uint8_t *)"\x01\x00\x00\x00\x02\x0a\x00", 7, "compressed");
	rejects((const uint8_t *)"\x02\x00\x00\x00\x02\x0a\x00", 7, "flag");
	rejects((const uint8_t *)"\x00\x00\x40\x00\x01\x0a", 6, "over 4 MiB");
	/* data length past the message */
	rejects((const uint8_t *)"\x00\x00\x00\x00\x03\x0a\x05\x41", 8, "overruns");
	/* a fixed64 field in a 3-byte message */
	rejects((const uint8_t *)"\x00\x00\x00\x00\x03\x11\x00\x00", 8, "overruns");
	/* group wire types and 6/7 */
	rejects((const uint8_t *)"\x00\x00\x00\x00\x02\x0b\x00", 7, "wire type");
	rejects((const uint8_t *)"\x00\x00\x00\x00\x02\x0e\x00", 7, "wire type");
	/* field number 0 */
	rejects((const uint8_t *)"\x00\x00\x00\x00\x02\x02\x00", 7, "field number 0");
	/* a varint longer than 10 bytes */
	rejects((const uint8_t *)"\x00\x00\x00\x00\x0c\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 17,
		"varint");
	/* a key that ends the message without its value */
	rejects((const uint8_t *)"\x00\x00\x00\x00\x01\x0a", 6, "without a value");
	/* a varint cut by the message's end */
	rejects((const uint8_t *)"\x00\x00\x00\x00\x02\x08\x80\x00", 8, "varint overruns");
}

static void test_empty_message(void **state)
{
	(void)state;
	struct out o;
	const char *why;
	/* Chunk{} (no field at all) is a valid empty message */
	assert_int_equal(feed((const uint8_t *)"\x00\x00\x00\x00\x00", 5, 1, &o, &why), 0);
	assert_int_equal(o.len, 0);
}

static void test_method_path(void **state)
{
	(void)state;
	char out[64];
	static const char *const cases[][2] = {
		{ "", "/GostTunel/Tunnel" },          { "/", "/GostTunel/Tunnel" },
		{ "/api", "/api/Tunnel" },            { "api/", "/api/Tunnel" },
		{ "/api/stream", "/api/stream" },     { "/a/b/c/", "/a/b-c" },
		{ "//x//y", "/x/-y" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		assert_int_equal(grpc_method_path(cases[i][0], out, sizeof out), 0);
		assert_string_equal(out, cases[i][1]);
	}
	assert_int_equal(grpc_method_path(NULL, out, sizeof out), 0);
	assert_string_equal(out, "/GostTunel/Tunnel");
	assert_int_equal(grpc_method_path("/a-very-long-service-name/and-a-long-method", out, 16), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_bytes),
		cmocka_unit_test(test_every_segmentation),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_method_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
