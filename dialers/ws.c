/*
 * dialer ws: the WebSocket opening handshake (client side) over the stream
 * that reaches the node; the Host field is metadata host or the node's
 * address, the path metadata path (default /ws).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/xprt/ws_stream.h"

struct ws_dialer {
	struct ws_opts ws;
	char label[320];
};

static int ws_dialer_init(struct node *n, struct cfg_err *e)
{
	struct ws_dialer *d = xcalloc(1, sizeof *d);
	n->dialer.state = d;
	snprintf(d->label, sizeof d->label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	return ws_opts_parse(&d->ws, n->dialer.md, 1, e);
}

static void ws_dialer_fini(struct node *n)
{
	struct ws_dialer *d = n->dialer.state;
	if (!d)
		return;
	ws_opts_free(&d->ws);
	free(d);
}

static void ws_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	struct ws_dialer *d = n->dialer.state;
	ws_client_connect(&d->ws, lower, n->addr, d->label, cb, ctx);
}

const struct dialer_type dialer_ws = {
	.name = "ws",
	.socktype = SOCK_STREAM,
	.init = ws_dialer_init,
	.fini = ws_dialer_fini,
	.handshake = ws_dialer_handshake,
};
