/*
 * GOST's `hosts` (static name to address mappings) and `resolvers` (nameserver lists), as the
 * configuration model holds them: parsed and checked here, applied by the router (src/svc/router.c)
 * through the c-ares layer (src/core/resolve.c). No I/O.
 */
#ifndef PORTWAY_CONF_DNS_H
#define PORTWAY_CONF_DNS_H
#include <stddef.h>
#include <stdint.h>

#include "src/conf/cnode.h"
#include "src/conf/model.h"

struct hosts_mapping {
	char *name;                 /* owned; ".example.org" is a wildcard for the domain and below */
	char ip[46];                /* a literal, v4 or v6 */
	int v6;
};

/* hosts[i]: one named table. Owns its mappings. */
struct hosts_table {
	char *name;
	struct hosts_mapping *m;
	size_t n;
};

enum nameserver_proto { NS_UDP, NS_TCP };
enum ip_pref { IP_PREF_NONE, IP_PREF_V4, IP_PREF_V6 };

struct nameserver {
	enum nameserver_proto proto;
	char host[64];              /* an IP literal: a nameserver named by a hostname would need a resolver itself */
	uint16_t port;
	enum ip_pref prefer;        /* which family is asked first (default v4) */
	enum ip_pref only;          /* ask only this family */
	double ttl;                 /* > 0: cache that long; 0: the answer's TTL; < 0: no cache */
	double timeout;             /* per query; default 5 s */
	/* What identifies the c-ares channel this nameserver needs (a worker keeps one per key). */
	char key[128];
};

/* resolvers[i]: owns its nameservers, tried in order until one answers with addresses. */
struct resolver_cfg {
	char *name;
	struct nameserver *ns;
	size_t n_ns;
};

/* Top-level lists (NULL: absent). Return 0, or -1 with e set. */
int dns_parse_hosts(const struct cnode *list, struct hosts_table ***out, size_t *n, struct cfg_err *e);
int dns_parse_resolvers(const struct cnode *list, struct resolver_cfg ***out, size_t *n, struct cfg_err *e);
/* A service's, hop's or node's `hosts:` and `resolver:` keys, naming one of the tables; absent keys
 * leave *h and *r unchanged (a node inherits its hop's). */
int dns_refs(const struct cnode *owner, const char *path, struct hosts_table **tables, size_t n_tables,
	     struct resolver_cfg **resolvers, size_t n_resolvers, struct hosts_table **h, struct resolver_cfg **r,
	     struct cfg_err *e);
/* GOST's lookup: the exact name, then ".name", then each parent's ".domain", then ".". The first
 * address of the family (AF_INET, AF_INET6, or 0 for either) in the order written; NULL if none. */
const char *hosts_lookup(const struct hosts_table *t, const char *name, int family);
/* One GOST nameserver address, "[udp|tcp://]ip[:port]" (tls:// and https:// are refused). */
int nameserver_parse_addr(const char *addr, struct nameserver *ns, char *err, size_t errlen);
void hosts_table_free(struct hosts_table *t);
void resolver_cfg_free(struct resolver_cfg *r);

#endif
