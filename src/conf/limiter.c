#include "src/conf/limiter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/util.h"

static int same_prefix(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return a->is_net == b->is_net && a->bits == b->bits && a->a.v4 == b->a.v4 && !memcmp(a->a.b, b->a.b, 16);
}

static int same_addr(const struct ip_addr *a, const struct ip_addr *b)
{
	return a->v4 == b->v4 && !memcmp(a->b, b->b, 16);
}

static int parse_limit(struct traffic_limiter *l, const struct cnode *item, const char *field, struct cfg_err *e)
{
	struct traffic_limit line;
	char err[256];
	if (item->kind != CN_SCALAR)
		return cfg_error(e, item, field, "a limit line such as \"$ 100MB 100MB\" is required");
	if (traffic_limit_parse(item->value, &line, err, sizeof err) < 0)
		return cfg_error(e, item, field, "%s", err);
	switch (line.scope) {
	case TRAFFIC_SERVICE:
		/* a later line for the same scope replaces an earlier one, as in go-gost */
		l->has_svc_in = line.in > 0;
		l->has_svc_out = line.out > 0;
		if (line.in)
			rate_bucket_init(&l->svc_in, line.in, line.burst);
		if (line.out)
			rate_bucket_init(&l->svc_out, line.out, line.burst);
		return 0;
	case TRAFFIC_CONN:
		l->conn = line;
		return 0;
	case TRAFFIC_HOST:
		for (size_t i = 0; i < l->n_hosts; i++)
			if (same_prefix(&l->hosts[i].prefix, &line.prefix)) {
				l->hosts[i] = line;
				return 0;
			}
		l->hosts = xrealloc(l->hosts, (l->n_hosts + 1) * sizeof *l->hosts);
		l->hosts[l->n_hosts++] = line;
		return 0;
	}
	return cfg_error(e, item, field, "unknown scope");
}

struct traffic_limiter *traffic_limiter_parse(const struct cnode *n, const char *path, struct cfg_err *e)
{
	char field[512];
	const char *name = cnode_str(n, "name");
	const struct cnode *limits = cnode_get(n, "limits");
	struct traffic_limiter *l;

	snprintf(field, sizeof field, "%s.name", path);
	if (!name || !*name) {
		cfg_error(e, n, field, "a name is required");
		return NULL;
	}
	l = xcalloc(1, sizeof *l);
	l->name = xstrdup(name);
	pthread_mutex_init(&l->lock, NULL);
	if (limits && !(limits->kind == CN_SCALAR && !*limits->value)) {
		snprintf(field, sizeof field, "%s.limits", path);
		if (limits->kind != CN_SEQ) {
			cfg_error(e, limits, field, "a list of limit lines is required");
			goto fail;
		}
		for (size_t i = 0; i < limits->n; i++) {
			snprintf(field, sizeof field, "%s.limits[%zu]", path, i);
			if (parse_limit(l, limits->items[i], field, e) < 0)
				goto fail;
		}
	}
	return l;
fail:
	traffic_limiter_free(l);
	return NULL;
}

/* An address's buckets: one per client IP with a host line, shared by its connections. */
struct host_bucket {
	struct host_bucket *next;
	struct ip_addr addr;
	int refs;                       /* connections holding it; under the limiter's lock */
	uint64_t idle_since;            /* rate_now() when refs fell to 0 */
	struct rate_bucket in, out;
	int has_in, has_out;
};

/* How long an address's buckets outlive its last connection, so that reconnecting does not
 * refill them (go-gost's cached per-IP limiters expire after 15 s unused). */
#define HOST_KEEP (15 * 1000000000ull)

/* A connection's rate_conn and what it holds. */
struct limiter_conn {
	struct rate_conn rc;            /* first: release gets it back */
	struct traffic_limiter *l;
	struct host_bucket *host;       /* a reference (refs), or NULL */
};

