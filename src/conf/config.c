/* YAML tree -> validated model. Every error names file, line, column and field. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "src/core/log.h"
#include "src/conf/access.h"
#include "src/conf/limiter.h"
#include "src/conf/model.h"
#include "src/conf/dns.h"
#include "src/core/util.h"

int cfg_error(struct cfg_err *e, const struct cnode *where, const char *field, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (where && where->line)
		snprintf(e->msg, sizeof e->msg, "%s:%d:%d: %s: %s", where->file, where->line, where->col, field, msg);
	else if (where && where->file)
		snprintf(e->msg, sizeof e->msg, "%s: %s: %s", where->file, field, msg);
	else
		snprintf(e->msg, sizeof e->msg, "%s: %s", field, msg);
	return -1;
}

/* ---- metadata ---- */

const char *md_str(const struct cnode *md, const char *key, const char *def)
{
	const char *v = cnode_str(md, key);
	return v ? v : def;
}

const char *md_alias(const struct cnode *md, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++)
		if (cnode_get(md, keys[i]))
			return keys[i];
	return keys[0];
}

int md_bool(const struct cnode *md, const char *key, int def, int *out, struct cfg_err *e)
{
	struct cnode *n = cnode_get(md, key);
	*out = def;
	if (!n)
		return 0;
	int b = n->kind == CN_SCALAR ? bool_parse(n->value) : -1;
	if (b < 0)
		return cfg_error(e, n, key, "expected true or false, got \"%s\"", n->value ? n->value : "(a collection)");
	*out = b;
	return 0;
}

int md_duration(const struct cnode *md, const char *key, double def, double *out, struct cfg_err *e)
{
	struct cnode *n = cnode_get(md, key);
	*out = def;
	if (!n)
		return 0;
	double d = n->kind == CN_SCALAR ? duration_parse(n->value) : -1;
	if (d < 0)
		return cfg_error(e, n, key, "expected a duration such as 10s, 500ms or 1m, got \"%s\"",
				 n->value ? n->value : "(a collection)");
	*out = d;
	return 0;
}

int md_int(const struct cnode *md, const char *key, long def, long min, long max, long *out, struct cfg_err *e)
{
	struct cnode *n = cnode_get(md, key);
	char *end;
	*out = def;
	if (!n)
		return 0;
	if (n->kind != CN_SCALAR || !*n->value)
		return cfg_error(e, n, key, "expected a number");
	errno = 0;
	long v = strtol(n->value, &end, 10);
	if (*end || errno || v < min || v > max)
		return cfg_error(e, n, key, "expected a whole number from %ld to %ld, got \"%s\"", min, max, n->value);
	*out = v;
	return 0;
}

/* ---- field helpers ---- */

struct ctx {
	struct config *c;
	struct cfg_err *e;
	int proxy_protocol_here;    /* parsing metadata where proxyProtocol is implemented */
	uint64_t auth_files;        /* a hash of the credentials read from auth.file blocks */
};

/* Also free what a failed parse built so far (types' fini accept a NULL state). */
static void node_free(struct node *n);
static void hop_free(struct hop *h);
static void chain_free(struct chain *ch);
static void auther_free(struct auther *a);
static void bypass_free(struct bypass *b);
static void service_free(struct service *s);

/* A map item as its key's position: its value may start lines later. */
static struct cnode key_at(const struct cnode *item)
{
	struct cnode at = *item;
	if (at.key_line) {
		at.line = at.key_line;
		at.col = at.key_col;
	}
	return at;
}

static int in_list(const char *k, const char *const *list)
{
	for (size_t j = 0; list && list[j]; j++)
		if (!strcasecmp(k, list[j]))
			return 1;
	return 0;
}

/* A GOST key whose feature enforces something (security, limits) that portway does not
 * have: running without it would give less than the file asks for, so it is an error. */
static int refuse_key(struct ctx *x, const struct cnode *item, const char *field)
{
	struct cnode at = key_at(item);
	return cfg_error(x->e, &at, field,
			 "is not implemented by portway, so it would not be enforced (remove it to run without it)");
}

/*
 * known: the keys portway reads; ignored: GOST keys of features portway does not have
 * that take nothing away from what is enforced (a warning); refused: GOST keys that would
 * (an error). Anything else is an unknown key.
 */
static int check_keys_refusing(struct ctx *x, const struct cnode *map, const char *path, const char *const *known,
			       const char *const *ignored, const char *const *refused)
{
	for (size_t i = 0; i < map->n; i++) {
		const char *k = map->items[i]->key;
		char field[512];
		snprintf(field, sizeof field, "%s.%s", path, k);
		if (in_list(k, known))
			continue;
		if (in_list(k, refused))
			return refuse_key(x, map->items[i], field);
		if (in_list(k, ignored)) {
			log_warn("%s:%d: %s is not supported by portway and is ignored", map->items[i]->file,
				 map->items[i]->key_line ? map->items[i]->key_line : map->items[i]->line, field);
			continue;
		}
		char list[512] = "";
		for (size_t j = 0; known[j]; j++) {
			size_t l = strlen(list);
			snprintf(list + l, sizeof list - l, "%s%s", j ? ", " : "", known[j]);
		}
		struct cnode at = key_at(map->items[i]);
		return cfg_error(x->e, &at, field, "unknown key (expected one of: %s)", list);
	}
	return 0;
}

int cfg_check_keys(struct cfg_err *e, const struct cnode *map, const char *path, const char *const *known,
		   const char *const *ignored, const char *const *refused)
{
	struct ctx x = { .e = e };
	return check_keys_refusing(&x, map, path, known, ignored, refused);
}

static int check_keys(struct ctx *x, const struct cnode *map, const char *path, const char *const *known,
		      const char *const *ignored)
{
	return check_keys_refusing(x, map, path, known, ignored, NULL);
}

static int want_kind(struct ctx *x, const struct cnode *n, enum cnode_kind kind, const char *field)
{
	static const char *names[] = { "a string", "a mapping", "a list" };
	if (n->kind != kind)
		return cfg_error(x->e, n, field, "expected %s", names[kind]);
	return 0;
}

static int get_scalar(struct ctx *x, const struct cnode *map, const char *key, const char *path, char **out)
{
	struct cnode *n = cnode_get(map, key);
	char field[512];
	*out = NULL;
	if (!n)
		return 0;
	snprintf(field, sizeof field, "%s.%s", path, key);
	if (want_kind(x, n, CN_SCALAR, field) < 0)
		return -1;
	*out = n->value;
	return 0;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	do
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	while (*s++);
	return h;
}

/* A line of a users file, as GOST reads it: "user password", the password being the rest of the
 * line (trimmed); blank lines and lines starting with # are none (-1). Cuts line in place. */
static int users_line_parse(char *line, char **user, char **pass)
{
	char *u = line + strspn(line, " \t\r\n"), *p, *end;
	if (!*u || *u == '#')
		return -1;
	p = u + strcspn(u, " \t\r\n");
	if (*p)
		*p++ = 0;
	p += strspn(p, " \t");
	end = p + strlen(p);
	while (end > p && strchr(" \t\r\n", end[-1]))
		*--end = 0;
	*user = u;
	*pass = p;
	return 0;
}

/* A string the config keeps until it is freed. */
static char *config_keep(struct config *c, const char *s)
{
	c->kept = xrealloc(c->kept, (c->n_kept + 1) * sizeof *c->kept);
	return c->kept[c->n_kept++] = xstrdup(s);
}

/* auth.file: the first user of a users file is this auth block's user (GOST's auth Info). Read at
 * load, on the main thread; a file that cannot be read is an error, where GOST would quietly fall
 * back to username/password. The credentials count in every service's fingerprint. */
static int auth_file_read(struct ctx *x, const struct cnode *at, const char *field, const char *path,
			  struct auth_cfg *a)
{
	char line[1024], *u, *p;
	int found = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return cfg_error(x->e, at, field, "cannot open %s: %s", path, strerror(errno));
	while (!found && fgets(line, sizeof line, f))
		found = users_line_parse(line, &u, &p) == 0;
	fclose(f);
	if (!found)
		return 0;
	a->username = config_keep(x->c, u);
	a->password = config_keep(x->c, p);
	x->auth_files = fnv1a(fnv1a(x->auth_files, u), p);
	return 0;
}

static int parse_auth(struct ctx *x, const struct cnode *parent, const char *path, struct auth_cfg *a)
{
	struct cnode *n = cnode_get(parent, "auth");
	static const char *const keys[] = { "username", "password", "file", NULL };
	char field[512], ffield[512];
	char *file;
	memset(a, 0, sizeof *a);
	if (!n)
		return 0;
	snprintf(field, sizeof field, "%s.auth", path);
	snprintf(ffield, sizeof ffield, "%s.auth.file", path);
	if (want_kind(x, n, CN_MAP, field) < 0 || check_keys(x, n, field, keys, NULL) < 0)
		return -1;
	if (get_scalar(x, n, "username", field, &a->username) < 0 || get_scalar(x, n, "password", field, &a->password) < 0 ||
	    get_scalar(x, n, "file", field, &file) < 0)
		return -1;
	if (file && *file && auth_file_read(x, cnode_get(n, "file"), ffield, file, a) < 0)
		return -1;
	if (!a->username)
		return cfg_error(x->e, n, field, "username is required");
	if (!a->password)
		a->password = "";
	return 0;
}

