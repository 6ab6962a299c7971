/*
 * listener ws: TCP, then the WebSocket opening handshake on the configured
 * path (metadata path, default /ws) before the handler sees the connection.
 * Anything else gets an HTTP error answer: 404 for another path, 426 for a
 * request that is no upgrade, 400 for a malformed one.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/svc/service.h"
#include "src/core/util.h"
#include "src/xprt/ws_stream.h"

static int ws_listener_init(struct service *svc, struct cfg_err *e)
{
	struct ws_opts *o = xcalloc(1, sizeof *o);
	svc->listener.state = o;
	return ws_opts_parse(o, svc->listener.md, 0, e);
}

static void ws_listener_fini(struct service *svc)
{
	ws_opts_free(svc->listener.state);
	free(svc->listener.state);
}

static void ws_listener_ready(void *ctx, struct stream *s, int err)
{
	(void)err;
	if (s)
		service_dispatch(ctx, s);
}

static void ws_listener_accept(struct listener_inst *li, struct stream *s)
{
	ws_server_accept(li->svc->listener.state, s, ws_listener_ready, li->svc);
}

static int ws_listener_start(struct listener_inst *li) { return stream_listener_start(li, ws_listener_accept); }

const struct listener_type listener_ws = {
	.name = "ws",
	.socktype = SOCK_STREAM,
	.init = ws_listener_init,
	.fini = ws_listener_fini,
	.start = ws_listener_start,
	.stop = stream_listener_stop,
};
