/*
 * A BIND on the chain's last node (see src/svc/relay_bind_client.h).
 *
 * relay: the request is [UserAuth] Network Addr, as GOST's connector writes
 * it, with an empty host sent as 0.0.0.0. The reply is read within
 * connectTimeout. Another connector with a bind op (socks5: MBIND, or the
 * UDP tunnel with a port) does its own handshake up to the first reply.
 * TCP then runs an smux session as its server: each stream the node opens
 * starts with a header naming the remote peer (relay: a response, OK and
 * Addr; else the connector's bind_peer), read within connectTimeout before
 * the stream is handed on.
 */
#include "src/svc/relay_bind_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/core/log.h"
#include "src/xprt/smux_session.h"
#include "src/core/util.h"

#define REPLY_MAX (RELAY_HEADER_LEN + 65535)
#define UDP_FRAME_MAX (RELAY_UDP_BIND_HEADER_MAX + RELAY_UDP_MAX_PAYLOAD)

enum rb_state {
	RB_AWAIT_REPLY,   /* request sent, reading the reply */
	RB_HANDSHAKE,     /* the connector's bind runs and owns lower */
	RB_TCP,           /* the smux session runs */
	RB_UDP,           /* datagram frames on lower */
	RB_ENDED,
};

struct peer_reader;

/* Freed (deferred) when it ended and was closed or reported closed. */
struct relay_bind {
	struct node *node;
	struct worker *w;
	enum rb_state state;
	int udp;
	struct stream *lower;               /* owned, except in RB_TCP where the session owns it */
	struct smux_session *sess;
	struct relay_bind_callbacks cb;
	void *ctx;
	double timeout;
	struct smux_config mux;
	ev_timer timer;                     /* the reply */
	uint8_t *acc;                       /* reply or UDP frame bytes so far, owned */
	size_t acc_len, acc_cap;
	uint8_t *out;                       /* UDP: a frame being sent, owned */
	struct peer_reader *readers;        /* streams whose header is not in yet */
	int released;                       /* the owner closed it or heard it closed */
	int in_dial;                        /* inside relay_bind_dial: callbacks must wait */
	int early_err;                      /* the connector failed inside relay_bind_dial */
	char where[300];                    /* the node, for the log */
};

/* A stream from the server, until its relay response header is read. */
struct peer_reader {
	struct relay_bind *b;
	struct stream *st;                  /* owned until handed on */
	struct peer_reader *prev, *next;
	ev_timer timer;
	uint8_t acc[RELAY_MSG_MAX_LEN];
	size_t acc_len;
};

static int parse_options(struct node *n, struct smux_config *mux, double *timeout, struct cfg_err *e)
{
	if (smux_config_parse(n->connector.md, mux, e) < 0 ||
	    md_duration(n->connector.md, "connectTimeout", 10, timeout, e) < 0)
		return -1;
	if (*timeout <= 0)
		*timeout = 10;
	return 0;
}

int relay_bind_supported(const struct node *n, int udp)
{
	if (!strcasecmp(n->connector.type->name, "relay"))
		return 1;
	return n->connector.type->bind && (udp || n->connector.type->bind_peer);
}

int relay_bind_node_check(struct node *n, struct cfg_err *e)
{
	struct smux_config mux;
	double t;
	return parse_options(n, &mux, &t, e);
}

static void rb_free(void *arg)
{
	struct relay_bind *b = arg;
	free(b->acc);
	free(b->out);
	free(b);
}

static void reader_free(struct peer_reader *r)
{
	struct relay_bind *b = r->b;
	ev_timer_stop(b->w->loop, &r->timer);
	if (r->prev)
		r->prev->next = r->next;
	else
		b->readers = r->next;
	if (r->next)
		r->next->prev = r->prev;
	free(r);
}

static void readers_drop(struct relay_bind *b)
{
	while (b->readers) {
		struct stream *st = b->readers->st;
		reader_free(b->readers);
		stream_close(st);
	}
}

/* Tear down everything; report err unless the owner closed it. Only from the loop. */
static void rb_end(struct relay_bind *b, int err)
{
	if (b->state == RB_ENDED)
		return;
	b->state = RB_ENDED;
	ev_timer_stop(b->w->loop, &b->timer);
	readers_drop(b);
	if (b->sess)
		smux_session_close(b->sess);
	b->sess = NULL;
	stream_close(b->lower);
	b->lower = NULL;
	if (!b->released) {
		b->released = 1;
		b->cb.closed(b->ctx, err);
	}
	worker_defer(b->w, rb_free, b);
}

