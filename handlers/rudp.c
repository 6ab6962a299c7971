/*
 * handler rudp: each remote peer's datagrams (one session from the rudp
 * listener) go to a forwarder node over a UDP socket of their own; replies go
 * back to that peer. A session ends after `ttl` without a datagram either way
 * (5 s, GOST's default for rudp).
 */
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/svc/router.h"
#include "src/svc/service.h"
#include "src/core/util.h"

struct rudp_opts {
	double ttl;
};

static int rudp_init(struct service *svc, struct cfg_err *e)
{
	struct rudp_opts *o = xcalloc(1, sizeof *o);
	svc->handler.state = o;
	if (!svc->forwarder || !svc->forwarder->n_nodes)
		return cfg_error(e, svc->cfg, "forwarder",
				 "handler rudp needs forwarder nodes (the local targets, as in rudp://:5353/127.0.0.1:53)");
	/* The handler's ttl, else the service's, else the listener's (where GOST reads it). */
	if (cnode_get(svc->handler.md, "ttl"))
		return md_duration(svc->handler.md, "ttl", 5, &o->ttl, e);
	if (cnode_get(svc->md, "ttl"))
		return md_duration(svc->md, "ttl", 5, &o->ttl, e);
	return md_duration(svc->listener.md, "ttl", 5, &o->ttl, e);
}

static void rudp_fini(struct service *svc) { free(svc->handler.state); }

static void rudp_report(void *ctx, struct stream *client, struct stream *target, int err)
{
	struct service *svc = ctx;
	if (err)
		log_info("rudp %s: %s: no UDP target reachable: %s", svc->name, client->peer, strerror(err));
	else
		log_debug("rudp %s: session %s -> %s", svc->name, client->peer, target->peer);
}

static void rudp_handle(struct service *svc, struct stream *client)
{
	struct rudp_opts *o = svc->handler.state;
	double ttl = o->ttl > 0 ? o->ttl : 5;
	router_dial_pipe(client, &(struct dial_pipe){
		.dial = { .chain = svc->handler.chain, .dgram = 1, .timeout = ttl },
		.forwarder = svc->forwarder,
		.idle_timeout = ttl,
		.report = rudp_report,
		.ctx = svc,
	});
}

const struct handler_type handler_rudp = {
	.name = "rudp",
	.init = rudp_init,
	.fini = rudp_fini,
	.handle = rudp_handle,
};
