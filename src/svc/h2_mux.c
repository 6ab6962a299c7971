/*
 * HTTP/2 sessions of the http2, h2 and h2c types (see h2_mux.h).
 *
 * The dialer side follows src/svc/mux.c's slot machine; what differs is the
 * session (an h2_session, client side) and that a request's stream comes from
 * the type's open step, which may wait for the server's answer.
 */
#include "src/svc/h2_mux.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/service.h"

/* ---- listener side ---- */

struct h2_serve_ctx {
	struct service *svc;
	void (*on_request)(struct service *svc, struct stream *st);
};

static void serve_on_request(void *ud, struct h2_session *sess, struct stream *st)
{
	struct h2_serve_ctx *c = ud;
	(void)sess;
	if (c->on_request)
		c->on_request(c->svc, st);
	else
		service_dispatch(c->svc, st);
}

static void serve_on_closed(void *ud, struct h2_session *sess, int err)
{
	(void)sess;
	log_debug("service %s: http2 session ended: %s", ((struct h2_serve_ctx *)ud)->svc->name,
		  err ? strerror(err) : "end of stream");
	free(ud);
}

/* The lower stream holds the service reference while the session reads from it: requests come
 * only then, and ud goes with on_closed (a server session is never closed from here). */
void h2_serve_tls(struct service *svc, struct stream *tls, void (*on_request)(struct service *svc, struct stream *st))
{
	if (strcmp(tls->alpn, "h2")) {
		log_info("service %s: %s: the client did not choose HTTP/2 (ALPN \"%s\")", svc->name, tls->peer, tls->alpn);
		stream_close(tls);
		return;
	}
	h2_serve(svc, tls, on_request);
}

void h2_serve(struct service *svc, struct stream *lower, void (*on_request)(struct service *svc, struct stream *st))
{
	static const struct h2_session_callbacks cbs = { serve_on_request, serve_on_closed };
	struct h2_serve_ctx *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->on_request = on_request;
	log_debug("service %s: http2 session from %s", svc->name, lower->peer);
	h2_session_new(lower, 1, NULL, &cbs, c);
}

/* ---- the handle ---- */

struct h2_handle {
	struct stream base;
	struct h2_session *sess;
};

static void handle_nop(struct stream *s) { (void)s; }
static int handle_write(struct stream *s, const char *d, size_t l)
{
	(void)s;
	(void)d;
	(void)l;
	return -1;
}
static void handle_close(struct stream *s) { h2_session_release(((struct h2_handle *)s)->sess); }

static const struct stream_ops handle_ops = {
	.name = "http2-client",
	.read_start = handle_nop,
	.read_stop = handle_nop,
	.write = handle_write,
	.shutdown = handle_nop,
	.close = handle_close,
};

struct stream *h2_handle_new(struct h2_session *sess)
{
	struct h2_handle *h = xcalloc(1, sizeof *h);
	stream_init(&h->base, &handle_ops, h2_session_worker(sess));
	snprintf(h->base.peer, sizeof h->base.peer, "%s", h2_session_peer(sess));
	h->sess = sess;
	h2_session_hold(sess);
	return &h->base;
}

struct h2_session *h2_handle_session(struct stream *st)
{
	return st && st->ops == &handle_ops ? ((struct h2_handle *)st)->sess : NULL;
}

/* ---- headers ---- */

int h2_headers_parse(const struct cnode *md, const char *key, struct h2_nv **out, size_t *n, struct cfg_err *e)
{
	*out = NULL;
	*n = 0;
	const struct cnode *m = md ? cnode_get(md, key) : NULL;
	if (!m)
		return 0;
	if (m->kind != CN_MAP)
		return cfg_error(e, m, key, "expected a map of header names to values");
	struct h2_nv *nv = xcalloc(m->n + 1, sizeof *nv);
	for (size_t i = 0; i < m->n; i++) {
		const struct cnode *v = m->items[i];
		if (v->kind != CN_SCALAR || !v->key || !*v->key) {
			h2_headers_free(nv, i);
			return cfg_error(e, v, key, "expected a header name and a value");
		}
		for (const char *p = v->key; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p)) {
				h2_headers_free(nv, i);
				return cfg_error(e, v, key, "\"%s\" is not a header name", v->key);
			}
		for (const char *p = v->value; *p; p++)
			if (*p == '\r' || *p == '\n' || *p == 0) {
				h2_headers_free(nv, i);
				return cfg_error(e, v, key, "the value of \"%s\" has a line break", v->key);
			}
		char *name = xstrdup(v->key);
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		nv[i].name = name;
		nv[i].value = xstrdup(v->value);
	}
	*out = nv;
	*n = m->n;
	return 0;
}

