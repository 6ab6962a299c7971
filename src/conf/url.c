/*
 * -L and -F URLs, as GOST reads them, turned into the same tree a YAML file
 * gives, so one validator serves both.
 *   -L [scheme://][user:pass@][host]:port[/target[,target...]][?k=v&...]
 *   -F [scheme://][user:pass@]host:port[,host:port...][?k=v&...]
 */
#include <ctype.h>
#include <errno.h>
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
	int has_pass;           /* the userinfo had a ':' */
	char *hosts;            /* "host:port" or "h1:p1,h2:p2" */
	char *path;             /* after the first '/', or NULL */
	char *query;            /* after '?', or NULL */
	int has_scheme;         /* "scheme://" was given (scheme is "auto" otherwise) */
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
		u->has_scheme = 1;
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
			u->has_pass = 1;
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

/*
 * GOST's scheme rule: "a+b" names two types, one word names both, and "https" is
 * "http+tls". GOST turns a name it does not know into auto (or http) and tcp; portway
 * refuses it instead, as falling back would run a plain service where the URL asked for
 * another (http+mtls would be an open HTTP proxy over plain TCP).
 * Returns 1 for "a+b", 0 for one word, -1 for more than two parts.
 */
static int scheme_split(const char *scheme, char *first, char *second, size_t n)
{
	const char *plus = strchr(scheme, '+');
	if (!strcasecmp(scheme, "https")) {
		snprintf(first, n, "http");
		snprintf(second, n, "tls");
		return 1;
	}
	if (!plus) {
		snprintf(first, n, "%s", scheme);
		snprintf(second, n, "%s", scheme);
		return 0;
	}
	if (strchr(plus + 1, '+'))
		return -1;
	snprintf(first, n, "%.*s", (int)(plus - scheme), scheme);
	snprintf(second, n, "%s", plus + 1);
	return 1;
}

/* "unknown listener "x" (known: ...)" for the URL given with its option (-L or -F). */
static int unknown_type(struct cfg_err *e, const char *opt, const char *url, const char *kind, const char *name)
{
	char known[512], field[1200];
	registry_names(kind, known, sizeof known);
	snprintf(field, sizeof field, "%s %s", opt, url);
	return cfg_error(e, NULL, field, "unknown %s \"%s\" (known: %s)", kind, name, known);
}

/* One word that is neither kind: list both, as either would have done. */
static int unknown_word(struct cfg_err *e, const char *opt, const char *url, const char *word, const char *kind1,
			const char *kind2)
{
	char known1[512], known2[512], field[1200];
	registry_names(kind1, known1, sizeof known1);
	registry_names(kind2, known2, sizeof known2);
	snprintf(field, sizeof field, "%s %s", opt, url);
	return cfg_error(e, NULL, field, "unknown scheme \"%s\": neither a %s (known: %s) nor a %s (known: %s)", word,
			 kind1, known1, kind2, known2);
}

static int too_many_parts(struct cfg_err *e, const char *opt, const char *url, const char *scheme)
{
	char field[1200];
	snprintf(field, sizeof field, "%s %s", opt, url);
	return cfg_error(e, NULL, field, "scheme \"%s\" has more than two parts (expected TYPE or TYPE+TRANSPORT)",
			 scheme);
}

/*
 * -L: handler and listener. One word that is only a handler listens on tcp (http://,
 * relay://, and no scheme: auto); one that is only a listener runs the auto handler
 * over it (tls://, wss://), as in GOST.
 */
static int service_types(const char *url, const struct url_parts *u, char *hname, char *lname, size_t n,
			 struct cfg_err *e)
{
	int pair = scheme_split(u->scheme, hname, lname, n);
	if (pair < 0)
		return too_many_parts(e, "-L", url, u->scheme);
	if (pair) {
		if (!registry_handler(hname))
			return unknown_type(e, "-L", url, "handler", hname);
		if (!registry_listener(lname))
			return unknown_type(e, "-L", url, "listener", lname);
		return 0;
	}
	int is_handler = registry_handler(hname) != NULL, is_listener = registry_listener(lname) != NULL;
	if (!is_handler && !is_listener)
		return unknown_word(e, "-L", url, u->scheme, "handler", "listener");
	/* GOST: ssu:// listens on udp */
	if (!is_listener)
		snprintf(lname, n, "%s", !strcasecmp(hname, "ssu") ? "udp" : "tcp");
	if (!is_handler)
		snprintf(hname, n, "auto");
	return 0;
}

