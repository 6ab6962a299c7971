/*
 * handler tcp (alias forward): TCP port forwarding to the forwarder's nodes,
 * round-robin, failing over to the next node when a dial fails, through the
 * handler's chain when it has one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/svc/router.h"
#include "src/svc/service.h"
#include "src/core/util.h"

struct tcp_opts {
	double idle_timeout;
	double dial_timeout;
};

static int tcp_init(struct service *svc, struct cfg_err *e)
{
	struct tcp_opts *o = xcalloc(1, sizeof *o);
	svc->handler.state = o;
	if (!svc->forwarder || !svc->forwarder->n_nodes)
		return cfg_error(e, svc->cfg, "forwarder", "handler %s needs forwarder nodes (the targets)",
				 svc->handler.type->name);
	if (md_duration(svc->handler.md, "idleTimeout", 0, &o->idle_timeout, e) < 0 ||
	    md_duration(svc->handler.md, "dialTimeout", 10, &o->dial_timeout, e) < 0)
		return -1;
	if (!cnode_get(svc->handler.md, "idleTimeout") &&
	    md_duration(svc->md, "idleTimeout", 0, &o->idle_timeout, e) < 0)
		return -1;
	return 0;
}

static void tcp_fini(struct service *svc) { free(svc->handler.state); }

static void tcp_report(void *ctx, struct stream *client, struct stream *remote, int err)
{
	struct service *svc = ctx;
	if (err)
		log_info("service %s: %s: no forward target reachable: %s", svc->name, client->peer, strerror(err));
	else
		log_debug("service %s: %s -> %s", svc->name, client->peer, remote->peer);
}

static void tcp_handle(struct service *svc, struct stream *client)
{
	struct tcp_opts *o = svc->handler.state;
	router_dial_pipe(client, &(struct dial_pipe){
		.dial = { .chain = svc->handler.chain, .dgram = 0, .timeout = o->dial_timeout },
		.forwarder = svc->forwarder,
		.idle_timeout = o->idle_timeout,
		.report = tcp_report,
		.ctx = svc,
	});
}

const struct handler_type handler_tcp = {
	.name = "tcp",
	.init = tcp_init,
	.fini = tcp_fini,
	.handle = tcp_handle,
};
