/*
 * listener http2 (GOST's listener/http2): TLS only (the tls block as the tls
 * listener reads it, a self-signed certificate when none is set), ALPN h2
 * added to the protocols offered; each HTTP/2 request is handed to the
 * service's handler, which must be http2 (it answers the request itself).
 * GOST's Go server also speaks HTTP/1.1 to a client that does not pick h2;
 * portway does not: such a connection is closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "src/core/log.h"
#include "src/svc/h2_mux.h"
#include "src/svc/service.h"
#include "src/xprt/tls_stream.h"


static int http2_listener_init(struct service *svc, struct cfg_err *e)
{
	if (strcmp(svc->handler.type->name, "http2")) {
		const struct cnode *at = cnode_get(svc->cfg, "handler");
		return cfg_error(e, at ? at : svc->cfg, "handler",
				 "the http2 listener hands HTTP/2 requests to the http2 handler only (not %s)",
				 svc->handler.type->name);
	}
	char label[160];
	snprintf(label, sizeof label, "service %s", svc->name);
	struct tls_cfg tls = svc->listener.tls;
	tls.alpn = h2_alpn_with_h2(&svc->listener.tls, &tls.n_alpn);
	const struct cnode *where = cnode_get(svc->cfg, "listener");
	svc->listener.state = tls_conf_server(&tls, svc->listener.md, where ? where : svc->cfg, label, e);
	free(tls.alpn);
	return svc->listener.state ? 0 : -1;
}

static void http2_listener_fini(struct service *svc) { tls_conf_unref(svc->listener.state); }

static void http2_listener_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	(void)err;
	if (!s)
		return;
	if (strcmp(s->alpn, "h2")) {
		log_info("service %s: %s: the client did not choose HTTP/2 (ALPN \"%s\"); HTTP/1.1 is not served",
			 svc->name, s->peer, s->alpn);
		stream_close(s);
		return;
	}
	h2_serve(svc, s, NULL);
}

static void http2_listener_accept(struct listener_inst *li, struct stream *s)
{
	tls_accept(li->svc->listener.state, s, http2_listener_ready, li->svc);
}

static int http2_listener_start(struct listener_inst *li) { return stream_listener_start(li, http2_listener_accept); }

const struct listener_type listener_http2 = {
	.name = "http2",
	.socktype = SOCK_STREAM,
	.init = http2_listener_init,
	.fini = http2_listener_fini,
	.start = http2_listener_start,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
