/* connector forward: the stream to the node is already the stream to the target. */
#include <errno.h>

#include "src/conf/model.h"
#include "src/core/stream.h"

static void forward_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			    stream_done_cb cb, void *ctx)
{
	(void)n;
	(void)dgram;
	(void)host;
	(void)port;
	cb(ctx, lower, 0);
}

const struct connector_type connector_forward = {
	.name = "forward",
	.connect = forward_connect,
};
