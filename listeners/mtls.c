/*
 * listener mtls (GOST): TLS as the tls listener does it (tls block, mutual
 * TLS with caFile, a self-signed certificate when none is set), then an smux
 * server session over the TLS stream; each stream the client opens reaches
 * the handler. mux.version defaults to 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/mux.h"
#include "src/svc/service.h"
#include "src/xprt/tls_stream.h"

/* Owned by the service (listener.state). */
struct mtls_listener {
	struct tls_conf *tls;        /* a reference */
	struct smux_config mux;
};

static int mtls_listener_init(struct service *svc, struct cfg_err *e)
{
	struct mtls_listener *l = xcalloc(1, sizeof *l);
	char label[160];
	svc->listener.state = l;
	snprintf(label, sizeof label, "service %s", svc->name);
	const struct cnode *where = cnode_get(svc->cfg, "listener");
	l->tls = tls_conf_server(&svc->listener.tls, svc->listener.md, where ? where : svc->cfg, label, e);
	if (!l->tls)
		return -1;
	return mux_config_parse(svc->listener.md, SMUX_VERSION_1, &l->mux, e);
}

static void mtls_listener_fini(struct service *svc)
{
	struct mtls_listener *l = svc->listener.state;
	if (!l)
		return;
	tls_conf_unref(l->tls);
	free(l);
}

/* The TLS stream holds the service reference the socket had, so svc is alive. */
static void mtls_listener_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	struct mtls_listener *l = svc->listener.state;
	(void)err;
	if (s)
		mux_serve(svc, &l->mux, s);
}

static void mtls_listener_accept(struct listener_inst *li, struct stream *s)
{
	struct mtls_listener *l = li->svc->listener.state;
	tls_accept(l->tls, s, mtls_listener_ready, li->svc);
}

static int mtls_listener_start(struct listener_inst *li) { return stream_listener_start(li, mtls_listener_accept); }

const struct listener_type listener_mtls = {
	.name = "mtls",
	.socktype = SOCK_STREAM,
	.init = mtls_listener_init,
	.fini = mtls_listener_fini,
	.start = mtls_listener_start,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
