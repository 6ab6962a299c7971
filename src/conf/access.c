/* Admissions, climiters and rlimiters: loading, and the checks with their counters. */
#include "src/conf/access.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "src/core/log.h"
#include "src/core/util.h"

/* ---- loading ---- */

/* What a list's entries are added to, and the field their errors name. */
struct entries {
	void *to;
	const char *field;
};

/* One entry (a matcher, a limit line) of a list: added to to->to, or -1 with e. */
typedef int (*entry_fn)(const struct entries *to, const struct cnode *where, const char *s, size_t n,
			struct cfg_err *e);


static int want_map(const struct cnode *n, const char *path, struct cfg_err *e)
{
	return n->kind == CN_MAP ? 0 : cfg_error(e, n, path, "expected a mapping");
}

static uint64_t hash_line(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211u;
	return (h ^ '\n') * 1099511628211u;
}

/* file: {path: ...}: its lines, '#' comments cut and blanks dropped, each given to line(). GOST
 * warns and goes on without a file it cannot read; a list with less in it than it says would
 * let through whom it denies, so here that is an error. */
static int read_list_file(const struct cnode *owner, const char *path, struct cfg_err *e, uint64_t *hash,
			  entry_fn line, void *obj)
{
	static const char *const keys[] = { "path", NULL };
	const struct cnode *f = cnode_get(owner, "file");
	char field[512], buf[4096];
	*hash = 0;
	if (!f)
		return 0;
	snprintf(field, sizeof field, "%s.file", path);
	if (want_map(f, field, e) < 0 || cfg_check_keys(e, f, field, keys, NULL, NULL) < 0)
		return -1;
	const char *fp = cnode_str(f, "path");
	if (!fp || !*fp)
		return 0; /* as GOST: a file without a path is no source */
	snprintf(field, sizeof field, "%s.file.path", path);
	const struct cnode *where = cnode_get(f, "path");
	struct entries to = { obj, field };
	FILE *in = fopen(fp, "r");
	if (!in)
		return cfg_error(e, where, field, "cannot read %s: %s", fp, strerror(errno));
	uint64_t h = 14695981039346656037u;
	int r = 0, lineno = 0;
	while (r == 0 && fgets(buf, sizeof buf, in)) {
		lineno++;
		char *hashc = strchr(buf, '#');
		if (hashc)
			*hashc = 0;
		char *s = buf, *end = buf + strlen(buf);
		while (*s && strchr(" \t\r\n", *s))
			s++;
		while (end > s && strchr(" \t\r\n", end[-1]))
			*--end = 0;
		if (!*s)
			continue;
		h = hash_line(h, s, (size_t)(end - s));
		if (line(&to, where, s, (size_t)(end - s), e) < 0) {
			/* name the file's line in the message */
			char msg[sizeof e->msg];
			snprintf(msg, sizeof msg, "%s (%s:%d)", e->msg, fp, lineno);
			snprintf(e->msg, sizeof e->msg, "%s", msg);
			r = -1;
		}
	}
	fclose(in);
	*hash = h;
	return r;
}

/* The list under key (matchers, limits) of n, each item given to line(). */
static int inline_entries(const struct cnode *n, const char *key, const char *path, const char *what, entry_fn line,
			  void *obj, struct cfg_err *e)
{
	const struct cnode *m = cnode_get(n, key);
	char field[512];
	snprintf(field, sizeof field, "%s.%s", path, key);
	struct entries to = { obj, field };
	if (!m || (m->kind == CN_SCALAR && !*m->value))
		return 0;
	if (m->kind != CN_SEQ)
		return cfg_error(e, m, field, "expected a list");
	for (size_t i = 0; i < m->n; i++) {
		const struct cnode *it = m->items[i];
		if (it->kind != CN_SCALAR)
			return cfg_error(e, it, field, "expected %s", what);
		if (line(&to, it, it->value, strlen(it->value), e) < 0)
			return -1;
	}
	return 0;
}

/* GOST re-reads a list's file every `reload`; portway reads it at start and at each reload of the
 * configuration only, so a period that would bring new entries in between is refused. */
