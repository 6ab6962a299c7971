/*
 * Unit tests for the configuration loader (src/config.c, src/cnode.c):
 * valid files build the model they describe; every invalid file is refused
 * with its exact "file:line:col: field: message".
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
#include <sys/socket.h>

#include "src/core/log.h"
#include "src/conf/access.h"
#include "src/conf/dns.h"
#include "src/conf/cnode_json.h"
#include "src/conf/limiter.h"
#include "src/conf/model.h"
#include "src/svc/router.h"

static char dir[64];
static char path[128];
static struct cfg_err err;
static int nfile;

/* Release a config that never ran: each service's own reference (the
 * running set's, taken at load), then the loader's. */
static void drop(struct config *c)
{
	for (size_t i = 0; i < c->n_services; i++)
		service_unref(c->services[i]);
	config_unref(c);
}

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/portway-config-test-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write text to a fresh file; path holds its name. */
static const char *write_file(const char *text)
{
	snprintf(path, sizeof path, "%s/c%d.yaml", dir, ++nfile);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct config *load_ok(const char *text)
{
	memset(&err, 0, sizeof err);
	struct config *c = config_load_file(write_file(text), &err);
	if (!c)
		fail_msg("refused: %s\n---\n%s", err.msg, text);
	return c;
}

/*
 * The file must be refused with exactly "<path>:<line>:<col>: <msg>", where
 * col is that of the first occurrence of token in that line (1 if NULL):
 * the expected position is written as what the user sees there.
 */
static void load_fails(const char *text, int line, const char *token, const char *msg)
{
	char want[1024];
	int col = 1;
	const char *l = text;
	for (int i = 1; i < line && l; i++)
		if ((l = strchr(l, '\n')))
			l++;
	assert_non_null(l);
	if (token) {
		const char *eol = strchr(l, '\n'), *t = strstr(l, token);
		if (!t || (eol && t > eol))
			fail_msg("test bug: \"%s\" not in line %d", token, line);
		col = (int)(t - l) + 1;
	}
	memset(&err, 0, sizeof err);
	struct config *c = config_load_file(write_file(text), &err);
	if (c) {
		drop(c);
		fail_msg("accepted:\n%s", text);
	}
	snprintf(want, sizeof want, "%s:%d:%d: %s", path, line, col, msg);
	assert_string_equal(err.msg, want);
}


/* ---- selectors (GOST's strategies, node weight and backup) ---- */

static const char sel_yaml[] =
	"services:\n"
	"  - addr: 127.0.0.1:1\n"
	"    handler: {type: tcp}\n"
	"    forwarder:\n"
	"      selector: {strategy: %s, maxFails: 1, failTimeout: 30s}\n"
	"      nodes:\n"
	"        - {name: a, addr: 127.0.0.1:2, metadata: {weight: %s}}\n"
	"        - {name: b, addr: 127.0.0.1:3, metadata: {maxFails: 3, failTimeout: 1m}}\n"
	"        - {name: c, addr: 127.0.0.1:4, metadata: {backup: true}}\n";

static struct config *sel_load(const char *strategy, const char *weight)
{
	char text[1024];
	snprintf(text, sizeof text, sel_yaml, strategy, weight);
	return load_ok(text);
}

static void test_selector_hash(void **state)
{
	(void)state;
	struct config *c = sel_load("hash", "1");
	struct hop *h = c->services[0]->forwarder;
	assert_int_equal(h->sel.strategy, SEL_HASH);
	/* the same key, the same node while the set does not change; the backup never */
	int seen[2] = { 0, 0 };
	char key[32];
	for (int k = 0; k < 64; k++) {
		snprintf(key, sizeof key, "127.0.0.%d", k);
		struct node *first = hop_select(h, NULL, 0, key);
		for (int i = 0; i < 8; i++)
			assert_ptr_equal(hop_select(h, NULL, 0, key), first);
		assert_true(first == h->nodes[0] || first == h->nodes[1]);
		seen[first == h->nodes[1]] = 1;
	}
	assert_true(seen[0] && seen[1]);
	/* no key: still one of the primaries */
	for (int i = 0; i < 16; i++)
		assert_ptr_not_equal(hop_select(h, NULL, 0, NULL), h->nodes[2]);
	drop(c);
}

static void test_selector_node_metadata(void **state)
{
	(void)state;
	struct config *c = sel_load("round", "20");
	struct hop *h = c->services[0]->forwarder;
	struct node *a = h->nodes[0], *b = h->nodes[1], *bk = h->nodes[2];
	assert_int_equal(a->sel.weight, 20);
	assert_int_equal(b->sel.weight, 1);
	assert_int_equal(b->sel.max_fails, 3);
	assert_true(b->sel.fail_timeout == 60);
	assert_int_equal(a->sel.max_fails, 0); /* the hop's */
	assert_true(bk->sel.backup && !a->sel.backup);
	/* round robin over the primaries only */
	for (int i = 0; i < 8; i++)
		assert_ptr_not_equal(hop_select(h, NULL, 0, NULL), bk);
	/* a fails once (the hop's maxFails 1): only b; b needs three failures of its own */
	node_mark_failed(h, a);
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(hop_select(h, NULL, 0, NULL), b);
	node_mark_failed(h, b);
	node_mark_failed(h, b);
	assert_ptr_equal(hop_select(h, NULL, 0, NULL), b);
	node_mark_failed(h, b);
	/* every primary down: the backup */
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(hop_select(h, NULL, 0, NULL), bk);
	/* a primary back: the backup leaves the selection again */
	node_mark_ok(a);
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(hop_select(h, NULL, 0, NULL), a);
	/* the backup tried and excluded, primaries down: one of them is tried anyway */
	node_mark_failed(h, a);
	struct node *ex[] = { bk };
	assert_ptr_not_equal(hop_select(h, ex, 1, NULL), bk);
	drop(c);
}

static void test_selector_weights(void **state)
{
	(void)state;
	struct config *c = sel_load("rand", "9");
	struct hop *h = c->services[0]->forwarder;
	assert_int_equal(h->sel.strategy, SEL_RANDOM);
	int na = 0;
	for (int i = 0; i < 4000; i++) {
		struct node *n = hop_select(h, NULL, 0, NULL);
		assert_ptr_not_equal(n, h->nodes[2]);
		na += n == h->nodes[0];
	}
	/* 9:1, expected 3600: far from the 2000 of equal weights */
	assert_true(na > 3300 && na < 3900);
	drop(c);
}

static void test_selector_errors(void **state)
{
	(void)state;
	const char *pre = "services:\n  - addr: :1\n    handler: {type: tcp}\n";
	char text[1024];
	snprintf(text, sizeof text, "%s    forwarder: {nodes: [{addr: 1.1.1.1:1}], selector: {strategy: parallel}}\n", pre);
	load_fails(text, 4, "parallel",
		   "strategy: strategy \"parallel\" is not implemented in portway (known: round, rand, fifo, hash)");
	snprintf(text, sizeof text, "%s    forwarder: {nodes: [{addr: 1.1.1.1:1}], selector: {strategy: lowestLatency}}\n",
		 pre);
	load_fails(text, 4, "lowestLatency",
		   "strategy: strategy \"lowestLatency\" is not implemented in portway (known: round, rand, fifo, hash)");
	snprintf(text, sizeof text, "%s    forwarder: {nodes: [{addr: 1.1.1.1:1, metadata: {weight: -2}}]}\n", pre);
	load_fails(text, 4, "-2", "weight: expected a whole number from 0 to 1000000, got \"-2\"");
	snprintf(text, sizeof text, "%s    forwarder: {nodes: [{addr: 1.1.1.1:1, metadata: {backup: maybe}}]}\n", pre);
	load_fails(text, 4, "maybe", "backup: expected true or false, got \"maybe\"");
	snprintf(text, sizeof text, "%s    forwarder: {nodes: [{addr: 1.1.1.1:1, metadata: {failTimeout: soon}}]}\n", pre);
	load_fails(text, 4, "soon", "failTimeout: expected a duration such as 10s, 500ms or 1m, got \"soon\"");
	load_fails("services:\n  - addr: :1\n    handler: {type: socks5, metadata: {hash: client}}\n", 3, "client",
		   "handler.metadata.hash: unknown hash \"client\" (known: host; unset: the client's IP)");
	struct config *c = load_ok("services:\n  - addr: :1\n    handler: {type: socks5, metadata: {hash: host}}\n");
	drop(c);
}

/* ---- valid files ---- */

static void test_forward_service(void **state)
{
	(void)state;
	struct config *c = load_ok("services:\n"
				   "  - name: web\n"
				   "    addr: 127.0.0.1:8080\n"
				   "    handler:\n"
				   "      type: tcp\n"
				   "      metadata:\n"
				   "        idleTimeout: 30s\n"
				   "    listener:\n"
				   "      type: tcp\n"
				   "    forwarder:\n"
				   "      selector:\n"
				   "        strategy: random\n"
				   "        maxFails: 2\n"
				   "        failTimeout: 1m\n"
				   "      nodes:\n"
				   "        - name: a\n"
				   "          addr: 10.0.0.1:80\n"
				   "        - addr: \"[::1]:81\"\n");
	assert_int_equal(c->n_services, 1);
	struct service *s = c->services[0];
	assert_string_equal(s->name, "web");
	assert_string_equal(s->host, "127.0.0.1");
	assert_int_equal(s->port, 8080);
	assert_string_equal(s->handler.type->name, "tcp");
	assert_string_equal(s->listener.type->name, "tcp");
	assert_string_equal(md_str(s->handler.md, "idletimeout", NULL), "30s");
	assert_non_null(s->forwarder);
	assert_int_equal(s->forwarder->sel.strategy, SEL_RANDOM);
	assert_int_equal(s->forwarder->sel.max_fails, 2);
	assert_true(s->forwarder->sel.fail_timeout == 60);
	assert_int_equal(s->forwarder->n_nodes, 2);
	assert_string_equal(s->forwarder->nodes[0]->name, "a");
	assert_string_equal(s->forwarder->nodes[1]->name, "node-1");
	assert_string_equal(s->forwarder->nodes[1]->host, "::1");
	assert_int_equal(s->forwarder->nodes[1]->port, 81);
	assert_ptr_equal(s->owner, c);
	assert_int_equal(c->workers, 0);
	assert_string_equal(c->path, path);
	drop(c);
}

static void test_defaults_and_udp(void **state)
{
	(void)state;
	struct config *c = load_ok("workers: 3\n"
				   "log:\n"
				   "  level: warn\n"
				   "  format: json\n"
				   "services:\n"
				   "- addr: :5353\n"
				   "  handler: {type: udp, metadata: {ttl: 5s}}\n"
				   "  listener: {type: udp}\n"
				   "  forwarder: {nodes: [{addr: 127.0.0.1:53}]}\n"
				   "- addr: :5354\n"
				   "  handler: {type: UDP}\n"
				   "  listener: {type: Udp}\n"
				   "  forwarder: {nodes: [{addr: 127.0.0.1:53}]}\n");
	assert_int_equal(c->workers, 3);
	assert_string_equal(c->log_level, "warn");
	assert_string_equal(c->log_format, "json");
	assert_int_equal(c->n_services, 2);
	/* unnamed services get a name from their position */
	assert_string_equal(c->services[0]->name, "service-0");
	assert_string_equal(c->services[1]->name, "service-1");
	assert_string_equal(c->services[1]->handler.type->name, "udp"); /* type names are case-insensitive */
	assert_int_equal(c->services[0]->forwarder->sel.strategy, SEL_ROUND);
	assert_int_equal(c->services[0]->forwarder->sel.max_fails, 1);
	assert_true(c->services[0]->forwarder->sel.fail_timeout == 10);
	drop(c);
	log_set_level("error");
	c = load_ok("log:\n  output: /tmp/portway.log\n  rotation:\n    maxSize: 0.5\n    maxAge: 10\n    maxBackups: 3\n"
		    "    localTime: true\n    compress: true\n");
	assert_true(c->log_rotation.enabled);
	assert_int_equal(c->log_rotation.max_bytes, 512 * 1024);
	assert_int_equal(c->log_rotation.max_age_days, 10);
	assert_int_equal(c->log_rotation.max_backups, 3);
	assert_true(c->log_rotation.local_time && c->log_rotation.compress);
	drop(c);
	/* GOST's documented example rotates stderr, where rotation does nothing: accepted, not enabled */
	c = load_ok("log:\n  output: stderr\n  rotation: {maxSize: 100}\n");
	assert_false(c->log_rotation.enabled);
	drop(c);
}

static void test_empty_file(void **state)
{
	(void)state;
	struct config *c = load_ok("");
	assert_int_equal(c->n_services, 0);
	drop(c);
	c = load_ok("# only a comment\n");
	assert_int_equal(c->n_services, 0);
	drop(c);
	c = load_ok("services: []\nchains:\n");
	assert_int_equal(c->n_services, 0);
	drop(c);
}

static void test_chains_hops_authers_bypasses(void **state)
{
	(void)state;
	char users[200];
	snprintf(users, sizeof users, "%s/users.txt", dir);
	FILE *f = fopen(users, "w");
	assert_non_null(f);
	fputs("# users\ncarol c-pass\n\ndave\n", f);
	fclose(f);
	char text[2048];
	snprintf(text, sizeof text,
		 "hops:\n"
		 "  - name: shared\n"
		 "    nodes:\n"
		 "      - name: s1\n"
		 "        addr: 127.0.0.1:1080\n"
		 "        connector: {type: forward}\n"
		 "chains:\n"
		 "  - name: c1\n"
		 "    hops:\n"
		 "      - name: shared\n"
		 "      - name: own\n"
		 "        nodes:\n"
		 "          - addr: 127.0.0.1:1081\n"
		 "            connector:\n"
		 "              type: forward\n"
		 "              auth: {username: u, password: p}\n"
		 "            dialer: {type: udp}\n"
		 "authers:\n"
		 "  - name: staff\n"
		 "    auths:\n"
		 "      - {username: alice, password: a-pass}\n"
		 "      - {username: bob}\n"
		 "    file: %s\n"
		 "bypasses:\n"
		 "  - name: local\n"
		 "    matchers: [\"10.0.0.0/8\", \"*.internal\", \".example.com\", localhost]\n"
		 "  - name: only\n"
		 "    whitelist: true\n"
		 "    matchers: [\"192.168.1.0/24\"]\n"
		 "services:\n"
		 "  - name: fwd\n"
		 "    addr: :8080\n"
		 "    bypass: local\n"
		 "    handler:\n"
		 "      type: relay\n"  /* a handler that asks for users (tcp would be refused) */
		 "      chain: c1\n"
		 "      auther: staff\n"
		 "    forwarder:\n"
		 "      hop: shared\n",
		 users);
	struct config *c = load_ok(text);
	assert_int_equal(c->n_chains, 1);
	struct chain *ch = c->chains[0];
	assert_int_equal(ch->n_hops, 2);
	assert_string_equal(ch->hops[0]->name, "shared");
	/* a hop named by reference is the top-level one, not a copy */
	assert_ptr_equal(ch->hops[0], c->hops[0]);
	struct node *own = ch->hops[1]->nodes[0];
	assert_string_equal(own->connector.type->name, "forward");
	assert_string_equal(own->dialer.type->name, "udp");
	assert_string_equal(own->connector.auth.username, "u");
	/* default connector and dialer of a chain node: http over tcp, when http exists */
	struct service *s = c->services[0];
	assert_ptr_equal(s->handler.chain, ch);
	assert_ptr_equal(s->forwarder, c->hops[0]);
	assert_ptr_equal(s->bypass, c->bypasses[0]);

	/* authers: inline users then the file's */
	assert_int_equal(c->n_authers, 1);
	assert_int_equal(c->authers[0]->n_users, 4);
	assert_true(service_auth_check(s, "alice", "a-pass"));
	assert_true(service_auth_check(s, "bob", ""));
	assert_true(service_auth_check(s, "carol", "c-pass"));
	assert_true(service_auth_check(s, "dave", ""));
	assert_false(service_auth_check(s, "alice", "c-pass"));
	assert_false(service_auth_check(s, "eve", ""));
	assert_false(service_auth_check(s, NULL, NULL));

	/* bypass matchers */
	const struct bypass *b = c->bypasses[0];
	assert_true(bypass_match(b, "10.1.2.3"));
	assert_false(bypass_match(b, "11.1.2.3"));
	assert_true(bypass_match(b, "db.internal"));
	assert_true(bypass_match(b, "example.com"));
	assert_true(bypass_match(b, "www.example.com"));
	assert_false(bypass_match(b, "badexample.com"));
	assert_true(bypass_match(b, "LOCALHOST"));
	assert_false(bypass_match(b, "example.org"));
	const struct bypass *w = c->bypasses[1];
	assert_false(bypass_match(w, "192.168.1.20"));
	assert_true(bypass_match(w, "192.168.2.20"));
	assert_false(bypass_match(NULL, "x"));
	drop(c);
}

static void test_limiters(void **state)
{
	(void)state;
	struct config *c = load_ok("services:\n"
				   "  - name: a\n"
				   "    addr: :8080\n"
				   "    limiter: lim\n"
				   "    handler: {type: http}\n"
				   "  - name: b\n"
				   "    addr: :8081\n"
				   "    handler: {type: http}\n"
				   "limiters:\n"
				   "  - name: lim\n"
				   "    limits:\n"
				   "    - '$ 100MB 50MB'\n"
				   "    - '$$ 10MB'\n"
				   "  - name: other\n"
				   "    limits: ['$$ 1KB 2KB 4KB']\n");
	assert_int_equal(c->n_limiters, 2);
	const struct traffic_limiter *l = c->services[0]->limiter;
	assert_non_null(l);
	assert_ptr_equal(l, c->limiters[0]);
	assert_null(c->services[1]->limiter);
	assert_int_equal(l->svc_in.rate, 100 << 20);
	assert_int_equal(l->svc_out.rate, 50 << 20);
	assert_int_equal(l->conn.in, 10 << 20);
	assert_int_equal(l->conn.out, 0);
	assert_int_equal(c->limiters[1]->conn.burst, 4096);
	assert_false(c->limiters[1]->has_svc_in);
	drop(c);
	/* IP and CIDR lines: an exact address before any block, then the widest block; a later
	 * line for the same scope replaces the earlier */
	c = load_ok("limiters:\n"
		    "  - name: h\n"
		    "    limits:\n"
		    "    - '10.1.2.3 1KB 2KB'\n"
		    "    - '10.1.0.0/16 3KB'\n"
		    "    - '10.0.0.0/8 4KB'\n"
		    "    - '10.1.2.3/32 5KB'\n"
		    "    - '2001:db8::/32 6KB'\n"
		    "    - '10.0.0.0/8 7KB'\n");
	struct traffic_limiter *hl = c->limiters[0];
	l = hl;
	assert_int_equal(l->n_hosts, 5); /* "10.1.2.3/32" is a block of its own */
	struct ip_addr a;
	assert_int_equal(ip_addr_parse("10.1.2.3", 8, &a), 0);
	assert_int_equal(traffic_limiter_host_line(l, &a)->in, 1024);
	assert_int_equal(traffic_limiter_host_line(l, &a)->out, 2048);
	/* in 10.1.0.0/16 and 10.0.0.0/8: the wider, which the last line set to 7KB */
	assert_int_equal(ip_addr_parse("10.1.2.4", 8, &a), 0);
	assert_int_equal(traffic_limiter_host_line(l, &a)->in, 7 * 1024);
	assert_int_equal(ip_addr_parse("11.1.2.4", 8, &a), 0);
	assert_null(traffic_limiter_host_line(l, &a));
	assert_int_equal(ip_addr_parse("2001:db8:909::1", 15, &a), 0);
	assert_int_equal(traffic_limiter_host_line(l, &a)->in, 6 * 1024);
	assert_int_equal(ip_addr_parse("2001:db9::1", 11, &a), 0);
	assert_null(traffic_limiter_host_line(l, &a));
	/* connections from one address share its buckets; another address has its own */
	struct rate_conn *r1 = traffic_limiter_conn(hl, "10.9.9.9:1000"), *r2 = traffic_limiter_conn(hl, "10.9.9.9:1001");
	struct rate_conn *r3 = traffic_limiter_conn(hl, "[::ffff:10.9.9.8]:1000");
	assert_non_null(r1);
	assert_int_equal(r1->n_in, 1);
	assert_int_equal(r1->n_out, 0);
	assert_ptr_equal(r1->in[0], r2->in[0]);
	assert_ptr_not_equal(r1->in[0], r3->in[0]);
	assert_null(traffic_limiter_conn(hl, "192.0.2.1:1"));
	assert_null(traffic_limiter_conn(hl, "/run/x.sock"));
	rate_conn_release(r1);
	rate_conn_release(r2);
	rate_conn_release(r3);
	drop(c);
	/* a limiter's lines are part of the fingerprint of the services that could name it */
	struct config *c1 = load_ok("services: [{name: a, addr: ':1', limiter: l, handler: {type: http}}]\n"
				    "limiters: [{name: l, limits: ['$ 1MB']}]\n");
	struct config *c2 = load_ok("services: [{name: a, addr: ':1', limiter: l, handler: {type: http}}]\n"
				    "limiters: [{name: l, limits: ['$ 2MB']}]\n");
	assert_string_not_equal(c1->services[0]->fingerprint, c2->services[0]->fingerprint);
	drop(c1);
	drop(c2);
}

static void test_limiter_errors(void **state)
{
	(void)state;
	load_fails("services:\n  - addr: :1\n    limiter: nope\n    handler: {type: http}\n", 3, "nope",
		   "services[0].limiter: no limiter named \"nope\" in limiters");
	load_fails("limiters:\n  - name: l\n    limits: ['$ 100']\n", 3, "'$",
		   "limiters[0].limits[0]: input rate \"100\" is not a byte quantity such as 512KB, 1MB or 1.5GiB");
	load_fails("limiters:\n  - name: l\n    limits:\n    - '$$'\n", 4, "'$",
		   "limiters[0].limits[0]: a limit is \"SCOPE IN [OUT [BURST]]\" (SCOPE $, $$, an IP or a CIDR)");
	load_fails("limiters:\n  - name: l\n    limits:\n    - {a: b}\n", 4, "{",
		   "limiters[0].limits[0]: a limit line such as \"$ 100MB 100MB\" is required");
	load_fails("limiters:\n  - name: l\n    limits: '$ 1MB'\n", 3, "'$",
		   "limiters[0].limits: a list of limit lines is required");
	load_fails("limiters:\n  - limits: ['$ 1MB']\n", 2, "limits",
		   "limiters[0].name: a name is required");
	load_fails("limiters:\n  - name: l\n  - name: l\n", 3, "l",
		   "limiters[1]: a second limiter named \"l\"");
	load_fails("limiters:\n  - name: l\n    limit: ['$ 1MB']\n", 3, "limit",
		   "limiters[0].limit: unknown key (expected one of: name, limits)");
	load_fails("services:\n  - addr: :1\n    limiter: l\n    handler: {type: udp}\n    listener: {type: udp}\n"
		   "    forwarder: {nodes: [{addr: 127.0.0.1:53}]}\n"
		   "limiters: [{name: l, limits: ['$ 1MB']}]\n", 3, "l\n",
		   "services[0].limiter: bandwidth limits on a datagram listener (udp) are not implemented by portway");
}

static void test_ignored_keys_are_accepted(void **state)
{
	(void)state;
	/* limiter was here: it limits, so it is refused now (test_security_keys_refused) */
	struct config *c = load_ok("profiling:\n  addr: :6060\n"
				   "services:\n"
				   "  - name: s\n"
				   "    addr: :8080\n"
				   "    observer: x\n"
				   "    handler: {type: tcp}\n"
				   "    forwarder: {nodes: [{addr: 127.0.0.1:80, sockopts: {mark: 1}}]}\n");
	assert_int_equal(c->n_services, 1);
	drop(c);
}

static void test_hosts_and_resolvers(void **state)
{
	(void)state;
	struct config *c = load_ok("hosts:\n"
				   "  - name: h\n"
				   "    mappings:\n"
				   "      - {ip: 127.0.0.3, hostname: backend.test, aliases: [b.test]}\n"
				   "      - {ip: '::1', hostname: backend.test}\n"
				   "      - {ip: 127.0.0.2, hostname: .corp.test}\n"
				   "resolvers:\n"
				   "  - name: r\n"
				   "    nameservers:\n"
				   "      - addr: 127.0.0.1:5353\n"
				   "      - {addr: 'tcp://[::1]', prefer: ipv6, ttl: 30s, timeout: 2s}\n"
				   "      - {addr: udp://127.0.0.1, only: ip4, ttl: -1s}\n"
				   "chains:\n"
				   "  - name: ch\n"
				   "    hops:\n"
				   "      - name: hp\n"
				   "        hosts: h\n"
				   "        nodes:\n"
				   "          - {addr: 'proxy.test:1', resolver: r}\n"
				   "          - {addr: 'proxy.test:2', hosts: ''}\n"
				   "services:\n"
				   "  - name: s\n"
				   "    addr: :8080\n"
				   "    hosts: h\n"
				   "    resolver: r\n"
				   "    handler: {type: tcp, chain: ch}\n"
				   "    forwarder: {nodes: [{addr: backend.test:80}]}\n");
	const struct service *s = c->services[0];
	assert_ptr_equal(s->hosts, c->hosts[0]);
	assert_ptr_equal(s->resolver, c->resolvers[0]);
	const struct hop *hp = s->handler.chain->hops[0];
	assert_ptr_equal(hp->nodes[0]->hosts, c->hosts[0]);
	assert_ptr_equal(hp->nodes[0]->resolver, c->resolvers[0]);
	assert_ptr_equal(hp->nodes[1]->hosts, c->hosts[0]); /* empty: the hop's */
	assert_null(hp->nodes[1]->resolver);
	const struct resolver_cfg *r = c->resolvers[0];
	assert_int_equal(r->n_ns, 3);
	assert_int_equal(r->ns[0].proto, NS_UDP);
	assert_string_equal(r->ns[0].host, "127.0.0.1");
	assert_int_equal(r->ns[0].port, 5353);
	assert_true(r->ns[0].timeout == 5);
	assert_int_equal(r->ns[1].proto, NS_TCP);
	assert_string_equal(r->ns[1].host, "::1");
	assert_int_equal(r->ns[1].port, 53);
	assert_int_equal(r->ns[1].prefer, IP_PREF_V6);
	assert_true(r->ns[1].ttl == 30 && r->ns[1].timeout == 2);
	assert_int_equal(r->ns[2].only, IP_PREF_V4);
	assert_int_equal(r->ns[2].prefer, IP_PREF_V4);
	assert_true(r->ns[2].ttl < 0);
	const struct hosts_table *h = c->hosts[0];
	assert_string_equal(hosts_lookup(h, "backend.test", 0), "127.0.0.3");
	assert_string_equal(hosts_lookup(h, "BACKEND.test", AF_INET6), "::1");
	assert_string_equal(hosts_lookup(h, "b.test", AF_INET), "127.0.0.3");
	assert_null(hosts_lookup(h, "b.test", AF_INET6)); /* the name matched: no wildcard fallback */
	assert_string_equal(hosts_lookup(h, "corp.test", 0), "127.0.0.2");
	assert_string_equal(hosts_lookup(h, "a.b.corp.test", 0), "127.0.0.2");
	assert_null(hosts_lookup(h, "xcorp.test", 0));
	assert_null(hosts_lookup(h, "other.test", 0));
	drop(c);
}

static void test_hosts_and_resolvers_refused(void **state)
{
	(void)state;
	const char *svc = "services:\n  - {name: s, addr: ':1', handler: {type: tcp}, forwarder: {nodes: [{addr: a:1}]}";
	char text[1024];
	snprintf(text, sizeof text, "%s, hosts: nope}\n", svc);
	load_fails(text, 2, "nope", "services[0].hosts: no hosts named \"nope\" in hosts");
	snprintf(text, sizeof text, "%s, resolver: nope}\n", svc);
	load_fails(text, 2, "nope", "services[0].resolver: no resolver named \"nope\" in resolvers");
	load_fails("hosts:\n  - name: h\n    file: {path: /etc/hosts}\n", 3, "file",
		   "hosts[0].file: is not implemented by portway (implemented here: name, mappings)");
	load_fails("hosts:\n  - name: h\n    mappings: [{ip: 1.2.3, hostname: a}]\n", 3, "1.2.3",
		   "hosts[0].mappings[0].ip: \"1.2.3\" is not an IPv4 or IPv6 address");
	load_fails("hosts:\n  - name: h\n    mappings: [{ip: 1.2.3.4}]\n", 3, "{ip",
		   "hosts[0].mappings[0].hostname: is required");
	load_fails("hosts:\n  - mappings: []\n", 2, "mappings", "hosts[0].name: is required");
	load_fails("hosts:\n  - name: h\n  - name: h\n", 3, "name", "hosts[1]: a second hosts named \"h\"");
	load_fails("resolvers:\n  - name: r\n    nameservers: [{addr: 'tls://1.1.1.1:853'}]\n", 3, "'tls",
		   "resolvers[0].nameservers[0].addr: tls:// (DNS over TLS) is not implemented by portway");
	load_fails("resolvers:\n  - name: r\n    nameservers: [{addr: 'https://1.0.0.1/dns-query'}]\n", 3, "'https",
		   "resolvers[0].nameservers[0].addr: https:// (DNS over HTTPS) is not implemented by portway");
	load_fails("resolvers:\n  - name: r\n    nameservers: [{addr: dns.google}]\n", 3, "dns.google",
		   "resolvers[0].nameservers[0].addr: \"dns.google\": the nameserver must be an IP address (a name would "
		   "need resolving itself)");
	load_fails("resolvers:\n  - name: r\n    nameservers: [{addr: '1.1.1.1:99999'}]\n", 3, "'1.1.1.1",
		   "resolvers[0].nameservers[0].addr: \"1.1.1.1:99999\" is not [udp|tcp://]ip[:port]");
	load_fails("resolvers:\n  - name: r\n    nameservers: [{addr: 1.1.1.1, chain: c}]\n", 3, "c}",
		   "resolvers[0].nameservers[0].chain: is not implemented by portway (queries go straight to the "
		   "nameserver)");
	load_fails("resolvers:\n  - name: r\n    nameservers: [{addr: 1.1.1.1, clientIP: 1.2.3.4}]\n", 3, "clientIP",
		   "resolvers[0].nameservers[0].clientIP: is not implemented by portway (implemented here: addr, prefer, "
		   "only, ttl, timeout, hostname, chain)");
	load_fails("resolvers:\n  - name: r\n    nameservers: [{addr: 1.1.1.1, prefer: ipv5}]\n", 3, "ipv5",
		   "resolvers[0].nameservers[0].prefer: expected ipv4 or ipv6");
	load_fails("resolvers:\n  - name: r\n    nameservers: []\n", 3, "[]",
		   "resolvers[0].nameservers: at least one nameserver is required");
	load_fails("resolvers:\n  - name: r\n    plugin: {addr: x}\n", 3, "plugin",
		   "resolvers[0].plugin: is not implemented by portway (implemented here: name, nameservers)");
	load_fails("hosts: [{name: h}]\n"
		   "services:\n  - {name: s, addr: ':1', handler: {type: tcp}, forwarder: {nodes: [{addr: a:1, hosts: h}]}}\n",
		   3, "hosts",
		   "services[0].forwarder.nodes[0].hosts: applies to a chain's nodes; a forwarder's targets use the "
		   "service's hosts");
}

static void test_null_values(void **state)
{
	(void)state;
	/* YAML null (~, null, nothing) reads as empty */
	struct config *c = load_ok("services:\n"
				   "  - name: ~\n"
				   "    addr: :8080\n"
				   "    metadata:\n"
				   "    handler: {type: tcp, chain: null}\n"
				   "    forwarder: {nodes: [{addr: 127.0.0.1:80}]}\n");
	assert_string_equal(c->services[0]->name, "service-0");
	assert_null(c->services[0]->handler.chain);
	drop(c);
}

static void test_fingerprint(void **state)
{
	(void)state;
	const char *base = "services:\n"
			   "  - name: a\n"
			   "    addr: :8080\n"
			   "    handler: {type: tcp}\n"
			   "    forwarder: {nodes: [{addr: 127.0.0.1:80}]}\n"
			   "  - name: b\n"
			   "    addr: :8081\n"
			   "    handler: {type: tcp}\n"
			   "    forwarder: {nodes: [{addr: 127.0.0.1:81}]}\n";
	const char *changed = "services:\n"
			      "  - name: a\n"
			      "    addr: :8080\n"
			      "    handler: {type: tcp}\n"
			      "    forwarder: {nodes: [{addr: 127.0.0.1:80}]}\n"
			      "  - name: b\n"
			      "    addr: :8081\n"
			      "    handler: {type: tcp}\n"
			      "    forwarder: {nodes: [{addr: 127.0.0.1:82}]}\n";
	/* the same content with different layout, key case and comments */
	const char *same = "# same as base\n"
			   "services:\n"
			   "- {name: a, addr: \":8080\", Handler: {Type: tcp}, forwarder: {nodes: [{addr: 127.0.0.1:80}]}}\n"
			   "- name: b\n"
			   "  addr: :8081\n"
			   "  handler: {type: tcp}\n"
			   "  forwarder: {nodes: [{addr: 127.0.0.1:81}]}\n";
	struct config *x = load_ok(base), *y = load_ok(changed), *z = load_ok(same);
	assert_string_equal(x->services[0]->fingerprint, y->services[0]->fingerprint);
	assert_string_not_equal(x->services[1]->fingerprint, y->services[1]->fingerprint);
	assert_string_equal(x->services[0]->fingerprint, z->services[0]->fingerprint);
	assert_string_equal(x->services[1]->fingerprint, z->services[1]->fingerprint);
	drop(x);
	drop(y);
	drop(z);
}

static void test_references(void **state)
{
	(void)state;
	/* the config lives while a service holds it */
	struct config *c = load_ok("services:\n"
				   "  - {name: a, addr: \":1\", handler: {type: tcp}, forwarder: {nodes: [{addr: \"1.1.1.1:1\"}]}}\n");
	assert_int_equal(c->refs, 2);
	struct service *s = c->services[0];
	service_ref(s);
	config_unref(c);        /* the loader's reference */
	service_unref(s);       /* the running set's */
	assert_int_equal(s->refs, 1);
	assert_string_equal(s->name, "a");
	service_unref(s);       /* the last: frees everything (ASan checks) */
}

/* ---- invalid files: each message, exactly ---- */

static void test_cannot_open(void **state)
{
	(void)state;
	char p[200];
	snprintf(p, sizeof p, "%s/no-such-file.yaml", dir);
	memset(&err, 0, sizeof err);
	assert_null(config_load_file(p, &err));
	char want[300];
	snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
	assert_string_equal(err.msg, want);
}

static void test_yaml_errors(void **state)
{
	(void)state;
	load_fails("services:\n  - name: a\n   addr: :1\n", 3, "addr", "did not find expected '-' indicator");
	load_fails("services: [a, b\n", 2, NULL, "did not find expected ',' or ']'");
	load_fails("services: \"unterminated\n", 2, NULL, "found unexpected end of stream");
	load_fails("a: 1\n---\nb: 2\n", 3, NULL, "only one YAML document is supported");
	load_fails("- a\n- b\n", 1, NULL, "the top level must be a mapping (services:, chains:, ...)");
	load_fails("just text\n", 1, NULL, "the top level must be a mapping (services:, chains:, ...)");
	load_fails("x: &a {k: 1}\ny: *b\n", 2, "*b",
		   "unknown anchor \"b\" (an alias must follow its anchor's complete node)");
	load_fails("? [a, b]\n: c\n", 1, "[", "a mapping key must be a plain string");
}

static void test_yaml_error_after_document(void **state)
{
	(void)state;
	/* a syntax error after a complete first document is still an error */
	load_fails("services: []\n...\n]\n", 3, NULL, "did not find expected <document start>");
	load_fails("services: []\n---\n]\n", 3, NULL, "did not find expected node content");
}

static void test_yaml_too_deep(void **state)
{
	(void)state;
	char text[1024] = "a: ";
	for (int i = 0; i < 70; i++)
		strcat(text, "[");
	for (int i = 0; i < 70; i++)
		strcat(text, "]");
	strcat(text, "\n");
	/* the 65th nested list is refused: it and the five inside it are the last six '[' */
	load_fails(text, 1, "[[[[[[]]]]]]", "nested too deeply");
}

static void test_top_level_errors(void **state)
{
	(void)state;
	load_fails("service:\n  - addr: :1\n", 1, "service",
		   "(top level).service: unknown key (expected one of: services, chains, hops, authers, bypasses, "
		   "log, workers, metrics, api, admissions, climiters, rlimiters, hosts, resolvers, limiters)");
	load_fails("services:\n  name: a\n", 2, "name", "services: expected a list");
	load_fails("services: yes\n", 1, "yes", "services: expected a list");
	load_fails("workers: many\n", 1, "many", "workers: expected a whole number from 0 to 256, got \"many\"");
	load_fails("workers: 300\n", 1, "300", "workers: expected a whole number from 0 to 256, got \"300\"");
	load_fails("workers: -1\n", 1, "-1", "workers: expected a whole number from 0 to 256, got \"-1\"");
	load_fails("workers: [1]\n", 1, "[", "workers: expected a number");
	load_fails("log:\n  level: loud\n", 2, "loud",
		   "log.level: unknown level \"loud\" (known: trace, debug, info, warn, error, fatal)");
	load_fails("log:\n  format: xml\n", 2, "xml", "log.format: expected text or json, got \"xml\"");
	load_fails("log:\n  colour: red\n", 2, "colour",
		   "log.colour: unknown key (expected one of: level, format, output, rotation)");
	load_fails("log:\n  output: /tmp/x.log\n  rotation: 5\n", 3, "5", "log.rotation: expected a mapping");
	load_fails("log:\n  output: /tmp/x.log\n  rotation: {maxSize: big}\n", 3, "big",
		   "log.rotation.maxSize: expected a size in megabytes from 0 (GOST's default, 100) to 1048576, got \"big\"");
	load_fails("log:\n  output: /tmp/x.log\n  rotation: {maxSize: -1}\n", 3, "-1",
		   "log.rotation.maxSize: expected a size in megabytes from 0 (GOST's default, 100) to 1048576, got \"-1\"");
	load_fails("log:\n  output: /tmp/x.log\n  rotation: {maxAge: -2}\n", 3, "-2",
		   "maxAge: expected a whole number from 0 to 365000, got \"-2\"");
	load_fails("log:\n  output: /tmp/x.log\n  rotation: {maxBackups: 1.5}\n", 3, "1.5",
		   "maxBackups: expected a whole number from 0 to 1000000, got \"1.5\"");
	load_fails("log:\n  output: /tmp/x.log\n  rotation: {compress: maybe}\n", 3, "maybe",
		   "compress: expected true or false, got \"maybe\"");
	load_fails("log:\n  output: /tmp/x.log\n  rotation: {maxsize: 1, keep: 2}\n", 3, "keep",
		   "log.rotation.keep: unknown key (expected one of: maxSize, maxAge, maxBackups, localTime, compress)");
	load_fails("log: [a]\n", 1, "[", "log: expected a mapping");
}

#define FWD "    forwarder: {nodes: [{addr: 127.0.0.1:80}]}\n"

static void test_service_errors(void **state)
{
	(void)state;
	load_fails("services:\n  - name: a\n    handler: {type: tcp}\n", 2, "name",
		   "services[0].addr: is required (for example \":8080\" or \"127.0.0.1:8080\")");
	load_fails("services:\n  - addr: nope\n", 2, "nope",
		   "services[0].addr: expected host:port (or :port, [v6]:port), got \"nope\"");
	load_fails("services:\n  - addr: [1]\n", 2, "[", "services[0].addr: expected a string");
	load_fails("services:\n  - addr: :1\n    colour:\n      red: 1\n", 3, "colour",
		   "services[0].colour: unknown key (expected one of: name, addr, handler, listener, forwarder, "
		   "metadata, bypass, bypasses, admission, admissions, climiter, rlimiter, hosts, resolver, limiter)");
	load_fails("services:\n  - just-a-string\n", 2, "just", "services[0]: expected a mapping");
	load_fails("services:\n  - addr: :1\n    handler: tcp\n" FWD, 3, "tcp", "services[0].handler: expected a mapping");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, colour: red}\n" FWD, 3, "colour",
		   "services[0].handler.colour: unknown key (expected one of: type, chain, auth, auther, authers, tls, "
		   "metadata, retries)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    listener: {type: tcp, x: 1}\n" FWD, 4, "x:",
		   "services[0].listener.x: unknown key (expected one of: type, chain, auth, tls, metadata)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, metadata: [1]}\n" FWD, 3, "[",
		   "services[0].handler.metadata: expected a mapping");
	load_fails("services:\n  - name: a\n    addr: :1\n    handler: {type: tcp}\n" FWD
		   "  - name: a\n    addr: :2\n    handler: {type: tcp}\n" FWD,
		   6, "name", "services[1]: a service named \"a\" is already defined");
}

