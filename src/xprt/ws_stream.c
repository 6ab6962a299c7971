/*
 * WebSocket filter stream (see ws_stream.h).
 *
 * One struct serves the whole life of a connection: first the opening
 * handshake (reading an HTTP head into `head`), then framing. Frames are
 * parsed incrementally: a header may arrive split, and a data frame's
 * payload is delivered as it arrives, never buffered whole, so the frame
 * size limit bounds nothing in memory; only control frames (at most 125
 * bytes) are collected. Input that arrives while the owner is not reading
 * waits in `inbuf` and the lower stream is paused.
 */
#include "src/xprt/ws_stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "src/core/log.h"
#include "src/core/rng.h"
#include "src/core/util.h"
#include "proto/ws.h"

#define WS_DEFAULT_HANDSHAKE_TIMEOUT 10.0
#define WS_DEFAULT_TTL 15.0
#define WS_DELIVER_CHUNK 65536     /* unmasked payload handed up per call */
#define WS_REFUSE_LINGER 2.0       /* how long a refused client may take to read the answer */

/* ---- options ---- */

static void header_add(struct ws_opts *o, const char *name, const char *value)
{
	o->headers = xrealloc(o->headers, (o->n_headers + 1) * sizeof *o->headers);
	o->headers[o->n_headers].name = xstrdup(name);
	o->headers[o->n_headers].value = xstrdup(value);
	o->n_headers++;
}

static int header_check(const struct cnode *where, const char *name, const char *value, struct cfg_err *e)
{
	static const char *const reserved[] = { "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Accept",
						"Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Host", NULL };
	if (!ws_header_name_ok(name))
		return cfg_error(e, where, "header", "\"%s\" is not a valid header name", name);
	if (!value || !ws_header_value_ok(value))
		return cfg_error(e, where, "header", "the value of %s holds a line break or a control character", name);
	for (size_t i = 0; reserved[i]; i++)
		if (!strcasecmp(name, reserved[i]))
			return cfg_error(e, where, "header", "%s is set by the WebSocket handshake itself%s", name,
					 !strcasecmp(name, "Host") ? " (use the host option)" : "");
	return 0;
}

int ws_opts_parse(struct ws_opts *o, const struct cnode *md, int client, struct cfg_err *e)
{
	memset(o, 0, sizeof *o);
	const char *path = md_str(md, "path", WS_DEFAULT_PATH);
	if (!*path)
		path = WS_DEFAULT_PATH;
	/* As Go's URL writer: a path given without its leading slash gets one. */
	size_t pl = strlen(path);
	o->path = xmalloc(pl + 2);
	snprintf(o->path, pl + 2, "%s%s", path[0] == '/' ? "" : "/", path);
	for (const unsigned char *p = (const unsigned char *)o->path; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return cfg_error(e, cnode_get(md, "path"), "path", "\"%s\" holds a space or a control character",
					 path);
	const char *host = md_str(md, "host", NULL);
	if (client && host && *host) {
		if (!ws_header_value_ok(host))
			return cfg_error(e, cnode_get(md, "host"), "host", "holds a control character");
		o->host = xstrdup(host);
	}
	const struct cnode *h = cnode_get(md, "header");
	if (h && h->kind == CN_MAP) {
		for (size_t i = 0; i < h->n; i++) {
			const struct cnode *it = h->items[i];
			if (it->kind != CN_SCALAR)
				return cfg_error(e, it, "header", "expected a header value for %s", it->key);
			if (header_check(it, it->key, it->value, e) < 0)
				return -1;
			header_add(o, it->key, it->value);
		}
	} else if (h && !(h->kind == CN_SCALAR && !*h->value)) {
		return cfg_error(e, h, "header", "expected a map of header names to values");
	}
	/* From the command line: ?header.X-Token=abc */
	for (size_t i = 0; md && md->kind == CN_MAP && i < md->n; i++) {
		const struct cnode *it = md->items[i];
		if (it->key && !strncasecmp(it->key, "header.", 7) && it->kind == CN_SCALAR) {
			if (header_check(it, it->key + 7, it->value, e) < 0)
				return -1;
			header_add(o, it->key + 7, it->value);
		}
	}
	if (md_duration(md, "handshakeTimeout", WS_DEFAULT_HANDSHAKE_TIMEOUT, &o->handshake_timeout, e) < 0)
		return -1;
	if (o->handshake_timeout <= 0)
		o->handshake_timeout = WS_DEFAULT_HANDSHAKE_TIMEOUT;
	int keepalive;
	double ttl;
	if (md_bool(md, "keepAlive", 0, &keepalive, e) < 0 || md_duration(md, "ttl", WS_DEFAULT_TTL, &ttl, e) < 0)
		return -1;
	o->keepalive = keepalive ? (ttl > 0 ? ttl : WS_DEFAULT_TTL) : 0;
	long mf;
	if (md_int(md, "maxFrameSize", WS_DEFAULT_MAX_FRAME, 1024, 1L << 30, &mf, e) < 0)
		return -1;
	o->max_frame = (uint64_t)mf;
	return 0;
}

void ws_opts_free(struct ws_opts *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_headers; i++) {
		free((char *)o->headers[i].name);
		free((char *)o->headers[i].value);
	}
	free(o->headers);
	free(o->path);
	free(o->host);
	memset(o, 0, sizeof *o);
}

