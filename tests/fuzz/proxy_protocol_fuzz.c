/*
 * libFuzzer target for the PROXY protocol codec. Whatever parses is re-encoded
 * in its own version and must parse back to the same addresses; every prefix of
 * an accepted header must ask for more (the listener reads it in pieces).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proxy_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_header h, h2;
	uint8_t re[PP_HEADER_MAX];
	long n = pp_parse(data, size, &h);
	if (n < PP_NOT_PROXY || n > (long)size || n > PP_HEADER_MAX)
		abort();
	if (n <= 0)
		return 0;
	if (h.version != 1 && h.version != 2)
		abort();
	if (h.version == 1 && n > PP_V1_MAX_LEN)
		abort();
	for (long i = 0; i < n; i += 7)
		if (pp_parse(data, (size_t)i, &h2) != PP_NEED_MORE)
			abort();
	if (!h.has_addrs)
		return 0;
	if (h.src.family != h.dst.family || (h.src.family != 4 && h.src.family != 6))
		abort();
	long m = pp_encode(re, sizeof re, h.version, &h.src, &h.dst);
	if (m <= 0 || pp_parse(re, (size_t)m, &h2) != m || !h2.has_addrs || h2.src.family != h.src.family ||
	    memcmp(h2.src.ip, h.src.ip, 16) || memcmp(h2.dst.ip, h.dst.ip, 16) || h2.src.port != h.src.port ||
	    h2.dst.port != h.dst.port)
		abort();
	return 0;
}
