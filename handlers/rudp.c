/*
 * handler rudp: each remote peer's datagrams (one session from the rudp
 * listener) go to a forwarder node over a UDP socket of their own; replies go
 * back to that peer (src/svc/port_forward.h). A session ends after `ttl`
 * without a datagram either way (5 s, GOST's default for rudp; 0 is 5 s too).
 */
#include "src/svc/port_forward.h"

static const struct forward_texts rudp_texts = {
	.no_forwarder = "handler rudp needs forwarder nodes (the local targets, as in rudp://:5353/127.0.0.1:53)",
	.log_prefix = "rudp",
	.unreachable = "no UDP target reachable",
	.session = "session ",
};

/* The handler's ttl, else the service's, else the listener's (where GOST reads it). */
static const struct forward_ttl rudp_ttl = { .def = 5, .from_listener = 1, .zero_is_default = 1 };

static int rudp_init(struct service *svc, struct cfg_err *e)
{
	return datagram_forward_init(svc, &rudp_texts, &rudp_ttl, e);
}

const struct handler_type handler_rudp = {
	.name = "rudp",
	.init = rudp_init,
	.fini = port_forward_fini,
	.handle = port_forward_handle,
};
