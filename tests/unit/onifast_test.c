#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/onifast.h"

static const char *const domains[] = { "example.com", "example.org" };

static int route(const char *host, size_t nd, struct onifast_route *r)
{
	return onifast_route_host(domains, nd, host, strlen(host), ONIFAST_RELAY, 0, r);
}

static void test_route_with_domains(void **state)
{
	struct onifast_route r;
	(void)state;
	assert_int_equal(route("myserver.example.com", 2, &r), 0);
	assert_string_equal(r.name, "myserver");
	assert_int_equal(r.kind, ONIFAST_RELAY);
	assert_int_equal(route("MyServer.Example.ORG:4053", 2, &r), 0);
	assert_string_equal(r.name, "myserver");
	assert_int_equal(route("p22.myserver.example.com", 2, &r), 0);
	assert_int_equal(r.kind, ONIFAST_TUNNEL);
	assert_int_equal(r.port, 22);
	assert_string_equal(r.name, "myserver");
	assert_int_equal(route("p3306.db.example.com:80", 2, &r), 0);
	assert_int_equal(r.port, 3306);
	/* a name that only looks like a port label is a name */
	assert_int_equal(route("p22.example.com", 2, &r), 0);
	assert_string_equal(r.name, "p22");
	assert_int_equal(r.kind, ONIFAST_RELAY);
}

static void test_route_rejects(void **state)
{
	static const char *bad[] = {
		"example.com", "x.other.com", "a.b.example.com", "p22.a.b.example.com", "p0.x.example.com",
		"p65536.x.example.com", "bad_name.example.com", "-x.example.com", "x-.example.com", "",
		"x.example.com:notaport", "[::1]:80", ".example.com", "xexample.com",
	};
	struct onifast_route r;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (route(bad[i], 2, &r) != -1)
			fail_msg("routed: %s", bad[i]);
}

static void test_route_without_domains(void **state)
{
	struct onifast_route r;
	(void)state;
	assert_int_equal(route("site.anything.test", 0, &r), 0);
	assert_string_equal(r.name, "site");
	assert_int_equal(route("p8080.site.anything.test", 0, &r), 0);
	assert_int_equal(r.port, 8080);
	assert_string_equal(r.name, "site");
	assert_int_equal(route("localhost:4053", 0, &r), 0);
	assert_string_equal(r.name, "localhost");
	assert_int_equal(onifast_route_host(NULL, 0, "h.x", 3, ONIFAST_TUNNEL, 22, &r), 0);
	assert_int_equal(r.kind, ONIFAST_TUNNEL);
	assert_int_equal(r.port, 22);
}

static void test_names(void **state)
{
	char long_name[80];
	(void)state;
	assert_true(onifast_name_valid("a"));
	assert_true(onifast_name_valid("my-server-1"));
	assert_false(onifast_name_valid(""));
	assert_false(onifast_name_valid("My"));
	assert_false(onifast_name_valid("a.b"));
	memset(long_name, 'a', 64);
	long_name[64] = 0;
	assert_false(onifast_name_valid(long_name));
	long_name[63] = 0;
	assert_true(onifast_name_valid(long_name));
}

static void test_connect_line(void **state)
{
	int port = 0;
	char out[32];
	(void)state;
	assert_int_equal(onifast_connect_line_parse("CONNECT 22\nSSH-2.0", 18, &port), 11);
	assert_int_equal(port, 22);
	assert_int_equal(onifast_connect_line_parse("CONNECT 65535\n", 14, &port), 14);
	assert_int_equal(onifast_connect_line_parse("CONN", 4, &port), 0);
	assert_int_equal(onifast_connect_line_parse("CONNECT 22", 10, &port), 0);
	assert_int_equal(onifast_connect_line_parse("CONNECX 22\n", 11, &port), -1);
	assert_int_equal(onifast_connect_line_parse("CONNECT 65536\n", 14, &port), -1);
	assert_int_equal(onifast_connect_line_parse("CONNECT 0\n", 10, &port), -1);
	assert_int_equal(onifast_connect_line_parse("CONNECT 022\n", 12, &port), -1);
	assert_int_equal(onifast_connect_line_parse("CONNECT \n", 9, &port), -1);
	assert_int_equal(onifast_connect_line_parse("CONNECT 2 2\n", 12, &port), -1);
	assert_int_equal(onifast_connect_line_parse("CONNECT 00000000000000000000000000", 34, &port), -1);
	assert_int_equal(onifast_connect_line_write(out, sizeof out, 3306), 13);
	assert_string_equal(out, "CONNECT 3306\n");
	assert_int_equal(onifast_connect_line_write(out, sizeof out, 0), -1);
	assert_int_equal(onifast_connect_line_write(out, 5, 22), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_with_domains), cmocka_unit_test(test_route_rejects),
		cmocka_unit_test(test_route_without_domains), cmocka_unit_test(test_names),
		cmocka_unit_test(test_connect_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
