#include "proto/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json_parser {
	const char *p, *end;
	int depth;
};

static void skip_ws(struct json_parser *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

static int hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static int put_utf8(char *out, size_t cap, size_t *n, unsigned cp)
{
	char b[4];
	size_t k;
	if (cp < 0x80) {
		b[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		b[0] = (char)(0xF0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		k = 4;
	}
	if (*n + k >= cap)
		return -1;
	memcpy(out + *n, b, k);
	*n += k;
	return 0;
}

/* A string at jp->p (the opening quote); unescaped into out (NUL-terminated); NULL out: skip. */
static int parse_string(struct json_parser *jp, char *out, size_t cap)
{
	size_t n = 0;
	if (jp->p >= jp->end || *jp->p != '"')
		return -1;
	jp->p++;
	while (jp->p < jp->end && *jp->p != '"') {
		unsigned char c = (unsigned char)*jp->p++;
		unsigned cp = c;
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (jp->p >= jp->end)
				return -1;
			char e = *jp->p++;
			switch (e) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if (jp->end - jp->p < 4 || hex4(jp->p, &cp) < 0)
					return -1;
				jp->p += 4;
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					unsigned lo;
					if (jp->end - jp->p < 6 || jp->p[0] != '\\' || jp->p[1] != 'u' || hex4(jp->p + 2, &lo) < 0 ||
					    lo < 0xDC00 || lo > 0xDFFF)
						return -1;
					jp->p += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
					return -1;
				}
				if (!cp)
					return -1; /* a NUL would cut the C string short */
				break;
			default:
				return -1;
			}
			if (out && put_utf8(out, cap, &n, cp) < 0)
				return -1;
			continue;
		}
		if (out) {
			if (n + 1 >= cap)
				return -1;
			out[n++] = (char)c;
		}
	}
	if (jp->p >= jp->end)
		return -1;
	jp->p++;
	if (out)
		out[n] = 0;
	return 0;
}

static int parse_number(struct json_parser *jp, struct json_field *f)
{
	const char *s = jp->p;
	if (jp->p < jp->end && *jp->p == '-')
		jp->p++;
	if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
		return -1;
	if (*jp->p == '0')
		jp->p++;
	else
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	if (jp->p < jp->end && *jp->p == '.') {
		jp->p++;
		if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
			return -1;
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
		jp->p++;
		if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-'))
			jp->p++;
		if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
			return -1;
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	size_t n = (size_t)(jp->p - s);
	if (!f)
		return 0;
	if (n >= sizeof f->str)
		return -1;
	memcpy(f->str, s, n);
	f->str[n] = 0;
	f->num = strtod(f->str, NULL);
	return 0;
}

static int literal(struct json_parser *jp, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n))
		return -1;
	jp->p += n;
	return 0;
}

static int parse_value(struct json_parser *jp, struct json_field *f);

static int skip_container(struct json_parser *jp)
{
	char close = *jp->p == '{' ? '}' : ']';
	int is_obj = close == '}';
	if (++jp->depth > 16)
		return -1;
	jp->p++;
	skip_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		jp->depth--;
		return 0;
	}
	for (;;) {
		skip_ws(jp);
		if (is_obj) {
			if (parse_string(jp, NULL, 0) < 0)
				return -1;
			skip_ws(jp);
			if (jp->p >= jp->end || *jp->p++ != ':')
				return -1;
			skip_ws(jp);
		}
		if (parse_value(jp, NULL) < 0)
			return -1;
		skip_ws(jp);
		if (jp->p >= jp->end)
			return -1;
		if (*jp->p == ',') {
			jp->p++;
			continue;
		}
		if (*jp->p++ != close)
			return -1;
		jp->depth--;
		return 0;
	}
}

static int parse_value(struct json_parser *jp, struct json_field *f)
{
	if (jp->p >= jp->end)
		return -1;
	switch (*jp->p) {
	case '"':
		if (f)
			f->type = JSON_STRING;
		return parse_string(jp, f ? f->str : NULL, f ? sizeof f->str : 0);
	case 't':
	case 'f':
		if (f) {
			f->type = JSON_BOOL;
			f->b = *jp->p == 't';
		}
		return literal(jp, *jp->p == 't' ? "true" : "false");
	case 'n':
		if (f)
			f->type = JSON_NULL;
		return literal(jp, "null");
	case '{':
	case '[':
		if (f)
			f->type = JSON_NESTED;
		return skip_container(jp);
	default:
		if (f)
			f->type = JSON_NUMBER;
		return parse_number(jp, f);
	}
}

int json_object_parse(const char *buf, size_t len, struct json_object *out)
{
	struct json_parser jp = { buf, buf + len, 0 };
	memset(out, 0, sizeof *out);
	skip_ws(&jp);
	if (jp.p >= jp.end || *jp.p++ != '{')
		return -1;
	skip_ws(&jp);
	if (jp.p < jp.end && *jp.p == '}') {
		jp.p++;
	} else {
		for (;;) {
			if (out->n >= JSON_MAX_FIELDS)
				return -1;
			struct json_field *f = &out->f[out->n++];
			skip_ws(&jp);
			if (parse_string(&jp, f->key, sizeof f->key) < 0)
				return -1;
			skip_ws(&jp);
			if (jp.p >= jp.end || *jp.p++ != ':')
				return -1;
			skip_ws(&jp);
			if (parse_value(&jp, f) < 0)
				return -1;
			skip_ws(&jp);
			if (jp.p >= jp.end)
				return -1;
			if (*jp.p == ',') {
				jp.p++;
				continue;
			}
			if (*jp.p++ != '}')
				return -1;
			break;
		}
	}
	skip_ws(&jp);
	return jp.p == jp.end ? 0 : -1;
}

const struct json_field *json_get(const struct json_object *o, const char *key)
{
	for (size_t i = o->n; i-- > 0;)
		if (!strcmp(o->f[i].key, key))
			return &o->f[i];
	return NULL;
}

int json_get_int(const struct json_object *o, const char *key, long min, long max, long *out)
{
	const struct json_field *f = json_get(o, key);
	if (!f || f->type != JSON_NUMBER || f->num != floor(f->num) || f->num < (double)min || f->num > (double)max)
		return -1;
	*out = (long)f->num;
	return 0;
}

size_t json_escape(char *out, size_t cap, size_t len, const char *s)
{
#define PUT(c) do { if (len + 1 < cap) out[len++] = (c); } while (0)
	PUT('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			PUT('\\');
			PUT((char)c);
		} else if (c < 0x20) {
			char u[8];
			snprintf(u, sizeof u, "\\u%04x", c);
			for (char *p = u; *p; p++)
				PUT(*p);
		} else {
			PUT((char)c);
		}
	}
	PUT('"');
	if (cap)
		out[len < cap ? len : cap - 1] = 0;
	return len;
#undef PUT
}
