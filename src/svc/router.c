#include "src/svc/router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <zlib.h>

#include "src/core/log.h"
#include "src/core/pipe.h"
#include "src/core/rng.h"
#include "src/core/util.h"
#include "src/svc/dns_lookup.h"
#include "src/svc/metrics.h"

/* The node's own maxFails/failTimeout (GOST node metadata) or else the hop's selector's. */
static int node_max_fails(const struct hop *h, const struct node *n)
{
	return n->sel.max_fails > 0 ? n->sel.max_fails : h ? h->sel.max_fails : 0;
}

static double node_fail_timeout(const struct hop *h, const struct node *n)
{
	return n->sel.fail_timeout > 0 ? n->sel.fail_timeout : h ? h->sel.fail_timeout : 10;
}

static int node_is_up(const struct hop *h, struct node *n, double now)
{
	int fails = __atomic_load_n(&n->fails, __ATOMIC_RELAXED), max = node_max_fails(h, n);
	double until;
	__atomic_load(&n->down_until, &until, __ATOMIC_RELAXED);
	return max <= 0 || fails < max || now >= until;
}

static int excluded(struct node *n, struct node *const *ex, size_t nex)
{
	for (size_t i = 0; i < nex; i++)
		if (ex[i] == n)
			return 1;
	return 0;
}

/* GOST's filters, in its order. Failed nodes leave the set, unless that leaves nothing (portway
 * never refuses only because all look down: it tries them anyway); then backup nodes leave it
 * while a node that is no backup remains. Returns how many of the candidates stay, in place. */
static size_t select_filter(const struct hop *h, struct node **cand, size_t n, double now)
{
	size_t up = 0, primary = 0;
	for (size_t i = 0; i < n; i++)
		if (node_is_up(h, cand[i], now))
			cand[up++] = cand[i];
	if (up)
		n = up;
	for (size_t i = 0; i < n; i++)
		if (!cand[i]->sel.backup) {
			struct node *t = cand[primary];
			cand[primary++] = cand[i];
			cand[i] = t;
		}
	return primary ? primary : n;
}

static size_t pick_weighted(struct node *const *cand, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += cand[i]->sel.weight > 0 ? (uint64_t)cand[i]->sel.weight : 1;
	uint64_t r = rng_below((uint32_t)(sum > UINT32_MAX ? UINT32_MAX : sum));
	for (size_t i = 0; i < n; i++) {
		uint64_t w = cand[i]->sel.weight > 0 ? (uint64_t)cand[i]->sel.weight : 1;
		if (r < w)
			return i;
		r -= w;
	}
	return n - 1;
}

struct node *hop_select(struct hop *h, struct node *const *exclude, size_t n_exclude, const char *hash)
{
	struct node *stack[64], **cand = h->n_nodes <= 64 ? stack : xcalloc(h->n_nodes, sizeof *cand);
	size_t n = 0, pick = 0;
	for (size_t i = 0; i < h->n_nodes; i++)
		if (!excluded(h->nodes[i], exclude, n_exclude))
			cand[n++] = h->nodes[i];
	if (n)
		n = select_filter(h, cand, n, mono_now());
	struct node *chosen = NULL;
	if (n) {
		switch (h->sel.strategy) {
		case SEL_RANDOM:
			pick = pick_weighted(cand, n);
			break;
		case SEL_FIFO:
			pick = 0;
			break;
		case SEL_HASH:
			/* GOST: CRC-32 (IEEE) of the key modulo the nodes left; no key: uniformly random. */
			pick = hash && *hash ? crc32(0, (const Bytef *)hash, (uInt)strlen(hash)) % n
					     : rng_below((uint32_t)n);
			break;
		default:
			pick = __atomic_fetch_add(&h->rr, 1, __ATOMIC_RELAXED) % n;
		}
		chosen = cand[pick];
	}
	if (cand != stack)
		free(cand);
	return chosen;
}

