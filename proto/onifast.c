#include "proto/onifast.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http.h"

bool onifast_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (!n || n > ONIFAST_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return false;
	return true;
}

static int port_label(const char *label, int *port)
{
	size_t n = strlen(label);
	if (n < 2 || n > 6 || label[0] != 'p' || strspn(label + 1, "0123456789") != n - 1)
		return -1;
	long p = strtol(label + 1, NULL, 10);
	if (p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

int onifast_route_host(const char *const *domains, size_t n_domains, const char *host_in, size_t len,
		       enum onifast_kind default_kind, int default_port, struct onifast_route *r)
{
	char host[256], *labels[3] = { 0 };
	size_t n = 0, hl;
	uint16_t ignored;
	struct http_slice h;
	int port;

	if (http_host_port_split(host_in, len, 1, &h, &ignored) < 0 || h.len >= sizeof host)
		return -1;
	for (size_t i = 0; i < h.len; i++)
		host[i] = (char)tolower((unsigned char)h.p[i]);
	host[h.len] = 0;
	hl = h.len;
	if (n_domains) {
		size_t i;
		for (i = 0; i < n_domains; i++) {
			size_t dl = strlen(domains[i]);
			if (dl && hl > dl + 1 && host[hl - dl - 1] == '.' && !strcasecmp(host + hl - dl, domains[i])) {
				host[hl - dl - 1] = 0;
				break;
			}
		}
		if (i == n_domains)
			return -1; /* not under one of our domains */
	}
	char *save = NULL;
	for (char *t = strtok_r(host, ".", &save); t; t = strtok_r(NULL, ".", &save)) {
		if (n == 3)
			break;
		labels[n++] = t;
	}
	if (!n)
		return -1;
	r->kind = default_kind;
	r->port = default_port;
	const char *name = labels[0];
	size_t used = 1;
	if (n >= 2 && port_label(labels[0], &port) == 0) {
		r->kind = ONIFAST_TUNNEL;
		r->port = port;
		name = labels[1];
		used = 2;
	}
	if (n_domains && n > used)
		return -1; /* deeper than [pPORT.]NAME.<domain> */
	if (!onifast_name_valid(name))
		return -1;
	snprintf(r->name, sizeof r->name, "%s", name);
	return 0;
}

int onifast_connect_line_parse(const char *buf, size_t len, int *port)
{
	static const char prefix[] = "CONNECT ";
	size_t i, plen = sizeof prefix - 1;
	long p = 0;
	for (i = 0; i < len && i < plen; i++)
		if (buf[i] != prefix[i])
			return -1;
	if (len <= plen)
		return 0;
	for (i = plen; i < len && i < ONIFAST_LINE_MAX; i++) {
		char c = buf[i];
		if (c == '\n') {
			if (i == plen || p < 1)
				return -1;
			*port = (int)p;
			return (int)i + 1;
		}
		if (c < '0' || c > '9' || (i == plen && c == '0'))
			return -1;
		p = p * 10 + (c - '0');
		if (p > 65535)
			return -1;
	}
	return i >= ONIFAST_LINE_MAX ? -1 : 0;
}

int onifast_connect_line_write(char *out, size_t cap, int port)
{
	if (port < 1 || port > 65535)
		return -1;
	int n = snprintf(out, cap, "CONNECT %d\n", port);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}
