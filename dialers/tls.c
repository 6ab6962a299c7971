/*
 * dialer tls: a TLS handshake (client side) over the stream that reaches the
 * node, be it a socket or a stream tunnelled through earlier hops. As in
 * GOST the server is not verified unless tls.secure or tls.caFile is set.
 */
#include <stdio.h>
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/xprt/tls_stream.h"

static int tls_dialer_init(struct node *n, struct cfg_err *e)
{
	char label[320];
	snprintf(label, sizeof label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	n->dialer.state = tls_conf_client(&n->dialer.tls, n->dialer.md, n->dialer.md ? n->dialer.md : n->md, n->host,
					  label, e);
	return n->dialer.state ? 0 : -1;
}

static void tls_dialer_fini(struct node *n) { tls_conf_unref(n->dialer.state); }

static void tls_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	tls_connect(n->dialer.state, lower, cb, ctx);
}

const struct dialer_type dialer_tls = {
	.name = "tls",
	.socktype = SOCK_STREAM,
	.init = tls_dialer_init,
	.fini = tls_dialer_fini,
	.handshake = tls_dialer_handshake,
	.uses_tls = 1,
};
