/*
 * smux sessions and streams over a lower stream (see smux_session.h).
 *
 * Re-entrancy rule: events reach stream owners only from the session's own
 * entry points (the lower stream's callbacks, the keepalive timers and
 * deferred calls), never from inside an operation an owner called (write,
 * read_start, shutdown, close, open, session close): such a failure is
 * reported later through worker_defer. Stream and session memory is freed
 * by deferred calls too, so a pointer saved across an event stays valid;
 * `closed` / `dead` tell whether it is still in use.
 */
#include "src/xprt/smux_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "proto/smux.h"
#include "src/core/util.h"

#define MUX_BUCKETS 256
#define MUX_MAX_STREAMS 16384   /* a peer opening more gets an immediate FIN */

struct rchunk {
	struct rchunk *next;
	size_t len;
	char data[];
};

struct mux_stream {
	struct stream base;
	struct smux_session *sess;          /* NULL once closed */
	struct mux_stream *prev, *next;     /* the session's list */
	struct mux_stream *hnext;           /* bucket chain */
	uint32_t sid;
	struct rchunk *rq_head, *rq_tail;   /* received, not yet read; owned */
	size_t rq_len;
	char *wpend;                        /* v2: bytes beyond the peer's window; owned */
	size_t wpend_len, wpend_cap;
	uint32_t num_read, incr;            /* v2: what we consumed, and since the last UPD */
	uint32_t num_written, peer_consumed, peer_window;
	/* peer_fin: the peer sent FIN (it writes no more, and may still read: a half close);
	 * peer_gone: a second FIN, the peer closed the stream and reads no more either. */
	unsigned peer_fin : 1, peer_gone : 1, eof_sent : 1, fin_sent : 1, fin_wanted : 1, want_drain : 1, delivering : 1;
	unsigned active : 1;                /* read_start without read_stop: the core may pause us to hand out pushed-back bytes */
};

struct smux_session {
	struct worker *w;
	struct stream *lower;               /* owned; NULL once closed */
	int client;
	struct smux_config cfg;
	struct smux_callbacks cb;
	void *ud;
	struct smux_reader rd;
	uint8_t *rbuf;                      /* the reader's assembly buffer, owned */
	struct smux_stream_ids ids;
	struct mux_stream *head;            /* every stream not closed yet */
	struct mux_stream *buckets[MUX_BUCKETS];
	size_t n_streams;
	size_t buffered;                    /* received bytes waiting in stream queues */
	int lower_paused;                   /* buffered went over max_receive_buffer */
	int data_ready;                     /* a frame arrived since the last keepalive check */
	int dead;                           /* the lower stream is gone */
	int released;                       /* the owner closed it or was told it closed */
	int notify_pending, fail_pending, free_scheduled;
	int fail_err;
	ev_timer ping, check;
};

static const struct stream_ops mux_stream_ops;

/* ---- configuration ---- */

void smux_config_default(struct smux_config *c)
{
	c->version = SMUX_VERSION_1;
	c->keepalive_disabled = 0;
	c->keepalive_interval = SMUX_DEFAULT_KEEPALIVE_INTERVAL_MS / 1000.0;
	c->keepalive_timeout = SMUX_DEFAULT_KEEPALIVE_TIMEOUT_MS / 1000.0;
	c->max_frame_size = SMUX_DEFAULT_MAX_FRAME_SIZE;
	c->max_receive_buffer = SMUX_DEFAULT_MAX_RECEIVE_BUFFER;
	c->max_stream_buffer = SMUX_DEFAULT_MAX_STREAM_BUFFER;
}

/* "mux.<k>" as a flat key (GOST's form), or <k> inside a "mux" map (YAML nesting). */
static const struct cnode *mux_key(const struct cnode *md, const char *k, char *key, size_t keylen)
{
	snprintf(key, keylen, "mux.%s", k);
	if (cnode_get(md, key))
		return md;
	const struct cnode *m = cnode_get(md, "mux");
	if (m && m->kind == CN_MAP && cnode_get(m, k)) {
		snprintf(key, keylen, "%s", k);
		return m;
	}
	return md;
}