static int parse_tls(struct ctx *x, const struct cnode *parent, const char *path, struct tls_cfg *t)
{
	struct cnode *n = cnode_get(parent, "tls");
	static const char *const keys[] = { "certFile", "keyFile", "caFile", "secure", "serverName", "options", NULL };
	/* validity, commonName, organization shape GOST's generated certificate; serverNames
	 * only matters with rejectUnknownSNI, which would refuse handshakes: not done here. */
	static const char *const ign[] = { "validity", "commonName", "organization", "serverNames", NULL };
	static const char *const refused[] = { "rejectUnknownSNI", NULL };
	static const char *const okeys[] = { "alpn", "minVersion", NULL };
	/* A lower maximum than portway's gives nothing more; a cipher list restricts: refused. */
	static const char *const oign[] = { "maxVersion", NULL };
	static const char *const orefused[] = { "cipherSuites", NULL };
	char field[512], ofield[600];
	memset(t, 0, sizeof *t);
	if (!n)
		return 0;
	snprintf(field, sizeof field, "%s.tls", path);
	if (want_kind(x, n, CN_MAP, field) < 0 || check_keys_refusing(x, n, field, keys, ign, refused) < 0)
		return -1;
	struct cnode *on = cnode_get(n, "options");
	snprintf(ofield, sizeof ofield, "%s.options", field);
	if (on && !(on->kind == CN_SCALAR && !*on->value) &&
	    (want_kind(x, on, CN_MAP, ofield) < 0 || check_keys_refusing(x, on, ofield, okeys, oign, orefused) < 0))
		return -1;
	t->set = 1;
	if (get_scalar(x, n, "certFile", field, &t->cert_file) < 0 || get_scalar(x, n, "keyFile", field, &t->key_file) < 0 ||
	    get_scalar(x, n, "caFile", field, &t->ca_file) < 0 || get_scalar(x, n, "serverName", field, &t->server_name) < 0)
		return -1;
	if (md_bool(n, "secure", 0, &t->secure, x->e) < 0)
		return -1;
	struct cnode *opt = cnode_get(n, "options");
	if (opt) {
		struct cnode *alpn = cnode_get(opt, "alpn");
		if (alpn && alpn->kind == CN_SEQ) {
			t->alpn = xcalloc(alpn->n, sizeof *t->alpn);
			for (size_t i = 0; i < alpn->n; i++)
				if (alpn->items[i]->kind == CN_SCALAR)
					t->alpn[t->n_alpn++] = alpn->items[i]->value;
		}
		t->min_version = (char *)cnode_str(opt, "minVersion");
	}
	return 0;
}

/*
 * Metadata keys GOST's types read to enforce something portway does not have: the http
 * handler's probe resistance and knock, the PROXY protocol header (service, listener, hop),
 * and the bandwidth limiters and quotas GOST's command line takes from the query. Refused
 * wherever they appear, so a -L/-F query cannot drop them silently either. admission,
 * climiter and rlimiter too: -L's query makes them service settings (src/conf/url.c); as
 * metadata (YAML, a -F query) GOST would not apply them.
 */
static const char *const refused_metadata[] = {
	"probeResist", "probe_resist", "probeResistance", "probe_resistance", "knock", "proxyProtocol",
	"admission", "admissions", "limiter", "limiter.in", "limiter.out", "limiter.conn.in", "limiter.conn.out",
	"climiter", "rlimiter", "quota", "quotas", NULL,
};

static int check_metadata(struct ctx *x, const struct cnode *md, const char *field)
{
	if (!md || md->kind != CN_MAP)
		return 0;
	for (size_t i = 0; i < md->n; i++) {
		const char *k = md->items[i]->key;
		/* GOST's -F takes hop.KEY for the hop's own metadata */
		const char *bare = !strncasecmp(k, "hop.", 4) ? k + 4 : k;
		if (x->proxy_protocol_here && !strcmp(k, "proxyProtocol"))
			continue;
		if (in_list(k, refused_metadata) || in_list(bare, refused_metadata)) {
			char f[600];
			snprintf(f, sizeof f, "%s.%s", field, k);
			return refuse_key(x, md->items[i], f);
		}
	}
	return 0;
}

/*
 * GOST reads proxyProtocol from the service's metadata (its docs also show it in the
 * listener's); any version accepts both header versions. Stream listeners only, as GOST's
 * UDP ones take none.
 */
static int parse_proxy_protocol(struct ctx *x, struct service *svc, const char *path)
{
	struct cnode *md = svc->md && cnode_get(svc->md, "proxyProtocol") ? svc->md : svc->listener.md;
	long v;
	if (md_int(md, "proxyProtocol", 0, 0, 2, &v, x->e) < 0)
		return -1;
	if (v && svc->listener.type->socktype != SOCK_STREAM) {
		char f[600];
		snprintf(f, sizeof f, "%s.%s.proxyProtocol", path, md == svc->md ? "metadata" : "listener.metadata");
		return cfg_error(x->e, cnode_get(md, "proxyProtocol"), f,
				 "is not implemented for the %s listener (stream listeners only)", svc->listener.type->name);
	}
	svc->proxy_protocol = (int)v;
	return 0;
}

/* The handler's proxyProtocol sends a header (GOST's forward handlers); elsewhere it would not. */
static int parse_handler_proxy_protocol(struct ctx *x, struct service *svc, const char *path)
{
	struct cnode *k = cnode_get(svc->handler.md, "proxyProtocol");
	if (!k || svc->handler.type->sends_proxy_protocol)
		return 0;
	char f[600];
	snprintf(f, sizeof f, "%s.handler.metadata.proxyProtocol", path);
	return refuse_key(x, k, f);
}

static int parse_md(struct ctx *x, const struct cnode *parent, const char *path, struct cnode **out)
{
	struct cnode *n = cnode_get(parent, "metadata");
	char field[512];
	*out = NULL;
	if (!n)
		return 0;
	snprintf(field, sizeof field, "%s.metadata", path);
	if (n->kind == CN_SCALAR && !*n->value)
		return 0;
	if (want_kind(x, n, CN_MAP, field) < 0 || check_metadata(x, n, field) < 0)
		return -1;
	*out = n;
	return 0;
}

/* Metadata portway reads nothing from (hops, chains): only what must not be dropped. */
static int check_own_metadata(struct ctx *x, const struct cnode *parent, const char *path)
{
	struct cnode *md;
	return parse_md(x, parent, path, &md);
}

static int parse_hostport(struct ctx *x, const struct cnode *where, const char *field, const char *addr, char *host,
			  size_t hostlen, uint16_t *port)
{
	size_t pl;
	unsigned lo, hi;
	if (port_range_split(addr, &pl, &lo, &hi))
		/* GOST expands ranges only in -L URLs; elsewhere it would fail to listen or dial */
		return cfg_error(x->e, where, field, "a port range (\"%s\") is expanded only in -L URLs (-L "
				 "tcp://:8000-8010/host:8000-8010); list one service or node per port", addr);
	if (hostport_split(addr, host, hostlen, port) < 0)
		return cfg_error(x->e, where, field, "expected host:port (or :port, [v6]:port), got \"%s\"", addr);
	return 0;
}

/* A unix socket path, as the unix listener, dialer and handler's targets take it (into host). */
static int parse_path(struct ctx *x, const struct cnode *where, const char *field, const char *addr, char *host,
		      size_t hostlen)
{
	size_t n = strlen(addr);
	if (n >= hostlen || n > 107) /* sun_path holds 108 bytes with its NUL */
		return cfg_error(x->e, where, field, "a unix socket path of at most 107 bytes is required, got \"%s\"",
				 addr);
	memcpy(host, addr, n + 1);
	return 0;
}

static struct bypass *find_bypass(struct ctx *x, const char *name)
{
	for (size_t i = 0; i < x->c->n_bypasses; i++)
		if (!strcmp(x->c->bypasses[i]->name, name))
			return x->c->bypasses[i];
	return NULL;
}

#define APPEND(arr, cnt, item) do { arr = xrealloc(arr, (cnt + 1) * sizeof *arr); arr[cnt++] = item; } while (0)

static int bypass_ref_add(struct ctx *x, const struct cnode *at, const char *field, const char *name,
			  struct bypass ***refs, size_t *n)
{
	struct bypass *b;
	if (!name || !*name)
		return 0;
	if (!(b = find_bypass(x, name)))
		return cfg_error(x->e, at, field, "no bypass named \"%s\" in bypasses", name);
	*refs = xrealloc(*refs, (*n + 1) * sizeof **refs);
	(*refs)[(*n)++] = b;
	return 0;
}

/* `bypass: NAME` and `bypasses: [NAME, ...]` together, as GOST: one list is used as it is, several
 * become a group (owned by the config) that decides as GOST's bypass group does. */
static int parse_bypass_ref(struct ctx *x, const struct cnode *parent, const char *path, struct bypass **out)
{
	struct bypass **refs = NULL;
	size_t n = 0;
	char *name;
	const struct cnode *list = cnode_get(parent, "bypasses");
	char one[512], many[512];
	snprintf(one, sizeof one, "%s.bypass", path);
	snprintf(many, sizeof many, "%s.bypasses", path);
	*out = NULL;
	if (get_scalar(x, parent, "bypass", path, &name) < 0 ||
	    bypass_ref_add(x, cnode_get(parent, "bypass"), one, name, &refs, &n) < 0)
		goto fail;
	if (list) {
		if (want_kind(x, list, CN_SEQ, many) < 0)
			goto fail;
		for (size_t i = 0; i < list->n; i++) {
			if (list->items[i]->kind != CN_SCALAR) {
				cfg_error(x->e, list->items[i], many, "expected the name of a bypass");
				goto fail;
			}
			if (bypass_ref_add(x, list->items[i], many, list->items[i]->value, &refs, &n) < 0)
				goto fail;
		}
	}
	if (n == 1) {
		*out = refs[0];
		free(refs);
	} else if (n > 1) {
		struct bypass *g = xcalloc(1, sizeof *g);
		g->members = refs;
		g->n_members = n;
		APPEND(x->c->bypass_groups, x->c->n_bypass_groups, g);
		*out = g;
	}
	return 0;
fail:
	free(refs);
	return -1;
}

