/* handler agent: a web relay worker from the gateway is joined to the local web server (the service addr). */
#include <string.h>

#include "src/core/log.h"
#include "src/svc/router.h"
#include "src/svc/service.h"

static void agent_report(void *ctx, struct stream *ws, struct stream *local, int err)
{
	struct service *svc = ctx;
	(void)ws;
	(void)local;
	if (err)
		log_warn("agent %s: local web server %s: %s", svc->name, svc->addr, strerror(err));
}

static void agent_handle(struct service *svc, struct stream *ws)
{
	router_dial_pipe(ws, &(struct dial_pipe){
		.dial = { .timeout = 10, .svc = svc },
		.host = *svc->host ? svc->host : "127.0.0.1",
		.port = svc->port,
		.report = agent_report,
		.ctx = svc,
	});
}

const struct handler_type handler_agent = {
	.name = "agent",
	.handle = agent_handle,
};
