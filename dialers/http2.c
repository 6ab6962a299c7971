/*
 * dialer http2 (GOST's dialer/http2): TLS with ALPN h2 (the server is not
 * verified unless tls.secure or tls.caFile, as the tls dialer) and one
 * HTTP/2 connection per node on each worker, shared by every request; the
 * stream it delivers is a handle on that connection, for the http2
 * connector to send its CONNECT over (GOST passes the http.Client the same
 * way). Any other connector fails on it, as in GOST.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/svc/h2_mux.h"
#include "src/xprt/tls_stream.h"

static void http2_establish(void *arg, struct stream *lower, stream_done_cb cb, void *ctx)
{
	tls_connect(arg, lower, cb, ctx);
}

static void http2_free_arg(void *arg) { tls_conf_unref(arg); }

static void http2_open(void *arg, struct h2_session *sess, stream_done_cb cb, void *ctx)
{
	(void)arg;
	stream_done_later(h2_session_worker(sess), cb, ctx, h2_handle_new(sess), 0);
}

static int http2_dialer_init(struct node *n, struct cfg_err *e)
{
	char label[320];
	snprintf(label, sizeof label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	struct tls_cfg tls = n->dialer.tls;
	tls.alpn = h2_alpn_with_h2(&n->dialer.tls, &tls.n_alpn);
	struct tls_conf *c = tls_conf_client(&tls, n->dialer.md, n->dialer.md ? n->dialer.md : n->md, n->host, label, e);
	free(tls.alpn);
	if (!c)
		return -1;
	n->dialer.state = h2_dialer_new(NULL, label, http2_establish, http2_open, c, http2_free_arg);
	return 0;
}

static void http2_dialer_fini(struct node *n) { h2_dialer_retire(n->dialer.state); }

static void http2_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	h2_dialer_handshake(n->dialer.state, lower, cb, ctx);
}

static int http2_dialer_reuse(struct node *n, struct worker *w, stream_done_cb cb, void *ctx)
{
	return h2_dialer_reuse(n->dialer.state, w, cb, ctx);
}

static void http2_dialer_give_up(struct node *n, struct worker *w, void *ctx, int err)
{
	h2_dialer_give_up(n->dialer.state, w, ctx, err);
}

const struct dialer_type dialer_http2 = {
	.name = "http2",
	.socktype = SOCK_STREAM,
	.init = http2_dialer_init,
	.fini = http2_dialer_fini,
	.handshake = http2_dialer_handshake,
	.reuse = http2_dialer_reuse,
	.give_up = http2_dialer_give_up,
	.uses_tls = 1,
};
