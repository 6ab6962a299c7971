/*
 * listener grpc (GOST's listener/grpc): TLS with ALPN h2 (or, with `insecure`, HTTP/2 with
 * prior knowledge), and on it the gRPC service GostTunel.Tunnel (`path` renames it, as
 * go-gost/x's parsingMethod does). Each call is answered with HEADERS 200
 * application/grpc and becomes a connection for the handler (src/xprt/grpc_stream.h); it
 * ends with the trailers grpc-status 0. A call of another method gets grpc-go's
 * Unimplemented (12) as a trailers-only answer; a request that is no gRPC call gets 415.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/h2_mux.h"
#include "src/svc/service.h"
#include "src/xprt/grpc_stream.h"
#include "src/xprt/tls_stream.h"
#include "proto/grpc.h"

struct grpc_listener {
	struct tls_conf *tls;       /* NULL: insecure (h2c) */
	char method[256];           /* the call's :path */
};

static const char *const insecure_keys[] = { "grpc.insecure", "grpcInsecure", "insecure", NULL };
static const char *const path_keys[] = { "grpc.path", "path", NULL };
static const char *const keepalive_keys[] = { "grpc.keepalive", "keepalive", "keepAlive", NULL };

static int grpc_listener_init(struct service *svc, struct cfg_err *e)
{
	const struct cnode *md = svc->listener.md;
	struct grpc_listener *l = xcalloc(1, sizeof *l);
	int insecure, keepalive, mptcp;
	svc->listener.state = l;
	if (md_bool(md, md_alias(md, insecure_keys), 0, &insecure, e) < 0 ||
	    md_bool(md, md_alias(md, keepalive_keys), 0, &keepalive, e) < 0 || md_bool(md, "mptcp", 0, &mptcp, e) < 0)
		return -1;
	const struct cnode *where = cnode_get(svc->cfg, "listener");
	if (keepalive || mptcp)
		return cfg_error(e, where ? where : svc->cfg, "listener.metadata",
				 "%s is not implemented by portway's grpc listener", keepalive ? "keepalive" : "mptcp");
	if (grpc_method_path(md_str(md, md_alias(md, path_keys), NULL), l->method, sizeof l->method) < 0)
		return cfg_error(e, where ? where : svc->cfg, "listener.metadata.path", "too long");
	if (insecure)
		return 0;
	char label[160];
	snprintf(label, sizeof label, "service %s", svc->name);
	struct tls_cfg tls = svc->listener.tls;
	tls.alpn = h2_alpn_with_h2(&svc->listener.tls, &tls.n_alpn);
	l->tls = tls_conf_server(&tls, md, where ? where : svc->cfg, label, e);
	free(tls.alpn);
	return l->tls ? 0 : -1;
}

static void grpc_listener_fini(struct service *svc)
{
	struct grpc_listener *l = svc->listener.state;
	if (!l)
		return;
	if (l->tls)
		tls_conf_unref(l->tls);
	free(l);
}

static int is_grpc_content_type(const struct h2_request *r)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (!strcmp(r->headers[i].name, "content-type"))
			return !strncmp(r->headers[i].value, "application/grpc", 16) &&
			       (!r->headers[i].value[16] || strchr("+;", r->headers[i].value[16]));
	return 0;
}

static void grpc_listener_request(struct service *svc, struct stream *st)
{
	struct grpc_listener *l = svc->listener.state;
	const struct h2_request *r = h2_stream_request(st);
	static const struct h2_nv grpc_ct = { "content-type", "application/grpc" };
	if (!r || strcmp(r->method, "POST") || !is_grpc_content_type(r)) {
		if (r)
			log_info("service %s: %s: %s %s: not a gRPC call", svc->name, st->peer, r->method, r->path);
		h2_stream_respond(st, 415, NULL, 0, 1);
		stream_close(st);
		return;
	}
	if (strcmp(r->path, l->method)) {
		log_info("service %s: %s: gRPC method %s unknown (%s expected)", svc->name, st->peer, r->path, l->method);
		const struct h2_nv nv[] = { grpc_ct, { "grpc-status", "12" }, { "grpc-message", "unknown method" } };
		h2_stream_respond(st, 200, nv, 3, 1);
		stream_close(st);
		return;
	}
	const struct h2_nv ok[] = { { "grpc-status", "0" } };
	if (h2_stream_set_trailers(st, ok, 1) < 0 || h2_stream_respond(st, 200, &grpc_ct, 1, 0) < 0) {
		stream_close(st);
		return;
	}
	service_dispatch(svc, grpc_stream_new(st));
}

static void grpc_listener_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	(void)err;
	if (!s)
		return;
	h2_serve_tls(svc, s, grpc_listener_request);
}

static void grpc_listener_accept(struct listener_inst *li, struct stream *s)
{
	struct grpc_listener *l = li->svc->listener.state;
	if (l->tls)
		tls_accept(l->tls, s, grpc_listener_ready, li->svc);
	else
		h2_serve(li->svc, s, grpc_listener_request);
}

static int grpc_listener_start(struct listener_inst *li) { return stream_listener_start(li, grpc_listener_accept); }

const struct listener_type listener_grpc = {
	.name = "grpc",
	.socktype = SOCK_STREAM,
	.init = grpc_listener_init,
	.fini = grpc_listener_fini,
	.start = grpc_listener_start,
	.stop = stream_listener_stop,
	.uses_tls = 1,
};