/* ---- nodes, hops, chains ---- */

static int parse_typed(struct ctx *x, const struct cnode *parent, const char *key, const char *path, const char *def,
		       const char *kind, const void **type, struct auth_cfg *auth, struct tls_cfg *tls, struct cnode **md)
{
	static const char *const keys[] = { "type", "auth", "tls", "metadata", NULL };
	char field[512], known[512];
	struct cnode *n = cnode_get(parent, key);
	const char *tname = def;

	snprintf(field, sizeof field, "%s.%s", path, key);
	memset(auth, 0, sizeof *auth);
	memset(tls, 0, sizeof *tls);
	*md = NULL;
	if (n) {
		/* handler and listener sections have more keys; parse_service checks those */
		int own_keys = !strcmp(kind, "dialer") || !strcmp(kind, "connector");
		if (want_kind(x, n, CN_MAP, field) < 0 || (own_keys && check_keys(x, n, field, keys, NULL) < 0))
			return -1;
		const char *t = cnode_str(n, "type");
		if (t && *t)
			tname = t;
		if (parse_auth(x, n, field, auth) < 0 || parse_tls(x, n, field, tls) < 0 || parse_md(x, n, field, md) < 0)
			return -1;
	}
	if (!strcmp(kind, "handler"))
		*type = registry_handler(tname);
	else if (!strcmp(kind, "listener"))
		*type = registry_listener(tname);
	else if (!strcmp(kind, "dialer"))
		*type = registry_dialer(tname);
	else
		*type = registry_connector(tname);
	if (!*type) {
		registry_names(kind, known, sizeof known);
		char tf[600];
		snprintf(tf, sizeof tf, "%s.type", field);
		const struct cnode *where = n && cnode_get(n, "type") ? cnode_get(n, "type") : (n ? n : parent);
		return cfg_error(x->e, where, tf, "unknown %s \"%s\" (known: %s)", kind, tname, known);
	}
	return 0;
}

/* GOST's node metadata read by the selector: weight, backup, and the node's own maxFails and
 * failTimeout (GOST takes <= 0 as 1 and 10 s). */
static int parse_node_selection(struct ctx *x, struct node *node)
{
	long weight, max_fails;
	if (md_int(node->md, "weight", 1, 0, 1000000, &weight, x->e) < 0 ||
	    md_bool(node->md, "backup", 0, &node->sel.backup, x->e) < 0 ||
	    md_int(node->md, "maxFails", 0, 0, 1000000, &max_fails, x->e) < 0 ||
	    md_duration(node->md, "failTimeout", 0, &node->sel.fail_timeout, x->e) < 0)
		return -1;
	node->sel.weight = weight > 0 ? (int)weight : 1;
	node->sel.max_fails = max_fails > 0 || !cnode_get(node->md, "maxFails") ? (int)max_fails : 1;
	if (cnode_get(node->md, "failTimeout") && node->sel.fail_timeout <= 0)
		node->sel.fail_timeout = 10;
	return 0;
}

/* GOST applies a forwarder's nodes' own hosts and resolver nowhere (the service's resolve their
 * addresses): there they are refused rather than silently unused. */
static int parse_dns_refs(struct ctx *x, const struct cnode *n, const char *path, int allowed,
			  struct hosts_table **h, struct resolver_cfg **r)
{
	static const char *const keys[] = { "hosts", "resolver" };
	for (size_t i = 0; !allowed && i < 2; i++) {
		const struct cnode *v = cnode_get(n, keys[i]);
		char field[600];
		snprintf(field, sizeof field, "%s.%s", path, keys[i]);
		if (v) {
			struct cnode at = key_at(v);
			return cfg_error(x->e, &at, field,
					 "applies to a chain's nodes; a forwarder's targets use the service's %s", keys[i]);
		}
	}
	return dns_refs(n, path, x->c->hosts, x->c->n_hosts, x->c->resolvers, x->c->n_resolvers, h, r, x->e);
}

static struct node *parse_node(struct ctx *x, const struct cnode *n, const char *path, int forward_node)
{
	static const char *const keys[] = { "name", "addr", "connector", "dialer", "metadata", "bypass", "tls", "auth",
					    "network", "host", "protocol", "path", "bypasses", "hosts", "resolver", NULL };
	static const char *const ign[] = { "matcher", "http", "probe", "interface", "netns",
					   "sockopts", "filter", NULL };
	struct node *node = xcalloc(1, sizeof *node);
	char *s;
	char field[512];

	node->cfg = n;

	if (want_kind(x, n, CN_MAP, path) < 0 || check_keys(x, n, path, keys, ign) < 0)
		goto fail;
	if (get_scalar(x, n, "name", path, &s) < 0)
		goto fail;
	node->name = s && *s ? xstrdup(s) : NULL;
	if (get_scalar(x, n, "addr", path, &s) < 0)
		goto fail;
	snprintf(field, sizeof field, "%s.addr", path);
	if (!s || !*s) {
		cfg_error(x->e, n, field, "is required");
		goto fail;
	}
	node->addr = s;
	if (parse_md(x, n, path, &node->md) < 0 || parse_bypass_ref(x, n, path, &node->bypass) < 0 ||
	    parse_node_selection(x, node) < 0 ||
	    parse_dns_refs(x, n, path, !forward_node, &node->hosts, &node->resolver) < 0)
		goto fail;
	if (!forward_node) {
		if (parse_typed(x, n, "connector", path, "http", "connector", (const void **)&node->connector.type,
				&node->connector.auth, &node->connector.tls, &node->connector.md) < 0 ||
		    parse_typed(x, n, "dialer", path, "tcp", "dialer", (const void **)&node->dialer.type,
				&node->dialer.auth, &node->dialer.tls, &node->dialer.md) < 0)
			goto fail;
	} else {
		node->connector.type = registry_connector("forward");
		node->dialer.type = registry_dialer("tcp");
		if (parse_tls(x, n, path, &node->dialer.tls) < 0 || parse_auth(x, n, path, &node->connector.auth) < 0)
			goto fail;
	}
	/* forward_node 2: the targets of a handler that takes unix socket paths */
	if (forward_node == 2 || (!forward_node && node->dialer.type->path_addr)) {
		if (parse_path(x, cnode_get(n, "addr"), field, node->addr, node->host, sizeof node->host) < 0)
			goto fail;
	} else if (parse_hostport(x, cnode_get(n, "addr"), field, node->addr, node->host, sizeof node->host,
				  &node->port) < 0) {
		goto fail;
	}
	return node;
fail:
	node_free(node);
	return NULL;
}

static int parse_selector(struct ctx *x, const struct cnode *parent, const char *path, struct selector_cfg *sel)
{
	static const char *const keys[] = { "strategy", "maxFails", "failTimeout", NULL };
	static const char *const ign[] = { "maxLatency", NULL };
	struct cnode *n = cnode_get(parent, "selector");
	char field[512];
	long mf;

	sel->strategy = SEL_ROUND;
	sel->max_fails = 1;
	sel->fail_timeout = 10;
	if (!n)
		return 0;
	snprintf(field, sizeof field, "%s.selector", path);
	if (want_kind(x, n, CN_MAP, field) < 0 || check_keys(x, n, field, keys, ign) < 0)
		return -1;
	const char *st = cnode_str(n, "strategy");
	if (st && *st) {
		if (!strcasecmp(st, "round") || !strcasecmp(st, "rr"))
			sel->strategy = SEL_ROUND;
		else if (!strcasecmp(st, "random") || !strcasecmp(st, "rand"))
			sel->strategy = SEL_RANDOM;
		else if (!strcasecmp(st, "fifo") || !strcasecmp(st, "ha"))
			sel->strategy = SEL_FIFO;
		else if (!strcasecmp(st, "hash"))
			sel->strategy = SEL_HASH;
		else if (!strcasecmp(st, "parallel") || !strcasecmp(st, "lowestlatency") || !strcasecmp(st, "lowest") ||
			 !strcasecmp(st, "ll"))
			return cfg_error(x->e, cnode_get(n, "strategy"), "strategy",
					 "strategy \"%s\" is not implemented in portway (known: round, rand, fifo, hash)", st);
		else
			return cfg_error(x->e, cnode_get(n, "strategy"), "strategy",
					 "unknown strategy \"%s\" (known: round, rand, fifo, hash)", st);
	}
	if (md_int(n, "maxFails", 1, 0, 1000000, &mf, x->e) < 0 ||
	    md_duration(n, "failTimeout", 10, &sel->fail_timeout, x->e) < 0)
		return -1;
	sel->max_fails = (int)mf;
	return 0;
}

static struct hop *parse_hop(struct ctx *x, const struct cnode *n, const char *path, int forward_nodes)
{
	static const char *const keys[] = { "name", "nodes", "selector", "bypass", "bypasses", "metadata", "hosts",
					    "resolver", NULL };
	static const char *const ign[] = { "reload", "file", "redis", "http", "plugin",
					   "interface", "sockopts", "hop", "hopGroup", NULL };
	static const char *const refused[] = { NULL };
	struct hop *h = xcalloc(1, sizeof *h);
	char field[512];
	char *name;

