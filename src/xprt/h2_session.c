/*
 * HTTP/2 sessions and streams over a lower stream (see h2_session.h), with nghttp2.
 *
 * Two records per HTTP/2 stream: the owner's struct h2_stream (a struct stream, freed by
 * stream_close like any other) and the session's struct h2s, which nghttp2 knows as the
 * stream's user data and which outlives the owner until nghttp2 is done with the stream
 * (END_STREAM still to send after the owner closed, a reset to answer).
 *
 * Re-entrancy: nghttp2 runs only inside the session's entry points (the lower stream's
 * callbacks and one deferred "tick"); an owner's call (write, shutdown, close, read_start)
 * only records what it wants and schedules the tick. Inside nghttp2's callbacks owners may
 * get data, EOF, errors and (server) new requests or (client) responses; they may then call
 * the stream operations, which only submit to nghttp2 (allowed inside its callbacks). The
 * nghttp2 session is deleted and memory freed only from the tick.
 */
#include "src/xprt/h2_session.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/buf.h"
#include "src/core/log.h"
#include "src/core/util.h"

struct rchunk {
	struct rchunk *next;
	size_t len;
	char data[];
};

struct h2_stream;

/* The session's record of one HTTP/2 stream. */
struct h2s {
	struct h2_session *sess;
	struct h2_stream *owner;            /* NULL once the owner closed it */
	struct h2s *prev, *next;            /* the session's list */
	struct h2s *rnext;                  /* the ready list */
	int32_t id;
	/* outgoing: what the owner wrote, from out.p + out_off */
	struct buf out;
	size_t out_off;
	unsigned open : 1;                  /* nghttp2 still has the stream */
	unsigned has_body : 1;              /* a data provider is attached */
	unsigned deferred : 1;              /* the provider said DEFERRED: resume on write */
	unsigned out_eof : 1;               /* END_STREAM once out is empty */
	unsigned local_ended : 1;           /* END_STREAM sent */
	unsigned remote_ended : 1;          /* the peer's END_STREAM came */
	unsigned eof_delivered : 1;
	unsigned peer_stopped : 1;          /* reset with NO_ERROR: the peer reads no more */
	unsigned stop_delivered : 1;
	unsigned reset : 1;                 /* reset with an error: ERROR pending */
	unsigned reset_delivered : 1;
	unsigned rst_after_end : 1;         /* the owner closed: reset once END_STREAM went out */
	unsigned want_drain : 1, drain_due : 1;
	unsigned in_ready : 1;
	unsigned active : 1;                /* the owner's read_start without read_stop */
	/* received, not read yet */
	struct rchunk *rq_head, *rq_tail;
	size_t rq_len;
	/* client */
	h2_response_cb cb;                  /* until the response (or failure) is told */
	void *ctx;
	int status;
	unsigned responded : 1;
	unsigned early : 1;                 /* h2_session_call: the owner has it before the response */
	/* server */
	struct buf hdr;                     /* "name\0value\0" pairs while headers arrive */
	size_t n_hdr;
	struct h2_nv *nv;                   /* pointers into hdr, once complete */
	struct h2_request req;
	unsigned answered : 1, announced : 1;
	/* h2_stream_set_trailers: "name\0value\0" pairs sent in a HEADERS frame after the body */
	struct buf trailers;
	size_t n_trailers;
};

struct h2_stream {
	struct stream base;
	struct h2s *x;
};

struct h2_session {
	struct worker *w;
	struct stream *lower;               /* owned; NULL once closed */
	nghttp2_session *ng;                /* NULL once deleted */
	int server;
	struct h2_config cfg;
	struct h2_session_callbacks cb;
	void *ud;
	struct h2s *head;                   /* every record not freed yet */
	struct h2s *ready;                  /* records with something to tell their owner */
	size_t n_owned;                     /* owner streams not closed */
	size_t holds;                       /* h2_session_hold */
	char peer[64];
	char local[64];             /* the lower stream's (a PROXY header's destination) */
	int in_ng;                          /* inside nghttp2 */
	int dead;                           /* the connection is gone */
	int released;                       /* the owner closed it or was told it closed */
	int goaway;                         /* the peer sent GOAWAY: no new requests */
	int close_when_idle;                /* h2_session_forget: end with the last stream */
	int tick_scheduled;
	int fail_err, fail_pending;
};

