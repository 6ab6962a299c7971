/*
 * handler rtcp: the connections an rtcp listener receives from the relay go
 * on to the forwarder nodes (failing over to the next node), through the
 * handler's chain when it has one, and are piped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipe.h"
#include "router.h"
#include "service.h"
#include "util.h"

struct rtcp_opts {
	double idle_timeout;
	double dial_timeout;
};

struct rtcp_conn {
	struct service *svc;
	struct stream *client;      /* owned until handed to the pipe */
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

static void rtcp_dialed(void *ctx, struct stream *target, int err)
{
	struct rtcp_conn *c = ctx;
	struct rtcp_opts *o = c->svc->handler.state;
	if (err) {
		log_info("rtcp %s: %s: no forward target reachable: %s", c->svc->name, c->client->peer, strerror(err));
		stream_close(c->client);
		free(c);
		return;
	}
	log_debug("rtcp %s: %s -> %s", c->svc->name, c->client->peer, target->peer);
	pipe_start(c->client, target, o->idle_timeout, NULL, NULL);
	free(c);
}

static void rtcp_handle(struct service *svc, struct stream *client)
{
	struct rtcp_opts *o = svc->handler.state;
	struct rtcp_conn *c = xcalloc(1, sizeof *c);
	struct dial_opts d = { .chain = svc->handler.chain, .dgram = 0, .timeout = o->dial_timeout };
	c->svc = svc;
	c->client = client;
	router_dial_forward(client->w, &d, svc->forwarder, rtcp_dialed, c);
}

const struct handler_type handler_rtcp = {
	.name = "rtcp",
	.init = rtcp_init,
	.fini = rtcp_fini,
	.handle = rtcp_handle,
};
