/*
 * Multiplexed transports, both sides (see mux.h).
 *
 * Dialer side, per node: a table of slots, one per worker, each holding that
 * worker's session and the requests waiting for it:
 *
 *   IDLE --reuse: 0--> DIALING --handshake(lower)--> PENDING --established--> UP
 *     ^                  |                              |                     |
 *     +----give_up-------+-------------failed-----------+----session died-----+
 *
 * A request on a worker whose slot is UP gets a stream at once (reuse); one
 * arriving while DIALING or PENDING queues; the one finding IDLE claims the
 * slot (DIALING) and the router dials the node for it; its handshake turns
 * that connection into the session (PENDING while TLS / WebSocket run). When
 * the claiming dial fails before that (refused, timed out, cancelled), the
 * router says so (give_up) and every waiter gets the error, as do they when
 * the establishment fails. So one connection per node and worker, as GOST
 * makes one per node. A handshake from elsewhere (a caller that did not ask
 * reuse first: rtcp, probe) joins an existing session and closes its own
 * connection, or becomes the session.
 */
#include "src/svc/mux.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/service.h"

int mux_config_parse(const struct cnode *md, int default_version, struct smux_config *c, struct cfg_err *e)
{
	const char *type = md_str(md, "mux.type", NULL);
	if (!type) {
		const struct cnode *m = md ? cnode_get(md, "mux") : NULL;
		if (m && m->kind == CN_MAP)
			type = md_str(m, "type", NULL);
	}
	if (type && *type && strcasecmp(type, "smux")) {
		const struct cnode *at = md ? cnode_get(md, "mux.type") : NULL;
		return cfg_error(e, at ? at : md, "mux.type", "\"%s\" is not supported (only smux)", type);
	}
	return smux_config_parse_version(md, default_version, c, e);
}

/* ---- listener side ---- */

/* ud is the service: the lower stream holds its reference while the session reads from it,
 * and streams arrive only then. */
static void serve_on_stream(void *ud, struct smux_session *sess, struct stream *st)
{
	(void)sess;
	service_dispatch(ud, st);
}

static void serve_on_closed(void *ud, struct smux_session *sess, int err)
{
	(void)ud;
	(void)sess;
	log_debug("mux session ended: %s", err ? strerror(err) : "end of stream");
}

void mux_serve(struct service *svc, const struct smux_config *c, struct stream *lower)
{
	static const struct smux_callbacks cbs = { serve_on_stream, serve_on_closed };
	log_debug("service %s: mux session from %s", svc->name, lower->peer);
	smux_session_new(lower, 0, c, &cbs, svc);
}

/* ---- dialer side ---- */

struct mux_waiter {
	struct mux_waiter *next;
	stream_done_cb cb;
	void *ctx;
};

enum slot_state { SLOT_IDLE, SLOT_DIALING, SLOT_PENDING, SLOT_UP };

/* One worker's part of a dialer; only that worker touches it. */
struct mux_slot {
	struct mux_dialer *d;
	struct worker *w;
	enum slot_state state;
	struct smux_session *sess;           /* UP: owned */
	struct mux_waiter *waiters, **wtail; /* DIALING, PENDING: owned */
	void *claim;                         /* DIALING: the ctx of the dial that claimed the slot */
};

struct mux_slots {
	int n;                               /* worker_count when they were made */
	struct mux_slot slot[];
};

struct mux_dialer {
	int refs;                            /* atomic */
	int retired;                         /* atomic: the node is gone */
	struct smux_config cfg;
	char label[320];
	mux_establish_fn establish;          /* NULL: none */
	void *arg;                           /* owned, released by free_arg */
	void (*free_arg)(void *arg);
	struct mux_slots *slots;             /* atomic pointer: made by the first worker that needs them */
};

struct mux_dialer *mux_dialer_new(const struct smux_config *c, const char *label, mux_establish_fn establish,
				  void *arg, void (*free_arg)(void *arg))
{
	struct mux_dialer *d = xcalloc(1, sizeof *d);
	d->refs = 1;
	d->cfg = *c;
	snprintf(d->label, sizeof d->label, "%s", label);
	d->establish = establish;
	d->arg = arg;
	d->free_arg = free_arg;
	return d;
}

