/*
 * listener rtcp: remote TCP port forwarding. The port is opened on the
 * chain's last node, a relay or socks5 server with bind=true (portway or
 * GOST): the listener dials it (through the hops before it), sends BIND
 * (socks5: MBIND) for the service's address, and each connection the server
 * accepts arrives as an smux stream that goes to the handler (rtcp: on to
 * the forwarder nodes).
 *
 *   portway -L rtcp://:2222/127.0.0.1:22 -F relay://server:8420
 *   portway -L rtcp://:2222/127.0.0.1:22 -F socks5://user:pass@server:1080
 *
 * The BIND is kept: when it fails or its session dies, it is made again
 * after 1 s, doubling up to 5 s while it keeps failing.
 */
#include "listeners/rtcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/core/backoff.h"
#include "src/core/log.h"
#include "src/svc/conn_limits.h"
#include "src/svc/router.h"
#include "src/core/util.h"

#define RBIND_BACKOFF_MIN 1.0
#define RBIND_BACKOFF_MAX 5.0

struct rbind_opts {
	struct chain prefix;        /* the hops before the relay (none: direct) */
	struct hop *last;           /* the relay's hop */
	double dial_timeout;
};

enum rbind_state {
	RBIND_WAITING,              /* for the retry timer */
	RBIND_DIALING,              /* reaching the relay */
	RBIND_HANDSHAKE,            /* the relay node's dialer handshake (TLS, WebSocket) */
	RBIND_BINDING,              /* BIND sent */
	RBIND_BOUND,
};

/* One per service on worker 0; freed when stopped and no handshake is in flight. */
struct rbind {
	struct listener_inst *li;
	struct rbind_opts *o;
	int udp;
	struct rbind_hooks h;
	void *ctx;
	enum rbind_state state;
	struct dial *dial;
	struct node *node;          /* the relay of the current attempt */
	struct relay_bind *b;
	struct backoff retry;
	int stopped;
};

int rbind_init(struct service *svc, struct cfg_err *e)
{
	struct rbind_opts *o = xcalloc(1, sizeof *o);
	struct chain *ch = svc->listener.chain;
	const char *lname = svc->listener.type->name;
	int udp = !strcasecmp(lname, "rudp");
	svc->listener.state = o;
	if (!ch || !ch->n_hops)
		return cfg_error(e, svc->cfg, "listener", "%s needs a chain whose last node is a relay or socks5 server "
				 "(-F relay://server:port, the server with bind=true)", lname);
	o->last = ch->hops[ch->n_hops - 1];
	o->prefix.name = ch->name;
	o->prefix.hops = ch->hops;
	o->prefix.n_hops = ch->n_hops - 1;
	for (size_t i = 0; i < o->last->n_nodes; i++) {
		struct node *n = o->last->nodes[i];
		if (!relay_bind_supported(n, udp))
			return cfg_error(e, svc->cfg, "listener.chain",
					 "%s binds through the chain's last node, whose connector must be relay or socks5, not %s",
					 lname, n->connector.type->name);
		if (relay_bind_node_check(n, e) < 0)
			return -1;
	}
	if (md_duration(svc->listener.md, "dialTimeout", 10, &o->dial_timeout, e) < 0)
		return -1;
	return 0;
}

void rbind_fini(struct service *svc) { free(svc->listener.state); }

static const char *rbind_kind(const struct rbind *r) { return r->udp ? "rudp" : "rtcp"; }

static void rbind_maybe_free(struct rbind *r)
{
	if (r->stopped && r->state != RBIND_HANDSHAKE)
		free(r);
}

static void rbind_connect(struct rbind *r);

static void rbind_schedule(struct rbind *r)
{
	if (r->stopped)
		return;
	r->state = RBIND_WAITING;
	double d = backoff_retry_later(&r->retry, r->li->w->loop);
	log_info("%s %s: binding again in %.0fs", rbind_kind(r), r->li->svc->name, d);
}

static void rb_bound(void *ctx, struct relay_bind *b, const char *bound)
{
	struct rbind *r = ctx;
	r->state = RBIND_BOUND;
	backoff_reset(&r->retry);
	log_info("%s %s: bound on the relay %s:%u, remote address %s; forwarding to the handler",
		 rbind_kind(r), r->li->svc->name, r->node->host, r->node->port, *bound ? bound : "?");
	if (r->h.bound)
		r->h.bound(r->ctx, b);
}

static void rb_accepted(void *ctx, struct relay_bind *b, struct stream *st)
{
	struct rbind *r = ctx;
	(void)b;
	log_debug("%s %s: connection from %s", rbind_kind(r), r->li->svc->name, st->peer);
	r->h.accepted(r->ctx, st);
}

static void rb_datagram(void *ctx, struct relay_bind *b, const struct relay_addr *peer, const char *data, size_t len)
{
	struct rbind *r = ctx;
	if (r->h.datagram)
		r->h.datagram(r->ctx, b, peer, data, len);
}