static int check_reload(const struct cnode *n, const char *path, struct cfg_err *e)
{
	const struct cnode *r = cnode_get(n, "reload"), *f = cnode_get(n, "file");
	char field[512];
	if (!r || !f)
		return 0;
	snprintf(field, sizeof field, "%s.reload", path);
	return cfg_error(e, r, field,
			 "re-reading file.path periodically is not implemented by portway (the file is read at start "
			 "and at each reload, SIGHUP); remove reload");
}

static void admission_add(struct admission *a, const struct ip_prefix *p)
{
	a->rules = xrealloc(a->rules, (a->n + 1) * sizeof *a->rules);
	a->rules[a->n++] = *p;
}

static int is_host_name(const char *s, size_t n)
{
	if (!n || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
			return 0;
	return 1;
}

/* GOST resolves a matcher that is no IP or CIDR as a host name, once, when it loads the list
 * (x/admission: net.ResolveIPAddr). Here too, on the thread that loads the configuration (never a
 * worker), and every address of the name counts. A name that does not resolve: GOST drops it;
 * in a blacklist that would admit whom the file refuses, so there it is an error. */
static int admission_resolve(struct admission *a, const struct entries *to, const struct cnode *where, const char *s,
			     size_t n, struct cfg_err *e)
{
	char name[256];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	memcpy(name, s, n);
	name[n] = 0;
	int rc = getaddrinfo(name, NULL, &hints, &res);
	size_t before = a->n;
	for (struct addrinfo *ai = rc == 0 ? res : NULL; ai; ai = ai->ai_next) {
		char text[INET6_ADDRSTRLEN] = "";
		const void *addr = ai->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
				 : ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
							     : NULL;
		struct ip_prefix p;
		if (addr && inet_ntop(ai->ai_family, addr, text, sizeof text) &&
		    ip_prefix_parse(text, strlen(text), &p) == 0)
			admission_add(a, &p);
	}
	if (res)
		freeaddrinfo(res);
	if (a->n > before)
		return 0;
	if (a->whitelist) {
		log_warn("%s: %s: host name \"%s\" does not resolve (%s): it admits nobody", where->file ? where->file : "",
			 to->field, name, rc ? gai_strerror(rc) : "no address");
		return 0;
	}
	return cfg_error(e, where, to->field, "host name \"%s\" does not resolve (%s), so it would refuse nobody", name,
			 rc ? gai_strerror(rc) : "no address");
}

static int admission_rule(const struct entries *to, const struct cnode *where, const char *s, size_t n,
			  struct cfg_err *e)
{
	struct admission *a = to->to;
	struct ip_prefix p;
	if (ip_prefix_parse(s, n, &p) == 0) {
		admission_add(a, &p);
		return 0;
	}
	if (is_host_name(s, n))
		return admission_resolve(a, to, where, s, n, e);
	return cfg_error(e, where, to->field, "\"%.*s\" is not an IP address, a CIDR or a host name", (int)n, s);
}

static void admission_free(struct admission *a)
{
	if (!a)
		return;
	free(a->rules);
	free(a);
}

static struct admission *parse_admission(const struct cnode *n, const char *path, struct cfg_err *e)
{
	static const char *const keys[] = { "name", "whitelist", "reverse", "matchers", "file", "reload", NULL };
	/* other sources of entries: without them the list would admit whom they deny */
	static const char *const refused[] = { "redis", "http", "plugin", NULL };
	struct admission *a = xcalloc(1, sizeof *a);
	int wl = 0, rev = 0;
	if (want_map(n, path, e) < 0 || cfg_check_keys(e, n, path, keys, NULL, refused) < 0 || check_reload(n, path, e) < 0)
		goto fail;
	const char *name = cnode_str(n, "name");
	if (!name || !*name) {
		cfg_error(e, n, path, "name is required");
		goto fail;
	}
	a->name = (char *)name;
	/* reverse: GOST's older name for whitelist */
	if (md_bool(n, "whitelist", 0, &wl, e) < 0 || md_bool(n, "reverse", 0, &rev, e) < 0)
		goto fail;
	a->whitelist = wl || rev;
	if (inline_entries(n, "matchers", path, "an IP address or a CIDR", admission_rule, a, e) < 0)
		goto fail;
	if (read_list_file(n, path, e, &a->file_hash, admission_rule, a) < 0)
		goto fail;
	return a;
fail:
	admission_free(a);
	return NULL;
}

/* ---- the per-address table ---- */

#define IP_TABLE_BUCKETS 1024

struct ip_entry {
	struct ip_addr addr;
	double value;               /* the limit that applies to this address */
	struct limit_cell cell;     /* under the bucket's lock */
	struct ip_entry *next;
};

struct ip_bucket {
	pthread_mutex_t lock;
	struct ip_entry *head;
};

struct ip_table {
	struct ip_bucket b[IP_TABLE_BUCKETS];
};

static struct ip_table *ip_table_new(void)
{
	struct ip_table *t = xcalloc(1, sizeof *t);
	for (size_t i = 0; i < IP_TABLE_BUCKETS; i++)
		pthread_mutex_init(&t->b[i].lock, NULL);
	return t;
}

static void ip_table_free(struct ip_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < IP_TABLE_BUCKETS; i++) {
		for (struct ip_entry *e = t->b[i].head, *next; e; e = next) {
			next = e->next;
			free(e);
		}
		pthread_mutex_destroy(&t->b[i].lock);
	}
	free(t);
}