/*
 * -F: connector and dialer. No scheme is the http connector over tcp; one word that is
 * only a connector dials tcp (relay://, socks5://), one that is only a dialer carries the
 * http connector (tls://, wss://), as in GOST.
 */
static int hop_types(const char *url, const struct url_parts *u, char *cname, char *dname, size_t n,
		     struct cfg_err *e)
{
	if (!u->has_scheme) {
		snprintf(cname, n, "http");
		snprintf(dname, n, "tcp");
		return 0;
	}
	int pair = scheme_split(u->scheme, cname, dname, n);
	if (pair < 0)
		return too_many_parts(e, "-F", url, u->scheme);
	if (pair) {
		if (!registry_connector(cname))
			return unknown_type(e, "-F", url, "connector", cname);
		if (!registry_dialer(dname))
			return unknown_type(e, "-F", url, "dialer", dname);
		return 0;
	}
	int is_connector = registry_connector(cname) != NULL, is_dialer = registry_dialer(dname) != NULL;
	if (!is_connector && !is_dialer)
		return unknown_word(e, "-F", url, u->scheme, "connector", "dialer");
	/* GOST: ssu:// dials udp */
	if (!is_dialer)
		snprintf(dname, n, "%s", !strcasecmp(cname, "ssu") ? "udp" : "tcp");
	if (!is_connector)
		snprintf(cname, n, "http");
	return 0;
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
/* The top-level list key of root (made when missing). */
static struct cnode *top_list(struct cnode *root, struct cnode *owner, const char *key)
{
	struct cnode *list = cnode_get(root, key);
	if (!list) {
		list = cnode_new(CN_SEQ, owner->file, 0, 0);
		list->key = xstrdup(key);
		cnode_append(root, list);
	}
	return list;
}

/* A list of value's comma-separated items under key in map. */
static void add_items(struct cnode *map, const char *key, const char *value)
{
	struct cnode *m = cnode_new(CN_SEQ, map->file, 0, 0);
	m->key = xstrdup(key);
	cnode_append(map, m);
	char *copy = xstrdup(value), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct cnode *item = cnode_new(CN_SCALAR, map->file, 0, 0);
		item->value = xstrdup(t);
		cnode_append(m, item);
	}
	free(copy);
}

/*
 * GOST's ?bypass=a,b,~c and ?admission=a,b (the service's, from -L): a list of
 * its own (a leading '~' makes it a whitelist), added to the top-level
 * bypasses or admissions as "KIND-N" and named by owner (the service for -L,
 * the hop for -F).
 */
static void add_match_list(struct cnode *root, struct cnode *owner, const char *list_key, const char *kind,
			   const char *value)
{
	struct cnode *list = top_list(root, owner, list_key);
	char name[48];
	snprintf(name, sizeof name, "%s-%zu", kind, list->n);
	struct cnode *b = cnode_new(CN_MAP, owner->file, 0, 0);
	cnode_set(b, "name", name);
	if (*value == '~') {
		cnode_set(b, "whitelist", "true");
		value++;
	}
	add_items(b, "matchers", value);
	cnode_append(list, b);
	cnode_set(owner, kind, name);
}

/* GOST's ?climiter=N (connections) and ?rlimiter=R (requests per second): a limiter "$ N" of
 * the service's own. GOST reads no limit from a value that is no number, or not above 0; here
 * a value that is no number is an error (a limit asked for and not applied). */
static int add_limiter(struct cnode *root, struct cnode *owner, const char *kind, const char *value, int whole,
		       const char *opt, const char *url, struct cfg_err *e)
{
	char *end, list_key[32], name[48], line[96];
	errno = 0;
	double v = whole ? (double)strtol(value, &end, 10) : strtod(value, &end);
	if (!*value || *end || errno || v != v) {
		char field[1200];
		snprintf(field, sizeof field, "%s %s", opt, url);
		return cfg_error(e, NULL, field, "%s: expected %s, got \"%s\"", kind,
				 whole ? "a whole number of connections" : "a number of requests per second", value);
	}
	if (v <= 0)
		return 0;
	snprintf(list_key, sizeof list_key, "%ss", kind);
	struct cnode *list = top_list(root, owner, list_key);
	snprintf(name, sizeof name, "%s-%zu", kind, list->n);
	snprintf(line, sizeof line, "$ %s", value);
	struct cnode *l = cnode_new(CN_MAP, owner->file, 0, 0);
	cnode_set(l, "name", name);
	add_items(l, "limits", line);
	cnode_append(list, l);
	cnode_set(owner, kind, name);
	return 0;
}