static const struct stream_ops h2_stream_ops;

void h2_config_default(struct h2_config *c)
{
	c->stream_window = 1 << 20;
	c->conn_window = 8 << 20;
	c->max_streams = 1000;
	c->max_header_bytes = 64 * 1024;
}

/* ---- records ---- */

static struct h2s *h2s_new(struct h2_session *s)
{
	struct h2s *x = xcalloc(1, sizeof *x);
	x->sess = s;
	x->next = s->head;
	if (s->head)
		s->head->prev = x;
	s->head = x;
	struct h2_stream *hs = xcalloc(1, sizeof *hs);
	stream_init(&hs->base, &h2_stream_ops, s->w);
	memcpy(hs->base.peer, s->peer, sizeof hs->base.peer);
	memcpy(hs->base.local, s->local, sizeof hs->base.local);
	hs->x = x;
	x->owner = hs;
	s->n_owned++;
	return x;
}

static void rq_drop(struct h2s *x)
{
	while (x->rq_head) {
		struct rchunk *c = x->rq_head;
		x->rq_head = c->next;
		free(c);
	}
	x->rq_tail = NULL;
	x->rq_len = 0;
}

static void h2s_free(struct h2s *x)
{
	rq_drop(x);
	buf_free(&x->out);
	buf_free(&x->hdr);
	buf_free(&x->trailers);
	free(x->nv);
	free(x);
}

static void h2s_unlink_free(struct h2_session *s, struct h2s *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		s->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	h2s_free(x);
}

static void session_tick(void *arg);

static void schedule_tick(struct h2_session *s)
{
	if (s->tick_scheduled)
		return;
	s->tick_scheduled = 1;
	worker_defer(s->w, session_tick, s);
}

static void make_ready(struct h2s *x)
{
	if (x->in_ready || !x->owner)
		return;
	x->in_ready = 1;
	x->rnext = x->sess->ready;
	x->sess->ready = x;
	schedule_tick(x->sess);
}

static void out_compact(struct h2s *x)
{
	if (x->out_off && x->out_off == x->out.len) {
		x->out.len = x->out_off = 0;
	} else if (x->out_off > 65536 && x->out_off * 2 > x->out.len) {
		memmove(x->out.p, x->out.p + x->out_off, x->out.len - x->out_off);
		x->out.len -= x->out_off;
		x->out_off = 0;
	}
}

static size_t out_len(const struct h2s *x) { return x->out.len - x->out_off; }

static void update_wqueued(struct h2s *x)
{
	if (!x->owner)
		return;
	x->owner->base.wqueued = out_len(x);
	if (x->owner->base.wqueued)
		x->want_drain = 1;
	else if (x->want_drain) {
		x->drain_due = 1;
		make_ready(x);
	}
}

/* The owner read n bytes: grant them back to the peer. */
static void consumed(struct h2_session *s, int32_t id, size_t n)
{
	if (!n || !s->ng || s->dead)
		return;
	nghttp2_session_consume(s->ng, id, n);
	if (!s->in_ng)
		schedule_tick(s);
}

/* ---- nghttp2 callbacks ---- */

static nghttp2_nv *nv_make(const struct h2_nv *nv, size_t n, const char *status);

/* The trailers end the stream instead of the last DATA frame (nghttp2 copies the fields). */
static int send_trailers(nghttp2_session *ng, struct h2s *x)
{
	struct h2_nv *nv = xcalloc(x->n_trailers, sizeof *nv);
	const char *p = x->trailers.p;
	for (size_t i = 0; i < x->n_trailers; i++) {
		nv[i].name = p;
		p += strlen(p) + 1;
		nv[i].value = p;
		p += strlen(p) + 1;
	}
	nghttp2_nv *a = nv_make(nv, x->n_trailers, NULL);
	int r = nghttp2_submit_trailer(ng, x->id, a, x->n_trailers);
	free(a);
	free(nv);
	return r;
}

