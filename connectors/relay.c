/*
 * connector relay: the GOST relay protocol client (doc/protocols/gost-relay.md §3).
 * By default it is lazy, as GOST is: the request goes out with the first
 * bytes the application writes, and the reply is checked on the first read,
 * so client-speaks-first protocols do not wait a round trip and do not stall
 * against a default (nodelay off) server. With nodelay the request is sent
 * at once and the reply awaited before the stream is handed back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/handshake.h"
#include "src/core/filter.h"
#include "src/core/log.h"
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "proto/relay.h"
#include "src/core/util.h"

struct relay_copts {
	int nodelay;
	double connect_timeout;
};

static int relay_cinit(struct node *n, struct cfg_err *e)
{
	struct relay_copts *o = xcalloc(1, sizeof *o);
	n->connector.state = o;
	if (md_bool(n->connector.md, "nodelay", 0, &o->nodelay, e) < 0 ||
	    md_duration(n->connector.md, "connectTimeout", 10, &o->connect_timeout, e) < 0)
		return -1;
	return 0;
}

static void relay_cfini(struct node *n) { free(n->connector.state); }

static int relay_request_build(struct node *n, int udp, const char *host, uint16_t port, uint8_t *buf, size_t cap)
{
	struct relay_msg m;
	struct relay_addr a;
	relay_msg_init(&m);
	m.cmd = RELAY_CMD_CONNECT | (udp ? RELAY_FLAG_UDP : 0);
	m.order = RELAY_ORDER_NETWORK_FIRST;
	if (udp) {
		m.has_network = true;
		m.network = RELAY_NETWORK_UDP;
	}
	if (n->connector.auth.username &&
	    relay_msg_set_user_auth(&m, n->connector.auth.username, n->connector.auth.password) < 0)
		return -1;
	if (relay_addr_set(&a, host, port) < 0 || relay_msg_add_addr(&m, &a) < 0)
		return -1;
	return relay_request_encode(buf, cap, &m);
}

/* Returns the reply length, 0 when more is needed, -1 malformed, -2 a refusal (logged). */
static int relay_reply_check(struct node *n, const char *buf, size_t len)
{
	struct relay_msg m;
	int r = relay_response_parse((const uint8_t *)buf, len, &m);
	if (r <= 0)
		return r;
	if (m.status != RELAY_STATUS_OK) {
		log_info("relay node %s: %u %s", n->addr, m.status, relay_status_text(m.status));
		return -2;
	}
	return r;
}

static int status_errno(int r) { return r == -2 ? ECONNREFUSED : EPROTO; }

/* ---- lazy mode: a filter that sends the request with the first write ---- */

enum lazy_state { LAZY_AWAIT_REPLY, LAZY_OPEN };

struct relay_lazy {
	struct filter f;
	struct node *node;
	uint8_t *request;           /* owned; NULL once sent */
	size_t request_len;
	enum lazy_state state;
	char *acc;                  /* reply bytes so far, owned */
	size_t acc_len;
};

static int lazy_send_request(struct relay_lazy *l, const char *data, size_t len)
{
	char *buf = xmalloc(l->request_len + len);
	memcpy(buf, l->request, l->request_len);
	if (len)
		memcpy(buf + l->request_len, data, len);
	size_t total = l->request_len + len;
	free(l->request);
	l->request = NULL;
	int r = filter_write(&l->f.base, buf, total);
	free(buf);
	return r;
}

static int lazy_write(struct stream *s, const char *data, size_t len)
{
	struct relay_lazy *l = (struct relay_lazy *)s;
	if (l->request)
		return lazy_send_request(l, data, len);
	return filter_write(s, data, len);
}

static void lazy_shutdown(struct stream *s)
{
	struct relay_lazy *l = (struct relay_lazy *)s;
	if (l->request)
		lazy_send_request(l, NULL, 0);
	filter_shutdown(s);
}

static void lazy_close(struct stream *s)
{
	struct relay_lazy *l = (struct relay_lazy *)s;
	free(l->request);
	free(l->acc);
	l->request = NULL;
	l->acc = NULL;
	filter_close(s);
}