static struct ip_bucket *ip_bucket(struct ip_table *t, const struct ip_addr *a)
{
	uint64_t h = 14695981039346656037u;
	for (size_t i = 0; i < 16; i++)
		h = (h ^ a->b[i]) * 1099511628211u;
	h = (h ^ (unsigned)a->v4) * 1099511628211u;
	return &t->b[(h >> 20) % IP_TABLE_BUCKETS];
}

static int same_addr(const struct ip_addr *x, const struct ip_addr *y)
{
	return x->v4 == y->v4 && !memcmp(x->b, y->b, 16);
}

/* ---- limiter lines ---- */

struct limiter_load {
	struct addr_limiter *l;
};

static void rule_set(struct limit_rule **arr, size_t *n, const struct limit_line *ln)
{
	/* a later line for the same scope replaces an earlier one, as in GOST's maps */
	for (size_t i = 0; i < *n; i++)
		if ((*arr)[i].prefix.bits == ln->prefix.bits && same_addr(&(*arr)[i].prefix.a, &ln->prefix.a)) {
			(*arr)[i].value = ln->value;
			return;
		}
	*arr = xrealloc(*arr, (*n + 1) * sizeof **arr);
	memset(&(*arr)[*n], 0, sizeof **arr);
	(*arr)[*n].prefix = ln->prefix;
	(*arr)[(*n)++].value = ln->value;
}

static int limiter_rule(const struct entries *to, const struct cnode *where, const char *s, size_t n,
			struct cfg_err *e)
{
	struct addr_limiter *l = to->to;
	struct limit_line ln;
	const char *why;
	if (limit_line_parse(s, n, !l->rate, &ln, &why) < 0)
		return cfg_error(e, where, to->field, "\"%.*s\": %s", (int)n, s, why);
	if (ln.value <= 0)
		return 0; /* GOST skips it: no limit for that scope */
	if (ln.key == LIMIT_GLOBAL)
		l->global = ln.value;
	else if (ln.key == LIMIT_PER_IP)
		l->per_ip = ln.value;
	else if (!ln.prefix.is_net)
		rule_set(&l->ips, &l->n_ips, &ln);
	else
		rule_set(&l->nets, &l->n_nets, &ln);
	return 0;
}

static void limiter_free(struct addr_limiter *l)
{
	if (!l)
		return;
	free(l->ips);
	free(l->nets);
	ip_table_free(l->table);
	free(l);
}