/* A new map named prefix-N in root's top-level list key, which owner names under prefix. */
static struct cnode *add_named(struct cnode *root, struct cnode *owner, const char *key, const char *prefix)
{
	struct cnode *list = top_list(root, owner, key);
	char name[48];
	snprintf(name, sizeof name, "%s-%zu", prefix, list->n);
	struct cnode *m = cnode_new(CN_MAP, owner->file, 0, 0);
	cnode_set(m, "name", name);
	cnode_append(list, m);
	cnode_set(owner, prefix, name);
	return m;
}

static struct cnode *add_seq(struct cnode *map, const char *key)
{
	struct cnode *seq = cnode_new(CN_SEQ, map->file, 0, 0);
	seq->key = xstrdup(key);
	cnode_append(map, seq);
	return seq;
}

/* GOST's ?hosts=name:ip,name:ip (the address is what follows the first colon, so IPv6 works). */
static void add_hosts(struct cnode *root, struct cnode *owner, const char *value)
{
	struct cnode *ms = add_seq(add_named(root, owner, "hosts", "hosts"), "mappings");
	char *copy = xstrdup(value), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':');
		struct cnode *m = cnode_new(CN_MAP, owner->file, 0, 0);
		if (colon)
			*colon = 0;
		cnode_set(m, "hostname", t);
		cnode_set(m, "ip", colon ? colon + 1 : "");
		cnode_append(ms, m);
	}
	free(copy);
}

/* GOST's ?resolver=addr,addr: one resolver of those nameservers. */
static struct cnode *add_resolver(struct cnode *root, struct cnode *owner, const char *value)
{
	struct cnode *ns = add_seq(add_named(root, owner, "resolvers", "resolver"), "nameservers");
	char *copy = xstrdup(value), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct cnode *m = cnode_new(CN_MAP, owner->file, 0, 0);
		cnode_set(m, "addr", t);
		cnode_append(ns, m);
	}
	free(copy);
	return ns;
}

/* Where each query key goes: one URL's sections and the blocks taken out of metadata. */
struct query_dest {
	struct cnode **sections;            /* handler, listener, service; or connector, dialer, node */
	const char *const *prefixes;        /* their names, as key prefixes */
	size_t n_sections;
	struct cnode *tls;
	int dial_side;
	struct cnode *selector;             /* -L with targets: the forwarder's */
	struct cnode *root, *bypass_owner;  /* ?bypass= */
	struct cnode *auth_owner;           /* ?auth=: the handler or connector; NULL: userinfo was given */
	struct cnode *limiter_owner;        /* ?limiter.in= and the like: the -L service; NULL: -F */
};

/* GOST's ?limiter.in=, limiter.out=, limiter.conn.in=, limiter.conn.out=, as they came. */
struct query_limits {
	char *v[4];
};

static const char *const limit_keys[] = { "limiter.in", "limiter.out", "limiter.conn.in", "limiter.conn.out" };

static int query_limit_key(struct query_limits *q, const char *k, const char *v)
{
	for (int i = 0; i < 4; i++)
		if (!strcasecmp(k, limit_keys[i])) {
			free(q->v[i]);
			q->v[i] = xstrdup(v);
			return 1;
		}
	return 0;
}

static void limit_pair(struct cnode *seq, const char *file, const char *scope, const char *in, const char *out)
{
	char line[256];
	if (!in && !out)
		return;
	/* an absent rate is "0" (no limit), so that an output rate alone stays the output's */
	snprintf(line, sizeof line, "%s %s %s", scope, in && *in ? in : "0", out && *out ? out : "0");
	struct cnode *item = cnode_new(CN_SCALAR, file, 0, 0);
	item->value = xstrdup(line);
	cnode_append(seq, item);
}