	if (want_kind(x, n, CN_MAP, path) < 0 || check_keys_refusing(x, n, path, keys, ign, refused) < 0 ||
	    check_own_metadata(x, n, path) < 0)
		goto fail;
	if (get_scalar(x, n, "name", path, &name) < 0)
		goto fail;
	h->name = name;
	if (parse_selector(x, n, path, &h->sel) < 0 || parse_bypass_ref(x, n, path, &h->bypass) < 0 ||
	    parse_dns_refs(x, n, path, !forward_nodes, &h->hosts, &h->resolver) < 0)
		goto fail;
	struct cnode *nodes = cnode_get(n, "nodes");
	snprintf(field, sizeof field, "%s.nodes", path);
	if (!nodes || (nodes->kind == CN_SEQ && !nodes->n)) {
		cfg_error(x->e, nodes ? nodes : n, field, "at least one node is required");
		goto fail;
	}
	if (want_kind(x, nodes, CN_SEQ, field) < 0)
		goto fail;
	h->nodes = xcalloc(nodes->n, sizeof *h->nodes);
	for (size_t i = 0; i < nodes->n; i++) {
		char np[600];
		snprintf(np, sizeof np, "%s[%zu]", field, i);
		struct node *nd = parse_node(x, nodes->items[i], np, forward_nodes);
		if (!nd)
			goto fail;
		if (!nd->name) {
			char nm[32];
			snprintf(nm, sizeof nm, "node-%zu", i);
			nd->name = xstrdup(nm);
		}
		/* GOST: a node without its own hosts or resolver uses its hop's */
		if (!nd->hosts)
			nd->hosts = h->hosts;
		if (!nd->resolver)
			nd->resolver = h->resolver;
		h->nodes[h->n_nodes++] = nd;
	}
	return h;
fail:
	hop_free(h);
	return NULL;
}

static struct hop *find_hop(struct ctx *x, const char *name)
{
	for (size_t i = 0; i < x->c->n_hops; i++)
		if (x->c->hops[i]->name && !strcmp(x->c->hops[i]->name, name))
			return x->c->hops[i];
	return NULL;
}

static struct chain *parse_chain(struct ctx *x, const struct cnode *n, const char *path)
{
	static const char *const keys[] = { "name", "hops", "metadata", NULL };
	struct chain *ch = xcalloc(1, sizeof *ch);
	char field[512];
	char *name;

	if (want_kind(x, n, CN_MAP, path) < 0 || check_keys(x, n, path, keys, NULL) < 0 ||
	    check_own_metadata(x, n, path) < 0 || get_scalar(x, n, "name", path, &name) < 0)
		goto fail;
	snprintf(field, sizeof field, "%s.name", path);
	if (!name || !*name) {
		cfg_error(x->e, n, field, "is required");
		goto fail;
	}
	ch->name = name;
	struct cnode *hops = cnode_get(n, "hops");
	snprintf(field, sizeof field, "%s.hops", path);
	if (!hops || hops->kind != CN_SEQ || !hops->n) {
		cfg_error(x->e, hops ? hops : n, field, "expected a list of at least one hop");
		goto fail;
	}
	if (hops->n > 16) {
		/* The router keeps a node per hop in fixed arrays of 16. */
		cfg_error(x->e, hops, field, "a chain has at most 16 hops, this one has %zu", hops->n);
		goto fail;
	}
	ch->hops = xcalloc(hops->n, sizeof *ch->hops);
	for (size_t i = 0; i < hops->n; i++) {
		char hp[600];
		struct cnode *hn = hops->items[i];
		snprintf(hp, sizeof hp, "%s[%zu]", field, i);
		if (hn->kind == CN_MAP && !cnode_get(hn, "nodes")) {
			/* A hop with no nodes is a reference to a top-level hop. */
			const char *ref = cnode_str(hn, "name");
			struct hop *h = ref ? find_hop(x, ref) : NULL;
			if (!h) {
				cfg_error(x->e, hn, hp, "has no nodes and no top-level hop is named \"%s\"", ref ? ref : "");
				goto fail;
			}
			ch->hops[ch->n_hops++] = h;
			continue;
		}
		struct hop *h = parse_hop(x, hn, hp, 0);
		if (!h)
			goto fail;
		/* Owned through the config's hop list so it is freed once. */
		x->c->hops = xrealloc(x->c->hops, (x->c->n_hops + 1) * sizeof *x->c->hops);
		x->c->hops[x->c->n_hops++] = h;
		ch->hops[ch->n_hops++] = h;
	}
	return ch;
fail:
	chain_free(ch);
	return NULL;
}

static struct chain *find_chain(struct ctx *x, const char *name)
{
	for (size_t i = 0; i < x->c->n_chains; i++)
		if (!strcmp(x->c->chains[i]->name, name))
			return x->c->chains[i];
	return NULL;
}

static int parse_chain_ref(struct ctx *x, const struct cnode *parent, const char *path, struct chain **out)
{
	char *name;
	*out = NULL;
	if (get_scalar(x, parent, "chain", path, &name) < 0)
		return -1;
	if (!name || !*name)
		return 0;
	if (!(*out = find_chain(x, name))) {
		char field[512];
		snprintf(field, sizeof field, "%s.chain", path);
		return cfg_error(x->e, cnode_get(parent, "chain"), field, "no chain named \"%s\" in chains", name);
	}
	return 0;
}

/* ---- authers and bypasses ---- */

static struct auther *parse_auther(struct ctx *x, const struct cnode *n, const char *path)
{
	static const char *const keys[] = { "name", "auths", "file", NULL };
	static const char *const ign[] = { "reload", "redis", "http", "plugin", NULL };
	struct auther *a = xcalloc(1, sizeof *a);
	char *s;
	if (want_kind(x, n, CN_MAP, path) < 0 || check_keys(x, n, path, keys, ign) < 0 ||
	    get_scalar(x, n, "name", path, &s) < 0)
		goto fail;
	if (!s || !*s) {
		cfg_error(x->e, n, path, "name is required");
		goto fail;
	}
	a->name = s;
	struct cnode *auths = cnode_get(n, "auths");
	if (auths) {
		if (want_kind(x, auths, CN_SEQ, "auths") < 0)
			goto fail;
		a->users = xcalloc(auths->n, sizeof *a->users);
		for (size_t i = 0; i < auths->n; i++) {
			struct cnode *u = auths->items[i];
			const char *un = cnode_str(u, "username");
			if (!un) {
				cfg_error(x->e, u, "auths", "each entry needs a username");
				goto fail;
			}
			a->users[a->n_users].username = xstrdup(un);
			a->users[a->n_users++].password = xstrdup(cnode_str(u, "password") ? cnode_str(u, "password") : "");
		}
	}
	/* GOST's form is file: {path: users.txt}; a plain string is accepted too. */
	const struct cnode *fnode = cnode_get(n, "file");
	if (fnode && fnode->kind == CN_MAP) {
		char fpath[512];
		snprintf(fpath, sizeof fpath, "%s.file", path);
		if (check_keys(x, fnode, fpath, (const char *const[]){ "path", NULL }, NULL) < 0 ||
		    get_scalar(x, fnode, "path", fpath, &a->file) < 0)
			goto fail;
		if (!a->file) {
			cfg_error(x->e, fnode, fpath, "needs a path");
			goto fail;
		}
	} else if (get_scalar(x, n, "file", path, &a->file) < 0) {
		goto fail;
	}
	if (a->file) {
		FILE *f = fopen(a->file, "r");
		char line[1024];
		if (!f) {
			const struct cnode *at = cnode_get(n, "file");
			if (at->kind == CN_MAP)
				at = cnode_get(at, "path");
			cfg_error(x->e, at, "file", "cannot open users file %s: %s", a->file, strerror(errno));
			goto fail;
		}
		/* Strings are owned by the auther. */
		while (fgets(line, sizeof line, f)) {
			char *u, *p;
			if (users_line_parse(line, &u, &p) < 0)
				continue;
			a->users = xrealloc(a->users, (a->n_users + 1) * sizeof *a->users);
			a->users[a->n_users].username = xstrdup(u);
			a->users[a->n_users++].password = xstrdup(p);
		}
		fclose(f);
	}
	return a;
fail:
	auther_free(a);
	return NULL;
}

static struct bypass *parse_bypass(struct ctx *x, const struct cnode *n, const char *path)
{
	static const char *const keys[] = { "name", "matchers", "whitelist", "reverse", "network", NULL };
	static const char *const ign[] = { "reload", NULL };
	/* matchers from elsewhere: a service's bypass would let through what they match */
	static const char *const refused[] = { "file", "redis", "http", "plugin", NULL };
	struct bypass *b = xcalloc(1, sizeof *b);
	char *s;
	int wl = 0, rev = 0;
	if (want_kind(x, n, CN_MAP, path) < 0 || check_keys_refusing(x, n, path, keys, ign, refused) < 0 ||
	    get_scalar(x, n, "name", path, &s) < 0)
		goto fail;
	if (!s || !*s) {
		cfg_error(x->e, n, path, "name is required");
		goto fail;
	}
	b->name = s;
	if (md_bool(n, "whitelist", 0, &wl, x->e) < 0 || md_bool(n, "reverse", 0, &rev, x->e) < 0)
		goto fail;
	b->whitelist = wl || rev;
	if (get_scalar(x, n, "network", path, &s) < 0)
		goto fail;
	if (s && *s) {
		if (strcasecmp(s, "tcp") && strcasecmp(s, "udp")) {
			cfg_error(x->e, cnode_get(n, "network"), "network", "must be tcp or udp, not \"%s\"", s);
			goto fail;
		}
		b->network = s;
	}
	struct cnode *m = cnode_get(n, "matchers");
	if (m) {
		if (want_kind(x, m, CN_SEQ, "matchers") < 0)
			goto fail;
		b->patterns = xcalloc(m->n, sizeof *b->patterns);
		for (size_t i = 0; i < m->n; i++)
			if (m->items[i]->kind == CN_SCALAR)
				b->patterns[b->n++] = m->items[i]->value;
	}
	return b;
fail:
	bypass_free(b);
	return NULL;
}

/* ---- services ---- */

