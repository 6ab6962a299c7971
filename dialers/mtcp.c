/*
 * dialer mtcp (GOST): one smux session per node on each worker, straight over
 * the TCP connection that reaches the node; every request is a new stream
 * over it (src/svc/mux.h). A session that broke is replaced by the next
 * request. mux.version defaults to 2 here (1 for mtls, mws, mwss).
 */
#include <stdio.h>
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/svc/mux.h"

static int mtcp_dialer_init(struct node *n, struct cfg_err *e)
{
	struct smux_config c;
	char label[320];
	if (mux_config_parse(n->dialer.md, SMUX_VERSION_2, &c, e) < 0)
		return -1;
	snprintf(label, sizeof label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	n->dialer.state = mux_dialer_new(&c, label, NULL, NULL, NULL);
	return 0;
}

static void mtcp_dialer_fini(struct node *n) { mux_dialer_retire(n->dialer.state); }

static void mtcp_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	mux_dialer_handshake(n->dialer.state, lower, cb, ctx);
}

static int mtcp_dialer_reuse(struct node *n, struct worker *w, stream_done_cb cb, void *ctx)
{
	return mux_dialer_reuse(n->dialer.state, w, cb, ctx);
}

static void mtcp_dialer_give_up(struct node *n, struct worker *w, void *ctx, int err)
{
	mux_dialer_give_up(n->dialer.state, w, ctx, err);
}

const struct dialer_type dialer_mtcp = {
	.name = "mtcp",
	.socktype = SOCK_STREAM,
	.init = mtcp_dialer_init,
	.fini = mtcp_dialer_fini,
	.handshake = mtcp_dialer_handshake,
	.reuse = mtcp_dialer_reuse,
	.give_up = mtcp_dialer_give_up,
};
