/*
 * Unit tests for what the proxy handlers ask of the model: users (GOST's
 * semantics of auth and authers), bypass matching (GOST's matchers) and the
 * chain truncation the router derives from hop and node bypasses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "src/conf/model.h"
#include "src/svc/router.h"

static void test_single_auth(void **state)
{
	(void)state;
	struct service s;
	memset(&s, 0, sizeof s);
	assert_false(service_auth_required(&s));
	assert_true(service_auth_check(&s, "anyone", "anything"));
	s.handler.auth.username = "";
	s.handler.auth.password = "x";
	assert_false(service_auth_required(&s)); /* no user name: no auth, as GOST */
	s.handler.auth.username = "alice";
	assert_true(service_auth_required(&s));
	assert_true(service_auth_check(&s, "alice", "x"));
	assert_false(service_auth_check(&s, "alice", "y"));
	assert_false(service_auth_check(&s, "alic", "x"));
	assert_false(service_auth_check(&s, NULL, NULL));
	s.handler.auth.password = ""; /* an empty password accepts any */
	assert_true(service_auth_check(&s, "alice", "whatever"));
	assert_false(service_auth_check(&s, "bob", ""));
}

static void test_authers_replace_auth(void **state)
{
	(void)state;
	struct user u1[] = { { "bob", "one" }, { "", "nameless" }, { "carol", "" }, { "bob", "two" } };
	struct user u2[] = { { "dave", "d" } };
	struct auther a1 = { .name = "a1", .users = u1, .n_users = 4 };
	struct auther a2 = { .name = "a2", .users = u2, .n_users = 1 };
	struct auther empty = { .name = "none" };
	struct auther *list[] = { &a1, &a2 };
	struct service s;
	memset(&s, 0, sizeof s);
	s.handler.auth.username = "alice";
	s.handler.auth.password = "x";
	s.handler.authers = list;
	s.handler.n_authers = 2;
	assert_false(service_auth_check(&s, "alice", "x")); /* auth is ignored next to authers */
	assert_false(service_auth_check(&s, "bob", "one")); /* the later entry for bob wins */
	assert_true(service_auth_check(&s, "bob", "two"));
	assert_false(service_auth_check(&s, "", "nameless"));
	assert_true(service_auth_check(&s, "carol", "anything"));
	assert_true(service_auth_check(&s, "dave", "d"));
	assert_false(service_auth_check(&s, "dave", "D"));
	struct auther *none[] = { &empty };
	s.handler.authers = none;
	s.handler.n_authers = 1;
	assert_true(service_auth_required(&s));
	assert_false(service_auth_check(&s, "alice", "x")); /* an auther without users lets nobody in */
}

static int bp(const char *const *patterns, size_t n, int whitelist, const char *host, uint16_t port)
{
	struct bypass b = { .name = "t", .whitelist = whitelist, .patterns = (char **)patterns, .n = n };
	return bypass_match_port(&b, host, port);
}

static void test_bypass_matchers(void **state)
{
	(void)state;
	static const char *const p[] = { "10.0.0.0/8", "fd00::/8", "*.wild.test", ".dom.test", "exact.test",
					 "192.168.1.10-192.168.1.20", "port.test:8080", "range.test:8000-8100",
					 "[::1]:53", "*.ws.test:443", "2001:db8::1", "1.2.3.4" };
	size_t n = sizeof p / sizeof *p;
	assert_true(bp(p, n, 0, "10.9.8.7", 1));
	assert_true(bp(p, n, 0, "::ffff:10.9.8.7", 1)); /* IPv4-mapped compares as IPv4 */
	assert_false(bp(p, n, 0, "11.0.0.1", 1));
	assert_true(bp(p, n, 0, "fd12::1", 1));
	assert_true(bp(p, n, 0, "a.wild.test", 80));
	assert_true(bp(p, n, 0, "A.B.WILD.TEST", 80));
	assert_false(bp(p, n, 0, "wild.test", 80));
	assert_true(bp(p, n, 0, "dom.test", 1));
	assert_true(bp(p, n, 0, "x.y.dom.test", 1));
	assert_false(bp(p, n, 0, "xdom.test", 1));
	assert_true(bp(p, n, 0, "Exact.Test", 9));
	assert_false(bp(p, n, 0, "sub.exact.test", 9));
	assert_true(bp(p, n, 0, "192.168.1.15", 1));
	assert_false(bp(p, n, 0, "192.168.1.21", 1));
	assert_true(bp(p, n, 0, "port.test", 8080));
	assert_false(bp(p, n, 0, "port.test", 8081));
	assert_false(bp(p, n, 0, "port.test", 0));
	assert_true(bp(p, n, 0, "range.test", 8050));
	assert_false(bp(p, n, 0, "range.test", 8101));
	assert_true(bp(p, n, 0, "::1", 53));
	assert_false(bp(p, n, 0, "::1", 54));
	assert_true(bp(p, n, 0, "x.ws.test", 443));
	assert_false(bp(p, n, 0, "x.ws.test", 80));
	assert_true(bp(p, n, 0, "2001:db8:0::1", 5));
	assert_true(bp(p, n, 0, "1.2.3.4", 5));
	/* whitelist: everything but the list bypasses; an empty list bypasses nothing */
	assert_false(bp(p, n, 1, "a.wild.test", 80));
	assert_true(bp(p, n, 1, "example.org", 80));
	assert_false(bp(p, 0, 1, "example.org", 80));
	assert_false(bp(p, 0, 0, "example.org", 80));
	assert_false(bypass_match_port(NULL, "x", 1));
	assert_true(bypass_match(&(struct bypass){ .patterns = (char **)p, .n = n }, "a.wild.test"));
}