static void test_same_address_twice(void **state)
{
	(void)state;
	load_fails("services:\n  - name: a\n    addr: 127.0.0.1:8080\n    handler: {type: tcp}\n" FWD
		   "  - name: b\n    addr: 127.0.0.1:8080\n    handler: {type: tcp}\n" FWD,
		   7, "127", "services[1].addr: 127.0.0.1:8080 is already the address of service \"a\"");
	load_fails("services:\n  - {name: a, addr: \":53\", handler: {type: udp}, listener: {type: udp}}\n"
		   "  - {name: b, addr: \":53\", handler: {type: udp}, listener: {type: udp}}\n",
		   3, "\":53", "services[1].addr: :53 is already the address of service \"a\"");
	/* tcp and udp on one port, two hosts on one port, ephemeral ports: all different addresses */
	struct config *c = load_ok("services:\n"
				   "  - {name: t, addr: \":8053\", handler: {type: tcp}, forwarder: {nodes: [{addr: 1.1.1.1:1}]}}\n"
				   "  - {name: u, addr: \":8053\", handler: {type: udp}, listener: {type: udp},\n"
				   "     forwarder: {nodes: [{addr: 1.1.1.1:1}]}}\n"
				   "  - {name: l, addr: \"127.0.0.1:8053\", handler: {type: tcp}, forwarder: {nodes: [{addr: 1.1.1.1:1}]}}\n"
				   "  - {name: e, addr: \":0\", handler: {type: tcp}, forwarder: {nodes: [{addr: 1.1.1.1:1}]}}\n"
				   "  - {name: f, addr: \":0\", handler: {type: tcp}, forwarder: {nodes: [{addr: 1.1.1.1:1}]}}\n");
	assert_int_equal(c->n_services, 5);
	drop(c);
}