void ws_opts_copy(struct ws_opts *dst, const struct ws_opts *src)
{
	*dst = *src;
	dst->path = src->path ? xstrdup(src->path) : NULL;
	dst->host = src->host ? xstrdup(src->host) : NULL;
	dst->headers = NULL;
	dst->n_headers = 0;
	for (size_t i = 0; i < src->n_headers; i++)
		header_add(dst, src->headers[i].name, src->headers[i].value);
}

/* ---- refusing a request: answer, then linger until the client has read it ---- */

struct refusal {
	struct stream *s;            /* owned */
	ev_timer timer;
};

static void refusal_end(struct refusal *r)
{
	ev_timer_stop(r->s->w->loop, &r->timer);
	stream_close(r->s);
	free(r);
}

static void refusal_read(struct stream *s, const char *data, size_t len)
{
	(void)data;
	if (!len)
		refusal_end(s->ud);
}

static void refusal_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR)
		refusal_end(s->ud);
}

static void refusal_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	refusal_end(t->data);
}

void ws_http_refuse(struct stream *lower, int status, const char *text)
{
	char buf[1024];
	struct refusal *r = xcalloc(1, sizeof *r);
	ssize_t n = ws_http_error_write(buf, sizeof buf, status, text);
	r->s = lower;
	if (n > 0)
		stream_write(lower, buf, (size_t)n);
	/* Close only after the client's FIN: closing with its bytes unread would reset the answer away. */
	stream_shutdown(lower);
	stream_set_callbacks(lower, refusal_read, refusal_event, r);
	stream_read_start(lower);
	ev_timer_init(&r->timer, refusal_timeout, WS_REFUSE_LINGER, 0);
	r->timer.data = r;
	ev_timer_start(lower->w->loop, &r->timer);
}

/* ---- the stream ---- */

enum ws_state {
	WS_STARTING,           /* waiting for the deferred start */
	WS_SERVER_HANDSHAKE,   /* reading the upgrade request */
	WS_CLIENT_HANDSHAKE,   /* request sent, reading the answer */
	WS_OPEN,
};

