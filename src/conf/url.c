/*
 * -L and -F URLs, as GOST reads them, turned into the same tree a YAML file
 * gives, so one validator serves both.
 *   -L [scheme://][user:pass@][host]:port[/target[,target...]][?k=v&...]
 *   -F [scheme://][user:pass@]host:port[,host:port...][?k=v&...]
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/core/log.h"
#include "src/conf/model.h"
#include "src/core/util.h"

struct url_parts {
	char scheme[64];
	char *user, *pass;      /* percent-decoded; NULL when absent */
	char *hosts;            /* "host:port" or "h1:p1,h2:p2" */
	char *path;             /* after the first '/', or NULL */
	char *query;            /* after '?', or NULL */
};

static int hexval(int c)
{
	if (isdigit(c))
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *pct_decode(const char *s, size_t n, int plus_is_space)
{
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			*o++ = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

static void url_parts_free(struct url_parts *u)
{
	free(u->user);
	free(u->pass);
	free(u->hosts);
	free(u->path);
	free(u->query);
}

static int url_split(const char *url, struct url_parts *u, struct cfg_err *e, const char *what)
{
	const char *p = url, *sep = strstr(url, "://");
	memset(u, 0, sizeof *u);
	if (sep) {
		if ((size_t)(sep - url) >= sizeof u->scheme)
			return cfg_error(e, NULL, what, "scheme too long in \"%s\"", url);
		memcpy(u->scheme, url, (size_t)(sep - url));
		u->scheme[sep - url] = 0;
		p = sep + 3;
	} else {
		strcpy(u->scheme, "auto");
	}
	const char *q = strchr(p, '?');
	const char *end = q ? q : p + strlen(p);
	if (q)
		u->query = xstrdup(q + 1);
	const char *at = memchr(p, '@', (size_t)(end - p));
	/* userinfo ends at the last '@' before the host, so passwords may contain '@' */
	for (const char *a = at; a && a < end; a = memchr(a + 1, '@', (size_t)(end - a - 1)))
		at = a;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			u->user = pct_decode(p, (size_t)(colon - p), 0);
			u->pass = pct_decode(colon + 1, (size_t)(at - colon - 1), 0);
		} else {
			u->user = pct_decode(p, (size_t)(at - p), 0);
			u->pass = xstrdup("");
		}
		p = at + 1;
	}
	const char *slash = memchr(p, '/', (size_t)(end - p));
	if (slash) {
		u->hosts = xstrndup(p, (size_t)(slash - p));
		u->path = xstrndup(slash + 1, (size_t)(end - slash - 1));
	} else {
		u->hosts = xstrndup(p, (size_t)(end - p));
	}
	return 0;
}

/* GOST's scheme rule: "a+b" or one word for both; unknown halves fall back. */
static void scheme_pair(const char *scheme, char *first, char *second, size_t n)
{
	const char *plus = strchr(scheme, '+');
	if (!strcasecmp(scheme, "https")) {
		snprintf(first, n, "http");
		snprintf(second, n, "tls");
		return;
	}
	if (plus) {
		snprintf(first, n, "%.*s", (int)(plus - scheme), scheme);
		snprintf(second, n, "%s", plus + 1);
	} else {
		snprintf(first, n, "%s", scheme);
		snprintf(second, n, "%s", scheme);
	}
}

static const char *const cert_keys[][2] = {
	{ "certFile", "certFile" }, { "cert", "certFile" }, { "tls.certFile", "certFile" },
	{ "keyFile", "keyFile" },   { "key", "keyFile" },   { "tls.keyFile", "keyFile" },
	{ "caFile", "caFile" },     { "ca", "caFile" },     { "tls.caFile", "caFile" },
};

static const char *tls_key(const char *k, int dial_side)
{
	for (size_t i = 0; i < sizeof cert_keys / sizeof *cert_keys; i++)
		if (!strcasecmp(k, cert_keys[i][0]))
			return cert_keys[i][1];
	if (dial_side && (!strcasecmp(k, "secure") || !strcasecmp(k, "tls.secure")))
		return "secure";
	if (dial_side && (!strcasecmp(k, "serverName") || !strcasecmp(k, "tls.serverName")))
		return "serverName";
	return NULL;
}

/* Apply the query: prefixed keys go to one section, plain keys to all of them. */
/*
 * GOST's ?bypass=a,b,~c: a bypass list of its own (a leading '~' makes it a
 * whitelist), added to the top-level bypasses and named by owner (the
 * service for -L, the hop for -F).
 */
static void add_bypass(struct cnode *root, struct cnode *owner, const char *value)
{
	struct cnode *list = cnode_get(root, "bypasses");
	char name[32];
	if (!list) {
		list = cnode_new(CN_SEQ, owner->file, 0, 0);
		list->key = xstrdup("bypasses");
		cnode_append(root, list);
	}
	snprintf(name, sizeof name, "bypass-%zu", list->n);
	struct cnode *b = cnode_new(CN_MAP, owner->file, 0, 0);
	cnode_set(b, "name", name);
	if (*value == '~') {
		cnode_set(b, "whitelist", "true");
		value++;
	}
	struct cnode *m = cnode_new(CN_SEQ, owner->file, 0, 0);
	m->key = xstrdup("matchers");
	cnode_append(b, m);
	char *copy = xstrdup(value), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct cnode *item = cnode_new(CN_SCALAR, owner->file, 0, 0);
		item->value = xstrdup(t);
		cnode_append(m, item);
	}
	free(copy);
	cnode_append(list, b);
	cnode_set(owner, "bypass", name);
}