static ssize_t data_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
			    nghttp2_data_source *src, void *ud)
{
	struct h2s *x = src->ptr;
	(void)ng;
	(void)id;
	(void)ud;
	size_t n = out_len(x);
	if (n > length)
		n = length;
	if (n)
		memcpy(buf, x->out.p + x->out_off, n);
	x->out_off += n;
	out_compact(x);
	update_wqueued(x);
	if (!out_len(x)) {
		if (x->out_eof) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			if (x->n_trailers && send_trailers(ng, x) == 0)
				*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		} else if (!n) {
			x->deferred = 1;
			return NGHTTP2_ERR_DEFERRED;
		}
	}
	return (ssize_t)n;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2_session *s = ud;
	if (!s->server || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2s *x = h2s_new(s);
	x->id = frame->hd.stream_id;
	x->open = 1;
	nghttp2_session_set_stream_user_data(ng, x->id, x);
	return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
		     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct h2_session *s = ud;
	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct h2s *x = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (!x)
		return 0;
	if (s->server) {
		if (frame->headers.cat != NGHTTP2_HCAT_REQUEST || x->announced)
			return 0; /* trailers: not kept */
		if (x->hdr.len + namelen + valuelen + 2 > s->cfg.max_header_bytes) {
			log_info("http2 %s: stream %d: request header block over %zu bytes", s->peer, x->id,
				 s->cfg.max_header_bytes);
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		buf_append(&x->hdr, name, namelen);
		buf_append(&x->hdr, "", 1);
		buf_append(&x->hdr, value, valuelen);
		buf_append(&x->hdr, "", 1);
		x->n_hdr++;
		return 0;
	}
	if (namelen == 7 && !memcmp(name, ":status", 7)) {
		int st = 0;
		for (size_t i = 0; i < valuelen && i < 3; i++)
			st = st * 10 + (value[i] - '0');
		x->status = st;
	}
	return 0;
}

/* The request's fields, once its header block is complete. */
static void request_build(struct h2s *x)
{
	static const char empty[] = "";
	size_t n = x->n_hdr, k = 0;
	const char *p = x->hdr.p, *end = x->hdr.p + x->hdr.len;
	x->nv = xcalloc(n ? n : 1, sizeof *x->nv);
	x->req.method = x->req.scheme = x->req.authority = x->req.path = empty;
	while (p && p < end) {
		const char *name = p;
		p += strlen(p) + 1;
		const char *value = p;
		p += strlen(p) + 1;
		if (!strcmp(name, ":method"))
			x->req.method = value;
		else if (!strcmp(name, ":scheme"))
			x->req.scheme = value;
		else if (!strcmp(name, ":authority"))
			x->req.authority = value;
		else if (!strcmp(name, ":path"))
			x->req.path = value;
		else if (name[0] != ':') {
			x->nv[k].name = name;
			x->nv[k].value = value;
			k++;
		}
	}
	x->req.headers = x->nv;
	x->req.n_headers = k;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	struct h2_session *s = ud;
	struct h2s *x;

	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		s->goaway = 1;
		return 0;
	case NGHTTP2_DATA:
	case NGHTTP2_HEADERS:
		break;
	default:
		return 0;
	}
	x = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (!x)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS) {
		if (s->server && frame->headers.cat == NGHTTP2_HCAT_REQUEST && !x->announced) {
			request_build(x);
			x->announced = 1;
			if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
				x->remote_ended = 1;
				x->req.end_stream = 1;
			}
			if (x->owner && s->cb.on_request)
				s->cb.on_request(s->ud, s, &x->owner->base);
			else if (x->owner)
				stream_close(&x->owner->base);
			return 0;
		}
		if (!s->server && frame->headers.cat == NGHTTP2_HCAT_RESPONSE && !x->responded) {
			if (x->status >= 100 && x->status < 200) {
				x->status = 0; /* an interim response: the final one follows */
				return 0;
			}
			x->responded = 1;
			if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
				x->remote_ended = 1;
			h2_response_cb cb = x->cb;
			x->cb = NULL;
			if (x->early && (x->status < 200 || x->status > 299)) {
				log_debug("http2 %s: stream %d answered %d", s->peer, x->id, x->status);
				x->reset = 1;
			}
			if (x->remote_ended || x->reset)
				make_ready(x);
			if (cb && x->owner)
				cb(x->ctx, &x->owner->base, x->status, 0);
			return 0;
		}
	}
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		x->remote_ended = 1;
		make_ready(x);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	struct h2_session *s = ud;
	(void)flags;
	struct h2s *x = nghttp2_session_get_stream_user_data(ng, id);
	if (!x || !x->owner) {
		nghttp2_session_consume(ng, id, len); /* nobody reads it: the window goes on */
		return 0;
	}
	struct stream *st = &x->owner->base;
	if (st->reading && x->active && !x->rq_head && !x->in_ready) {
		stream_emit_read(st, (const char *)data, len);
		consumed(s, id, len);
		return 0;
	}
	struct rchunk *c = xmalloc(sizeof *c + len);
	c->next = NULL;
	c->len = len;
	memcpy(c->data, data, len);
	if (x->rq_tail)
		x->rq_tail->next = c;
	else
		x->rq_head = c;
	x->rq_tail = c;
	x->rq_len += len;
	if (st->reading && x->active)
		make_ready(x);
	return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
	(void)ud;
	if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	struct h2s *x = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (!x)
		return 0;
	x->local_ended = 1;
	if (x->rst_after_end && x->open && !x->remote_ended)
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, x->id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct h2_session *s = ud;
	struct h2s *x = nghttp2_session_get_stream_user_data(ng, id);
	if (!x)
		return 0;
	x->open = 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	if (!x->owner)
		return 0; /* reaped by the tick */
	if (!s->server && !x->responded) {
		/* refused, reset or never sent: the request failed */
		x->reset = 1;
		make_ready(x);
		return 0;
	}
	if (code != NGHTTP2_NO_ERROR && !(x->remote_ended && x->local_ended)) {
		log_debug("http2 %s: stream %d reset by the peer (%s)", s->peer, id, nghttp2_http2_strerror(code));
		x->reset = 1;
		rq_drop(x);
	} else {
		x->remote_ended = 1;
		if (!x->local_ended)
			x->peer_stopped = 1;
	}
	make_ready(x);
	return 0;
}