int smux_config_parse(const struct cnode *md, struct smux_config *c, struct cfg_err *e)
{
	return smux_config_parse_version(md, SMUX_VERSION_1, c, e);
}

int smux_config_parse_version(const struct cnode *md, int default_version, struct smux_config *c, struct cfg_err *e)
{
	char key[64];
	const struct cnode *m;
	long v;
	double d;

	smux_config_default(c);
	c->version = default_version;
	if (!md)
		return 0;
	m = mux_key(md, "version", key, sizeof key);
	if (md_int(m, key, 0, 0, 2, &v, e) < 0)
		return -1;
	if (v)
		c->version = (int)v;
	m = mux_key(md, "keepaliveDisabled", key, sizeof key);
	if (md_bool(m, key, 0, &c->keepalive_disabled, e) < 0)
		return -1;
	m = mux_key(md, "keepaliveInterval", key, sizeof key);
	if (md_duration(m, key, 0, &d, e) < 0)
		return -1;
	if (d > 0)
		c->keepalive_interval = d;
	m = mux_key(md, "keepaliveTimeout", key, sizeof key);
	if (md_duration(m, key, 0, &d, e) < 0)
		return -1;
	if (d > 0)
		c->keepalive_timeout = d;
	m = mux_key(md, "maxFrameSize", key, sizeof key);
	if (md_int(m, key, 0, 0, SMUX_MAX_FRAME_SIZE, &v, e) < 0)
		return -1;
	if (v)
		c->max_frame_size = (size_t)v;
	m = mux_key(md, "maxReceiveBuffer", key, sizeof key);
	if (md_int(m, key, 0, 0, INT32_MAX, &v, e) < 0)
		return -1;
	if (v)
		c->max_receive_buffer = (size_t)v;
	m = mux_key(md, "maxStreamBuffer", key, sizeof key);
	if (md_int(m, key, 0, 0, INT32_MAX, &v, e) < 0)
		return -1;
	if (v)
		c->max_stream_buffer = (size_t)v;
	/* The checks smux's VerifyConfig makes: GOST refuses the session otherwise. */
	if (!c->keepalive_disabled && c->keepalive_timeout < c->keepalive_interval) {
		m = mux_key(md, "keepaliveTimeout", key, sizeof key);
		return cfg_error(e, cnode_get(m, key) ? cnode_get(m, key) : md, "mux.keepaliveTimeout",
				 "must not be shorter than mux.keepaliveInterval (%gs)", c->keepalive_interval);
	}
	if (c->max_stream_buffer > c->max_receive_buffer) {
		m = mux_key(md, "maxStreamBuffer", key, sizeof key);
		return cfg_error(e, cnode_get(m, key) ? cnode_get(m, key) : md, "mux.maxStreamBuffer",
				 "must not be larger than mux.maxReceiveBuffer (%zu)", c->max_receive_buffer);
	}
	return 0;
}

/* ---- session helpers ---- */

static unsigned bucket_of(uint32_t sid) { return (sid >> 1) % MUX_BUCKETS; }

static struct mux_stream *stream_find(struct smux_session *s, uint32_t sid)
{
	for (struct mux_stream *ms = s->buckets[bucket_of(sid)]; ms; ms = ms->hnext)
		if (ms->sid == sid)
			return ms;
	return NULL;
}

static void stream_link(struct smux_session *s, struct mux_stream *ms)
{
	ms->sess = s;
	ms->prev = NULL;
	ms->next = s->head;
	if (s->head)
		s->head->prev = ms;
	s->head = ms;
	unsigned b = bucket_of(ms->sid);
	ms->hnext = s->buckets[b];
	s->buckets[b] = ms;
	s->n_streams++;
}

static void stream_unlink(struct smux_session *s, struct mux_stream *ms)
{
	if (ms->prev)
		ms->prev->next = ms->next;
	else
		s->head = ms->next;
	if (ms->next)
		ms->next->prev = ms->prev;
	/* ms->next stays: an iteration that saved ms may go on from it */
	struct mux_stream **pp = &s->buckets[bucket_of(ms->sid)];
	while (*pp && *pp != ms)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = ms->hnext;
	s->n_streams--;
	ms->sess = NULL;
}

