#include "src/conf/dns.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/core/util.h"

/* Keys of this map other than known are an error: what portway does not implement of GOST's
 * hosts and resolvers (loaders, plugins, chains) would otherwise change answers silently. */
static int dns_check_keys(const struct cnode *map, const char *path, const char *const *known, struct cfg_err *e)
{
	for (size_t i = 0; i < map->n; i++) {
		const struct cnode *it = map->items[i];
		size_t j;
		for (j = 0; known[j] && strcasecmp(known[j], it->key); j++)
			;
		if (known[j])
			continue;
		struct cnode at = *it;
		if (at.key_line) {
			at.line = at.key_line;
			at.col = at.key_col;
		}
		char field[512];
		snprintf(field, sizeof field, "%s.%s", path, it->key);
		char list[256] = "";
		for (j = 0; known[j]; j++) {
			size_t l = strlen(list);
			snprintf(list + l, sizeof list - l, "%s%s", j ? ", " : "", known[j]);
		}
		return cfg_error(e, &at, field, "is not implemented by portway (implemented here: %s)", list);
	}
	return 0;
}

static int dns_want(const struct cnode *n, enum cnode_kind kind, const char *field, struct cfg_err *e)
{
	static const char *names[] = { "a string", "a mapping", "a list" };
	if (n->kind != kind)
		return cfg_error(e, n, field, "expected %s", names[kind]);
	return 0;
}

void hosts_table_free(struct hosts_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->m[i].name);
	free(t->m);
	free(t->name);
	free(t);
}

void resolver_cfg_free(struct resolver_cfg *r)
{
	if (!r)
		return;
	free(r->ns);
	free(r->name);
	free(r);
}

static void hosts_add(struct hosts_table *t, const char *name, const char *ip, int v6)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcasecmp(t->m[i].name, name) && !strcmp(t->m[i].ip, ip))
			return; /* GOST keeps one of each address per name */
	t->m = xrealloc(t->m, (t->n + 1) * sizeof *t->m);
	t->m[t->n].name = xstrdup(name);
	snprintf(t->m[t->n].ip, sizeof t->m[t->n].ip, "%s", ip);
	t->m[t->n].v6 = v6;
	t->n++;
}

static int hosts_parse_mapping(struct hosts_table *t, const struct cnode *m, const char *path, struct cfg_err *e)
{
	static const char *const keys[] = { "ip", "hostname", "aliases", NULL };
	char field[600];
	unsigned char buf[16];
	if (dns_want(m, CN_MAP, path, e) < 0 || dns_check_keys(m, path, keys, e) < 0)
		return -1;
	const char *ip = cnode_str(m, "ip"), *hostname = cnode_str(m, "hostname");
	snprintf(field, sizeof field, "%s.ip", path);
	if (!ip || !*ip)
		return cfg_error(e, m, field, "is required");
	int v6 = strchr(ip, ':') != NULL;
	/* GOST skips an entry whose address does not parse; portway refuses it (fail closed). */
	if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, buf) != 1)
		return cfg_error(e, cnode_get(m, "ip"), field, "\"%s\" is not an IPv4 or IPv6 address", ip);
	snprintf(field, sizeof field, "%s.hostname", path);
	if (!hostname || !*hostname)
		return cfg_error(e, m, field, "is required");
	hosts_add(t, hostname, ip, v6);
	const struct cnode *al = cnode_get(m, "aliases");
	if (al) {
		snprintf(field, sizeof field, "%s.aliases", path);
		if (dns_want(al, CN_SEQ, field, e) < 0)
			return -1;
		for (size_t i = 0; i < al->n; i++) {
			if (dns_want(al->items[i], CN_SCALAR, field, e) < 0)
				return -1;
			if (*al->items[i]->value)
				hosts_add(t, al->items[i]->value, ip, v6);
		}
	}
	return 0;
}

