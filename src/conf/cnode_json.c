/* A configuration tree to and from jansson values (the web API's bodies). */
#include "src/conf/cnode_json.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/util.h"

/* As cnode_write's JSON: true/false, and numbers written the JSON way (no leading zeros,
 * no "+", no hex), so that the text comes back the same. */
static json_t *scalar_to_json(const char *s)
{
	if (!strcmp(s, "true"))
		return json_true();
	if (!strcmp(s, "false"))
		return json_false();
	const char *p = s + (*s == '-');
	if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
		return json_string(s);
	char *end;
	if (!strpbrk(s, ".eE")) {
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (!*end && !errno)
			return json_integer((json_int_t)v);
		return json_string(s);
	}
	double d = strtod(s, &end);
	if (*end || errno == ERANGE)
		return json_string(s);
	/* Only when the number prints back as written: "1.5" yes, "1.50" stays a string. */
	char buf[64];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return strcmp(buf, s) ? json_string(s) : json_real(d);
}

json_t *cnode_to_json(const struct cnode *n)
{
	if (n->kind == CN_SCALAR)
		return scalar_to_json(n->value ? n->value : "");
	json_t *j = n->kind == CN_MAP ? json_object() : json_array();
	for (size_t i = 0; i < n->n; i++) {
		json_t *v = cnode_to_json(n->items[i]);
		if (n->kind == CN_MAP)
			json_object_set_new(j, n->items[i]->key ? n->items[i]->key : "", v); /* a later key wins */
		else
			json_array_append_new(j, v);
	}
	return j;
}

static struct cnode *scalar(const char *key, const char *value)
{
	struct cnode *c = cnode_new(CN_SCALAR, NULL, 0, 0);
	c->key = key ? xstrdup(key) : NULL;
	c->value = xstrdup(value);
	return c;
}

struct cnode *cnode_from_json(const json_t *j, const char *key)
{
	char buf[64];
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		struct cnode *c = cnode_new(CN_MAP, NULL, 0, 0);
		const char *k;
		json_t *v;
		c->key = key ? xstrdup(key) : NULL;
		json_object_foreach((json_t *)j, k, v)
			if (!json_is_null(v))
				cnode_append(c, cnode_from_json(v, k));
		return c;
	}
	case JSON_ARRAY: {
		struct cnode *c = cnode_new(CN_SEQ, NULL, 0, 0);
		size_t i;
		json_t *v;
		c->key = key ? xstrdup(key) : NULL;
		json_array_foreach(j, i, v)
			cnode_append(c, cnode_from_json(v, NULL));
		return c;
	}
	case JSON_STRING:
		return scalar(key, json_string_value(j));
	case JSON_INTEGER:
		snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return scalar(key, buf);
	case JSON_REAL: {
		double d = json_real_value(j);
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, sizeof buf, "%.*g", prec, d);
			if (strtod(buf, NULL) == d)
				break;
		}
		return scalar(key, buf);
	}
	case JSON_TRUE:
		return scalar(key, "true");
	case JSON_FALSE:
		return scalar(key, "false");
	default:
		return scalar(key, "");
	}
}
