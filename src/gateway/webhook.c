#include "src/gateway/webhook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/core/log.h"
#include "src/core/stream.h"
#include "src/core/util.h"

int webhook_parse(struct webhook *wh, const char *url)
{
	const char *p;
	char hostport[300];
	memset(wh, 0, sizeof *wh);
	wh->timeout = 5;
	wh->retries = 3;
	if (strncasecmp(url, "http://", 7))
		return -1;
	p = url + 7;
	size_t hl = strcspn(p, "/");
	if (!hl || hl >= sizeof hostport)
		return -1;
	memcpy(hostport, p, hl);
	hostport[hl] = 0;
	snprintf(wh->path, sizeof wh->path, "%s", p[hl] ? p + hl : "/");
	if (hostport_split(hostport, wh->host, sizeof wh->host, &wh->port) < 0) {
		if (strchr(hostport, ':') || hl >= sizeof wh->host)
			return -1;
		snprintf(wh->host, sizeof wh->host, "%s", hostport);
		wh->port = 80;
	}
	return wh->host[0] ? 0 : -1;
}

enum delivery_state { DELIVERY_CONNECTING, DELIVERY_AWAIT_ANSWER, DELIVERY_BACKOFF };

/* One delivery: owns its copies of the webhook (a reload may free the gateway's options while it
 * waits), of the request, and its retry timer. */
struct delivery {
	enum delivery_state state;
	struct worker *w;
	struct webhook whc;
	const struct webhook *wh;   /* &whc */
	char *request;
	size_t request_len;
	int attempt;
	struct stream *s;
	char reply[16];
	size_t reply_len;
	ev_timer timer;
};

static void delivery_try(struct delivery *d);

static void delivery_end(struct delivery *d, int ok, const char *why)
{
	ev_timer_stop(d->w->loop, &d->timer);
	stream_close(d->s);
	d->s = NULL;
	if (ok) {
		log_debug("webhook %s:%u%s delivered", d->wh->host, d->wh->port, d->wh->path);
	} else if (d->attempt <= d->wh->retries) {
		log_info("webhook %s:%u%s: %s; retrying", d->wh->host, d->wh->port, d->wh->path, why);
		d->state = DELIVERY_BACKOFF;
		ev_timer_set(&d->timer, d->attempt, 0);
		ev_timer_start(d->w->loop, &d->timer);
		return;
	} else {
		if (d->wh->stats)
			__atomic_add_fetch(&d->wh->stats->failures, 1, __ATOMIC_RELAXED);
		log_warn("webhook %s:%u%s: %s; giving up after %d attempts", d->wh->host, d->wh->port, d->wh->path, why,
			 d->attempt);
	}
	webhook_stats_unref(d->whc.stats);
	free(d->request);
	free(d);
}

static void delivery_read(struct stream *s, const char *data, size_t len)
{
	struct delivery *d = s->ud;
	size_t take = sizeof d->reply - 1 - d->reply_len;
	if (!len) {
		delivery_end(d, 0, "closed without an answer");
		return;
	}
	if (take > len)
		take = len;
	memcpy(d->reply + d->reply_len, data, take);
	d->reply_len += take;
	d->reply[d->reply_len] = 0;
	if (d->reply_len >= 12) {
		int status = atoi(d->reply + 9);
		if (!strncmp(d->reply, "HTTP/1.", 7) && status >= 200 && status < 300)
			delivery_end(d, 1, NULL);
		else
			delivery_end(d, 0, "not a 2xx answer");
	}
}

static void delivery_event(struct stream *s, enum stream_event ev, int err)
{
	struct delivery *d = s->ud;
	if (ev == STREAM_EV_ERROR)
		delivery_end(d, 0, strerror(err));
}

static void delivery_connected(void *ctx, struct stream *s, int err)
{
	struct delivery *d = ctx;
	if (err) {
		d->s = NULL;
		delivery_end(d, 0, strerror(err));
		return;
	}
	d->s = s;
	d->reply_len = 0;
	d->state = DELIVERY_AWAIT_ANSWER;
	ev_timer_set(&d->timer, d->wh->timeout, 0);
	ev_timer_start(d->w->loop, &d->timer);
	stream_set_callbacks(s, delivery_read, delivery_event, d);
	if (stream_write(s, d->request, d->request_len) < 0) {
		delivery_end(d, 0, "write failed");
		return;
	}
	stream_read_start(s);
}

static void delivery_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct delivery *d = t->data;
	(void)loop;
	(void)revents;
	if (d->state == DELIVERY_AWAIT_ANSWER)
		delivery_end(d, 0, "timed out");
	else if (d->state == DELIVERY_BACKOFF)
		delivery_try(d);
}

static void delivery_try(struct delivery *d)
{
	d->attempt++;
	d->state = DELIVERY_CONNECTING; /* sock_connect has its own timeout */
	d->s = NULL;
	sock_connect(d->w, d->wh->host, d->wh->port, 0, d->wh->timeout, delivery_connected, d);
}

struct webhook_stats *webhook_stats_new(void)
{
	struct webhook_stats *st = xcalloc(1, sizeof *st);
	st->refs = 1;
	return st;
}

void webhook_stats_unref(struct webhook_stats *st)
{
	if (st && __atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(st);
}

void webhook_post(struct worker *w, const struct webhook *wh, const char *body)
{
	struct delivery *d = xcalloc(1, sizeof *d);
	size_t blen = strlen(body), cap = blen + 512 + strlen(wh->path) + strlen(wh->host);
	d->w = w;
	d->whc = *wh;
	d->wh = &d->whc;
	if (d->whc.stats)
		__atomic_add_fetch(&d->whc.stats->refs, 1, __ATOMIC_RELAXED);
	d->request = xmalloc(cap);
	d->request_len = (size_t)snprintf(d->request, cap,
					  "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
					  "Content-Length: %zu\r\nConnection: close\r\nUser-Agent: portway\r\n\r\n%s",
					  wh->path, wh->host, wh->port, blen, body);
	ev_init(&d->timer, delivery_timer_cb);
	d->timer.data = d;
	delivery_try(d);
}
