/* handler natrelay-server: join each connection from the NAT relay to the local service (the service addr). */
#include <string.h>

#include "src/core/log.h"
#include "src/svc/router.h"
#include "src/svc/service.h"

static void nrs_report(void *ctx, struct stream *relay_side, struct stream *local, int err)
{
	struct service *svc = ctx;
	(void)relay_side;
	(void)local;
	if (err)
		log_warn("natrelay-server %s: local service %s: %s", svc->name, svc->addr, strerror(err));
}

static void nrs_handle(struct service *svc, struct stream *relay_side)
{
	router_dial_pipe(relay_side, &(struct dial_pipe){
		.dial = { .timeout = 10 },
		.host = svc->host,
		.port = svc->port,
		.report = nrs_report,
		.ctx = svc,
	});
}

const struct handler_type handler_natrelay_server = {
	.name = "natrelay-server",
	.handle = nrs_handle,
};
