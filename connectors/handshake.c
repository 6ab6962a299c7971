/* The connectors' wait for a handshake reply; see handshake.h. */
#include "connectors/handshake.h"

#include <errno.h>
#include <stdlib.h>

#include "src/core/log.h"
#include "src/core/util.h"

static void hs_finish(struct handshake *h, int err)
{
	struct stream *s = h->lower;
	stream_done_cb cb = h->cb;
	void *ctx = h->ctx;
	ev_timer_stop(s->w->loop, &h->timer);
	if (!err && h->buf.len)
		stream_unread(s, h->buf.p, h->buf.len); /* early bytes of the tunnel */
	buf_free(&h->buf);
	free(h);
	if (err) {
		stream_close(s);
		s = NULL;
	} else {
		stream_read_stop(s);
		stream_set_callbacks(s, NULL, NULL, NULL);
	}
	cb(ctx, s, err);
}

static void hs_read(struct stream *s, const char *data, size_t len)
{
	struct handshake *h = s->ud;
	if (!len) {
		if (h->proto->eof_msg)
			log_info("node %s (%s): %s", h->n->name, h->n->addr, h->proto->eof_msg);
		hs_finish(h, ECONNRESET);
		return;
	}
	buf_append(&h->buf, data, len);
	int st = h->proto->reply(h);
	if (st != 0)
		hs_finish(h, st < 0 ? -st : 0);
}

static void hs_event(struct stream *s, enum stream_event ev, int err)
{
	if (ev == STREAM_EV_ERROR)
		hs_finish(s->ud, err ? err : ECONNRESET);
}

static void hs_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct handshake *h = t->data;
	(void)loop;
	(void)revents;
	log_info("node %s (%s): %s", h->n->name, h->n->addr, h->proto->timeout_msg);
	hs_finish(h, ETIMEDOUT);
}

void handshake_start(const struct handshake_proto *proto, struct node *n, struct stream *lower, double timeout,
		     const void *req, size_t len, void *arg, stream_done_cb cb, void *ctx)
{
	struct handshake *h = xcalloc(1, sizeof *h);
	h->proto = proto;
	h->n = n;
	h->lower = lower;
	h->arg = arg;
	h->cb = cb;
	h->ctx = ctx;
	ev_timer_init(&h->timer, hs_timeout, timeout, 0);
	h->timer.data = h;
	ev_timer_start(lower->w->loop, &h->timer);
	stream_set_callbacks(lower, hs_read, hs_event, h);
	if (stream_write(lower, req, len) < 0) {
		hs_finish(h, ECONNRESET);
		return;
	}
	stream_read_start(lower);
}

int handshake_timeout_parse(struct node *n, double *timeout, struct cfg_err *e)
{
	if (md_duration(n->connector.md, "connectTimeout", 10, timeout, e) < 0)
		return -1;
	if (*timeout <= 0)
		*timeout = 10;
	return 0;
}