/* ---- the session's work ---- */

static void session_fail(struct h2_session *s, int err);

static void session_fail_deferred(void *arg)
{
	struct h2_session *s = arg;
	s->fail_pending = 0;
	session_fail(s, s->fail_err);
	schedule_tick(s);
}

static void session_fail_later(struct h2_session *s, int err)
{
	if (s->dead || s->fail_pending)
		return;
	s->fail_pending = 1;
	s->fail_err = err;
	worker_defer(s->w, session_fail_deferred, s);
}

/* Move what nghttp2 has to send to the lower stream, while it takes it. 0, or -1 when the
 * session failed (then s->dead). */
static int session_flush(struct h2_session *s)
{
	if (s->dead || !s->ng)
		return 0;
	while (s->lower->wqueued <= STREAM_HIGH_WATER) {
		const uint8_t *data;
		s->in_ng = 1;
		ssize_t n = nghttp2_session_mem_send(s->ng, &data);
		s->in_ng = 0;
		if (n < 0) {
			log_info("http2 %s: %s", s->peer, nghttp2_strerror((int)n));
			session_fail(s, EPROTO);
			return -1;
		}
		if (n == 0)
			break;
		if (stream_write(s->lower, data, (size_t)n) < 0) {
			session_fail(s, EPIPE);
			return -1;
		}
	}
	if (!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng) && !s->lower->wqueued) {
		log_debug("http2 %s: session finished", s->peer);
		session_fail(s, 0);
		return -1;
	}
	return 0;
}

