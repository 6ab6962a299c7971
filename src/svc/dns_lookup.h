/*
 * What the router asks before it dials a name: GOST's hosts, then its resolver's nameservers
 * (in order; per nameserver the preferred family first), else the name as it is (the system
 * resolver at the socket, or the next proxy, resolves it).
 */
#ifndef PORTWAY_DNS_LOOKUP_H
#define PORTWAY_DNS_LOOKUP_H
#include "src/conf/dns.h"
#include "src/core/worker.h"

/* addr: an IP literal (or name when no resolver applies), valid during the call; or err (errno). */
typedef void (*dns_lookup_cb)(void *ctx, const char *addr, int err);

/* The answer without asking anyone, or NULL when a resolver must be asked (dns_lookup). */
const char *dns_lookup_now(const struct hosts_table *hosts, const struct resolver_cfg *r, const char *name);
/* Ask r for name (which dns_lookup_now left unanswered). cb runs once, never from inside this call.
 * The caller keeps r (its config) alive until then. */
void dns_lookup(struct worker *w, const struct resolver_cfg *r, const char *name, dns_lookup_cb cb, void *ctx);

#endif
