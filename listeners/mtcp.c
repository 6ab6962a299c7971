/*
 * listener mtcp (GOST): TCP, and every accepted connection is an smux server
 * session whose streams each reach the handler as a connection, with the
 * peer address of the TCP connection. mux.* keys as in GOST; mux.version
 * defaults to 2 here (1 for mtls, mws, mwss).
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/mux.h"
#include "src/svc/service.h"

static int mtcp_listener_init(struct service *svc, struct cfg_err *e)
{
	struct smux_config *c = xcalloc(1, sizeof *c);
	svc->listener.state = c;
	return mux_config_parse(svc->listener.md, SMUX_VERSION_2, c, e);
}

static void mtcp_listener_fini(struct service *svc) { free(svc->listener.state); }

static void mtcp_listener_accept(struct listener_inst *li, struct stream *s)
{
	mux_serve(li->svc, li->svc->listener.state, s);
}

static int mtcp_listener_start(struct listener_inst *li) { return stream_listener_start(li, mtcp_listener_accept); }

const struct listener_type listener_mtcp = {
	.name = "mtcp",
	.socktype = SOCK_STREAM,
	.init = mtcp_listener_init,
	.fini = mtcp_listener_fini,
	.start = mtcp_listener_start,
	.stop = stream_listener_stop,
};