void node_mark_failed(struct hop *h, struct node *n)
{
	int fails = __atomic_add_fetch(&n->fails, 1, __ATOMIC_RELAXED), max = node_max_fails(h, n);
	if (h && max > 0 && fails >= max) {
		double timeout = node_fail_timeout(h, n), until = mono_now() + timeout;
		__atomic_store(&n->down_until, &until, __ATOMIC_RELAXED);
		if (fails == max)
			log_warn("node %s (%s) marked down for %.0fs", n->name, n->addr, timeout);
	}
}

void node_mark_ok(struct node *n) { __atomic_store_n(&n->fails, 0, __ATOMIC_RELAXED); }

/* Nodes of h whose own bypass matches host:port: never selected for it (GOST). */
static size_t hop_bypassed_nodes(const struct hop *h, const char *network, const char *host, uint16_t port,
				 struct node **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n_nodes && n < max; i++)
		if (bypass_match_net(h->nodes[i]->bypass, network, host, port))
			out[n++] = h->nodes[i];
	return n;
}

size_t chain_hops_for(const struct chain *c, const char *host, uint16_t port)
{
	return chain_hops_for_net(c, "tcp", host, port);
}

size_t chain_hops_for_net(const struct chain *c, const char *network, const char *host, uint16_t port)
{
	struct node *skip[16];
	if (!c)
		return 0;
	/* The route ends before a hop whose bypass matches or whose every node is bypassed. */
	for (size_t i = 0; i < c->n_hops; i++)
		if (bypass_match_net(c->hops[i]->bypass, network, host, port) ||
		    hop_bypassed_nodes(c->hops[i], network, host, port, skip, 16) == c->hops[i]->n_nodes)
			return i;
	return c->n_hops;
}

/* ---- the dial state machine ---- */

enum dial_state {
	DIAL_TRANSPORT,   /* opening the socket to hop 0, or CONNECTing through hop i-1 to hop i */
	DIAL_HANDSHAKE,   /* hop i's dialer handshake */
	DIAL_CONNECT,     /* the last connector CONNECTs to the target */
	DIAL_DONE,
};

struct dial {
	struct worker *w;
	struct dial_opts o;
	enum dial_state state;
	char host[256];
	uint16_t port;
	char hash[256];            /* the hash strategy's key (o.hash, copied); "": none */
	size_t n_hops, hop;        /* hops in use; current hop */
	struct node *node[16];     /* node chosen per hop */
	struct hop *fwd;           /* forward mode: pick the target from here */
	struct node *tried[16];
	size_t n_tried;
	stream_done_cb cb;
	void *ctx;
	int abandoned;             /* timed out or cancelled: the in-flight step's result is discarded */
	int reported;
	int no_target;             /* forward mode found no node: nothing is in flight */
	unsigned claimed;          /* hops whose session this dial establishes (bit per hop), see dial_reuse_session */
	double hop_since;          /* when reaching the current hop's node began (metrics); 0: not timed */
	/* A name being resolved (dns_lookup) before the current step dials it: the stream it will be
	 * dialed over waits here; the answer comes back as addr with addr_ready set. */
	int resolving, addr_ready;
	struct stream *pending_lower;
	char addr[64];
	ev_timer timer;
	struct service *svc;       /* a reference (o.svc), released with the dial */
};

static void dial_step(struct dial *d, struct stream *s);

/* The dial will not reach the handshake of the hops it claimed: their dialers stop waiting for it.
 * Only while the dial's owner lives (so do the nodes): on failure, timeout or cancel. */
static void dial_release_claims(struct dial *d, int err)
{
	for (size_t k = 0; d->claimed && k < d->n_hops; k++)
		if (d->claimed & (1u << k)) {
			d->claimed &= ~(1u << k);
			d->node[k]->dialer.type->give_up(d->node[k], d->w, d, err);
		}
}

/* On the stream the dial delivers: what it dialed and through what, for the connection's log line.
 * The node is the forwarder's target node (GOST's "node"), else the chain's last hop's. */