/* As GOST's command line does: a bandwidth limiter of its own in `limiters:` ("$" and "$$" lines), named by the service. */
static void add_traffic_limiter(struct cnode *root, struct cnode *owner, struct query_limits *q)
{
	if (!q->v[0] && !q->v[1] && !q->v[2] && !q->v[3])
		return;
	struct cnode *list = top_list(root, owner, "limiters");
	char name[32];
	snprintf(name, sizeof name, "limiter-%zu", list->n);
	struct cnode *l = cnode_new(CN_MAP, owner->file, 0, 0);
	cnode_set(l, "name", name);
	struct cnode *limits = cnode_new(CN_SEQ, owner->file, 0, 0);
	limits->key = xstrdup("limits");
	cnode_append(l, limits);
	limit_pair(limits, owner->file, "$", q->v[0], q->v[1]);
	limit_pair(limits, owner->file, "$$", q->v[2], q->v[3]);
	cnode_append(list, l);
	cnode_set(owner, "limiter", name);
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Standard or URL alphabet, padding optional (GOST tries both). NULL if malformed or if it
 * holds a NUL byte. */
static char *b64_decode(const char *s)
{
	size_t len = strlen(s);
	while (len && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return NULL;
	char *out = xmalloc(len * 3 / 4 + 1), *o = out;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o = (char)((acc >> bits) & 0xff);
			if (!*o++) {
				free(out);
				return NULL;
			}
		}
	}
	*o = 0;
	return out;
}

/* GOST, for ss schemes: SIP002 userinfo, one base64 "method:password" without a ':' of its own. */
static void sip002_auth(struct url_parts *u)
{
	if (strncasecmp(u->scheme, "ss", 2) || !u->user || !*u->user || u->has_pass)
		return;
	char *d = b64_decode(u->user), *colon = d ? strchr(d, ':') : NULL;
	if (!colon) {
		free(d);
		return;
	}
	free(u->user);
	free(u->pass);
	u->pass = xstrdup(colon + 1);
	*colon = 0;
	u->user = d;
	u->has_pass = 1;
}

/* GOST's ?auth=BASE64(user:pass): the same as userinfo, which wins when both are given. */
static int query_auth(const struct query_dest *d, const char *value, const char *opt, const char *url,
		      struct cfg_err *e)
{
	if (!d->auth_owner)
		return 0;
	char *plain = b64_decode(value);
	if (!plain) {
		char field[1200];
		snprintf(field, sizeof field, "%s %s", opt, url);
		return cfg_error(e, NULL, field, "auth: expected base64 of user:password");
	}
	char *colon = strchr(plain, ':');
	if (colon)
		*colon = 0;
	struct cnode *a = cnode_map_child(d->auth_owner, "auth");
	cnode_set(a, "username", plain);
	cnode_set(a, "password", colon ? colon + 1 : "");
	free(plain);
	return 0;
}

/* A plain key goes to the metadata of every section, a prefixed one to its own. */
static void query_metadata(const struct query_dest *d, const char *k, const char *v)
{
	int placed = 0;
	for (size_t i = 0; i < d->n_sections; i++) {
		size_t pl = strlen(d->prefixes[i]);
		if (!strncasecmp(k, d->prefixes[i], pl) && k[pl] == '.') {
			cnode_set(cnode_map_child(d->sections[i], "metadata"), k + pl + 1, v);
			placed = 1;
		}
	}
	if (!placed)
		for (size_t i = 0; i < d->n_sections; i++)
			cnode_set(cnode_map_child(d->sections[i], "metadata"), k, v);
}

/* GOST's selector keys in a query (with its snake_case spellings), as the YAML names them. */
static const char *selector_key(const char *k)
{
	if (!strcasecmp(k, "strategy"))
		return "strategy";
	if (!strcasecmp(k, "maxFails") || !strcasecmp(k, "max_fails"))
		return "maxFails";
	if (!strcasecmp(k, "failTimeout") || !strcasecmp(k, "fail_timeout"))
		return "failTimeout";
	return NULL;
}

/* A selector made from a query, attached to owner when the query had any of its keys (GOST's
 * command line then defaults failTimeout to 30 s, not the file's 10 s); freed otherwise. */
static void attach_selector(struct cnode *owner, struct cnode *sel)
{
	if (!sel->n) {
		cnode_free(sel);
		return;
	}
	if (!cnode_get(sel, "failTimeout"))
		cnode_set(sel, "failTimeout", "30s");
	cnode_append(owner, sel);
}

/* Apply the query. Keys portway does not implement stay in metadata, where the validator
 * refuses those that would enforce something (bandwidth limiters, probe resistance). */
