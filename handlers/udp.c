/* handler udp: UDP port forwarding, one target socket per client session. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipe.h"
#include "router.h"
#include "service.h"
#include "util.h"

struct udp_opts {
	double ttl;             /* a session with no datagram either way for this long ends */
};

struct udp_conn {
	struct service *svc;
	struct stream *client;
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

static void udp_dialed(void *ctx, struct stream *remote, int err)
{
	struct udp_conn *c = ctx;
	struct udp_opts *o = c->svc->handler.state;
	if (err) {
		log_info("service %s: %s: no UDP target reachable: %s", c->svc->name, c->client->peer, strerror(err));
		stream_close(c->client);
	} else {
		log_debug("service %s: udp session %s -> %s", c->svc->name, c->client->peer, remote->peer);
		pipe_start(c->client, remote, o->ttl, NULL, NULL);
	}
	free(c);
}

static void udp_handle(struct service *svc, struct stream *client)
{
	struct udp_opts *o = svc->handler.state;
	struct udp_conn *c = xcalloc(1, sizeof *c);
	struct dial_opts d = { .chain = svc->handler.chain, .dgram = 1, .timeout = o->ttl };
	c->svc = svc;
	c->client = client;
	router_dial_forward(client->w, &d, svc->forwarder, udp_dialed, c);
}

const struct handler_type handler_udp = {
	.name = "udp",
	.init = udp_init,
	.fini = udp_fini,
	.handle = udp_handle,
};