struct ws_stream {
	struct stream base;
	struct stream *lower;            /* owned */
	enum ws_state state;
	int client;                      /* we mask what we send, and read unmasked frames */
	/* handshake */
	const struct ws_opts *o;         /* server: not owned, valid until done runs (the service holds it) */
	char *req;                       /* owned, client: the upgrade request, built when asked to connect */
	size_t req_len;
	double hs_timeout;
	stream_done_cb done;             /* NULL once called */
	void *done_ctx;
	char *head;                      /* owned: the HTTP head read so far */
	size_t head_len;
	char key[WS_CLIENT_KEY_LEN + 1]; /* client: the key sent */
	char host[300];                  /* client: the Host field */
	char label[160];
	ev_timer timer;                  /* handshake deadline, then the keep-alive tick */
	/* frame reader */
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t hdr_len;
	struct ws_frame_header fh;
	int in_payload;
	uint64_t remaining;              /* payload bytes of the current frame still to come */
	size_t mask_off;
	uint8_t msg_opcode;              /* the data message in progress (fragmentation) */
	uint8_t ctrl[WS_CONTROL_PAYLOAD_MAX];
	size_t ctrl_len;
	char *inbuf;                     /* owned: input that arrived while the owner was not reading */
	size_t inlen;
	/* settings */
	uint64_t max_frame;
	double keepalive;
	ev_tstamp last_rx;
	unsigned lower_eof : 1, eof_sent : 1, close_sent : 1, close_rcvd : 1, drain_queued : 1, failed : 1;
};

static const struct ws_opts ws_defaults = {
	.path = (char *)WS_DEFAULT_PATH,
	.handshake_timeout = WS_DEFAULT_HANDSHAKE_TIMEOUT,
	.max_frame = WS_DEFAULT_MAX_FRAME,
};

static void ws_pump(struct ws_stream *x);

/* One frame in one write to the lower stream, so frames never interleave. */
static int ws_send_frame(struct ws_stream *x, enum ws_opcode op, const void *payload, size_t n)
{
	uint8_t stackbuf[2048], key[4];
	size_t total = WS_FRAME_HEADER_MAX + n;
	uint8_t *buf = total <= sizeof stackbuf ? stackbuf : xmalloc(total);
	if (x->client && RAND_bytes(key, sizeof key) != 1)
		memset(key, 0x5a, sizeof key); /* the RNG failing is no reason to drop a tunnel */
	int h = ws_frame_header_write(buf, WS_FRAME_HEADER_MAX, true, op, n, x->client ? key : NULL);
	int r = -1;
	if (h > 0) {
		if (n)
			memcpy(buf + h, payload, n);
		if (x->client)
			ws_mask(buf + h, n, key, 0);
		r = stream_write(x->lower, buf, (size_t)h + n);
	}
	if (buf != stackbuf)
		free(buf);
	x->base.wqueued = x->lower->wqueued;
	return r;
}

static void ws_send_close(struct ws_stream *x, uint16_t code)
{
	uint8_t payload[2];
	if (x->close_sent)
		return;
	x->close_sent = 1;
	int n = ws_close_payload_encode(payload, sizeof payload, code, "", 0);
	ws_send_frame(x, WS_OP_CLOSE, payload, n > 0 ? (size_t)n : 0);
}

static void ws_protocol_error(struct ws_stream *x, int err)
{
	log_info("%s: WebSocket protocol error from %s: %s", x->label, x->base.peer, ws_strerror(err));
	x->failed = 1;
	ws_send_close(x, (uint16_t)ws_error_close_code(err));
	stream_shutdown(x->lower);
	stream_emit_event(&x->base, STREAM_EV_ERROR, EPROTO);
}

static void ws_emit_eof(struct ws_stream *x)
{
	if (x->eof_sent)
		return;
	x->eof_sent = 1;
	stream_emit_read(&x->base, NULL, 0);
}

static void ws_control_frame(struct ws_stream *x)
{
	if (x->fh.masked)
		ws_mask(x->ctrl, x->ctrl_len, x->fh.mask_key, 0);
	switch (x->fh.opcode) {
	case WS_OP_PING:
		if (!x->close_sent)
			ws_send_frame(x, WS_OP_PONG, x->ctrl, x->ctrl_len);
		return;
	case WS_OP_PONG:
		return; /* its arrival already counted as life */
	case WS_OP_CLOSE: {
		struct ws_close c;
		int r = ws_close_payload_parse(x->ctrl, x->ctrl_len, &c);
		if (r < 0) {
			ws_protocol_error(x, r);
			return;
		}
		x->close_rcvd = 1;
		log_debug("%s: WebSocket close from %s: %u %.*s", x->label, x->base.peer, c.code, (int)c.reason_len,
			  c.reason ? c.reason : "");
		/* The peer is done sending; we answer with our own close when our owner is done too. */
		ws_emit_eof(x);
		return;
	}
	}
}

