/*
 * listener mws (GOST): the WebSocket opening handshake as the ws listener
 * does it (metadata path, default /ws; other paths 404), then an smux server
 * session over the WebSocket's binary messages; each stream the client opens
 * reaches the handler. mux.version defaults to 1.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/accept_steps.h"
#include "src/svc/mux.h"
#include "src/svc/service.h"

/* Owned by the service (listener.state); the steps first, as accept_steps wants. */
struct mws_listener {
	struct accept_steps steps;
	struct smux_config mux;
};

/* The last step: an smux server session whose streams reach the handler. */
static void mws_serve(struct service *svc, struct stream *s)
{
	struct mws_listener *l = svc->listener.state;
	mux_serve(svc, &l->mux, s);
}

static int mws_listener_init(struct service *svc, struct cfg_err *e)
{
	struct mws_listener *l = xcalloc(1, sizeof *l);
	svc->listener.state = l;
	if (accept_steps_init(&l->steps, svc, 0, 1, mws_serve, e) < 0)
		return -1;
	return mux_config_parse(svc->listener.md, SMUX_VERSION_1, &l->mux, e);
}

static void mws_listener_fini(struct service *svc)
{
	struct mws_listener *l = svc->listener.state;
	if (!l)
		return;
	accept_steps_fini(&l->steps);
	free(l);
}

const struct listener_type listener_mws = {
	.name = "mws",
	.socktype = SOCK_STREAM,
	.init = mws_listener_init,
	.fini = mws_listener_fini,
	.start = accept_steps_listen,
	.stop = stream_listener_stop,
};