static int parse_authers_ref(struct ctx *x, const struct cnode *h, struct service *svc)
{
	const char *one = cnode_str(h, "auther");
	struct cnode *many = cnode_get(h, "authers");
	const char *names[64];
	const struct cnode *where[64];
	size_t n = 0;
	if (one && *one) {
		names[n] = one;
		where[n++] = cnode_get(h, "auther");
	}
	if (many && many->kind == CN_SEQ)
		for (size_t i = 0; i < many->n && n < 64; i++) {
			names[n] = many->items[i]->value ? many->items[i]->value : "";
			where[n++] = many->items[i];
		}
	if (!n)
		return 0;
	svc->handler.authers = xcalloc(n, sizeof *svc->handler.authers);
	for (size_t i = 0; i < n; i++) {
		struct auther *a = NULL;
		for (size_t j = 0; j < x->c->n_authers; j++)
			if (!strcmp(x->c->authers[j]->name, names[i]))
				a = x->c->authers[j];
		if (!a)
			return cfg_error(x->e, where[i], "handler.auther", "no auther named \"%s\" in authers", names[i]);
		svc->handler.authers[svc->handler.n_authers++] = a;
	}
	return 0;
}

/* services[].limiter: a bandwidth limiter of `limiters:`. The pipe enforces it on stream connections;
 * a datagram listener's sessions are not limited, so naming one there is refused. */
static int parse_limiter_ref(struct ctx *x, const struct cnode *n, const char *path, struct service *svc)
{
	char field[512];
	char *name;
	snprintf(field, sizeof field, "%s.limiter", path);
	if (get_scalar(x, n, "limiter", path, &name) < 0)
		return -1;
	if (!name || !*name)
		return 0;
	for (size_t i = 0; i < x->c->n_limiters; i++)
		if (!strcmp(x->c->limiters[i]->name, name))
			svc->limiter = x->c->limiters[i];
	if (!svc->limiter)
		return cfg_error(x->e, cnode_get(n, "limiter"), field, "no limiter named \"%s\" in limiters", name);
	if (svc->listener.type->socktype == SOCK_DGRAM)
		return cfg_error(x->e, cnode_get(n, "limiter"), field,
				 "bandwidth limits on a datagram listener (%s) are not implemented by portway",
				 svc->listener.type->name);
	return 0;
}

static struct service *parse_service(struct ctx *x, struct cnode *n, const char *path, size_t index)
{
	static const char *const keys[] = { "name", "addr", "handler", "listener", "forwarder", "metadata", "bypass",
					    "bypasses", "admission", "admissions", "climiter", "rlimiter", "hosts",
					    "resolver", "limiter", NULL };
	static const char *const ign[] = { "interface", "sockopts", "observer", "recorders",
					   "status", "rewriter", "cache", NULL };
	/* logger, loggers: the service's lines would silently go elsewhere than the operator configured */
	static const char *const refused[] = { "quotas", "logger", "loggers", NULL };
	static const char *const hrefused[] = { "limiter", NULL };
	static const char *const lrefused[] = { "auther", "authers", NULL };
	static const char *const hkeys[] = { "type", "chain", "auth", "auther", "authers", "tls", "metadata", "retries",
					     NULL };
	static const char *const lkeys[] = { "type", "chain", "auth", "tls", "metadata", NULL };
	static const char *const fkeys[] = { "nodes", "selector", "hop", "name", NULL };
	struct service *svc = xcalloc(1, sizeof *svc);
	char field[512], *s;

	svc->cfg = n;
	svc->owner = x->c;
	if (want_kind(x, n, CN_MAP, path) < 0 || check_keys_refusing(x, n, path, keys, ign, refused) < 0)
		goto fail;
	if (get_scalar(x, n, "name", path, &s) < 0)
		goto fail;
	if (s && *s) {
		svc->name = xstrdup(s);
	} else {
		char nm[32];
		snprintf(nm, sizeof nm, "service-%zu", index);
		svc->name = xstrdup(nm);
	}
	if (get_scalar(x, n, "addr", path, &s) < 0)
		goto fail;
	snprintf(field, sizeof field, "%s.addr", path);
	if (!s || !*s) {
		cfg_error(x->e, n, field, "is required (for example \":8080\" or \"127.0.0.1:8080\")");
		goto fail;
	}
	svc->addr = s;
	x->proxy_protocol_here = 1;
	int md_ok = parse_md(x, n, path, &svc->md);
	x->proxy_protocol_here = 0;
	if (md_ok < 0 || parse_bypass_ref(x, n, path, &svc->bypass) < 0 ||
	    parse_dns_refs(x, n, path, 1, &svc->hosts, &svc->resolver) < 0)
		goto fail;

	struct cnode *h = cnode_get(n, "handler"), *l = cnode_get(n, "listener"), *f = cnode_get(n, "forwarder");
	snprintf(field, sizeof field, "%s.handler", path);
	if (h && (want_kind(x, h, CN_MAP, field) < 0 || check_keys_refusing(x, h, field, hkeys, NULL, hrefused) < 0))
		goto fail;
	x->proxy_protocol_here = 1;
	int handler_ok = parse_typed(x, n, "handler", path, "auto", "handler", (const void **)&svc->handler.type,
				     &svc->handler.auth, &svc->handler.tls, &svc->handler.md);
	x->proxy_protocol_here = 0;
	if (handler_ok < 0 || parse_handler_proxy_protocol(x, svc, path) < 0)
		goto fail;
	if (h && (parse_chain_ref(x, h, field, &svc->handler.chain) < 0 || parse_authers_ref(x, h, svc) < 0))
		goto fail;
	snprintf(field, sizeof field, "%s.listener", path);
	if (l && (want_kind(x, l, CN_MAP, field) < 0 || check_keys_refusing(x, l, field, lkeys, NULL, lrefused) < 0))
		goto fail;
	x->proxy_protocol_here = 1;
	int listener_ok = parse_typed(x, n, "listener", path, "tcp", "listener", (const void **)&svc->listener.type,
				      &svc->listener.auth, &svc->listener.tls, &svc->listener.md);
	x->proxy_protocol_here = 0;
	if (listener_ok < 0 || parse_proxy_protocol(x, svc, path) < 0)
		goto fail;
	if (l && parse_chain_ref(x, l, field, &svc->listener.chain) < 0)
		goto fail;
	if (access_parse_service(x->c, svc, n, path, x->e) < 0)
		goto fail;
	if (parse_limiter_ref(x, n, path, svc) < 0)
		goto fail;
	snprintf(field, sizeof field, "%s.addr", path);
	if (svc->listener.type->bind) {
		if (parse_path(x, cnode_get(n, "addr"), field, svc->addr, svc->host, sizeof svc->host) < 0)
			goto fail;
	} else if (parse_hostport(x, cnode_get(n, "addr"), field, svc->addr, svc->host, sizeof svc->host,
				  &svc->port) < 0) {
		goto fail;
	}
	if (f) {
		snprintf(field, sizeof field, "%s.forwarder", path);
		if (want_kind(x, f, CN_MAP, field) < 0 || check_keys(x, f, field, fkeys, NULL) < 0)
			goto fail;
		const char *hopname = cnode_str(f, "hop");
		if (hopname && *hopname) {
			struct hop *hp = find_hop(x, hopname);
			if (!hp) {
				cfg_error(x->e, cnode_get(f, "hop"), "forwarder.hop", "no hop named \"%s\" in hops", hopname);
				goto fail;
			}
			svc->forwarder = hp;
		} else if (!(svc->forwarder = parse_hop(x, f, field, svc->handler.type->path_targets ? 2 : 1))) {
			goto fail;
		} else {
			x->c->hops = xrealloc(x->c->hops, (x->c->n_hops + 1) * sizeof *x->c->hops);
			x->c->hops[x->c->n_hops++] = svc->forwarder;
		}
	}
	return svc;
fail:
	service_free(svc);
	return NULL;
}

/* The fingerprint covers what a service's behaviour depends on: its own
 * subtree and every chain, hop, auther and bypass it names. */
static void service_fingerprint(struct ctx *x, struct service *svc)
{
	char *own = cnode_fingerprint(svc->cfg), *all;
	size_t len = strlen(own) + 1;
	all = xstrdup(own);
	free(own);
	const struct cnode *refs[] = { cnode_get(x->c->root, "chains"),     cnode_get(x->c->root, "hops"),
				       cnode_get(x->c->root, "authers"),    cnode_get(x->c->root, "bypasses"),
				       cnode_get(x->c->root, "admissions"), cnode_get(x->c->root, "climiters"),
				       cnode_get(x->c->root, "rlimiters"),
				       cnode_get(x->c->root, "hosts"),      cnode_get(x->c->root, "resolvers"),
				       cnode_get(x->c->root, "limiters") };
	for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) {
		if (!refs[i])
			continue;
		char *fp = cnode_fingerprint(refs[i]);
		len += strlen(fp);
		all = xrealloc(all, len + 1);
		strcat(all, fp);
		free(fp);
	}
	/* A users file changes the service as much as its YAML does (reload on SIGHUP). */
	uint64_t h = 14695981039346656037u;
	for (size_t i = 0; i < x->c->n_authers; i++) {
		const struct auther *a = x->c->authers[i];
		for (size_t j = 0; a->file && j < a->n_users; j++)
			h = fnv1a(fnv1a(h, a->users[j].username), a->users[j].password);
	}
	h = fnv1a(h, "auth files") ^ x->auth_files;
	all = xrealloc(all, len + 64);
	snprintf(all + len - 1, 64, "users:%016llx lists:%016llx", (unsigned long long)h,
		 (unsigned long long)access_files_hash(x->c));
	svc->fingerprint = all;
}

/* ---- what the types apply: a setting that no type would apply is refused (fail closed) ---- */

static int checks_users(const void *t) { return ((const struct handler_type *)t)->checks_users; }
static int listener_checks_users(const void *t) { return ((const struct listener_type *)t)->checks_users; }
static int listener_uses_tls(const void *t) { return ((const struct listener_type *)t)->uses_tls; }
static int dialer_uses_tls(const void *t) { return ((const struct dialer_type *)t)->uses_tls; }

