/*
 * dialer h2c (GOST's dialer/http2/h2 without TLS): HTTP/2 with prior
 * knowledge over the connection that reaches the node, one connection per
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

static void h2c_open(void *arg, struct h2_session *sess, stream_done_cb cb, void *ctx)
{
	h2_tunnel_open(arg, sess, cb, ctx);
}

static void h2c_free_arg(void *arg)
{
	h2_tunnel_free(arg);
	free(arg);
}

static int h2c_dialer_init(struct node *n, struct cfg_err *e)
{
	char label[320];
	snprintf(label, sizeof label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	struct h2_tunnel *t = xcalloc(1, sizeof *t);
	if (h2_tunnel_parse(n, 0, t, e) < 0) {
		h2c_free_arg(t);
		return -1;
	}
	n->dialer.state = h2_dialer_new(NULL, label, NULL, h2c_open, t, h2c_free_arg);
	return 0;
}

static void h2c_dialer_fini(struct node *n) { h2_dialer_retire(n->dialer.state); }

static void h2c_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	h2_dialer_handshake(n->dialer.state, lower, cb, ctx);
}

static int h2c_dialer_reuse(struct node *n, struct worker *w, stream_done_cb cb, void *ctx)
{
	return h2_dialer_reuse(n->dialer.state, w, cb, ctx);
}

static void h2c_dialer_give_up(struct node *n, struct worker *w, void *ctx, int err)
{
	h2_dialer_give_up(n->dialer.state, w, ctx, err);
}

const struct dialer_type dialer_h2c = {
	.name = "h2c",
	.socktype = SOCK_STREAM,
	.init = h2c_dialer_init,
	.fini = h2c_dialer_fini,
	.handshake = h2c_dialer_handshake,
	.reuse = h2c_dialer_reuse,
	.give_up = h2c_dialer_give_up,
};
