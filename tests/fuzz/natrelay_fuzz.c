#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/natrelay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum natrelay_line_kind k;
	int port;
	int n = natrelay_line_parse((const char *)data, size, &k, &port);
	if (n > 0) {
		char line[NATRELAY_LINE_MAX];
		int w = natrelay_line_write(line, sizeof line, k, port);
		/* what parsed re-encodes to the same line (modulo a tolerated CR) */
		if (w < 0 || w > n || memcmp(line, data, (size_t)w - 1))
			abort();
	}
	return 0;
}
