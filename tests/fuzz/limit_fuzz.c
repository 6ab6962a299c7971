/*
 * libFuzzer target for GOST's bandwidth limit lines (proto/limit.c): any
 * bytes, as a line and as one byte quantity. What parses must make sense:
 * a host scope's prefix within the address, and a quantity that parses
 * again to the same value when written back in bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/limit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char err[256];
	struct traffic_limit l;
	uint64_t v, again;

	memcpy(s, data, size);
	s[size] = 0;
	if (traffic_limit_parse(s, &l, err, sizeof err) == 0) {
		if (l.scope == TRAFFIC_HOST && (l.prefix.bits < 0 || l.prefix.bits > 128))
			abort();
	} else if (!memchr(err, 0, sizeof err)) {
		abort();
	}
	if (limit_parse_bytes((const char *)data, size, &v) == 0 && v) {
		char buf[32];
		int n = snprintf(buf, sizeof buf, "%lluB", (unsigned long long)v);
		if (limit_parse_bytes(buf, (size_t)n, &again) < 0 || again != v)
			abort();
	}
	free(s);
	return 0;
}