static struct addr_limiter *parse_limiter(const struct cnode *n, const char *path, int rate, struct cfg_err *e)
{
	static const char *const keys[] = { "name", "limits", "file", "reload", NULL };
	static const char *const refused[] = { "redis", "http", "plugin", NULL };
	struct addr_limiter *l = xcalloc(1, sizeof *l);
	l->rate = rate;
	if (want_map(n, path, e) < 0 || cfg_check_keys(e, n, path, keys, NULL, refused) < 0 || check_reload(n, path, e) < 0)
		goto fail;
	const char *name = cnode_str(n, "name");
	if (!name || !*name) {
		cfg_error(e, n, path, "name is required");
		goto fail;
	}
	l->name = (char *)name;
	if (inline_entries(n, "limits", path, "a line such as \"$ 100\"", limiter_rule, l, e) < 0)
		goto fail;
	/* the file's lines come after the inline ones, so they win for the same scope (GOST) */
	if (read_list_file(n, path, e, &l->file_hash, limiter_rule, l) < 0)
		goto fail;
	if (l->per_ip > 0 || l->n_nets)
		l->table = ip_table_new();
	return l;
fail:
	limiter_free(l);
	return NULL;
}

/* Every entry of the top-level list key: built by parse into *arr. */
static int parse_top(struct config *c, const char *key, struct cfg_err *e, void ***arr, size_t *n,
		     void *(*parse)(const struct cnode *, const char *, struct cfg_err *))
{
	const struct cnode *list = cnode_get(c->root, key);
	if (!list || (list->kind == CN_SCALAR && !*list->value))
		return 0;
	if (list->kind != CN_SEQ)
		return cfg_error(e, list, key, "expected a list");
	for (size_t i = 0; i < list->n; i++) {
		char path[64];
		snprintf(path, sizeof path, "%s[%zu]", key, i);
		void *item = parse(list->items[i], path, e);
		if (!item)
			return -1;
		*arr = xrealloc(*arr, (*n + 1) * sizeof **arr);
		(*arr)[(*n)++] = item;
	}
	return 0;
}

static void *parse_admission_v(const struct cnode *n, const char *p, struct cfg_err *e)
{
	return parse_admission(n, p, e);
}
static void *parse_climiter_v(const struct cnode *n, const char *p, struct cfg_err *e) { return parse_limiter(n, p, 0, e); }
static void *parse_rlimiter_v(const struct cnode *n, const char *p, struct cfg_err *e) { return parse_limiter(n, p, 1, e); }

int access_parse_config(struct config *c, struct cfg_err *e)
{
	return parse_top(c, "admissions", e, (void ***)&c->admissions, &c->n_admissions, parse_admission_v) < 0 ||
			       parse_top(c, "climiters", e, (void ***)&c->climiters, &c->n_climiters, parse_climiter_v) < 0 ||
			       parse_top(c, "rlimiters", e, (void ***)&c->rlimiters, &c->n_rlimiters, parse_rlimiter_v) < 0
		       ? -1
		       : 0;
}

static struct admission *find_admission(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_admissions; i++)
		if (!strcmp(c->admissions[i]->name, name))
			return c->admissions[i];
	return NULL;
}

static int add_admission_ref(struct config *c, struct service *svc, const struct cnode *where, const char *field,
			     struct cfg_err *e)
{
	if (where->kind != CN_SCALAR)
		return cfg_error(e, where, field, "expected the name of one of admissions");
	if (!*where->value)
		return 0;
	struct admission *a = find_admission(c, where->value);
	if (!a)
		return cfg_error(e, where, field, "no admission named \"%s\" in admissions", where->value);
	svc->admissions = xrealloc(svc->admissions, (svc->n_admissions + 1) * sizeof *svc->admissions);
	svc->admissions[svc->n_admissions++] = a;
	return 0;
}