/* The position of the key in parent (in buf), or of parent when it has none there. */
static const struct cnode *where_key(const struct cnode *parent, const char *key, struct cnode *buf)
{
	const struct cnode *k = parent ? cnode_get(parent, key) : NULL;
	if (!k)
		return parent;
	*buf = key_at(k);
	return buf;
}

/* Users on a handler that asks for none would leave the service open. */
static int check_service_users(struct ctx *x, const struct service *svc, const char *path)
{
	const struct cnode *h = cnode_get(svc->cfg, "handler"), *l = cnode_get(svc->cfg, "listener");
	char field[600], known[256];
	struct cnode at;
	if (service_auth_required(svc) && !svc->handler.type->checks_users) {
		const char *key = cnode_get(h, "auth") ? "auth" : cnode_get(h, "auther") ? "auther" : "authers";
		snprintf(field, sizeof field, "%s.handler.%s", path, key);
		registry_names_if("handler", checks_users, known, sizeof known);
		return cfg_error(x->e, where_key(h, key, &at), field,
				 "handler %s does not authenticate its clients, so these users would not be asked for "
				 "(handlers that do: %s)", svc->handler.type->name, known);
	}
	if (svc->listener.auth.username && !svc->listener.type->checks_users) {
		snprintf(field, sizeof field, "%s.listener.auth", path);
		registry_names_if("listener", listener_checks_users, known, sizeof known);
		return cfg_error(x->e, where_key(l, "auth", &at), field,
				 "listener %s does not authenticate clients, so these users would not be asked for "
				 "(users go in handler.auth; listeners that do: %s)", svc->listener.type->name, known);
	}
	return 0;
}

/* A tls block on a section that makes no TLS would leave the traffic in the clear. */
static int check_service_tls(struct ctx *x, const struct service *svc, const char *path)
{
	const struct cnode *h = cnode_get(svc->cfg, "handler"), *l = cnode_get(svc->cfg, "listener");
	char field[600], known[256];
	struct cnode at;
	if (svc->handler.tls.set) {
		snprintf(field, sizeof field, "%s.handler.tls", path);
		return cfg_error(x->e, where_key(h, "tls", &at), field,
				 "no portway handler uses handler.tls, so it would not be applied (TLS settings go in "
				 "listener.tls)");
	}
	if (svc->listener.tls.set && !svc->listener.type->uses_tls) {
		snprintf(field, sizeof field, "%s.listener.tls", path);
		registry_names_if("listener", listener_uses_tls, known, sizeof known);
		return cfg_error(x->e, where_key(l, "tls", &at), field,
				 "listener %s does not use TLS, so it would not be applied (listeners that do: %s)",
				 svc->listener.type->name, known);
	}
	return 0;
}

/* What a node's own keys and its connector and dialer ask for, wherever the node is used. */
static int check_node(struct ctx *x, const struct node *n)
{
	const struct cnode *c = cnode_get(n->cfg, "connector"), *d = cnode_get(n->cfg, "dialer");
	const struct cnode *http = cnode_get(n->cfg, "http");
	const char *name = n->name ? n->name : n->addr;
	char field[600], known[256];
	struct cnode at;
	static const char *const own[] = { "tls", "auth", NULL };
	for (size_t i = 0; own[i]; i++)
		if (cnode_get(n->cfg, own[i])) {
			snprintf(field, sizeof field, "node %s: %s", name, own[i]);
			/* GOST: TLS to the node and HTTP authentication of the clients, for forwarders */
			return cfg_error(x->e, where_key(n->cfg, own[i], &at), field,
					 "a node's own %s is not applied by portway (a chain node takes %s)", own[i],
					 i == 0 ? "dialer.tls" : "connector.auth");
		}
	if (http && http->kind == CN_MAP && cnode_get(http, "auth")) {
		snprintf(field, sizeof field, "node %s: http.auth", name);
		return cfg_error(x->e, where_key(http, "auth", &at), field,
				 "HTTP authentication of the clients is not implemented by portway, so it would not be "
				 "enforced (remove it to run without it)");
	}
	if (n->connector.tls.set) {
		snprintf(field, sizeof field, "node %s: connector.tls", name);
		return cfg_error(x->e, where_key(c, "tls", &at), field,
				 "no portway connector uses connector.tls, so it would not be applied (TLS settings go "
				 "in dialer.tls, with a tls, wss or dtls dialer)");
	}
	if (n->dialer.tls.set && n->dialer.type && !n->dialer.type->uses_tls) {
		snprintf(field, sizeof field, "node %s: dialer.tls", name);
		registry_names_if("dialer", dialer_uses_tls, known, sizeof known);
		return cfg_error(x->e, where_key(d, "tls", &at), field,
				 "dialer %s does not use TLS, so it would not be applied (dialers that do: %s)",
				 n->dialer.type->name, known);
	}
	/* Credentials that are not sent leave nothing open here: the node refuses. */
	if (n->connector.auth.username && n->connector.type && !n->connector.type->sends_auth)
		log_warn("node %s: connector %s sends no credentials: connector.auth is ignored", name,
			 n->connector.type->name);
	if (n->dialer.auth.username)
		log_warn("node %s: no portway dialer sends credentials: dialer.auth is ignored", name);
	return 0;
}

/* A section of a forwarder node may only say what is done anyway: plain TCP or UDP. */
static int check_forward_section(struct ctx *x, const struct node *n, const char *key, const char *const *types)
{
	const struct cnode *sec = cnode_get(n->cfg, key);
	const char *name = n->name ? n->name : n->addr;
	char field[600];
	struct cnode at;
	if (!sec)
		return 0;
	const char *t = cnode_str(sec, "type");
	int same = !t || !*t;
	for (size_t i = 0; types[i] && !same; i++)
		same = !strcmp(key, "connector") ? registry_connector(t) == registry_connector(types[i])
						 : registry_dialer(t) == registry_dialer(types[i]);
	for (size_t i = 0; sec->kind == CN_MAP && i < sec->n && same; i++)
		same = !strcasecmp(sec->items[i]->key, "type") || !strcasecmp(sec->items[i]->key, "metadata");
	if (same)
		return 0;
	snprintf(field, sizeof field, "node %s: %s", name, key);
	return cfg_error(x->e, where_key(n->cfg, key, &at), field,
			 "a forwarder connects to its nodes directly, in plain TCP or UDP, so this %s would not be "
			 "applied (a transport goes in a chain: handler.chain)", key);
}

static int check_forwarder(struct ctx *x, const struct hop *f)
{
	static const char *const connectors[] = { "forward", NULL }, *const dialers[] = { "tcp", "udp", NULL };
	for (size_t i = 0; f && i < f->n_nodes; i++)
		if (check_forward_section(x, f->nodes[i], "connector", connectors) < 0 ||
		    check_forward_section(x, f->nodes[i], "dialer", dialers) < 0)
			return -1;
	return 0;
}

static int check_applied(struct ctx *x)
{
	for (size_t i = 0; i < x->c->n_services; i++) {
		const struct service *svc = x->c->services[i];
		char path[64];
		snprintf(path, sizeof path, "services[%zu]", i);
		if (check_service_users(x, svc, path) < 0 || check_service_tls(x, svc, path) < 0 ||
		    check_forwarder(x, svc->forwarder) < 0)
			return -1;
	}
	for (size_t i = 0; i < x->c->n_hops; i++)
		for (size_t j = 0; j < x->c->hops[i]->n_nodes; j++)
			if (check_node(x, x->c->hops[i]->nodes[j]) < 0)
				return -1;
	return 0;
}

static int init_types(struct ctx *x)
{
	for (size_t i = 0; i < x->c->n_hops; i++)
		for (size_t j = 0; j < x->c->hops[i]->n_nodes; j++) {
			struct node *nd = x->c->hops[i]->nodes[j];
			if (nd->dialer.type->init && nd->dialer.type->init(nd, x->e) < 0)
				return -1;
			if (nd->connector.type->init && nd->connector.type->init(nd, x->e) < 0)
				return -1;
		}
	for (size_t i = 0; i < x->c->n_services; i++) {
		struct service *svc = x->c->services[i];
		if (svc->listener.type->init && svc->listener.type->init(svc, x->e) < 0)
			return -1;
		if (svc->handler.type->init && svc->handler.type->init(svc, x->e) < 0)
			return -1;
	}
	return 0;
}

static int parse_list(struct ctx *x, const char *key, void (*each)(struct ctx *, struct cnode *, const char *, int *))
{
	struct cnode *l = cnode_get(x->c->root, key);
	int failed = 0;
	if (!l || (l->kind == CN_SCALAR && !*l->value))
		return 0;
	if (want_kind(x, l, CN_SEQ, key) < 0)
		return -1;
	for (size_t i = 0; i < l->n && !failed; i++) {
		char path[64];
		snprintf(path, sizeof path, "%s[%zu]", key, i);
		each(x, l->items[i], path, &failed);
	}
	return failed ? -1 : 0;
}

static void each_bypass(struct ctx *x, struct cnode *n, const char *p, int *failed)
{
	struct bypass *b = parse_bypass(x, n, p);
	if (!b)
		*failed = 1;
	else
		APPEND(x->c->bypasses, x->c->n_bypasses, b);
}

