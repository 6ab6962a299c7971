/*
 * dialer wss: TLS (as the tls dialer) over the stream that reaches the node,
 * then the WebSocket opening handshake over the TLS stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/xprt/tls_stream.h"
#include "src/core/util.h"
#include "src/xprt/ws_stream.h"

struct wss_dialer {
	struct tls_conf *tls;        /* a reference */
	struct ws_opts ws;
	char label[320];
};

/*
 * One handshake in flight, between its TLS and its WebSocket step. It keeps
 * copies, not the node: a reload may free the node while TLS is under way.
 */
struct wss_handshake {
	struct ws_opts ws;           /* owned copy */
	char *addr;                  /* owned: the default Host field */
	char label[320];
	stream_done_cb cb;
	void *ctx;
};

static int wss_dialer_init(struct node *n, struct cfg_err *e)
{
	struct wss_dialer *d = xcalloc(1, sizeof *d);
	n->dialer.state = d;
	snprintf(d->label, sizeof d->label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	d->tls = tls_conf_client(&n->dialer.tls, n->dialer.md, n->dialer.md ? n->dialer.md : n->md, n->host, d->label,
				 e);
	if (!d->tls)
		return -1;
	return ws_opts_parse(&d->ws, n->dialer.md, 1, e);
}

static void wss_dialer_fini(struct node *n)
{
	struct wss_dialer *d = n->dialer.state;
	if (!d)
		return;
	tls_conf_unref(d->tls);
	ws_opts_free(&d->ws);
	free(d);
}

static void wss_tls_done(void *arg, struct stream *s, int err)
{
	struct wss_handshake *h = arg;
	if (s)
		ws_client_connect(&h->ws, s, h->addr, h->label, h->cb, h->ctx);
	else
		h->cb(h->ctx, NULL, err);
	ws_opts_free(&h->ws);
	free(h->addr);
	free(h);
}

static void wss_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	struct wss_dialer *d = n->dialer.state;
	struct wss_handshake *h = xcalloc(1, sizeof *h);
	ws_opts_copy(&h->ws, &d->ws);
	h->addr = xstrdup(n->addr);
	snprintf(h->label, sizeof h->label, "%s", d->label);
	h->cb = cb;
	h->ctx = ctx;
	tls_connect(d->tls, lower, wss_tls_done, h);
}

const struct dialer_type dialer_wss = {
	.name = "wss",
	.socktype = SOCK_STREAM,
	.init = wss_dialer_init,
	.fini = wss_dialer_fini,
	.handshake = wss_dialer_handshake,
	.uses_tls = 1,
};
