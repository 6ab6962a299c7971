/*
 * listener rudp: remote UDP port forwarding. Like rtcp, the port is opened
 * on the chain's last node (a relay, UDP BIND); the datagrams of each remote
 * peer become one datagram stream (a pseudo-connection) handed to the
 * handler, whose replies go back to that peer through the relay.
 *
 *   portway -L rudp://:5353/127.0.0.1:53 -F relay://server:8420
 *
 * Metadata: maxSessions (peers at once, 4096), dialTimeout. A session ends
 * with the handler's ttl, or when the BIND ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "listeners/rtcp.h"
#include "src/core/log.h"
#include "src/core/util.h"

#define RUDP_BUCKETS 256
#define RUDP_QUEUE_MAX 64

struct rudp_msg {
	struct rudp_msg *next;
	size_t len;
	char data[];
};

struct rudp;

/* One remote peer. */
struct rudp_conn {
	struct stream base;                 /* dgram */
	struct rudp *u;                     /* NULL once detached from the listener */
	struct relay_addr peer;
	struct rudp_conn *hnext;
	struct rudp_msg *q_head, **q_tail;  /* datagrams that came before the handler read; owned */
	int queued;
	int delivering;
};

/* One per service on worker 0. */
struct rudp {
	struct listener_inst *li;
	struct rbind *rb;
	struct relay_bind *b;               /* the live BIND, or NULL */
	struct rudp_conn *buckets[RUDP_BUCKETS];
	long sessions, max_sessions;
};

static unsigned peer_hash(const struct relay_addr *a)
{
	unsigned h = 2166136261u;
	for (const char *p = a->host; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ (a->port & 0xff)) * 16777619u;
	h = (h ^ (a->port >> 8)) * 16777619u;
	return h % RUDP_BUCKETS;
}

