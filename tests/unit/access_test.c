/*
 * Unit tests for client address rules (proto/addr_rules.c) and the
 * admission, climiter and rlimiter checks with their counters
 * (src/conf/access.c), against what GOST's x/admission, x/limiter/conn
 * and x/limiter/rate do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "proto/addr_rules.h"
#include "src/conf/access.h"
#include "src/core/log.h"

static struct ip_addr ip(const char *s)
{
	struct ip_addr a;
	if (ip_addr_parse(s, strlen(s), &a) < 0)
		fail_msg("not an IP: %s", s);
	return a;
}

static int contains(const char *prefix, const char *addr)
{
	struct ip_prefix p;
	if (ip_prefix_parse(prefix, strlen(prefix), &p) < 0)
		fail_msg("not a prefix: %s", prefix);
	struct ip_addr a = ip(addr);
	return ip_prefix_contains(&p, &a);
}

static void test_addresses(void **state)
{
	(void)state;
	struct ip_addr a = ip("10.1.2.3"), m = ip("::ffff:10.1.2.3");
	assert_true(a.v4 && m.v4);
	assert_memory_equal(a.b, m.b, 16); /* mapped is the IPv4 address (Go's Unmap) */
	assert_false(ip("::1").v4);
	static const char *const bad[] = { "", "10.1.2", "10.1.2.3.4", "1.2.3.256", "example.com", "::1%lo",
					   "10.1.2.3:80", "[::1]", " 10.1.2.3", NULL };
	for (size_t i = 0; bad[i]; i++) {
		struct ip_addr x;
		if (ip_addr_parse(bad[i], strlen(bad[i]), &x) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	struct ip_addr x;
	assert_int_equal(ip_addr_parse("10.0.0.1\0x", 10, &x), -1);
	/* peers as the streams print them */
	assert_int_equal(ip_addr_from_peer("127.0.0.2:5555", &x), 0);
	assert_memory_equal(x.b, ip("127.0.0.2").b, 16);
	assert_int_equal(ip_addr_from_peer("[::ffff:127.0.0.2]:5555", &x), 0);
	assert_true(x.v4);
	assert_memory_equal(x.b, ip("127.0.0.2").b, 16);
	assert_int_equal(ip_addr_from_peer("[::1]:80", &x), 0);
	assert_int_equal(ip_addr_from_peer("::1", &x), 0);
	assert_int_equal(ip_addr_from_peer("@", &x), -1); /* a unix socket client */
	assert_int_equal(ip_addr_from_peer("[::1", &x), -1);
}

static void test_prefixes(void **state)
{
	(void)state;
	assert_true(contains("10.0.0.0/8", "10.255.1.1"));
	assert_false(contains("10.0.0.0/8", "11.0.0.1"));
	assert_true(contains("10.9.9.9/8", "10.0.0.1")); /* host bits may be set, as net.ParseCIDR */
	assert_true(contains("0.0.0.0/0", "1.2.3.4"));
	assert_true(contains("0.0.0.0/0", "::ffff:1.2.3.4"));
	assert_false(contains("0.0.0.0/0", "::1"));
	assert_false(contains("::/0", "1.2.3.4")); /* an IPv6 network never holds an IPv4 address */
	assert_true(contains("::/0", "::1"));
	assert_true(contains("fd00::/8", "fd12::1"));
	assert_false(contains("fd00::/8", "fe80::1"));
	assert_true(contains("192.168.1.128/25", "192.168.1.200"));
	assert_false(contains("192.168.1.128/25", "192.168.1.100"));
	assert_true(contains("127.0.0.2", "127.0.0.2"));
	assert_false(contains("127.0.0.2", "127.0.0.3"));
	assert_true(contains("127.0.0.2", "::ffff:127.0.0.2"));
	assert_true(contains("::ffff:127.0.0.2", "127.0.0.2"));
	/* GOST unmaps an IPv4-mapped IPv6 network and keeps at most 32 bits: one address */
	assert_true(contains("::ffff:10.0.0.0/104", "10.0.0.0"));
	assert_false(contains("::ffff:10.0.0.0/104", "10.0.0.1"));
	struct ip_prefix p;
	static const char *const bad[] = { "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/-1",
					   "10.0.0.0/ 8", "/8", "example.com/8", "10.0.0.0/0008", NULL };
	for (size_t i = 0; bad[i]; i++)
		if (ip_prefix_parse(bad[i], strlen(bad[i]), &p) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(ip_prefix_parse("10.0.0.0/8", 10, &p), 0);
	assert_true(p.is_net);
	assert_int_equal(ip_prefix_parse("10.0.0.1", 8, &p), 0);
	assert_false(p.is_net);
}

static void test_limit_lines(void **state)
{
	(void)state;
	struct limit_line l;
	const char *why;
	const char *s = "$ 1000";
	assert_int_equal(limit_line_parse(s, strlen(s), 1, &l, &why), 0);
	assert_int_equal(l.key, LIMIT_GLOBAL);
	assert_true(l.value == 1000);
	s = " \t$$\t\t100  ";
	assert_int_equal(limit_line_parse(s, strlen(s), 1, &l, &why), 0);
	assert_int_equal(l.key, LIMIT_PER_IP);
	assert_true(l.value == 100);
	s = "192.168.1.1  10 whatever"; /* fields after the second are ignored, as GOST's */
	assert_int_equal(limit_line_parse(s, strlen(s), 1, &l, &why), 0);
	assert_int_equal(l.key, LIMIT_ADDR);
	assert_false(l.prefix.is_net);
	s = "192.168.0.0/16 0.5";
	assert_int_equal(limit_line_parse(s, strlen(s), 0, &l, &why), 0);
	assert_true(l.prefix.is_net && l.value == 0.5);
	s = "$ 0";
	assert_int_equal(limit_line_parse(s, strlen(s), 1, &l, &why), 0);
	assert_true(l.value == 0); /* parsed; the loader skips it, as GOST */
	s = "$ -3";
	assert_int_equal(limit_line_parse(s, strlen(s), 1, &l, &why), 0);
	assert_true(l.value == -3);
	static const char *const bad_whole[] = { "", "   ", "$", "$ ", "$ 1.5", "$ 1e3", "$ ten", "$$$ 1", "# 1",
						 "example.com 1", "10.0.0.0/33 1", "$ 99999999999999999999", NULL };
	for (size_t i = 0; bad_whole[i]; i++)
		if (limit_line_parse(bad_whole[i], strlen(bad_whole[i]), 1, &l, &why) == 0)
			fail_msg("accepted \"%s\"", bad_whole[i]);
	static const char *const bad_rate[] = { "$ fast", "$ nan", "$ inf", "$ 0x10", "$ 1e999", "$ 1,5", NULL };
	for (size_t i = 0; bad_rate[i]; i++)
		if (limit_line_parse(bad_rate[i], strlen(bad_rate[i]), 0, &l, &why) == 0)
			fail_msg("accepted \"%s\"", bad_rate[i]);
	assert_int_equal(limit_line_parse("$ 1\0", 4, 1, &l, &why), -1);
}

/* ---- the checks, on a model built by the loader ---- */

static char dir[64];

static struct config *load(const char *yaml)
{
	char path[128];
	struct cfg_err e;
	snprintf(path, sizeof path, "%s/c.yaml", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(yaml, f);
	fclose(f);
	struct config *c = config_load_file(path, &e);
	if (!c)
		fail_msg("%s", e.msg);
	return c;
}

static void drop(struct config *c)
{
	for (size_t i = 0; i < c->n_services; i++)
		service_unref(c->services[i]);
	config_unref(c);
}

#define SVC(extra) "services:\n  - name: s\n    addr: 127.0.0.1:1\n    handler: {type: http}\n" extra

static void test_admit(void **state)
{
	(void)state;
	struct config *c = load(SVC("    admissions: [b, w]\n")
				"admissions:\n"
				"  - name: b\n    matchers: [127.0.0.2, 10.0.0.0/8]\n"
				"  - name: w\n    whitelist: true\n    matchers: [127.0.0.0/8, 10.1.0.0/16, \"::1\"]\n");
	const struct service *s = c->services[0];
	struct ip_addr a;
	a = ip("127.0.0.1");
	assert_true(access_admit(s, &a));
	a = ip("::ffff:127.0.0.1");
	assert_true(access_admit(s, &a));
	a = ip("127.0.0.2");
	assert_false(access_admit(s, &a)); /* the blacklist */
	a = ip("10.1.2.3");
	assert_false(access_admit(s, &a)); /* whitelisted, but the blacklist refuses: all must admit */
	a = ip("192.168.1.1");
	assert_false(access_admit(s, &a)); /* not on the whitelist */
	a = ip("::1");
	assert_true(access_admit(s, &a));
	assert_false(access_admit(s, NULL)); /* no IP: matches nothing, so the whitelist refuses */
	drop(c);
	/* an empty whitelist admits nobody (GOST), an empty blacklist everybody */
	c = load(SVC("    admission: w\n") "admissions:\n  - name: w\n    whitelist: true\n");
	a = ip("127.0.0.1");
	assert_false(access_admit(c->services[0], &a));
	drop(c);
	c = load(SVC("    admission: b\n") "admissions:\n  - name: b\n");
	assert_true(access_admit(c->services[0], &a));
	assert_true(access_admit(c->services[0], NULL));
	drop(c);
}

static int acquire(const struct service *s, const char *addr, struct climit_hold **h)
{
	struct ip_addr a = ip(addr);
	return climit_acquire(s, &a, h);
}

static void test_climiter_scopes(void **state)
{
	(void)state;
	struct config *c = load(SVC("    climiter: c\n") "climiters:\n  - name: c\n    limits: [\"$ 5\", \"$$ 2\", "
				"\"10.0.0.1 1\", \"10.0.0.0/8 3\", \"10.1.0.0/16 1\"]\n");
	const struct service *s = c->services[0];
	struct climit_hold *h[16];
	int n = 0;
	/* $$ 2 for an address under no other line */
	assert_true(acquire(s, "192.168.0.1", &h[n++]));
	assert_true(acquire(s, "::ffff:192.168.0.1", &h[n++]));
	struct climit_hold *x;
	assert_false(acquire(s, "192.168.0.1", &x));
	/* an IP line replaces $$ for its address */
	assert_true(acquire(s, "10.0.0.1", &h[n++]));
	assert_false(acquire(s, "10.0.0.1", &x));
	/* the widest CIDR holding the address, a counter per address: 10.1.2.3 takes /8's 3, not /16's 1 */
	assert_true(acquire(s, "10.1.2.3", &h[n++]));
	assert_true(acquire(s, "10.1.2.3", &h[n++]));
	/* $ 5 for everyone: full now */
	assert_false(acquire(s, "10.1.2.4", &x));
	assert_false(acquire(s, "172.16.0.1", &x));
	climit_release(h[--n]);
	assert_true(acquire(s, "172.16.0.1", &h[n++]));
	assert_false(acquire(s, "172.16.0.2", &x));
	/* a refusal by $ gave back the address's own slot: 172.16.0.2 has both once one closes */
	climit_release(h[--n]);
	assert_true(acquire(s, "172.16.0.2", &h[n++]));
	while (n)
		climit_release(h[--n]);
	assert_int_equal(s->climiter->global_cell.held, 0);
	drop(c);
	/* no climiter: nothing held */
	c = load(SVC(""));
	assert_true(acquire(c->services[0], "10.0.0.1", &x));
	assert_null(x);
	drop(c);
	/* clients without an IP share the $$ counter of "no address", as GOST's key "@" */
	c = load(SVC("    climiter: c\n") "climiters:\n  - name: c\n    limits: [\"$$ 1\"]\n");
	assert_true(climit_acquire(c->services[0], NULL, &h[0]));
	assert_false(climit_acquire(c->services[0], NULL, &x));
	climit_release(h[0]);
	drop(c);
}

/* Workers count on one counter: many threads taking and giving back never pass the limit. */
struct race {
	const struct service *s;
	const char *addr;
	int over;
	long *inside;
};

#define RACE_LIMIT 7

static void *racer(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < 20000; i++) {
		struct climit_hold *h;
		if (!acquire(r->s, r->addr, &h))
			continue;
		if (__atomic_add_fetch(r->inside, 1, __ATOMIC_SEQ_CST) > RACE_LIMIT)
			__atomic_store_n(&r->over, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(r->inside, 1, __ATOMIC_SEQ_CST);
		climit_release(h);
	}
	return NULL;
}

static void test_climiter_threads(void **state)
{
	(void)state;
	static const char *const kinds[] = { "\"$ 7\"", "\"$$ 7\"", "\"10.0.0.1 7\"", "\"10.0.0.0/8 7\"", NULL };
	for (size_t k = 0; kinds[k]; k++) {
		char yaml[512];
		snprintf(yaml, sizeof yaml, SVC("    climiter: c\n") "climiters:\n  - name: c\n    limits: [%s]\n", kinds[k]);
		struct config *c = load(yaml);
		long inside = 0;
		struct race r = { c->services[0], "10.0.0.1", 0, &inside };
		pthread_t t[8];
		for (int i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, racer, &r);
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
		assert_false(r.over);
		/* everything given back: the limit is whole again */
		struct climit_hold *h[RACE_LIMIT + 1];
		for (int i = 0; i < RACE_LIMIT; i++)
			assert_true(acquire(c->services[0], "10.0.0.1", &h[i]));
		assert_false(acquire(c->services[0], "10.0.0.1", &h[RACE_LIMIT]));
		for (int i = 0; i < RACE_LIMIT; i++)
			climit_release(h[i]);
		drop(c);
	}
}

#define SEC 1000000000ull

static int allow(const struct service *s, const char *addr, uint64_t now)
{
	struct ip_addr a = ip(addr);
	return rlimit_allow(s, &a, now);
}

static void test_rlimiter(void **state)
{
	(void)state;
	struct config *c = load(SVC("    rlimiter: r\n") "rlimiters:\n  - name: r\n    limits: [\"$ 100\", \"$$ 2\", "
				"\"10.0.0.1 0.5\", \"192.168.0.0/16 1\"]\n");
	const struct service *s = c->services[0];
	uint64_t t = 1000 * SEC;
	/* $$ 2: burst int(2)+1 = 3, then one every half second */
	for (int i = 0; i < 3; i++)
		assert_true(allow(s, "172.16.0.1", t));
	assert_false(allow(s, "172.16.0.1", t));
	assert_true(allow(s, "172.16.0.2", t)); /* another address, another bucket */
	assert_false(allow(s, "172.16.0.1", t + SEC / 4));
	assert_true(allow(s, "172.16.0.1", t + SEC / 2));
	assert_false(allow(s, "172.16.0.1", t + SEC / 2));
	/* 0.5: burst 1, one every 2 s */
	assert_true(allow(s, "10.0.0.1", t));
	assert_false(allow(s, "10.0.0.1", t + SEC));
	assert_true(allow(s, "10.0.0.1", t + 2 * SEC));
	/* the CIDR's per address (time only goes forward: the service's bucket is shared) */
	t += 3 * SEC;
	assert_true(allow(s, "192.168.1.1", t));
	assert_true(allow(s, "192.168.1.1", t));
	assert_false(allow(s, "192.168.1.1", t));
	assert_true(allow(s, "192.168.1.2", t));
	/* a long idle bucket is full again (and its entry may go) */
	for (int i = 0; i < 3; i++)
		assert_true(allow(s, "172.16.0.1", t + 100 * SEC));
	assert_false(allow(s, "172.16.0.1", t + 100 * SEC));
	drop(c);
	/* $ alone: the whole service */
	c = load(SVC("    rlimiter: r\n") "rlimiters:\n  - name: r\n    limits: [\"$ 1\"]\n");
	assert_true(allow(c->services[0], "10.0.0.1", t));
	assert_true(allow(c->services[0], "10.0.0.2", t)); /* burst 2 */
	assert_false(allow(c->services[0], "10.0.0.3", t));
	assert_true(allow(c->services[0], "10.0.0.3", t + SEC));
	assert_true(rlimit_allow(c->services[0], NULL, t + 3 * SEC));
	drop(c);
	c = load(SVC(""));
	assert_true(allow(c->services[0], "10.0.0.1", t));
	drop(c);
}

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/portway-access-test-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),      cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_limit_lines),    cmocka_unit_test(test_admit),
		cmocka_unit_test(test_climiter_scopes), cmocka_unit_test(test_climiter_threads),
		cmocka_unit_test(test_rlimiter),
	};
	log_set_level("error");
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
