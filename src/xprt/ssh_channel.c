/* A stream over one SSH channel: see ssh_channel.h for the rules (callbacks note, passes act). */
#include "src/xprt/ssh_channel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/callbacks.h>

#include "src/core/buf.h"
#include "src/core/util.h"

#define CHAN_PASS_BUDGET (256 * 1024)   /* bytes delivered per channel per pass */
#define CHAN_RBUF (64 * 1024)

/* What a pass reads into, one per thread: passes never nest (a pass only ever asks for the
 * next one), so one buffer serves every session of a worker. */
static __thread char chan_rbuf[CHAN_RBUF];

struct ssh_chan {
	struct stream base;         /* first: the stream layer frees the struct */
	struct ssh_link *link;      /* a reference */
	ssh_channel ch;             /* NULL once released or the connection is gone */
	struct ssh_channel_callbacks_struct cb;
	struct ssh_chan *next, **pprev;
	struct buf out;             /* what the peer's window does not take yet */
	size_t buffered;            /* bytes libssh holds for us */
	unsigned gen;
	char *host;                 /* direct-tcpip destination, or NULL */
	uint16_t port;
	int err;                    /* why it broke */
	unsigned pending : 1, remote_eof : 1, remote_closed : 1, eof_delivered : 1, eof_sent : 1, lost : 1,
		failed : 1, told : 1;
};

static const struct stream_ops chan_ops;

/* ---- the link ---- */

void ssh_link_init(struct ssh_link *l, struct worker *w, ssh_session ss)
{
	memset(l, 0, sizeof *l);
	l->w = w;
	l->ss = ss;
	l->refs = 1;
}

void ssh_link_ref(struct ssh_link *l) { l->refs++; }

void ssh_link_unref(struct ssh_link *l)
{
	if (--l->refs)
		return;
	l->release(l);
}

static void chan_mark(struct ssh_chan *c)
{
	c->pending = 1;
	c->link->kick(c->link);
}

/* ---- libssh's callbacks: note and ask for a pass, never call out ---- */

static int cb_data(ssh_session ss, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *ud)
{
	(void)ss;
	(void)ch;
	(void)data;
	struct ssh_chan *c = ud;
	if (is_stderr)
		return (int)len;    /* no stderr on a forwarding channel: dropped */
	c->buffered = len;      /* libssh hands over all it holds each time */
	chan_mark(c);
	return 0;
}

static void cb_eof(ssh_session ss, ssh_channel ch, void *ud)
{
	(void)ss;
	(void)ch;
	struct ssh_chan *c = ud;
	c->remote_eof = 1;
	chan_mark(c);
}

static void cb_close(ssh_session ss, ssh_channel ch, void *ud)
{
	(void)ss;
	(void)ch;
	struct ssh_chan *c = ud;
	c->remote_eof = 1;
	c->remote_closed = 1;
	chan_mark(c);
}

static int cb_wontblock(ssh_session ss, ssh_channel ch, uint32_t bytes, void *ud)
{
	(void)ss;
	(void)ch;
	(void)bytes;
	struct ssh_chan *c = ud;
	if (c->out.len)
		chan_mark(c);
	return 0;
}

/* ---- the stream ---- */

/* Broken: told once, to an owner that listens (one still dialing learns at read_start). */
static void chan_fail(struct ssh_chan *c, int err)
{
	if (!c->failed) {
		c->failed = 1;
		c->err = err;
	}
	if (c->told || !c->base.on_event)
		return;
	c->told = 1;
	stream_emit_event(&c->base, STREAM_EV_ERROR, c->err);
}

/* Write what the window takes now; 0, or -1 when the channel broke. */
static int chan_push(struct ssh_chan *c, const char **data, size_t *len)
{
	while (*len) {
		uint32_t win = ssh_channel_window_size(c->ch);
		if (!win)
			return 0;
		uint32_t n = *len < win ? (uint32_t)*len : win;
		int r = ssh_channel_write(c->ch, *data, n);
		if (r < 0)
			return -1;
		if (!r)
			return 0;   /* the session is busy (key re-exchange): later */
		*data += r;
		*len -= (size_t)r;
	}
	return 0;
}

static void chan_send_eof(struct ssh_chan *c)
{
	if (c->eof_sent || !c->ch || c->remote_closed)
		return;
	c->eof_sent = 1;
	ssh_channel_send_eof(c->ch);
}

static void chan_flush(struct ssh_chan *c)
{
	size_t before = c->out.len;
	if (before && c->ch && !c->remote_closed) {
		const char *p = c->out.p;
		size_t len = c->out.len;
		int r = chan_push(c, &p, &len);
		buf_consume(&c->out, c->out.len - len);
		c->base.wqueued = c->out.len;
		if (r < 0) {
			chan_fail(c, EPIPE);
			return;
		}
	}
	if (c->out.len && (c->remote_closed || !c->ch)) {
		chan_fail(c, EPIPE);
		return;
	}
	if (c->out.len)
		return;
	if (c->base.shut_wr)
		chan_send_eof(c);
	if (before)
		stream_emit_event(&c->base, STREAM_EV_DRAINED, 0);
}