/* Hand payload bytes up; returns how many the owner took before it stopped reading. */
static size_t ws_deliver(struct ws_stream *x, const uint8_t *p, size_t n)
{
	if (!x->fh.masked) {
		stream_emit_read(&x->base, (const char *)p, n);
		return n;
	}
	uint8_t buf[WS_DELIVER_CHUNK];
	size_t done = 0;
	while (done < n && x->base.reading && !x->base.closed) {
		size_t k = n - done < sizeof buf ? n - done : sizeof buf;
		memcpy(buf, p + done, k);
		x->mask_off = ws_mask(buf, k, x->fh.mask_key, x->mask_off);
		done += k;
		stream_emit_read(&x->base, (const char *)buf, k);
	}
	return done;
}

/* Parse frames from p; returns the bytes used. Stops when the owner stops reading. */
static size_t ws_consume(struct ws_stream *x, const uint8_t *p, size_t len)
{
	size_t used = 0;
	enum ws_role role = x->client ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
	while (used < len && x->base.reading && !x->base.closed && !x->failed && !x->close_rcvd) {
		if (!x->in_payload) {
			size_t take = len - used < sizeof x->hdr - x->hdr_len ? len - used : sizeof x->hdr - x->hdr_len;
			memcpy(x->hdr + x->hdr_len, p + used, take);
			int r = ws_frame_header_parse(x->hdr, x->hdr_len + take, role, x->max_frame, &x->fh);
			if (r < 0) {
				ws_protocol_error(x, r);
				return used;
			}
			if (r == 0) {
				x->hdr_len += take;
				used += take;
				continue;
			}
			used += (size_t)r - x->hdr_len;
			x->hdr_len = 0;
			int seq = ws_frame_sequence_check(&x->msg_opcode, &x->fh);
			if (seq < 0) {
				ws_protocol_error(x, seq);
				return used;
			}
			x->in_payload = 1;
			x->remaining = x->fh.payload_len;
			x->mask_off = 0;
			x->ctrl_len = 0;
		} else {
			size_t avail = len - used;
			size_t take = x->remaining < avail ? (size_t)x->remaining : avail;
			if (x->fh.opcode & 0x8) {
				memcpy(x->ctrl + x->ctrl_len, p + used, take);
				x->ctrl_len += take;
			} else if (take) {
				take = ws_deliver(x, p + used, take);
			}
			used += take;
			x->remaining -= take;
		}
		if (x->in_payload && !x->remaining) {
			x->in_payload = 0;
			if (x->fh.opcode & 0x8)
				ws_control_frame(x);
		}
	}
	return used;
}

static void inbuf_keep(struct ws_stream *x, const char *p, size_t n)
{
	if (!n)
		return;
	x->inbuf = xrealloc(x->inbuf, x->inlen + n);
	memcpy(x->inbuf + x->inlen, p, n);
	x->inlen += n;
}

/* Work through what is buffered, then the EOF if the lower stream ended. */
static void ws_pump(struct ws_stream *x)
{
	if (x->inlen && x->base.reading) {
		size_t used = ws_consume(x, (const uint8_t *)x->inbuf, x->inlen);
		if (x->base.closed)
			return;
		if (x->close_rcvd || x->failed)
			used = x->inlen; /* nothing after a close counts */
		memmove(x->inbuf, x->inbuf + used, x->inlen - used);
		x->inlen -= used;
		if (!x->inlen) {
			free(x->inbuf);
			x->inbuf = NULL;
		}
	}
	if (!x->inlen && x->lower_eof && x->base.reading && !x->failed && !x->eof_sent) {
		if (!x->close_rcvd)
			log_debug("%s: %s closed the connection without a WebSocket close", x->label, x->base.peer);
		ws_emit_eof(x);
	}
}

