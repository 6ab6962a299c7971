#include "src/svc/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "src/core/util.h"
#include "src/core/worker.h"

const double svc_duration_bounds[SVC_DURATION_BUCKETS] = { .005, .01, .025, .05, .1, .25, .5,
							   1,    2.5, 5,    10,  15, 30, 60 };
const double node_connect_bounds[NODE_CONNECT_BUCKETS] = { .01, .05, .1, .25, .5, 1, 1.5, 2, 5, 10, 15, 30, 60 };

/* Created and walked on the main thread only; workers reach blocks through the model. */
static struct svc_metrics *services;
static struct node_metrics *nodes;

/* Only the owning worker writes: a relaxed load and store, no read-modify-write. */
static inline void bump(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline uint64_t get(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

static void *blocks(size_t size)
{
	void *p = aligned_alloc(64, size * (size_t)worker_count);
	if (!p)
		abort();
	memset(p, 0, size * (size_t)worker_count);
	return p;
}

static struct svc_metrics *svc_metrics_get(const char *name)
{
	for (struct svc_metrics *m = services; m; m = m->next)
		if (!strcmp(m->name, name))
			return m;
	struct svc_metrics *m = xcalloc(1, sizeof *m);
	m->name = xstrdup(name);
	m->w = blocks(sizeof *m->w);
	m->next = services;
	services = m;
	return m;
}

static struct node_metrics *node_metrics_get(const char *chain, const char *node)
{
	for (struct node_metrics *m = nodes; m; m = m->next)
		if (!strcmp(m->chain, chain) && !strcmp(m->node, node))
			return m;
	struct node_metrics *m = xcalloc(1, sizeof *m);
	m->chain = xstrdup(chain);
	m->node = xstrdup(node);
	m->w = blocks(sizeof *m->w);
	m->next = nodes;
	nodes = m;
	return m;
}

void metrics_attach(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		if (!cfg->services[i]->metrics)
			cfg->services[i]->metrics = svc_metrics_get(cfg->services[i]->name);
	for (size_t i = 0; i < cfg->n_chains; i++) {
		struct chain *c = cfg->chains[i];
		size_t n = 0, k = 0;
		if (c->metrics)
			continue;
		for (size_t h = 0; h < c->n_hops; h++)
			n += c->hops[h]->n_nodes;
		c->metrics = xcalloc(n + 1, sizeof *c->metrics);
		for (size_t h = 0; h < c->n_hops; h++)
			for (size_t j = 0; j < c->hops[h]->n_nodes; j++)
				c->metrics[k++] = node_metrics_get(c->name ? c->name : "",
								   c->hops[h]->nodes[j]->name ? c->hops[h]->nodes[j]->name : "");
	}
}

void svc_metrics_sum(const struct svc_metrics *m, struct svc_totals *t)
{
	memset(t, 0, sizeof *t);
	for (int i = 0; i < worker_count; i++) {
		const struct svc_counters *c = &m->w[i];
		/* The ended requests first: a request ends after it began, so in flight never goes below 0. */
		for (int b = 0; b <= SVC_DURATION_BUCKETS; b++) {
			uint64_t v = get(&c->duration[b]);
			t->duration[b] += v;
			t->ended += v;
		}
		t->duration_us += get(&c->duration_us);
		t->requests += get(&c->requests);
		t->errors += get(&c->errors);
		t->input += get(&c->input);
		t->output += get(&c->output);
	}
	if (t->requests < t->ended)
		t->requests = t->ended;
}

void node_metrics_sum(const struct node_metrics *m, struct node_totals *t)
{
	memset(t, 0, sizeof *t);
	for (int i = 0; i < worker_count; i++) {
		const struct node_counters *c = &m->w[i];
		t->errors += get(&c->errors);
		t->connect_us += get(&c->connect_us);
		for (int b = 0; b <= NODE_CONNECT_BUCKETS; b++) {
			uint64_t v = get(&c->connect[b]);
			t->connect[b] += v;
			t->connects += v;
		}
	}
}

void metrics_free_all(void)
{
	while (services) {
		struct svc_metrics *m = services;
		services = m->next;
		free(m->name);
		free(m->w);
		free(m);
	}
	while (nodes) {
		struct node_metrics *m = nodes;
		nodes = m->next;
		free(m->chain);
		free(m->node);
		free(m->w);
		free(m);
	}
}

static int bucket(const double *bounds, int n, double v)
{
	int i = 0;
	while (i < n && v > bounds[i])
		i++;
	return i;
}

static struct svc_counters *svc_block(struct service *svc, struct worker *w)
{
	if (!svc || !svc->metrics || !w || w->id < 0 || w->id >= worker_count)
		return NULL;
	return &svc->metrics->w[w->id];
}

void svc_metrics_request(struct stream *client)
{
	struct svc_counters *c = svc_block(client->svc, client->w);
	if (!c || client->svc_since > 0)
		return;
	bump(&c->requests, 1);
	client->svc_since = ev_now(client->w->loop);
	if (client->svc_since <= 0)
		client->svc_since = 1e-9;
}

void svc_metrics_request_end(struct service *svc, struct worker *w, double since)
{
	struct svc_counters *c = svc_block(svc, w);
	if (!c)
		return;
	double d = ev_now(w->loop) - since;
	if (d < 0)
		d = 0;
	bump(&c->duration_us, (uint64_t)(d * 1e6));
	bump(&c->duration[bucket(svc_duration_bounds, SVC_DURATION_BUCKETS, d)], 1);
}

void svc_metrics_transfer(struct service *svc, struct worker *w, uint64_t in, uint64_t out)
{
	struct svc_counters *c = svc_block(svc, w);
	if (!c)
		return;
	bump(&c->input, in);
	bump(&c->output, out);
}

void svc_metrics_handler_error(struct service *svc, struct worker *w)
{
	struct svc_counters *c = svc_block(svc, w);
	if (c)
		bump(&c->errors, 1);
}

static struct node_counters *node_block(const struct chain *ch, size_t hop, const struct node *n, struct worker *w)
{
	size_t k = 0;
	if (!ch || !ch->metrics || !n || !w || w->id < 0 || w->id >= worker_count || hop >= ch->n_hops)
		return NULL;
	for (size_t h = 0; h < hop; h++)
		k += ch->hops[h]->n_nodes;
	for (size_t j = 0; j < ch->hops[hop]->n_nodes; j++, k++)
		if (ch->hops[hop]->nodes[j] == n)
			return &ch->metrics[k]->w[w->id];
	return NULL;
}

void node_metrics_error(const struct chain *c, size_t hop, const struct node *n, struct worker *w)
{
	struct node_counters *b = node_block(c, hop, n, w);
	if (b)
		bump(&b->errors, 1);
}

void node_metrics_connect(const struct chain *c, size_t hop, const struct node *n, struct worker *w, double seconds)
{
	struct node_counters *b = node_block(c, hop, n, w);
	if (!b)
		return;
	if (seconds < 0)
		seconds = 0;
	bump(&b->connect_us, (uint64_t)(seconds * 1e6));
	bump(&b->connect[bucket(node_connect_bounds, NODE_CONNECT_BUCKETS, seconds)], 1);
}
