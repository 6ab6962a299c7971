/*
 * listener wss: TCP, TLS (as the tls listener: tls block, ALPN, mutual TLS,
 * a self-signed certificate when none is set), then the WebSocket opening
 * handshake (as the ws listener).
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/accept_steps.h"
#include "src/svc/service.h"

static int wss_listener_init(struct service *svc, struct cfg_err *e)
{
	struct accept_steps *a = xcalloc(1, sizeof *a);
	svc->listener.state = a;
	return accept_steps_init(a, svc, 1, 1, service_dispatch, e);
}

static void wss_listener_fini(struct service *svc)
{
	if (!svc->listener.state)
		return;
	accept_steps_fini(svc->listener.state);
	free(svc->listener.state);
}

const struct listener_type listener_wss = {
	.name = "wss",
	.socktype = SOCK_STREAM,
	.init = wss_listener_init,
	.fini = wss_listener_fini,
	.start = accept_steps_listen,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