/* Tell the owner what is due, as far as it reads. */
static void deliver(struct h2s *x)
{
	struct h2_session *s = x->sess;
	struct h2_stream *hs = x->owner;
	if (!hs)
		return;
	struct stream *st = &hs->base;

	if (x->cb) {
		/* a request that failed before its response */
		h2_response_cb cb = x->cb;
		x->cb = NULL;
		cb(x->ctx, NULL, 0, s->dead ? ECONNABORTED : ECONNRESET);
		stream_close(st);
		return;
	}
	if (x->reset) {
		if (!x->reset_delivered) {
			x->reset_delivered = 1;
			stream_emit_event(st, STREAM_EV_ERROR, ECONNRESET);
		}
		return;
	}
	while (!st->closed && st->reading && x->active && x->rq_head) {
		struct rchunk *c = x->rq_head;
		x->rq_head = c->next;
		if (!x->rq_head)
			x->rq_tail = NULL;
		x->rq_len -= c->len;
		consumed(s, x->id, c->len);
		stream_emit_read(st, c->data, c->len);
		free(c);
	}
	if (st->closed)
		return;
	if (st->reading && x->active && !x->rq_head && x->remote_ended && !x->eof_delivered) {
		x->eof_delivered = 1;
		stream_emit_read(st, NULL, 0);
		if (st->closed)
			return;
	}
	if (x->eof_delivered && x->peer_stopped && !x->stop_delivered && !st->shut_wr) {
		x->stop_delivered = 1;
		stream_emit_event(st, STREAM_EV_ERROR, EPIPE);
		return;
	}
	if (x->drain_due) {
		x->drain_due = 0;
		if (!st->wqueued && x->want_drain) {
			x->want_drain = 0;
			stream_emit_event(st, STREAM_EV_DRAINED, 0);
		}
	}
}

static void session_free(struct h2_session *s)
{
	while (s->head)
		h2s_unlink_free(s, s->head);
	free(s);
}

/* Flush, tell owners what is due, drop records nobody needs. From entry points only. */
static void session_process(struct h2_session *s)
{
	for (int round = 0; round < 4; round++) {
		session_flush(s);
		if (!s->ready)
			break;
		while (s->ready) {
			struct h2s *x = s->ready;
			s->ready = x->rnext;
			x->in_ready = 0;
			deliver(x);
		}
	}
	if (s->ready)
		schedule_tick(s);
	session_flush(s);
	/* records nobody needs any more */
	struct h2s *x = s->head;
	while (x) {
		struct h2s *next = x->next;
		if (!x->owner && (!x->open || s->dead) && !x->in_ready)
			h2s_unlink_free(s, x);
		x = next;
	}
	if (s->dead && s->released && !s->n_owned && !s->holds && !s->tick_scheduled)
		schedule_tick(s); /* the tick frees it */
}

static void session_tick(void *arg)
{
	struct h2_session *s = arg;
	s->tick_scheduled = 0;
	session_process(s);
	if (s->dead && s->released && !s->n_owned && !s->holds && !s->fail_pending && !s->ready &&
	    !s->tick_scheduled)
		session_free(s);
}

static void session_stop(struct h2_session *s)
{
	s->dead = 1;
	if (s->ng) {
		nghttp2_session_del(s->ng);
		s->ng = NULL;
	}
	stream_close(s->lower);
	s->lower = NULL;
	for (struct h2s *x = s->head; x; x = x->next)
		x->open = 0;
}

