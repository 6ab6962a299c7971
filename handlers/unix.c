/*
 * handler unix, as GOST's: each connection (of a unix listener, usually) goes
 *  - with forwarder nodes, to one of them, unix socket paths (GOST's
 *    "-L unix://a.sock/b.sock"), round-robin, failing over;
 *  - without, through the handler's chain to its last node, whose connector
 *    (forward, unix) hands the stream on as is ("-L unix:///a.sock -F
 *    tcp://host:port" exposes a TCP service on a socket).
 * GOST also reaches unix targets through a chain whose last node speaks relay
 * (its unix network feature); no connector here carries that, so such a
 * configuration is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/router.h"
#include "src/svc/service.h"

struct unix_handler {
	double dial_timeout, idle_timeout;
};

static int unix_init(struct service *svc, struct cfg_err *e)
{
	struct unix_handler *uh = xcalloc(1, sizeof *uh);
	svc->handler.state = uh;
	int targets = svc->forwarder && svc->forwarder->n_nodes;
	if (targets && svc->handler.chain)
		return cfg_error(e, svc->cfg, "forwarder",
				 "handler unix reaches socket paths directly: through a chain it needs a connector "
				 "that carries unix targets (GOST's relay), which portway does not have");
	if (!targets && !svc->handler.chain)
		return cfg_error(e, svc->cfg, "handler",
				 "handler unix needs forwarder nodes (socket paths) or a chain (its last node is the target)");
	if (md_duration(svc->handler.md, "dialTimeout", 10, &uh->dial_timeout, e) < 0 ||
	    md_duration(svc->handler.md, "idleTimeout", 0, &uh->idle_timeout, e) < 0)
		return -1;
	if (!cnode_get(svc->handler.md, "idleTimeout") &&
	    md_duration(svc->md, "idleTimeout", 0, &uh->idle_timeout, e) < 0)
		return -1;
	return 0;
}

static void unix_fini(struct service *svc) { free(svc->handler.state); }

static void unix_report(void *ctx, struct stream *client, struct stream *remote, int err)
{
	struct service *svc = ctx;
	if (err)
		log_info("service %s: %s: no target reachable: %s", svc->name, client->peer, strerror(err));
	else
		log_debug("service %s: %s -> %s", svc->name, client->peer, remote->peer);
}

static void unix_handle(struct service *svc, struct stream *client)
{
	const struct unix_handler *uh = svc->handler.state;
	int targets = svc->forwarder && svc->forwarder->n_nodes;
	router_dial_pipe(client, &(struct dial_pipe){
		.dial = { .chain = svc->handler.chain, .timeout = uh->dial_timeout, .svc = svc,
			  .unix_target = targets },
		.forwarder = targets ? svc->forwarder : NULL,
		.host = "@", /* GOST's address for "the chain's end" */
		.port = 0,
		.idle_timeout = uh->idle_timeout,
		.report = unix_report,
		.ctx = svc,
	});
}

const struct handler_type handler_unix = {
	.name = "unix",
	.init = unix_init,
	.fini = unix_fini,
	.handle = unix_handle,
	.path_targets = 1,
};
