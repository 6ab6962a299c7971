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
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "src/core/log.h"
#include "src/conf/access.h"
#include "src/conf/limiter.h"
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
	/* on a handler that asks for users (tcp does not: test_users_where_not_asked_refused) */
	struct config *c = one("http://alice:s3cret@:8080");
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
	struct config *c = one("http://us%65r:p%40ss%3Aw%2Fd@:8080");
	assert_string_equal(c->services[0]->handler.auth.username, "user");
	assert_string_equal(c->services[0]->handler.auth.password, "p@ss:w/d");
	drop(c);
	c = one("http://u:p@ss@127.0.0.1:8080");
	assert_string_equal(c->services[0]->handler.auth.username, "u");
	assert_string_equal(c->services[0]->handler.auth.password, "p@ss");
	assert_string_equal(c->services[0]->host, "127.0.0.1");
	drop(c);
	/* a user without a password; '+' is not a space outside the query */
	c = one("http://a+b@:8080");
	assert_string_equal(c->services[0]->handler.auth.username, "a+b");
	assert_string_equal(c->services[0]->handler.auth.password, "");
	drop(c);
	/* a lone or broken escape stays as it is */
	c = one("http://a%:b%4@:8080");
	assert_string_equal(c->services[0]->handler.auth.username, "a%");
	assert_string_equal(c->services[0]->handler.auth.password, "b%4");
	drop(c);
}

