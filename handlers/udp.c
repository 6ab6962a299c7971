/* handler udp: UDP port forwarding, one target socket per client session. */
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/svc/router.h"
#include "src/svc/service.h"
#include "src/core/util.h"

struct udp_opts {
	double ttl;             /* a session with no datagram either way for this long ends */
};

static int udp_init(struct service *svc, struct cfg_err *e)
{
	struct udp_opts *o = xcalloc(1, sizeof *o);
	svc->handler.state = o;
	if (!svc->forwarder || !svc->forwarder->n_nodes)
		return cfg_error(e, svc->cfg, "forwarder", "handler udp needs forwarder nodes (the targets)");
	if (md_duration(svc->handler.md, "ttl", 60, &o->ttl, e) < 0)
		return -1;
	if (!cnode_get(svc->handler.md, "ttl") && md_duration(svc->md, "ttl", 60, &o->ttl, e) < 0)
		return -1;
	return 0;
}

static void udp_fini(struct service *svc) { free(svc->handler.state); }

static void udp_report(void *ctx, struct stream *client, struct stream *remote, int err)
{
	struct service *svc = ctx;
	if (err)
		log_info("service %s: %s: no UDP target reachable: %s", svc->name, client->peer, strerror(err));
	else
		log_debug("service %s: udp session %s -> %s", svc->name, client->peer, remote->peer);
}

static void udp_handle(struct service *svc, struct stream *client)
{
	struct udp_opts *o = svc->handler.state;
	router_dial_pipe(client, &(struct dial_pipe){
		.dial = { .chain = svc->handler.chain, .dgram = 1, .timeout = o->ttl },
		.forwarder = svc->forwarder,
		.idle_timeout = o->ttl,
		.report = udp_report,
		.ctx = svc,
	});
}

const struct handler_type handler_udp = {
	.name = "udp",
	.init = udp_init,
	.fini = udp_fini,
	.handle = udp_handle,
};
