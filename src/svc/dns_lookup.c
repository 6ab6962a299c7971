#include "src/svc/dns_lookup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/core/resolve.h"
#include "src/core/util.h"

/* One lookup: which nameserver and which of its two families is being asked. */
struct dns_lookup_req {
	struct worker *w;
	const struct resolver_cfg *r;   /* the caller's; alive until cb */
	char *name;                     /* owned */
	size_t ns;                      /* index into r->ns */
	int second;                     /* 0: the preferred family, 1: the other */
	int err;                        /* the last nameserver's failure */
	dns_lookup_cb cb;
	void *ctx;
};

static int is_literal(const char *name)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

const char *dns_lookup_now(const struct hosts_table *hosts, const struct resolver_cfg *r, const char *name)
{
	const char *ip = hosts && !is_literal(name) ? hosts_lookup(hosts, name, 0) : NULL;
	if (ip) {
		log_debug("hosts: %s -> %s", name, ip);
		return ip;
	}
	return r && *name && !is_literal(name) ? NULL : name;
}

static int ns_family(const struct nameserver *ns, int second)
{
	int v6 = ns->prefer == IP_PREF_V6;
	return (v6 != second) ? AF_INET6 : AF_INET;
}

static void dns_lookup_ask(struct dns_lookup_req *q);

static void dns_lookup_done(struct dns_lookup_req *q, const char *addr, int err)
{
	q->cb(q->ctx, addr, err);
	free(q->name);
	free(q);
}

static void dns_lookup_answer(void *ctx, const struct resolved *res, int err)
{
	struct dns_lookup_req *q = ctx;
	const struct nameserver *ns = &q->r->ns[q->ns];
	if (!err && res && res->count) {
		char ip[INET6_ADDRSTRLEN];
		const struct sockaddr_storage *ss = &res->addr[0];
		const void *a = ss->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
							  : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
		inet_ntop(ss->ss_family, a, ip, sizeof ip);
		log_debug("resolver %s: %s -> %s (nameserver %s)", q->r->name, q->name, ip, ns->host);
		dns_lookup_done(q, ip, 0);
		return;
	}
	if (err)
		q->err = err;
	/* GOST: the other family when this one gave nothing, unless the nameserver is "only" one */
	if (!q->second && !ns->only) {
		q->second = 1;
	} else {
		q->second = 0;
		q->ns++;
	}
	if (q->ns >= q->r->n_ns) {
		log_debug("resolver %s: %s has no address", q->r->name, q->name);
		dns_lookup_done(q, NULL, q->err == ETIMEDOUT ? ETIMEDOUT : EHOSTUNREACH);
		return;
	}
	dns_lookup_ask(q);
}

static void dns_lookup_ask(struct dns_lookup_req *q)
{
	const struct nameserver *ns = &q->r->ns[q->ns];
	char servers[80];
	snprintf(servers, sizeof servers, strchr(ns->host, ':') ? "[%s]:%u" : "%s:%u", ns->host, ns->port);
	struct resolve_server srv = {
		.key = ns->key, .servers = servers, .tcp = ns->proto == NS_TCP, .timeout = ns->timeout, .ttl = ns->ttl
	};
	resolve_via(q->w, &srv, q->name, ns_family(ns, q->second), dns_lookup_answer, q);
}

void dns_lookup(struct worker *w, const struct resolver_cfg *r, const char *name, dns_lookup_cb cb, void *ctx)
{
	struct dns_lookup_req *q = xcalloc(1, sizeof *q);
	q->w = w;
	q->r = r;
	q->name = xstrdup(name);
	q->cb = cb;
	q->ctx = ctx;
	q->err = EHOSTUNREACH;
	dns_lookup_ask(q);
}