static void rb_closed(void *ctx, int err)
{
	struct rbind *r = ctx;
	int was_bound = r->state == RBIND_BOUND;
	r->b = NULL;
	if (was_bound) {
		log_warn("%s %s: the BIND on %s:%u ended: %s", rbind_kind(r), r->li->svc->name, r->node->host,
			 r->node->port, strerror(err));
		if (r->h.lost)
			r->h.lost(r->ctx);
	} else {
		log_warn("%s %s: BIND on %s:%u failed: %s", rbind_kind(r), r->li->svc->name, r->node->host,
			 r->node->port, err == ECONNREFUSED ? "refused by the relay" : strerror(err));
		node_mark_failed(r->o->last, r->node);
	}
	rbind_schedule(r);
}

static const struct relay_bind_callbacks rb_callbacks = {
	.bound = rb_bound,
	.accepted = rb_accepted,
	.datagram = rb_datagram,
	.closed = rb_closed,
};

static void rbind_ready(void *ctx, struct stream *s, int err)
{
	struct rbind *r = ctx;
	if (r->stopped) {
		r->state = RBIND_WAITING;
		stream_close(s);
		rbind_maybe_free(r);
		return;
	}
	if (err || !s) {
		log_warn("%s %s: handshake with the relay %s:%u failed: %s", rbind_kind(r), r->li->svc->name,
			 r->node->host, r->node->port, strerror(err ? err : EPROTO));
		node_mark_failed(r->o->last, r->node);
		rbind_schedule(r);
		return;
	}
	r->state = RBIND_BINDING;
	r->b = relay_bind_dial(r->node, s, r->udp, r->li->svc->host, r->li->svc->port, &rb_callbacks, r);
}

static void rbind_dialed(void *ctx, struct stream *s, int err)
{
	struct rbind *r = ctx;
	r->dial = NULL;
	if (err) {
		log_warn("%s %s: cannot reach the relay %s:%u: %s", rbind_kind(r), r->li->svc->name, r->node->host,
			 r->node->port, strerror(err));
		node_mark_failed(r->o->last, r->node);
		rbind_schedule(r);
		return;
	}
	r->state = RBIND_HANDSHAKE;
	if (r->node->dialer.type->handshake) {
		r->node->dialer.type->handshake(r->node, s, rbind_ready, r);
		return;
	}
	rbind_ready(r, s, 0);
}

static void rbind_connect(struct rbind *r)
{
	struct rbind_opts *o = r->o;
	r->node = hop_select(o->last, NULL, 0, NULL);
	if (!r->node) {
		rbind_schedule(r);
		return;
	}
	struct dial_opts d = {
		.chain = o->prefix.n_hops ? &o->prefix : NULL,
		.dgram = r->node->dialer.type->socktype == SOCK_DGRAM,
		.timeout = o->dial_timeout,
		.svc = r->li->svc,
	};
	r->state = RBIND_DIALING;
	r->dial = router_dial(r->li->w, &d, r->node->host, r->node->port, rbind_dialed, r);
}

static void rbind_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	rbind_connect(t->data);
}

struct rbind *rbind_start(struct listener_inst *li, int udp, const struct rbind_hooks *h, void *ctx)
{
	struct rbind *r = xcalloc(1, sizeof *r);
	r->li = li;
	r->o = li->svc->listener.state;
	r->udp = udp;
	r->h = *h;
	r->ctx = ctx;
	backoff_init(&r->retry, RBIND_BACKOFF_MIN, RBIND_BACKOFF_MAX, 0, rbind_retry_cb, r);
	rbind_connect(r);
	return r;
}

void rbind_stop(struct rbind *r)
{
	if (!r)
		return;
	r->stopped = 1;
	backoff_cancel(&r->retry, r->li->w->loop);
	if (r->dial) {
		router_dial_cancel(r->dial);
		r->dial = NULL;
	}
	relay_bind_close(r->b);
	r->b = NULL;
	if (r->state != RBIND_HANDSHAKE)
		r->state = RBIND_WAITING;
	rbind_maybe_free(r);
}

/* ---- the rtcp listener ---- */

static void rtcp_accepted(void *ctx, struct stream *st)
{
	struct listener_inst *li = ctx;
	if (conn_limits_accept(li->svc, st, CONN_ALL) < 0)
		return;
	service_dispatch(li->svc, st);
}

static int rtcp_start(struct listener_inst *li)
{
	static const struct rbind_hooks hooks = { .accepted = rtcp_accepted };
	if (li->w->id != 0)
		return 0; /* one BIND per service */
	li->state = rbind_start(li, 0, &hooks, li);
	return 0;
}

static void rtcp_stop(struct listener_inst *li)
{
	rbind_stop(li->state);
	li->state = NULL;
}

const struct listener_type listener_rtcp = {
	.name = "rtcp",
	.socktype = 0,
	.init = rbind_init,
	.fini = rbind_fini,
	.start = rtcp_start,
	.stop = rtcp_stop,
};