static void session_free(void *arg)
{
	struct smux_session *s = arg;
	free(s->rbuf);
	free(s);
}

static void session_maybe_free(struct smux_session *s)
{
	if (s->dead && s->released && !s->n_streams && !s->notify_pending && !s->fail_pending &&
	    !s->free_scheduled) {
		s->free_scheduled = 1;
		worker_defer(s->w, session_free, s);
	}
}

static void session_stop_lower(struct smux_session *s)
{
	s->dead = 1;
	ev_timer_stop(s->w->loop, &s->ping);
	ev_timer_stop(s->w->loop, &s->check);
	stream_close(s->lower);
	s->lower = NULL;
}

/* Every live stream learns that the session is gone. Only from an entry point. */
static void session_notify_streams(struct smux_session *s, int err)
{
	struct mux_stream *ms = s->head;
	while (ms) {
		struct mux_stream *next = ms->next;
		if (!ms->base.closed)
			stream_emit_event(&ms->base, STREAM_EV_ERROR, err);
		ms = next;
	}
}

/* The session died by itself. Only from an entry point. */
static void session_fail(struct smux_session *s, int err)
{
	if (s->dead)
		return;
	log_debug("smux session over %s: closed: %s", s->lower ? s->lower->peer : "?",
		  err ? strerror(err) : "end of stream");
	session_stop_lower(s);
	session_notify_streams(s, err ? err : ECONNRESET);
	if (!s->released) {
		s->released = 1;
		if (s->cb.on_closed)
			s->cb.on_closed(s->ud, s, err);
	}
	session_maybe_free(s);
}

static void session_fail_deferred(void *arg)
{
	struct smux_session *s = arg;
	s->fail_pending = 0;
	session_fail(s, s->fail_err);
	session_maybe_free(s);
}

/* A write to the lower stream failed inside an owner's call: report it later. */
static void session_fail_later(struct smux_session *s, int err)
{
	if (s->dead || s->fail_pending)
		return;
	s->fail_pending = 1;
	s->fail_err = err;
	worker_defer(s->w, session_fail_deferred, s);
}

static int session_send(struct smux_session *s, const void *buf, size_t len)
{
	if (s->dead)
		return -1;
	if (stream_write(s->lower, buf, len) < 0) {
		session_fail_later(s, EPIPE);
		return -1;
	}
	return 0;
}

static int session_send_ctrl(struct smux_session *s, uint8_t cmd, uint32_t sid, const uint8_t *payload, size_t plen)
{
	uint8_t f[SMUX_HEADER_LEN + SMUX_UPD_LEN];
	int n = smux_frame_encode(f, sizeof f, (uint8_t)s->cfg.version, cmd, sid, payload, plen);
	return n < 0 ? -1 : session_send(s, f, (size_t)n);
}

/* Received data left the queues: read the lower stream again once there is room. */
static void session_maybe_resume(struct smux_session *s)
{
	if (s->lower_paused && !s->dead && s->buffered <= s->cfg.max_receive_buffer / 2) {
		s->lower_paused = 0;
		stream_read_start(s->lower);
	}
}

/* ---- streams: receiving ---- */

/* v2: tell the peer what was consumed, on the first read and every half buffer. */
static void stream_consumed(struct mux_stream *ms, size_t n)
{
	struct smux_session *s = ms->sess;
	if (!s || s->dead || s->cfg.version != SMUX_VERSION_2 || !n)
		return;
	ms->num_read += (uint32_t)n;
	ms->incr += (uint32_t)n;
	if (ms->incr >= s->cfg.max_stream_buffer / 2 || ms->num_read == (uint32_t)n) {
		uint8_t upd[SMUX_UPD_LEN];
		smux_upd_encode(upd, sizeof upd, ms->num_read, (uint32_t)s->cfg.max_stream_buffer);
		ms->incr = 0;
		session_send_ctrl(s, SMUX_CMD_UPD, ms->sid, upd, sizeof upd);
	}
}