static void ws_pump_deferred(void *arg)
{
	struct ws_stream *x = arg;
	x->drain_queued = 0;
	if (!x->base.closed && x->state == WS_OPEN)
		ws_pump(x);
}

static void ws_open_read(struct ws_stream *x, const char *data, size_t len)
{
	if (!len) {
		x->lower_eof = 1;
		ws_pump(x);
		return;
	}
	x->last_rx = ev_now(x->base.w->loop);
	if (x->close_rcvd || x->failed)
		return;
	if (x->inlen || !x->base.reading) {
		inbuf_keep(x, data, len);
		ws_pump(x);
	} else {
		size_t used = ws_consume(x, (const uint8_t *)data, len);
		if (x->base.closed || x->close_rcvd || x->failed)
			return;
		inbuf_keep(x, data + used, len - used);
	}
	if (!x->base.closed && !x->base.reading)
		stream_read_stop(x->lower);
}

static void ws_keepalive_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ws_stream *x = t->data;
	(void)revents;
	ev_tstamp now = ev_now(loop);
	if (!x->base.reading)
		x->last_rx = now; /* we are not reading: silence proves nothing */
	if (now - x->last_rx > 2 * x->keepalive + 1) {
		log_info("%s: WebSocket peer %s silent for %.0fs (keep-alive); closing", x->label, x->base.peer,
			 now - x->last_rx);
		ev_timer_stop(loop, t);
		x->failed = 1;
		stream_emit_event(&x->base, STREAM_EV_ERROR, ETIMEDOUT);
		return;
	}
	if (!x->close_sent)
		ws_send_frame(x, WS_OP_PING, NULL, 0);
}

/* The handshake is over: from here on the stream frames. rest: bytes after the head. */
static void ws_open(struct ws_stream *x, const char *rest, size_t restlen)
{
	x->state = WS_OPEN;
	x->o = NULL;
	free(x->head);
	x->head = NULL;
	inbuf_keep(x, rest, restlen);
	ev_timer_stop(x->base.w->loop, &x->timer);
	x->last_rx = ev_now(x->base.w->loop);
	if (x->keepalive > 0) {
		ev_timer_init(&x->timer, ws_keepalive_cb, x->keepalive, x->keepalive);
		x->timer.data = x;
		ev_timer_start(x->base.w->loop, &x->timer);
	}
	stream_read_stop(x->lower); /* until the owner reads */
}