static int limiter_ref(struct addr_limiter **list, size_t n, const struct cnode *parent, const char *key,
		       const char *path, const char *listname, struct addr_limiter **out, struct cfg_err *e)
{
	const struct cnode *r = cnode_get(parent, key);
	char field[512];
	*out = NULL;
	if (!r)
		return 0;
	snprintf(field, sizeof field, "%s.%s", path, key);
	if (r->kind != CN_SCALAR)
		return cfg_error(e, r, field, "expected the name of one of %s", listname);
	if (!*r->value)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i]->name, r->value))
			*out = list[i];
	if (!*out)
		return cfg_error(e, r, field, "no %s named \"%s\" in %s", key, r->value, listname);
	return 0;
}

/* Every listener that binds (stream: the accept loop; datagram: the UDP session table) checks
 * its clients, and so do rtcp and rudp, whose clients come through the chain. The listeners of
 * the applications (agent, natrelay-server) do not, nor do they count requests where the
 * services layer does: a list or a limiter there would not be enforced. */
static int check_applied(const struct service *svc, const struct cnode *n, const char *path, struct cfg_err *e)
{
	const struct listener_type *lt = svc->listener.type;
	char field[512];
	int checks = lt->socktype || !strcmp(lt->name, "rtcp") || !strcmp(lt->name, "rudp");
	const char *key = svc->n_admissions ? (cnode_get(n, "admission") ? "admission" : "admissions")
			  : svc->climiter   ? "climiter"
			  : svc->rlimiter   ? "rlimiter"
					    : NULL;
	if (key && !checks) {
		snprintf(field, sizeof field, "%s.%s", path, key);
		return cfg_error(e, cnode_get(n, key), field, "the %s listener does not check its clients against it",
				 lt->name);
	}
	/* GOST's udp listener counts no connections either: its climiter does nothing */
	if (svc->climiter && !strcmp(lt->name, "udp"))
		log_warn("%s: climiter: the udp listener does not limit connections (as GOST's), it is not applied",
			 path);
	return 0;
}

int access_parse_service(struct config *c, struct service *svc, const struct cnode *n, const char *path,
			 struct cfg_err *e)
{
	const struct cnode *one = cnode_get(n, "admission"), *many = cnode_get(n, "admissions");
	char field[512];
	snprintf(field, sizeof field, "%s.admission", path);
	if (one && add_admission_ref(c, svc, one, field, e) < 0)
		return -1;
	snprintf(field, sizeof field, "%s.admissions", path);
	if (many && !(many->kind == CN_SCALAR && !*many->value)) {
		if (many->kind != CN_SEQ)
			return cfg_error(e, many, field, "expected a list of names of admissions");
		for (size_t i = 0; i < many->n; i++)
			if (add_admission_ref(c, svc, many->items[i], field, e) < 0)
				return -1;
	}
	if (limiter_ref(c->climiters, c->n_climiters, n, "climiter", path, "climiters", &svc->climiter, e) < 0 ||
	    limiter_ref(c->rlimiters, c->n_rlimiters, n, "rlimiter", path, "rlimiters", &svc->rlimiter, e) < 0)
		return -1;
	return check_applied(svc, n, path, e);
}

uint64_t access_files_hash(const struct config *c)
{
	uint64_t h = 0;
	for (size_t i = 0; i < c->n_admissions; i++)
		h = (h ^ c->admissions[i]->file_hash) * 1099511628211u;
	for (size_t i = 0; i < c->n_climiters; i++)
		h = (h ^ c->climiters[i]->file_hash) * 1099511628211u;
	for (size_t i = 0; i < c->n_rlimiters; i++)
		h = (h ^ c->rlimiters[i]->file_hash) * 1099511628211u;
	return h;
}

void access_free_service(struct service *svc)
{
	free(svc->admissions);
	svc->admissions = NULL;
	svc->n_admissions = 0;
}

void access_free_config(struct config *c)
{
	for (size_t i = 0; i < c->n_admissions; i++)
		admission_free(c->admissions[i]);
	for (size_t i = 0; i < c->n_climiters; i++)
		limiter_free(c->climiters[i]);
	for (size_t i = 0; i < c->n_rlimiters; i++)
		limiter_free(c->rlimiters[i]);
	free(c->admissions);
	free(c->climiters);
	free(c->rlimiters);
}

