/* handler agent: a web relay worker from the gateway is joined to the local web server (the service addr). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipe.h"
#include "router.h"
#include "service.h"
#include "util.h"

struct agent_conn {
	struct service *svc;
	struct stream *ws;          /* owned until the pipe takes it */
};

static void agent_local_dialed(void *ctx, struct stream *local, int err)
{
	struct agent_conn *c = ctx;
	if (err) {
		log_warn("agent %s: local web server %s: %s", c->svc->name, c->svc->addr, strerror(err));
		stream_close(c->ws);
	} else {
		pipe_start(c->ws, local, 0, NULL, NULL);
	}
	free(c);
}

static void agent_handle(struct service *svc, struct stream *ws)
{
	struct agent_conn *c = xcalloc(1, sizeof *c);
	struct dial_opts d = { .timeout = 10 };
	c->svc = svc;
	c->ws = ws;
	router_dial(ws->w, &d, *svc->host ? svc->host : "127.0.0.1", svc->port, agent_local_dialed, c);
}

const struct handler_type handler_agent = {
	.name = "agent",
	.handle = agent_handle,
};
