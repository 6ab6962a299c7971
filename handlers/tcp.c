/*
 * handler tcp (alias forward): TCP port forwarding to the forwarder's nodes,
 * round-robin, failing over to the next node when a dial fails, through the
 * handler's chain when it has one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipe.h"
#include "router.h"
#include "service.h"
#include "util.h"

struct tcp_opts {
	double idle_timeout;
	double dial_timeout;
};

struct tcp_conn {
	struct service *svc;
	struct stream *client;     /* owned until handed to the pipe */
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

static void tcp_dialed(void *ctx, struct stream *remote, int err)
{
	struct tcp_conn *c = ctx;
	struct tcp_opts *o = c->svc->handler.state;
	if (err) {
		log_info("service %s: %s: no forward target reachable: %s", c->svc->name, c->client->peer,
			 strerror(err));
		stream_close(c->client);
		free(c);
		return;
	}
	log_debug("service %s: %s -> %s", c->svc->name, c->client->peer, remote->peer);
	pipe_start(c->client, remote, o->idle_timeout, NULL, NULL);
	free(c);
}

static void tcp_handle(struct service *svc, struct stream *client)
{
	struct tcp_opts *o = svc->handler.state;
	struct tcp_conn *c = xcalloc(1, sizeof *c);
	struct dial_opts d = { .chain = svc->handler.chain, .dgram = 0, .timeout = o->dial_timeout };
	c->svc = svc;
	c->client = client;
	router_dial_forward(client->w, &d, svc->forwarder, tcp_dialed, c);
}

const struct handler_type handler_tcp = {
	.name = "tcp",
	.init = tcp_init,
	.fini = tcp_fini,
	.handle = tcp_handle,
};