static struct hosts_table *hosts_parse_one(const struct cnode *n, const char *path, struct cfg_err *e)
{
	static const char *const keys[] = { "name", "mappings", NULL };
	char field[600];
	if (dns_want(n, CN_MAP, path, e) < 0 || dns_check_keys(n, path, keys, e) < 0)
		return NULL;
	const char *name = cnode_str(n, "name");
	snprintf(field, sizeof field, "%s.name", path);
	if (!name || !*name) {
		cfg_error(e, n, field, "is required");
		return NULL;
	}
	struct hosts_table *t = xcalloc(1, sizeof *t);
	t->name = xstrdup(name);
	const struct cnode *ms = cnode_get(n, "mappings");
	snprintf(field, sizeof field, "%s.mappings", path);
	if (ms && dns_want(ms, CN_SEQ, field, e) < 0)
		goto fail;
	for (size_t i = 0; ms && i < ms->n; i++) {
		char mp[700];
		snprintf(mp, sizeof mp, "%s[%zu]", field, i);
		if (hosts_parse_mapping(t, ms->items[i], mp, e) < 0)
			goto fail;
	}
	return t;
fail:
	hosts_table_free(t);
	return NULL;
}

int dns_parse_hosts(const struct cnode *list, struct hosts_table ***out, size_t *n, struct cfg_err *e)
{
	if (!list)
		return 0;
	if (dns_want(list, CN_SEQ, "hosts", e) < 0)
		return -1;
	for (size_t i = 0; i < list->n; i++) {
		char path[32];
		snprintf(path, sizeof path, "hosts[%zu]", i);
		struct hosts_table *t = hosts_parse_one(list->items[i], path, e);
		if (!t)
			return -1;
		for (size_t j = 0; j < *n; j++)
			if (!strcmp((*out)[j]->name, t->name)) {
				hosts_table_free(t);
				return cfg_error(e, list->items[i], path, "a second hosts named \"%s\"", (*out)[j]->name);
			}
		*out = xrealloc(*out, (*n + 1) * sizeof **out);
		(*out)[(*n)++] = t;
	}
	return 0;
}

static const char *hosts_find(const struct hosts_table *t, const char *name, int family)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcasecmp(t->m[i].name, name) &&
		    (!family || (family == AF_INET6) == (t->m[i].v6 != 0)))
			return t->m[i].ip;
	return NULL;
}

/* GOST picks the entry by name first and filters by family after: a name whose entries are all
 * of the other family does not fall through to a wildcard. */
static int hosts_has(const struct hosts_table *t, const char *name) { return hosts_find(t, name, 0) != NULL; }

const char *hosts_lookup(const struct hosts_table *t, const char *name, int family)
{
	char dotted[260];
	if (!t || !name || !*name)
		return NULL;
	if (hosts_has(t, name))
		return hosts_find(t, name, family);
	snprintf(dotted, sizeof dotted, ".%s", name);
	if (hosts_has(t, dotted))
		return hosts_find(t, dotted, family);
	for (const char *s = name; (s = strchr(s, '.')) && s[1]; s++)
		if (hosts_has(t, s))
			return hosts_find(t, s, family);
	if (hosts_has(t, "."))
		return hosts_find(t, ".", family);
	return NULL;
}

int nameserver_parse_addr(const char *addr, struct nameserver *ns, char *err, size_t errlen)
{
	const char *p = addr, *sep = strstr(addr, "://");
	unsigned char buf[16];
	ns->proto = NS_UDP;
	ns->port = 53;
	if (sep) {
		size_t sl = (size_t)(sep - addr);
		if (sl == 3 && !strncasecmp(addr, "udp", 3))
			ns->proto = NS_UDP;
		else if (sl == 3 && !strncasecmp(addr, "tcp", 3))
			ns->proto = NS_TCP;
		else if ((sl == 3 && !strncasecmp(addr, "tls", 3)) || (sl == 5 && !strncasecmp(addr, "https", 5))) {
			snprintf(err, errlen, "%.*s:// (DNS over %s) is not implemented by portway", (int)sl, addr,
				 sl == 3 ? "TLS" : "HTTPS");
			return -1;
		} else {
			snprintf(err, errlen, "unknown protocol \"%.*s\" (known: udp, tcp)", (int)sl, addr);
			return -1;
		}
		p = sep + 3;
	}
	char host[64];
	const char *end;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || (size_t)(end - p - 1) >= sizeof host)
			goto bad;
		snprintf(host, sizeof host, "%.*s", (int)(end - p - 1), p + 1);
		end++;
	} else {
		const char *colon = strchr(p, ':');
		/* a bare IPv6 address has several colons and no port */
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;
		end = colon ? colon : p + strlen(p);
		if ((size_t)(end - p) >= sizeof host)
			goto bad;
		snprintf(host, sizeof host, "%.*s", (int)(end - p), p);
	}
	if (*end == ':') {
		char *pe;
		unsigned long port = strtoul(end + 1, &pe, 10);
		if (!end[1] || *pe || !port || port > 65535)
			goto bad;
		ns->port = (uint16_t)port;
	} else if (*end && strcmp(end, "/")) {
		goto bad;
	}
	if (inet_pton(strchr(host, ':') ? AF_INET6 : AF_INET, host, buf) != 1) {
		snprintf(err, errlen, "\"%s\": the nameserver must be an IP address (a name would need resolving itself)",
			 addr);
		return -1;
	}
	snprintf(ns->host, sizeof ns->host, "%s", host);
	return 0;
