/*
 * listener tls: TCP, then a TLS handshake (server side) before the handler
 * sees the connection. Mutual TLS when tls.caFile is set; a self-signed
 * certificate when none is configured; the negotiated ALPN protocol is in
 * the stream's alpn for the handler to route on.
 */
#include <stdio.h>
#include <sys/socket.h>

#include "src/svc/service.h"
#include "src/xprt/tls_stream.h"

static int tls_listener_init(struct service *svc, struct cfg_err *e)
{
	char label[160];
	snprintf(label, sizeof label, "service %s", svc->name);
	const struct cnode *where = cnode_get(svc->cfg, "listener");
	svc->listener.state = tls_conf_server(&svc->listener.tls, svc->listener.md, where ? where : svc->cfg, label, e);
	return svc->listener.state ? 0 : -1;
}

static void tls_listener_fini(struct service *svc) { tls_conf_unref(svc->listener.state); }

/* The TLS stream carries the service reference the accepted socket had. */
static void tls_listener_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	(void)err;
	if (s)
		service_dispatch(svc, s);
}

static void tls_listener_accept(struct listener_inst *li, struct stream *s)
{
	tls_accept(li->svc->listener.state, s, tls_listener_ready, li->svc);
}

static int tls_listener_start(struct listener_inst *li) { return stream_listener_start(li, tls_listener_accept); }

const struct listener_type listener_tls = {
	.name = "tls",
	.socktype = SOCK_STREAM,
	.init = tls_listener_init,
	.fini = tls_listener_fini,
	.start = tls_listener_start,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