static void stream_deliver(void *arg)
{
	struct mux_stream *ms = arg;
	ms->delivering = 0;
	while (!ms->base.closed && ms->active && ms->base.reading && ms->rq_head) {
		struct rchunk *c = ms->rq_head;
		ms->rq_head = c->next;
		if (!ms->rq_head)
			ms->rq_tail = NULL;
		ms->rq_len -= c->len;
		if (ms->sess)
			ms->sess->buffered -= c->len;
		stream_consumed(ms, c->len);
		stream_emit_read(&ms->base, c->data, c->len);
		free(c);
	}
	if (!ms->base.closed && ms->active && ms->base.reading && !ms->rq_head && ms->peer_fin && !ms->eof_sent) {
		ms->eof_sent = 1;
		stream_emit_read(&ms->base, NULL, 0);
	}
	if (ms->sess)
		session_maybe_resume(ms->sess);
}

static void stream_schedule_delivery(struct mux_stream *ms)
{
	if (ms->delivering || ms->base.closed)
		return;
	if (!ms->rq_head && !(ms->peer_fin && !ms->eof_sent))
		return;
	ms->delivering = 1;
	worker_defer(ms->base.w, stream_deliver, ms);
}

static void stream_queue(struct mux_stream *ms, const uint8_t *data, size_t len)
{
	struct rchunk *c = xmalloc(sizeof *c + len);
	c->next = NULL;
	c->len = len;
	memcpy(c->data, data, len);
	if (ms->rq_tail)
		ms->rq_tail->next = c;
	else
		ms->rq_head = c;
	ms->rq_tail = c;
	ms->rq_len += len;
	ms->sess->buffered += len;
}

/* ---- streams: sending ---- */

static int stream_send_psh(struct mux_stream *ms, const char *data, size_t len)
{
	struct smux_session *s = ms->sess;
	size_t mfs = s->cfg.max_frame_size, frames = (len + mfs - 1) / mfs;
	uint8_t *buf = xmalloc(len + frames * SMUX_HEADER_LEN), *p = buf;
	while (len) {
		size_t n = len < mfs ? len : mfs;
		p += smux_frame_encode(p, SMUX_HEADER_LEN + n, (uint8_t)s->cfg.version, SMUX_CMD_PSH, ms->sid,
				       (const uint8_t *)data, n);
		data += n;
		len -= n;
		ms->num_written += (uint32_t)n;
	}
	int r = session_send(s, buf, (size_t)(p - buf));
	free(buf);
	return r;
}

/* v2: how much the peer's window still takes. */
static size_t stream_window(struct mux_stream *ms)
{
	int32_t inflight = (int32_t)(ms->num_written - ms->peer_consumed);
	if (inflight < 0)
		return 0; /* the peer claims more than was sent: send nothing more */
	int32_t win = (int32_t)ms->peer_window - inflight;
	return win > 0 ? (size_t)win : 0;
}

static void stream_update_wqueued(struct mux_stream *ms)
{
	struct smux_session *s = ms->sess;
	ms->base.wqueued = ms->wpend_len + (s && s->lower ? s->lower->wqueued : 0);
	if (ms->base.wqueued)
		ms->want_drain = 1;
}

static void stream_send_fin(struct mux_stream *ms)
{
	if (ms->fin_sent || !ms->sess || ms->sess->dead)
		return;
	ms->fin_sent = 1;
	session_send_ctrl(ms->sess, SMUX_CMD_FIN, ms->sid, NULL, 0);
}

/* v2: send what the window now allows. */
static int stream_flush_pending(struct mux_stream *ms)
{
	if (!ms->wpend_len)
		return 0;
	size_t n = stream_window(ms);
	if (n > ms->wpend_len)
		n = ms->wpend_len;
	if (n) {
		if (stream_send_psh(ms, ms->wpend, n) < 0)
			return -1;
		memmove(ms->wpend, ms->wpend + n, ms->wpend_len - n);
		ms->wpend_len -= n;
	}
	if (!ms->wpend_len && ms->fin_wanted)
		stream_send_fin(ms);
	return 0;
}

