/*
 * dialer mws (GOST): the WebSocket opening handshake (as the ws dialer: Host
 * is metadata host or the node's address, path metadata path, default /ws)
 * over the connection that reaches the node, then one smux session per node
 * on each worker over the WebSocket; every request is a new stream
 * (src/svc/mux.h). mux.version defaults to 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/svc/mux.h"
#include "src/xprt/ws_stream.h"

/* The establish step's settings, owned by the mux dialer. */
struct mws_arg {
	struct ws_opts ws;
	char *addr;                  /* owned: the default Host field */
	char label[320];
};

static void mws_establish(void *arg, struct stream *lower, stream_done_cb cb, void *ctx)
{
	struct mws_arg *a = arg;
	ws_client_connect(&a->ws, lower, a->addr, a->label, cb, ctx);
}

static void mws_free_arg(void *arg)
{
	struct mws_arg *a = arg;
	ws_opts_free(&a->ws);
	free(a->addr);
	free(a);
}

static int mws_dialer_init(struct node *n, struct cfg_err *e)
{
	struct smux_config c;
	if (mux_config_parse(n->dialer.md, SMUX_VERSION_1, &c, e) < 0)
		return -1;
	struct mws_arg *a = xcalloc(1, sizeof *a);
	snprintf(a->label, sizeof a->label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	a->addr = xstrdup(n->addr);
	if (ws_opts_parse(&a->ws, n->dialer.md, 1, e) < 0) {
		mws_free_arg(a);
		return -1;
	}
	n->dialer.state = mux_dialer_new(&c, a->label, mws_establish, a, mws_free_arg);
	return 0;
}

static void mws_dialer_fini(struct node *n) { mux_dialer_retire(n->dialer.state); }

static void mws_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	mux_dialer_handshake(n->dialer.state, lower, cb, ctx);
}

static int mws_dialer_reuse(struct node *n, struct worker *w, stream_done_cb cb, void *ctx)
{
	return mux_dialer_reuse(n->dialer.state, w, cb, ctx);
}

static void mws_dialer_give_up(struct node *n, struct worker *w, void *ctx, int err)
{
	mux_dialer_give_up(n->dialer.state, w, ctx, err);
}

const struct dialer_type dialer_mws = {
	.name = "mws",
	.socktype = SOCK_STREAM,
	.init = mws_dialer_init,
	.fini = mws_dialer_fini,
	.handshake = mws_dialer_handshake,
	.reuse = mws_dialer_reuse,
	.give_up = mws_dialer_give_up,
};
