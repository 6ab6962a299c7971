#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/onifast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const domains[] = { "example.com", "b.c" };
	struct onifast_route r;
	for (size_t nd = 0; nd < 3; nd += 2) {
		if (onifast_route_host(domains, nd, (const char *)data, size, ONIFAST_RELAY, 0, &r) == 0) {
			if (!onifast_name_valid(r.name) || (r.kind == ONIFAST_TUNNEL && (r.port < 1 || r.port > 65535)))
				abort();
		}
	}
	int port;
	int n = onifast_connect_line_parse((const char *)data, size, &port);
	if (n > 0) {
		char line[ONIFAST_LINE_MAX];
		if (port < 1 || port > 65535 || onifast_connect_line_write(line, sizeof line, port) != n ||
		    memcmp(line, data, (size_t)n))
			abort();
	}
	return 0;
}
