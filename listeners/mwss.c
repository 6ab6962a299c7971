/*
 * listener mwss (GOST): TLS (as the tls listener), the WebSocket opening
 * handshake (as the ws listener), then an smux server session over the
 * WebSocket; each stream the client opens reaches the handler.
 * mux.version defaults to 1.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/accept_steps.h"
#include "src/svc/mux.h"
#include "src/svc/service.h"

/* Owned by the service (listener.state); the steps first, as accept_steps wants. */
struct mwss_listener {
	struct accept_steps steps;
	struct smux_config mux;
};

/* The last step: an smux server session whose streams reach the handler. */
static void mwss_serve(struct service *svc, struct stream *s)
{
	struct mwss_listener *l = svc->listener.state;
	mux_serve(svc, &l->mux, s);
}

static int mwss_listener_init(struct service *svc, struct cfg_err *e)
{
	struct mwss_listener *l = xcalloc(1, sizeof *l);
	svc->listener.state = l;
	if (accept_steps_init(&l->steps, svc, 1, 1, mwss_serve, e) < 0)
		return -1;
	return mux_config_parse(svc->listener.md, SMUX_VERSION_1, &l->mux, e);
}

static void mwss_listener_fini(struct service *svc)
{
	struct mwss_listener *l = svc->listener.state;
	if (!l)
		return;
	accept_steps_fini(&l->steps);
	free(l);
}

const struct listener_type listener_mwss = {
	.name = "mwss",
	.socktype = SOCK_STREAM,
	.init = mwss_listener_init,
	.fini = mwss_listener_fini,
	.start = accept_steps_listen,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
