/*
 * listener tls: TCP, then a TLS handshake (server side) before the handler
 * sees the connection. Mutual TLS when tls.caFile is set; a self-signed
 * certificate when none is configured; the negotiated ALPN protocol is in
 * the stream's alpn for the handler to route on.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/accept_steps.h"
#include "src/svc/service.h"

static int tls_listener_init(struct service *svc, struct cfg_err *e)
{
	struct accept_steps *a = xcalloc(1, sizeof *a);
	svc->listener.state = a;
	return accept_steps_init(a, svc, 1, 0, service_dispatch, e);
}

static void tls_listener_fini(struct service *svc)
{
	if (!svc->listener.state)
		return;
	accept_steps_fini(svc->listener.state);
	free(svc->listener.state);
}

const struct listener_type listener_tls = {
	.name = "tls",
	.socktype = SOCK_STREAM,
	.init = tls_listener_init,
	.fini = tls_listener_fini,
	.start = accept_steps_listen,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
