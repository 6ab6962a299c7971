/*
 * listener h2 (GOST's listener/http2/h2, TLS): TLS with ALPN h2 added, then
 * an HTTP/2 server session; each tunnel request (CONNECT, or any method on
 * `path` when set) is answered 200 and its stream goes to the handler as a
 * connection of its own (src/svc/h2_mux.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/h2_mux.h"
#include "src/svc/service.h"
#include "src/xprt/tls_stream.h"

struct h2_listener {
	struct tls_conf *tls;
	char *path;                 /* NULL: CONNECT */
};

static int h2_listener_init(struct service *svc, struct cfg_err *e)
{
	struct h2_listener *l = xcalloc(1, sizeof *l);
	svc->listener.state = l;
	const char *path = md_str(svc->listener.md, "path", NULL);
	l->path = path && *path ? xstrdup(path) : NULL;
	char label[160];
	snprintf(label, sizeof label, "service %s", svc->name);
	struct tls_cfg tls = svc->listener.tls;
	tls.alpn = h2_alpn_with_h2(&svc->listener.tls, &tls.n_alpn);
	const struct cnode *where = cnode_get(svc->cfg, "listener");
	l->tls = tls_conf_server(&tls, svc->listener.md, where ? where : svc->cfg, label, e);
	free(tls.alpn);
	return l->tls ? 0 : -1;
}

static void h2_listener_fini(struct service *svc)
{
	struct h2_listener *l = svc->listener.state;
	if (!l)
		return;
	tls_conf_unref(l->tls);
	free(l->path);
	free(l);
}

static void h2_listener_request(struct service *svc, struct stream *st)
{
	struct h2_listener *l = svc->listener.state;
	h2_tunnel_accept(svc, st, l->path);
}

static void h2_listener_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	(void)err;
	if (!s)
		return;
	h2_serve_tls(svc, s, h2_listener_request);
}

static void h2_listener_accept(struct listener_inst *li, struct stream *s)
{
	struct h2_listener *l = li->svc->listener.state;
	tls_accept(l->tls, s, h2_listener_ready, li->svc);
}

static int h2_listener_start(struct listener_inst *li) { return stream_listener_start(li, h2_listener_accept); }

const struct listener_type listener_h2 = {
	.name = "h2",
	.socktype = SOCK_STREAM,
	.init = h2_listener_init,
	.fini = h2_listener_fini,
	.start = h2_listener_start,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