static void apply_query(const char *query, struct cnode **sections, const char *const *prefixes, size_t n_sections,
			struct cnode *tls, int dial_side, struct cnode *selector, struct cnode *root,
			struct cnode *bypass_owner)
{
	char *copy = xstrdup(query), *save = NULL;
	for (char *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		char *k = pct_decode(kv, eq ? (size_t)(eq - kv) : strlen(kv), 1);
		char *v = eq ? pct_decode(eq + 1, strlen(eq + 1), 1) : xstrdup("true");
		const char *tk = tls_key(k, dial_side);
		if (tk) {
			cnode_set(tls, tk, v);
		} else if (!strcasecmp(k, "bypass") && root && bypass_owner) {
			add_bypass(root, bypass_owner, v);
		} else if (selector && (!strcasecmp(k, "strategy") || !strcasecmp(k, "maxFails") ||
					!strcasecmp(k, "failTimeout"))) {
			cnode_set(selector, k, v);
		} else {
			int placed = 0;
			for (size_t i = 0; i < n_sections; i++) {
				size_t pl = strlen(prefixes[i]);
				if (!strncasecmp(k, prefixes[i], pl) && k[pl] == '.') {
					cnode_set(cnode_map_child(sections[i], "metadata"), k + pl + 1, v);
					placed = 1;
				}
			}
			if (!placed)
				for (size_t i = 0; i < n_sections; i++)
					cnode_set(cnode_map_child(sections[i], "metadata"), k, v);
		}
		free(k);
		free(v);
	}
	free(copy);
}

/* Listeners that reach out through the chain instead of binding locally: the -F chain is theirs. */
static int is_remote_listener(const char *l)
{
	return !strcasecmp(l, "rtcp") || !strcasecmp(l, "rudp") || !strcasecmp(l, "natrelay-server") ||
	       !strcasecmp(l, "agent");
}

static int build_service(struct cnode *root, struct cnode *services, const char *url, size_t index, int have_chain,
			 struct cfg_err *e)
{
	struct url_parts u;
	char hname[32], lname[32];
	char what[64];
	snprintf(what, sizeof what, "-L #%zu", index + 1);
	if (url_split(url, &u, e, what) < 0)
		return -1;
	scheme_pair(u.scheme, hname, lname, sizeof hname);
	if (!registry_handler(hname)) {
		/* GOST: a lone transport name (tls://, wss://) means the auto handler over it. */
		if (strcmp(hname, lname) || !registry_listener(lname))
			log_warn("-L %s: handler \"%s\" is not known, using auto", url, hname);
		snprintf(hname, sizeof hname, "auto");
	}
	if (!registry_listener(lname)) {
		if (strcmp(lname, hname))
			log_debug("-L %s: listener \"%s\" is not known, using tcp", url, lname);
		snprintf(lname, sizeof lname, "tcp");
	}
	struct cnode *svc = cnode_new(CN_MAP, url, 0, 0);
	char name[32];
	snprintf(name, sizeof name, "service-%zu", index);
	cnode_set(svc, "name", name);
	cnode_set(svc, "addr", u.hosts);
	struct cnode *h = cnode_map_child(svc, "handler"), *l = cnode_map_child(svc, "listener");
	struct cnode *fsel = NULL;
	if (u.path && *u.path) {
		/* Targets: the handler becomes the listener's name for tcp/udp/rtcp/rudp, else forward. */
		if (strcasecmp(hname, "relay")) {
			if (!strcasecmp(lname, "tcp") || !strcasecmp(lname, "udp") || is_remote_listener(lname))
				snprintf(hname, sizeof hname, "%s", lname);
			else
				snprintf(hname, sizeof hname, "forward");
		}
		struct cnode *fwd = cnode_map_child(svc, "forwarder");
		struct cnode *nodes = cnode_new(CN_SEQ, url, 0, 0);
		nodes->key = xstrdup("nodes");
		cnode_append(fwd, nodes);
		char *targets = xstrdup(u.path), *save = NULL;
		int i = 0;
		for (char *t = strtok_r(targets, ",", &save); t; t = strtok_r(NULL, ",", &save), i++) {
			struct cnode *nd = cnode_new(CN_MAP, url, 0, 0);
			char nn[32];
			snprintf(nn, sizeof nn, "target-%d", i);
			cnode_set(nd, "name", nn);
			cnode_set(nd, "addr", t);
			cnode_append(nodes, nd);
		}
		free(targets);
		fsel = cnode_map_child(fwd, "selector");
	}
	cnode_set(h, "type", hname);
	cnode_set(l, "type", lname);
	if (u.user) {
		/* GOST: the ssh and sshd listeners authenticate, so the URL's user goes to them. */
		int on_listener = !strcmp(lname, "ssh") || !strcmp(lname, "sshd");
		struct cnode *a = cnode_map_child(on_listener ? l : h, "auth");
		cnode_set(a, "username", u.user);
		cnode_set(a, "password", u.pass);
	}
	if (have_chain)
		cnode_set(is_remote_listener(lname) ? l : h, "chain", "chain-0");
	struct cnode *tls = cnode_new(CN_MAP, url, 0, 0);
	tls->key = xstrdup("tls");
	if (u.query) {
		struct cnode *sections[] = { h, l, svc };
		static const char *const prefixes[] = { "handler", "listener", "service" };
		apply_query(u.query, sections, prefixes, 3, tls, 0, fsel, root, svc);
	}
	if (cnode_get(tls, "certFile") || cnode_get(tls, "caFile"))
		cnode_append(l, tls);
	else
		cnode_free(tls);
	cnode_append(services, svc);
	url_parts_free(&u);
	return 0;
}