/* Hand over what libssh buffered, at most a budget per pass. */
static void chan_deliver(struct ssh_chan *c)
{
	size_t budget = CHAN_PASS_BUDGET;
	while (c->base.reading && c->buffered && budget && c->ch) {
		uint32_t want = c->buffered < CHAN_RBUF ? (uint32_t)c->buffered : CHAN_RBUF;
		int n = ssh_channel_read_nonblocking(c->ch, chan_rbuf, want, 0);
		if (n <= 0) {
			c->buffered = 0;
			if (n < 0 && n != SSH_EOF) {
				chan_fail(c, ECONNRESET);
				return;
			}
			break;
		}
		c->buffered -= (size_t)n > c->buffered ? c->buffered : (size_t)n;
		budget -= (size_t)n > budget ? budget : (size_t)n;
		stream_emit_read(&c->base, chan_rbuf, (size_t)n);
		if (c->base.closed)
			return;
	}
	if (c->base.reading && c->buffered) {
		chan_mark(c);   /* more next pass: others get their turn */
		return;
	}
	if (c->base.reading && !c->buffered && c->remote_eof && !c->eof_delivered) {
		c->eof_delivered = 1;
		stream_emit_read(&c->base, NULL, 0);
	}
}

static void chan_serve(struct ssh_chan *c)
{
	if (c->lost || c->failed) {
		chan_fail(c, ECONNRESET);
		return;
	}
	chan_flush(c);
	if (!c->base.closed && !c->failed)
		chan_deliver(c);
}

void ssh_link_pass(struct ssh_link *l)
{
	unsigned gen = ++l->gen;
	/* libssh says nothing when the peer grows a window: look at every channel that waits */
	for (struct ssh_chan *c = l->chans; c; c = c->next)
		if (c->out.len && c->ch && ssh_channel_window_size(c->ch))
			c->pending = 1;
	for (;;) {
		struct ssh_chan *c = l->chans;
		while (c && !(c->pending && c->gen != gen))
			c = c->next;
		if (!c)
			break;
		c->gen = gen;
		c->pending = 0;
		chan_serve(c);   /* may close any channel: the walk starts again from the head */
	}
}

void ssh_link_lost(struct ssh_link *l)
{
	for (struct ssh_chan *c = l->chans; c; c = c->next) {
		c->ch = NULL;   /* ssh_free releases it */
		c->lost = 1;
		c->pending = 1;
	}
	l->ss = NULL;
}

static void chan_read_start(struct stream *s)
{
	struct ssh_chan *c = (struct ssh_chan *)s;
	if (c->buffered || c->lost || (c->failed && !c->told) || (c->remote_eof && !c->eof_delivered))
		chan_mark(c);
}

static void chan_read_stop(struct stream *s) { (void)s; }

static int chan_write(struct stream *s, const char *data, size_t len)
{
	struct ssh_chan *c = (struct ssh_chan *)s;
	if (!c->ch || c->remote_closed || c->failed) {
		errno = EPIPE;
		return -1;
	}
	if (!c->out.len) {
		int r = chan_push(c, &data, &len);
		c->link->kick(c->link);
		if (r < 0) {
			c->failed = 1;
			c->told = 1;    /* the caller hears it now */
			c->err = EPIPE;
			errno = EPIPE;
			return -1;
		}
	}
	if (len) {
		buf_append(&c->out, data, len);
		c->base.wqueued = c->out.len;
	}
	return 0;
}

static void chan_shutdown(struct stream *s)
{
	struct ssh_chan *c = (struct ssh_chan *)s;
	if (c->out.len)
		return;     /* after the queue, from chan_flush */
	chan_send_eof(c);
	c->link->kick(c->link);
}

static void chan_close(struct stream *s)
{
	struct ssh_chan *c = (struct ssh_chan *)s;
	if (c->next)
		c->next->pprev = c->pprev;
	*c->pprev = c->next;
	if (c->ch) {
		ssh_remove_channel_callbacks(c->ch, &c->cb);
		ssh_channel_free(c->ch);    /* closes; libssh frees it once the peer closed too */
		c->ch = NULL;
		c->link->kick(c->link);
	}
	buf_free(&c->out);
	free(c->host);
	c->host = NULL;
	ssh_link_unref(c->link);
}

static int chan_fd(struct stream *s)
{
	(void)s;
	return -1;
}

static const struct stream_ops chan_ops = {
	.name = "ssh-channel",
	.read_start = chan_read_start,
	.read_stop = chan_read_stop,
	.write = chan_write,
	.shutdown = chan_shutdown,
	.close = chan_close,
	.fd = chan_fd,
};

struct stream *ssh_chan_stream_new(struct ssh_link *l, ssh_channel ch)
{
	struct ssh_chan *c = xcalloc(1, sizeof *c);
	stream_init(&c->base, &chan_ops, l->w);
	snprintf(c->base.peer, sizeof c->base.peer, "%s", l->peer);
	c->link = l;
	ssh_link_ref(l);
	c->ch = ch;
	c->next = l->chans;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &l->chans;
	l->chans = c;
	ssh_callbacks_init(&c->cb);
	c->cb.userdata = c;
	c->cb.channel_data_function = cb_data;
	c->cb.channel_eof_function = cb_eof;
	c->cb.channel_close_function = cb_close;
	c->cb.channel_write_wontblock_function = cb_wontblock;
	ssh_set_channel_callbacks(ch, &c->cb);
	return &c->base;
}

void ssh_chan_set_target(struct stream *s, const char *host, uint16_t port)
{
	struct ssh_chan *c = (struct ssh_chan *)s;
	free(c->host);
	c->host = xstrdup(host ? host : "");
	c->port = port;
}

int ssh_chan_target(struct stream *s, const char **host, uint16_t *port)
{
	if (s->ops != &chan_ops)
		return -1;
	struct ssh_chan *c = (struct ssh_chan *)s;
	if (!c->host)
		return -1;
	*host = c->host;
	*port = c->port;
	return 0;
}