void h2_headers_free(struct h2_nv *nv, size_t n)
{
	for (size_t i = 0; nv && i < n; i++) {
		free((char *)nv[i].name);
		free((char *)nv[i].value);
	}
	free(nv);
}

/* ---- dialer side ---- */

struct h2_waiter {
	struct h2_waiter *next;
	stream_done_cb cb;
	void *ctx;
};

enum slot_state { SLOT_IDLE, SLOT_DIALING, SLOT_PENDING, SLOT_UP };

struct h2_slot {
	struct h2_dialer *d;
	struct worker *w;
	enum slot_state state;
	struct h2_session *sess;             /* UP: owned */
	struct h2_waiter *waiters, **wtail;
	void *claim;
};

struct h2_slots {
	int n;
	struct h2_slot slot[];
};

struct h2_dialer {
	int refs;                            /* atomic */
	int retired;                         /* atomic */
	struct h2_config cfg;
	char label[320];
	h2_establish_fn establish;
	h2_open_fn open;
	void *arg;
	void (*free_arg)(void *arg);
	struct h2_slots *slots;              /* atomic pointer */
};

struct h2_dialer *h2_dialer_new(const struct h2_config *c, const char *label, h2_establish_fn establish,
				h2_open_fn open, void *arg, void (*free_arg)(void *arg))
{
	struct h2_dialer *d = xcalloc(1, sizeof *d);
	d->refs = 1;
	if (c)
		d->cfg = *c;
	else
		h2_config_default(&d->cfg);
	snprintf(d->label, sizeof d->label, "%s", label);
	d->establish = establish;
	d->open = open;
	d->arg = arg;
	d->free_arg = free_arg;
	return d;
}

static void dialer_ref(struct h2_dialer *d) { __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED); }

static void dialer_unref(struct h2_dialer *d)
{
	if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (d->free_arg)
		d->free_arg(d->arg);
	free(d->slots);
	free(d);
}

