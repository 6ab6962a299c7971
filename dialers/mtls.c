/*
 * dialer mtls (GOST): TLS (as the tls dialer: the server is not verified
 * unless tls.secure or tls.caFile) over the connection that reaches the node,
 * then one smux session per node on each worker over it; every request is a
 * new stream (src/svc/mux.h). mux.version defaults to 1.
 */
#include <stdio.h>
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/svc/mux.h"
#include "src/xprt/tls_stream.h"

static void mtls_establish(void *arg, struct stream *lower, stream_done_cb cb, void *ctx)
{
	tls_connect(arg, lower, cb, ctx);
}

static void mtls_free_arg(void *arg) { tls_conf_unref(arg); }

static int mtls_dialer_init(struct node *n, struct cfg_err *e)
{
	struct smux_config c;
	char label[320];
	snprintf(label, sizeof label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	if (mux_config_parse(n->dialer.md, SMUX_VERSION_1, &c, e) < 0)
		return -1;
	struct tls_conf *tls = tls_conf_client(&n->dialer.tls, n->dialer.md, n->dialer.md ? n->dialer.md : n->md,
					       n->host, label, e);
	if (!tls)
		return -1;
	n->dialer.state = mux_dialer_new(&c, label, mtls_establish, tls, mtls_free_arg);
	return 0;
}

static void mtls_dialer_fini(struct node *n) { mux_dialer_retire(n->dialer.state); }

static void mtls_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	mux_dialer_handshake(n->dialer.state, lower, cb, ctx);
}

static int mtls_dialer_reuse(struct node *n, struct worker *w, stream_done_cb cb, void *ctx)
{
	return mux_dialer_reuse(n->dialer.state, w, cb, ctx);
}

static void mtls_dialer_give_up(struct node *n, struct worker *w, void *ctx, int err)
{
	mux_dialer_give_up(n->dialer.state, w, ctx, err);
}

const struct dialer_type dialer_mtls = {
	.name = "mtls",
	.socktype = SOCK_STREAM,
	.init = mtls_dialer_init,
	.fini = mtls_dialer_fini,
	.handshake = mtls_dialer_handshake,
	.reuse = mtls_dialer_reuse,
	.give_up = mtls_dialer_give_up,
	.uses_tls = 1,
};