static void conn_unlink(struct rudp_conn *c)
{
	struct rudp *u = c->u;
	if (!u)
		return;
	struct rudp_conn **pp = &u->buckets[peer_hash(&c->peer)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	u->sessions--;
	c->u = NULL;
}

static void conn_deliver(void *arg)
{
	struct rudp_conn *c = arg;
	c->delivering = 0;
	while (c->q_head && c->base.reading && !c->base.closed) {
		struct rudp_msg *m = c->q_head;
		c->q_head = m->next;
		if (!c->q_head)
			c->q_tail = &c->q_head;
		c->queued--;
		stream_emit_read(&c->base, m->data, m->len);
		free(m);
	}
}

static void conn_read_start(struct stream *s)
{
	struct rudp_conn *c = (struct rudp_conn *)s;
	if (c->q_head && !c->delivering) {
		c->delivering = 1;
		worker_defer(s->w, conn_deliver, c);
	}
}

static void conn_read_stop(struct stream *s) { (void)s; }

static int conn_write(struct stream *s, const char *data, size_t len)
{
	struct rudp_conn *c = (struct rudp_conn *)s;
	if (!c->u || !c->u->b)
		return -1;
	return relay_bind_send(c->u->b, &c->peer, data, len);
}

static void conn_shutdown(struct stream *s) { (void)s; }

static void conn_close(struct stream *s)
{
	struct rudp_conn *c = (struct rudp_conn *)s;
	conn_unlink(c);
	while (c->q_head) {
		struct rudp_msg *m = c->q_head;
		c->q_head = m->next;
		free(m);
	}
}

static const struct stream_ops conn_ops = {
	.name = "rudp-session",
	.read_start = conn_read_start,
	.read_stop = conn_read_stop,
	.write = conn_write,
	.shutdown = conn_shutdown,
	.close = conn_close,
};

static struct rudp_conn *conn_find(struct rudp *u, const struct relay_addr *a)
{
	for (struct rudp_conn *c = u->buckets[peer_hash(a)]; c; c = c->hnext)
		if (c->peer.port == a->port && !strcmp(c->peer.host, a->host))
			return c;
	return NULL;
}

static struct rudp_conn *conn_new(struct rudp *u, const struct relay_addr *a)
{
	struct rudp_conn *c = xcalloc(1, sizeof *c);
	stream_init(&c->base, &conn_ops, u->li->w);
	c->base.dgram = 1;
	c->u = u;
	c->peer = *a;
	c->q_tail = &c->q_head;
	relay_addr_format(a, c->base.peer, sizeof c->base.peer);
	unsigned h = peer_hash(a);
	c->hnext = u->buckets[h];
	u->buckets[h] = c;
	u->sessions++;
	return c;
}

static void conn_push(struct rudp_conn *c, const char *data, size_t len)
{
	if (c->base.reading && !c->q_head) {
		stream_emit_read(&c->base, data, len);
		return;
	}
	if (c->queued >= RUDP_QUEUE_MAX)
		return; /* the handler is not keeping up: dropped, as the network would */
	struct rudp_msg *m = xmalloc(sizeof *m + len);
	m->next = NULL;
	m->len = len;
	memcpy(m->data, data, len);
	*c->q_tail = m;
	c->q_tail = &m->next;
	c->queued++;
	if (c->base.reading)
		conn_read_start(&c->base);
}

/* Every session ends: the BIND that carried it is gone. Only from the loop. */
static void rudp_end_sessions(struct rudp *u)
{
	struct rudp_conn *all = NULL;
	for (int i = 0; i < RUDP_BUCKETS; i++) {
		while (u->buckets[i]) {
			struct rudp_conn *c = u->buckets[i];
			u->buckets[i] = c->hnext;
			c->u = NULL;
			c->hnext = all;
			all = c;
		}
	}
	u->sessions = 0;
	while (all) {
		struct rudp_conn *next = all->hnext; /* memory outlives close: freed by a deferred call */
		if (!all->base.closed)
			stream_emit_event(&all->base, STREAM_EV_ERROR, ECONNRESET);
		all = next;
	}
}

static void rudp_bound(void *ctx, struct relay_bind *b)
{
	struct rudp *u = ctx;
	u->b = b;
}

static void rudp_lost(void *ctx)
{
	struct rudp *u = ctx;
	u->b = NULL;
	rudp_end_sessions(u);
}

static void rudp_datagram(void *ctx, struct relay_bind *b, const struct relay_addr *peer, const char *data,
			  size_t len)
{
	struct rudp *u = ctx;
	(void)b;
	struct rudp_conn *c = conn_find(u, peer);
	if (c) {
		conn_push(c, data, len);
		return;
	}
	if (u->sessions >= u->max_sessions) {
		log_warn("rudp %s: %ld sessions, dropping a datagram from a new peer", u->li->svc->name, u->sessions);
		return;
	}
	c = conn_new(u, peer);
	conn_push(c, data, len);
	log_debug("rudp %s: new session from %s", u->li->svc->name, c->base.peer);
	service_dispatch(u->li->svc, &c->base);
}

static int rudp_init(struct service *svc, struct cfg_err *e)
{
	long max;
	if (rbind_init(svc, e) < 0)
		return -1;
	return md_int(svc->listener.md, "maxSessions", 4096, 1, 1000000, &max, e);
}

static int rudp_start(struct listener_inst *li)
{
	static const struct rbind_hooks hooks = {
		.bound = rudp_bound,
		.datagram = rudp_datagram,
		.lost = rudp_lost,
	};
	if (li->w->id != 0)
		return 0; /* one BIND per service */
	struct rudp *u = xcalloc(1, sizeof *u);
	struct cfg_err e;
	u->li = li;
	if (md_int(li->svc->listener.md, "maxSessions", 4096, 1, 1000000, &u->max_sessions, &e) < 0)
		u->max_sessions = 4096;
	li->state = u;
	u->rb = rbind_start(li, 1, &hooks, u);
	return 0;
}

static void rudp_stop(struct listener_inst *li)
{
	struct rudp *u = li->state;
	if (!u)
		return;
	rbind_stop(u->rb);
	u->b = NULL;
	rudp_end_sessions(u);
	free(u);
	li->state = NULL;
}

const struct listener_type listener_rudp = {
	.name = "rudp",
	.socktype = 0,
	.init = rudp_init,
	.fini = rbind_fini,
	.start = rudp_start,
	.stop = rudp_stop,
};