bad:
	snprintf(err, errlen, "\"%s\" is not [udp|tcp://]ip[:port]", addr);
	return -1;
}

static int ip_pref_parse(const struct cnode *n, const char *field, int only, enum ip_pref *out, struct cfg_err *e)
{
	const char *v = n->kind == CN_SCALAR ? n->value : NULL;
	if (v && (!strcasecmp(v, "ipv4") || (only && !strcasecmp(v, "ip4"))))
		*out = IP_PREF_V4;
	else if (v && (!strcasecmp(v, "ipv6") || (only && !strcasecmp(v, "ip6"))))
		*out = IP_PREF_V6;
	else if (v && !*v)
		*out = IP_PREF_NONE;
	else
		return cfg_error(e, n, field, "expected ipv4 or ipv6");
	return 0;
}

static int nameserver_parse(const struct cnode *n, const char *path, struct nameserver *ns, struct cfg_err *e)
{
	/* hostname: only the TLS server name of tls:// and https:// nameservers (refused), harmless here */
	static const char *const keys[] = { "addr", "prefer", "only", "ttl", "timeout", "hostname", "chain", NULL };
	char field[600], err[300];
	const struct cnode *v;
	if (dns_want(n, CN_MAP, path, e) < 0 || dns_check_keys(n, path, keys, e) < 0)
		return -1;
	v = cnode_get(n, "chain");
	snprintf(field, sizeof field, "%s.chain", path);
	if (v && (v->kind != CN_SCALAR || *v->value))
		return cfg_error(e, v, field, "is not implemented by portway (queries go straight to the nameserver)");
	const char *addr = cnode_str(n, "addr");
	snprintf(field, sizeof field, "%s.addr", path);
	if (!addr || !*addr)
		return cfg_error(e, n, field, "is required");
	if (nameserver_parse_addr(addr, ns, err, sizeof err) < 0)
		return cfg_error(e, cnode_get(n, "addr"), field, "%s", err);
	snprintf(field, sizeof field, "%s.prefer", path);
	if ((v = cnode_get(n, "prefer")) && ip_pref_parse(v, field, 0, &ns->prefer, e) < 0)
		return -1;
	snprintf(field, sizeof field, "%s.only", path);
	if ((v = cnode_get(n, "only")) && ip_pref_parse(v, field, 1, &ns->only, e) < 0)
		return -1;
	if (ns->only)
		ns->prefer = ns->only;
	/* GOST: a negative ttl turns the cache off */
	v = cnode_get(n, "ttl");
	if (v && v->kind == CN_SCALAR && v->value[0] == '-') {
		struct cnode pos = *v;
		pos.key = "ttl";
		pos.value = v->value + 1;
		struct cnode holder = { .kind = CN_MAP, .items = (struct cnode *[]){ &pos }, .n = 1 };
		if (md_duration(&holder, "ttl", 0, &ns->ttl, e) < 0)
			return -1;
		ns->ttl = -1;
	} else if (md_duration(n, "ttl", 0, &ns->ttl, e) < 0) {
		return -1;
	}
	if (md_duration(n, "timeout", 5, &ns->timeout, e) < 0)
		return -1;
	if (ns->timeout <= 0)
		ns->timeout = 5;
	snprintf(ns->key, sizeof ns->key, "%s|%s|%u|%g|%g", ns->proto == NS_TCP ? "tcp" : "udp", ns->host, ns->port,
		 ns->timeout, ns->ttl);
	return 0;
}