static void stream_pend(struct mux_stream *ms, const char *data, size_t len)
{
	if (ms->wpend_len + len > ms->wpend_cap) {
		size_t cap = ms->wpend_cap ? ms->wpend_cap : 16384;
		while (cap < ms->wpend_len + len)
			cap *= 2;
		ms->wpend = xrealloc(ms->wpend, cap);
		ms->wpend_cap = cap;
	}
	memcpy(ms->wpend + ms->wpend_len, data, len);
	ms->wpend_len += len;
}

/* Streams waiting for DRAINED get it once nothing of theirs is queued. Only from an entry point. */
static void session_drained(struct smux_session *s)
{
	struct mux_stream *ms = s->head;
	while (ms && !s->dead) {
		struct mux_stream *next = ms->next;
		if (!ms->base.closed && ms->sess) {
			stream_update_wqueued(ms);
			if (ms->want_drain && !ms->base.wqueued) {
				ms->want_drain = 0;
				stream_emit_event(&ms->base, STREAM_EV_DRAINED, 0);
			}
		}
		ms = next;
	}
}

/* ---- stream ops ---- */

static void mux_read_start(struct stream *st)
{
	struct mux_stream *ms = (struct mux_stream *)st;
	ms->active = 1;
	stream_schedule_delivery(ms);
}

static void mux_read_stop(struct stream *st) { ((struct mux_stream *)st)->active = 0; }

static int mux_write(struct stream *st, const char *data, size_t len)
{
	struct mux_stream *ms = (struct mux_stream *)st;
	struct smux_session *s = ms->sess;
	int r = 0;

	if (!s || s->dead || ms->peer_gone || ms->fin_sent)
		return -1;
	if (s->cfg.version != SMUX_VERSION_2) {
		r = stream_send_psh(ms, data, len);
	} else if (ms->wpend_len) {
		stream_pend(ms, data, len);
	} else {
		size_t n = stream_window(ms);
		if (n > len)
			n = len;
		if (n)
			r = stream_send_psh(ms, data, n);
		if (r == 0 && n < len)
			stream_pend(ms, data + n, len - n);
	}
	stream_update_wqueued(ms);
	return r;
}

static void mux_shutdown(struct stream *st)
{
	struct mux_stream *ms = (struct mux_stream *)st;
	if (ms->wpend_len)
		ms->fin_wanted = 1;
	else
		stream_send_fin(ms);
}

static void mux_close(struct stream *st)
{
	struct mux_stream *ms = (struct mux_stream *)st;
	struct smux_session *s = ms->sess;

	if (s)
		s->buffered -= ms->rq_len;
	while (ms->rq_head) {
		struct rchunk *c = ms->rq_head;
		ms->rq_head = c->next;
		free(c);
	}
	ms->rq_tail = NULL;
	ms->rq_len = 0;
	free(ms->wpend);
	ms->wpend = NULL;
	ms->wpend_len = ms->wpend_cap = 0;
	if (!s)
		return;
	stream_send_fin(ms);
	stream_unlink(s, ms);
	session_maybe_resume(s);
	session_maybe_free(s);
}

static const struct stream_ops mux_stream_ops = {
	.name = "smux",
	.read_start = mux_read_start,
	.read_stop = mux_read_stop,
	.write = mux_write,
	.shutdown = mux_shutdown,
	.close = mux_close,
};

static struct mux_stream *stream_new(struct smux_session *s, uint32_t sid)
{
	struct mux_stream *ms = xcalloc(1, sizeof *ms);
	stream_init(&ms->base, &mux_stream_ops, s->w);
	memcpy(ms->base.peer, s->lower->peer, sizeof ms->base.peer);
	memcpy(ms->base.local, s->lower->local, sizeof ms->base.local);
	ms->sid = sid;
	ms->peer_window = SMUX_V2_INITIAL_PEER_WINDOW;
	stream_link(s, ms);
	return ms;
}