static void ws_handshake_fail(struct ws_stream *x, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ws_handshake_fail(struct ws_stream *x, int err, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (x->client)
		log_warn("%s: WebSocket handshake with %s (Host %s) failed: %s", x->label, x->base.peer, x->host, why);
	else
		log_info("%s: WebSocket handshake with %s failed: %s", x->label, x->base.peer, why);
	stream_done_cb cb = x->done;
	void *ctx = x->done_ctx;
	x->done = NULL;
	stream_close(&x->base);
	if (cb)
		cb(ctx, NULL, err);
}

/* Server: refuse with an HTTP answer; the lower stream lingers on its own. */
static void ws_server_refuse(struct ws_stream *x, int status, const char *why)
{
	struct stream *lower = x->lower;
	log_info("%s: WebSocket upgrade from %s refused (%d): %s", x->label, x->base.peer, status, why);
	x->lower = NULL;
	ws_http_refuse(lower, status, why);
	stream_done_cb cb = x->done;
	void *ctx = x->done_ctx;
	x->done = NULL;
	stream_close(&x->base);
	cb(ctx, NULL, EPROTO);
}

static int head_append(struct ws_stream *x, const char *data, size_t len)
{
	size_t cap = HTTP_HEAD_MAX_DEFAULT + 1;
	size_t take = len < cap - x->head_len ? len : cap - x->head_len;
	if (!x->head)
		x->head = xmalloc(cap);
	memcpy(x->head + x->head_len, data, take);
	x->head_len += take;
	return (int)take;
}

/* The request's path, for routing: up to '?' (an absolute-form target: its path). */
static struct http_slice request_path(const struct http_request *req)
{
	struct http_slice p = req->target;
	if (req->form == HTTP_TARGET_ABSOLUTE) {
		struct http_uri uri;
		if (http_uri_parse(p.p, p.len, &uri) == 0)
			return uri.path;
	}
	const char *q = memchr(p.p, '?', p.len);
	if (q)
		p.len = (size_t)(q - p.p);
	return p;
}

static int ws_answer_101(struct ws_stream *x, const struct ws_opts *o, struct http_slice key)
{
	size_t cap = 512;
	for (size_t i = 0; i < o->n_headers; i++)
		cap += strlen(o->headers[i].name) + strlen(o->headers[i].value) + 4;
	char *buf = xmalloc(cap);
	ssize_t n = ws_upgrade_response_write(buf, cap, key, o->headers, o->n_headers);
	int r = n > 0 ? stream_write(x->lower, buf, (size_t)n) : -1;
	free(buf);
	return r;
}

static void ws_server_head(struct ws_stream *x, const char *data, size_t len)
{
	static __thread struct http_request req; /* large; one per worker thread suffices */
	size_t used = (size_t)head_append(x, data, len);
	ssize_t n = http_request_parse(x->head, x->head_len, 0, &req);
	if (n == 0) {
		if (x->lower_eof)
			ws_handshake_fail(x, ECONNRESET, "connection closed before a full request");
		return;
	}
	if (n < 0) {
		ws_server_refuse(x, n == HTTP_ERR_TOO_LARGE || n == HTTP_ERR_TOO_MANY_HEADERS ? 431 : 400,
				 http_error_str((int)n));
		return;
	}
	struct http_slice path = request_path(&req);
	if (path.len != strlen(x->o->path) || memcmp(path.p, x->o->path, path.len)) {
		ws_server_refuse(x, 404, "no WebSocket service at this path");
		return;
	}
	struct ws_upgrade_request u;
	const char *why;
	int st = ws_upgrade_request_check(&req, &u, &why);
	if (st) {
		ws_server_refuse(x, st, why);
		return;
	}
	if (ws_answer_101(x, x->o, u.key) < 0) {
		ws_handshake_fail(x, ECONNRESET, "cannot write the answer");
		return;
	}
	/* Bytes after the head: already in head (copied) or still in data. */
	size_t head_end = (size_t)n;
	char *rest_head = x->head + head_end;
	size_t rest_head_len = x->head_len - head_end;
	char *head = x->head;
	x->head = NULL; /* ws_open frees head; keep it until the rest is copied */
	ws_open(x, rest_head, rest_head_len);
	free(head);
	inbuf_keep(x, data + used, len - used);
	stream_done_cb cb = x->done;
	x->done = NULL;
	cb(x->done_ctx, &x->base, 0);
}

static void ws_client_head(struct ws_stream *x, const char *data, size_t len)
{
	static __thread struct http_response resp;
	size_t used = (size_t)head_append(x, data, len);
	ssize_t n = http_response_parse(x->head, x->head_len, 0, &resp);
	if (n == 0) {
		if (x->lower_eof)
			ws_handshake_fail(x, ECONNRESET, "connection closed before the server answered");
		return;
	}
	if (n < 0) {
		ws_handshake_fail(x, EPROTO, "malformed answer: %s", http_error_str((int)n));
		return;
	}
	const char *why;
	if (ws_upgrade_response_check(&resp, x->key, &why) < 0) {
		ws_handshake_fail(x, EPROTO, "server answered %d %.*s: %s", resp.status, (int)resp.reason.len,
				  resp.reason.p, why);
		return;
	}
	char *head = x->head;
	x->head = NULL;
	ws_open(x, head + n, x->head_len - (size_t)n);
	free(head);
	inbuf_keep(x, data + used, len - used);
	stream_done_cb cb = x->done;
	x->done = NULL;
	cb(x->done_ctx, &x->base, 0);
}

static void ws_lower_read(struct stream *lower, const char *data, size_t len)
{
	struct ws_stream *x = lower->ud;
	switch (x->state) {
	case WS_OPEN:
		ws_open_read(x, data, len);
		return;
	case WS_SERVER_HANDSHAKE:
	case WS_CLIENT_HANDSHAKE:
		if (!len)
			x->lower_eof = 1;
		if (x->state == WS_SERVER_HANDSHAKE)
			ws_server_head(x, data, len);
		else
			ws_client_head(x, data, len);
		return;
	case WS_STARTING:
		return;
	}
}

static void ws_lower_event(struct stream *lower, enum stream_event ev, int err)
{
	struct ws_stream *x = lower->ud;
	if (ev == STREAM_EV_ERROR) {
		if (x->state != WS_OPEN)
			ws_handshake_fail(x, err ? err : ECONNRESET, "%s", strerror(err ? err : ECONNRESET));
		else
			stream_emit_event(&x->base, STREAM_EV_ERROR, err);
		return;
	}
	x->base.wqueued = lower->wqueued;
	if (x->state == WS_OPEN && !x->base.wqueued)
		stream_emit_event(&x->base, STREAM_EV_DRAINED, 0);
}

static void ws_read_start(struct stream *s)
{
	struct ws_stream *x = (struct ws_stream *)s;
	if (x->state != WS_OPEN)
		return;
	if (!x->lower_eof)
		stream_read_start(x->lower);
	if (!x->drain_queued && (x->inlen || (x->lower_eof && !x->eof_sent))) {
		x->drain_queued = 1;
		worker_defer(s->w, ws_pump_deferred, x);
	}
}

static void ws_read_stop(struct stream *s)
{
	struct ws_stream *x = (struct ws_stream *)s;
	if (x->state == WS_OPEN)
		stream_read_stop(x->lower);
}

static int ws_write(struct stream *s, const char *data, size_t len)
{
	struct ws_stream *x = (struct ws_stream *)s;
	if (x->state != WS_OPEN || x->close_sent || x->failed)
		return -1;
	while (len) {
		size_t chunk = len < x->max_frame ? len : (size_t)x->max_frame;
		if (ws_send_frame(x, WS_OP_BINARY, data, chunk) < 0)
			return -1;
		data += chunk;
		len -= chunk;
	}
	return 0;
}

static void ws_shutdown(struct stream *s)
{
	struct ws_stream *x = (struct ws_stream *)s;
	if (x->state == WS_OPEN)
		ws_send_close(x, WS_CLOSE_NORMAL);
	stream_shutdown(x->lower);
}

static void ws_close(struct stream *s)
{
	struct ws_stream *x = (struct ws_stream *)s;
	ev_timer_stop(s->w->loop, &x->timer);
	stream_close(x->lower);
	x->lower = NULL;
	free(x->head);
	x->head = NULL;
	free(x->req);
	x->req = NULL;
	free(x->inbuf);
	x->inbuf = NULL;
	x->inlen = 0;
}

static const struct stream_ops ws_ops = {
	.name = "ws",
	.read_start = ws_read_start,
	.read_stop = ws_read_stop,
	.write = ws_write,
	.shutdown = ws_shutdown,
	.close = ws_close,
	/* no fd: the pipe must copy through this layer, never splice past it */
};

static void ws_handshake_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ws_stream *x = t->data;
	(void)loop;
	(void)revents;
	ws_handshake_fail(x, ETIMEDOUT, "no %s within %.0fs", x->client ? "answer" : "upgrade request",
			  x->hs_timeout);
}