/* ---- TCP: streams from the server ---- */

static void reader_fail(struct peer_reader *r, const char *why)
{
	log_info("%s node %s: BIND stream dropped: %s", r->b->node->connector.type->name, r->b->where, why);
	struct stream *st = r->st;
	reader_free(r);
	stream_close(st);
}

static void reader_read(struct stream *st, const char *data, size_t len)
{
	struct peer_reader *r = st->ud;
	struct relay_bind *b = r->b;
	struct relay_msg m;

	if (!len) {
		reader_fail(r, "closed before its header");
		return;
	}
	size_t take = sizeof r->acc - r->acc_len;
	if (take > len)
		take = len;
	memcpy(r->acc + r->acc_len, data, take);
	r->acc_len += take;
	int (*bind_peer)(const uint8_t *, size_t, char *, size_t) = b->node->connector.type->bind_peer;
	int n = bind_peer ? bind_peer(r->acc, r->acc_len, st->peer, sizeof st->peer)
			  : relay_response_parse(r->acc, r->acc_len, &m);
	if (n == 0 && r->acc_len < sizeof r->acc)
		return;
	if (n <= 0) {
		reader_fail(r, "malformed header");
		return;
	}
	if (!bind_peer && m.status != RELAY_STATUS_OK) {
		reader_fail(r, relay_status_text(m.status));
		return;
	}
	/* The first Addr is the remote peer (a second one, a target host, is not used). */
	if (!bind_peer && m.naddr)
		relay_addr_format(&m.addr[0], st->peer, sizeof st->peer);
	stream_read_stop(st);
	/* What came after the header: bytes of this chunk not copied, then copied ones past n. */
	if (len > take)
		stream_unread(st, data + take, len - take);
	if (r->acc_len > (size_t)n)
		stream_unread(st, r->acc + n, r->acc_len - (size_t)n);
	reader_free(r);
	stream_set_callbacks(st, NULL, NULL, NULL);
	b->cb.accepted(b->ctx, b, st);
}

static void reader_event(struct stream *st, enum stream_event ev, int err)
{
	struct peer_reader *r = st->ud;
	if (ev == STREAM_EV_ERROR)
		reader_fail(r, strerror(err));
}

static void reader_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	reader_fail(t->data, "no header in time");
}

static void rb_on_stream(void *ud, struct smux_session *sess, struct stream *st)
{
	struct relay_bind *b = ud;
	struct peer_reader *r = xcalloc(1, sizeof *r);
	(void)sess;
	r->b = b;
	r->st = st;
	r->next = b->readers;
	if (b->readers)
		b->readers->prev = r;
	b->readers = r;
	ev_timer_init(&r->timer, reader_timeout, b->timeout, 0);
	r->timer.data = r;
	ev_timer_start(b->w->loop, &r->timer);
	stream_set_callbacks(st, reader_read, reader_event, r);
	stream_read_start(st);
}

static void rb_on_session_closed(void *ud, struct smux_session *sess, int err)
{
	struct relay_bind *b = ud;
	(void)sess;
	b->sess = NULL;
	b->lower = NULL; /* the session closed it */
	rb_end(b, err ? err : ECONNRESET);
}

/* ---- UDP ---- */

static void rb_udp_frames(struct relay_bind *b)
{
	size_t off = 0;
	while (b->state == RB_UDP && !b->released) {
		struct relay_addr a;
		const uint8_t *payload;
		size_t plen;
		int r = relay_udp_bind_frame_parse(b->acc + off, b->acc_len - off, &a, &payload, &plen);
		if (r < 0) {
			log_info("%s node %s: malformed BIND datagram frame", b->node->connector.type->name, b->where);
			rb_end(b, EPROTO);
			return;
		}
		if (r == 0)
			break;
		off += (size_t)r;
		b->cb.datagram(b->ctx, b, &a, (const char *)payload, plen);
	}
	if (b->state != RB_UDP)
		return;
	memmove(b->acc, b->acc + off, b->acc_len - off);
	b->acc_len -= off;
}

static int rb_acc_append(struct relay_bind *b, const char *data, size_t len, size_t max)
{
	if (b->acc_len + len > max)
		return -1;
	if (b->acc_len + len > b->acc_cap) {
		size_t cap = b->acc_cap ? b->acc_cap : 1024;
		while (cap < b->acc_len + len)
			cap *= 2;
		b->acc = xrealloc(b->acc, cap);
		b->acc_cap = cap;
	}
	memcpy(b->acc + b->acc_len, data, len);
	b->acc_len += len;
	return 0;
}

