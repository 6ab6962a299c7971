#include "src/core/stream.h"

#include <stdlib.h>
#include <string.h>

#include "src/core/rate.h"
#include "src/core/util.h"

void stream_init(struct stream *s, const struct stream_ops *ops, struct worker *w)
{
	memset(s, 0, sizeof *s);
	s->ops = ops;
	s->w = w;
}

void stream_set_callbacks(struct stream *s, stream_read_cb r, stream_event_cb e, void *ud)
{
	s->on_read = r;
	s->on_event = e;
	s->ud = ud;
}

/* Runs from the worker's deferred queue: hand pushed-back bytes to the reader. */
static void deliver_pending(void *arg)
{
	struct stream *s = arg;
	s->delivering = 0;
	if (s->closed || !s->reading)
		return;
	while (s->pending.len && s->reading && !s->closed) {
		struct readahead ra = s->pending;
		s->pending.data = NULL;
		s->pending.len = 0;
		stream_emit_read(s, ra.data, ra.len);
		free(ra.data);
	}
	if (!s->closed && s->reading && !s->pending.len)
		s->ops->read_start(s);
}

void stream_read_start(struct stream *s)
{
	if (s->closed)
		return;
	s->reading = 1;
	if (s->pending.len) {
		s->ops->read_stop(s); /* pushed-back bytes must come before new ones */
		if (!s->delivering) {
			s->delivering = 1;
			worker_defer(s->w, deliver_pending, s);
		}
		return;
	}
	s->ops->read_start(s);
}

void stream_read_stop(struct stream *s)
{
	if (s->closed)
		return;
	s->reading = 0;
	s->ops->read_stop(s);
}

int stream_write(struct stream *s, const void *data, size_t len)
{
	if (s->closed || s->shut_wr)
		return -1;
	if (!len)
		return 0;
	return s->ops->write(s, data, len);
}

void stream_shutdown(struct stream *s)
{
	if (s->closed || s->shut_wr)
		return;
	s->shut_wr = 1;
	s->ops->shutdown(s);
}

static void stream_free(void *arg) { free(arg); }

/* Set once by the services layer, before any stream holds a service. */
static const struct stream_svc_hooks *svc_hooks;

void stream_set_svc_hooks(const struct stream_svc_hooks *h) { svc_hooks = h; }

void stream_account_transfer(struct stream *s, uint64_t in, uint64_t out)
{
	if (s && s->svc && svc_hooks->transfer && (in || out))
		svc_hooks->transfer(s->svc, s->w, in, out);
}

void stream_pipe_ended(const struct stream *s, const struct stream *peer, uint64_t in, uint64_t out,
		       const char *result)
{
	if (s && s->svc && svc_hooks->pipe_end)
		svc_hooks->pipe_end(s->svc, s, peer, in, out, result);
}

void stream_set_route(struct stream *s, const char *target, const char *chain, const char *node)
{
	const char *src[3] = { target ? target : "", chain, node };
	size_t len[3], total = sizeof *s->route;
	for (int i = 0; i < 3; i++)
		total += (len[i] = src[i] ? strlen(src[i]) + 1 : 0);
	struct stream_route *r = xmalloc(total);
	char *p = (char *)(r + 1);
	const char **dst[3] = { &r->target, &r->chain, &r->node };
	for (int i = 0; i < 3; i++) {
		*dst[i] = src[i] ? memcpy(p, src[i], len[i]) : NULL;
		p += len[i];
	}
	free(s->route);
	s->route = r;
}

void stream_close(struct stream *s)
{
	if (!s || s->closed)
		return;
	s->closed = 1;
	s->reading = 0;
	s->ops->close(s);
	if (s->svc_hold && svc_hooks->release_hold)
		svc_hooks->release_hold(s->svc_hold);
	s->svc_hold = NULL;
	/* before the service reference: the shared buckets belong to its configuration */
	rate_conn_release(s->rate);
	s->rate = NULL;
	if (s->svc) {
		if (s->svc_since > 0 && svc_hooks->request_end)
			svc_hooks->request_end(s->svc, s->w, s->svc_since);
		svc_hooks->release(s->svc);
	}
	s->svc = NULL;
	s->svc_since = 0;
	free(s->pending.data);
	s->pending.data = NULL;
	s->pending.len = 0;
	free(s->route);
	s->route = NULL;
	worker_defer(s->w, stream_free, s);
}

int stream_fd(struct stream *s) { return s->ops->fd ? s->ops->fd(s) : -1; }

void stream_unread(struct stream *s, const void *data, size_t len)
{
	if (!len)
		return;
	char *p = xmalloc(s->pending.len + len);
	memcpy(p, data, len);
	if (s->pending.len)
		memcpy(p + len, s->pending.data, s->pending.len);
	free(s->pending.data);
	s->pending.data = p;
	s->pending.len += len;
}

void stream_emit_read(struct stream *s, const char *data, size_t len)
{
	if (!s->closed && s->on_read)
		s->on_read(s, data, len);
}

void stream_emit_event(struct stream *s, enum stream_event ev, int err)
{
	if (!s->closed && s->on_event)
		s->on_event(s, ev, err);
}

/* ---- close after flush ---- */

struct flush_close {
	struct stream *s;
	ev_timer timer;
};

static void flush_close_done(struct flush_close *fc)
{
	ev_timer_stop(fc->s->w->loop, &fc->timer);
	stream_close(fc->s);
	free(fc);
}

static void flush_close_read(struct stream *s, const char *data, size_t len)
{
	(void)s;
	(void)data;
	(void)len;
}

static void flush_close_event(struct stream *s, enum stream_event ev, int err)
{
	(void)ev;
	(void)err;
	flush_close_done(s->ud);
}

static void flush_close_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	flush_close_done(t->data);
}

void stream_close_after_flush(struct stream *s)
{
	if (s->closed)
		return;
	stream_read_stop(s);
	stream_shutdown(s);
	if (!s->wqueued) {
		stream_close(s);
		return;
	}
	struct flush_close *fc = xcalloc(1, sizeof *fc);
	fc->s = s;
	ev_timer_init(&fc->timer, flush_close_timeout, 5, 0);
	fc->timer.data = fc;
	ev_timer_start(s->w->loop, &fc->timer);
	stream_set_callbacks(s, flush_close_read, flush_close_event, fc);
}

/* One result waiting for the loop (stream_done_later); freed once delivered. */
struct done_later {
	stream_done_cb cb;
	void *ctx;
	struct stream *s;
	int err;
};

static void done_later_run(void *arg)
{
	struct done_later *d = arg;
	d->cb(d->ctx, d->s, d->err);
	free(d);
}

void stream_done_later(struct worker *w, stream_done_cb cb, void *ctx, struct stream *s, int err)
{
	struct done_later *d = xmalloc(sizeof *d);
	d->cb = cb;
	d->ctx = ctx;
	d->s = s;
	d->err = err;
	worker_defer(w, done_later_run, d);
}
