/*
 * listener mtcp (GOST): TCP, and every accepted connection is an smux server
 * session whose streams each reach the handler as a connection, with the
 * peer address of the TCP connection. mux.* keys as in GOST; mux.version
 * defaults to 2 here (1 for mtls, mws, mwss).
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/accept_steps.h"
#include "src/svc/mux.h"
#include "src/svc/service.h"

/* Owned by the service (listener.state); the steps first, as accept_steps wants. */
struct mtcp_listener {
	struct accept_steps steps;
	struct smux_config mux;
};

/* The last step: an smux server session whose streams reach the handler. */
static void mtcp_serve(struct service *svc, struct stream *s)
{
	struct mtcp_listener *l = svc->listener.state;
	mux_serve(svc, &l->mux, s);
}

static int mtcp_listener_init(struct service *svc, struct cfg_err *e)
{
	struct mtcp_listener *l = xcalloc(1, sizeof *l);
	svc->listener.state = l;
	if (accept_steps_init(&l->steps, svc, 0, 0, mtcp_serve, e) < 0)
		return -1;
	return mux_config_parse(svc->listener.md, SMUX_VERSION_2, &l->mux, e);
}

static void mtcp_listener_fini(struct service *svc)
{
	struct mtcp_listener *l = svc->listener.state;
	if (!l)
		return;
	accept_steps_fini(&l->steps);
	free(l);
}

const struct listener_type listener_mtcp = {
	.name = "mtcp",
	.socktype = SOCK_STREAM,
	.init = mtcp_listener_init,
	.fini = mtcp_listener_fini,
	.start = accept_steps_listen,
	.stop = stream_listener_stop,
};