static int apply_query(const char *query, const struct query_dest *d, const char *opt, const char *url,
		       struct cfg_err *e)
{
	char *copy = xstrdup(query), *save = NULL, *prefer = NULL;
	struct cnode *nameservers = NULL;
	struct query_limits lim = { { NULL } };
	int r = 0;
	for (char *kv = strtok_r(copy, "&", &save); kv && r == 0; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		char *k = pct_decode(kv, eq ? (size_t)(eq - kv) : strlen(kv), 1);
		char *v = eq ? pct_decode(eq + 1, strlen(eq + 1), 1) : xstrdup("true");
		const char *tk = tls_key(k, d->dial_side);
		if (tk)
			cnode_set(d->tls, tk, v);
		else if (!strcasecmp(k, "auth"))
			r = query_auth(d, v, opt, url, e);
		else if (!strcasecmp(k, "bypass") && d->root && d->bypass_owner)
			add_match_list(d->root, d->bypass_owner, "bypasses", "bypass", v);
		else if (!strcasecmp(k, "admission") && d->root && !d->dial_side) {
			if (*v) /* GOST: an empty one is none */
				add_match_list(d->root, d->bypass_owner, "admissions", "admission", v);
		}
		else if ((!strcasecmp(k, "climiter") || !strcasecmp(k, "rlimiter")) && d->root && !d->dial_side)
			r = add_limiter(d->root, d->bypass_owner, !strcasecmp(k, "climiter") ? "climiter" : "rlimiter", v,
					!strcasecmp(k, "climiter"), opt, url, e);
		else if (!strcasecmp(k, "hosts") && d->root && d->bypass_owner)
			add_hosts(d->root, d->bypass_owner, v);
		else if (!strcasecmp(k, "resolver") && d->root && d->bypass_owner)
			nameservers = add_resolver(d->root, d->bypass_owner, v);
		else if ((!strcasecmp(k, "hosts") || !strcasecmp(k, "resolver")) && d->root)
			; /* a -F URL's later nodes: the first one's hop took them */
		else if (!strcasecmp(k, "prefer") && !d->dial_side && strstr(query, "resolver=")) {
			free(prefer); /* GOST: -L's ?prefer= is its resolver's nameservers' */
			prefer = xstrdup(v);
		}
		else if (d->root && d->limiter_owner && query_limit_key(&lim, k, v))
			;
		else if (d->selector && selector_key(k))
			cnode_set(d->selector, selector_key(k), v);
		else if (!d->dial_side && !strcasecmp(k, "proxyProtocol"))
			/* as GOST's -L: the service's (receiving); handler.proxyProtocol sends */
			query_metadata(d, "service.proxyProtocol", v);
		else
			query_metadata(d, k, v);
		free(k);
		free(v);
	}
	for (size_t i = 0; prefer && nameservers && i < nameservers->n; i++)
		cnode_set(nameservers->items[i], "prefer", prefer);
	free(prefer);
	if (r == 0 && d->limiter_owner)
		add_traffic_limiter(d->root, d->limiter_owner, &lim);
	for (int i = 0; i < 4; i++)
		free(lim.v[i]);
	free(copy);
	return r;
}

/* Listeners that reach out through the chain instead of binding locally: the -F chain is theirs. */
static int is_remote_listener(const char *l)
{
	return !strcasecmp(l, "rtcp") || !strcasecmp(l, "rudp") || !strcasecmp(l, "natrelay-server") ||
	       !strcasecmp(l, "agent");
}

/* GOST's path-based schemes: their address is a file path, not host:port. */
static int is_path_type(const char *t) { return !strcasecmp(t, "unix") || !strcasecmp(t, "runix") || !strcasecmp(t, "serial"); }

/* GOST: with a path-based scheme, "unix:///tmp/x.sock" (no host) names the path "/tmp/x.sock";
 * with a host ("unix://x.sock/y.sock") the host is the address and the path what it was for
 * any other scheme (a service's targets). Returns the path address (owned) or NULL. */
static char *path_addr(const struct url_parts *u, const char *a, const char *b)
{
	if ((!is_path_type(a) && !is_path_type(b)) || *u->hosts || !u->path)
		return NULL;
	size_t n = strlen(u->path) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "/%s", u->path);
	return p;
}


/* ---- port ranges (GOST's -L tcp://:8000-8010/host:8000-8010) ---- */

/* A scalar of the command line's tree set anew (its key must be there). */
static void cnode_replace(struct cnode *map, const char *key, const char *value)
{
	struct cnode *n = cnode_get(map, key);
	free(n->value);
	n->value = xstrdup(value);
}

