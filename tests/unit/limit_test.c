/*
 * Unit tests for GOST's bandwidth limit lines (proto/limit.c) and the token
 * buckets that enforce them (src/core/rate.c): what go-gost accepts, what
 * portway refuses, and the bucket arithmetic at chosen instants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "proto/limit.h"
#include "src/core/rate.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define SEC 1000000000ull

static uint64_t bytes(const char *s)
{
	uint64_t v = 12345;
	if (limit_parse_bytes(s, strlen(s), &v) < 0)
		fail_msg("refused: %s", s);
	return v;
}

static void refused_bytes(const char *s)
{
	uint64_t v;
	if (limit_parse_bytes(s, strlen(s), &v) == 0)
		fail_msg("accepted: %s (%llu)", s, (unsigned long long)v);
}

static void test_byte_quantities(void **state)
{
	(void)state;
	/* go-gost's units.ParseBase2Bytes: KB and KiB are both 1024 */
	assert_int_equal(bytes("100B"), 100);
	assert_int_equal(bytes("1KB"), 1024);
	assert_int_equal(bytes("1KiB"), 1024);
	assert_int_equal(bytes("512KB"), 512 * KiB);
	assert_int_equal(bytes("100MB"), 100 * MiB);
	assert_int_equal(bytes("1MiB"), MiB);
	assert_int_equal(bytes("10GB"), 10 * 1024 * MiB);
	assert_int_equal(bytes("1TB"), 1024ull * 1024 * MiB);
	assert_int_equal(bytes("1.5MB"), MiB + MiB / 2);
	assert_int_equal(bytes(".5KB"), 512);
	assert_int_equal(bytes("1MB512KB"), MiB + 512 * KiB);
	assert_int_equal(bytes("+2KB"), 2048);
	/* zero and negative mean no limit */
	assert_int_equal(bytes("0"), 0);
	assert_int_equal(bytes("-1MB"), 0);
	assert_int_equal(bytes("0B"), 0);
}

static void test_byte_quantities_refused(void **state)
{
	(void)state;
	/* a unit is required (go-gost fails these too, and would run them as "no limit") */
	refused_bytes("100");
	refused_bytes("");
	refused_bytes("-");
	refused_bytes("MB");
	refused_bytes("1mb");       /* units are case-sensitive */
	refused_bytes("1kB");
	refused_bytes("1 MB");
	refused_bytes("1M");
	refused_bytes("1ZB");
	refused_bytes(".MB");
	refused_bytes("1..5MB");
	refused_bytes("1MB-");
	refused_bytes("99999999999999999999B");
	refused_bytes("100000000EB");
}

static struct traffic_limit line_ok(const char *s)
{
	struct traffic_limit l;
	char err[256];
	if (traffic_limit_parse(s, &l, err, sizeof err) < 0)
		fail_msg("refused: \"%s\": %s", s, err);
	return l;
}

static void line_refused(const char *s, const char *want)
{
	struct traffic_limit l;
	char err[256];
	if (traffic_limit_parse(s, &l, err, sizeof err) == 0)
		fail_msg("accepted: \"%s\"", s);
	assert_string_equal(err, want);
}

static void test_limit_lines(void **state)
{
	(void)state;
	struct traffic_limit l = line_ok("$ 100MB 100MB");
	assert_int_equal(l.scope, TRAFFIC_SERVICE);
	assert_int_equal(l.in, 100 * MiB);
	assert_int_equal(l.out, 100 * MiB);
	assert_int_equal(l.burst, 0);
	l = line_ok("$$ 10MB");
	assert_int_equal(l.scope, TRAFFIC_CONN);
	assert_int_equal(l.in, 10 * MiB);
	assert_int_equal(l.out, 0);
	l = line_ok("  $$\t1KB \t 2KB   4KB ");
	assert_int_equal(l.in, 1024);
	assert_int_equal(l.out, 2048);
	assert_int_equal(l.burst, 4096);
	l = line_ok("$ 0 2MB");
	assert_int_equal(l.in, 0);
	assert_int_equal(l.out, 2 * MiB);
	l = line_ok("192.168.1.1  512KB 1MB");
	assert_int_equal(l.scope, TRAFFIC_HOST);
	assert_int_equal(l.prefix.bits, 128);
	assert_false(l.prefix.is_net);
	assert_true(l.prefix.a.v4);
	static const uint8_t v4[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 1 };
	assert_memory_equal(l.prefix.a.b, v4, 16);
	l = line_ok("192.168.7.9/16 1MB 5MB");
	assert_true(l.prefix.is_net);
	assert_int_equal(l.prefix.bits, 96 + 16);
	l = line_ok("2001:db8::1/32 1MB");
	assert_int_equal(l.prefix.bits, 32);
	assert_false(l.prefix.a.v4);
}

