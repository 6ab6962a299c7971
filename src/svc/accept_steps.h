/*
 * What a stream listener does with an accepted connection before it is one
 * of the service's: TLS (tls, wss, mtls, mwss), then the WebSocket upgrade
 * (ws, wss, mws, mwss), then the listener's last step (the handler, or an
 * smux session for the multiplexed ones). One copy of those steps for the
 * listeners that differ only in which of them they run.
 */
#ifndef PORTWAY_SVC_ACCEPT_STEPS_H
#define PORTWAY_SVC_ACCEPT_STEPS_H
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/xprt/tls_stream.h"
#include "src/xprt/ws_stream.h"

/* The first member of the listener's state (svc->listener.state), owned with it. */
struct accept_steps {
	struct tls_conf *tls;        /* a reference; NULL: no TLS step */
	struct ws_opts ws;
	int with_ws;
	/* The last step, with the stream the others produced (owned by it from then on). */
	void (*done)(struct service *svc, struct stream *s);
};

/* Read listener.tls (with_tls) and the WebSocket keys (with_ws) of svc into a. -1 with e. */
int accept_steps_init(struct accept_steps *a, struct service *svc, int with_tls, int with_ws,
		      void (*done)(struct service *svc, struct stream *s), struct cfg_err *e);
void accept_steps_fini(struct accept_steps *a);
/* A stream listener's start: each accepted connection goes through the steps. */
int accept_steps_listen(struct listener_inst *li);

#endif