static void rb_udp_read(struct relay_bind *b, const char *data, size_t len)
{
	while (len && b->state == RB_UDP && !b->released) {
		size_t take = UDP_FRAME_MAX - b->acc_len;
		if (take > len)
			take = len;
		rb_acc_append(b, data, take, UDP_FRAME_MAX);
		data += take;
		len -= take;
		rb_udp_frames(b);
	}
}

int relay_bind_send(struct relay_bind *b, const struct relay_addr *peer, const void *data, size_t len)
{
	if (b->state != RB_UDP || b->released)
		return -1;
	if (!len || len > RELAY_UDP_MAX_PAYLOAD || b->lower->wqueued > STREAM_HIGH_WATER)
		return 0; /* as the network would */
	int n = relay_udp_bind_frame_encode(b->out, UDP_FRAME_MAX, peer, data, len);
	if (n < 0)
		return 0;
	return stream_write(b->lower, b->out, (size_t)n);
}

/* ---- the reply ---- */

static void rb_lower_read(struct stream *lower, const char *data, size_t len);

static void rb_lower_event(struct stream *lower, enum stream_event ev, int err)
{
	struct relay_bind *b = lower->ud;
	if (ev == STREAM_EV_ERROR) {
		log_info("%s node %s: BIND connection: %s", b->node->connector.type->name, b->where, strerror(err));
		rb_end(b, err);
	}
}

static void rb_start_session(struct relay_bind *b, const char *bound)
{
	struct smux_callbacks cb = { .on_stream = rb_on_stream, .on_closed = rb_on_session_closed };
	b->state = RB_TCP;
	b->sess = smux_session_new(b->lower, 0, &b->mux, &cb, b);
	b->lower = NULL; /* the session's now */
	b->cb.bound(b->ctx, b, bound);
}

static void rb_got_reply(struct relay_bind *b, const struct relay_msg *m, size_t n)
{
	char bound[300] = "";
	ev_timer_stop(b->w->loop, &b->timer);
	if (m->status != RELAY_STATUS_OK) {
		log_warn("%s node %s: BIND refused: %u %s", b->node->connector.type->name, b->where, m->status, relay_status_text(m->status));
		rb_end(b, ECONNREFUSED);
		return;
	}
	if (m->naddr)
		relay_addr_format(&m->addr[0], bound, sizeof bound);
	size_t rest = b->acc_len - n;
	uint8_t *acc = b->acc;
	b->acc = NULL;
	b->acc_len = b->acc_cap = 0;
	if (!b->udp) {
		/* Frames may have come with the reply: the session reads them first. */
		if (rest)
			stream_unread(b->lower, acc + n, rest);
		free(acc);
		rb_start_session(b, bound);
		return;
	}
	b->state = RB_UDP;
	b->out = xmalloc(UDP_FRAME_MAX);
	b->cb.bound(b->ctx, b, bound);
	if (rest && b->state == RB_UDP && !b->released)
		rb_udp_read(b, (const char *)acc + n, rest);
	free(acc);
}

static void rb_lower_read(struct stream *lower, const char *data, size_t len)
{
	struct relay_bind *b = lower->ud;
	struct relay_msg m;
	if (b->state == RB_UDP) {
		if (!len) {
			rb_end(b, ECONNRESET);
			return;
		}
		rb_udp_read(b, data, len);
		return;
	}
	if (!len) {
		log_info("%s node %s: BIND: closed without a reply", b->node->connector.type->name, b->where);
		rb_end(b, ECONNRESET);
		return;
	}
	if (rb_acc_append(b, data, len, REPLY_MAX + 65536) < 0) {
		rb_end(b, EPROTO);
		return;
	}
	int n = relay_response_parse(b->acc, b->acc_len, &m);
	if (n == 0)
		return;
	if (n < 0) {
		log_info("%s node %s: BIND: malformed reply", b->node->connector.type->name, b->where);
		rb_end(b, EPROTO);
		return;
	}
	rb_got_reply(b, &m, (size_t)n);
}

static void rb_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct relay_bind *b = t->data;
	(void)loop;
	(void)revents;
	log_info("%s node %s: BIND: no reply within %gs", b->node->connector.type->name, b->where, b->timeout);
	rb_end(b, ETIMEDOUT);
}