static void test_unknown_types_list_known(void **state)
{
	(void)state;
	char known[512], msg[1024];
	registry_names("handler", known, sizeof known);
	assert_non_null(strstr(known, "tcp"));
	assert_non_null(strstr(known, "udp"));
	snprintf(msg, sizeof msg, "services[0].handler.type: unknown handler \"nosuch\" (known: %s)", known);
	load_fails("services:\n  - addr: :1\n    handler: {type: nosuch}\n", 3, "nosuch", msg);

	registry_names("listener", known, sizeof known);
	snprintf(msg, sizeof msg, "services[0].listener.type: unknown listener \"quic9\" (known: %s)", known);
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    listener: {type: quic9}\n" FWD, 4, "quic9", msg);

	registry_names("connector", known, sizeof known);
	snprintf(msg, sizeof msg, "chains[0].hops[0].nodes[0].connector.type: unknown connector \"nope\" (known: %s)",
		 known);
	load_fails("chains:\n  - name: c\n    hops:\n      - nodes: [{addr: 1.1.1.1:1, connector: {type: nope}}]\n", 4,
		   "nope", msg);

	registry_names("dialer", known, sizeof known);
	snprintf(msg, sizeof msg, "chains[0].hops[0].nodes[0].dialer.type: unknown dialer \"carrier-pigeon\" (known: %s)",
		 known);
	load_fails("chains:\n  - name: c\n    hops:\n      - nodes: [{addr: 1.1.1.1:1, connector: {type: forward}, "
		   "dialer: {type: carrier-pigeon}}]\n",
		   4, "carrier", msg);
}

