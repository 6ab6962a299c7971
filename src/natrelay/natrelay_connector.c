/*
 * connector natrelay: names the relay in a chain (-F natrelay://relay:9000)
 * for the natrelay-server listener. The relay only accepts, so it cannot be
 * an ordinary hop that CONNECTs onward.
 */
#include <errno.h>

#include "src/core/log.h"
#include "src/conf/model.h"
#include "src/core/stream.h"

static void natrelay_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			     stream_done_cb cb, void *ctx)
{
	(void)dgram;
	(void)port;
	log_error("node %s: a NAT relay cannot connect onward to %s; use it with the natrelay-server listener", n->addr,
		  host);
	stream_close(lower);
	cb(ctx, NULL, EPROTONOSUPPORT);
}

const struct connector_type connector_natrelay = {
	.name = "natrelay",
	.connect = natrelay_connect,
};
