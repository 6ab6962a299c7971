/*
 * Unit tests for the -L/-F URL parser (src/url.c): each URL goes through
 * config_from_urls and the resulting model is checked, as portway would
 * run it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "src/core/log.h"
#include "src/conf/model.h"

static struct cfg_err err;

/* Release a config that never ran: each service's own reference (the
 * running set's, taken at load), then the loader's. */
static void drop(struct config *c)
{
	for (size_t i = 0; i < c->n_services; i++)
		service_unref(c->services[i]);
	config_unref(c);
}

static struct config *urls(char **L, int nL, char **F, int nF)
{
	memset(&err, 0, sizeof err);
	struct config *c = config_from_urls(L, nL, F, nF, &err);
	if (!c)
		fail_msg("config_from_urls: %s", err.msg);
	return c;
}

static struct config *one(const char *l)
{
	char *L[] = { (char *)l };
	return urls(L, 1, NULL, 0);
}

/* The URL must be refused; returns the message. */
static const char *refused(char **L, int nL, char **F, int nF)
{
	memset(&err, 0, sizeof err);
	struct config *c = config_from_urls(L, nL, F, nF, &err);
	if (c) {
		drop(c);
		fail_msg("config_from_urls accepted %s", nL ? L[0] : F[0]);
	}
	assert_true(err.msg[0] != 0);
	return err.msg;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void test_tcp_forward(void **state)
{
	(void)state;
	struct config *c = one("tcp://:8080/127.0.0.1:80");
	assert_int_equal(c->n_services, 1);
	struct service *s = c->services[0];
	assert_string_equal(s->name, "service-0");
	assert_string_equal(s->addr, ":8080");
	assert_string_equal(s->host, "");
	assert_int_equal(s->port, 8080);
	assert_string_equal(s->handler.type->name, "tcp");
	assert_string_equal(s->listener.type->name, "tcp");
	assert_null(s->handler.chain);
	assert_null(s->handler.auth.username);
	assert_non_null(s->forwarder);
	assert_int_equal(s->forwarder->n_nodes, 1);
	assert_string_equal(s->forwarder->nodes[0]->host, "127.0.0.1");
	assert_int_equal(s->forwarder->nodes[0]->port, 80);
	assert_string_equal(s->forwarder->nodes[0]->connector.type->name, "forward");
	assert_int_equal(s->forwarder->sel.strategy, SEL_ROUND);
	assert_int_equal(s->forwarder->sel.max_fails, 1);
	assert_true(s->forwarder->sel.fail_timeout == 10);
	assert_int_equal(c->n_chains, 0);
	drop(c);
}

static void test_udp_forward_several_targets(void **state)
{
	(void)state;
	struct config *c = one("udp://127.0.0.1:5353/10.0.0.1:53,10.0.0.2:5353,[::1]:53");
	struct service *s = c->services[0];
	assert_string_equal(s->handler.type->name, "udp");
	assert_string_equal(s->listener.type->name, "udp");
	assert_string_equal(s->host, "127.0.0.1");
	assert_int_equal(s->port, 5353);
	assert_int_equal(s->forwarder->n_nodes, 3);
	assert_string_equal(s->forwarder->nodes[0]->host, "10.0.0.1");
	assert_int_equal(s->forwarder->nodes[1]->port, 5353);
	assert_string_equal(s->forwarder->nodes[2]->host, "::1");
	assert_string_equal(s->forwarder->nodes[0]->name, "target-0");
	assert_string_equal(s->forwarder->nodes[2]->name, "target-2");
	drop(c);
}

static void test_forward_alias_and_ipv6_listen(void **state)
{
	(void)state;
	/* "forward" is GOST's other name for the tcp handler */
	struct config *c = one("forward://[::1]:9000/localhost:22");
	struct service *s = c->services[0];
	assert_string_equal(s->handler.type->name, "tcp");
	assert_string_equal(s->host, "::1");
	assert_int_equal(s->port, 9000);
	assert_string_equal(s->forwarder->nodes[0]->host, "localhost");
	drop(c);
}

static void test_userinfo(void **state)
{
	(void)state;
	struct config *c = one("tcp://alice:s3cret@:8080/127.0.0.1:80");
	struct service *s = c->services[0];
	assert_string_equal(s->handler.auth.username, "alice");
	assert_string_equal(s->handler.auth.password, "s3cret");
	assert_true(service_auth_required(s));
	assert_true(service_auth_check(s, "alice", "s3cret"));
	assert_false(service_auth_check(s, "alice", "s3cre"));
	assert_false(service_auth_check(s, "bob", "s3cret"));
	drop(c);
}

/* GOST: the sshd listener authenticates, so the URL's user is the listener's. */
static void test_userinfo_sshd_goes_to_listener(void **state)
{
	(void)state;
	struct config *c = one("sshd://gost:pw@127.0.0.1:2222");
	struct service *s = c->services[0];
	assert_string_equal(s->listener.type->name, "sshd");
	assert_string_equal(s->handler.type->name, "sshd");
	assert_null(s->handler.auth.username);
	assert_false(service_auth_required(s));
	assert_true(auth_cfg_set(&s->listener.auth));
	assert_true(auth_cfg_check(&s->listener.auth, "gost", "pw"));
	assert_false(auth_cfg_check(&s->listener.auth, "gost", "p"));
	assert_false(auth_cfg_check(&s->listener.auth, "other", "pw"));
	drop(c);
}

static void test_userinfo_percent_and_at(void **state)
{
	(void)state;
	/* percent-encoding in userinfo; a raw '@' in the password: the last '@' ends the userinfo */
	struct config *c = one("tcp://us%65r:p%40ss%3Aw%2Fd@:8080/127.0.0.1:80");
	assert_string_equal(c->services[0]->handler.auth.username, "user");
	assert_string_equal(c->services[0]->handler.auth.password, "p@ss:w/d");
	drop(c);
	c = one("tcp://u:p@ss@127.0.0.1:8080/127.0.0.1:80");
	assert_string_equal(c->services[0]->handler.auth.username, "u");
	assert_string_equal(c->services[0]->handler.auth.password, "p@ss");
	assert_string_equal(c->services[0]->host, "127.0.0.1");
	drop(c);
	/* a user without a password; '+' is not a space outside the query */
	c = one("tcp://a+b@:8080/127.0.0.1:80");
	assert_string_equal(c->services[0]->handler.auth.username, "a+b");
	assert_string_equal(c->services[0]->handler.auth.password, "");
	drop(c);
	/* a lone or broken escape stays as it is */
	c = one("tcp://a%:b%4@:8080/127.0.0.1:80");
	assert_string_equal(c->services[0]->handler.auth.username, "a%");
	assert_string_equal(c->services[0]->handler.auth.password, "b%4");
	drop(c);
}

static void test_query_goes_to_metadata(void **state)
{
	(void)state;
	struct config *c = one("tcp://:8080/127.0.0.1:80?idleTimeout=5s&handler.dialTimeout=2s&listener.backlog=7"
			       "&service.tag=a+b%21&flag");
	struct service *s = c->services[0];
	/* plain keys go to every section */
	assert_string_equal(md_str(s->handler.md, "idleTimeout", NULL), "5s");
	assert_string_equal(md_str(s->listener.md, "idleTimeout", NULL), "5s");
	assert_string_equal(md_str(s->md, "idleTimeout", NULL), "5s");
	/* prefixed keys only to theirs, without the prefix */
	assert_string_equal(md_str(s->handler.md, "dialTimeout", NULL), "2s");
	assert_null(md_str(s->listener.md, "dialTimeout", NULL));
	assert_null(md_str(s->md, "dialTimeout", NULL));
	assert_string_equal(md_str(s->listener.md, "backlog", NULL), "7");
	assert_null(md_str(s->handler.md, "backlog", NULL));
	/* '+' is a space and %XX decoded in the query */
	assert_string_equal(md_str(s->md, "tag", NULL), "a b!");
	assert_null(md_str(s->handler.md, "tag", NULL));
	/* a bare key is true */
	assert_string_equal(md_str(s->handler.md, "flag", NULL), "true");
	/* keys are case-insensitive */
	assert_string_equal(md_str(s->handler.md, "IDLETIMEOUT", NULL), "5s");
	double d;
	assert_int_equal(md_duration(s->handler.md, "idleTimeout", 0, &d, &err), 0);
	assert_true(d == 5);
	drop(c);
}

static void test_query_selector(void **state)
{
	(void)state;
	struct config *c = one("tcp://:8080/127.0.0.1:80,127.0.0.1:81?strategy=fifo&maxFails=3&failTimeout=30s");
	struct hop *f = c->services[0]->forwarder;
	assert_int_equal(f->sel.strategy, SEL_FIFO);
	assert_int_equal(f->sel.max_fails, 3);
	assert_true(f->sel.fail_timeout == 30);
	drop(c);

	char *bad[] = { "tcp://:8080/127.0.0.1:80?strategy=fastest" };
	assert_contains(refused(bad, 1, NULL, 0), "unknown strategy \"fastest\" (known: round, random, fifo)");
	char *bad2[] = { "tcp://:8080/127.0.0.1:80?maxFails=lots" };
	assert_contains(refused(bad2, 1, NULL, 0), "maxFails: expected a whole number from 0 to 1000000, got \"lots\"");
	char *bad3[] = { "tcp://:8080/127.0.0.1:80?failTimeout=soon" };
	assert_contains(refused(bad3, 1, NULL, 0), "failTimeout: expected a duration");
}

static void test_query_bad_metadata_value(void **state)
{
	(void)state;
	char *bad[] = { "tcp://:8080/127.0.0.1:80?idleTimeout=forever" };
	assert_contains(refused(bad, 1, NULL, 0),
			"idleTimeout: expected a duration such as 10s, 500ms or 1m, got \"forever\"");
}

static void test_several_services(void **state)
{
	(void)state;
	char *L[] = { "tcp://:8080/127.0.0.1:80", "udp://:5353/127.0.0.1:53", "tcp://127.0.0.1:2222/127.0.0.1:22" };
	struct config *c = urls(L, 3, NULL, 0);
	assert_int_equal(c->n_services, 3);
	assert_string_equal(c->services[0]->name, "service-0");
	assert_string_equal(c->services[1]->name, "service-1");
	assert_string_equal(c->services[2]->name, "service-2");
	assert_string_equal(c->services[1]->handler.type->name, "udp");
	assert_int_equal(c->services[2]->port, 2222);
	/* each service has its own fingerprint */
	assert_string_not_equal(c->services[0]->fingerprint, c->services[2]->fingerprint);
	drop(c);
}

static void test_chain_from_F(void **state)
{
	(void)state;
	char *L[] = { "tcp://:8080/10.0.0.1:80" };
	char *F[] = { "forward://bob:pw@127.0.0.1:1080?connector.x=1&dialer.y=2&node.z=3&w=4",
		      "forward://127.0.0.1:1081,127.0.0.1:1082?secure=true&serverName=example.com" };
	struct config *c = urls(L, 1, F, 2);
	assert_int_equal(c->n_chains, 1);
	struct chain *ch = c->chains[0];
	assert_string_equal(ch->name, "chain-0");
	assert_int_equal(ch->n_hops, 2);
	assert_ptr_equal(c->services[0]->handler.chain, ch);

	struct hop *h0 = ch->hops[0], *h1 = ch->hops[1];
	assert_string_equal(h0->name, "hop-0");
	assert_int_equal(h0->n_nodes, 1);
	struct node *n = h0->nodes[0];
	assert_string_equal(n->host, "127.0.0.1");
	assert_int_equal(n->port, 1080);
	assert_string_equal(n->connector.type->name, "forward");
	assert_string_equal(n->dialer.type->name, "tcp"); /* no dialer "forward": plain tcp */
	assert_string_equal(n->connector.auth.username, "bob");
	assert_string_equal(n->connector.auth.password, "pw");
	assert_string_equal(md_str(n->connector.md, "x", NULL), "1");
	assert_null(md_str(n->dialer.md, "x", NULL));
	assert_string_equal(md_str(n->dialer.md, "y", NULL), "2");
	assert_string_equal(md_str(n->md, "z", NULL), "3");
	assert_string_equal(md_str(n->connector.md, "w", NULL), "4");
	assert_string_equal(md_str(n->dialer.md, "w", NULL), "4");
	assert_string_equal(md_str(n->md, "w", NULL), "4");
	assert_int_equal(n->dialer.tls.set, 0);

	assert_int_equal(h1->n_nodes, 2);
	assert_int_equal(h1->nodes[1]->port, 1082);
	assert_string_equal(h1->nodes[0]->name, "node-0");
	assert_string_equal(h1->nodes[1]->name, "node-1");
	assert_int_equal(h1->nodes[1]->dialer.tls.set, 1);
	assert_int_equal(h1->nodes[1]->dialer.tls.secure, 1);
	assert_string_equal(h1->nodes[1]->dialer.tls.server_name, "example.com");
	drop(c);
}

static void test_udp_dialer_from_F(void **state)
{
	(void)state;
	char *L[] = { "udp://:5353/10.0.0.1:53" };
	char *F[] = { "forward+udp://127.0.0.1:1080" };
	struct config *c = urls(L, 1, F, 1);
	struct node *n = c->chains[0]->hops[0]->nodes[0];
	assert_string_equal(n->connector.type->name, "forward");
	assert_string_equal(n->dialer.type->name, "udp");
	drop(c);
}

static void test_listen_tls_files_from_query(void **state)
{
	(void)state;
	/* certFile in the query becomes the listener's tls section (keyFile alone does not) */
	struct config *c = one("tcp://:8443/127.0.0.1:80?cert=/x/c.pem&key=/x/k.pem&ca=/x/ca.pem");
	struct service *s = c->services[0];
	assert_int_equal(s->listener.tls.set, 1);
	assert_string_equal(s->listener.tls.cert_file, "/x/c.pem");
	assert_string_equal(s->listener.tls.key_file, "/x/k.pem");
	assert_string_equal(s->listener.tls.ca_file, "/x/ca.pem");
	assert_int_equal(s->handler.tls.set, 0);
	/* not metadata */
	assert_null(md_str(s->handler.md, "cert", NULL));
	drop(c);
	c = one("tcp://:8443/127.0.0.1:80?keyFile=/x/k.pem");
	assert_int_equal(c->services[0]->listener.tls.set, 0);
	drop(c);
}

static void test_bad_listen_address(void **state)
{
	(void)state;
	char *L[] = { "tcp://:notaport/127.0.0.1:80" };
	const char *m = refused(L, 1, NULL, 0);
	assert_contains(m, "services[0].addr: expected host:port (or :port, [v6]:port), got \":notaport\"");
	char *L2[] = { "tcp://127.0.0.1/127.0.0.1:80" };
	assert_contains(refused(L2, 1, NULL, 0), "got \"127.0.0.1\"");
	char *L3[] = { "tcp://:70000/127.0.0.1:80" };
	assert_contains(refused(L3, 1, NULL, 0), "got \":70000\"");
	char *L4[] = { "tcp://:8080/127.0.0.1" };
	assert_contains(refused(L4, 1, NULL, 0),
			"services[0].forwarder.nodes[0].addr: expected host:port (or :port, [v6]:port), got \"127.0.0.1\"");
	char *L5[] = { "tcp://" };
	assert_contains(refused(L5, 1, NULL, 0), "services[0].addr: is required");
}

static void test_bad_F_address(void **state)
{
	(void)state;
	char *L[] = { "tcp://:8080/127.0.0.1:80" };
	char *F[] = { "forward://127.0.0.1:1080,nope" };
	assert_contains(refused(L, 1, F, 1), "chains[0].hops[0].nodes[1].addr: expected host:port");
}

static void test_scheme_too_long(void **state)
{
	(void)state;
	char *L[] = { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa://:1/1.2.3.4:5" };
	const char *m = refused(L, 1, NULL, 0);
	assert_contains(m, "-L #1: scheme too long");
	char *L2[] = { "tcp://:1/1.2.3.4:5" };
	char *F[] = { "forward://127.0.0.1:1", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb://h:1" };
	assert_contains(refused(L2, 1, F, 2), "-F #2: scheme too long");
}

static void test_tcp_without_target_needs_forwarder(void **state)
{
	(void)state;
	/* tcp with no target has no forwarder nodes: a clear error, not a crash */
	char *L[] = { "tcp://:8080" };
	assert_contains(refused(L, 1, NULL, 0), "handler tcp needs forwarder nodes");
}

static void test_fingerprint_stable(void **state)
{
	(void)state;
	struct config *a = one("tcp://:8080/127.0.0.1:80?idleTimeout=5s");
	struct config *b = one("tcp://:8080/127.0.0.1:80?idleTimeout=5s");
	struct config *d = one("tcp://:8080/127.0.0.1:81?idleTimeout=5s");
	assert_string_equal(a->services[0]->fingerprint, b->services[0]->fingerprint);
	assert_string_not_equal(a->services[0]->fingerprint, d->services[0]->fingerprint);
	drop(a);
	drop(b);
	drop(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_forward),
		cmocka_unit_test(test_udp_forward_several_targets),
		cmocka_unit_test(test_forward_alias_and_ipv6_listen),
		cmocka_unit_test(test_userinfo),
		cmocka_unit_test(test_userinfo_sshd_goes_to_listener),
		cmocka_unit_test(test_userinfo_percent_and_at),
		cmocka_unit_test(test_query_goes_to_metadata),
		cmocka_unit_test(test_query_selector),
		cmocka_unit_test(test_query_bad_metadata_value),
		cmocka_unit_test(test_several_services),
		cmocka_unit_test(test_chain_from_F),
		cmocka_unit_test(test_udp_dialer_from_F),
		cmocka_unit_test(test_listen_tls_files_from_query),
		cmocka_unit_test(test_bad_listen_address),
		cmocka_unit_test(test_bad_F_address),
		cmocka_unit_test(test_scheme_too_long),
		cmocka_unit_test(test_tcp_without_target_needs_forwarder),
		cmocka_unit_test(test_fingerprint_stable),
	};
	log_set_level("error");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