struct stream *smux_stream_open(struct smux_session *s)
{
	uint32_t sid;
	if (s->dead || s->released || smux_stream_ids_next(&s->ids, &sid) < 0)
		return NULL;
	if (session_send_ctrl(s, SMUX_CMD_SYN, sid, NULL, 0) < 0)
		return NULL;
	return &stream_new(s, sid)->base;
}

/* ---- frames from the peer ---- */

static void session_on_syn(struct smux_session *s, uint32_t sid)
{
	if (stream_find(s, sid))
		return; /* smux ignores a second SYN */
	if (s->n_streams >= MUX_MAX_STREAMS) {
		log_warn("smux session over %s: %zu streams open, refusing another", s->lower->peer, s->n_streams);
		session_send_ctrl(s, SMUX_CMD_FIN, sid, NULL, 0);
		return;
	}
	struct mux_stream *ms = stream_new(s, sid);
	if (s->cb.on_stream)
		s->cb.on_stream(s->ud, s, &ms->base);
	else
		stream_close(&ms->base);
}

static void session_on_psh(struct smux_session *s, uint32_t sid, const uint8_t *data, size_t len)
{
	struct mux_stream *ms = stream_find(s, sid);
	if (!ms) {
		/* A stream we closed, still written to by a peer that half-closed it: a second FIN tells
		 * it (portway) to stop; smux (GOST) ignores a FIN for a stream it no longer has. */
		if (len)
			session_send_ctrl(s, SMUX_CMD_FIN, sid, NULL, 0);
		return;
	}
	if (!len || ms->peer_fin)
		return; /* data after its end: dropped, as smux does */
	if (ms->active && ms->base.reading && !ms->rq_head && !ms->delivering) {
		stream_consumed(ms, len);
		stream_emit_read(&ms->base, (const char *)data, len);
		return;
	}
	stream_queue(ms, data, len);
	if (ms->active && ms->base.reading)
		stream_schedule_delivery(ms);
	(void)s;
}

static void session_on_upd(struct smux_session *s, struct mux_stream *ms, const uint8_t *payload)
{
	uint32_t consumed, window;
	if (!ms)
		return;
	smux_upd_decode(payload, SMUX_UPD_LEN, &consumed, &window);
	ms->peer_consumed = consumed;
	ms->peer_window = window;
	if (stream_flush_pending(ms) < 0 || s->dead || ms->base.closed)
		return;
	stream_update_wqueued(ms);
	if (ms->want_drain && !ms->base.wqueued) {
		ms->want_drain = 0;
		stream_emit_event(&ms->base, STREAM_EV_DRAINED, 0);
	}
}

/* The peer's FIN: EOF once what it sent is read. Writing goes on (smux has no half close, but
 * a portway peer keeps reading until it closes; a GOST peer drops what comes after its FIN). */
static void stream_on_fin(struct mux_stream *ms)
{
	ms->peer_fin = 1;
	if (ms->active && ms->base.reading)
		stream_schedule_delivery(ms);
}

/* A second FIN: the peer closed the stream. What waited for the window is lost; writes fail. */
static void stream_on_gone(struct mux_stream *ms)
{
	ms->peer_gone = 1;
	ms->wpend_len = 0;
	ms->fin_wanted = 0;
	stream_update_wqueued(ms);
	if (!ms->base.closed)
		stream_emit_event(&ms->base, STREAM_EV_ERROR, EPIPE);
}

static void session_frame(struct smux_session *s, const struct smux_frame *f)
{
	switch (f->hdr.cmd) {
	case SMUX_CMD_NOP:
		return;
	case SMUX_CMD_SYN:
		session_on_syn(s, f->hdr.sid);
		return;
	case SMUX_CMD_FIN: {
		struct mux_stream *ms = stream_find(s, f->hdr.sid);
		if (ms && !ms->peer_fin)
			stream_on_fin(ms);
		else if (ms && !ms->peer_gone)
			stream_on_gone(ms);
		return;
	}
	case SMUX_CMD_PSH:
		session_on_psh(s, f->hdr.sid, f->payload, f->payload_len);
		return;
	case SMUX_CMD_UPD:
		session_on_upd(s, stream_find(s, f->hdr.sid), f->payload);
		return;
	}
}

