/* handler natrelay-server: join each connection from the NAT relay to the local service (the service addr). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipe.h"
#include "router.h"
#include "service.h"
#include "util.h"

struct nrs_conn {
	struct service *svc;
	struct stream *relay_side;  /* owned until the pipe takes it */
};

static void nrs_local_dialed(void *ctx, struct stream *local, int err)
{
	struct nrs_conn *c = ctx;
	if (err) {
		log_warn("natrelay-server %s: local service %s: %s", c->svc->name, c->svc->addr, strerror(err));
		stream_close(c->relay_side);
	} else {
		pipe_start(c->relay_side, local, 0, NULL, NULL);
	}
	free(c);
}

static void nrs_handle(struct service *svc, struct stream *relay_side)
{
	struct nrs_conn *c = xcalloc(1, sizeof *c);
	struct dial_opts d = { .timeout = 10 };
	c->svc = svc;
	c->relay_side = relay_side;
	router_dial(relay_side->w, &d, svc->host, svc->port, nrs_local_dialed, c);
}

const struct handler_type handler_natrelay_server = {
	.name = "natrelay-server",
	.handle = nrs_handle,
};