/* limiters[]: GOST's bandwidth limiters; their loaders and plugins are not implemented. */
static void each_limiter(struct ctx *x, struct cnode *n, const char *p, int *failed)
{
	static const char *const keys[] = { "name", "limits", NULL };
	static const char *const refused[] = { "reload", "file", "redis", "http", "plugin", NULL };
	struct traffic_limiter *l;
	if (want_kind(x, n, CN_MAP, p) < 0 || check_keys_refusing(x, n, p, keys, NULL, refused) < 0 ||
	    !(l = traffic_limiter_parse(n, p, x->e))) {
		*failed = 1;
		return;
	}
	for (size_t i = 0; i < x->c->n_limiters; i++)
		if (!strcmp(x->c->limiters[i]->name, l->name)) {
			cfg_error(x->e, cnode_get(n, "name"), p, "a second limiter named \"%s\"", l->name);
			traffic_limiter_free(l);
			*failed = 1;
			return;
		}
	APPEND(x->c->limiters, x->c->n_limiters, l);
}

static void each_auther(struct ctx *x, struct cnode *n, const char *p, int *failed)
{
	struct auther *a = parse_auther(x, n, p);
	if (!a)
		*failed = 1;
	else
		APPEND(x->c->authers, x->c->n_authers, a);
}

static void each_hop(struct ctx *x, struct cnode *n, const char *p, int *failed)
{
	struct hop *h = parse_hop(x, n, p, 0);
	if (!h)
		*failed = 1;
	else
		APPEND(x->c->hops, x->c->n_hops, h);
}

static void each_chain(struct ctx *x, struct cnode *n, const char *p, int *failed)
{
	struct chain *ch = parse_chain(x, n, p);
	if (!ch) {
		*failed = 1;
		return;
	}
	if (find_chain(x, ch->name)) {
		cfg_error(x->e, n, p, "a chain named \"%s\" is already defined", ch->name);
		*failed = 1;
		chain_free(ch);
		return;
	}
	APPEND(x->c->chains, x->c->n_chains, ch);
}

static void each_service(struct ctx *x, struct cnode *n, const char *p, int *failed)
{
	struct service *s = parse_service(x, n, p, x->c->n_services);
	if (!s) {
		*failed = 1;
		return;
	}
	for (size_t i = 0; i < x->c->n_services; i++)
		if (!strcmp(x->c->services[i]->name, s->name)) {
			cfg_error(x->e, n, p, "a service named \"%s\" is already defined", s->name);
			*failed = 1;
			service_free(s);
			return;
		}
	APPEND(x->c->services, x->c->n_services, s);
}

/* Listeners bind with SO_REUSEPORT (one socket per worker), so a second service on the same
 * address would bind too and silently take a share of the first one's connections. */
static int same_listen_addr(const struct service *a, const struct service *b)
{
	if (a->listener.type->bind || b->listener.type->bind) /* socket paths */
		return a->listener.type->bind && b->listener.type->bind && !strcmp(a->host, b->host);
	return b->port && a->port == b->port && a->listener.type->socktype == b->listener.type->socktype &&
	       !strcmp(a->host, b->host);
}

static int check_addrs(struct ctx *x)
{
	for (size_t j = 0; j < x->c->n_services; j++) {
		const struct service *b = x->c->services[j];
		for (size_t i = 0; i < j && b->listener.type->socktype; i++) {
			const struct service *a = x->c->services[i];
			if (!same_listen_addr(a, b))
				continue;
			char field[64];
			snprintf(field, sizeof field, "services[%zu].addr", j);
			return cfg_error(x->e, cnode_get(b->cfg, "addr"), field, "%s is already the address of service \"%s\"",
					 b->addr, a->name);
		}
	}
	return 0;
}

/* log.rotation as GOST's (lumberjack's): maxSize in megabytes, which portway also takes as a fraction
 * (0.01: about 10 KB); maxAge in days; maxBackups; localTime and compress. */
static int parse_log_rotation(struct ctx *x, const struct cnode *l, const char *output)
{
	static const char *const keys[] = { "maxSize", "maxAge", "maxBackups", "localTime", "compress", NULL };
	struct log_rotation *r = &x->c->log_rotation;
	struct cnode *n = cnode_get(l, "rotation");
	long age, backups;
	if (!n)
		return 0;
	if (want_kind(x, n, CN_MAP, "log.rotation") < 0 || check_keys(x, n, "log.rotation", keys, NULL) < 0)
		return -1;
	struct cnode *sz = cnode_get(n, "maxSize");
	if (sz) {
		char *end;
		errno = 0;
		double mb = sz->kind == CN_SCALAR && *sz->value ? strtod(sz->value, &end) : -1;
		if (mb < 0 || errno || *end || mb > 1024 * 1024 || (mb > 0 && mb * 1048576 < 1))
			return cfg_error(x->e, sz, "log.rotation.maxSize",
					 "expected a size in megabytes from 0 (GOST's default, 100) to 1048576, got \"%s\"",
					 sz->kind == CN_SCALAR ? sz->value : "");
		r->max_bytes = (uint64_t)(mb * 1048576);
	}
	if (md_int(n, "maxAge", 0, 0, 365000, &age, x->e) < 0 || md_int(n, "maxBackups", 0, 0, 1000000, &backups, x->e) < 0 ||
	    md_bool(n, "localTime", 0, &r->local_time, x->e) < 0 || md_bool(n, "compress", 0, &r->compress, x->e) < 0)
		return -1;
	r->max_age_days = (int)age;
	r->max_backups = (int)backups;
	/* GOST's own example rotates stderr: rotation applies to a file only, elsewhere it does nothing. */
	if (!output || !*output || !strcmp(output, "stderr") || !strcmp(output, "stdout") || !strcmp(output, "none") ||
	    !strcmp(output, "null")) {
		log_warn("%s:%d: log.rotation applies only when log.output is a file: ignored", n->file,
			 n->key_line ? n->key_line : n->line);
		return 0;
	}
	r->enabled = 1;
	return 0;
}

static int parse_log(struct ctx *x)
{
	static const char *const keys[] = { "level", "format", "output", "rotation", NULL };
	enum log_level lvl;
	struct cnode *l = cnode_get(x->c->root, "log");
	if (!l)
		return 0;
	if (want_kind(x, l, CN_MAP, "log") < 0 || check_keys(x, l, "log", keys, NULL) < 0)
		return -1;
	x->c->log_level = (char *)cnode_str(l, "level");
	x->c->log_format = (char *)cnode_str(l, "format");
	x->c->log_output = (char *)cnode_str(l, "output");
	if (x->c->log_level && *x->c->log_level && log_level_parse(x->c->log_level, &lvl) < 0)
		return cfg_error(x->e, cnode_get(l, "level"), "log.level",
				 "unknown level \"%s\" (known: trace, debug, info, warn, error, fatal)", x->c->log_level);
	if (x->c->log_format && *x->c->log_format && strcasecmp(x->c->log_format, "text") &&
	    strcasecmp(x->c->log_format, "json"))
		return cfg_error(x->e, cnode_get(l, "format"), "log.format", "expected text or json, got \"%s\"",
				 x->c->log_format);
	return parse_log_rotation(x, l, x->c->log_output);
}

static int is_loopback(const char *host)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (!strcasecmp(host, "localhost"))
		return 1;
	if (sockaddr_from_literal(host, 0, &ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6))
		return a6->s6_addr[12] == 127;
	return IN6_IS_ADDR_LOOPBACK(a6);
}

int metrics_cfg_check(const struct metrics_cfg *m, const struct cnode *where, struct cfg_err *e)
{
	const char *field = where ? "metrics.addr" : "-metrics";
	if (!m->addr)
		return 0;
	if (!m->path || m->path[0] != '/')
		return cfg_error(e, where, where ? "metrics.path" : "-metrics", "the path must start with /, got \"%s\"",
				 m->path ? m->path : "");
	if (!m->auth.username && !m->auther && !is_loopback(m->host))
		return cfg_error(e, where, field,
				 "%s is not a loopback address and the metrics endpoint has no auth: set %s, or listen on "
				 "127.0.0.1 / [::1]",
				 m->addr, where ? "metrics.auth (or metrics.auther)" : "-metrics user:pass@host:port");
	return 0;
}

/* GOST's `metrics: {addr, path, auth, auther}`. */
static int parse_metrics(struct ctx *x)
{
	static const char *const keys[] = { "addr", "path", "auth", "auther", NULL };
	struct cnode *m = cnode_get(x->c->root, "metrics");
	struct metrics_cfg *mc = &x->c->metrics;
	char *addr = NULL, *path = NULL, *auther = NULL;
	if (!m)
		return 0;
	if (want_kind(x, m, CN_MAP, "metrics") < 0 || check_keys(x, m, "metrics", keys, NULL) < 0 ||
	    get_scalar(x, m, "addr", "metrics", &addr) < 0 || get_scalar(x, m, "path", "metrics", &path) < 0 ||
	    get_scalar(x, m, "auther", "metrics", &auther) < 0 || parse_auth(x, m, "metrics", &mc->auth) < 0)
		return -1;
	if (!addr || !*addr)
		return cfg_error(x->e, m, "metrics.addr", "an address is required, e.g. 127.0.0.1:9000");
	if (!strncmp(addr, "unix://", 7))
		return cfg_error(x->e, cnode_get(m, "addr"), "metrics.addr", "unix sockets are not supported");
	if (parse_hostport(x, cnode_get(m, "addr"), "metrics.addr", addr, mc->host, sizeof mc->host, &mc->port) < 0)
		return -1;
	if (auther && *auther) {
		for (size_t j = 0; j < x->c->n_authers; j++)
			if (!strcmp(x->c->authers[j]->name, auther))
				mc->auther = x->c->authers[j];
		if (!mc->auther)
			return cfg_error(x->e, cnode_get(m, "auther"), "metrics.auther", "no auther named \"%s\" in authers",
					 auther);
	}
	mc->addr = addr;
	mc->path = path && *path ? path : "/metrics";
	return metrics_cfg_check(mc, cnode_get(m, "addr"), x->e);
}

