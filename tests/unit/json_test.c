#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/json.h"

static int parse(const char *s, struct json_object *o) { return json_object_parse(s, strlen(s), o); }

static void test_port_forward_body(void **state)
{
	struct json_object o;
	long v;
	(void)state;
	assert_int_equal(parse("{\"listen_port\": 33060, \"tunnel_host\": \"myserver\", \"target_port\": 3306, "
			       "\"active\": true}", &o), 0);
	assert_int_equal(json_get_int(&o, "listen_port", 1, 65535, &v), 0);
	assert_int_equal(v, 33060);
	assert_string_equal(json_get(&o, "tunnel_host")->str, "myserver");
	assert_int_equal(json_get(&o, "active")->type, JSON_BOOL);
	assert_true(json_get(&o, "active")->b);
	assert_int_equal(json_get_int(&o, "listen_port", 1, 1000, &v), -1);
	assert_int_equal(json_get_int(&o, "tunnel_host", 1, 65535, &v), -1);
	assert_null(json_get(&o, "nope"));
}

static void test_escapes_and_nesting(void **state)
{
	struct json_object o;
	(void)state;
	assert_int_equal(parse(" {\"a\":\"x\\ny\\u00e9\\ud83d\\ude00\",\"n\":null,\"deep\":{\"k\":[1,2,{\"z\":[]}]},"
			       "\"f\":-1.5e3} ", &o), 0);
	assert_string_equal(json_get(&o, "a")->str, "x\ny\xc3\xa9\xf0\x9f\x98\x80");
	assert_int_equal(json_get(&o, "n")->type, JSON_NULL);
	assert_int_equal(json_get(&o, "deep")->type, JSON_NESTED);
	assert_true(json_get(&o, "f")->num == -1500.0);
	assert_int_equal(parse("{}", &o), 0);
	assert_int_equal(o.n, 0);
}

static void test_rejects(void **state)
{
	static const char *bad[] = {
		"", "{", "}", "[]", "{\"a\":}", "{\"a\" 1}", "{\"a\":1,}", "{a:1}", "{\"a\":01}", "{\"a\":1.}",
		"{\"a\":tru}", "{\"a\":\"x}", "{\"a\":\"\\q\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\"}",
		"{\"a\":\"\\u0000\"}", "{\"a\":1} x", "{\"a\":\"\x01\"}", "{\"a\":[1,2}", "{\"a\":-}",
		"{\"a\":[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
	};
	struct json_object o;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (parse(bad[i], &o) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
	char big[600];
	memset(big, 'x', sizeof big);
	memcpy(big, "{\"a\":\"", 6);
	strcpy(big + sizeof big - 3, "\"}");
	assert_int_equal(parse(big, &o), -1); /* string longer than JSON_STR_MAX */
}

static void test_escape_output(void **state)
{
	char out[64];
	(void)state;
	size_t n = json_escape(out, sizeof out, 0, "a\"b\\c\n");
	assert_string_equal(out, "\"a\\\"b\\\\c\\u000a\"");
	assert_int_equal(n, strlen(out));
	n = json_escape(out, 5, 0, "abcdef");
	assert_int_equal(strlen(out), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_forward_body),
		cmocka_unit_test(test_escapes_and_nesting),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_escape_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