static struct resolver_cfg *resolver_parse_one(const struct cnode *n, const char *path, struct cfg_err *e)
{
	static const char *const keys[] = { "name", "nameservers", NULL };
	char field[600];
	if (dns_want(n, CN_MAP, path, e) < 0 || dns_check_keys(n, path, keys, e) < 0)
		return NULL;
	const char *name = cnode_str(n, "name");
	snprintf(field, sizeof field, "%s.name", path);
	if (!name || !*name) {
		cfg_error(e, n, field, "is required");
		return NULL;
	}
	const struct cnode *list = cnode_get(n, "nameservers");
	snprintf(field, sizeof field, "%s.nameservers", path);
	if (!list || (list->kind == CN_SEQ && !list->n)) {
		cfg_error(e, list ? list : n, field, "at least one nameserver is required");
		return NULL;
	}
	if (dns_want(list, CN_SEQ, field, e) < 0)
		return NULL;
	struct resolver_cfg *r = xcalloc(1, sizeof *r);
	r->name = xstrdup(name);
	r->ns = xcalloc(list->n, sizeof *r->ns);
	for (size_t i = 0; i < list->n; i++) {
		char np[700];
		snprintf(np, sizeof np, "%s[%zu]", field, i);
		if (nameserver_parse(list->items[i], np, &r->ns[i], e) < 0) {
			resolver_cfg_free(r);
			return NULL;
		}
		r->n_ns++;
	}
	return r;
}

int dns_parse_resolvers(const struct cnode *list, struct resolver_cfg ***out, size_t *n, struct cfg_err *e)
{
	if (!list)
		return 0;
	if (dns_want(list, CN_SEQ, "resolvers", e) < 0)
		return -1;
	for (size_t i = 0; i < list->n; i++) {
		char path[32];
		snprintf(path, sizeof path, "resolvers[%zu]", i);
		struct resolver_cfg *r = resolver_parse_one(list->items[i], path, e);
		if (!r)
			return -1;
		for (size_t j = 0; j < *n; j++)
			if (!strcmp((*out)[j]->name, r->name)) {
				resolver_cfg_free(r);
				return cfg_error(e, list->items[i], path, "a second resolver named \"%s\"", (*out)[j]->name);
			}
		*out = xrealloc(*out, (*n + 1) * sizeof **out);
		(*out)[(*n)++] = r;
	}
	return 0;
}

int dns_refs(const struct cnode *owner, const char *path, struct hosts_table **tables, size_t n_tables,
	     struct resolver_cfg **resolvers, size_t n_resolvers, struct hosts_table **h, struct resolver_cfg **r,
	     struct cfg_err *e)
{
	char field[600];
	const struct cnode *v = cnode_get(owner, "hosts");
	if (v) {
		snprintf(field, sizeof field, "%s.hosts", path);
		if (dns_want(v, CN_SCALAR, field, e) < 0)
			return -1;
		if (*v->value) {
			size_t i;
			for (i = 0; i < n_tables && strcmp(tables[i]->name, v->value); i++)
				;
			if (i == n_tables)
				return cfg_error(e, v, field, "no hosts named \"%s\" in hosts", v->value);
			*h = tables[i];
		}
	}
	v = cnode_get(owner, "resolver");
	if (v) {
		snprintf(field, sizeof field, "%s.resolver", path);
		if (dns_want(v, CN_SCALAR, field, e) < 0)
			return -1;
		if (*v->value) {
			size_t i;
			for (i = 0; i < n_resolvers && strcmp(resolvers[i]->name, v->value); i++)
				;
			if (i == n_resolvers)
				return cfg_error(e, v, field, "no resolver named \"%s\" in resolvers", v->value);
			*r = resolvers[i];
		}
	}
	return 0;
}