void traffic_limiter_free(struct traffic_limiter *l)
{
	if (!l)
		return;
	/* every connection has ended: they held their service, and so this configuration */
	for (struct host_bucket *h = l->active, *next; h; h = next) {
		next = h->next;
		free(h);
	}
	pthread_mutex_destroy(&l->lock);
	free(l->hosts);
	free(l->name);
	free(l);
}

const struct traffic_limit *traffic_limiter_host_line(const struct traffic_limiter *l, const struct ip_addr *addr)
{
	const struct traffic_limit *widest = NULL;
	for (size_t i = 0; i < l->n_hosts; i++) {
		const struct traffic_limit *h = &l->hosts[i];
		if (!h->prefix.is_net && same_addr(&h->prefix.a, addr))
			return h;
		if (h->prefix.is_net && ip_prefix_contains(&h->prefix, addr) &&
		    (!widest || h->prefix.bits < widest->prefix.bits))
			widest = h;
	}
	return widest;
}

/* The buckets of addr, made from line if it has none; a reference the caller drops with host_put. */
static struct host_bucket *host_get(struct traffic_limiter *l, const struct ip_addr *addr, const struct traffic_limit *line)
{
	uint64_t now = rate_now();
	struct host_bucket *found = NULL, **pp = &l->active;
	pthread_mutex_lock(&l->lock);
	while (*pp) {
		struct host_bucket *h = *pp;
		if (same_addr(&h->addr, addr)) {
			found = h;
		} else if (!h->refs && now - h->idle_since > HOST_KEEP) {
			*pp = h->next;
			free(h);
			continue;
		}
		pp = &h->next;
	}
	if (!found) {
		found = xcalloc(1, sizeof *found);
		found->addr = *addr;
		found->has_in = line->in > 0;
		found->has_out = line->out > 0;
		if (found->has_in)
			rate_bucket_init(&found->in, line->in, line->burst);
		if (found->has_out)
			rate_bucket_init(&found->out, line->out, line->burst);
		found->next = l->active;
		l->active = found;
	}
	found->refs++;
	pthread_mutex_unlock(&l->lock);
	return found;
}

static void host_put(struct traffic_limiter *l, struct host_bucket *h)
{
	pthread_mutex_lock(&l->lock);
	if (--h->refs == 0)
		h->idle_since = rate_now();
	pthread_mutex_unlock(&l->lock);
}

static void conn_release(struct rate_conn *r)
{
	struct limiter_conn *c = (struct limiter_conn *)r;
	if (c->host)
		host_put(c->l, c->host);
	free(c);
}

struct rate_conn *traffic_limiter_conn(struct traffic_limiter *l, const char *peer)
{
	struct ip_addr addr;
	const struct traffic_limit *line = NULL;
	if (l->n_hosts && peer && ip_addr_from_peer(peer, &addr) == 0)
		line = traffic_limiter_host_line(l, &addr);
	if (!l->has_svc_in && !l->has_svc_out && !l->conn.in && !l->conn.out && !(line && (line->in || line->out)))
		return NULL;
	struct limiter_conn *c = xcalloc(1, sizeof *c);
	struct rate_conn *r = &c->rc;
	c->l = l;
	r->release = conn_release;
	/* the connection's own bucket first: it is usually the tighter one */
	if (l->conn.in) {
		rate_bucket_init(&r->own[0], l->conn.in, l->conn.burst);
		r->in[r->n_in++] = &r->own[0];
	}
	if (l->conn.out) {
		rate_bucket_init(&r->own[1], l->conn.out, l->conn.burst);
		r->out[r->n_out++] = &r->own[1];
	}
	if (line && (line->in || line->out)) {
		c->host = host_get(l, &addr, line);
		if (c->host->has_in)
			r->in[r->n_in++] = &c->host->in;
		if (c->host->has_out)
			r->out[r->n_out++] = &c->host->out;
	}
	if (l->has_svc_in)
		r->in[r->n_in++] = &l->svc_in;
	if (l->has_svc_out)
		r->out[r->n_out++] = &l->svc_out;
	return r;
}