static void test_forwarder_errors(void **state)
{
	(void)state;
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n", 2, "addr",
		   "forwarder: handler tcp needs forwarder nodes (the targets)");
	load_fails("services:\n  - addr: :1\n    handler: {type: udp}\n    listener: {type: udp}\n", 2, "addr",
		   "forwarder: handler udp needs forwarder nodes (the targets)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder: {nodes: []}\n", 4, "[",
		   "services[0].forwarder.nodes: at least one node is required");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder: {selector: {}}\n", 4, "{",
		   "services[0].forwarder.nodes: at least one node is required");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder: {nodes: {addr: 1.1.1.1:1}}\n", 4,
		   "{addr", "services[0].forwarder.nodes: expected a list");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder: {nodes: [{name: x}]}\n", 4,
		   "{name", "services[0].forwarder.nodes[0].addr: is required");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder: {nodes: [{addr: \"1.1.1.1\"}]}\n", 4,
		   "\"1.1", "services[0].forwarder.nodes[0].addr: expected host:port (or :port, [v6]:port), got \"1.1.1.1\"");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder: {nodes: [{addr: 1.1.1.1:1, x: 1}]}\n", 4,
		   "x:", "services[0].forwarder.nodes[0].x: unknown key (expected one of: name, addr, connector, dialer, "
		   "metadata, bypass, tls, auth, network, host, protocol, path, bypasses, hosts, resolver)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder: {hop: ghost}\n", 4, "ghost",
		   "forwarder.hop: no hop named \"ghost\" in hops");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder: {nodes: [{addr: 1.1.1.1:1}], x: 1}\n",
		   4, "x:", "services[0].forwarder.x: unknown key (expected one of: nodes, selector, hop, name)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n"
		   "    forwarder: {nodes: [{addr: 1.1.1.1:1}], selector: {strategy: fastest}}\n",
		   4, "fastest", "strategy: unknown strategy \"fastest\" (known: round, rand, fifo, hash)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n"
		   "    forwarder: {nodes: [{addr: 1.1.1.1:1}], selector: {maxFails: -3}}\n",
		   4, "-3", "maxFails: expected a whole number from 0 to 1000000, got \"-3\"");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n"
		   "    forwarder: {nodes: [{addr: 1.1.1.1:1}], selector: {failTimeout: 10 parsecs}}\n",
		   4, "10 parsecs", "failTimeout: expected a duration such as 10s, 500ms or 1m, got \"10 parsecs\"");
}

static void test_metadata_errors(void **state)
{
	(void)state;
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, metadata: {idleTimeout: soon}}\n" FWD, 3, "soon",
		   "idleTimeout: expected a duration such as 10s, 500ms or 1m, got \"soon\"");
	load_fails("services:\n  - addr: :1\n    metadata: {idleTimeout: [1]}\n    handler: {type: tcp}\n" FWD, 3, "[",
		   "idleTimeout: expected a duration such as 10s, 500ms or 1m, got \"(a collection)\"");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, metadata: {dialTimeout: \"\"}}\n" FWD, 3, "\"\"",
		   "dialTimeout: expected a duration such as 10s, 500ms or 1m, got \"\"");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, metadata: {idleTimeout: inf}}\n" FWD, 3, "inf",
		   "idleTimeout: expected a duration such as 10s, 500ms or 1m, got \"inf\"");
	load_fails("services:\n  - addr: :1\n    handler: {type: udp, metadata: {ttl: 1x}}\n    listener: {type: udp}\n" FWD,
		   3, "1x", "ttl: expected a duration such as 10s, 500ms or 1m, got \"1x\"");
}

static void test_chain_errors(void **state)
{
	(void)state;
	load_fails("chains:\n  - hops: [{nodes: [{addr: 1.1.1.1:1}]}]\n", 2, "hops", "chains[0].name: is required");
	load_fails("chains:\n  - name: c\n", 2, "name", "chains[0].hops: expected a list of at least one hop");
	load_fails("chains:\n  - name: c\n    hops: []\n", 3, "[", "chains[0].hops: expected a list of at least one hop");
	load_fails("chains:\n  - name: c\n    hops:\n      - name: ghost\n", 4, "name",
		   "chains[0].hops[0]: has no nodes and no top-level hop is named \"ghost\"");
	load_fails("chains:\n  - name: c\n    hops: [{nodes: [{addr: 1.1.1.1:1, connector: {type: forward}}]}]\n"
		   "  - name: c\n    hops: [{nodes: [{addr: 1.1.1.1:1, connector: {type: forward}}]}]\n",
		   4, "name", "chains[1]: a chain named \"c\" is already defined");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, chain: ghost}\n" FWD, 3, "ghost",
		   "services[0].handler.chain: no chain named \"ghost\" in chains");
	load_fails("chains:\n  - name: c\n    colour: red\n", 3, "colour",
		   "chains[0].colour: unknown key (expected one of: name, hops, metadata)");
	load_fails("hops:\n  - name: h\n", 2, "name", "hops[0].nodes: at least one node is required");
}

