#include "proto/natrelay.h"

#include <stdio.h>
#include <string.h>

static const char *const prefixes[] = { "[PORT] ", "[NEW] " };

int natrelay_line_parse(const char *buf, size_t len, enum natrelay_line_kind *kind, int *port)
{
	const char *nl = memchr(buf, '\n', len < NATRELAY_LINE_MAX ? len : NATRELAY_LINE_MAX);
	if (!nl)
		return len >= NATRELAY_LINE_MAX ? -1 : 0;
	size_t n = (size_t)(nl - buf);
	if (n && buf[n - 1] == '\r')
		n--; /* tolerate CRLF from hand-written relays */
	for (int k = 0; k < 2; k++) {
		size_t pl = strlen(prefixes[k]);
		if (n <= pl || memcmp(buf, prefixes[k], pl))
			continue;
		long p = 0;
		for (size_t i = pl; i < n; i++) {
			if (buf[i] < '0' || buf[i] > '9' || (i == pl && buf[i] == '0'))
				return -1;
			p = p * 10 + (buf[i] - '0');
			if (p > 65535)
				return -1;
		}
		*kind = (enum natrelay_line_kind)k;
		*port = (int)p;
		return (int)(nl - buf) + 1;
	}
	return -1;
}

int natrelay_line_write(char *out, size_t cap, enum natrelay_line_kind kind, int port)
{
	if (port < 1 || port > 65535 || (kind != NATRELAY_PORT && kind != NATRELAY_NEW))
		return -1;
	int n = snprintf(out, cap, "%s%d\n", prefixes[kind], port);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}