/* A decimal port, digits only. */
static int port_number(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	if (!n || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = v;
	return 0;
}

int port_range_split(const char *addr, size_t *prefix_len, unsigned *min, unsigned *max)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || strstr(addr, "://"))
		return 0;
	const char *ports = colon + 1, *dash = strchr(ports, '-');
	if (!dash)
		return 0;
	*prefix_len = (size_t)(colon - addr);
	if (port_number(ports, (size_t)(dash - ports), min) < 0 || port_number(dash + 1, strlen(dash + 1), max) < 0 ||
	    *min > *max)
		return -1;
	return 1;
}

/* "a:1-3,b:7" into the addresses it names, in order (a:1 a:2 a:3 b:7), appended to out. */
static int expand_ranges(const char *list, struct cnode *out, const char *url, const char *what, struct cfg_err *e)
{
	char *copy = xstrdup(list), *save = NULL;
	int r = 0;
	for (char *t = strtok_r(copy, ",", &save); t && r == 0; t = strtok_r(NULL, ",", &save)) {
		size_t pl;
		unsigned lo, hi;
		int k = port_range_split(t, &pl, &lo, &hi);
		if (k == 0) {
			cnode_set(out, "addr", t);
			continue;
		}
		if (k < 0 || out->n + (hi - lo + 1) > PORT_RANGE_MAX) {
			char field[1200];
			snprintf(field, sizeof field, "%s %s", what, url);
			r = cfg_error(e, NULL, field, k < 0 ? "\"%s\": a port range is min-max, two ports from 0 to 65535, min first"
						  : "\"%s\": at most %d ports in one range",
				      t, PORT_RANGE_MAX);
			break;
		}
		for (unsigned port = lo; port <= hi; port++) {
			char a[320];
			snprintf(a, sizeof a, "%.*s:%u", (int)pl, t, port);
			cnode_set(out, "addr", a);
		}
	}
	free(copy);
	return r;
}

/*
 * GOST: a listen port range is one service per port, copies of svc (named on from services->n).
 * With one target every copy forwards to it; with several, copy i to target i; targets beyond
 * the listen ports are left out, as GOST documents. Fewer targets than listen ports (GOST leaves
 * the rest without a forwarder) is refused here. Takes svc.
 */
static int append_listen_range(struct cnode *services, struct cnode *svc, const struct cnode *listen, const char *url,
			       const char *what, struct cfg_err *e)
{
	struct cnode *nodes = cnode_get(cnode_get(svc, "forwarder"), "nodes");
	size_t n_targets = nodes ? nodes->n : 0;
	if (n_targets > 1 && n_targets < listen->n) {
		char field[1200];
		snprintf(field, sizeof field, "%s %s", what, url);
		cnode_free(svc);
		return cfg_error(e, NULL, field, "%zu listen ports but %zu targets: give one target, or at least one per port",
				 listen->n, n_targets);
	}
	for (size_t i = 0; i < listen->n; i++) {
		struct cnode *c = cnode_clone(svc);
		char name[32];
		snprintf(name, sizeof name, "service-%zu", services->n);
		cnode_replace(c, "name", name);
		cnode_replace(c, "addr", listen->items[i]->value);
		struct cnode *cn = cnode_get(cnode_get(c, "forwarder"), "nodes");
		if (n_targets > 1) {
			/* keep target i only */
			for (size_t k = 0; k < cn->n; k++)
				if (k != i)
					cnode_free(cn->items[k]);
			cn->items[0] = cn->items[i];
			cn->n = 1;
		}
		cnode_append(services, c);
	}
	cnode_free(svc);
	return 0;
}