/* The ss handler and connector: the method is the user, the password the password; SIP002 base64 too. */
static void test_shadowsocks_userinfo(void **state)
{
	(void)state;
	struct config *c = one("ss://chacha20-ietf-poly1305:pass@:8338");
	assert_string_equal(c->services[0]->handler.type->name, "ss");
	assert_string_equal(c->services[0]->listener.type->name, "tcp");
	assert_string_equal(c->services[0]->handler.auth.username, "chacha20-ietf-poly1305");
	assert_string_equal(c->services[0]->handler.auth.password, "pass");
	drop(c);
	/* base64url("aes-256-gcm:p@ss:x") without padding, and standard base64 with it */
	c = one("ss://YWVzLTI1Ni1nY206cEBzczp4@:8338");
	assert_string_equal(c->services[0]->handler.auth.username, "aes-256-gcm");
	assert_string_equal(c->services[0]->handler.auth.password, "p@ss:x");
	drop(c);
	c = one("ss://YWVzLTEyOC1nY206cGFzcw==@:8338");
	assert_string_equal(c->services[0]->handler.auth.username, "aes-128-gcm");
	assert_string_equal(c->services[0]->handler.auth.password, "pass");
	drop(c);
	char *L[] = { "socks5://:1080" }, *F[] = { "ss://aes-128-gcm:pw@10.0.0.1:8388" };
	c = urls(L, 1, F, 1);
	struct node *n = c->chains[0]->hops[0]->nodes[0];
	assert_string_equal(n->connector.type->name, "ss");
	assert_string_equal(n->connector.auth.username, "aes-128-gcm");
	assert_string_equal(n->connector.auth.password, "pw");
	drop(c);
	/* not base64 of "method:password": the user as it is, which names no method */
	char *bad[] = { "ss://bm9jb2xvbg@:8338" };
	assert_contains(refused(bad, 1, NULL, 0), "unknown shadowsocks method \"bm9jb2xvbg\"");
	char *rc4[] = { "ss://rc4-md5:x@:8338" };
	assert_contains(refused(rc4, 1, NULL, 0), "aes-128-gcm, aes-192-gcm, aes-256-gcm, chacha20-ietf-poly1305");
	char *nopass[] = { "ss://aes-128-gcm:@:8338" };
	assert_contains(refused(nopass, 1, NULL, 0), "needs a password");
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


/* GOST's -F: the selector keys are the hop's, not its nodes' metadata; given any, failTimeout
 * defaults to 30 s (the command line's), else the hop keeps the file's defaults. */
static void test_hop_selector(void **state)
{
	(void)state;
	char *L[] = { "http://127.0.0.1:8080" };
	char *F[] = { "socks5://127.0.0.1:1080,127.0.0.1:1081?strategy=hash&max_fails=2" };
	struct config *c = urls(L, 1, F, 1);
	struct hop *h = c->chains[0]->hops[0];
	assert_int_equal(h->n_nodes, 2);
	assert_int_equal(h->sel.strategy, SEL_HASH);
	assert_int_equal(h->sel.max_fails, 2);
	assert_true(h->sel.fail_timeout == 30);
	assert_null(md_str(h->nodes[0]->md, "strategy", NULL));
	assert_null(md_str(h->nodes[1]->md, "maxFails", NULL));
	drop(c);
	char *F2[] = { "socks5://127.0.0.1:1080" };
	c = urls(L, 1, F2, 1);
	h = c->chains[0]->hops[0];
	assert_int_equal(h->sel.strategy, SEL_ROUND);
	assert_true(h->sel.fail_timeout == 10);
	drop(c);
	char *F3[] = { "socks5://127.0.0.1:1080?strategy=parallel" };
	assert_contains(refused(L, 1, F3, 1), "strategy \"parallel\" is not implemented in portway");
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
	assert_contains(refused(bad, 1, NULL, 0), "unknown strategy \"fastest\" (known: round, rand, fifo, hash)");
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
		      /* TLS settings need a dialer that makes TLS (tcp would be refused) */
		      "forward+tls://127.0.0.1:1081,127.0.0.1:1082?secure=true&serverName=example.com" };
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
	assert_string_equal(h1->nodes[1]->dialer.type->name, "tls");
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

static char certdir[64];
static char cert_pem[128], key_pem[128];

/* A self-signed certificate (its own CA too), made with the openssl command as the
 * integration tests make theirs: TLS listeners load their files when the config is built. */
static int make_cert(void **state)
{
	char cmd[512];
	(void)state;
	snprintf(certdir, sizeof certdir, "/tmp/portway-url-test-XXXXXX");
	if (!mkdtemp(certdir))
		return -1;
	snprintf(cert_pem, sizeof cert_pem, "%s/c.pem", certdir);
	snprintf(key_pem, sizeof key_pem, "%s/k.pem", certdir);
	snprintf(cmd, sizeof cmd,
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost "
		 "-keyout '%s' -out '%s' >/dev/null 2>&1", key_pem, cert_pem);
	return system(cmd) == 0 ? 0 : -1;
}

static int remove_cert(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", certdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_listen_tls_files_from_query(void **state)
{
	(void)state;
	char url[512];
	/* certFile in the query becomes the listener's tls section (keyFile alone does not) */
	snprintf(url, sizeof url, "tls://:8443/127.0.0.1:80?cert=%s&key=%s&ca=%s", cert_pem, key_pem, cert_pem);
	struct config *c = one(url);
	struct service *s = c->services[0];
	assert_string_equal(s->listener.type->name, "tls");
	assert_int_equal(s->listener.tls.set, 1);
	assert_string_equal(s->listener.tls.cert_file, cert_pem);
	assert_string_equal(s->listener.tls.key_file, key_pem);
	assert_string_equal(s->listener.tls.ca_file, cert_pem);
	assert_int_equal(s->handler.tls.set, 0);
	/* not metadata */
	assert_null(md_str(s->handler.md, "cert", NULL));
	drop(c);
	c = one("tcp://:8443/127.0.0.1:80?keyFile=/x/k.pem");
	assert_int_equal(c->services[0]->listener.tls.set, 0);
	drop(c);
	/* the same on a listener that makes no TLS: refused, as the clients would talk in the clear */
	char *L[] = { "tcp://:8443/127.0.0.1:80?cert=/x/c.pem&key=/x/k.pem&ca=/x/ca.pem" };
	assert_contains(refused(L, 1, NULL, 0),
			"tcp://:8443/127.0.0.1:80?cert=/x/c.pem&key=/x/k.pem&ca=/x/ca.pem: services[0].listener.tls: "
			"listener tcp does not use TLS, so it would not be applied (listeners that do: tls, wss, dtls, "
			"agent, mtls, mwss, sshd, http2, h2, grpc)");
	char *L2[] = { "ws://:8443?caFile=/x/ca.pem" };
	assert_contains(refused(L2, 1, NULL, 0), "listener ws does not use TLS");
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

/* ---- fail closed: a scheme portway does not implement is refused, never run as tcp or auto ---- */

static void expect_unknown(char **L, int nL, char **F, int nF, const char *opt_url, const char *kind,
			   const char *name)
{
	char known[512], want[1400];
	registry_names(kind, known, sizeof known);
	snprintf(want, sizeof want, "%s: unknown %s \"%s\" (known: %s)", opt_url, kind, name, known);
	assert_string_equal(refused(L, nL, F, nF), want);
}

static void test_unknown_transport_or_protocol_refused(void **state)
{
	(void)state;
	static const struct { const char *url, *kind, *name; } bad_L[] = {
		{ "http+pht://:8080", "listener", "pht" },   /* GOST would run a plain HTTP proxy over tcp */
		{ "relay+kcp://:8080", "listener", "kcp" },
		{ "http+quic://:8080", "listener", "quic" },
		{ "socks5+quic://:8080", "listener", "quic" },
		{ "http+://:8080", "listener", "" },
		{ "nosuch+tcp://:1/127.0.0.1:2", "handler", "nosuch" },  /* not forgotten behind a target */
		{ "tun+tls://:8443", "handler", "tun" },
		{ "+tls://:8443", "handler", "" },
	};
	char opt[600];
	for (size_t i = 0; i < sizeof bad_L / sizeof *bad_L; i++) {
		char *L[] = { (char *)bad_L[i].url };
		snprintf(opt, sizeof opt, "-L %s", bad_L[i].url);
		expect_unknown(L, 1, NULL, 0, opt, bad_L[i].kind, bad_L[i].name);
	}
	static const struct { const char *url, *kind, *name; } bad_F[] = {
		{ "relay+phts://127.0.0.1:443", "dialer", "phts" },
		{ "relay+quic://127.0.0.1:443", "dialer", "quic" },
		{ "relay+kcp://127.0.0.1:443", "dialer", "kcp" },
		{ "sshd+tcp://127.0.0.1:8388", "connector", "sshd" },
	};
	char *L[] = { "http://:8080" };
	for (size_t i = 0; i < sizeof bad_F / sizeof *bad_F; i++) {
		char *F[] = { (char *)bad_F[i].url };
		snprintf(opt, sizeof opt, "-F %s", bad_F[i].url);
		expect_unknown(L, 1, F, 1, opt, bad_F[i].kind, bad_F[i].name);
	}
}

/* One word that is neither kind: both lists, as either could have been meant. */
static void test_unknown_word_refused(void **state)
{
	(void)state;
	char handlers[512], listeners[512], connectors[512], dialers[512], want[2400];
	registry_names("handler", handlers, sizeof handlers);
	registry_names("listener", listeners, sizeof listeners);
	registry_names("connector", connectors, sizeof connectors);
	registry_names("dialer", dialers, sizeof dialers);
	static const char *const words[] = { "phts", "pht", "kcp", "quic", "tun", "nosuch" };
	for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
		char url[64];
		snprintf(url, sizeof url, "%s://:8080", words[i]);
		char *L[] = { url };
		snprintf(want, sizeof want,
			 "-L %s: unknown scheme \"%s\": neither a handler (known: %s) nor a listener (known: %s)", url,
			 words[i], handlers, listeners);
		assert_string_equal(refused(L, 1, NULL, 0), want);
		char *L1[] = { "http://:8080" };
		char furl[64];
		snprintf(furl, sizeof furl, "%s://127.0.0.1:1", words[i]);
		char *F[] = { furl };
		snprintf(want, sizeof want,
			 "-F %s: unknown scheme \"%s\": neither a connector (known: %s) nor a dialer (known: %s)", furl,
			 words[i], connectors, dialers);
		assert_string_equal(refused(L1, 1, F, 1), want);
	}
	/* GOST writes a -F without a scheme as auto://, but there is no auto connector to name */
	char *L[] = { "http://:8080" };
	char *F[] = { "auto://127.0.0.1:1" };
	assert_contains(refused(L, 1, F, 1), "-F auto://127.0.0.1:1: unknown scheme \"auto\"");
	char *L3[] = { "http+tls+ws://:8080" };
	assert_string_equal(refused(L3, 1, NULL, 0),
			    "-L http+tls+ws://:8080: scheme \"http+tls+ws\" has more than two parts (expected TYPE or "
			    "TYPE+TRANSPORT)");
	char *F3[] = { "relay+tls+ws://127.0.0.1:1" };
	assert_contains(refused(L, 1, F3, 1), "-F relay+tls+ws://127.0.0.1:1: scheme \"relay+tls+ws\" has more than");
}

static void service_is(const char *url, const char *handler, const char *listener)
{
	struct config *c = one(url);
	assert_string_equal(c->services[0]->handler.type->name, handler);
	assert_string_equal(c->services[0]->listener.type->name, listener);
	drop(c);
}

static void node_is(const char *url, const char *connector, const char *dialer)
{
	char *L[] = { "http://:8080" };
	char *F[] = { (char *)url };
	struct config *c = urls(L, 1, F, 1);
	assert_string_equal(c->chains[0]->hops[0]->nodes[0]->connector.type->name, connector);
	assert_string_equal(c->chains[0]->hops[0]->nodes[0]->dialer.type->name, dialer);
	drop(c);
}

/* GOST's shorthands that name what portway has stay as they were. */
static void test_gost_shorthands_kept(void **state)
{
	(void)state;
	service_is(":8080", "auto", "tcp");             /* no scheme: the auto handler */
	service_is("auto://:8080", "auto", "tcp");
	service_is("http://:8080", "http", "tcp");      /* a handler only: over tcp */
	service_is("relay://:8080", "relay", "tcp");
	service_is("tls://:8443", "auto", "tls");       /* a listener only: auto over it */
	service_is("wss://:8443", "auto", "wss");
	service_is("ws://:8080", "auto", "ws");
	service_is("https://:8443", "http", "tls");     /* http+tls */
	service_is("socks://:1080", "socks5", "tcp");   /* the registry's aliases */
	service_is("socks4a://:1080", "socks4", "tcp");
	service_is("tcp://:8080/127.0.0.1:80", "tcp", "tcp");
	service_is("udp://:5353/127.0.0.1:53", "udp", "udp");
	service_is("forward+tls://:8443/127.0.0.1:80", "tcp", "tls");
	service_is("tls://:8443/127.0.0.1:80", "tcp", "tls");   /* a target makes a forward over the listener */
	service_is("http://:8080/127.0.0.1:80", "tcp", "tcp");
	service_is("relay://:8420/127.0.0.1:80", "relay", "tcp");
	node_is("127.0.0.1:1", "http", "tcp");          /* no scheme: the http connector */
	node_is("relay://127.0.0.1:1", "relay", "tcp");
	node_is("tls://127.0.0.1:1", "http", "tls");
	node_is("https://127.0.0.1:1", "http", "tls");
	node_is("direct://127.0.0.1:1", "forward", "tcp");
	node_is("socks://127.0.0.1:1", "socks5", "tcp");
	node_is("relay+wss://127.0.0.1:1", "relay", "wss");
}

/* GOST's ?auth=base64(user:pass): the handler's (or connector's) user, unless userinfo says. */
static void test_query_auth(void **state)
{
	(void)state;
	struct config *c = one("http://:8080?auth=YWxpY2U6czNjcmV0");   /* alice:s3cret */
	struct service *s = c->services[0];
	assert_string_equal(s->handler.auth.username, "alice");
	assert_string_equal(s->handler.auth.password, "s3cret");
	assert_true(service_auth_required(s));
	assert_false(service_auth_check(s, "alice", "x"));
	assert_null(md_str(s->handler.md, "auth", NULL));
	drop(c);
	/* URL alphabet without padding; a user without a colon has an empty password */
	c = one("socks5://:1080?auth=dX4-OnA_fg");       /* "u~>:p?~" */
	assert_string_equal(c->services[0]->handler.auth.username, "u~>");
	assert_string_equal(c->services[0]->handler.auth.password, "p?~");
	drop(c);
	c = one("socks5://:1080?auth=dX4%2BOnA%2Ffg%3D%3D");  /* the same, standard alphabet, padded */
	assert_string_equal(c->services[0]->handler.auth.username, "u~>");
	assert_string_equal(c->services[0]->handler.auth.password, "p?~");
	drop(c);
	c = one("http://:8080?auth=Ym9i");               /* bob */
	assert_string_equal(c->services[0]->handler.auth.username, "bob");
	assert_string_equal(c->services[0]->handler.auth.password, "");
	drop(c);
	/* userinfo wins, as in GOST */
	c = one("http://carol:pw@:8080?auth=YWxpY2U6czNjcmV0");
	assert_string_equal(c->services[0]->handler.auth.username, "carol");
	drop(c);
	char *L[] = { "http://:8080" };
	char *F[] = { "relay://127.0.0.1:8420?auth=YWxpY2U6czNjcmV0" };
	c = urls(L, 1, F, 1);
	assert_string_equal(c->chains[0]->hops[0]->nodes[0]->connector.auth.username, "alice");
	assert_string_equal(c->chains[0]->hops[0]->nodes[0]->connector.auth.password, "s3cret");
	drop(c);
	char *bad[] = { "http://:8080?auth=not*base64" };
	assert_string_equal(refused(bad, 1, NULL, 0), "-L http://:8080?auth=not*base64: auth: expected base64 of user:password");
	char *bad2[] = { "http://:8080?auth=YQ" };  /* fine */
	c = urls(bad2, 1, NULL, 0);
	assert_string_equal(c->services[0]->handler.auth.username, "a");
	drop(c);
	char *bad3[] = { "http://:8080?auth=AGE6Yg" };  /* a NUL byte */
	assert_contains(refused(bad3, 1, NULL, 0), "auth: expected base64 of user:password");
	char *badF[] = { "relay://127.0.0.1:8420?auth=%%%" };
	assert_contains(refused(L, 1, badF, 1), "-F relay://127.0.0.1:8420?auth=%%%: auth: expected base64");
}

/* Users on a handler that does not ask for them: refused, as the service would be open. */
static void test_users_where_not_asked_refused(void **state)
{
	(void)state;
	static const char *const urls_[] = { "tcp://alice:s3cret@:8080/127.0.0.1:80", "tcp://:8080/127.0.0.1:80?auth=YTpi",
					     "udp://alice:s3cret@:5353/127.0.0.1:53", "http://alice:s3cret@:8080/127.0.0.1:80",
					     "tls://alice:s3cret@:8443/127.0.0.1:80" };
	for (size_t i = 0; i < sizeof urls_ / sizeof *urls_; i++) {
		char *L[] = { (char *)urls_[i] };
		char want[600];
		snprintf(want, sizeof want, "%s: services[0].handler.auth: handler %s does not authenticate its clients, "
			 "so these users would not be asked for (handlers that do: auto, http, socks5, socks4, relay, ss, ssu, http2)",
			 urls_[i], strncmp(urls_[i], "udp", 3) ? "tcp" : "udp");
		assert_string_equal(refused(L, 1, NULL, 0), want);
	}
	/* a dialer that makes no TLS with TLS settings */
	char *L[] = { "http://:8080" };
	char *F[] = { "relay://127.0.0.1:8420?secure=true" };
	assert_string_equal(refused(L, 1, F, 1),
			    "relay://127.0.0.1:8420?secure=true: node node-0: dialer.tls: dialer tcp does not use TLS, so "
			    "it would not be applied (dialers that do: tls, wss, dtls, mtls, mwss, http2, h2, grpc)");
	char *F2[] = { "socks5+ws://127.0.0.1:1080?caFile=/x/ca.pem" };
	assert_contains(refused(L, 1, F2, 1), "dialer ws does not use TLS");
	/* credentials a connector does not send: accepted (with a warning) */
	char *F3[] = { "forward://bob:pw@127.0.0.1:1080" };
	struct config *c = urls(L, 1, F3, 1);
	drop(c);
}

/* Keys that would enforce something portway does not have: refused from the query too. */
/* GOST's config/cmd: ?admission=a,b (~: whitelist), ?climiter=N, ?rlimiter=R make the service's own
 * admission-N, climiter-N ("$ N") and rlimiter-N ("$ R"). */
static void test_query_admission_limiters(void **state)
{
	(void)state;
	struct cfg_err e;
	char *L[] = { "http://127.0.0.1:8080?admission=~127.0.0.1,10.0.0.0/8&climiter=3&rlimiter=0.5",
		      "socks5://127.0.0.1:1080?admission=192.168.0.0/16&climiter=0" };
	struct config *c = config_from_urls(L, 2, NULL, 0, &e);
	if (!c)
		fail_msg("%s", e.msg);
	assert_int_equal(c->n_admissions, 2);
	assert_string_equal(c->admissions[0]->name, "admission-0");
	assert_true(c->admissions[0]->whitelist);
	assert_int_equal(c->admissions[0]->n, 2);
	assert_false(c->admissions[1]->whitelist);
	assert_int_equal(c->services[0]->n_admissions, 1);
	assert_ptr_equal(c->services[0]->admissions[0], c->admissions[0]);
	assert_ptr_equal(c->services[1]->admissions[0], c->admissions[1]);
	assert_non_null(c->services[0]->climiter);
	assert_string_equal(c->services[0]->climiter->name, "climiter-0");
	assert_true(c->services[0]->climiter->global == 3);
	assert_true(c->services[0]->rlimiter->global == 0.5);
	assert_null(c->services[1]->climiter); /* 0: no limit, as GOST */
	assert_null(c->services[1]->rlimiter);
	drop(c);

	char *bad[] = { "http://:8080?climiter=ten" };
	assert_contains(refused(bad, 1, NULL, 0), "climiter: expected a whole number of connections, got \"ten\"");
	char *bad2[] = { "http://:8080?rlimiter=fast" };
	assert_contains(refused(bad2, 1, NULL, 0), "rlimiter: expected a number of requests per second, got \"fast\"");
	char *bad3[] = { "http://:8080?admission=~10.0.0.0/99" };
	assert_contains(refused(bad3, 1, NULL, 0), "\"10.0.0.0/99\" is not an IP address, a CIDR or a host name");
}

static void test_query_security_keys_refused(void **state)
{
	(void)state;
	/* admission, climiter, rlimiter: a service's own lists from -L's plain key (test_query_admission_limiters),
	 * refused with a prefix and on -F, where GOST would not apply them */
	static const char *const keys[] = { "admission=10.0.0.0/8", "climiter=10", "rlimiter=5",
					    "probeResist=code:404", "probe_resist=code:404", "probeResistance=code:404",
					    "knock=x.example", "quota=1GB" };
	char url[256], want[600], key[64];
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		snprintf(key, sizeof key, "%.*s", (int)strcspn(keys[i], "="), keys[i]);
		snprintf(url, sizeof url, "http://:8080?%s", keys[i]);
		char *L[] = { url };
		/* the first section that reads the metadata names it; handler. as prefix too */
		snprintf(want, sizeof want,
			 "%s: services[0].metadata.%s: is not implemented by portway, so it would not be enforced (remove "
			 "it to run without it)", url, key);
		if (i >= 3)
			assert_string_equal(refused(L, 1, NULL, 0), want);
		snprintf(url, sizeof url, "http://:8080?handler.%s", keys[i]);
		snprintf(want, sizeof want, "services[0].handler.metadata.%s: is not implemented by portway", key);
		assert_contains(refused(L, 1, NULL, 0), want);
		char *L1[] = { "http://:8080" };
		char furl[256];
		snprintf(furl, sizeof furl, "relay://127.0.0.1:8420?%s", keys[i]);
		char *F[] = { furl };
		snprintf(want, sizeof want, "%s: chains[0].hops[0].nodes[0].metadata.%s: is not implemented by portway",
			 furl, key);
		assert_contains(refused(L1, 1, F, 1), want);
	}
	char *L1[] = { "http://:8080" };
	char *F[] = { "relay://127.0.0.1:8420?hop.proxyProtocol=1" };
	assert_contains(refused(L1, 1, F, 1), "chains[0].hops[0].nodes[0].metadata.hop.proxyProtocol: is not implemented");
	/* -L proxyProtocol is the service's (receiving), as GOST's command line puts it; sending is not there */
	struct config *c = one("tcp://:8080/127.0.0.1:80?proxyProtocol=1");
	assert_int_equal(c->services[0]->proxy_protocol, 1);
	drop(c);
	/* handler.proxyProtocol: the forward handlers send the header; others would not */
	c = one("tcp://:8080/127.0.0.1:80?handler.proxyProtocol=2");
	assert_int_equal(c->services[0]->proxy_protocol, 0);
	drop(c);
	char *Lh[] = { "http://:8080?handler.proxyProtocol=1" };
	assert_contains(refused(Lh, 1, NULL, 0), "services[0].handler.metadata.proxyProtocol: is not implemented");
	char *Fp[] = { "relay://127.0.0.1:8420?proxyProtocol=1" };
	assert_contains(refused(L1, 1, Fp, 1), "chains[0].hops[0].nodes[0].metadata.proxyProtocol: is not implemented");
}

/* GOST's -L ?limiter.in=&limiter.out=&limiter.conn.in=&limiter.conn.out=: a limiter of the service's own. */
static void test_query_limiters(void **state)
{
	(void)state;
	char *L[] = { "http://:8080?limiter.in=100MB&limiter.out=50MB&limiter.conn.in=10MB&limiter.conn.out=5MB",
		      "tcp://:8081/127.0.0.1:80?limiter.out=2MB", "socks5://:8082" };
	struct config *c = urls(L, 3, NULL, 0);
	assert_int_equal(c->n_limiters, 2);
	const struct traffic_limiter *a = c->services[0]->limiter, *b = c->services[1]->limiter;
	assert_non_null(a);
	assert_string_equal(a->name, "limiter-0");
	assert_int_equal(a->svc_in.rate, 100 << 20);
	assert_int_equal(a->svc_out.rate, 50 << 20);
	assert_int_equal(a->conn.in, 10 << 20);
	assert_int_equal(a->conn.out, 5 << 20);
	/* an output rate alone limits the output (GOST's own command line would make it the input's) */
	assert_string_equal(b->name, "limiter-1");
	assert_false(b->has_svc_in);
	assert_true(b->has_svc_out);
	assert_int_equal(b->svc_out.rate, 2 << 20);
	assert_int_equal(b->conn.in, 0);
	assert_null(c->services[2]->limiter);
	drop(c);
	/* a malformed rate is the URL's error */
	char *L2[] = { "http://:8080?limiter.conn.out=5mb" };
	assert_contains(refused(L2, 1, NULL, 0), "limiters[0].limits[0]: output rate \"5mb\" is not a byte quantity");
	/* a node has no limiter: the keys stay metadata there, and are refused */
	char *L1[] = { "http://:8080" };
	char *F[] = { "relay://127.0.0.1:8420?limiter.in=1MB" };
	assert_contains(refused(L1, 1, F, 1), "chains[0].hops[0].nodes[0].metadata.limiter.in: is not implemented");
	char *L3[] = { "http://:8080?handler.limiter.out=1MB" };
	assert_contains(refused(L3, 1, NULL, 0), "services[0].handler.metadata.limiter.out: is not implemented");
}

/* -metrics: GOST's [user:pass@]host:port[?path=/p]; off loopback only with credentials. */
static void test_metrics_flag(void **state)
{
	(void)state;
	struct metrics_cfg m;
	assert_int_equal(metrics_flag_parse("127.0.0.1:9000", &m, &err), 0);
	assert_string_equal(m.host, "127.0.0.1");
	assert_int_equal(m.port, 9000);
	assert_string_equal(m.path, "/metrics");
	assert_null(m.auth.username);
	metrics_flag_free(&m);
	assert_int_equal(metrics_flag_parse("u:p%40ss@:9001?path=/m", &m, &err), 0);
	assert_string_equal(m.host, "");
	assert_int_equal(m.port, 9001);
	assert_string_equal(m.path, "/m");
	assert_string_equal(m.auth.username, "u");
	assert_string_equal(m.auth.password, "p@ss");
	metrics_flag_free(&m);
	const char *loopback[] = { "[::1]:9000", "localhost:9000", "127.1.2.3:9000", "[::ffff:127.0.0.1]:9000" };
	for (size_t i = 0; i < sizeof loopback / sizeof *loopback; i++) {
		assert_int_equal(metrics_flag_parse(loopback[i], &m, &err), 0);
		metrics_flag_free(&m);
	}
	assert_int_equal(metrics_flag_parse(":9000", &m, &err), -1);
	assert_non_null(strstr(err.msg, "not a loopback address"));
	assert_int_equal(metrics_flag_parse("0.0.0.0:9000", &m, &err), -1);
	assert_int_equal(metrics_flag_parse("[::ffff:10.0.0.1]:9000", &m, &err), -1);
	assert_int_equal(metrics_flag_parse("127.0.0.1", &m, &err), -1);
	assert_int_equal(metrics_flag_parse("127.0.0.1:9000/metrics", &m, &err), -1);
	assert_int_equal(metrics_flag_parse("socks5://127.0.0.1:9000", &m, &err), -1);
	assert_int_equal(metrics_flag_parse("127.0.0.1:9000?path=metrics", &m, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_flag),
		cmocka_unit_test(test_tcp_forward),
		cmocka_unit_test(test_udp_forward_several_targets),
		cmocka_unit_test(test_forward_alias_and_ipv6_listen),
		cmocka_unit_test(test_userinfo),
		cmocka_unit_test(test_userinfo_sshd_goes_to_listener),
		cmocka_unit_test(test_userinfo_percent_and_at),
		cmocka_unit_test(test_query_goes_to_metadata),
		cmocka_unit_test(test_query_selector),
		cmocka_unit_test(test_hop_selector),
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
		cmocka_unit_test(test_unknown_transport_or_protocol_refused),
		cmocka_unit_test(test_unknown_word_refused),
		cmocka_unit_test(test_gost_shorthands_kept),
		cmocka_unit_test(test_query_auth),
		cmocka_unit_test(test_users_where_not_asked_refused),
		cmocka_unit_test(test_query_security_keys_refused),
		cmocka_unit_test(test_query_admission_limiters),
		cmocka_unit_test(test_query_limiters),
		cmocka_unit_test(test_shadowsocks_userinfo),
	};
	log_set_level("error");
	return cmocka_run_group_tests(tests, make_cert, remove_cert);
}