static struct ws_stream *ws_new(struct stream *lower, int client, const struct ws_opts *o)
{
	struct ws_stream *x = xcalloc(1, sizeof *x);
	/* Settings are copied: a client's options belong to a node, which a reload may free mid-dial. */
	x->max_frame = o->max_frame ? o->max_frame : WS_DEFAULT_MAX_FRAME;
	x->keepalive = o->keepalive;
	x->hs_timeout = o->handshake_timeout > 0 ? o->handshake_timeout : WS_DEFAULT_HANDSHAKE_TIMEOUT;
	stream_init(&x->base, &ws_ops, lower->w);
	x->lower = lower;
	x->client = client;
	stream_take_svc(&x->base, lower);
	memcpy(x->base.peer, lower->peer, sizeof x->base.peer);
	if (x->base.svc)
		snprintf(x->label, sizeof x->label, "service %s", x->base.svc->name);
	else
		snprintf(x->label, sizeof x->label, "ws");
	ev_init(&x->timer, ws_handshake_timeout);
	x->timer.data = x;
	stream_set_callbacks(lower, ws_lower_read, ws_lower_event, x);
	return x;
}

static void ws_server_start(void *arg)
{
	struct ws_stream *x = arg;
	x->state = WS_SERVER_HANDSHAKE;
	ev_timer_set(&x->timer, x->hs_timeout, 0);
	ev_timer_start(x->base.w->loop, &x->timer);
	stream_read_start(x->lower);
}

