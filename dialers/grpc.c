/*
 * dialer grpc (GOST's dialer/grpc): TLS with ALPN h2 (the server is not verified unless
 * tls.secure or tls.caFile, as GOST's dialers), or with `insecure` HTTP/2 with prior
 * knowledge; one HTTP/2 connection per node on each worker (src/svc/h2_mux.h) and per
 * connection one call of GostTunel.Tunnel (`path` renames it), :authority `host` (default:
 * the node's address). The call's Chunk messages carry the bytes (src/xprt/grpc_stream.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "config.h"
#include "proto/grpc.h"
#include "src/conf/model.h"
#include "src/core/log.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/svc/h2_mux.h"
#include "src/xprt/grpc_stream.h"
#include "src/xprt/tls_stream.h"

struct grpc_dialer {
	struct tls_conf *tls;       /* NULL: insecure */
	char *authority;
	char method[256];
};

static const char *const insecure_keys[] = { "grpc.insecure", "grpcInsecure", "insecure", NULL };
static const char *const host_keys[] = { "grpc.authority", "grpc.host", "host", NULL };
static const char *const path_keys[] = { "grpc.path", "path", NULL };
static const char *const keepalive_keys[] = { "grpc.keepalive", "keepalive", "keepAlive", NULL };

static void grpc_establish(void *arg, struct stream *lower, stream_done_cb cb, void *ctx)
{
	tls_connect(((struct grpc_dialer *)arg)->tls, lower, cb, ctx);
}

static void grpc_open(void *arg, struct h2_session *sess, stream_done_cb cb, void *ctx)
{
	const struct grpc_dialer *d = arg;
	const struct h2_nv nv[] = {
		{ ":method", "POST" },
		{ ":scheme", d->tls ? "https" : "http" },
		{ ":path", d->method },
		{ ":authority", d->authority },
		{ "content-type", "application/grpc" },
		{ "user-agent", "grpc-portway/" PACKAGE_VERSION },
		{ "te", "trailers" },
	};
	/* The call is usable at once, as grpc-go's NewStream: a server may answer only with its
	 * first message, which may wait for ours (the relay connector's request). */
	struct stream *st = h2_session_call(sess, nv, sizeof nv / sizeof *nv);
	stream_done_later(h2_session_worker(sess), cb, ctx, st ? grpc_stream_new(st) : NULL, st ? 0 : ECONNRESET);
}

static void grpc_free_arg(void *arg)
{
	struct grpc_dialer *d = arg;
	if (d->tls)
		tls_conf_unref(d->tls);
	free(d->authority);
	free(d);
}

static int grpc_dialer_init(struct node *n, struct cfg_err *e)
{
	const struct cnode *md = n->dialer.md;
	const struct cnode *where = n->cfg;
	char label[320], addr[300];
	int insecure, keepalive;
	snprintf(label, sizeof label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	if (md_bool(md, md_alias(md, insecure_keys), 0, &insecure, e) < 0 ||
	    md_bool(md, md_alias(md, keepalive_keys), 0, &keepalive, e) < 0)
		return -1;
	if (keepalive)
		return cfg_error(e, where, "dialer.metadata.keepalive", "is not implemented by portway's grpc dialer");
	struct grpc_dialer *d = xcalloc(1, sizeof *d);
	const char *host = md_str(md, md_alias(md, host_keys), NULL);
	hostport_format(addr, sizeof addr, n->host, n->port);
	d->authority = xstrdup(host && *host ? host : addr);
	if (grpc_method_path(md_str(md, md_alias(md, path_keys), NULL), d->method, sizeof d->method) < 0) {
		grpc_free_arg(d);
		return cfg_error(e, where, "dialer.metadata.path", "too long");
	}
	if (!insecure) {
		struct tls_cfg tls = n->dialer.tls;
		tls.alpn = h2_alpn_with_h2(&n->dialer.tls, &tls.n_alpn);
		d->tls = tls_conf_client(&tls, n->dialer.md, md ? md : n->md, n->host, label, e);
		free(tls.alpn);
		if (!d->tls) {
			grpc_free_arg(d);
			return -1;
		}
	}
	n->dialer.state = h2_dialer_new(NULL, label, insecure ? NULL : grpc_establish, grpc_open, d, grpc_free_arg);
	return 0;
}

static void grpc_dialer_fini(struct node *n) { h2_dialer_retire(n->dialer.state); }

static void grpc_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	h2_dialer_handshake(n->dialer.state, lower, cb, ctx);
}

static int grpc_dialer_reuse(struct node *n, struct worker *w, stream_done_cb cb, void *ctx)
{
	return h2_dialer_reuse(n->dialer.state, w, cb, ctx);
}

static void grpc_dialer_give_up(struct node *n, struct worker *w, void *ctx, int err)
{
	h2_dialer_give_up(n->dialer.state, w, ctx, err);
}

const struct dialer_type dialer_grpc = {
	.name = "grpc",
	.socktype = SOCK_STREAM,
	.init = grpc_dialer_init,
	.fini = grpc_dialer_fini,
	.handshake = grpc_dialer_handshake,
	.reuse = grpc_dialer_reuse,
	.give_up = grpc_dialer_give_up,
	.uses_tls = 1,
};