static int build_service(struct cnode *root, struct cnode *services, const char *url, size_t index, int have_chain,
			 struct cfg_err *e)
{
	struct url_parts u;
	char hname[64], lname[64];
	char what[64];
	snprintf(what, sizeof what, "-L #%zu", index + 1);
	if (url_split(url, &u, e, what) < 0)
		return -1;
	sip002_auth(&u);
	if (service_types(url, &u, hname, lname, sizeof hname, e) < 0) {
		url_parts_free(&u);
		return -1;
	}
	struct cnode *svc = cnode_new(CN_MAP, url, 0, 0);
	char name[32];
	snprintf(name, sizeof name, "service-%zu", services->n);
	cnode_set(svc, "name", name);
	char *paddr = path_addr(&u, hname, lname);
	cnode_set(svc, "addr", paddr ? paddr : u.hosts);
	/* the listen addresses when a port range names several (else NULL) */
	struct cnode *listen = cnode_new(CN_SEQ, url, 0, 0);
	int r = paddr ? 0 : expand_ranges(u.hosts, listen, url, what, e);
	struct cnode *h = cnode_map_child(svc, "handler"), *l = cnode_map_child(svc, "listener");
	struct cnode *fsel = NULL, *fwd_owner = NULL;
	if (u.path && *u.path && !paddr) {
		/* Targets: the handler becomes the listener's name for tcp/udp/rtcp/rudp/unix, else forward. */
		if (strcasecmp(hname, "relay")) {
			if (!strcasecmp(lname, "tcp") || !strcasecmp(lname, "udp") || is_remote_listener(lname) ||
			    is_path_type(lname))
				snprintf(hname, sizeof hname, "%s", lname);
			else
				snprintf(hname, sizeof hname, "forward");
		}
		struct cnode *fwd = cnode_map_child(svc, "forwarder");
		struct cnode *nodes = cnode_new(CN_SEQ, url, 0, 0);
		nodes->key = xstrdup("nodes");
		cnode_append(fwd, nodes);
		struct cnode *targets = cnode_new(CN_SEQ, url, 0, 0);
		if (r == 0)
			r = expand_ranges(u.path, targets, url, what, e);
		for (size_t i = 0; i < targets->n; i++) {
			struct cnode *nd = cnode_new(CN_MAP, url, 0, 0);
			char nn[32];
			snprintf(nn, sizeof nn, "target-%zu", i);
			cnode_set(nd, "name", nn);
			cnode_set(nd, "addr", targets->items[i]->value);
			cnode_append(nodes, nd);
		}
		cnode_free(targets);
		fsel = cnode_new(CN_MAP, url, 0, 0);
		fsel->key = xstrdup("selector");
		fwd_owner = fwd;
	}
	free(paddr);
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
	if (u.query && r == 0) {
		struct cnode *sections[] = { h, l, svc };
		static const char *const prefixes[] = { "handler", "listener", "service" };
		struct query_dest d = { sections, prefixes, 3, tls, 0, fsel, root, svc, u.user ? NULL : h, svc };
		r = apply_query(u.query, &d, "-L", url, e);
	}
	if (cnode_get(tls, "certFile") || cnode_get(tls, "caFile"))
		cnode_append(l, tls);
	else
		cnode_free(tls);
	if (fsel)
		attach_selector(fwd_owner, fsel);
	/* Appended even on failure: the tree owns it and frees it with the rest. */
	if (r == 0 && listen->n > 1)
		r = append_listen_range(services, svc, listen, url, what, e);
	else
		cnode_append(services, svc);
	cnode_free(listen);
	url_parts_free(&u);
	return r;
}