static void dial_set_route(struct dial *d, struct stream *s)
{
	char target[300];
	const struct node *node = NULL;
	if (d->o.unix_target)
		snprintf(target, sizeof target, "%s", d->host);
	else
		snprintf(target, sizeof target, strchr(d->host, ':') ? "[%s]:%u" : "%s:%u", d->host, d->port);
	if (d->fwd && d->n_tried)
		node = d->tried[d->n_tried - 1];
	else if (d->n_hops)
		node = d->node[d->n_hops - 1];
	stream_set_route(s, target, d->n_hops && d->o.chain ? d->o.chain->name : NULL, node ? node->name : NULL);
}

static void dial_report(struct dial *d, struct stream *s, int err)
{
	ev_timer_stop(d->w->loop, &d->timer);
	d->reported = 1;
	if (d->abandoned) {
		stream_close(s);
		return;
	}
	if (s)
		dial_set_route(d, s);
	d->cb(d->ctx, s, err);
}

static void dial_release(void *arg)
{
	struct dial *d = arg;
	if (d->svc)
		service_unref(d->svc);
	free(d);
}

/* Nothing is in flight any more. The model's reference is released once the callbacks on the stack
 * (a connector that just finished, still holding its node) have unwound. */
static void dial_free_later(struct dial *d)
{
	ev_timer_stop(d->w->loop, &d->timer);
	worker_defer(d->w, dial_release, d);
}

static void dial_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct dial *d = t->data;
	(void)loop;
	(void)revents;
	if (d->no_target) {
		d->reported = 1;
		d->cb(d->ctx, NULL, EHOSTUNREACH);
		dial_free_later(d);
		return;
	}
	if (d->reported || d->abandoned)
		return;
	/* Forwarding straight to a target: the connect's own timeout (the same dialTimeout) ends the
	 * attempt, marks that node failed and fails over; abandoning here would stop at the first
	 * silent node. */
	if (d->fwd && d->n_hops == 0 && d->state == DIAL_CONNECT)
		return;
	d->abandoned = 1;
	d->reported = 1;
	if (d->hop < d->n_hops && d->state != DIAL_CONNECT)
		node_metrics_error(d->o.chain, d->hop, d->node[d->hop], d->w);
	dial_release_claims(d, ETIMEDOUT);
	d->cb(d->ctx, NULL, ETIMEDOUT);
}

