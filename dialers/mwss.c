/*
 * dialer mwss (GOST): TLS (as the tls dialer), the WebSocket opening
 * handshake (as the ws dialer) over it, then one smux session per node on
 * each worker over the WebSocket; every request is a new stream
 * (src/svc/mux.h). mux.version defaults to 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/svc/mux.h"
#include "src/xprt/tls_stream.h"
#include "src/xprt/ws_stream.h"

/* The establish step's settings, owned by the mux dialer (alive while an establishment runs). */
struct mwss_arg {
	struct tls_conf *tls;        /* a reference */
	struct ws_opts ws;
	char *addr;                  /* owned: the default Host field */
	char label[320];
};

/* One establishment between its TLS and its WebSocket step. */
struct mwss_step {
	struct mwss_arg *a;
	stream_done_cb cb;
	void *ctx;
};

static void mwss_tls_done(void *arg, struct stream *s, int err)
{
	struct mwss_step *st = arg;
	if (s)
		ws_client_connect(&st->a->ws, s, st->a->addr, st->a->label, st->cb, st->ctx);
	else
		st->cb(st->ctx, NULL, err);
	free(st);
}

static void mwss_establish(void *arg, struct stream *lower, stream_done_cb cb, void *ctx)
{
	struct mwss_arg *a = arg;
	struct mwss_step *st = xcalloc(1, sizeof *st);
	st->a = a;
	st->cb = cb;
	st->ctx = ctx;
	tls_connect(a->tls, lower, mwss_tls_done, st);
}

static void mwss_free_arg(void *arg)
{
	struct mwss_arg *a = arg;
	tls_conf_unref(a->tls);
	ws_opts_free(&a->ws);
	free(a->addr);
	free(a);
}

static int mwss_dialer_init(struct node *n, struct cfg_err *e)
{
	struct smux_config c;
	if (mux_config_parse(n->dialer.md, SMUX_VERSION_1, &c, e) < 0)
		return -1;
	struct mwss_arg *a = xcalloc(1, sizeof *a);
	snprintf(a->label, sizeof a->label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	a->addr = xstrdup(n->addr);
	a->tls = tls_conf_client(&n->dialer.tls, n->dialer.md, n->dialer.md ? n->dialer.md : n->md, n->host, a->label,
				 e);
	if (!a->tls || ws_opts_parse(&a->ws, n->dialer.md, 1, e) < 0) {
		mwss_free_arg(a);
		return -1;
	}
	n->dialer.state = mux_dialer_new(&c, a->label, mwss_establish, a, mwss_free_arg);
	return 0;
}

static void mwss_dialer_fini(struct node *n) { mux_dialer_retire(n->dialer.state); }

static void mwss_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	mux_dialer_handshake(n->dialer.state, lower, cb, ctx);
}

static int mwss_dialer_reuse(struct node *n, struct worker *w, stream_done_cb cb, void *ctx)
{
	return mux_dialer_reuse(n->dialer.state, w, cb, ctx);
}

static void mwss_dialer_give_up(struct node *n, struct worker *w, void *ctx, int err)
{
	mux_dialer_give_up(n->dialer.state, w, ctx, err);
}

const struct dialer_type dialer_mwss = {
	.name = "mwss",
	.socktype = SOCK_STREAM,
	.init = mwss_dialer_init,
	.fini = mwss_dialer_fini,
	.handshake = mwss_dialer_handshake,
	.reuse = mwss_dialer_reuse,
	.give_up = mwss_dialer_give_up,
	.uses_tls = 1,
};
