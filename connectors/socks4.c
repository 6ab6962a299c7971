/*
 * connector socks4 (alias socks4a): CONNECT through a SOCKS4 server; an IPv4
 * target goes as SOCKS4, a name as SOCKS4a. The node's auth user name is the
 * USERID. TCP only. The codec is proto/socks5.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/proxy.h"
#include "log.h"
#include "model.h"
#include "socks5.h"
#include "util.h"

struct s4c_opts {
	double timeout;
};

/* One request in flight; owns lower until it is handed on or closed. */
struct s4c_req {
	struct node *n;
	struct stream *lower;
	struct pbuf buf;
	stream_done_cb cb;
	void *ctx;
	ev_timer timer;
};

static void req_finish(struct s4c_req *r, int err)
{
	struct stream *s = r->lower;
	stream_done_cb cb = r->cb;
	void *ctx = r->ctx;
	ev_timer_stop(s->w->loop, &r->timer);
	if (!err && r->buf.len)
		stream_unread(s, r->buf.p, r->buf.len);
	pbuf_free(&r->buf);
	free(r);
	if (err) {
		stream_close(s);
		s = NULL;
	} else {
		stream_read_stop(s);
		stream_set_callbacks(s, NULL, NULL, NULL);
	}
	cb(ctx, s, err);
}

static void req_read(struct stream *s, const char *data, size_t len)
{
	struct s4c_req *r = s->ud;
	uint8_t code, ip[4];
	uint16_t port;
	if (!len) {
		req_finish(r, ECONNRESET);
		return;
	}
	pbuf_append(&r->buf, data, len);
	int n = socks4_reply_parse((const uint8_t *)r->buf.p, r->buf.len, &code, ip, &port);
	if (n == 0)
		return;
	if (n < 0) {
		req_finish(r, EPROTO);
		return;
	}
	pbuf_consume(&r->buf, (size_t)n);
	if (code != SOCKS4_REP_GRANTED) {
		log_info("node %s (%s): SOCKS4 request rejected (%u)", r->n->name, r->n->addr, code);
		req_finish(r, code == SOCKS4_REP_REJECTED ? ECONNREFUSED : EACCES);
		return;
	}
	req_finish(r, 0);
}

static void req_event(struct stream *s, enum stream_event ev, int err)
{
	if (ev == STREAM_EV_ERROR)
		req_finish(s->ud, err ? err : ECONNRESET);
}

static void req_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct s4c_req *r = t->data;
	(void)loop;
	(void)revents;
	log_info("node %s (%s): no SOCKS4 answer", r->n->name, r->n->addr);
	req_finish(r, ETIMEDOUT);
}

static void s4c_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			stream_done_cb cb, void *ctx)
{
	struct s4c_opts *o = n->connector.state;
	uint8_t out[8 + 256 + 256], ip[4];
	const char *user = n->connector.auth.username ? n->connector.auth.username : "";
	int len;
	if (dgram) {
		stream_close(lower);
		cb(ctx, NULL, EPROTONOSUPPORT);
		return;
	}
	if (inet_pton(AF_INET, host, ip) == 1)
		len = socks4_request_encode(out, sizeof out, SOCKS4_CMD_CONNECT, ip, port, user, NULL);
	else
		len = socks4_request_encode(out, sizeof out, SOCKS4_CMD_CONNECT, NULL, port, user, host);
	struct s4c_req *r = xcalloc(1, sizeof *r);
	r->n = n;
	r->lower = lower;
	r->cb = cb;
	r->ctx = ctx;
	ev_timer_init(&r->timer, req_timeout, o->timeout, 0);
	r->timer.data = r;
	ev_timer_start(lower->w->loop, &r->timer);
	stream_set_callbacks(lower, req_read, req_event, r);
	if (len < 0 || stream_write(lower, out, (size_t)len) < 0) {
		req_finish(r, len < 0 ? EINVAL : ECONNRESET);
		return;
	}
	stream_read_start(lower);
}

static int s4c_init(struct node *n, struct cfg_err *e)
{
	struct s4c_opts *o = xcalloc(1, sizeof *o);
	n->connector.state = o;
	if (md_duration(n->connector.md, "connectTimeout", 10, &o->timeout, e) < 0)
		return -1;
	if (o->timeout <= 0)
		o->timeout = 10;
	return 0;
}

static void s4c_fini(struct node *n) { free(n->connector.state); }

const struct connector_type connector_socks4 = {
	.name = "socks4",
	.init = s4c_init,
	.fini = s4c_fini,
	.connect = s4c_connect,
};
