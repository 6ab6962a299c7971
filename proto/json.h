/*
 * The little JSON the management APIs need, without I/O: a parser for one
 * flat object (string, number, true/false/null values; nested values are
 * skipped but checked), and writing escaped strings.
 */
#ifndef PORTWAY_JSON_H
#define PORTWAY_JSON_H
#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_FIELDS 32
#define JSON_STR_MAX 256

enum json_type { JSON_STRING, JSON_NUMBER, JSON_BOOL, JSON_NULL, JSON_NESTED };

struct json_field {
	char key[64];
	enum json_type type;
	char str[JSON_STR_MAX];     /* JSON_STRING, unescaped (UTF-8); JSON_NUMBER, its text */
	double num;
	bool b;
};

struct json_object {
	size_t n;
	struct json_field f[JSON_MAX_FIELDS];
};

/* Parse buf[0..len) as exactly one object (whitespace around allowed). 0 or -1 (malformed, too many
 * fields, a key or string too long, nesting deeper than 16). */
int json_object_parse(const char *buf, size_t len, struct json_object *out);
const struct json_field *json_get(const struct json_object *o, const char *key);
/* A whole number field in [min, max]: 0 and *out, -1 when absent, not a number, fractional or out of range. */
int json_get_int(const struct json_object *o, const char *key, long min, long max, long *out);

/* Append s as a quoted JSON string to out (NUL-terminated, truncated to cap). Returns the new length. */
size_t json_escape(char *out, size_t cap, size_t len, const char *s);

#endif
