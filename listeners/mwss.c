/*
 * listener mwss (GOST): TLS (as the tls listener), the WebSocket opening
 * handshake (as the ws listener), then an smux server session over the
 * WebSocket; each stream the client opens reaches the handler.
 * mux.version defaults to 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/mux.h"
#include "src/svc/service.h"
#include "src/xprt/tls_stream.h"
#include "src/xprt/ws_stream.h"

/* Owned by the service (listener.state). */
struct mwss_listener {
	struct tls_conf *tls;        /* a reference */
	struct ws_opts ws;
	struct smux_config mux;
};

static int mwss_listener_init(struct service *svc, struct cfg_err *e)
{
	struct mwss_listener *l = xcalloc(1, sizeof *l);
	char label[160];
	svc->listener.state = l;
	snprintf(label, sizeof label, "service %s", svc->name);
	const struct cnode *where = cnode_get(svc->cfg, "listener");
	l->tls = tls_conf_server(&svc->listener.tls, svc->listener.md, where ? where : svc->cfg, label, e);
	if (!l->tls)
		return -1;
	if (ws_opts_parse(&l->ws, svc->listener.md, 0, e) < 0)
		return -1;
	return mux_config_parse(svc->listener.md, SMUX_VERSION_1, &l->mux, e);
}

static void mwss_listener_fini(struct service *svc)
{
	struct mwss_listener *l = svc->listener.state;
	if (!l)
		return;
	tls_conf_unref(l->tls);
	ws_opts_free(&l->ws);
	free(l);
}

static void mwss_ws_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	struct mwss_listener *l = svc->listener.state;
	(void)err;
	if (s)
		mux_serve(svc, &l->mux, s);
}

static void mwss_tls_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	struct mwss_listener *l = svc->listener.state;
	(void)err;
	if (s)
		ws_server_accept(&l->ws, s, mwss_ws_ready, svc);
}

static void mwss_listener_accept(struct listener_inst *li, struct stream *s)
{
	struct mwss_listener *l = li->svc->listener.state;
	tls_accept(l->tls, s, mwss_tls_ready, li->svc);
}

static int mwss_listener_start(struct listener_inst *li) { return stream_listener_start(li, mwss_listener_accept); }

const struct listener_type listener_mwss = {
	.name = "mwss",
	.socktype = SOCK_STREAM,
	.init = mwss_listener_init,
	.fini = mwss_listener_fini,
	.start = mwss_listener_start,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
