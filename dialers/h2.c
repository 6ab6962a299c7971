/*
 * dialer h2 (GOST's dialer/http2/h2, TLS): TLS with ALPN h2 (the server is
 * not verified unless tls.secure or tls.caFile), one HTTP/2 connection per
 * node on each worker, and per request a tunnel stream: CONNECT with
 * :authority `host` (default: the node's address), or GET `path` when set,
 * with the `header` fields; a 200 answer opens the tunnel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/svc/h2_mux.h"
#include "src/xprt/tls_stream.h"

struct h2_dialer_arg {
	struct tls_conf *tls;
	struct h2_tunnel t;
};

static void h2_establish(void *arg, struct stream *lower, stream_done_cb cb, void *ctx)
{
	tls_connect(((struct h2_dialer_arg *)arg)->tls, lower, cb, ctx);
}

static void h2_open(void *arg, struct h2_session *sess, stream_done_cb cb, void *ctx)
{
	h2_tunnel_open(&((struct h2_dialer_arg *)arg)->t, sess, cb, ctx);
}

static void h2_free_arg(void *arg)
{
	struct h2_dialer_arg *a = arg;
	tls_conf_unref(a->tls);
	h2_tunnel_free(&a->t);
	free(a);
}

static int h2tls_dialer_init(struct node *n, struct cfg_err *e)
{
	char label[320];
	snprintf(label, sizeof label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	struct h2_dialer_arg *a = xcalloc(1, sizeof *a);
	if (h2_tunnel_parse(n, 1, &a->t, e) < 0) {
		h2_free_arg(a);
		return -1;
	}
	struct tls_cfg tls = n->dialer.tls;
	tls.alpn = h2_alpn_with_h2(&n->dialer.tls, &tls.n_alpn);
	a->tls = tls_conf_client(&tls, n->dialer.md, n->dialer.md ? n->dialer.md : n->md, n->host, label, e);
	free(tls.alpn);
	if (!a->tls) {
		h2_free_arg(a);
		return -1;
	}
	n->dialer.state = h2_dialer_new(NULL, label, h2_establish, h2_open, a, h2_free_arg);
	return 0;
}

static void h2tls_dialer_fini(struct node *n) { h2_dialer_retire(n->dialer.state); }

static void h2tls_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	h2_dialer_handshake(n->dialer.state, lower, cb, ctx);
}

static int h2tls_dialer_reuse(struct node *n, struct worker *w, stream_done_cb cb, void *ctx)
{
	return h2_dialer_reuse(n->dialer.state, w, cb, ctx);
}

static void h2tls_dialer_give_up(struct node *n, struct worker *w, void *ctx, int err)
{
	h2_dialer_give_up(n->dialer.state, w, ctx, err);
}

const struct dialer_type dialer_h2 = {
	.name = "h2",
	.socktype = SOCK_STREAM,
	.init = h2tls_dialer_init,
	.fini = h2tls_dialer_fini,
	.handshake = h2tls_dialer_handshake,
	.reuse = h2tls_dialer_reuse,
	.give_up = h2tls_dialer_give_up,
	.uses_tls = 1,
};