static int build_hop(struct cnode *root, struct cnode *hops, const char *url, size_t index, struct cfg_err *e)
{
	struct url_parts u;
	char cname[64], dname[64], what[64];
	snprintf(what, sizeof what, "-F #%zu", index + 1);
	if (url_split(url, &u, e, what) < 0)
		return -1;
	sip002_auth(&u);
	if (hop_types(url, &u, cname, dname, sizeof cname, e) < 0) {
		url_parts_free(&u);
		return -1;
	}
	struct cnode *hop = cnode_new(CN_MAP, url, 0, 0);
	char name[32];
	snprintf(name, sizeof name, "hop-%zu", index);
	cnode_set(hop, "name", name);
	struct cnode *nodes = cnode_new(CN_SEQ, url, 0, 0);
	nodes->key = xstrdup("nodes");
	cnode_append(hop, nodes);
	/* a path (unix:///tmp/x.sock) is one node; "unix://x.sock/ignored" is the host's */
	char *paddr = path_addr(&u, cname, dname);
	char *hosts = paddr ? paddr : xstrdup(u.hosts), *save = NULL;
	int i = 0, r = 0;
	for (char *t = paddr ? paddr : strtok_r(hosts, ",", &save); t && r == 0;
	     t = paddr ? NULL : strtok_r(NULL, ",", &save), i++) {
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
			/* the selector keys are the hop's (taken once), never the nodes' metadata */
			struct cnode *hsel = cnode_new(CN_MAP, url, 0, 0);
			hsel->key = xstrdup("selector");
			struct query_dest qd = { sections, prefixes, 3, tls, 1, hsel, root, i == 0 ? hop : NULL,
						 u.user ? NULL : c, NULL };
			r = apply_query(u.query, &qd, "-F", url, e);
			if (i == 0)
				attach_selector(hop, hsel);
			else
				cnode_free(hsel);
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
	return r;
}

struct config *config_from_urls(char **L, int nL, char **F, int nF, struct cfg_err *e)
{
	char *file = xstrdup("command line");
	struct cnode *root = config_tree_from_urls(L, nL, F, nF, file, e);
	if (!root) {
		free(file);
		return NULL;
	}
	return config_from_tree(root, file, e);
}

struct cnode *config_tree_from_urls(char **L, int nL, char **F, int nF, const char *file, struct cfg_err *e)
{
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
	return root;
fail:
	cnode_free(root);
	return NULL;
}

/* ---- -metrics ---- */

int metrics_flag_parse(const char *arg, struct metrics_cfg *m, struct cfg_err *e)
{
	struct url_parts u;
	memset(m, 0, sizeof *m);
	if (!arg || !*arg)
		return cfg_error(e, NULL, "-metrics", "an address is required, e.g. 127.0.0.1:9000");
	if (url_split(arg, &u, e, "-metrics") < 0)
		return -1;
	int r = 0;
	if (u.has_scheme && strcasecmp(u.scheme, "http") && strcasecmp(u.scheme, "tcp"))
		r = cfg_error(e, NULL, "-metrics", "%s: only host:port (optionally http://) is supported", arg);
	else if (u.path && *u.path)
		r = cfg_error(e, NULL, "-metrics", "%s: give the path as ?path=/p", arg);
	else if (hostport_split(u.hosts, m->host, sizeof m->host, &m->port) < 0 || !m->port)
		r = cfg_error(e, NULL, "-metrics", "expected [user:pass@]host:port[?path=/p], got \"%s\"", arg);
	if (r < 0) {
		url_parts_free(&u);
		return -1;
	}
	m->addr = u.hosts;
	u.hosts = NULL;
	char *path = xstrdup("/metrics");
	for (char *kv = u.query, *next; kv && *kv; kv = next) {
		next = strchr(kv, '&');
		if (next)
			*next++ = 0;
		if (!strncmp(kv, "path=", 5) && kv[5]) {
			free(path);
			path = pct_decode(kv + 5, strlen(kv + 5), 1);
		}
	}
	m->path = path;
	m->auth.username = u.user;
	m->auth.password = u.pass;
	u.user = u.pass = NULL;
	url_parts_free(&u);
	if (metrics_cfg_check(m, NULL, e) < 0) {
		metrics_flag_free(m);
		return -1;
	}
	return 0;
}

void metrics_flag_free(struct metrics_cfg *m)
{
	free((char *)m->addr);
	free((char *)m->path);
	free(m->auth.username);
	free(m->auth.password);
	memset(m, 0, sizeof *m);
}

/*
 * GOST's -api: [scheme://][user:pass@]host:port[?pathPrefix=/p&accesslog=true], the whole
 * top-level api block (it replaces the file's, as in GOST). The scheme and a path are ignored.
 */
int config_set_api_flag(struct cnode *root, const char *arg, struct cfg_err *e)
{
	struct url_parts u;
	char field[600];
	snprintf(field, sizeof field, "-api %s", arg);
	if (url_split(arg, &u, e, field) < 0)
		return -1;
	for (size_t i = root->n; i-- > 0;)
		if (root->items[i]->key && !strcasecmp(root->items[i]->key, "api")) {
			cnode_free(root->items[i]);
			memmove(root->items + i, root->items + i + 1, (root->n - i - 1) * sizeof *root->items);
			root->n--;
		}
	struct cnode *api = cnode_map_child(root, "api");
	cnode_set(api, "addr", u.hosts);
	if (u.user && *u.user) {
		struct cnode *auth = cnode_map_child(api, "auth");
		cnode_set(auth, "username", u.user);
		cnode_set(auth, "password", u.pass ? u.pass : "");
	}
	char *copy = u.query ? xstrdup(u.query) : NULL, *save = NULL;
	for (char *kv = copy ? strtok_r(copy, "&", &save) : NULL; kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		char *k = pct_decode(kv, eq ? (size_t)(eq - kv) : strlen(kv), 1);
		char *v = eq ? pct_decode(eq + 1, strlen(eq + 1), 1) : xstrdup("true");
		if (!strcasecmp(k, "pathPrefix"))
			cnode_set(api, "pathPrefix", v);
		else if (!strcasecmp(k, "accesslog"))
			cnode_set(api, "accesslog", v);
		else
			log_warn("%s: %s is not an option of the API and is ignored (known: pathPrefix, accesslog)", field, k);
		free(k);
		free(v);
	}
	free(copy);
	url_parts_free(&u);
	return 0;
}