/* ---- admission ---- */

static int admission_admits(const struct admission *adm, const struct ip_addr *a)
{
	int matched = 0;
	for (size_t i = 0; a && i < adm->n && !matched; i++)
		matched = ip_prefix_contains(&adm->rules[i], a);
	return adm->whitelist ? matched : !matched;
}

int access_admit(const struct service *svc, const struct ip_addr *a)
{
	for (size_t i = 0; i < svc->n_admissions; i++)
		if (!admission_admits(svc->admissions[i], a))
			return 0;
	return 1;
}

/* ---- which counters apply to an address (GOST's Limiter(key)) ----
 * An IP line for the address; else the widest CIDR line holding it (cidranger lists the
 * containing networks widest first and GOST takes the first), a counter per address; else "$$",
 * a counter per address. Then "$" for the whole service, on top. */

struct scope {
	struct limit_cell *shared;  /* an IP line's counter */
	double value;               /* the per-address limit when shared is NULL; <= 0: none */
	double shared_value;
};

static struct scope scope_of(struct addr_limiter *l, const struct ip_addr *a)
{
	struct scope s = { NULL, 0, 0 };
	for (size_t i = 0; i < l->n_ips; i++)
		if (same_addr(&l->ips[i].prefix.a, a)) {
			s.shared = &l->ips[i].cell;
			s.shared_value = l->ips[i].value;
			return s;
		}
	int widest = -1;
	for (size_t i = 0; i < l->n_nets; i++)
		if (ip_prefix_contains(&l->nets[i].prefix, a) && (widest < 0 || l->nets[i].prefix.bits < l->nets[widest].prefix.bits))
			widest = (int)i;
	s.value = widest >= 0 ? l->nets[widest].value : l->per_ip;
	return s;
}

static const struct ip_addr not_ip = { { 0 }, 2 }; /* the key of clients that have no IP (unix sockets) */

/* ---- climiters ---- */

struct climit_hold {
	struct addr_limiter *l;
	struct limit_cell *shared;  /* an IP line's counter, or NULL */
	struct ip_entry *entry;     /* the address's own counter, or NULL */
	int global;
};