static void lazy_lower_read(struct stream *lower, const char *data, size_t len)
{
	struct relay_lazy *l = lower->ud;
	if (l->state == LAZY_OPEN || !len) {
		stream_emit_read(&l->f.base, data, len);
		return;
	}
	if (l->acc_len + len > RELAY_HEADER_LEN + 65535 + 65536) {
		stream_emit_event(&l->f.base, STREAM_EV_ERROR, EPROTO);
		return;
	}
	l->acc = xrealloc(l->acc, l->acc_len + len);
	memcpy(l->acc + l->acc_len, data, len);
	l->acc_len += len;
	int r = relay_reply_check(l->node, l->acc, l->acc_len);
	if (r == 0)
		return;
	if (r < 0) {
		stream_emit_event(&l->f.base, STREAM_EV_ERROR, status_errno(r));
		return;
	}
	l->state = LAZY_OPEN;
	char *acc = l->acc;
	size_t rest = l->acc_len - (size_t)r;
	l->acc = NULL;
	l->acc_len = 0;
	if (rest)
		stream_emit_read(&l->f.base, acc + r, rest);
	free(acc);
}

static int lazy_fd(struct stream *s)
{
	struct relay_lazy *l = (struct relay_lazy *)s;
	return l->state == LAZY_OPEN && !l->request && !l->acc ? filter_transparent_fd(s) : -1;
}

static const struct stream_ops lazy_ops = {
	.name = "relay-client",
	.read_start = filter_read_start,
	.read_stop = filter_read_stop,
	.write = lazy_write,
	.shutdown = lazy_shutdown,
	.close = lazy_close,
	.fd = lazy_fd,
};

/* ---- nodelay mode: request now, wait for the reply (connectors/handshake.c) ---- */

static int relay_reply(struct handshake *h)
{
	int r = relay_reply_check(h->n, h->buf.p, h->buf.len);
	if (r <= 0)
		return r ? -status_errno(r) : 0;
	buf_consume(&h->buf, (size_t)r); /* what follows is the tunnel's */
	return 1;
}

static const struct handshake_proto relay_proto = {
	.reply = relay_reply,
	.timeout_msg = "no relay reply",
};

/* A UDP tunnel is handed on framed, as a datagram stream. */
struct relay_udp_wait {
	stream_done_cb cb;
	void *ctx;
};

static void udp_wait_done(void *ctx, struct stream *s, int err)
{
	struct relay_udp_wait *w = ctx;
	stream_done_cb cb = w->cb;
	void *cbctx = w->ctx;
	free(w);
	cb(cbctx, s ? frame_stream_new(s) : NULL, err);
}

static void relay_wait(struct node *n, struct stream *lower, int udp, const uint8_t *req, size_t len,
		       stream_done_cb cb, void *ctx)
{
	struct relay_copts *o = n->connector.state;
	if (!udp) {
		handshake_start(&relay_proto, n, lower, o->connect_timeout, req, len, NULL, cb, ctx);
		return;
	}
	struct relay_udp_wait *w = xcalloc(1, sizeof *w);
	w->cb = cb;
	w->ctx = ctx;
	handshake_start(&relay_proto, n, lower, o->connect_timeout, req, len, NULL, udp_wait_done, w);
}

static void relay_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			  stream_done_cb cb, void *ctx)
{
	struct relay_copts *o = n->connector.state;
	uint8_t req[RELAY_MSG_MAX_LEN];
	int len = relay_request_build(n, dgram, host, port, req, sizeof req);
	if (len < 0) {
		log_warn("relay node %s: cannot encode a request for %s:%u", n->addr, host, port);
		stream_close(lower);
		cb(ctx, NULL, EINVAL);
		return;
	}
	if (!o->nodelay) {
		struct relay_lazy *l = xcalloc(1, sizeof *l);
		filter_init(&l->f, &lazy_ops, lower, lazy_lower_read);
		l->node = n;
		l->request = xmalloc((size_t)len);
		memcpy(l->request, req, (size_t)len);
		l->request_len = (size_t)len;
		cb(ctx, dgram ? frame_stream_new(&l->f.base) : &l->f.base, 0);
		return;
	}
	relay_wait(n, lower, dgram, req, (size_t)len, cb, ctx);
}

const struct connector_type connector_relay = {
	.name = "relay",
	.init = relay_cinit,
	.fini = relay_cfini,
	.connect = relay_connect,
	.sends_auth = 1,
};