static void dialer_ref(struct mux_dialer *d) { __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED); }

static void dialer_unref(struct mux_dialer *d)
{
	if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (d->free_arg)
		d->free_arg(d->arg);
	free(d->slots);
	free(d);
}

static struct mux_slot *slot_of(struct mux_dialer *d, struct worker *w)
{
	struct mux_slots *s = __atomic_load_n(&d->slots, __ATOMIC_ACQUIRE);
	if (!s) {
		struct mux_slots *fresh = xcalloc(1, sizeof *fresh + (size_t)worker_count * sizeof fresh->slot[0]);
		fresh->n = worker_count;
		for (int i = 0; i < worker_count; i++) {
			fresh->slot[i].d = d;
			fresh->slot[i].w = workers[i];
			fresh->slot[i].wtail = &fresh->slot[i].waiters;
		}
		if (__atomic_compare_exchange_n(&d->slots, &s, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			s = fresh;
		else
			free(fresh); /* another worker was first; s is theirs */
	}
	return w->id < s->n ? &s->slot[w->id] : NULL;
}

static void slot_enqueue(struct mux_slot *sl, stream_done_cb cb, void *ctx)
{
	struct mux_waiter *wt = xcalloc(1, sizeof *wt);
	wt->cb = cb;
	wt->ctx = ctx;
	*sl->wtail = wt;
	sl->wtail = &wt->next;
}

static void slot_on_closed(void *ud, struct smux_session *sess, int err)
{
	struct mux_slot *sl = ud;
	(void)sess;
	log_info("%s: mux session closed: %s", sl->d->label, err ? strerror(err) : "end of stream");
	sl->sess = NULL;
	sl->state = SLOT_IDLE;
}

/* Drop a session that can open no more streams (out of ids): the next request dials anew. */
static void slot_drop_session(struct mux_slot *sl)
{
	smux_session_close(sl->sess);
	sl->sess = NULL;
	sl->state = SLOT_IDLE;
}

/* The establish step finished (an entry point of the loop): the session starts, or every
 * waiter learns why not. Releases the establishment's reference. */
static void slot_established(void *ctx, struct stream *s, int err)
{
	static const struct smux_callbacks cbs = { NULL, slot_on_closed };
	struct mux_slot *sl = ctx;
	struct mux_dialer *d = sl->d;

	if (s && __atomic_load_n(&d->retired, __ATOMIC_ACQUIRE)) {
		stream_close(s);
		s = NULL;
		err = ECONNABORTED;
	}
	if (s) {
		log_info("%s: mux session up over %s (smux v%d)", d->label, s->peer, d->cfg.version);
		sl->sess = smux_session_new(s, 1, &d->cfg, &cbs, sl);
		sl->state = SLOT_UP;
	} else {
		log_debug("%s: mux session failed: %s", d->label, strerror(err ? err : ECONNRESET));
		sl->state = SLOT_IDLE;
	}
	struct mux_waiter *wt = sl->waiters;
	sl->waiters = NULL;
	sl->wtail = &sl->waiters;
	while (wt) {
		struct mux_waiter *next = wt->next;
		struct stream *st = sl->state == SLOT_UP ? smux_stream_open(sl->sess) : NULL;
		wt->cb(wt->ctx, st, st ? 0 : (err ? err : ECONNRESET));
		free(wt);
		wt = next;
	}
	dialer_unref(d);
}

/* mtcp: no step of its own, but the result still comes from the loop. */
struct establish_none {
	struct mux_slot *sl;
	struct stream *lower;
};

static void establish_none_run(void *arg)
{
	struct establish_none *en = arg;
	slot_established(en->sl, en->lower, 0);
	free(en);
}

int mux_dialer_reuse(struct mux_dialer *d, struct worker *w, stream_done_cb cb, void *ctx)
{
	struct mux_slot *sl = d ? slot_of(d, w) : NULL;
	if (!sl)
		return 0;
	switch (sl->state) {
	case SLOT_UP: {
		struct stream *st = smux_stream_open(sl->sess);
		if (!st) {
			slot_drop_session(sl);
			return 0;
		}
		stream_done_later(w, cb, ctx, st, 0);
		return 1;
	}
	case SLOT_DIALING:
	case SLOT_PENDING:
		slot_enqueue(sl, cb, ctx);
		return 1;
	case SLOT_IDLE:
		break;
	}
	sl->state = SLOT_DIALING;
	sl->claim = ctx;
	return 0;
}

/* Every waiter gets err, from the loop: the callers of this are inside their own calls. */
static void slot_fail_waiters(struct mux_slot *sl, int err)
{
	struct mux_waiter *wt = sl->waiters;
	sl->waiters = NULL;
	sl->wtail = &sl->waiters;
	while (wt) {
		struct mux_waiter *next = wt->next;
		stream_done_later(sl->w, wt->cb, wt->ctx, NULL, err);
		free(wt);
		wt = next;
	}
}

void mux_dialer_give_up(struct mux_dialer *d, struct worker *w, void *ctx, int err)
{
	struct mux_slot *sl = d ? slot_of(d, w) : NULL;
	if (!sl || sl->state != SLOT_DIALING || sl->claim != ctx)
		return; /* someone else's handshake came first */
	log_debug("%s: no mux session: %s", d->label, strerror(err ? err : ECONNRESET));
	sl->state = SLOT_IDLE;
	sl->claim = NULL;
	slot_fail_waiters(sl, err ? err : ECONNRESET);
}

void mux_dialer_handshake(struct mux_dialer *d, struct stream *lower, stream_done_cb cb, void *ctx)
{
	struct worker *w = lower->w;
	struct mux_slot *sl = slot_of(d, w);
	if (!sl) {
		stream_close(lower);
		stream_done_later(w, cb, ctx, NULL, ECONNABORTED);
		return;
	}
	if (sl->state == SLOT_UP) {
		struct stream *st = smux_stream_open(sl->sess);
		if (st) {
			stream_close(lower); /* dialed while the session came up: use the session */
			stream_done_later(w, cb, ctx, st, 0);
			return;
		}
		slot_drop_session(sl); /* out of stream ids: lower becomes the new session */
	}
	slot_enqueue(sl, cb, ctx);
	if (sl->state == SLOT_PENDING) {
		stream_close(lower); /* another request's connection is becoming the session */
		return;
	}
	sl->state = SLOT_PENDING; /* from IDLE, or DIALING: the claiming dial's or anybody's connection */
	sl->claim = NULL;
	dialer_ref(d); /* the establishment's, released by slot_established */
	if (d->establish) {
		d->establish(d->arg, lower, slot_established, sl);
		return;
	}
	struct establish_none *en = xmalloc(sizeof *en);
	en->sl = sl;
	en->lower = lower;
	worker_defer(w, establish_none_run, en);
}

/* On each worker, after the node went away: close its session. */
static void slot_retire(void *arg)
{
	struct mux_slot *sl = arg;
	struct mux_dialer *d = sl->d;
	if (sl->state == SLOT_UP) {
		log_info("%s: mux session closed: the node's configuration is gone", d->label);
		slot_drop_session(sl);
	}
	if (sl->state == SLOT_DIALING) {
		/* the claiming dial is gone with the node's configuration */
		sl->state = SLOT_IDLE;
		sl->claim = NULL;
		slot_fail_waiters(sl, ECONNABORTED);
	}
	/* PENDING: slot_established sees retired and fails the waiters. */
	dialer_unref(d);
}

void mux_dialer_retire(struct mux_dialer *d)
{
	if (!d)
		return;
	__atomic_store_n(&d->retired, 1, __ATOMIC_RELEASE);
	struct mux_slots *s = __atomic_load_n(&d->slots, __ATOMIC_ACQUIRE);
	for (int i = 0; s && i < s->n; i++) {
		dialer_ref(d);
		worker_post(s->slot[i].w, slot_retire, &s->slot[i]);
	}
	dialer_unref(d);
}
