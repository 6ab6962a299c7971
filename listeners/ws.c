/*
 * listener ws: TCP, then the WebSocket opening handshake on the configured
 * path (metadata path, default /ws) before the handler sees the connection.
 * Anything else gets an HTTP error answer: 404 for another path, 426 for a
 * request that is no upgrade, 400 for a malformed one.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/accept_steps.h"
#include "src/svc/service.h"

static int ws_listener_init(struct service *svc, struct cfg_err *e)
{
	struct accept_steps *a = xcalloc(1, sizeof *a);
	svc->listener.state = a;
	return accept_steps_init(a, svc, 0, 1, service_dispatch, e);
}

static void ws_listener_fini(struct service *svc)
{
	if (!svc->listener.state)
		return;
	accept_steps_fini(svc->listener.state);
	free(svc->listener.state);
}

const struct listener_type listener_ws = {
	.name = "ws",
	.socktype = SOCK_STREAM,
	.init = ws_listener_init,
	.fini = ws_listener_fini,
	.start = accept_steps_listen,
	.stop = stream_listener_stop,
};
