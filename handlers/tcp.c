/*
 * handler tcp (alias forward): TCP port forwarding to the forwarder's nodes,
 * round-robin, failing over to the next node when a dial fails, through the
 * handler's chain when it has one (src/svc/port_forward.h).
 */
#include "src/svc/port_forward.h"

static const struct forward_texts tcp_texts = {
	.no_forwarder = "handler tcp needs forwarder nodes (the targets)",
	.log_prefix = "service",
	.unreachable = "no forward target reachable",
	.session = "",
};

static int tcp_init(struct service *svc, struct cfg_err *e) { return stream_forward_init(svc, &tcp_texts, e); }

const struct handler_type handler_tcp = {
	.name = "tcp",
	.init = tcp_init,
	.fini = port_forward_fini,
	.handle = port_forward_handle,
	.sends_proxy_protocol = 1,
};
