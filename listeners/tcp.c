/* listener tcp: plain TCP; the base that tls and ws listeners build on. */
#include <sys/socket.h>

#include "src/svc/service.h"

static int tcp_listener_start(struct listener_inst *li) { return stream_listener_start(li, NULL); }

const struct listener_type listener_tcp = {
	.name = "tcp",
	.socktype = SOCK_STREAM,
	.start = tcp_listener_start,
	.stop = stream_listener_stop,
};