/* Out of descriptors or memory on this side: no fault of the node, its health stays. */
static int local_shortage(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

static void dial_fail(struct dial *d, struct node *failed, struct hop *hop, int err)
{
	if (failed && !local_shortage(err))
		node_mark_failed(hop, failed);
	if (failed)
		node_metrics_error(d->o.chain, d->hop, failed, d->w);
	if (!d->abandoned)
		dial_release_claims(d, err);
	if (!d->reported && !d->abandoned)
		dial_report(d, NULL, err);
	dial_free_later(d);
}

static void dial_start_transport(struct dial *d, struct stream *lower);
static void dial_on_stream(void *ctx, struct stream *s, int err);

/* Forward mode: the target is a node of the forwarder; on failure try the next one. */
static int dial_pick_target(struct dial *d)
{
	struct node *n = hop_select(d->fwd, d->tried, d->n_tried, d->hash);
	if (!n || d->n_tried >= sizeof d->tried / sizeof *d->tried)
		return -1;
	d->tried[d->n_tried++] = n;
	snprintf(d->host, sizeof d->host, "%s", n->host);
	d->port = n->port;
	return 0;
}

/* The node of every hop in use, chosen once per attempt (its own bypass excludes a node). */
static void dial_select_nodes(struct dial *d)
{
	for (size_t i = 0; i < d->n_hops; i++) {
		struct hop *h = d->o.chain->hops[i];
		struct node *skip[16];
		d->node[i] = hop_select(h, skip, hop_bypassed_nodes(h, d->o.dgram ? "udp" : "tcp", d->host, d->port, skip, 16),
					 d->hash);
	}
}

/*
 * Multiplexing nodes (mtcp, mtls, mws, mwss). As in GOST, such a node starts the route
 * anew: the hops before it only carry its session, which every request of this worker
 * shares. When the last of them has a session here, or one being established, that node
 * delivers a stream over it and the dial goes on as if its handshake had just completed;
 * the hops before it are not dialed. Otherwise this dial claims the node: it is dialed
 * as any other, and its handshake turns that connection into the session, while other
 * requests wait for it. A claimed node whose handshake the dial never reaches is told
 * (give_up), so that those waiting learn it too.
 */
static int dial_reuse_session(struct dial *d)
{
	for (size_t k = d->n_hops; k-- > 0;) {
		struct node *n = d->node[k];
		if (!n->dialer.type->reuse)
			continue;
		d->hop = k;
		d->state = DIAL_HANDSHAKE;
		if (n->dialer.type->reuse(n, d->w, dial_on_stream, d))
			return 1;
		d->claimed |= 1u << k;
	}
	d->hop = 0;
	return 0;
}

static void dial_restart(struct dial *d)
{
	dial_release_claims(d, ECONNABORTED);
	d->hop = 0;
	d->hop_since = 0;
	d->n_hops = chain_hops_for_net(d->o.chain, d->o.dgram ? "udp" : "tcp", d->host, d->port);
	dial_select_nodes(d);
	if (dial_reuse_session(d))
		return;
	dial_start_transport(d, NULL);
}

static void dial_on_stream(void *ctx, struct stream *s, int err)
{
	struct dial *d = ctx;
	struct node *cur = d->hop < d->n_hops ? d->node[d->hop] : NULL;

	if (d->abandoned) {
		stream_close(s);
		dial_free_later(d);
		return;
	}
	if (err || !s) {
		if (d->state == DIAL_CONNECT || d->n_hops == 0) {
			/* The target itself failed. In forward mode try the next forwarder node. */
			if (d->fwd) {
				if (!local_shortage(err))
					node_mark_failed(d->fwd, d->tried[d->n_tried - 1]);
				log_debug("forward target %s:%u failed: %s", d->host, d->port, strerror(err));
				if (dial_pick_target(d) == 0) {
					dial_restart(d);
					return;
				}
			}
			dial_fail(d, NULL, NULL, err ? err : ECONNREFUSED);
			return;
		}
		log_debug("chain hop %zu node %s failed: %s", d->hop, cur ? cur->addr : "?", strerror(err));
		dial_fail(d, cur, d->o.chain->hops[d->hop], err ? err : ECONNREFUSED);
		return;
	}
	dial_step(d, s);
}

static void dial_start_transport(struct dial *d, struct stream *lower);

static void dial_resolved(void *ctx, const char *addr, int err)
{
	struct dial *d = ctx;
	struct stream *lower = d->pending_lower;
	d->resolving = 0;
	d->pending_lower = NULL;
	if (d->abandoned || err) {
		if (lower)
			stream_close(lower);
		/* abandoned: only frees; else the step's failure (the target's or this hop's node's) */
		dial_on_stream(d, NULL, err ? err : ECONNABORTED);
		return;
	}
	snprintf(d->addr, sizeof d->addr, "%s", addr);
	d->addr_ready = 1;
	dial_start_transport(d, lower);
}

/* GOST resolves a name before it dials it: the service's hosts and resolver for the target
 * (forwarder nodes included), a chain node's (else its hop's) for that node's address. NULL: a
 * resolver is being asked, and the step starts again with its answer. */
static const char *dial_address(struct dial *d, struct stream *lower, const char *name,
				const struct hosts_table *hosts, const struct resolver_cfg *r)
{
	if (d->addr_ready) {
		d->addr_ready = 0;
		return d->addr;
	}
	const char *now = dns_lookup_now(hosts, r, name);
	if (now)
		return now;
	d->resolving = 1;
	d->pending_lower = lower;
	dns_lookup(d->w, r, name, dial_resolved, d);
	return NULL;
}

static void dial_start_transport(struct dial *d, struct stream *lower)
{
	d->state = DIAL_TRANSPORT;
	if (d->hop >= d->n_hops) {
		/* No (more) chain: the target directly. */
		d->state = DIAL_CONNECT;
		if (lower && d->o.unix_target) {
			stream_close(lower);
			dial_fail(d, NULL, NULL, EPROTONOSUPPORT);
			return;
		}
		if (!lower && d->o.unix_target) {
			sock_connect_unix(d->w, d->host, d->o.timeout, dial_on_stream, d);
			return;
		}
		const char *addr = dial_address(d, lower, d->host, d->svc ? d->svc->hosts : NULL,
						d->svc ? d->svc->resolver : NULL);
		if (!addr)
			return;
		if (lower) {
			struct node *last = d->node[d->hop - 1];
			last->connector.type->connect(last, lower, d->o.dgram, addr, d->port, dial_on_stream, d);
		} else {
			sock_connect(d->w, addr, d->port, d->o.dgram, d->o.timeout, dial_on_stream, d);
		}
		return;
	}
	struct node *n = d->node[d->hop];
	int dgram = n->dialer.type->socktype == SOCK_DGRAM;
	d->hop_since = ev_now(d->w->loop);
	if (!lower && n->dialer.type->path_addr) {
		sock_connect_unix(d->w, n->host, d->o.timeout, dial_on_stream, d);
		return;
	}
	const char *addr = dial_address(d, lower, n->host, n->hosts, n->resolver);
	if (!addr)
		return;
	if (!lower) {
		sock_connect(d->w, addr, n->port, dgram, d->o.timeout, dial_on_stream, d);
	} else {
		struct node *prev = d->node[d->hop - 1];
		prev->connector.type->connect(prev, lower, dgram, addr, n->port, dial_on_stream, d);
	}
}

static void dial_step(struct dial *d, struct stream *s)
{
	switch (d->state) {
	case DIAL_TRANSPORT: {
		struct node *n = d->node[d->hop];
		d->state = DIAL_HANDSHAKE;
		if (n->dialer.type->handshake) {
			d->claimed &= ~(1u << d->hop); /* the handshake takes the claim over */
			n->dialer.type->handshake(n, s, dial_on_stream, d);
			return;
		}
		/* no handshake: the transport is the stream */
	}
		/* fall through */
	case DIAL_HANDSHAKE:
		node_mark_ok(d->node[d->hop]);
		if (d->hop_since > 0)
			node_metrics_connect(d->o.chain, d->hop, d->node[d->hop], d->w, ev_now(d->w->loop) - d->hop_since);
		d->hop_since = 0;
		d->hop++;
		dial_start_transport(d, s);
		return;
	case DIAL_CONNECT:
		if (d->fwd)
			node_mark_ok(d->tried[d->n_tried - 1]);
		d->state = DIAL_DONE;
		dial_report(d, s, 0);
		dial_free_later(d);
		return;
	case DIAL_DONE:
		stream_close(s);
		return;
	}
}

static struct dial *dial_new(struct worker *w, const struct dial_opts *o, stream_done_cb cb, void *ctx)
{
	struct dial *d = xcalloc(1, sizeof *d);
	d->w = w;
	d->o = *o;
	if (d->o.timeout <= 0)
		d->o.timeout = 15;
	d->cb = cb;
	d->ctx = ctx;
	snprintf(d->hash, sizeof d->hash, "%s", o->hash ? o->hash : "");
	d->o.hash = NULL;
	if ((d->svc = o->svc))
		service_ref(d->svc);
	ev_timer_init(&d->timer, dial_timeout_cb, d->o.timeout, 0);
	d->timer.data = d;
	ev_timer_start(w->loop, &d->timer);
	return d;
}

struct dial *router_dial(struct worker *w, const struct dial_opts *o, const char *host, uint16_t port,
			 stream_done_cb cb, void *ctx)
{
	struct dial *d = dial_new(w, o, cb, ctx);
	snprintf(d->host, sizeof d->host, "%s", host);
	d->port = port;
	if (d->o.chain && d->o.chain->n_hops > 16) {
		d->o.chain = NULL;
		log_error("chain has more than 16 hops");
	}
	dial_restart(d);
	return d;
}

struct dial *router_dial_forward(struct worker *w, const struct dial_opts *o, struct hop *forwarder,
				 stream_done_cb cb, void *ctx)
{
	struct dial *d = dial_new(w, o, cb, ctx);
	d->fwd = forwarder;
	if (dial_pick_target(d) < 0) {
		/* Report from the loop, never from inside the caller. */
		d->no_target = 1;
		ev_timer_stop(w->loop, &d->timer);
		ev_timer_set(&d->timer, 0, 0);
		ev_timer_start(w->loop, &d->timer);
		return d;
	}
	dial_restart(d);
	return d;
}

void router_dial_cancel(struct dial *d)
{
	if (!d || d->reported)
		return;
	if (d->no_target) {
		d->reported = 1;
		dial_free_later(d);
		return;
	}
	d->abandoned = 1;
	d->reported = 1;
	dial_release_claims(d, ECONNABORTED);
	ev_timer_stop(d->w->loop, &d->timer);
}

const char *router_client_ip(const char *peer, char *out, size_t outlen)
{
	uint16_t port;
	const char *p = peer ? peer : "";
	if (hostport_split(p, out, outlen, &port) < 0)
		snprintf(out, outlen, "%s", p); /* a unix socket's peer: its path */
	return out;
}

int router_hash_opt(const struct service *svc, int *hash_host, struct cfg_err *e)
{
	const char *hash = md_str(svc->handler.md, "hash", NULL);
	*hash_host = 0;
	if (!hash || !*hash)
		return 0;
	if (strcasecmp(hash, "host"))
		return cfg_error(e, cnode_get(svc->handler.md, "hash"), "handler.metadata.hash",
				 "unknown hash \"%s\" (known: host; unset: the client's IP)", hash);
	*hash_host = 1;
	return 0;
}

const char *router_hash_key(const char *peer, const char *client_id, int hash_host, const char *host, uint16_t port,
			    char *out, size_t outlen)
{
	if (client_id && *client_id) {
		snprintf(out, outlen, "%s", client_id);
		return out;
	}
	if (!hash_host)
		return router_client_ip(peer, out, outlen);
	hostport_format(out, outlen, host, port);
	return out;
}

/* One router_dial_pipe in flight. */
struct dial_pipe_conn {
	struct stream *client;      /* owned until piped or closed */
	double idle_timeout;
	void (*report)(void *ctx, struct stream *client, struct stream *remote, int err);
	void *ctx;
};

static void dial_pipe_dialed(void *ctx, struct stream *remote, int err)
{
	struct dial_pipe_conn *c = ctx;
	if (c->report)
		c->report(c->ctx, c->client, err ? NULL : remote, err);
	if (err) {
		svc_metrics_handler_error(c->client->svc, c->client->w);
		stream_close(c->client);
	}
	else
		pipe_start(c->client, remote, c->idle_timeout, NULL, NULL);
	free(c);
}

void router_dial_pipe(struct stream *client, const struct dial_pipe *o)
{
	struct dial_pipe_conn *c = xcalloc(1, sizeof *c);
	c->client = client;
	c->idle_timeout = o->idle_timeout;
	c->report = o->report;
	c->ctx = o->ctx;
	struct dial_opts d = o->dial;
	char ip[64];
	if (!d.svc)
		d.svc = client->svc;
	if (!d.hash)
		d.hash = router_client_ip(client->peer, ip, sizeof ip);
	if (o->forwarder)
		router_dial_forward(client->w, &d, o->forwarder, dial_pipe_dialed, c);
	else
		router_dial(client->w, &d, o->host, o->port, dial_pipe_dialed, c);
}