/* ---- the lower stream ---- */

static void session_lower_read(struct stream *lower, const char *data, size_t len)
{
	struct smux_session *s = lower->ud;
	size_t off = 0;

	if (!len) {
		session_fail(s, 0);
		return;
	}
	s->data_ready = 1;
	while (off < len && !s->dead) {
		struct smux_frame f;
		size_t used;
		int r = smux_reader_next(&s->rd, (const uint8_t *)data + off, len - off, &used, &f);
		off += used;
		if (r < 0) {
			log_info("smux session over %s: protocol error (version %u expected)", lower->peer,
				 s->cfg.version);
			session_fail(s, EPROTO);
			return;
		}
		if (r == 0)
			break;
		session_frame(s, &f);
	}
	if (!s->dead && !s->lower_paused && s->buffered > s->cfg.max_receive_buffer) {
		s->lower_paused = 1;
		stream_read_stop(s->lower);
	}
}

static void session_lower_event(struct stream *lower, enum stream_event ev, int err)
{
	struct smux_session *s = lower->ud;
	if (ev == STREAM_EV_ERROR) {
		session_fail(s, err);
		return;
	}
	session_drained(s);
}

/* ---- keepalive ---- */

static void ping_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct smux_session *s = t->data;
	(void)loop;
	(void)revents;
	session_send_ctrl(s, SMUX_CMD_NOP, 0, NULL, 0);
}

static void check_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct smux_session *s = t->data;
	(void)loop;
	(void)revents;
	/* While reading is paused for lack of buffer, silence is ours, not the peer's. */
	if (!s->data_ready && !s->lower_paused) {
		log_info("smux session over %s: nothing received for %gs", s->lower->peer, s->cfg.keepalive_timeout);
		session_fail(s, ETIMEDOUT);
		return;
	}
	s->data_ready = 0;
}

/* ---- sessions ---- */

struct smux_session *smux_session_new(struct stream *lower, int client, const struct smux_config *c,
				      const struct smux_callbacks *cb, void *ud)
{
	struct smux_session *s = xcalloc(1, sizeof *s);
	s->w = lower->w;
	s->lower = lower;
	s->client = client;
	s->cfg = *c;
	if (s->cfg.version != SMUX_VERSION_2)
		s->cfg.version = SMUX_VERSION_1;
	if (!s->cfg.max_frame_size || s->cfg.max_frame_size > SMUX_MAX_FRAME_SIZE)
		s->cfg.max_frame_size = SMUX_DEFAULT_MAX_FRAME_SIZE;
	if (cb)
		s->cb = *cb;
	s->ud = ud;
	s->rbuf = xmalloc(SMUX_MAX_FRAME_SIZE);
	smux_reader_init(&s->rd, (uint8_t)s->cfg.version, s->rbuf, SMUX_MAX_FRAME_SIZE);
	smux_stream_ids_init(&s->ids, client);
	ev_timer_init(&s->ping, ping_cb, s->cfg.keepalive_interval, s->cfg.keepalive_interval);
	ev_timer_init(&s->check, check_cb, s->cfg.keepalive_timeout, s->cfg.keepalive_timeout);
	s->ping.data = s->check.data = s;
	if (!s->cfg.keepalive_disabled) {
		ev_timer_start(s->w->loop, &s->ping);
		ev_timer_start(s->w->loop, &s->check);
	}
	stream_set_callbacks(lower, session_lower_read, session_lower_event, s);
	stream_read_start(lower);
	return s;
}

static void session_notify_deferred(void *arg)
{
	struct smux_session *s = arg;
	s->notify_pending = 0;
	session_notify_streams(s, ECONNABORTED);
	session_maybe_free(s);
}

void smux_session_close(struct smux_session *s)
{
	if (!s || s->released)
		return;
	s->released = 1;
	if (!s->dead) {
		session_stop_lower(s);
		if (s->head) {
			s->notify_pending = 1;
			worker_defer(s->w, session_notify_deferred, s);
		}
	}
	session_maybe_free(s);
}

size_t smux_session_stream_count(const struct smux_session *s) { return s->n_streams; }
