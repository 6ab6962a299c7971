#include "proto/limit.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int power;      /* of 1024 */
} units[] = {
	{ "B", 0 },   { "KB", 1 }, { "KiB", 1 }, { "MB", 2 }, { "MiB", 2 }, { "GB", 3 },  { "GiB", 3 },
	{ "TB", 4 },  { "TiB", 4 }, { "PB", 5 }, { "PiB", 5 }, { "EB", 6 }, { "EiB", 6 },
};

/* Values above this are malformed (go-gost's int64). */
#define BYTES_MAX ((uint64_t)INT64_MAX)

static int unit_scale(const char *u, size_t n, uint64_t *scale)
{
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strlen(units[i].name) == n && !memcmp(units[i].name, u, n)) {
			*scale = 1ull << (10 * units[i].power);
			return 0;
		}
	return -1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Digits at s[*i], exactly (integers of any size up to BYTES_MAX round-trip). */
static int leading_digits(const char *s, size_t len, size_t *i, uint64_t *v, size_t *count)
{
	*v = 0;
	*count = 0;
	while (*i < len && is_digit(s[*i])) {
		uint64_t d = (uint64_t)(s[*i] - '0');
		if (*v > (BYTES_MAX - d) / 10)
			return -1;
		*v = *v * 10 + d;
		(*i)++;
		(*count)++;
	}
	return 0;
}

int limit_parse_bytes(const char *s, size_t len, uint64_t *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t total = 0;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (len - i == 1 && s[i] == '0') {
		*out = 0;
		return 0;
	}
	if (i == len)
		return -1;
	/* a sequence of <digits>[.<digits>]<unit>, summed ("1MB512KB") */
	while (i < len) {
		uint64_t whole, scale;
		double frac = 0, div = 1;
		size_t nw, nf = 0;
		if (!is_digit(s[i]) && s[i] != '.')
			return -1;
		if (leading_digits(s, len, &i, &whole, &nw) < 0)
			return -1;
		if (i < len && s[i] == '.') {
			i++;
			while (i < len && is_digit(s[i])) {
				if (div < 1e18) {
					frac = frac * 10 + (s[i] - '0');
					div *= 10;
				}
				i++;
				nf++;
			}
		}
		if (!nw && !nf)
			return -1;
		size_t u = i;
		while (i < len && !is_digit(s[i]) && s[i] != '.')
			i++;
		if (unit_scale(s + u, i - u, &scale) < 0)
			return -1;
		if (whole > BYTES_MAX / scale)
			return -1;
		uint64_t part = whole * scale + (uint64_t)(frac / div * (double)scale);
		if (part > BYTES_MAX - total)
			return -1;
		total += part;
	}
	*out = neg ? 0 : total;
	return 0;
}

static int parse_scope(const char *k, struct limit_line *l)
{
	char buf[64];
	const char *slash = strchr(k, '/');
	size_t alen = slash ? (size_t)(slash - k) : strlen(k);
	struct in_addr a4;

	if (!strcmp(k, "$")) {
		l->scope = LIMIT_SERVICE;
		return 0;
	}
	if (!strcmp(k, "$$")) {
		l->scope = LIMIT_CONN;
		return 0;
	}
	if (alen >= sizeof buf)
		return -1;
	memcpy(buf, k, alen);
	buf[alen] = 0;
	l->scope = LIMIT_HOST;
	int max;
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		memset(l->addr, 0, 10);
		l->addr[10] = l->addr[11] = 0xff;
		memcpy(l->addr + 12, &a4, 4);
		max = 32;
	} else if (inet_pton(AF_INET6, buf, l->addr) == 1) {
		max = 128;
	} else {
		return -1;
	}
	l->prefix = max;
	if (slash) {
		const char *p = slash + 1;
		l->cidr = 1;
		int v = 0;
		if (!*p || strlen(p) > 3)
			return -1;
		for (; *p; p++) {
			if (!is_digit(*p))
				return -1;
			v = v * 10 + (*p - '0');
		}
		if (v > max)
			return -1;
		l->prefix = v;
	}
	if (max == 32)
		l->prefix += 96;
	/* the block's address itself, as net.ParseCIDR masks it */
	for (int b = l->prefix; b < 128; b++)
		l->addr[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
	return 0;
}

int limit_parse_line(const char *line, struct limit_line *out, char *err, size_t errlen)
{
	const char *f[5];
	size_t flen[5], n = 0;
	const char *p = line;
	static const char *const what[] = { "scope", "input rate", "output rate", "burst" };

	memset(out, 0, sizeof *out);
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (n == 5)
			break;
		f[n] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		flen[n] = (size_t)(p - f[n]);
		n++;
	}
	if (n < 2) {
		snprintf(err, errlen, "a limit is \"SCOPE IN [OUT [BURST]]\" (SCOPE $, $$, an IP or a CIDR)");
		return -1;
	}
	if (n > 4) {
		snprintf(err, errlen, "a limit has at most four fields: SCOPE IN [OUT [BURST]]");
		return -1;
	}
	char key[64];
	if (flen[0] >= sizeof key) {
		snprintf(err, errlen, "scope is not $, $$, an IP address or a CIDR block");
		return -1;
	}
	memcpy(key, f[0], flen[0]);
	key[flen[0]] = 0;
	if (parse_scope(key, out) < 0) {
		snprintf(err, errlen, "scope \"%s\" is not $, $$, an IP address or a CIDR block", key);
		return -1;
	}
	uint64_t *dst[] = { NULL, &out->in, &out->out, &out->burst };
	for (size_t i = 1; i < n; i++)
		if (limit_parse_bytes(f[i], flen[i], dst[i]) < 0) {
			snprintf(err, errlen, "%s \"%.*s\" is not a byte quantity such as 512KB, 1MB or 1.5GiB", what[i],
				 (int)(flen[i] > 40 ? 40 : flen[i]), f[i]);
			return -1;
		}
	return 0;
}