/* The connection died. From an entry point only, outside nghttp2. */
static void session_fail(struct h2_session *s, int err)
{
	if (s->dead)
		return;
	log_debug("http2 session with %s closed: %s", s->peer, err ? strerror(err) : "end of stream");
	session_stop(s);
	struct h2s *x = s->head;
	while (x) {
		struct h2s *next = x->next;
		if (x->owner) {
			if (x->cb) {
				h2_response_cb cb = x->cb;
				x->cb = NULL;
				cb(x->ctx, NULL, 0, err ? err : ECONNRESET);
				stream_close(&x->owner->base);
			} else if (!x->owner->base.closed) {
				x->reset = x->reset_delivered = 1;
				stream_emit_event(&x->owner->base, STREAM_EV_ERROR, err ? err : ECONNRESET);
			}
		}
		x = next;
	}
	if (!s->released) {
		s->released = 1;
		if (s->cb.on_closed)
			s->cb.on_closed(s->ud, s, err);
	}
	schedule_tick(s);
}

/* ---- the lower stream ---- */

static void lower_read(struct stream *lower, const char *data, size_t len)
{
	struct h2_session *s = lower->ud;
	if (!len) {
		session_fail(s, 0);
		return;
	}
	s->in_ng = 1;
	ssize_t r = nghttp2_session_mem_recv(s->ng, (const uint8_t *)data, len);
	s->in_ng = 0;
	if (r < 0) {
		log_info("http2 %s: %s", s->peer, nghttp2_strerror((int)r));
		/* tell the peer why, as far as the lower stream takes it */
		session_flush(s);
		session_fail(s, EPROTO);
		return;
	}
	session_process(s);
}

static void lower_event(struct stream *lower, enum stream_event ev, int err)
{
	struct h2_session *s = lower->ud;
	if (ev == STREAM_EV_ERROR) {
		session_fail(s, err ? err : ECONNRESET);
		schedule_tick(s);
		return;
	}
	session_process(s);
}

/* ---- stream ops ---- */

static void h2_read_start(struct stream *st)
{
	struct h2s *x = ((struct h2_stream *)st)->x;
	x->active = 1;
	if (x->rq_head || (x->remote_ended && !x->eof_delivered) || x->peer_stopped || x->reset)
		make_ready(x);
}

static void h2_read_stop(struct stream *st) { ((struct h2_stream *)st)->x->active = 0; }

static int h2_write(struct stream *st, const char *data, size_t len)
{
	struct h2s *x = ((struct h2_stream *)st)->x;
	struct h2_session *s = x->sess;
	if (s->dead || !x->open || x->reset || x->peer_stopped || !x->has_body || x->out_eof)
		return -1;
	buf_append(&x->out, data, len);
	update_wqueued(x);
	if (x->deferred) {
		x->deferred = 0;
		nghttp2_session_resume_data(s->ng, x->id);
	}
	if (!s->in_ng)
		schedule_tick(s);
	return 0;
}

static void h2_shutdown(struct stream *st)
{
	struct h2s *x = ((struct h2_stream *)st)->x;
	struct h2_session *s = x->sess;
	if (s->dead || !x->open || x->out_eof || !x->has_body)
		return;
	x->out_eof = 1;
	if (x->deferred) {
		x->deferred = 0;
		nghttp2_session_resume_data(s->ng, x->id);
	}
	if (!s->in_ng)
		schedule_tick(s);
}

static void h2_close(struct stream *st)
{
	struct h2s *x = ((struct h2_stream *)st)->x;
	struct h2_session *s = x->sess;
	x->owner = NULL;
	s->n_owned--;
	size_t unread = x->rq_len;
	rq_drop(x);
	if (!s->dead && x->open) {
		consumed(s, x->id, unread);
		if (x->cb || (s->server && !x->answered) || out_len(x)) {
			/* never answered, or bytes that will not go: reset */
			x->cb = NULL;
			nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, x->id,
						  s->server && !x->answered ? NGHTTP2_REFUSED_STREAM : NGHTTP2_CANCEL);
			buf_free(&x->out);
			x->out_off = 0;
		} else if (!x->local_ended) {
			/* END_STREAM after what was written (or with the answer's HEADERS) */
			x->rst_after_end = 1;
			if (!x->out_eof) {
				x->out_eof = 1;
				if (x->deferred) {
					x->deferred = 0;
					nghttp2_session_resume_data(s->ng, x->id);
				}
			}
		} else if (!x->remote_ended) {
			nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, x->id, NGHTTP2_NO_ERROR);
		}
	}
	if (s->close_when_idle && !s->n_owned && !s->dead)
		session_fail_later(s, 0);
	schedule_tick(s);
}

