/*
 * The GoDoxy agent HTTPS API (doc/protocols/godoxy-stream.md 1.8), served by the
 * stream handler on the connections of its tls listener that did not
 * negotiate the stream ALPN id: /godoxy/agent/info, /health, /name,
 * /version, /runtime. The Docker socket proxy is not offered.
 */
#ifndef PORTWAY_HANDLERS_STREAM_API_H
#define PORTWAY_HANDLERS_STREAM_API_H
#include "src/conf/model.h"
#include "src/core/stream.h"

struct stream_api_opts {
	char name[256];             /* agentName: default the host name */
	char version[64];           /* agentVersion: "vX.Y.Z" */
	char runtime[16];           /* agentRuntime: docker or podman */
	double read_timeout;        /* a request head, and an idle keep-alive connection */
};

/* Reads agentName, agentVersion, agentRuntime and apiTimeout from the handler metadata. */
int stream_api_init(struct service *svc, struct stream_api_opts *o, struct cfg_err *e);

/* Serve HTTP/1.1 requests on client (owned from now on) until it closes. o must live as
 * long as the service does. */
void stream_api_serve(struct service *svc, const struct stream_api_opts *o, struct stream *client);

#endif