void ws_server_accept(const struct ws_opts *o, struct stream *lower, stream_done_cb cb, void *ctx)
{
	if (!o)
		o = &ws_defaults;
	struct ws_stream *x = ws_new(lower, 0, o);
	x->o = o;
	x->done = cb;
	x->done_ctx = ctx;
	worker_defer(lower->w, ws_server_start, x);
}

struct stream *ws_server_upgrade(const struct ws_opts *o, struct stream *lower, const struct http_request *req,
				 const void *rest, size_t restlen)
{
	struct ws_upgrade_request u;
	const char *why;
	int st = ws_upgrade_request_check(req, &u, &why);
	if (!o)
		o = &ws_defaults;
	if (st) {
		log_info("WebSocket upgrade from %s refused (%d): %s", lower->peer, st, why);
		ws_http_refuse(lower, st, why);
		return NULL;
	}
	struct ws_stream *x = ws_new(lower, 0, o);
	if (ws_answer_101(x, o, u.key) < 0) {
		stream_close(&x->base);
		return NULL;
	}
	ws_open(x, rest, restlen);
	return &x->base;
}

static void ws_client_start(void *arg)
{
	struct ws_stream *x = arg;
	int r = x->req ? stream_write(x->lower, x->req, x->req_len) : -1;
	free(x->req);
	x->req = NULL;
	if (r < 0) {
		ws_handshake_fail(x, x->req_len ? ECONNRESET : EINVAL,
				  x->req_len ? "cannot send the request" : "bad request fields (path, host or headers)");
		return;
	}
	x->state = WS_CLIENT_HANDSHAKE;
	ev_timer_set(&x->timer, x->hs_timeout, 0);
	ev_timer_start(x->base.w->loop, &x->timer);
	stream_read_start(x->lower);
}

void ws_client_connect(const struct ws_opts *o, struct stream *lower, const char *default_host, const char *label,
		       stream_done_cb cb, void *ctx)
{
	if (!o)
		o = &ws_defaults;
	struct ws_stream *x = ws_new(lower, 1, o);
	uint8_t rnd[16];
	x->done = cb;
	x->done_ctx = ctx;
	if (label)
		snprintf(x->label, sizeof x->label, "%s", label);
	snprintf(x->host, sizeof x->host, "%s", o->host ? o->host : default_host ? default_host : "localhost");
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		for (size_t i = 0; i < sizeof rnd; i++)
			rnd[i] = (uint8_t)rng_u32();
	ws_client_key_make(rnd, x->key);
	/* The request is made now: o need not outlive this call. */
	size_t cap = 1024 + strlen(o->path) + strlen(x->host);
	for (size_t i = 0; i < o->n_headers; i++)
		cap += strlen(o->headers[i].name) + strlen(o->headers[i].value) + 4;
	x->req = xmalloc(cap);
	ssize_t n = ws_upgrade_request_write(x->req, cap, x->host, o->path, x->key, o->headers, o->n_headers);
	if (n <= 0) {
		free(x->req);
		x->req = NULL;
		x->req_len = 0;
	} else {
		x->req_len = (size_t)n;
	}
	worker_defer(lower->w, ws_client_start, x);
}
