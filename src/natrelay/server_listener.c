/*
 * listener natrelay-server: the server-side helper of the NAT relay. It
 * keeps a control connection to the relay (the chain's last node, or
 * metadata `relay`), logs the public client port the relay advertises, and
 * for every "[NEW] <port>" line connects back to the relay at that port and
 * hands the connection to the handler, which joins it to the local service.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/backoff.h"
#include "src/core/log.h"
#include "proto/natrelay.h"
#include "src/svc/router.h"
#include "src/svc/service.h"
#include "src/core/util.h"

#define NRS_LINE_MAX (2 * NATRELAY_LINE_MAX)
#define NRS_BACKOFF_MIN 1.0
#define NRS_BACKOFF_MAX 30.0

struct nrs_opts {
	char relay_host[256];
	uint16_t relay_port;
	struct chain prefix;        /* the hops before the relay (none: direct) */
	double dial_timeout;
};

/* One per service, on worker 0. Freed when stopped and no dial is in flight. */
struct nrs {
	struct listener_inst *li;
	struct nrs_opts *o;
	struct stream *ctl;         /* owned */
	struct dial *ctl_dial;
	char line[NRS_LINE_MAX];
	size_t line_len;
	struct backoff retry;
	int pending;                /* back-connections being dialed */
	int stopped;
};

static int nrs_init(struct service *svc, struct cfg_err *e)
{
	struct nrs_opts *o = xcalloc(1, sizeof *o);
	const char *relay = md_str(svc->listener.md, "relay", NULL);
	struct chain *ch = svc->listener.chain;
	svc->listener.state = o;
	if (relay && *relay) {
		if (hostport_split(relay, o->relay_host, sizeof o->relay_host, &o->relay_port) < 0)
			return cfg_error(e, cnode_get(svc->listener.md, "relay"), "listener.metadata.relay",
					 "expected host:port of the relay, got \"%s\"", relay);
		o->prefix.hops = ch ? ch->hops : NULL;
		o->prefix.n_hops = ch ? ch->n_hops : 0;
	} else if (ch && ch->n_hops) {
		struct node *last = ch->hops[ch->n_hops - 1]->nodes[0];
		snprintf(o->relay_host, sizeof o->relay_host, "%s", last->host);
		o->relay_port = last->port;
		o->prefix.hops = ch->hops;
		o->prefix.n_hops = ch->n_hops - 1;
	} else {
		return cfg_error(e, svc->cfg, "listener", "natrelay-server needs the relay: a chain (-F natrelay://relay:port) "
					      "or listener metadata relay: host:port");
	}
	if (md_duration(svc->listener.md, "dialTimeout", 10, &o->dial_timeout, e) < 0)
		return -1;
	return 0;
}

static void nrs_fini(struct service *svc) { free(svc->listener.state); }

static void nrs_maybe_free(struct nrs *n)
{
	if (n->stopped && !n->pending && !n->ctl && !n->ctl_dial)
		free(n);
}

static void nrs_connect(struct nrs *n);

static void nrs_schedule_retry(struct nrs *n)
{
	if (n->stopped)
		return;
	double d = backoff_retry_later(&n->retry, n->li->w->loop);
	log_info("natrelay-server %s: reconnecting to the relay in %.0fs", n->li->svc->name, d);
}

static void nrs_ctl_lost(struct nrs *n, const char *why)
{
	log_warn("natrelay-server %s: control connection to %s:%u lost: %s", n->li->svc->name, n->o->relay_host,
		 n->o->relay_port, why);
	stream_close(n->ctl);
	n->ctl = NULL;
	n->line_len = 0;
	nrs_schedule_retry(n);
}

static void nrs_back_dialed(void *ctx, struct stream *s, int err)
{
	struct nrs *n = ctx;
	n->pending--;
	if (n->stopped) {
		stream_close(s);
		nrs_maybe_free(n);
		return;
	}
	if (err) {
		log_warn("natrelay-server %s: connecting back to the relay: %s", n->li->svc->name, strerror(err));
		return;
	}
	service_dispatch(n->li->svc, s);
}

