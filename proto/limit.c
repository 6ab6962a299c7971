#include "proto/limit.h"

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

static int parse_scope(const char *k, size_t len, struct traffic_limit *l)
{
	if (len == 1 && k[0] == '$')
		l->scope = TRAFFIC_SERVICE;
	else if (len == 2 && k[0] == '$' && k[1] == '$')
		l->scope = TRAFFIC_CONN;
	else if (ip_prefix_parse(k, len, &l->prefix) == 0)
		l->scope = TRAFFIC_HOST;
	else
		return -1;
	return 0;
}

int traffic_limit_parse(const char *line, struct traffic_limit *out, char *err, size_t errlen)
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
	if (parse_scope(f[0], flen[0], out) < 0) {
		snprintf(err, errlen, "scope \"%.*s\" is not $, $$, an IP address or a CIDR block",
			 (int)(flen[0] > 64 ? 64 : flen[0]), f[0]);
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
