/*
 * handler rtcp: the connections an rtcp listener receives from the relay go
 * on to the forwarder nodes (failing over to the next node), through the
 * handler's chain when it has one, and are piped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/svc/router.h"
#include "src/svc/service.h"
#include "src/core/util.h"

struct rtcp_opts {
	double idle_timeout;
	double dial_timeout;
};

static int rtcp_init(struct service *svc, struct cfg_err *e)
{
	struct rtcp_opts *o = xcalloc(1, sizeof *o);
	svc->handler.state = o;
	if (!svc->forwarder || !svc->forwarder->n_nodes)
		return cfg_error(e, svc->cfg, "forwarder",
				 "handler rtcp needs forwarder nodes (the local targets, as in rtcp://:2222/127.0.0.1:22)");
	if (md_duration(svc->handler.md, "idleTimeout", 0, &o->idle_timeout, e) < 0 ||
	    md_duration(svc->handler.md, "dialTimeout", 10, &o->dial_timeout, e) < 0)
		return -1;
	if (!cnode_get(svc->handler.md, "idleTimeout") &&
	    md_duration(svc->md, "idleTimeout", 0, &o->idle_timeout, e) < 0)
		return -1;
	return 0;
}

static void rtcp_fini(struct service *svc) { free(svc->handler.state); }

static void rtcp_report(void *ctx, struct stream *client, struct stream *target, int err)
{
	struct service *svc = ctx;
	if (err)
		log_info("rtcp %s: %s: no forward target reachable: %s", svc->name, client->peer, strerror(err));
	else
		log_debug("rtcp %s: %s -> %s", svc->name, client->peer, target->peer);
}

static void rtcp_handle(struct service *svc, struct stream *client)
{
	struct rtcp_opts *o = svc->handler.state;
	router_dial_pipe(client, &(struct dial_pipe){
		.dial = { .chain = svc->handler.chain, .dgram = 0, .timeout = o->dial_timeout },
		.forwarder = svc->forwarder,
		.idle_timeout = o->idle_timeout,
		.report = rtcp_report,
		.ctx = svc,
	});
}

const struct handler_type handler_rtcp = {
	.name = "rtcp",
	.init = rtcp_init,
	.fini = rtcp_fini,
	.handle = rtcp_handle,
};