static struct h2_slot *slot_of(struct h2_dialer *d, struct worker *w)
{
	struct h2_slots *s = __atomic_load_n(&d->slots, __ATOMIC_ACQUIRE);
	if (!s) {
		struct h2_slots *fresh = xcalloc(1, sizeof *fresh + (size_t)worker_count * sizeof fresh->slot[0]);
		fresh->n = worker_count;
		for (int i = 0; i < worker_count; i++) {
			fresh->slot[i].d = d;
			fresh->slot[i].w = workers[i];
			fresh->slot[i].wtail = &fresh->slot[i].waiters;
		}
		if (__atomic_compare_exchange_n(&d->slots, &s, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			s = fresh;
		else
			free(fresh);
	}
	return w->id < s->n ? &s->slot[w->id] : NULL;
}

static void slot_enqueue(struct h2_slot *sl, stream_done_cb cb, void *ctx)
{
	struct h2_waiter *wt = xcalloc(1, sizeof *wt);
	wt->cb = cb;
	wt->ctx = ctx;
	*sl->wtail = wt;
	sl->wtail = &wt->next;
}

/* ud is the slot; a session the slot already let go of (GOAWAY) is not its business. */
static void slot_on_closed(void *ud, struct h2_session *sess, int err)
{
	struct h2_slot *sl = ud;
	if (sl->sess != sess)
		return;
	log_info("%s: http2 session closed: %s", sl->d->label, err ? strerror(err) : "end of stream");
	sl->sess = NULL;
	sl->state = SLOT_IDLE;
}

static const struct h2_session_callbacks slot_cbs = { NULL, slot_on_closed };

/* A session that takes no new requests: left to finish its streams; the next request dials. */
static void slot_let_go(struct h2_slot *sl)
{
	struct h2_session *s = sl->sess;
	sl->sess = NULL;
	sl->state = SLOT_IDLE;
	h2_session_forget(s); /* it ends with its last stream */
}

static void slot_established(void *ctx, struct stream *s, int err)
{
	struct h2_slot *sl = ctx;
	struct h2_dialer *d = sl->d;

	if (s && __atomic_load_n(&d->retired, __ATOMIC_ACQUIRE)) {
		stream_close(s);
		s = NULL;
		err = ECONNABORTED;
	}
	if (s && d->establish && strcmp(s->alpn, "h2")) {
		log_warn("%s: the server did not agree to HTTP/2 (ALPN \"%s\")", d->label, s->alpn);
		stream_close(s);
		s = NULL;
		err = EPROTO;
	}
	if (s) {
		log_info("%s: http2 session up over %s", d->label, s->peer);
		sl->sess = h2_session_new(s, 0, &d->cfg, &slot_cbs, sl);
		sl->state = SLOT_UP;
	} else {
		log_debug("%s: http2 session failed: %s", d->label, strerror(err ? err : ECONNRESET));
		sl->state = SLOT_IDLE;
	}
	struct h2_waiter *wt = sl->waiters;
	sl->waiters = NULL;
	sl->wtail = &sl->waiters;
	while (wt) {
		struct h2_waiter *next = wt->next;
		if (sl->state == SLOT_UP && sl->sess)
			d->open(d->arg, sl->sess, wt->cb, wt->ctx);
		else
			stream_done_later(sl->w, wt->cb, wt->ctx, NULL, err ? err : ECONNRESET);
		free(wt);
		wt = next;
	}
	dialer_unref(d);
}

struct establish_none {
	struct h2_slot *sl;
	struct stream *lower;
};

static void establish_none_run(void *arg)
{
	struct establish_none *en = arg;
	slot_established(en->sl, en->lower, 0);
	free(en);
}

int h2_dialer_reuse(struct h2_dialer *d, struct worker *w, stream_done_cb cb, void *ctx)
{
	struct h2_slot *sl = d ? slot_of(d, w) : NULL;
	if (!sl)
		return 0;
	switch (sl->state) {
	case SLOT_UP:
		if (!h2_session_usable(sl->sess)) {
			slot_let_go(sl);
			break;
		}
		d->open(d->arg, sl->sess, cb, ctx);
		return 1;
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

static void slot_fail_waiters(struct h2_slot *sl, int err)
{
	struct h2_waiter *wt = sl->waiters;
	sl->waiters = NULL;
	sl->wtail = &sl->waiters;
	while (wt) {
		struct h2_waiter *next = wt->next;
		stream_done_later(sl->w, wt->cb, wt->ctx, NULL, err);
		free(wt);
		wt = next;
	}
}

void h2_dialer_give_up(struct h2_dialer *d, struct worker *w, void *ctx, int err)
{
	struct h2_slot *sl = d ? slot_of(d, w) : NULL;
	if (!sl || sl->state != SLOT_DIALING || sl->claim != ctx)
		return;
	log_debug("%s: no http2 session: %s", d->label, strerror(err ? err : ECONNRESET));
	sl->state = SLOT_IDLE;
	sl->claim = NULL;
	slot_fail_waiters(sl, err ? err : ECONNRESET);
}

void h2_dialer_handshake(struct h2_dialer *d, struct stream *lower, stream_done_cb cb, void *ctx)
{
	struct worker *w = lower->w;
	struct h2_slot *sl = slot_of(d, w);
	if (!sl) {
		stream_close(lower);
		stream_done_later(w, cb, ctx, NULL, ECONNABORTED);
		return;
	}
	if (sl->state == SLOT_UP) {
		if (h2_session_usable(sl->sess)) {
			stream_close(lower);
			d->open(d->arg, sl->sess, cb, ctx);
			return;
		}
		slot_let_go(sl);
	}
	slot_enqueue(sl, cb, ctx);
	if (sl->state == SLOT_PENDING) {
		stream_close(lower);
		return;
	}
	sl->state = SLOT_PENDING;
	sl->claim = NULL;
	dialer_ref(d);
	if (d->establish) {
		d->establish(d->arg, lower, slot_established, sl);
		return;
	}
	struct establish_none *en = xmalloc(sizeof *en);
	en->sl = sl;
	en->lower = lower;
	worker_defer(w, establish_none_run, en);
}

static void slot_retire(void *arg)
{
	struct h2_slot *sl = arg;
	struct h2_dialer *d = sl->d;
	if (sl->state == SLOT_UP) {
		log_info("%s: http2 session closed: the node's configuration is gone", d->label);
		struct h2_session *s = sl->sess;
		sl->sess = NULL;
		sl->state = SLOT_IDLE;
		h2_session_close(s);
	}
	if (sl->state == SLOT_DIALING) {
		sl->state = SLOT_IDLE;
		sl->claim = NULL;
		slot_fail_waiters(sl, ECONNABORTED);
	}
	dialer_unref(d);
}

void h2_dialer_retire(struct h2_dialer *d)
{
	if (!d)
		return;
	__atomic_store_n(&d->retired, 1, __ATOMIC_RELEASE);
	struct h2_slots *s = __atomic_load_n(&d->slots, __ATOMIC_ACQUIRE);
	for (int i = 0; s && i < s->n; i++) {
		dialer_ref(d);
		worker_post(s->slot[i].w, slot_retire, &s->slot[i]);
	}
	dialer_unref(d);
}

/* ---- h2 / h2c tunnels ---- */

void h2_tunnel_accept(struct service *svc, struct stream *st, const char *path)
{
	const struct h2_request *r = h2_stream_request(st);
	if (!r) {
		stream_close(st);
		return;
	}
	if (!path && strcmp(r->method, "CONNECT")) {
		log_info("service %s: %s: %s %s: method not allowed (CONNECT expected)", svc->name, st->peer, r->method,
			 r->path);
		h2_stream_respond(st, 405, NULL, 0, 1);
		stream_close(st);
		return;
	}
	/* Go's RequestURI: the authority for CONNECT, else :path */
	const char *uri = strcmp(r->method, "CONNECT") ? r->path : r->authority;
	if (path && strcmp(uri, path)) {
		log_info("service %s: %s: %s %s: bad request (path %s expected)", svc->name, st->peer, r->method, uri,
			 path);
		h2_stream_respond(st, 400, NULL, 0, 1);
		stream_close(st);
		return;
	}
	if (h2_stream_respond(st, 200, NULL, 0, 0) < 0) {
		stream_close(st);
		return;
	}
	service_dispatch(svc, st);
}

int h2_tunnel_parse(struct node *n, int tls, struct h2_tunnel *t, struct cfg_err *e)
{
	memset(t, 0, sizeof *t);
	const char *host = md_str(n->dialer.md, "host", NULL);
	const char *path = md_str(n->dialer.md, "path", NULL);
	char addr[300];
	hostport_format(addr, sizeof addr, n->host, n->port);
	t->host = xstrdup(host && *host ? host : addr);
	t->path = path && *path ? xstrdup(path) : NULL;
	t->tls = tls;
	return h2_headers_parse(n->dialer.md, "header", &t->hdr, &t->n_hdr, e);
}

void h2_tunnel_free(struct h2_tunnel *t)
{
	if (!t)
		return;
	free(t->host);
	free(t->path);
	h2_headers_free(t->hdr, t->n_hdr);
	memset(t, 0, sizeof *t);
}

struct tunnel_req {
	stream_done_cb cb;
	void *ctx;
	char label[300];
};

static void tunnel_response(void *ctx, struct stream *st, int status, int err)
{
	struct tunnel_req *tr = ctx;
	if (st && status != 200) {
		log_info("http2 tunnel %s: the server answered %d", tr->label, status);
		stream_close(st);
		st = NULL;
		err = ECONNREFUSED;
	}
	tr->cb(tr->ctx, st, st ? 0 : (err ? err : ECONNREFUSED));
	free(tr);
}

void h2_tunnel_open(void *arg, struct h2_session *sess, stream_done_cb cb, void *ctx)
{
	const struct h2_tunnel *t = arg;
	struct h2_nv nv[8 + t->n_hdr];
	size_t n = 0;
	if (t->path) {
		nv[n++] = (struct h2_nv){ ":method", "GET" };
		nv[n++] = (struct h2_nv){ ":scheme", t->tls ? "https" : "http" };
		nv[n++] = (struct h2_nv){ ":authority", t->host };
		nv[n++] = (struct h2_nv){ ":path", t->path };
	} else {
		nv[n++] = (struct h2_nv){ ":method", "CONNECT" };
		nv[n++] = (struct h2_nv){ ":authority", t->host };
	}
	for (size_t i = 0; i < t->n_hdr; i++)
		nv[n++] = t->hdr[i];
	struct tunnel_req *tr = xcalloc(1, sizeof *tr);
	tr->cb = cb;
	tr->ctx = ctx;
	snprintf(tr->label, sizeof tr->label, "%s", h2_session_peer(sess));
	if (h2_session_request(sess, nv, n, tunnel_response, tr) < 0) {
		free(tr);
		stream_done_later(h2_session_worker(sess), cb, ctx, NULL, ECONNRESET);
	}
}

char **h2_alpn_with_h2(const struct tls_cfg *tls, size_t *n)
{
	size_t have = tls ? tls->n_alpn : 0, k = 0;
	char **a = xcalloc(have + 2, sizeof *a);
	int found = 0;
	for (size_t i = 0; i < have; i++)
		if (!strcmp(tls->alpn[i], "h2"))
			found = 1;
	if (!found)
		a[k++] = "h2";
	for (size_t i = 0; i < have; i++)
		a[k++] = tls->alpn[i];
	*n = k;
	return a;
}