static int cell_acquire(struct limit_cell *c, double limit)
{
	long now = __atomic_add_fetch(&c->held, 1, __ATOMIC_ACQ_REL);
	if ((double)now <= limit)
		return 1;
	__atomic_sub_fetch(&c->held, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static void cell_release(struct limit_cell *c) { __atomic_sub_fetch(&c->held, 1, __ATOMIC_ACQ_REL); }

/* One more connection from a on its own counter: the entry, or NULL at the limit. */
static struct ip_entry *entry_acquire(struct ip_table *t, const struct ip_addr *a, double limit)
{
	struct ip_bucket *b = ip_bucket(t, a);
	struct ip_entry *e;
	pthread_mutex_lock(&b->lock);
	for (e = b->head; e && !same_addr(&e->addr, a); e = e->next)
		;
	if (!e) {
		e = xcalloc(1, sizeof *e);
		e->addr = *a;
		e->value = limit;
		e->next = b->head;
		b->head = e;
	}
	if ((double)(e->cell.held + 1) <= limit)
		e->cell.held++;
	else
		e = NULL;
	pthread_mutex_unlock(&b->lock);
	return e; /* a new entry always takes one: climiter limits are whole numbers >= 1 */
}

static void entry_release(struct ip_table *t, struct ip_entry *e)
{
	struct ip_bucket *b = ip_bucket(t, &e->addr);
	pthread_mutex_lock(&b->lock);
	if (--e->cell.held == 0) {
		struct ip_entry **pp = &b->head;
		while (*pp != e)
			pp = &(*pp)->next;
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&b->lock);
}

int climit_acquire(const struct service *svc, const struct ip_addr *a, struct climit_hold **hold)
{
	struct addr_limiter *l = svc->climiter;
	*hold = NULL;
	if (!l)
		return 1;
	if (!a)
		a = &not_ip;
	struct scope s = scope_of(l, a);
	struct climit_hold h = { l, NULL, NULL, 0 };
	/* all or nothing: what was taken is given back when a later counter is full */
	if (s.shared) {
		if (!cell_acquire(s.shared, s.shared_value))
			return 0;
		h.shared = s.shared;
	} else if (s.value > 0) {
		if (!(h.entry = entry_acquire(l->table, a, s.value)))
			return 0;
	}
	if (l->global > 0) {
		if (!cell_acquire(&l->global_cell, l->global)) {
			if (h.shared)
				cell_release(h.shared);
			if (h.entry)
				entry_release(l->table, h.entry);
			return 0;
		}
		h.global = 1;
	}
	if (!h.shared && !h.entry && !h.global)
		return 1;
	*hold = xmalloc(sizeof **hold);
	**hold = h;
	return 1;
}

void climit_release(struct climit_hold *h)
{
	if (!h)
		return;
	if (h->shared)
		cell_release(h->shared);
	if (h->entry)
		entry_release(h->l->table, h->entry);
	if (h->global)
		cell_release(&h->l->global_cell);
	free(h);
}

/* ---- rlimiters: golang.org/x/time/rate as GOST sets it up, rate r and burst int(r)+1, as
 * GCRA on one atomic word: a request is on time unless the schedule is more than the burst
 * ahead of now ---- */

static void bucket_params(double r, uint64_t *interval, uint64_t *tau)
{
	double burst = floor(r) + 1;
	*interval = (uint64_t)(1e9 / r);
	*tau = (uint64_t)((burst - 1) * (1e9 / r));
}

static int tat_take(uint64_t *tat, uint64_t now, double r)
{
	uint64_t interval, tau, cur = __atomic_load_n(tat, __ATOMIC_ACQUIRE);
	bucket_params(r, &interval, &tau);
	for (;;) {
		uint64_t t = cur > now ? cur : now;
		if (t - now > tau)
			return 0;
		if (__atomic_compare_exchange_n(tat, &cur, t + interval, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 1;
	}
}

/* The address's own bucket, under its bucket lock; full buckets met on the way are dropped
 * (a full bucket is what a new entry would be). */
static int entry_take(struct ip_table *t, const struct ip_addr *a, double r, uint64_t now)
{
	struct ip_bucket *b = ip_bucket(t, a);
	struct ip_entry *found = NULL;
	int ok;
	pthread_mutex_lock(&b->lock);
	for (struct ip_entry **pp = &b->head; *pp;) {
		struct ip_entry *e = *pp;
		if (same_addr(&e->addr, a)) {
			found = e;
			pp = &e->next;
		} else if (e->cell.tat <= now) {
			*pp = e->next;
			free(e);
		} else {
			pp = &e->next;
		}
	}
	if (!found) {
		found = xcalloc(1, sizeof *found);
		found->addr = *a;
		found->value = r;
		found->next = b->head;
		b->head = found;
	}
	ok = tat_take(&found->cell.tat, now, r);
	pthread_mutex_unlock(&b->lock);
	return ok;
}

int rlimit_allow(const struct service *svc, const struct ip_addr *a, uint64_t now_ns)
{
	struct addr_limiter *l = svc->rlimiter;
	if (!l)
		return 1;
	if (!a)
		a = &not_ip;
	struct scope s = scope_of(l, a);
	double own = s.shared ? s.shared_value : s.value;
	/* GOST's group asks the lowest limit first and stops at the first refusal; a token taken
	 * from an earlier one stays taken */
	int own_first = own > 0 && (l->global <= 0 || own <= l->global);
	if (own_first && !(s.shared ? tat_take(&s.shared->tat, now_ns, own) : entry_take(l->table, a, own, now_ns)))
		return 0;
	if (l->global > 0 && !tat_take(&l->global_cell.tat, now_ns, l->global))
		return 0;
	if (!own_first && own > 0 &&
	    !(s.shared ? tat_take(&s.shared->tat, now_ns, own) : entry_take(l->table, a, own, now_ns)))
		return 0;
	return 1;
}
