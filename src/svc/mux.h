/*
 * What GOST's multiplexed transports (mtcp, mtls, mws, mwss) share: many
 * streams over one smux session (src/xprt/smux_session.h) on one TCP, TLS
 * or WebSocket connection.
 *
 * Listener side: every accepted connection, once its TLS / WebSocket
 * handshake is done, is an smux server session, and each stream the client
 * opens goes to the service's handler as a connection of its own.
 *
 * Dialer side: one session per node and worker, shared by every request of
 * that worker; each request is a new smux stream. See mux_dialer below and
 * the reuse hook of struct dialer_type (src/conf/model.h).
 */
#ifndef PORTWAY_SVC_MUX_H
#define PORTWAY_SVC_MUX_H
#include "proto/smux.h"
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/xprt/smux_session.h"

/* GOST's mux.* keys (src/xprt/smux_session.h) plus mux.type: only "smux" (the default) is
 * spoken; "yamux" is refused rather than silently spoken as smux. default_version: what an
 * absent or 0 mux.version means (GOST: 2 for mtcp, 1 for mtls, mws, mwss). -1 with e. */
int mux_config_parse(const struct cnode *md, int default_version, struct smux_config *c, struct cfg_err *e);

/* ---- listener side ---- */

/* lower (owned from now on, holding its service reference) becomes an smux server session;
 * each stream the peer opens is dispatched to svc's handler (service_dispatch takes the
 * stream's own reference) with lower's peer address. c is copied. */
void mux_serve(struct service *svc, const struct smux_config *c, struct stream *lower);

/* ---- dialer side ---- */

/*
 * The transport handshake a session runs over first: none (mtcp), TLS,
 * WebSocket, or both. Owns lower; cb(ctx, stream, 0) or cb(ctx, NULL, err),
 * exactly once, never from inside the call. arg is the dialer's (see
 * mux_dialer_new) and lives until cb has run.
 */
typedef void (*mux_establish_fn)(void *arg, struct stream *lower, stream_done_cb cb, void *ctx);

/*
 * A multiplexing dialer's state, the node's dialer.state. Reference counted:
 * the node holds one, each session establishment in flight one, each
 * retirement message one; the per-worker slots inside are touched only on
 * their own worker.
 */
struct mux_dialer;

/* establish NULL: the session runs straight over the connection (mtcp). arg is owned from now
 * on and released with free_arg (may be NULL) once the last reference goes. label names the
 * node in log lines. */
struct mux_dialer *mux_dialer_new(const struct smux_config *c, const char *label, mux_establish_fn establish,
				  void *arg, void (*free_arg)(void *arg));
/* The node goes away (dialer fini, any thread): every worker closes its session, establishments
 * in flight end with ECONNABORTED. NULL is fine. */
void mux_dialer_retire(struct mux_dialer *d);
/* The reuse hook: a stream over w's session if one is up, or a place in the queue of the one
 * being established. 1: cb runs later, exactly once; 0: there is no session, and the caller
 * (ctx) is to dial the node and call mux_dialer_handshake, or mux_dialer_give_up. */
int mux_dialer_reuse(struct mux_dialer *d, struct worker *w, stream_done_cb cb, void *ctx);
/* The give_up hook: the dial that claimed w's slot (ctx) cannot reach the node; whoever waits
 * for its session gets err. Anyone else's give_up is ignored. */
void mux_dialer_give_up(struct mux_dialer *d, struct worker *w, void *ctx, int err);
/* The handshake hook: lower reaches the node. Without a session on lower's worker it becomes
 * one (after the establish step) and the first stream is delivered; when another request got
 * there first, lower is closed and cb gets a stream over (or waits for) that session. */
void mux_dialer_handshake(struct mux_dialer *d, struct stream *lower, stream_done_cb cb, void *ctx);

#endif