static int build_hop(struct cnode *root, struct cnode *hops, const char *url, size_t index, struct cfg_err *e)
{
	struct url_parts u;
	char cname[32], dname[32], what[64];
	snprintf(what, sizeof what, "-F #%zu", index + 1);
	if (url_split(url, &u, e, what) < 0)
		return -1;
	scheme_pair(u.scheme, cname, dname, sizeof cname);
	if (!registry_connector(cname)) {
		/* GOST: a lone transport name (tls://, wss://), or no scheme at all, means the http connector. */
		if (strcmp(cname, "auto") && (strcmp(cname, dname) || !registry_dialer(dname)))
			log_warn("-F %s: connector \"%s\" is not known, using http", url, cname);
		snprintf(cname, sizeof cname, "http");
	}
	if (!registry_dialer(dname))
		snprintf(dname, sizeof dname, "tcp");
	struct cnode *hop = cnode_new(CN_MAP, url, 0, 0);
	char name[32];
	snprintf(name, sizeof name, "hop-%zu", index);
	cnode_set(hop, "name", name);
	struct cnode *nodes = cnode_new(CN_SEQ, url, 0, 0);
	nodes->key = xstrdup("nodes");
	cnode_append(hop, nodes);
	char *hosts = xstrdup(u.hosts), *save = NULL;
	int i = 0;
	for (char *t = strtok_r(hosts, ",", &save); t; t = strtok_r(NULL, ",", &save), i++) {
		struct cnode *nd = cnode_new(CN_MAP, url, 0, 0);
		snprintf(name, sizeof name, "node-%d", i);
		cnode_set(nd, "name", name);
		cnode_set(nd, "addr", t);
		struct cnode *c = cnode_map_child(nd, "connector"), *d = cnode_map_child(nd, "dialer");
		cnode_set(c, "type", cname);
		cnode_set(d, "type", dname);
		if (u.user) {
			struct cnode *a = cnode_map_child(c, "auth");
			cnode_set(a, "username", u.user);
			cnode_set(a, "password", u.pass);
		}
		struct cnode *tls = cnode_new(CN_MAP, url, 0, 0);
		tls->key = xstrdup("tls");
		if (u.query) {
			struct cnode *sections[] = { c, d, nd };
			static const char *const prefixes[] = { "connector", "dialer", "node" };
			apply_query(u.query, sections, prefixes, 3, tls, 1, NULL, root, i == 0 ? hop : NULL);
		}
		if (tls->n)
			cnode_append(d, tls);
		else
			cnode_free(tls);
		cnode_append(nodes, nd);
	}
	free(hosts);
	cnode_append(hops, hop);
	url_parts_free(&u);
	return 0;
}

struct config *config_from_urls(char **L, int nL, char **F, int nF, struct cfg_err *e)
{
	char *file = xstrdup("command line");
	struct cnode *root = cnode_new(CN_MAP, file, 0, 0);
	struct cnode *services = cnode_new(CN_SEQ, file, 0, 0);
	services->key = xstrdup("services");
	cnode_append(root, services);
	for (int i = 0; i < nL; i++)
		if (build_service(root, services, L[i], (size_t)i, nF > 0, e) < 0)
			goto fail;
	if (nF) {
		struct cnode *chains = cnode_new(CN_SEQ, file, 0, 0), *chain = cnode_new(CN_MAP, file, 0, 0);
		chains->key = xstrdup("chains");
		cnode_append(root, chains);
		cnode_append(chains, chain);
		cnode_set(chain, "name", "chain-0");
		struct cnode *hops = cnode_new(CN_SEQ, file, 0, 0);
		hops->key = xstrdup("hops");
		cnode_append(chain, hops);
		for (int i = 0; i < nF; i++)
			if (build_hop(root, hops, F[i], (size_t)i, e) < 0)
				goto fail;
	}
	return config_from_tree(root, file, e);
fail:
	cnode_free(root);
	free(file);
	return NULL;
}
