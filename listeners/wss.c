/*
 * listener wss: TCP, TLS (as the tls listener: tls block, ALPN, mutual TLS,
 * a self-signed certificate when none is set), then the WebSocket opening
 * handshake (as the ws listener).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/svc/service.h"
#include "src/xprt/tls_stream.h"
#include "src/core/util.h"
#include "src/xprt/ws_stream.h"

struct wss_listener {
	struct tls_conf *tls;        /* a reference */
	struct ws_opts ws;
};

static int wss_listener_init(struct service *svc, struct cfg_err *e)
{
	struct wss_listener *l = xcalloc(1, sizeof *l);
	char label[160];
	svc->listener.state = l;
	snprintf(label, sizeof label, "service %s", svc->name);
	const struct cnode *where = cnode_get(svc->cfg, "listener");
	l->tls = tls_conf_server(&svc->listener.tls, svc->listener.md, where ? where : svc->cfg, label, e);
	if (!l->tls)
		return -1;
	return ws_opts_parse(&l->ws, svc->listener.md, 0, e);
}

static void wss_listener_fini(struct service *svc)
{
	struct wss_listener *l = svc->listener.state;
	if (!l)
		return;
	tls_conf_unref(l->tls);
	ws_opts_free(&l->ws);
	free(l);
}

static void wss_ws_ready(void *ctx, struct stream *s, int err)
{
	(void)err;
	if (s)
		service_dispatch(ctx, s);
}

static void wss_tls_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	struct wss_listener *l = svc->listener.state;
	(void)err;
	if (s)
		ws_server_accept(&l->ws, s, wss_ws_ready, svc);
}

static void wss_listener_accept(struct listener_inst *li, struct stream *s)
{
	struct wss_listener *l = li->svc->listener.state;
	tls_accept(l->tls, s, wss_tls_ready, li->svc);
}

static int wss_listener_start(struct listener_inst *li) { return stream_listener_start(li, wss_listener_accept); }

const struct listener_type listener_wss = {
	.name = "wss",
	.socktype = SOCK_STREAM,
	.init = wss_listener_init,
	.fini = wss_listener_fini,
	.start = wss_listener_start,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
