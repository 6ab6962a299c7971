/*
 * listener mws (GOST): the WebSocket opening handshake as the ws listener
 * does it (metadata path, default /ws; other paths 404), then an smux server
 * session over the WebSocket's binary messages; each stream the client opens
 * reaches the handler. mux.version defaults to 1.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/mux.h"
#include "src/svc/service.h"
#include "src/xprt/ws_stream.h"

/* Owned by the service (listener.state). */
struct mws_listener {
	struct ws_opts ws;
	struct smux_config mux;
};

static int mws_listener_init(struct service *svc, struct cfg_err *e)
{
	struct mws_listener *l = xcalloc(1, sizeof *l);
	svc->listener.state = l;
	if (ws_opts_parse(&l->ws, svc->listener.md, 0, e) < 0)
		return -1;
	return mux_config_parse(svc->listener.md, SMUX_VERSION_1, &l->mux, e);
}

static void mws_listener_fini(struct service *svc)
{
	struct mws_listener *l = svc->listener.state;
	if (!l)
		return;
	ws_opts_free(&l->ws);
	free(l);
}

static void mws_listener_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	struct mws_listener *l = svc->listener.state;
	(void)err;
	if (s)
		mux_serve(svc, &l->mux, s);
}

static void mws_listener_accept(struct listener_inst *li, struct stream *s)
{
	struct mws_listener *l = li->svc->listener.state;
	ws_server_accept(&l->ws, s, mws_listener_ready, li->svc);
}

static int mws_listener_start(struct listener_inst *li) { return stream_listener_start(li, mws_listener_accept); }

const struct listener_type listener_mws = {
	.name = "mws",
	.socktype = SOCK_STREAM,
	.init = mws_listener_init,
	.fini = mws_listener_fini,
	.start = mws_listener_start,
	.stop = stream_listener_stop,
};
