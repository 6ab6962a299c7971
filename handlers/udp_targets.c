/* The destinations of one UDP association (handlers/udp_targets.h). */
#include "handlers/udp_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/buf.h"
#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/service.h"

#define UDP_MAX_TARGETS 64      /* destinations per association; the least recently used goes */
#define UDP_MAX_QUEUED 16       /* datagrams waiting for a destination's dial */

struct udp_target {
	struct udp_target *next;
	struct udp_targets *owner;
	struct socks5_addr addr;    /* as the client named it; replies carry it back */
	char key[SOCKS5_ADDR_STRLEN];
	struct stream *s;           /* datagram stream to the destination; owned */
	struct proxy_dial *dial;    /* in flight, or NULL */
	struct buf queue;           /* [len16][data] datagrams waiting for the dial */
	int nqueued;
	ev_tstamp used;
};

void udp_targets_init(struct udp_targets *t, struct worker *w, struct service *svc, const struct proxy_opts *o,
		      const char *peer, udp_reply_fn reply, void *ctx)
{
	memset(t, 0, sizeof *t);
	t->w = w;
	t->svc = svc;
	t->o = o;
	t->peer = peer;
	t->reply = reply;
	t->ctx = ctx;
}

static void target_free(struct udp_target *d)
{
	proxy_dial_cancel(d->dial);
	stream_close(d->s);
	buf_free(&d->queue);
	free(d);
}

static void target_unlink(struct udp_targets *t, struct udp_target *d)
{
	for (struct udp_target **pp = &t->list; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			t->n--;
			return;
		}
}

static void target_read(struct stream *s, const char *data, size_t len)
{
	struct udp_target *d = s->ud;
	if (!len)
		return;
	d->used = ev_now(s->w->loop);
	d->owner->reply(d->owner->ctx, &d->addr, data, len);
}

static void target_event(struct stream *s, enum stream_event ev, int err)
{
	struct udp_target *d = s->ud;
	if (ev != STREAM_EV_ERROR)
		return;
	log_debug("service %s: udp destination %s: %s", d->owner->svc->name, d->key, strerror(err));
	target_unlink(d->owner, d);
	target_free(d);
}

static void target_dialed(void *ctx, struct stream *s, int err)
{
	struct udp_target *d = ctx;
	struct udp_targets *t = d->owner;
	d->dial = NULL;
	if (err) {
		log_info("service %s: %s: udp to %s: %s", t->svc->name, t->peer, d->key, strerror(err));
		target_unlink(t, d);
		target_free(d);
		return;
	}
	log_info("service %s: %s: udp to %s", t->svc->name, t->peer, d->key);
	d->s = s;
	stream_set_callbacks(s, target_read, target_event, d);
	stream_read_start(s);
	for (size_t off = 0; off + 2 <= d->queue.len;) {
		size_t n = (size_t)(uint8_t)d->queue.p[off] << 8 | (uint8_t)d->queue.p[off + 1];
		stream_write(s, d->queue.p + off + 2, n);
		off += 2 + n;
	}
	buf_free(&d->queue);
	d->nqueued = 0;
}

static struct udp_target *target_get(struct udp_targets *t, const struct socks5_addr *a)
{
	char key[SOCKS5_ADDR_STRLEN], host[SOCKS5_DOMAIN_MAX + 1];
	struct udp_target *d, *oldest = NULL;
	socks5_addr_format(a, key, sizeof key);
	for (d = t->list; d; d = d->next) {
		if (!strcmp(d->key, key))
			return d;
		if (!oldest || d->used < oldest->used)
			oldest = d;
	}
	socks5_addr_host(a, host, sizeof host);
	if (bypass_match_net(t->svc->bypass, "udp", host, a->port)) {
		log_debug("service %s: udp to %s refused by bypass", t->svc->name, key);
		return NULL;
	}
	if (t->n >= UDP_MAX_TARGETS) {
		target_unlink(t, oldest);
		target_free(oldest);
	}
	d = xcalloc(1, sizeof *d);
	d->owner = t;
	d->addr = *a;
	snprintf(d->key, sizeof d->key, "%s", key);
	d->used = ev_now(t->w->loop);
	d->next = t->list;
	t->list = d;
	t->n++;
	d->dial = proxy_dial_start(t->w, t->peer, NULL, t->svc, t->o, host, a->port, 1, target_dialed, d);
	return d;
}

int udp_targets_send(struct udp_targets *t, const struct socks5_addr *a, const void *data, size_t len)
{
	struct udp_target *d = target_get(t, a);
	if (!d)
		return -1;
	d->used = ev_now(t->w->loop);
	if (d->s) {
		stream_write(d->s, data, len);
		return 0;
	}
	if (d->nqueued >= UDP_MAX_QUEUED || len > 0xffff)
		return 0;
	uint8_t l[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	buf_append(&d->queue, l, 2);
	buf_append(&d->queue, data, len);
	d->nqueued++;
	return 0;
}

void udp_targets_free(struct udp_targets *t)
{
	while (t->list) {
		struct udp_target *d = t->list;
		t->list = d->next;
		target_free(d);
	}
	t->n = 0;
}