static void nrs_line(struct nrs *n, enum natrelay_line_kind kind, int port)
{
	if (kind == NATRELAY_PORT) {
		char where[300];
		hostport_format(where, sizeof where, n->o->relay_host, (uint16_t)port);
		log_info("natrelay-server %s: clients connect to relay %s", n->li->svc->name, where);
		backoff_reset(&n->retry);
		return;
	}
	struct dial_opts d = { .chain = n->o->prefix.n_hops ? &n->o->prefix : NULL, .timeout = n->o->dial_timeout,
			       .svc = n->li->svc };
	n->pending++;
	router_dial(n->li->w, &d, n->o->relay_host, (uint16_t)port, nrs_back_dialed, n);
}

static void nrs_ctl_read(struct stream *s, const char *data, size_t len)
{
	struct nrs *n = s->ud;
	if (!len) {
		nrs_ctl_lost(n, "closed by the relay");
		return;
	}
	while (len && n->ctl) {
		size_t take = len < NRS_LINE_MAX - n->line_len ? len : NRS_LINE_MAX - n->line_len;
		memcpy(n->line + n->line_len, data, take);
		n->line_len += take;
		data += take;
		len -= take;
		for (;;) {
			enum natrelay_line_kind kind;
			int port;
			int used = natrelay_line_parse(n->line, n->line_len, &kind, &port);
			if (used == 0)
				break;
			if (used < 0) {
				nrs_ctl_lost(n, "a malformed line: not a NAT relay");
				return;
			}
			memmove(n->line, n->line + used, n->line_len - (size_t)used);
			n->line_len -= (size_t)used;
			nrs_line(n, kind, port);
		}
	}
}

static void nrs_ctl_event(struct stream *s, enum stream_event ev, int err)
{
	struct nrs *n = s->ud;
	if (ev == STREAM_EV_ERROR)
		nrs_ctl_lost(n, strerror(err));
}

static void nrs_ctl_dialed(void *ctx, struct stream *s, int err)
{
	struct nrs *n = ctx;
	n->ctl_dial = NULL;
	if (err) {
		log_warn("natrelay-server %s: cannot reach the relay %s:%u: %s", n->li->svc->name, n->o->relay_host,
			 n->o->relay_port, strerror(err));
		nrs_schedule_retry(n);
		return;
	}
	n->ctl = s;
	log_info("natrelay-server %s: connected to the relay %s:%u, exposing %s", n->li->svc->name, n->o->relay_host,
		 n->o->relay_port, n->li->svc->addr);
	stream_set_callbacks(s, nrs_ctl_read, nrs_ctl_event, n);
	stream_read_start(s);
}

static void nrs_connect(struct nrs *n)
{
	struct dial_opts d = { .chain = n->o->prefix.n_hops ? &n->o->prefix : NULL, .timeout = n->o->dial_timeout,
			       .svc = n->li->svc };
	n->ctl_dial = router_dial(n->li->w, &d, n->o->relay_host, n->o->relay_port, nrs_ctl_dialed, n);
}

static void nrs_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	nrs_connect(t->data);
}

static int nrs_start(struct listener_inst *li)
{
	if (li->w->id != 0)
		return 0; /* one control connection per service */
	struct nrs *n = xcalloc(1, sizeof *n);
	n->li = li;
	n->o = li->svc->listener.state;
	backoff_init(&n->retry, NRS_BACKOFF_MIN, NRS_BACKOFF_MAX, 0, nrs_retry_cb, n);
	li->state = n;
	nrs_connect(n);
	return 0;
}

static void nrs_stop(struct listener_inst *li)
{
	struct nrs *n = li->state;
	if (!n)
		return;
	n->stopped = 1;
	backoff_cancel(&n->retry, li->w->loop);
	if (n->ctl_dial) {
		router_dial_cancel(n->ctl_dial);
		n->ctl_dial = NULL;
	}
	stream_close(n->ctl);
	n->ctl = NULL;
	nrs_maybe_free(n);
}

const struct listener_type listener_natrelay_server = {
	.name = "natrelay-server",
	.socktype = 0,
	.init = nrs_init,
	.fini = nrs_fini,
	.start = nrs_start,
	.stop = nrs_stop,
};
