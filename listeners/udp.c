/*
 * listener udp: one socket per worker; each client address becomes a
 * datagram stream (a session) handed to the handler (src/svc/udp_sessions.h).
 * The kernel's SO_REUSEPORT hash keeps a client on one worker.
 */
#include <sys/socket.h>

#include "src/svc/udp_sessions.h"

static int udp_listener_start(struct listener_inst *li) { return udp_sessions_start(li, NULL); }

const struct listener_type listener_udp = {
	.name = "udp",
	.socktype = SOCK_DGRAM,
	.init = udp_sessions_check,
	.start = udp_listener_start,
	.stop = udp_sessions_stop,
};