static const struct stream_ops h2_stream_ops = {
	.name = "h2",
	.read_start = h2_read_start,
	.read_stop = h2_read_stop,
	.write = h2_write,
	.shutdown = h2_shutdown,
	.close = h2_close,
};

int h2_stream_is(const struct stream *st) { return st && st->ops == &h2_stream_ops; }

const struct h2_request *h2_stream_request(struct stream *st)
{
	if (!h2_stream_is(st))
		return NULL;
	struct h2s *x = ((struct h2_stream *)st)->x;
	return x->sess->server && x->announced ? &x->req : NULL;
}

static nghttp2_nv *nv_make(const struct h2_nv *nv, size_t n, const char *status)
{
	nghttp2_nv *a = xcalloc(n + 1, sizeof *a);
	size_t k = 0;
	if (status) {
		a[k].name = (uint8_t *)":status";
		a[k].namelen = 7;
		a[k].value = (uint8_t *)status;
		a[k].valuelen = strlen(status);
		k++;
	}
	for (size_t i = 0; i < n; i++, k++) {
		a[k].name = (uint8_t *)nv[i].name;
		a[k].namelen = strlen(nv[i].name);
		a[k].value = (uint8_t *)nv[i].value;
		a[k].valuelen = strlen(nv[i].value);
		a[k].flags = NGHTTP2_NV_FLAG_NONE;
	}
	return a;
}

int h2_stream_respond(struct stream *st, int status, const struct h2_nv *nv, size_t n, int end)
{
	if (!h2_stream_is(st) || st->closed)
		return -1;
	struct h2s *x = ((struct h2_stream *)st)->x;
	struct h2_session *s = x->sess;
	if (!s->server || x->answered || s->dead || !x->open)
		return -1;
	char code[8];
	snprintf(code, sizeof code, "%03d", status);
	nghttp2_nv *a = nv_make(nv, n, code);
	nghttp2_data_provider prd = { .source.ptr = x, .read_callback = data_read_cb };
	int r = nghttp2_submit_response(s->ng, x->id, a, n + 1, end ? NULL : &prd);
	free(a);
	if (r != 0)
		return -1;
	x->answered = 1;
	x->has_body = !end;
	if (end)
		x->out_eof = 1;
	if (!s->in_ng)
		schedule_tick(s);
	return 0;
}

int h2_stream_set_trailers(struct stream *st, const struct h2_nv *nv, size_t n)
{
	if (!h2_stream_is(st) || st->closed)
		return -1;
	struct h2s *x = ((struct h2_stream *)st)->x;
	if (x->out_eof || x->local_ended)
		return -1;
	buf_free(&x->trailers);
	x->n_trailers = 0;
	for (size_t i = 0; i < n; i++) {
		buf_append(&x->trailers, nv[i].name, strlen(nv[i].name) + 1);
		buf_append(&x->trailers, nv[i].value, strlen(nv[i].value) + 1);
		x->n_trailers++;
	}
	return 0;
}

/* ---- sessions ---- */

static int h2_session_request_record(struct h2_session *s, const struct h2_nv *nv, size_t n, h2_response_cb cb,
				     void *ctx, struct h2s **out);

struct stream *h2_session_call(struct h2_session *s, const struct h2_nv *nv, size_t n)
{
	struct h2s *x;
	if (h2_session_request_record(s, nv, n, NULL, NULL, &x) < 0)
		return NULL;
	x->early = 1;
	return &x->owner->base;
}