static void test_auth_tls_errors(void **state)
{
	(void)state;
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, auth: {password: x}}\n" FWD, 3, "{password",
		   "services[0].handler.auth: username is required");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, auth: {username: u, pin: 1}}\n" FWD, 3, "pin",
		   "services[0].handler.auth.pin: unknown key (expected one of: username, password, file)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    listener: {type: tcp, tls: {certfile: a, x: 1}}\n" FWD,
		   4, "x:", "services[0].listener.tls.x: unknown key (expected one of: certFile, keyFile, caFile, secure, "
		   "serverName, options)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    listener: {type: tcp, tls: {secure: maybe}}\n" FWD,
		   4, "maybe", "secure: expected true or false, got \"maybe\"");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, auther: ghost}\n" FWD, 3, "ghost",
		   "handler.auther: no auther named \"ghost\" in authers");
	load_fails("authers:\n  - auths: []\n", 2, "auths", "authers[0]: name is required");
	load_fails("authers:\n  - name: a\n    auths: [{password: x}]\n", 3, "{", "auths: each entry needs a username");
	char text[300], msg[300];
	snprintf(text, sizeof text, "authers:\n  - name: a\n    file: %s/none.txt\n", dir);
	snprintf(msg, sizeof msg, "file: cannot open users file %s/none.txt: No such file or directory", dir);
	load_fails(text, 3, "/", msg);
	/* GOST's form, file: {path: ...}, reads the same file */
	snprintf(text, sizeof text, "authers:\n  - name: a\n    file: {path: %s/none.txt}\n", dir);
	load_fails(text, 3, "/", msg);
	load_fails("authers:\n  - name: a\n    file: {}\n", 3, "{", "authers[0].file: needs a path");
	load_fails("authers:\n  - name: a\n    file: {path: x, size: 1}\n", 3, "size",
		   "authers[0].file.size: unknown key (expected one of: path)");
	load_fails("services:\n  - addr: :1\n    bypass: ghost\n    handler: {type: tcp}\n" FWD, 3, "ghost",
		   "services[0].bypass: no bypass named \"ghost\" in bypasses");
	load_fails("bypasses:\n  - name: b\n    whitelist: perhaps\n", 3, "perhaps",
		   "whitelist: expected true or false, got \"perhaps\"");
	load_fails("bypasses:\n  - name: b\n    matchers: 10.0.0.0/8\n", 3, "10.", "matchers: expected a list");
	load_fails("bypasses:\n  - name: b\n    network: icmp\n", 3, "icmp", "network: must be tcp or udp, not \"icmp\"");
	load_fails("bypasses: [{name: b}]\nservices:\n  - addr: :1\n    bypasses: [b, ghost]\n    handler: {type: tcp}\n" FWD,
		   4, "ghost", "services[0].bypasses: no bypass named \"ghost\" in bypasses");
	load_fails("bypasses: [{name: b}]\nservices:\n  - addr: :1\n    bypasses: bee\n    handler: {type: tcp}\n" FWD, 4, "bee",
		   "services[0].bypasses: expected a list");
	load_fails("bypasses: [{name: b}]\nhops:\n  - name: h\n    bypasses: [[b]]\n    nodes: [{addr: 1.1.1.1:1}]\n", 4,
		   "[b]", "hops[0].bypasses: expected the name of a bypass");
}

/* auth.file (GOST's AuthConfig.File): the first user line of the file is the block's user. */
static void test_auth_file(void **state)
{
	(void)state;
	char users[128], text[512], msg[300];
	snprintf(users, sizeof users, "%s/creds.txt", dir);
	FILE *f = fopen(users, "w");
	assert_non_null(f);
	fputs("# hop credentials\n\n  carol   s3cret pass  \nsecond line\n", f);
	fclose(f);
	snprintf(text, sizeof text,
		 "chains:\n  - name: c\n    hops:\n      - name: h\n        nodes:\n"
		 "          - addr: 127.0.0.1:1\n            connector: {type: socks5, auth: {file: %s}}\n"
		 "services:\n  - addr: 127.0.0.1:1\n    handler: {type: http, chain: c, auth: {file: %s}}\n",
		 users, users);
	struct config *c = load_ok(text);
	const struct node *n = c->chains[0]->hops[0]->nodes[0];
	assert_string_equal(n->connector.auth.username, "carol");
	assert_string_equal(n->connector.auth.password, "s3cret pass");
	assert_string_equal(c->services[0]->handler.auth.username, "carol");
	drop(c);
	/* a file that cannot be read, a file without a user and no username */
	snprintf(text, sizeof text, "services:\n  - addr: :1\n    handler: {type: http, auth: {file: %s/none}}\n", dir);
	snprintf(msg, sizeof msg, "services[0].handler.auth.file: cannot open %s/none: No such file or directory", dir);
	load_fails(text, 3, "/", msg);
	f = fopen(users, "w");
	fputs("# nobody\n", f);
	fclose(f);
	snprintf(text, sizeof text, "services:\n  - addr: :1\n    handler: {type: http, auth: {file: %s}}\n", users);
	load_fails(text, 3, "{file", "services[0].handler.auth: username is required");
	load_fails("services:\n  - addr: :1\n    handler: {type: http, auth: {file: [x]}}\n", 3, "[x",
		   "services[0].handler.auth.file: expected a string");
}

/* GOST's bypass and bypasses together: one list as it is, several as a group; network restricts a list. */
static void test_bypass_groups_and_network(void **state)
{
	(void)state;
	struct config *c = load_ok("bypasses:\n"
				   "  - {name: lan, matchers: [\"10.0.0.0/8\"]}\n"
				   "  - {name: skip-udp, network: udp}\n"
				   "  - {name: only-web, whitelist: true, matchers: [\"*.web.test\"]}\n"
				   "  - {name: tcp-lan, network: tcp, matchers: [\"192.168.0.0/16\"]}\n"
				   "hops:\n"
				   "  - name: h\n"
				   "    bypass: lan\n"
				   "    bypasses: [skip-udp]\n"
				   "    nodes:\n"
				   "      - {addr: 127.0.0.1:1, bypasses: [tcp-lan]}\n"
				   "services:\n"
				   "  - addr: 127.0.0.1:1\n"
				   "    bypasses: [only-web]\n"
				   "    handler: {type: http}\n");
	struct hop *h = c->hops[0];
	assert_int_equal(c->n_bypass_groups, 1);
	assert_ptr_equal(h->bypass, c->bypass_groups[0]);
	assert_int_equal(h->bypass->n_members, 2);
	assert_true(bypass_match_net(h->bypass, "tcp", "10.1.1.1", 80));   /* lan */
	assert_false(bypass_match_net(h->bypass, "tcp", "11.1.1.1", 80));
	assert_true(bypass_match_net(h->bypass, "udp", "11.1.1.1", 53));   /* skip-udp: all of udp */
	/* a single list is used as it is; a network it is not for does not apply */
	const struct bypass *nb = h->nodes[0]->bypass;
	assert_ptr_equal(nb, c->bypasses[3]);
	assert_true(bypass_match_net(nb, "tcp", "192.168.1.1", 80));
	assert_false(bypass_match_net(nb, "udp", "192.168.1.1", 80));
	/* whitelist: what it does not list is bypassed (refused by a proxy) */
	const struct bypass *sb = c->services[0]->bypass;
	assert_false(bypass_match_port(sb, "a.web.test", 80));
	assert_true(bypass_match_port(sb, "example.org", 80));
	drop(c);
}


/* ---- fail closed: what portway does not implement is refused, never run as something else ---- */

/* GOST's types that portway does not have: an error listing the known ones, never tcp or auto. */
static void test_gost_types_not_implemented(void **state)
{
	(void)state;
	static const char *const listeners[] = { "pht", "kcp", "quic", "phts", NULL };
	static const char *const dialers[] = { "pht", "kcp", "quic", "phts", NULL };
	char known[512], msg[1024], text[512];
	registry_names("listener", known, sizeof known);
	for (size_t i = 0; listeners[i]; i++) {
		snprintf(msg, sizeof msg, "services[0].listener.type: unknown listener \"%s\" (known: %s)", listeners[i],
			 known);
		snprintf(text, sizeof text, "services:\n  - addr: :1\n    handler: {type: http}\n    listener: {type: %s}\n",
			 listeners[i]);
		load_fails(text, 4, listeners[i], msg);
	}
	registry_names("dialer", known, sizeof known);
	for (size_t i = 0; dialers[i]; i++) {
		snprintf(msg, sizeof msg, "chains[0].hops[0].nodes[0].dialer.type: unknown dialer \"%s\" (known: %s)",
			 dialers[i], known);
		snprintf(text, sizeof text,
			 "chains:\n  - name: c\n    hops:\n      - nodes: [{addr: 1.1.1.1:1, connector: {type: relay}, "
			 "dialer: {type: %s}}]\n", dialers[i]);
		load_fails(text, 4, dialers[i], msg);
	}
	registry_names("handler", known, sizeof known);
	snprintf(msg, sizeof msg, "services[0].handler.type: unknown handler \"tun\" (known: %s)", known);
	load_fails("services:\n  - addr: :1\n    handler: {type: tun}\n", 3, "tun}", msg);
	registry_names("connector", known, sizeof known);
	snprintf(msg, sizeof msg, "chains[0].hops[0].nodes[0].connector.type: unknown connector \"sshd\" (known: %s)", known);
	load_fails("chains:\n  - name: c\n    hops:\n      - nodes: [{addr: 1.1.1.1:1, connector: {type: sshd}}]\n", 4,
		   "sshd}", msg);
}

#define REFUSED "is not implemented by portway, so it would not be enforced (remove it to run without it)"

/* One file per key: "<key line>" is where the key is, field the path the error names. */
static void refused_at(const char *text, int line, const char *token, const char *field)
{
	char msg[512];
	snprintf(msg, sizeof msg, "%s: " REFUSED, field);
	load_fails(text, line, token, msg);
}

static void test_security_keys_refused(void **state)
{
	(void)state;
	char text[512], field[128];
	/* top level: the definitions themselves, and tls (GOST's default certificate and client CA) */
	static const char *const top[] = { "quotas", "tls", "loggers", NULL };
	for (size_t i = 0; top[i]; i++) {
		snprintf(text, sizeof text, "services: []\n%s: []\n", top[i]);
		snprintf(field, sizeof field, "(top level).%s", top[i]);
		refused_at(text, 2, top[i], field);
	}
	/* a service's quotas */
	static const char *const svc[] = { "quotas", "logger", "loggers", NULL };
	for (size_t i = 0; svc[i]; i++) {
		snprintf(text, sizeof text, "services:\n  - addr: :1\n    handler: {type: http}\n    %s: x\n", svc[i]);
		snprintf(field, sizeof field, "services[0].%s", svc[i]);
		refused_at(text, 4, svc[i], field);
	}
	refused_at("services:\n  - addr: :1\n    handler: {type: http, limiter: x}\n", 3, "limiter",
		   "services[0].handler.limiter");
	refused_at("services:\n  - addr: :1\n    handler: {type: http}\n    listener: {type: tcp, auther: a}\n", 4,
		   "auther", "services[0].listener.auther");
	refused_at("services:\n  - addr: :1\n    handler: {type: http}\n    listener: {type: tcp, authers: [a]}\n", 4,
		   "authers", "services[0].listener.authers");
	/* a limiter's lines from elsewhere (and their reloading) would not be loaded */
	static const char *const lim[] = { "reload", "file", "redis", "http", "plugin", NULL };
	for (size_t i = 0; lim[i]; i++) {
		snprintf(text, sizeof text, "limiters:\n  - name: l\n    %s: {}\n", lim[i]);
		snprintf(field, sizeof field, "limiters[0].%s", lim[i]);
		refused_at(text, 3, lim[i], field);
	}
	/* a bypass's matchers from elsewhere would not be loaded */
	static const char *const bp[] = { "file", "redis", "http", "plugin", NULL };
	for (size_t i = 0; bp[i]; i++) {
		snprintf(text, sizeof text, "bypasses:\n  - name: b\n    %s: {}\n", bp[i]);
		snprintf(field, sizeof field, "bypasses[0].%s", bp[i]);
		refused_at(text, 3, bp[i], field);
	}
	/* tls: restrictions portway does not make */
	refused_at("services:\n  - addr: :1\n    handler: {type: http}\n    listener: {type: tls, tls: {rejectUnknownSNI: true}}\n",
		   4, "rejectUnknownSNI", "services[0].listener.tls.rejectUnknownSNI");
	refused_at("services:\n  - addr: :1\n    handler: {type: http}\n    listener:\n      type: tls\n      tls:\n"
		   "        options: {cipherSuites: [TLS_AES_128_GCM_SHA256]}\n",
		   7, "cipherSuites", "services[0].listener.tls.options.cipherSuites");
	load_fails("services:\n  - addr: :1\n    handler: {type: http}\n    listener: {type: tls, tls: {options: {ciphers: x}}}\n",
		   4, "ciphers", "services[0].listener.tls.options.ciphers: unknown key (expected one of: alpn, minVersion)");
}

/* Metadata keys of GOST features that enforce something, wherever the metadata is. */
/* proxyProtocol on a service (or, as GOST's docs show it, its listener): stream listeners, 0..2. */
static void test_proxy_protocol_listener(void **state)
{
	(void)state;
	struct config *c = load_ok("services:\n  - addr: :1\n    metadata: {proxyProtocol: 1}\n    handler: {type: http}\n");
	assert_int_equal(c->services[0]->proxy_protocol, 1);
	drop(c);
	c = load_ok("services:\n  - addr: :1\n    handler: {type: http}\n    listener: {type: tls, metadata: {proxyProtocol: 2}}\n");
	assert_int_equal(c->services[0]->proxy_protocol, 2);
	drop(c);
	c = load_ok("services:\n  - addr: :1\n    handler: {type: http}\n");
	assert_int_equal(c->services[0]->proxy_protocol, 0);
	drop(c);
	load_fails("services:\n  - addr: :1\n    metadata: {proxyProtocol: 3}\n    handler: {type: http}\n", 3, "3",
		   "proxyProtocol: expected a whole number from 0 to 2, got \"3\"");
	load_fails("services:\n  - addr: :1\n    metadata: {proxyProtocol: 1}\n    handler: {type: udp}\n    listener: {type: udp}\n"
		   "    forwarder: {nodes: [{addr: 127.0.0.1:2}]}\n", 3, "1}",
		   "services[0].metadata.proxyProtocol: is not implemented for the udp listener (stream listeners only)");
}