/* Top-level `api` (GOST's web API): after authers and services, which it refers to and must not collide with. */
static int parse_api(struct ctx *x)
{
	static const char *const keys[] = { "addr", "pathPrefix", "accesslog", "auth", "auther", NULL };
	struct cnode *n = cnode_get(x->c->root, "api");
	struct api_cfg *a = &x->c->api;
	char *prefix, *auther;
	if (!n)
		return 0;
	if (want_kind(x, n, CN_MAP, "api") < 0 || check_keys(x, n, "api", keys, NULL) < 0 ||
	    get_scalar(x, n, "addr", "api", &a->addr) < 0 || get_scalar(x, n, "pathPrefix", "api", &prefix) < 0 ||
	    get_scalar(x, n, "auther", "api", &auther) < 0)
		return -1;
	if (!a->addr || !*a->addr)
		return cfg_error(x->e, n, "api.addr", "is required (host:port, e.g. 127.0.0.1:18080)");
	const struct cnode *where = cnode_get(n, "addr");
	if (!strncmp(a->addr, "unix://", 7))
		return cfg_error(x->e, where, "api.addr", "unix sockets are not supported by portway; give host:port");
	if (parse_hostport(x, where, "api.addr", a->addr, a->host, sizeof a->host, &a->port) < 0)
		return -1;
	if (!a->port)
		return cfg_error(x->e, where, "api.addr", "a port is required, got \"%s\"", a->addr);
	/* "/api", "api/" and "/api/" all mean "/api"; "/" and "" mean none. */
	const char *p = prefix ? prefix : "";
	while (*p == '/')
		p++;
	size_t len = strlen(p);
	while (len && p[len - 1] == '/')
		len--;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= ' ' || strchr("?#%\\", p[i]))
			return cfg_error(x->e, cnode_get(n, "pathPrefix"), "api.pathPrefix",
					 "\"%s\" is not a plain path (no spaces, ?, #, %% or \\)", prefix);
	a->path_prefix = xmalloc(len + 2);
	snprintf(a->path_prefix, len + 2, "%s%.*s", len ? "/" : "", (int)len, p);
	if (md_bool(n, "accesslog", 0, &a->accesslog, x->e) < 0 || parse_auth(x, n, "api", &a->auth) < 0)
		return -1;
	if (auther && *auther) {
		for (size_t j = 0; j < x->c->n_authers; j++)
			if (!strcmp(x->c->authers[j]->name, auther))
				a->auther = x->c->authers[j];
		if (!a->auther)
			return cfg_error(x->e, cnode_get(n, "auther"), "api.auther", "no auther named \"%s\" in authers", auther);
	}
	/* The API changes what runs: open to the network it must ask who is there. */
	if (!is_loopback(a->host)) {
		if (!api_auth_required(a))
			return cfg_error(x->e, where, "api.addr",
					 "%s is not a loopback address and the API has no auth: anyone who reaches it could "
					 "change the configuration; set api.auth (username and password) or bind 127.0.0.1",
					 a->addr);
		if (!a->auther && (!a->auth.password || !*a->auth.password))
			return cfg_error(x->e, cnode_get(n, "auth"), "api.auth.password",
					 "is empty, so any password would do on %s, which is not a loopback address", a->addr);
	}
	for (size_t i = 0; i < x->c->n_services; i++) {
		const struct service *s = x->c->services[i];
		if (s->port == a->port && s->listener.type->socktype == SOCK_STREAM &&
		    (!strcmp(s->host, a->host) || !*s->host || !*a->host))
			return cfg_error(x->e, where, "api.addr", "%s overlaps the address of service \"%s\" (%s)", a->addr,
					 s->name, s->addr);
	}
	return 0;
}

struct config *config_from_tree(struct cnode *root, char *path, struct cfg_err *e)
{
	static const char *const keys[] = { "services", "chains", "hops", "authers", "bypasses", "log", "workers",
					    "metrics", "api", "admissions", "climiters", "rlimiters", "hosts",
					    "resolvers", "limiters", NULL };
	static const char *const ign[] = { "ingresses", "routers", "sds", "recorders",
					   "rewriters", "caches", "observers", "profiling", NULL };
	/* tls: GOST's default certificate, and with caFile client certificates, for every TLS listener;
	 * loggers: named log outputs, which portway does not have (services[].logger is refused too) */
	static const char *const refused[] = { "quotas", "tls", "loggers", NULL };
	struct config *c = xcalloc(1, sizeof *c);
	struct ctx x = { .c = c, .e = e };
	long workers;

	c->root = root;
	c->path = path;
	c->refs = 1;
	if (check_keys_refusing(&x, root, "(top level)", keys, ign, refused) < 0 || parse_log(&x) < 0)
		goto fail;
	if (md_int(root, "workers", 0, 0, 256, &workers, e) < 0)
		goto fail;
	c->workers = (int)workers;
	if (dns_parse_hosts(cnode_get(root, "hosts"), &c->hosts, &c->n_hosts, e) < 0 ||
	    dns_parse_resolvers(cnode_get(root, "resolvers"), &c->resolvers, &c->n_resolvers, e) < 0 ||
	    parse_list(&x, "bypasses", each_bypass) < 0 || parse_list(&x, "authers", each_auther) < 0 ||
	    access_parse_config(c, e) < 0 || parse_list(&x, "limiters", each_limiter) < 0 ||
	    parse_metrics(&x) < 0 ||
	    parse_list(&x, "hops", each_hop) < 0 || parse_list(&x, "chains", each_chain) < 0 ||
	    parse_list(&x, "services", each_service) < 0 || check_addrs(&x) < 0 || parse_api(&x) < 0)
		goto fail;
	for (size_t i = 0; i < c->n_services; i++)
		service_fingerprint(&x, c->services[i]);
	if (check_applied(&x) < 0 || init_types(&x) < 0)
		goto fail;
	for (size_t i = 0; i < c->n_services; i++)
		c->services[i]->refs = 1;
	c->refs += (int)c->n_services;
	return c;
fail:
	config_unref(c);
	return NULL;
}

struct config *config_load_file(const char *path, struct cfg_err *e)
{
	char *p = xstrdup(path);
	struct cnode *root = cnode_load_yaml(p, e->msg, sizeof e->msg);
	if (!root) {
		free(p);
		return NULL;
	}
	return config_from_tree(root, p, e);
}

static void node_free(struct node *n)
{
	if (n->dialer.type && n->dialer.type->fini)
		n->dialer.type->fini(n);
	if (n->connector.type && n->connector.type->fini)
		n->connector.type->fini(n);
	free(n->dialer.tls.alpn);
	free(n->connector.tls.alpn);
	free(n->name);
	free(n);
}

/* A hop owns its nodes; a chain's hops are owned by the config's hop list. */
static void hop_free(struct hop *h)
{
	for (size_t i = 0; i < h->n_nodes; i++)
		node_free(h->nodes[i]);
	free(h->nodes);
	free(h);
}

static void chain_free(struct chain *ch)
{
	free(ch->metrics); /* the array; the counters belong to src/svc/metrics.c */
	free(ch->hops);
	free(ch);
}

static void auther_free(struct auther *a)
{
	for (size_t i = 0; i < a->n_users; i++) {
		free(a->users[i].username);
		free(a->users[i].password);
	}
	free(a->users);
	free(a);
}

static void bypass_free(struct bypass *b)
{
	free(b->members); /* a group's: the lists themselves belong to config.bypasses */
	free(b->patterns);
	free(b);
}

static void service_free(struct service *s)
{
	if (s->handler.type && s->handler.type->fini)
		s->handler.type->fini(s);
	if (s->listener.type && s->listener.type->fini)
		s->listener.type->fini(s);
	access_free_service(s);
	free(s->handler.authers);
	free(s->handler.tls.alpn);
	free(s->listener.tls.alpn);
	free(s->fingerprint);
	free(s->fds);
	free(s->inst);
	free(s->name);
	free(s);
}

static void config_free(struct config *c)
{
	for (size_t i = 0; i < c->n_services; i++)
		service_free(c->services[i]);
	for (size_t i = 0; i < c->n_hops; i++)
		hop_free(c->hops[i]);
	for (size_t i = 0; i < c->n_chains; i++)
		chain_free(c->chains[i]);
	for (size_t i = 0; i < c->n_authers; i++)
		auther_free(c->authers[i]);
	for (size_t i = 0; i < c->n_bypasses; i++)
		bypass_free(c->bypasses[i]);
	for (size_t i = 0; i < c->n_bypass_groups; i++)
		bypass_free(c->bypass_groups[i]);
	free(c->bypass_groups);
	for (size_t i = 0; i < c->n_hosts; i++)
		hosts_table_free(c->hosts[i]);
	free(c->hosts);
	for (size_t i = 0; i < c->n_resolvers; i++)
		resolver_cfg_free(c->resolvers[i]);
	free(c->resolvers);
	for (size_t i = 0; i < c->n_limiters; i++)
		traffic_limiter_free(c->limiters[i]);
	free(c->limiters);
	for (size_t i = 0; i < c->n_kept; i++)
		free(c->kept[i]);
	free(c->kept);
	free(c->services);
	free(c->hops);
	free(c->chains);
	free(c->authers);
	free(c->bypasses);
	access_free_config(c);
	free(c->api.path_prefix);
	cnode_free(c->root);
	free(c->path);
	free(c);
}

/* Set once by the services layer before anything runs; read by whichever thread drops the last reference. */
static void (*free_hook)(struct config *c, void (*free_now)(struct config *c));

void config_set_free_hook(void (*hook)(struct config *c, void (*free_now)(struct config *c))) { free_hook = hook; }

void config_unref(struct config *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (free_hook)
		free_hook(c, config_free);
	else
		config_free(c);
}

void service_ref(struct service *s) { __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED); }

void service_unref(struct service *s)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		config_unref(s->owner);
}