static void test_client_allow_list_patterns(void **state)
{
	(void)state;
	const char *good[] = { "127.0.0.1", "::1", "127.0.0.0/8", "::1/128", "0.0.0.0/0", "fd00::/8",
			       "10.0.0.1-10.0.0.9", "::ffff:10.0.0.1" };
	const char *bad[] = { "", "localhost", "*.lan", "127.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
			      "10.0.0.9-10.0.0.1", "::1-127.0.0.1", "1.2.3.4/-1", ".example.com" };
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		assert_true(addr_pattern_is_ip(good[i]));
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_false(addr_pattern_is_ip(bad[i]));
	/* a mapped client matches an IPv4 CIDR and a v4 address */
	char *pats[] = { "127.0.0.0/8" };
	struct bypass b = { .patterns = pats, .n = 1 };
	assert_true(bypass_match(&b, "::ffff:127.0.0.2"));
	assert_false(bypass_match(&b, "::1"));
}

static void test_chain_truncation(void **state)
{
	(void)state;
	static const char *const hp[] = { "*.direct.test" };
	static const char *const np[] = { "10.0.0.0/8" };
	struct bypass hb = { .name = "h", .patterns = (char **)hp, .n = 1 };
	struct bypass nb = { .name = "n", .patterns = (char **)np, .n = 1 };
	struct node n0 = { .name = "n0" }, n1 = { .name = "n1" }, n2 = { .name = "n2", .bypass = &nb };
	struct node *h0n[] = { &n0 }, *h1n[] = { &n1, &n2 }, *h2n[] = { &n2 };
	struct hop h0 = { .nodes = h0n, .n_nodes = 1 }, h1 = { .nodes = h1n, .n_nodes = 2, .bypass = &hb },
		   h2 = { .nodes = h2n, .n_nodes = 1 };
	struct hop *hops[] = { &h0, &h1, &h2 };
	struct chain c = { .name = "c", .hops = hops, .n_hops = 3 };
	assert_int_equal(chain_hops_for(NULL, "x", 1), 0);
	assert_int_equal(chain_hops_for(&c, "example.org", 80), 3);
	assert_int_equal(chain_hops_for(&c, "a.direct.test", 80), 1); /* hop 1's bypass */
	assert_int_equal(chain_hops_for(&c, "10.1.1.1", 80), 2);      /* every node of hop 2 bypassed */
	/* a bypassed node is never selected while another can be */
	struct node *skip[] = { &n2 };
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(hop_select(&h1, skip, 1, NULL), &n1);
}

/* GOST's group: whitelists must all bypass (AND), else any blacklist bypasses (OR). */
static void test_bypass_group_logic(void **state)
{
	(void)state;
	static const char *const a[] = { "*.a.test" }, *const b[] = { "*.b.test" }, *const c[] = { "10.0.0.0/8" };
	struct bypass wa = { .whitelist = 1, .patterns = (char **)a, .n = 1 };
	struct bypass wb = { .whitelist = 1, .patterns = (char **)b, .n = 1 };
	struct bypass bc = { .patterns = (char **)c, .n = 1 };
	struct bypass udp_only = { .network = "udp" }, udp_white = { .network = "udp", .whitelist = 1 };
	struct bypass *m1[] = { &wa, &wb }, *m2[] = { &wa, &bc };
	struct bypass g1 = { .members = m1, .n_members = 2 }, g2 = { .members = m2, .n_members = 2 };
	assert_true(bypass_match_net(&g1, "tcp", "x.c.test", 80));   /* missed by both whitelists */
	assert_false(bypass_match_net(&g1, "tcp", "x.a.test", 80));  /* one whitelist lets it through */
	assert_false(bypass_match_net(&g2, "tcp", "x.a.test", 80));
	assert_true(bypass_match_net(&g2, "tcp", "10.0.0.1", 80));   /* the whitelist misses it anyway */
	assert_false(bypass_match_net(&g2, "tcp", "", 80));          /* no address: nothing */
	/* network alone: the whole network, or in whitelist mode every other one... which does not apply */
	assert_true(bypass_match_net(&udp_only, "udp", "x", 1));
	assert_false(bypass_match_net(&udp_only, "tcp", "x", 1));
	assert_false(bypass_match_net(&udp_white, "udp", "x", 1));
	assert_false(bypass_match_net(&udp_white, "tcp", "x", 1));
	/* a list with neither patterns nor network bypasses nothing, even as a whitelist (GOST) */
	struct bypass empty_white = { .whitelist = 1 };
	assert_false(bypass_match_net(&empty_white, "tcp", "x", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_auth),
		cmocka_unit_test(test_authers_replace_auth),
		cmocka_unit_test(test_bypass_matchers),
		cmocka_unit_test(test_chain_truncation),
		cmocka_unit_test(test_client_allow_list_patterns),
		cmocka_unit_test(test_bypass_group_logic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