static void test_security_metadata_refused(void **state)
{
	(void)state;
	static const char *const keys[] = { "probeResist", "probe_resist", "probeResistance", "probe_resistance",
					    "knock", "admission", "limiter.in", "limiter.out",
					    "limiter.conn.in", "limiter.conn.out", "climiter", "rlimiter", NULL };
	char text[512], field[128];
	for (size_t i = 0; keys[i]; i++) {
		snprintf(text, sizeof text, "services:\n  - addr: :1\n    handler:\n      type: http\n      metadata:\n"
			 "        %s: x\n", keys[i]);
		snprintf(field, sizeof field, "services[0].handler.metadata.%s", keys[i]);
		refused_at(text, 6, keys[i], field);
	}
	/* a handler that sends no PROXY header (GOST's forward handlers do: tcp, rtcp) */
	refused_at("services:\n  - addr: :1\n    handler: {type: http, metadata: {proxyProtocol: 1}}\n", 3, "proxyProtocol",
		   "services[0].handler.metadata.proxyProtocol");
	/* sending a PROXY header from a hop (GOST's -F hop.KEY too), a node, a dialer: not implemented */
	refused_at("hops:\n  - name: h\n    metadata: {proxyProtocol: 1}\n    nodes: [{addr: 1.1.1.1:1}]\n", 3,
		   "proxyProtocol", "hops[0].metadata.proxyProtocol");
	refused_at("hops:\n  - name: h\n    nodes: [{addr: 1.1.1.1:1, metadata: {hop.proxyProtocol: 1}}]\n", 3,
		   "hop.proxyProtocol", "hops[0].nodes[0].metadata.hop.proxyProtocol");
	refused_at("chains:\n  - name: c\n    metadata: {proxyProtocol: 1}\n    hops: [{nodes: [{addr: 1.1.1.1:1}]}]\n", 3,
		   "proxyProtocol", "chains[0].metadata.proxyProtocol");
	refused_at("hops:\n  - name: h\n    nodes: [{addr: 1.1.1.1:1, dialer: {type: tcp, metadata: {proxyProtocol: 1}}}]\n",
		   3, "proxyProtocol", "hops[0].nodes[0].dialer.metadata.proxyProtocol");
	/* keys are case-insensitive here too */
	refused_at("services:\n  - addr: :1\n    handler: {type: http, metadata: {KNOCK: x}}\n", 3, "KNOCK",
		   "services[0].handler.metadata.KNOCK");
}

/* Settings no type of the section would apply: users on a handler that asks for none, tls
 * where nothing makes TLS, a node's own tls and auth, transports of forwarder nodes. */
static void test_settings_not_applied(void **state)
{
	(void)state;
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp, auth: {username: u, password: p}}\n" FWD, 3,
		   "auth", "services[0].handler.auth: handler tcp does not authenticate its clients, so these users would "
		   "not be asked for (handlers that do: auto, http, socks5, socks4, relay, ss, ssu, http2)");
	load_fails("authers: [{name: a, auths: [{username: u}]}]\n"
		   "services:\n  - addr: :1\n    handler: {type: tcp, auther: a}\n" FWD, 4, "auther",
		   "services[0].handler.auther: handler tcp does not authenticate its clients, so these users would not "
		   "be asked for (handlers that do: auto, http, socks5, socks4, relay, ss, ssu, http2)");
	load_fails("authers: [{name: a, auths: [{username: u}]}]\n"
		   "services:\n  - addr: :1\n    handler: {type: udp, authers: [a]}\n    listener: {type: udp}\n" FWD, 4,
		   "authers", "services[0].handler.authers: handler udp does not authenticate its clients, so these users "
		   "would not be asked for (handlers that do: auto, http, socks5, socks4, relay, ss, ssu, http2)");
	load_fails("services:\n  - addr: :1\n    handler: {type: rtcp, auth: {username: u}}\n    listener: {type: rtcp}\n"
		   FWD, 3, "auth", "services[0].handler.auth: handler rtcp does not authenticate its clients, so these "
		   "users would not be asked for (handlers that do: auto, http, socks5, socks4, relay, ss, ssu, http2)");
	load_fails("services:\n  - addr: :1\n    handler: {type: http}\n    listener: {type: tcp, auth: {username: u}}\n", 4,
		   "auth", "services[0].listener.auth: listener tcp does not authenticate clients, so these users would "
		   "not be asked for (users go in handler.auth; listeners that do: sshd)");
	load_fails("services:\n  - addr: :1\n    handler: {type: http, tls: {certFile: c.pem}}\n", 3, "tls",
		   "services[0].handler.tls: no portway handler uses handler.tls, so it would not be applied (TLS "
		   "settings go in listener.tls)");
	load_fails("services:\n  - addr: :1\n    handler: {type: http}\n    listener: {type: tcp, tls: {caFile: ca.pem}}\n",
		   4, "tls", "services[0].listener.tls: listener tcp does not use TLS, so it would not be applied "
		   "(listeners that do: tls, wss, dtls, agent, mtls, mwss, sshd, http2, h2, grpc)");
	load_fails("services:\n  - addr: :1\n    handler: {type: http}\n    listener: {type: ws, tls: {certFile: c.pem}}\n",
		   4, "tls", "services[0].listener.tls: listener ws does not use TLS, so it would not be applied "
		   "(listeners that do: tls, wss, dtls, agent, mtls, mwss, sshd, http2, h2, grpc)");
	/* the agent listener makes TLS only to a wss:// gateway */
	load_fails("services:\n  - addr: 127.0.0.1:80\n    handler: {type: agent}\n    listener:\n      type: agent\n"
		   "      tls: {caFile: ca.pem}\n      metadata: {gateway: \"ws://127.0.0.1:4052\", subdomain: s, secret: x}\n",
		   6, "{", "listener.tls: the gateway is ws://, without TLS, so this would not be applied (use wss://)");
	/* chain nodes */
	load_fails("hops:\n  - name: h\n    nodes:\n      - addr: 1.1.1.1:1\n        connector: {type: relay}\n"
		   "        dialer: {type: tcp, tls: {secure: true}}\n", 6, "tls",
		   "node node-0: dialer.tls: dialer tcp does not use TLS, so it would not be applied (dialers that do: "
		   "tls, wss, dtls, mtls, mwss, http2, h2, grpc)");
	load_fails("hops:\n  - name: h\n    nodes:\n      - addr: 1.1.1.1:1\n"
		   "        connector: {type: relay, tls: {secure: true}}\n        dialer: {type: tls}\n", 5, "tls",
		   "node node-0: connector.tls: no portway connector uses connector.tls, so it would not be applied "
		   "(TLS settings go in dialer.tls, with a tls, wss or dtls dialer)");
	load_fails("hops:\n  - name: h\n    nodes:\n      - name: n\n        addr: 1.1.1.1:1\n        tls: {secure: true}\n",
		   6, "tls", "node n: tls: a node's own tls is not applied by portway (a chain node takes dialer.tls)");
	load_fails("hops:\n  - name: h\n    nodes:\n      - name: n\n        addr: 1.1.1.1:1\n        auth: {username: u}\n",
		   6, "auth", "node n: auth: a node's own auth is not applied by portway (a chain node takes connector.auth)");
	/* forwarder nodes: GOST's TLS to the node and HTTP authentication of its clients */
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder:\n      nodes:\n"
		   "        - {name: web, addr: 1.1.1.1:443, tls: {secure: true, serverName: web}}\n", 6, "tls",
		   "node web: tls: a node's own tls is not applied by portway (a chain node takes dialer.tls)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder:\n      nodes:\n"
		   "        - {name: web, addr: 1.1.1.1:80, auth: {username: u, password: p}}\n", 6, "auth",
		   "node web: auth: a node's own auth is not applied by portway (a chain node takes connector.auth)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder:\n      nodes:\n"
		   "        - {name: web, addr: 1.1.1.1:80, http: {host: h, auth: {username: u}}}\n", 6, "auth",
		   "node web: http.auth: HTTP authentication of the clients is not implemented by portway, so it would "
		   "not be enforced (remove it to run without it)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder:\n      nodes:\n"
		   "        - {name: web, addr: 1.1.1.1:443, dialer: {type: tls}}\n", 6, "dialer",
		   "node web: dialer: a forwarder connects to its nodes directly, in plain TCP or UDP, so this dialer "
		   "would not be applied (a transport goes in a chain: handler.chain)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder:\n      nodes:\n"
		   "        - {name: web, addr: 1.1.1.1:443, connector: {type: relay}}\n", 6, "connector",
		   "node web: connector: a forwarder connects to its nodes directly, in plain TCP or UDP, so this "
		   "connector would not be applied (a transport goes in a chain: handler.chain)");
	load_fails("services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder:\n      nodes:\n"
		   "        - {name: web, addr: 1.1.1.1:443, dialer: {type: tcp, tls: {secure: true}}}\n", 6, "dialer",
		   "node web: dialer: a forwarder connects to its nodes directly, in plain TCP or UDP, so this dialer "
		   "would not be applied (a transport goes in a chain: handler.chain)");
	/* a top-level hop used as a forwarder: its nodes' transports are not used there either */
	load_fails("hops:\n  - name: h\n    nodes:\n      - name: web\n        addr: 1.1.1.1:443\n"
		   "        dialer: {type: wss}\n"
		   "services:\n  - addr: :1\n    handler: {type: tcp}\n    forwarder: {hop: h}\n", 6, "dialer",
		   "node web: dialer: a forwarder connects to its nodes directly, in plain TCP or UDP, so this dialer "
		   "would not be applied (a transport goes in a chain: handler.chain)");
}

/* DTLS 1.2 is all portway offers: a minimum of 1.3 would not be enforced. */
static void test_dtls_min_version_refused(void **state)
{
	(void)state;
	load_fails("services:\n  - addr: :1\n    handler: {type: relay}\n    listener:\n      type: dtls\n"
		   "      tls: {options: {minVersion: VersionTLS13}}\n", 6, "{options",
		   "listener.tls: tls.options.minVersion VersionTLS13: only DTLS 1.2 is offered, so it would not be "
		   "enforced");
	load_fails("hops:\n  - name: h\n    nodes:\n      - addr: 127.0.0.1:1\n        connector: {type: relay}\n"
		   "        dialer: {type: dtls, tls: {options: {minVersion: \"1.3\"}}}\n", 6, "{type",
		   "node node-0: dialer.tls: tls.options.minVersion 1.3: only DTLS 1.2 is offered, so it would not be "
		   "enforced");
	struct config *c = load_ok("services:\n  - addr: :1\n    handler: {type: relay}\n    listener:\n      type: dtls\n"
				   "      tls: {options: {minVersion: VersionTLS12}}\n");
	drop(c);
}

/* What stays accepted: the same settings where a type applies them, and informational keys. */
static void test_settings_applied_accepted(void **state)
{
	(void)state;
	struct config *c = load_ok(
		"authers: [{name: a, auths: [{username: u, password: p}]}]\n"
		"services:\n"
		"  - {name: h, addr: \":1\", handler: {type: http, auth: {username: u, password: p}}}\n"
		"  - {name: s, addr: \":2\", handler: {type: socks5, auther: a}}\n"
		"  - {name: s4, addr: \":3\", handler: {type: socks4, authers: [a]}}\n"
		"  - {name: r, addr: \":4\", handler: {type: relay, auth: {username: u}}}\n"
		"  - {name: x, addr: \":5\", handler: {type: auto, auth: {username: u}}}\n"
		"  - name: t\n"
		"    addr: \":6\"\n"
		"    handler: {type: http}\n"
		"    listener:\n"
		"      type: tls\n"
		"      tls: {serverNames: [a], validity: 1h, options: {alpn: [h2], minVersion: VersionTLS12, maxVersion: "
		"VersionTLS13}}\n"
		"  - name: f\n"
		"    addr: \":7\"\n"
		"    observer: o\n"
		"    handler: {type: tcp}\n"
		"    forwarder: {nodes: [{addr: 1.1.1.1:1, connector: {type: forward}, dialer: {type: tcp}}]}\n"
		"  - name: empty-user\n"
		"    addr: \":8\"\n"
		"    handler: {type: tcp, auth: {username: \"\"}}\n"   /* GOST: no user name is no auth */
		"    forwarder: {nodes: [{addr: 1.1.1.1:1}]}\n"
		"hops:\n"
		"  - name: out\n"
		"    nodes:\n"
		"      - addr: 1.1.1.1:1\n"
		"        connector: {type: relay, auth: {username: u}}\n"
		"        dialer: {type: tls, tls: {secure: false, options: {alpn: [h2]}}}\n"
		"      - addr: 1.1.1.1:2\n"
		"        connector: {type: forward, auth: {username: u}}\n"  /* sends nothing: a warning only */
		"observers: []\nprofiling: {addr: \":6060\"}\n");
	assert_int_equal(c->n_services, 8);
	assert_true(service_auth_required(c->services[0]));
	assert_true(service_auth_required(c->services[1]));
	assert_false(service_auth_required(c->services[7]));
	drop(c);
}