static void test_limit_lines_refused(void **state)
{
	(void)state;
	line_refused("", "a limit is \"SCOPE IN [OUT [BURST]]\" (SCOPE $, $$, an IP or a CIDR)");
	line_refused("$", "a limit is \"SCOPE IN [OUT [BURST]]\" (SCOPE $, $$, an IP or a CIDR)");
	line_refused("$ 1MB 1MB 1MB 1MB", "a limit has at most four fields: SCOPE IN [OUT [BURST]]");
	line_refused("$$$ 1MB", "scope \"$$$\" is not $, $$, an IP address or a CIDR block");
	line_refused("example.com 1MB", "scope \"example.com\" is not $, $$, an IP address or a CIDR block");
	line_refused("10.0.0.0/33 1MB", "scope \"10.0.0.0/33\" is not $, $$, an IP address or a CIDR block");
	line_refused("10.0.0.0/ 1MB", "scope \"10.0.0.0/\" is not $, $$, an IP address or a CIDR block");
	line_refused("10.0.0.0/8x 1MB", "scope \"10.0.0.0/8x\" is not $, $$, an IP address or a CIDR block");
	line_refused("::/129 1MB", "scope \"::/129\" is not $, $$, an IP address or a CIDR block");
	line_refused("$ 100", "input rate \"100\" is not a byte quantity such as 512KB, 1MB or 1.5GiB");
	line_refused("$ 1MB 2mb", "output rate \"2mb\" is not a byte quantity such as 512KB, 1MB or 1.5GiB");
	line_refused("$ 1MB 2MB x", "burst \"x\" is not a byte quantity such as 512KB, 1MB or 1.5GiB");
}

static void test_bucket_arithmetic(void **state)
{
	(void)state;
	struct rate_bucket b;
	uint64_t t = 1000 * SEC;
	/* burst 0: one second's worth; it starts full */
	rate_bucket_init(&b, 2 * MiB, 0);
	assert_int_equal(b.burst, 2 * MiB);
	assert_int_equal(rate_bucket_avail(&b, t), 2 * MiB);
	assert_int_equal(rate_bucket_wait(&b, 16 * KiB, t), 0);
	rate_bucket_charge(&b, 2 * MiB, t);
	assert_int_equal(rate_bucket_avail(&b, t), 0);
	/* refills at the rate: a quarter of a second gives a quarter of the rate */
	assert_int_equal(rate_bucket_avail(&b, t + SEC / 4), MiB / 2);
	assert_int_equal(rate_bucket_wait(&b, MiB, t), SEC / 2);
	/* never more than the burst, however long it waited */
	assert_int_equal(rate_bucket_avail(&b, t + 100 * SEC), 2 * MiB);
	/* a charge beyond what was there is a debt: the next bytes wait for it */
	rate_bucket_charge(&b, 3 * MiB, t);        /* 5 MiB taken at t from a 2 MiB burst */
	assert_int_equal(rate_bucket_avail(&b, t + SEC + SEC / 2), 0);
	assert_int_equal(rate_bucket_avail(&b, t + 2 * SEC), MiB);
	assert_int_equal(rate_bucket_wait(&b, 64 * KiB, t), SEC + SEC / 2 + SEC / 32);
	/* want beyond the burst waits for the burst only */
	rate_bucket_init(&b, 1000, 500);
	rate_bucket_charge(&b, 500, t);
	assert_int_equal(rate_bucket_wait(&b, 10000, t), SEC / 2);
	/* a huge burst at a tiny rate does not overflow */
	rate_bucket_init(&b, 1, 1ull << 60);
	assert_true(rate_bucket_avail(&b, t) > 0);
}

static void test_conn_directions(void **state)
{
	(void)state;
	uint64_t t = 50 * SEC;
	struct rate_bucket shared_in, conn_out;
	rate_bucket_init(&shared_in, 1000, 0);
	rate_bucket_init(&conn_out, 4000, 0);
	/* a client: its reads go through in, its writes through out */
	struct rate_conn client = { .in = { &shared_in }, .n_in = 1, .out = { &conn_out }, .n_out = 1 };
	/* client -> target: the client's input bucket */
	assert_int_equal(rate_allow(&client, NULL, 1 << 20, t), 1000);
	/* target -> client: the client's output bucket */
	assert_int_equal(rate_allow(NULL, &client, 1 << 20, t), 4000);
	assert_int_equal(rate_allow(NULL, NULL, 77, t), 77);
	rate_charge(NULL, &client, 3000, t);
	assert_int_equal(rate_allow(NULL, &client, 1 << 20, t), 1000);
	assert_int_equal(rate_allow(&client, NULL, 1 << 20, t), 1000);
	/* two connections sharing a bucket: what one used the other has not */
	struct rate_conn other = { .in = { &shared_in }, .n_in = 1 };
	rate_charge(&client, NULL, 600, t);
	assert_int_equal(rate_allow(&other, NULL, 1 << 20, t), 400);
	/* the tightest bucket of a direction decides, and a wait is the longest one's */
	struct rate_conn both = { .in = { &conn_out, &shared_in }, .n_in = 2 };
	assert_int_equal(rate_allow(&both, NULL, 1 << 20, t), 400);
	rate_charge(&both, NULL, 400, t);
	assert_true(rate_wait(&both, NULL, 500, t) > 0.49 && rate_wait(&both, NULL, 500, t) < 0.51);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byte_quantities),
		cmocka_unit_test(test_byte_quantities_refused),
		cmocka_unit_test(test_limit_lines),
		cmocka_unit_test(test_limit_lines_refused),
		cmocka_unit_test(test_bucket_arithmetic),
		cmocka_unit_test(test_conn_directions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