static int rb_request(struct relay_bind *b, const char *host, uint16_t port, uint8_t *buf, size_t cap)
{
	struct relay_msg m;
	struct relay_addr a;
	struct node *n = b->node;
	relay_msg_init(&m);
	m.cmd = RELAY_CMD_BIND | (b->udp ? RELAY_FLAG_UDP : 0);
	m.order = RELAY_ORDER_AUTH_FIRST;
	if (n->connector.auth.username &&
	    relay_msg_set_user_auth(&m, n->connector.auth.username, n->connector.auth.password) < 0)
		return -1;
	m.has_network = true;
	m.network = b->udp ? RELAY_NETWORK_UDP : RELAY_NETWORK_TCP;
	/* GOST sends ":port" as 0.0.0.0:port. */
	if (relay_addr_set(&a, *host ? host : "0.0.0.0", port) < 0 || relay_msg_add_addr(&m, &a) < 0)
		return -1;
	return relay_request_encode(buf, cap, &m);
}

static void rb_send_failed(void *arg)
{
	rb_end(arg, EPIPE);
}

static void rb_early_failed(void *arg)
{
	struct relay_bind *b = arg;
	rb_end(b, b->early_err);
}

/* The connector's bind answered (its timeout bounds the wait). */
static void rb_bind_done(void *ctx, struct stream *s, const char *bound, int err)
{
	struct relay_bind *b = ctx;
	b->state = RB_AWAIT_REPLY;
	if (b->released) {
		/* closed meanwhile: nothing is reported */
		if (s)
			stream_close(s);
		rb_end(b, 0);
		return;
	}
	if (err) {
		log_warn("%s node %s: BIND failed: %s", b->node->connector.type->name, b->where,
			 err == ECONNREFUSED ? "refused by the server" : strerror(err));
		if (b->in_dial) {
			b->early_err = err;
			worker_defer(b->w, rb_early_failed, b);
			return;
		}
		rb_end(b, err);
		return;
	}
	b->lower = s;
	if (!b->udp) {
		rb_start_session(b, bound ? bound : "");
		return;
	}
	/* The frames are the relay's UDP BIND frames, byte for byte. */
	b->state = RB_UDP;
	b->out = xmalloc(UDP_FRAME_MAX);
	stream_set_callbacks(s, rb_lower_read, rb_lower_event, b);
	b->cb.bound(b->ctx, b, bound ? bound : "");
	if (b->state == RB_UDP && !b->released)
		stream_read_start(s);
}

struct relay_bind *relay_bind_dial(struct node *n, struct stream *lower, int udp, const char *host, uint16_t port,
				   const struct relay_bind_callbacks *cb, void *ctx)
{
	struct relay_bind *b = xcalloc(1, sizeof *b);
	struct cfg_err e;
	uint8_t req[RELAY_MSG_MAX_LEN];

	b->node = n;
	b->w = lower->w;
	b->lower = lower;
	b->udp = udp;
	b->cb = *cb;
	b->ctx = ctx;
	b->state = RB_AWAIT_REPLY;
	hostport_format(b->where, sizeof b->where, n->host, n->port);
	if (parse_options(n, &b->mux, &b->timeout, &e) < 0) {
		smux_config_default(&b->mux); /* checked at load; cannot happen */
		b->timeout = 10;
	}
	ev_timer_init(&b->timer, rb_timeout, b->timeout, 0);
	b->timer.data = b;
	if (n->connector.type->bind) {
		b->lower = NULL; /* the connector's until rb_bind_done */
		b->state = RB_HANDSHAKE;
		b->in_dial = 1;
		n->connector.type->bind(n, lower, udp, host, port, rb_bind_done, b);
		b->in_dial = 0;
		return b;
	}
	ev_timer_start(b->w->loop, &b->timer);
	stream_set_callbacks(lower, rb_lower_read, rb_lower_event, b);
	int len = rb_request(b, host, port, req, sizeof req);
	if (len < 0 || stream_write(lower, req, (size_t)len) < 0) {
		ev_timer_stop(b->w->loop, &b->timer);
		worker_defer(b->w, rb_send_failed, b);
		return b;
	}
	stream_read_start(lower);
	return b;
}

void relay_bind_close(struct relay_bind *b)
{
	if (!b || b->released)
		return;
	b->released = 1;
	if (b->state == RB_HANDSHAKE)
		return; /* the connector still has lower: rb_bind_done ends it */
	rb_end(b, 0);
}