/* Loading and refusing many files leaves nothing behind (ASan's leak check runs at exit). */
static void test_many_refusals(void **state)
{
	char known[512], msg[1024];
	(void)state;
	registry_names("dialer", known, sizeof known);
	snprintf(msg, sizeof msg, "chains[0].hops[0].nodes[0].dialer.type: unknown dialer \"nope\" (known: %s)", known);
	for (int i = 0; i < 50; i++) {
		load_fails("authers:\n  - name: a\n    auths: [{username: u1}, {password: x}]\n", 3, "{password",
			   "auths: each entry needs a username");
		load_fails("services:\n  - name: a\n    addr: :1\n    handler: {type: tcp, tls: {options: {alpn: [h2]}}}\n"
			   "    forwarder: {nodes: [{addr: 1.1.1.1:1, tls: {options: {alpn: [h2]}}}]}\n"
			   "  - name: a\n    addr: :2\n    handler: {type: tcp, auther: ghost}\n" FWD,
			   8, "ghost", "handler.auther: no auther named \"ghost\" in authers");
		load_fails("hops:\n  - name: h\n    nodes:\n      - {addr: 1.1.1.1:1, connector: {type: forward}, "
			   "dialer: {tls: {options: {alpn: [h2]}}}}\n      - {addr: bad}\n",
			   5, "bad", "hops[0].nodes[1].addr: expected host:port (or :port, [v6]:port), got \"bad\"");
		/* the failing service itself holds parsed tls and authers */
		load_fails("authers: [{name: x, auths: [{username: u}]}]\n"
			   "services:\n  - name: a\n    addr: :1\n"
			   "    handler: {type: tcp, auther: x, tls: {options: {alpn: [h2]}}}\n"
			   "    listener: {type: tcp, tls: {options: {alpn: [h2]}}}\n"
			   "    forwarder: {nodes: [{addr: 1.1.1.1:1, tls: {options: {alpn: [h2]}}}]}\n"
			   "    bypass: ghost\n",
			   8, "ghost", "services[0].bypass: no bypass named \"ghost\" in bypasses");
		load_fails("authers: [{name: x, auths: [{username: u}]}]\n"
			   "services:\n  - name: a\n    addr: :1\n    handler: {type: tcp}\n" FWD
			   "  - name: a\n    addr: :2\n"
			   "    handler: {type: tcp, auther: x, tls: {options: {alpn: [h2]}}}\n"
			   "    listener: {type: tcp, tls: {options: {alpn: [h2]}}}\n" FWD,
			   7, "name", "services[1]: a service named \"a\" is already defined");
		load_fails("chains:\n  - name: c\n    hops:\n      - nodes:\n"
			   "        - {addr: 1.1.1.1:1, connector: {type: forward, tls: {options: {alpn: [h2]}}}, "
			   "dialer: {type: nope}}\n",
			   5, "nope", msg);
	}
}

/* Found by the YAML fuzzer: the agent's allowPorts error printed a token it had just freed. */
static void test_agent_allow_ports_error(void **state)
{
	(void)state;
	load_fails("services:\n  - addr: 127.0.0.1:80\n    handler: {type: agent}\n    listener:\n      type: agent\n"
		   "      metadata: {gateway: \"ws://127.0.0.1:4052\", subdomain: s, secret: x, allowPorts: \"22,t a\"}\n",
		   6, "\"22,", "allowPorts: expected ports and ranges such as 22,3306,8000-8100, got \"t\"");
}

/* ---- YAML anchors, aliases and merge keys (as in GOST issue threads) ---- */

static void test_yaml_anchors_aliases_merge(void **state)
{
	(void)state;
	struct config *c = load_ok("services:\n"
				   "- name: a\n"
				   "  addr: 127.0.0.1:9001\n"
				   "  handler: &tcp\n"
				   "    type: tcp\n"
				   "  listener: *tcp\n"
				   "  forwarder: &fw\n"
				   "    nodes: [{name: t, addr: 127.0.0.1:9}]\n"
				   "  metadata: &md {idleTimeout: 30s, readTimeout: 5s}\n"
				   "- name: b\n"
				   "  addr: 127.0.0.1:9002\n"
				   "  handler: *tcp\n"
				   "  listener: {<<: *tcp}\n"
				   "  forwarder: *fw\n"
				   "  metadata:\n"
				   "    idleTimeout: 60s\n"
				   "    <<: [*md, {dialTimeout: 3s, readTimeout: 9s}]\n");
	assert_int_equal(c->n_services, 2);
	const struct service *b = c->services[1];
	assert_string_equal(b->handler.type->name, "tcp");
	assert_string_equal(b->listener.type->name, "tcp");
	assert_int_equal(b->forwarder->n_nodes, 1);
	assert_string_equal(b->forwarder->nodes[0]->addr, "127.0.0.1:9");
	/* the mapping's own key wins over a merged one, whatever the order; the first base wins */
	assert_string_equal(cnode_str(b->md, "idleTimeout"), "60s");
	assert_string_equal(cnode_str(b->md, "readTimeout"), "5s");
	assert_string_equal(cnode_str(b->md, "dialTimeout"), "3s");
	assert_null(cnode_get(b->md, "<<"));
	drop(c);
}

static void test_yaml_alias_errors(void **state)
{
	(void)state;
	load_fails("services:\n- name: a\n  handler: *nope\n", 3, "*nope",
		   "unknown anchor \"nope\" (an alias must follow its anchor's complete node)");
	load_fails("services:\n- &s {name: a, handler: *s}\n", 2, "*s}",
		   "unknown anchor \"s\" (an alias must follow its anchor's complete node)");
	load_fails("services:\n- name: a\n  handler: &x tcp\n  listener: {<<: *x}\n", 4, "*x",
		   "a merge key (<<) takes a mapping or a list of them");
	/* "billion laughs": ten levels of ten aliases each */
	char doc[4096];
	size_t n = (size_t)snprintf(doc, sizeof doc, "services: []\nl0: &l0 [x,x,x,x,x,x,x,x,x,x]\n");
	for (int i = 1; i <= 8; i++) {
		n += (size_t)snprintf(doc + n, sizeof doc - n, "l%d: &l%d [", i, i);
		for (int k = 0; k < 10; k++)
			n += (size_t)snprintf(doc + n, sizeof doc - n, "%s*l%d", k ? "," : "", i - 1);
		n += (size_t)snprintf(doc + n, sizeof doc - n, "]\n");
	}
	memset(&err, 0, sizeof err);
	assert_null(config_load_file(write_file(doc), &err));
	assert_non_null(strstr(err.msg, "aliases expand to too many nodes"));
}

/* ---- the web API (top-level api) ---- */

static void test_api_block(void **state)
{
	(void)state;
	struct config *c = load_ok("authers:\n  - name: a\n    auths: [{username: u, password: p}]\n"
				   "api:\n  addr: 127.0.0.1:18080\n  pathPrefix: api/v1//\n  accesslog: true\n"
				   "  auther: a\n");
	assert_string_equal(c->api.host, "127.0.0.1");
	assert_int_equal(c->api.port, 18080);
	assert_string_equal(c->api.path_prefix, "/api/v1");
	assert_int_equal(c->api.accesslog, 1);
	assert_true(api_auth_required(&c->api));
	assert_true(api_auth_check(&c->api, "u", "p"));
	assert_false(api_auth_check(&c->api, "u", "x"));
	assert_false(api_auth_check(&c->api, "", ""));
	drop(c);
	c = load_ok("api:\n  addr: \"[::1]:1\"\n  pathPrefix: /\n");
	assert_string_equal(c->api.path_prefix, "");
	assert_false(api_auth_required(&c->api));
	assert_true(api_auth_check(&c->api, NULL, NULL));
	drop(c);
	c = load_ok("api:\n  addr: :18080\n  auth: {username: admin, password: pw}\n");
	assert_true(api_auth_check(&c->api, "admin", "pw"));
	assert_false(api_auth_check(&c->api, "admin", "pwx"));
	drop(c);
	c = load_ok("services: []\n");
	assert_null(c->api.addr);
	drop(c);
}

static void test_api_errors(void **state)
{
	(void)state;
	load_fails("api:\n  addr: :18080\n", 2, ":18080",
		   "api.addr: :18080 is not a loopback address and the API has no auth: anyone who reaches it could "
		   "change the configuration; set api.auth (username and password) or bind 127.0.0.1");
	load_fails("api:\n  addr: 10.1.2.3:1\n  auth: {username: u}\n", 3, "{",
		   "api.auth.password: is empty, so any password would do on 10.1.2.3:1, which is not a loopback address");
	load_fails("api:\n  addr: 127.0.0.1:1\n  auther: x\n", 3, "x", "api.auther: no auther named \"x\" in authers");
	load_fails("api:\n  addr: 127.0.0.1:1\n  path: /x\n", 3, "path",
		   "api.path: unknown key (expected one of: addr, pathPrefix, accesslog, auth, auther)");
	load_fails("api:\n  pathPrefix: /x\n", 2, "pathPrefix", "api.addr: is required (host:port, e.g. 127.0.0.1:18080)");
	load_fails("api:\n  addr: 127.0.0.1:1\n  pathPrefix: /a b\n", 3, "/a",
		   "api.pathPrefix: \"/a b\" is not a plain path (no spaces, ?, #, % or \\)");
	load_fails("services:\n  - name: s\n    addr: :7000\n    handler: {type: tcp}\n"
		   "    forwarder: {nodes: [{addr: 127.0.0.1:1}]}\napi:\n  addr: 127.0.0.1:7000\n",
		   7, "127", "api.addr: 127.0.0.1:7000 overlaps the address of service \"s\" (:7000)");
}

static void test_cnode_json_roundtrip(void **state)
{
	(void)state;
	char e[256];
	struct cnode *t = cnode_load_yaml(write_file("services:\n  - name: s\n    addr: :8080\n    n: 007\n"
						     "    f: 1.50\n    g: 1.5\n    b: true\n    x: 1e3\n    neg: -12\n"
						     "    big: 123456789012345678901234\n    empty:\n    l: [a, 1]\n"),
				       e, sizeof e);
	assert_non_null(t);
	json_t *j = cnode_to_json(t);
	json_t *svc = json_array_get(json_object_get(j, "services"), 0);
	assert_true(json_is_string(json_object_get(svc, "addr")));
	assert_true(json_is_string(json_object_get(svc, "n")));
	assert_true(json_is_string(json_object_get(svc, "f")));
	assert_true(json_is_real(json_object_get(svc, "g")));
	assert_true(json_is_true(json_object_get(svc, "b")));
	assert_true(json_is_string(json_object_get(svc, "x")));
	assert_int_equal(json_integer_value(json_object_get(svc, "neg")), -12);
	assert_true(json_is_string(json_object_get(svc, "big")));
	struct cnode *back = cnode_from_json(j, NULL);
	char *a = cnode_fingerprint(t), *b = cnode_fingerprint(back);
	assert_string_equal(a, b); /* what the API hands back reloads as the same services */
	free(a);
	free(b);
	struct cnode *bare = cnode_clone_bare(t);
	assert_null(bare->items[0]->file);
	assert_int_equal(bare->items[0]->line, 0);
	a = cnode_fingerprint(t);
	b = cnode_fingerprint(bare);
	assert_string_equal(a, b);
	free(a);
	free(b);
	json_t *nulls = json_loads("{\"a\": null, \"b\": [null], \"c\": 2.25}", 0, NULL);
	struct cnode *n = cnode_from_json(nulls, NULL);
	assert_null(cnode_get(n, "a"));
	assert_string_equal(cnode_get(n, "b")->items[0]->value, "");
	assert_string_equal(cnode_str(n, "c"), "2.25");
	json_decref(nulls);
	json_decref(j);
	cnode_free(n);
	cnode_free(bare);
	cnode_free(back);
	cnode_free(t);
}

