/*
 * libFuzzer target for client address rules (proto/addr_rules.c): addresses,
 * CIDRs and limit lines from arbitrary bytes. Whatever parses must be
 * consistent: a network holds its own address, a parsed address is one
 * family, a limit line's value is finite.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/addr_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct ip_addr a;
	struct ip_prefix p;
	struct limit_line l;
	const char *why = NULL;

	if (ip_addr_parse(s, size, &a) == 0) {
		if (a.v4 != 0 && a.v4 != 1)
			abort();
		if (ip_prefix_parse(s, size, &p) != 0 || !ip_prefix_contains(&p, &a))
			abort(); /* an address is a prefix holding itself */
	}
	if (ip_prefix_parse(s, size, &p) == 0) {
		if (p.bits < 0 || p.bits > 128 || (p.a.v4 && p.bits < 96))
			abort();
		if (!ip_prefix_contains(&p, &p.a))
			abort();
	}
	for (int whole = 0; whole < 2; whole++) {
		int r = limit_line_parse(s, size, whole, &l, &why);
		if (r == 0 && (!isfinite(l.value) || (whole && l.value != floor(l.value))))
			abort();
		if (r != 0 && (r != -1 || !why))
			abort();
	}
	/* a peer text is NUL-terminated */
	char peer[80];
	size_t n = size < sizeof peer - 1 ? size : sizeof peer - 1;
	memcpy(peer, s, n);
	peer[n] = 0;
	if (ip_addr_from_peer(peer, &a) == 0 && a.v4 != 0 && a.v4 != 1)
		abort();
	return 0;
}
