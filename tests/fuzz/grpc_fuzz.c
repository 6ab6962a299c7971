/*
 * libFuzzer target for the gRPC Chunk reader (proto/grpc.h). The input is fed whole, one
 * byte at a time, and in pieces whose sizes come from the input: the three must deliver the
 * same data bytes and end the same way (error, boundary or mid-message). Each data run must
 * lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/grpc.h"

struct acc {
	const uint8_t *base, *end;
	uint8_t *buf;
	size_t len;
};

static void collect(void *ud, const uint8_t *p, size_t n)
{
	struct acc *a = ud;
	if (n == 0 || p < a->base || p + n > a->end)
		abort();
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static int run(const uint8_t *in, size_t n, size_t (*step)(const uint8_t *, size_t, size_t), struct acc *a)
{
	struct grpc_reader r;
	const char *why;
	grpc_reader_init(&r);
	a->base = in;
	a->end = in + n;
	a->len = 0;
	for (size_t i = 0; i < n;) {
		size_t k = step(in, n, i);
		if (k > n - i)
			k = n - i;
		if (grpc_reader_feed(&r, in + i, k, collect, a, &why) < 0)
			return -1;
		i += k;
	}
	return grpc_reader_at_boundary(&r);
}

static size_t whole(const uint8_t *in, size_t n, size_t i) { (void)in; return n - i; }
static size_t one(const uint8_t *in, size_t n, size_t i) { (void)in; (void)n; (void)i; return 1; }
static size_t from_input(const uint8_t *in, size_t n, size_t i) { (void)n; return 1 + in[i] % 13; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acc a = { .buf = malloc(size + 1) }, b = { .buf = malloc(size + 1) }, c = { .buf = malloc(size + 1) };
	int ra = run(data, size, whole, &a), rb = run(data, size, one, &b), rc = run(data, size, from_input, &c);
	if (ra != rb || ra != rc || a.len != b.len || a.len != c.len || memcmp(a.buf, b.buf, a.len) ||
	    memcmp(a.buf, c.buf, a.len))
		abort();
	free(a.buf);
	free(b.buf);
	free(c.buf);
	return 0;
}
