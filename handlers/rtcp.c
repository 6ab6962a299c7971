/*
 * handler rtcp: the connections an rtcp listener receives from the relay go
 * on to the forwarder nodes (failing over to the next node), through the
 * handler's chain when it has one, and are piped (src/svc/port_forward.h).
 */
#include "src/svc/port_forward.h"

static const struct forward_texts rtcp_texts = {
	.no_forwarder = "handler rtcp needs forwarder nodes (the local targets, as in rtcp://:2222/127.0.0.1:22)",
	.log_prefix = "rtcp",
	.unreachable = "no forward target reachable",
	.session = "",
};

static int rtcp_init(struct service *svc, struct cfg_err *e) { return stream_forward_init(svc, &rtcp_texts, e); }

const struct handler_type handler_rtcp = {
	.name = "rtcp",
	.init = rtcp_init,
	.fini = port_forward_fini,
	.handle = port_forward_handle,
	.sends_proxy_protocol = 1,
};
