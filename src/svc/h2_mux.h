/*
 * What GOST's HTTP/2 types share (http2, h2, h2c): one HTTP/2 connection
 * (src/xprt/h2_session.h) per node and worker on the dialer side, shared by
 * every request of that worker as GOST shares one http.Client per node; the
 * serving side of a listener; and the handle the http2 dialer hands to the
 * http2 connector.
 *
 * Dialer side: the per-worker slot table of src/svc/mux.c (IDLE, DIALING,
 * PENDING, UP; reuse / give_up / handshake as in struct dialer_type), with an
 * HTTP/2 session instead of smux. Each request then gets what the type opens
 * over the session (open_fn): a tunnel stream (h2, h2c) or a handle (http2).
 * A session that received GOAWAY takes no new requests: the next one dials
 * anew, and the old one ends when its streams are done.
 */
#ifndef PORTWAY_SVC_H2_MUX_H
#define PORTWAY_SVC_H2_MUX_H
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/xprt/h2_session.h"

/* ---- listener side ---- */

/* lower (owned from now on, holding its service reference) becomes an HTTP/2 server session;
 * each request is dispatched to svc's handler through on_request(svc, st), or, when on_request
 * is NULL, straight with service_dispatch. */
void h2_serve(struct service *svc, struct stream *lower, void (*on_request)(struct service *svc, struct stream *st));

/* The same for a TLS stream, which must have agreed on ALPN h2; otherwise it is logged and closed. */
void h2_serve_tls(struct service *svc, struct stream *tls, void (*on_request)(struct service *svc, struct stream *st));

/* ---- the http2 dialer's handle ---- */

/* A stream standing for the session (reads nothing, writes fail); it holds the session's
 * memory until closed. */
struct stream *h2_handle_new(struct h2_session *sess);
/* The session behind a handle, NULL if st is none; it may have died (h2_session_usable). */
struct h2_session *h2_handle_session(struct stream *st);

/* ---- dialer side ---- */

/* The step before the session (TLS; NULL: none). Owns lower; cb exactly once, never inside. */
typedef void (*h2_establish_fn)(void *arg, struct stream *lower, stream_done_cb cb, void *ctx);
/* What a request gets over an established session: cb(ctx, stream, 0) or cb(ctx, NULL, err),
 * exactly once, never from inside the call. */
typedef void (*h2_open_fn)(void *arg, struct h2_session *sess, stream_done_cb cb, void *ctx);

struct h2_dialer;

/* arg is owned from now on, released with free_arg (may be NULL) with the last reference. */
struct h2_dialer *h2_dialer_new(const struct h2_config *c, const char *label, h2_establish_fn establish,
				h2_open_fn open, void *arg, void (*free_arg)(void *arg));
void h2_dialer_retire(struct h2_dialer *d);
int h2_dialer_reuse(struct h2_dialer *d, struct worker *w, stream_done_cb cb, void *ctx);
void h2_dialer_give_up(struct h2_dialer *d, struct worker *w, void *ctx, int err);
void h2_dialer_handshake(struct h2_dialer *d, struct stream *lower, stream_done_cb cb, void *ctx);

/* Parse GOST's `header` metadata (a map of name: value) into a NULL-terminated list of
 * lower-case names and values, owned (free with h2_headers_free). *out NULL when absent. */
int h2_headers_parse(const struct cnode *md, const char *key, struct h2_nv **out, size_t *n, struct cfg_err *e);
void h2_headers_free(struct h2_nv *nv, size_t n);

#endif

/* ---- GOST's h2 / h2c tunnel (listener/http2/h2, dialer/http2/h2) ---- */

/* Listener: a request becomes a tunnel. No path: CONNECT only (else 405); a path: any method
 * whose :path is exactly it (else 400). Answered 200, then dispatched to the handler. */
void h2_tunnel_accept(struct service *svc, struct stream *st, const char *path);

/* Dialer: what a tunnel request says. */
struct h2_tunnel {
	char *host;                 /* :authority: md host, else the node's address */
	char *path;                 /* NULL: CONNECT; else GET path */
	int tls;                    /* :scheme https (h2) or http (h2c) */
	struct h2_nv *hdr;          /* md header */
	size_t n_hdr;
};
/* host, path and header of the dialer's metadata. */
int h2_tunnel_parse(struct node *n, int tls, struct h2_tunnel *t, struct cfg_err *e);
void h2_tunnel_free(struct h2_tunnel *t);
/* An h2_open_fn: the request, and the stream once the answer is 200. arg: the h2_tunnel. */
void h2_tunnel_open(void *arg, struct h2_session *sess, stream_done_cb cb, void *ctx);
/* The ALPN list of tls with "h2" added (first) when missing; free with free() only the array. */
char **h2_alpn_with_h2(const struct tls_cfg *tls, size_t *n);