/* ---- admissions, climiters, rlimiters (GOST's concepts/admission and concepts/limiter pages) ---- */

static void test_access_lists(void **state)
{
	(void)state;
	char listfile[160], yaml[2048];
	snprintf(listfile, sizeof listfile, "%s/adm.txt", dir);
	FILE *f = fopen(listfile, "w");
	assert_non_null(f);
	fputs("# ip or cidr\n\n127.0.0.3  # a comment\n  fd00::/8\n", f);
	fclose(f);
	snprintf(yaml, sizeof yaml,
		 "services:\n"
		 "  - name: s\n"
		 "    addr: 127.0.0.1:1\n"
		 "    admission: a0\n"
		 "    admissions: [a1, a0]\n"
		 "    climiter: c0\n"
		 "    rlimiter: r0\n"
		 "    handler: {type: http}\n"
		 "  - name: t\n"
		 "    addr: 127.0.0.1:2\n"
		 "    admission: \"\"\n"
		 "    handler: {type: http}\n"
		 "admissions:\n"
		 "  - name: a0\n"
		 "    whitelist: true\n"
		 "    matchers: [127.0.0.1, 192.168.0.0/16, \"::1\"]\n"
		 "    reload: 10s\n"
		 "  - name: a1\n"
		 "    reverse: true\n"
		 "    file: {path: %s}\n"
		 "climiters:\n"
		 "  - name: c0\n"
		 "    limits: [\"$ 1000\", \"$$ 100\", \"192.168.1.1  10\", \"10.0.0.0/8\t5 extra\", \"10.0.0.0/8 6\", \"1.2.3.4 0\"]\n"
		 "rlimiters:\n"
		 "  - name: r0\n"
		 "    limits: [\"$ 100\", \"$$ 10\", \"192.168.1.1 50\", \"192.168.0.0/16 0.5\"]\n",
		 listfile);
	struct config *c = load_ok(yaml);
	assert_int_equal(c->n_admissions, 2);
	const struct admission *a0 = c->admissions[0], *a1 = c->admissions[1];
	assert_true(a0->whitelist);
	assert_int_equal(a0->n, 3);
	assert_true(a1->whitelist); /* reverse: GOST's older name */
	assert_int_equal(a1->n, 2); /* from the file: comments and blank lines dropped */
	const struct service *sv = c->services[0];
	assert_int_equal(sv->n_admissions, 3);
	assert_ptr_equal(sv->admissions[0], a0);
	assert_ptr_equal(sv->admissions[1], a1);
	assert_int_equal(c->services[1]->n_admissions, 0);
	const struct addr_limiter *cl = sv->climiter, *rl = sv->rlimiter;
	assert_true(cl->global == 1000 && cl->per_ip == 100 && !cl->rate);
	assert_int_equal(cl->n_ips, 1); /* "1.2.3.4 0": skipped, no limit (GOST) */
	assert_true(cl->ips[0].value == 10);
	assert_int_equal(cl->n_nets, 1); /* the later line for the same scope replaces the earlier */
	assert_true(cl->nets[0].value == 6);
	assert_non_null(cl->table);
	assert_true(rl->rate && rl->global == 100 && rl->per_ip == 10);
	assert_true(rl->nets[0].value == 0.5);
	assert_null(c->services[1]->climiter);
	drop(c);
}

static void test_access_fingerprint(void **state)
{
	(void)state;
	const char *a = "services:\n  - name: s\n    addr: :1\n    handler: {type: http}\n    admission: a\n"
			"admissions:\n  - name: a\n    matchers: [10.0.0.1]\n";
	const char *b = "services:\n  - name: s\n    addr: :1\n    handler: {type: http}\n    admission: a\n"
			"admissions:\n  - name: a\n    matchers: [10.0.0.2]\n";
	struct config *ca = load_ok(a), *cb = load_ok(b);
	assert_string_not_equal(ca->services[0]->fingerprint, cb->services[0]->fingerprint);
	drop(ca);
	drop(cb);
}

#define SVC_HTTP "services:\n  - addr: :1\n    handler: {type: http}\n"

static void test_access_errors(void **state)
{
	(void)state;
	load_fails("admissions:\n  - whitelist: true\n", 2, "whitelist", "admissions[0]: name is required");
	load_fails("admissions:\n  - name: a\n    matchers: [10.0.0.1, \"bad name\"]\n", 3, "\"bad",
		   "admissions[0].matchers: \"bad name\" is not an IP address, a CIDR or a host name");
	load_fails("admissions:\n  - name: a\n    matchers: [10.0.0.0/33]\n", 3, "10.0",
		   "admissions[0].matchers: \"10.0.0.0/33\" is not an IP address, a CIDR or a host name");
	/* a blacklist's name that does not resolve would refuse nobody: an error (GOST drops it) */
	memset(&err, 0, sizeof err);
	struct config *c = config_load_file(write_file("admissions:\n  - name: a\n    matchers: [no-such-host.invalid]\n"), &err);
	assert_null(c);
	if (!strstr(err.msg, ":3:16: admissions[0].matchers: host name \"no-such-host.invalid\" does not resolve ("))
		fail_msg("%s", err.msg);
	/* a whitelist's only admits fewer: as GOST, it is dropped (with a warning) */
	c = load_ok("admissions:\n  - name: a\n    whitelist: true\n    matchers: [no-such-host.invalid, localhost]\n");
	assert_true(c->admissions[0]->n >= 1); /* localhost's addresses */
	drop(c);
	load_fails("admissions:\n  - name: a\n    matchers: 10.0.0.1\n", 3, "10.0", "admissions[0].matchers: expected a list");
	load_fails("admissions:\n  - name: a\n    whitelist: maybe\n", 3, "maybe",
		   "whitelist: expected true or false, got \"maybe\"");
	load_fails("admissions:\n  - name: a\n    colour: red\n", 3, "colour",
		   "admissions[0].colour: unknown key (expected one of: name, whitelist, reverse, matchers, file, reload)");
	static const char *const src[] = { "redis", "http", "plugin", NULL };
	char text[512], field[128];
	for (size_t i = 0; src[i]; i++) {
		snprintf(text, sizeof text, "admissions:\n  - name: a\n    %s: {addr: 127.0.0.1:6379}\n", src[i]);
		snprintf(field, sizeof field, "admissions[0].%s", src[i]);
		refused_at(text, 3, src[i], field);
		snprintf(text, sizeof text, "climiters:\n  - name: a\n    %s: {addr: 127.0.0.1:6379}\n", src[i]);
		snprintf(field, sizeof field, "climiters[0].%s", src[i]);
		refused_at(text, 3, src[i], field);
		snprintf(text, sizeof text, "rlimiters:\n  - name: a\n    %s: {addr: 127.0.0.1:6379}\n", src[i]);
		snprintf(field, sizeof field, "rlimiters[0].%s", src[i]);
		refused_at(text, 3, src[i], field);
	}
	snprintf(text, sizeof text, "admissions:\n  - name: a\n    reload: 10s\n    file: {path: %s/none.txt}\n", dir);
	load_fails(text, 3, "10s",
		   "admissions[0].reload: re-reading file.path periodically is not implemented by portway (the file is "
		   "read at start and at each reload, SIGHUP); remove reload");
	char want[600];
	snprintf(text, sizeof text, "climiters:\n  - name: a\n    file: {path: %s/none.txt}\n", dir);
	snprintf(want, sizeof want, "climiters[0].file.path: cannot read %s/none.txt: No such file or directory", dir);
	load_fails(text, 3, dir, want);
	char listfile[160];
	snprintf(listfile, sizeof listfile, "%s/bad-limits.txt", dir);
	FILE *f = fopen(listfile, "w");
	assert_non_null(f);
	fputs("$ 10\n\n$$ lots\n", f);
	fclose(f);
	snprintf(text, sizeof text, "climiters:\n  - name: a\n    file: {path: %s}\n", listfile);
	snprintf(want, sizeof want, "climiters[0].file.path: \"$$ lots\": the limit is not a whole number (%s:3)", listfile);
	load_fails(text, 3, dir, want);

	load_fails("climiters:\n  - name: c\n    limits: [\"$ 1.5\"]\n", 3, "\"$",
		   "climiters[0].limits: \"$ 1.5\": the limit is not a whole number");
	load_fails("climiters:\n  - name: c\n    limits: [\"$\"]\n", 3, "\"$",
		   "climiters[0].limits: \"$\": expected a scope and a limit, such as \"$ 100\", \"$$ 10\" or "
		   "\"192.168.0.0/16 5\"");
	load_fails("rlimiters:\n  - name: r\n    limits: [\"$ 10\", \"example.com 5\"]\n", 3, "\"example",
		   "rlimiters[0].limits: \"example.com 5\": the scope is none of $ (the service), $$ (each IP), an IP "
		   "address or a CIDR");
	load_fails("rlimiters:\n  - name: r\n    limits: [\"$ fast\"]\n", 3, "\"$",
		   "rlimiters[0].limits: \"$ fast\": the limit is not a number");
	load_fails("rlimiters:\n  - name: r\n    limits: [[1]]\n", 3, "[1",
		   "rlimiters[0].limits: expected a line such as \"$ 100\"");
	load_fails(SVC_HTTP "    admission: nope\n", 4, "nope",
		   "services[0].admission: no admission named \"nope\" in admissions");
	load_fails(SVC_HTTP "    admissions: [x]\nadmissions:\n  - name: a\n", 4, "x",
		   "services[0].admissions: no admission named \"x\" in admissions");
	load_fails(SVC_HTTP "    admissions: nope\n", 4, "nope", "services[0].admissions: expected a list of names of admissions");
	load_fails(SVC_HTTP "    climiter: nope\n", 4, "nope", "services[0].climiter: no climiter named \"nope\" in climiters");
	load_fails(SVC_HTTP "    rlimiter: [r]\n", 4, "[", "services[0].rlimiter: expected the name of one of rlimiters");
	load_fails("services:\n  - addr: :1\n    handler: {type: natrelay-server}\n    listener: {type: natrelay-server}\n"
		   "    rlimiter: rl9\nrlimiters:\n  - name: rl9\n    limits: [\"$ 1\"]\n",
		   5, "rl9", "services[0].rlimiter: the natrelay-server listener does not check its clients against it");
	load_fails(SVC_HTTP "    rlimiter: cl\nclimiters:\n  - name: cl\n", 4, "cl",
		   "services[0].rlimiter: no rlimiter named \"cl\" in rlimiters");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_service),
		cmocka_unit_test(test_defaults_and_udp),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_chains_hops_authers_bypasses),
		cmocka_unit_test(test_bypass_groups_and_network),
		cmocka_unit_test(test_auth_file),
		cmocka_unit_test(test_limiters),
		cmocka_unit_test(test_limiter_errors),
		cmocka_unit_test(test_ignored_keys_are_accepted),
		cmocka_unit_test(test_hosts_and_resolvers),
		cmocka_unit_test(test_hosts_and_resolvers_refused),
		cmocka_unit_test(test_null_values),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_cannot_open),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_yaml_error_after_document),
		cmocka_unit_test(test_yaml_too_deep),
		cmocka_unit_test(test_top_level_errors),
		cmocka_unit_test(test_service_errors),
		cmocka_unit_test(test_same_address_twice),
		cmocka_unit_test(test_unknown_types_list_known),
		cmocka_unit_test(test_forwarder_errors),
		cmocka_unit_test(test_selector_hash),
		cmocka_unit_test(test_selector_node_metadata),
		cmocka_unit_test(test_selector_weights),
		cmocka_unit_test(test_selector_errors),
		cmocka_unit_test(test_metadata_errors),
		cmocka_unit_test(test_chain_errors),
		cmocka_unit_test(test_auth_tls_errors),
		cmocka_unit_test(test_gost_types_not_implemented),
		cmocka_unit_test(test_security_keys_refused),
		cmocka_unit_test(test_access_lists),
		cmocka_unit_test(test_access_fingerprint),
		cmocka_unit_test(test_access_errors),
		cmocka_unit_test(test_security_metadata_refused),
		cmocka_unit_test(test_proxy_protocol_listener),
		cmocka_unit_test(test_settings_not_applied),
		cmocka_unit_test(test_dtls_min_version_refused),
		cmocka_unit_test(test_settings_applied_accepted),
		cmocka_unit_test(test_many_refusals),
		cmocka_unit_test(test_yaml_anchors_aliases_merge),
		cmocka_unit_test(test_agent_allow_ports_error),
		cmocka_unit_test(test_yaml_alias_errors),
		cmocka_unit_test(test_api_block),
		cmocka_unit_test(test_api_errors),
		cmocka_unit_test(test_cnode_json_roundtrip),
	};
	log_set_level("error");
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