int h2_session_request(struct h2_session *s, const struct h2_nv *nv, size_t n, h2_response_cb cb, void *ctx)
{
	struct h2s *x;
	return h2_session_request_record(s, nv, n, cb, ctx, &x);
}

static int h2_session_request_record(struct h2_session *s, const struct h2_nv *nv, size_t n, h2_response_cb cb,
				     void *ctx, struct h2s **out)
{
	if (!h2_session_usable(s))
		return -1;
	struct h2s *x = h2s_new(s);
	nghttp2_nv *a = nv_make(nv, n, NULL);
	nghttp2_data_provider prd = { .source.ptr = x, .read_callback = data_read_cb };
	int32_t id = nghttp2_submit_request(s->ng, NULL, a, n, &prd, x);
	free(a);
	if (id < 0) {
		log_debug("http2 %s: cannot send a request: %s", s->peer, nghttp2_strerror(id));
		if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE)
			s->goaway = 1;
		struct h2_stream *hs = x->owner;
		stream_close(&hs->base);
		return -1;
	}
	x->id = id;
	x->open = 1;
	x->has_body = 1;
	x->cb = cb;
	x->ctx = ctx;
	*out = x;
	if (!s->in_ng)
		schedule_tick(s);
	return 0;
}

struct h2_session *h2_session_new(struct stream *lower, int server, const struct h2_config *c,
				  const struct h2_session_callbacks *cb, void *ud)
{
	struct h2_session *s = xcalloc(1, sizeof *s);
	s->w = lower->w;
	s->lower = lower;
	s->server = server;
	if (c)
		s->cfg = *c;
	else
		h2_config_default(&s->cfg);
	if (cb)
		s->cb = *cb;
	s->ud = ud;
	snprintf(s->peer, sizeof s->peer, "%s", lower->peer);
	snprintf(s->local, sizeof s->local, "%s", lower->local);

	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_option_new(&opt);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	if (server)
		nghttp2_session_server_new2(&s->ng, cbs, s, opt);
	else
		nghttp2_session_client_new2(&s->ng, cbs, s, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);

	nghttp2_settings_entry iv[4];
	size_t niv = 0;
	iv[niv++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, s->cfg.stream_window };
	iv[niv++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)s->cfg.max_header_bytes };
	if (server)
		iv[niv++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->cfg.max_streams };
	else
		iv[niv++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 };
	nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, niv);
	if (s->cfg.conn_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
		nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0, (int32_t)s->cfg.conn_window);

	stream_set_callbacks(lower, lower_read, lower_event, s);
	stream_read_start(lower);
	schedule_tick(s); /* the preface and SETTINGS */
	return s;
}

void h2_session_close(struct h2_session *s)
{
	if (!s || s->released)
		return;
	s->released = 1;
	if (!s->dead) {
		if (s->ng && !s->in_ng) {
			nghttp2_session_terminate_session(s->ng, NGHTTP2_NO_ERROR);
			const uint8_t *data;
			ssize_t n;
			while (s->lower && (n = nghttp2_session_mem_send(s->ng, &data)) > 0)
				stream_write(s->lower, data, (size_t)n);
		}
		session_fail_later(s, ECONNABORTED);
	}
	schedule_tick(s);
}

size_t h2_session_stream_count(const struct h2_session *s) { return s->n_owned; }

int h2_session_usable(const struct h2_session *s)
{
	return s && !s->dead && !s->released && !s->goaway && !s->fail_pending && s->ng;
}

const char *h2_session_peer(const struct h2_session *s) { return s->peer; }

void h2_session_hold(struct h2_session *s) { s->holds++; }

void h2_session_release(struct h2_session *s)
{
	s->holds--;
	schedule_tick(s);
}

void h2_session_forget(struct h2_session *s)
{
	if (!s || s->released)
		return;
	if (!s->n_owned) {
		h2_session_close(s);
		return;
	}
	s->released = 1;
	s->close_when_idle = 1;
}

struct worker *h2_session_worker(const struct h2_session *s) { return s->w; }
