#include "proto/addr_rules.h"
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int ip_addr_parse(const char *s, size_t len, struct ip_addr *out)
{
	char buf[64];
	unsigned char v4[4];
	if (len == 0 || len >= sizeof buf || memchr(s, 0, len))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, buf, v4) == 1) {
		memcpy(out->b, mapped_prefix, 12);
		memcpy(out->b + 12, v4, 4);
		out->v4 = 1;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, out->b) != 1)
		return -1;
	out->v4 = !memcmp(out->b, mapped_prefix, 12);
	return 0;
}

int ip_addr_from_peer(const char *peer, struct ip_addr *out)
{
	size_t n = strlen(peer);
	const char *colon = strrchr(peer, ':');
	if (peer[0] == '[') {
		const char *rb = strchr(peer, ']');
		if (!rb)
			return -1;
		return ip_addr_parse(peer + 1, (size_t)(rb - peer - 1), out);
	}
	/* one colon: host:port; none or several: a bare address */
	if (colon && colon == strchr(peer, ':'))
		n = (size_t)(colon - peer);
	return ip_addr_parse(peer, n, out);
}

int ip_prefix_parse(const char *s, size_t len, struct ip_prefix *out)
{
	const char *slash = memchr(s, '/', len);
	memset(out, 0, sizeof *out);
	if (!slash) {
		if (ip_addr_parse(s, len, &out->a) < 0)
			return -1;
		out->bits = 128;
		return 0;
	}
	if (ip_addr_parse(s, (size_t)(slash - s), &out->a) < 0)
		return -1;
	int written_v4 = memchr(s, ':', (size_t)(slash - s)) == NULL;
	const char *d = slash + 1, *end = s + len;
	long bits = 0;
	if (d == end || end - d > 3)
		return -1;
	for (; d < end; d++) {
		if (*d < '0' || *d > '9')
			return -1;
		bits = bits * 10 + (*d - '0');
	}
	if (bits > (written_v4 ? 32 : 128))
		return -1;
	if (written_v4)
		bits += 96;
	out->bits = (int)bits;
	out->is_net = 1;
	for (int i = out->bits; i < 128; i++) /* the network, as net.ParseCIDR gives it */
		out->a.b[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
	out->a.v4 = !memcmp(out->a.b, mapped_prefix, 12);
	/* Go unmaps an IPv4-mapped IPv6 network and keeps min(ones, 32) bits: ::ffff:10.0.0.0/104
	 * is 10.0.0.0/32 (GOST's matcher, x/internal/matcher). */
	if (out->a.v4 && !written_v4)
		out->bits = 128;
	return 0;
}

int ip_prefix_contains(const struct ip_prefix *p, const struct ip_addr *a)
{
	if (p->a.v4 != a->v4)
		return 0;
	int full = p->bits / 8, rest = p->bits % 8;
	if (memcmp(p->a.b, a->b, (size_t)full))
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (p->a.b[full] & mask) == (a->b[full] & mask);
}

/* The next space- or tab-separated field of [*p, end). */
static int next_field(const char **p, const char *end, const char **f, size_t *flen)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	if (*p == end)
		return 0;
	*f = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*flen = (size_t)(*p - *f);
	return 1;
}

static int value_parse(const char *f, size_t n, int whole, double *out)
{
	char buf[64], *end;
	if (n >= sizeof buf || memchr(f, 0, n))
		return -1;
	memcpy(buf, f, n);
	buf[n] = 0;
	errno = 0;
	if (whole) {
		long long v = strtoll(buf, &end, 10);
		if (*end || end == buf || errno || buf[0] == ' ')
			return -1;
		*out = (double)v;
		return 0;
	}
	double v = strtod(buf, &end);
	if (*end || end == buf || errno || !isfinite(v) || strpbrk(buf, "xXpP"))
		return -1;
	*out = v;
	return 0;
}

int limit_line_parse(const char *line, size_t len, int whole, struct limit_line *out, const char **why)
{
	const char *p = line, *end = line + len, *k, *v;
	size_t klen, vlen;
	memset(out, 0, sizeof *out);
	if (memchr(line, 0, len)) {
		*why = "contains a NUL byte";
		return -1;
	}
	if (!next_field(&p, end, &k, &klen) || !next_field(&p, end, &v, &vlen)) {
		*why = "expected a scope and a limit, such as \"$ 100\", \"$$ 10\" or \"192.168.0.0/16 5\"";
		return -1;
	}
	if (klen == 1 && k[0] == '$')
		out->key = LIMIT_GLOBAL;
	else if (klen == 2 && k[0] == '$' && k[1] == '$')
		out->key = LIMIT_PER_IP;
	else if (ip_prefix_parse(k, klen, &out->prefix) == 0)
		out->key = LIMIT_ADDR;
	else {
		*why = "the scope is none of $ (the service), $$ (each IP), an IP address or a CIDR";
		return -1;
	}
	if (value_parse(v, vlen, whole, &out->value) < 0) {
		*why = whole ? "the limit is not a whole number" : "the limit is not a number";
		return -1;
	}
	return 0;
}
