/*
 * handler udp: UDP port forwarding, one target socket per client session
 * (src/svc/port_forward.h). A session with no datagram either way for ttl
 * (60 s; 0: no limit) ends.
 */
#include "src/svc/port_forward.h"

static const struct forward_texts udp_texts = {
	.no_forwarder = "handler udp needs forwarder nodes (the targets)",
	.log_prefix = "service",
	.unreachable = "no UDP target reachable",
	.session = "udp session ",
};

static const struct forward_ttl udp_ttl = { .def = 60 };

static int udp_init(struct service *svc, struct cfg_err *e)
{
	return datagram_forward_init(svc, &udp_texts, &udp_ttl, e);
}

const struct handler_type handler_udp = {
	.name = "udp",
	.init = udp_init,
	.fini = port_forward_fini,
	.handle = port_forward_handle,
};
