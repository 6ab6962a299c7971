/*
 * Health checks that never block the loop, shared by the GoDoxy agent API
 * (/godoxy/agent/health) and `portway probe` (src/cli/probe.c).
 */
#ifndef PORTWAY_SVC_HEALTH_H
#define PORTWAY_SVC_HEALTH_H
#include <stdint.h>

#include "src/core/worker.h"

struct health_result {
	int healthy;
	int failed;                 /* the check could not be run (the agent answers 502 with detail) */
	double latency;             /* seconds */
	char detail[256];
};

typedef void (*health_done_cb)(void *ctx, const struct health_result *r);

/*
 * Open a TCP connection, or a connected UDP socket (dgram), to host:port, as
 * GoDoxy's stream check does: healthy once it opens; refused or reset is
 * unhealthy; any other error (a timeout, a name that does not resolve) is a
 * failed check. cb runs exactly once, never from inside the call.
 */
void health_check_dial(struct worker *w, const char *host, uint16_t port, int dgram, double timeout,
		       health_done_cb cb, void *ctx);

/*
 * Send "HEAD path" to host:port (over TLS when tls, the certificate not
 * verified, as GoDoxy's checker does); host_header is the Host field. Healthy
 * unless the connection fails or the status is 5xx. cb runs exactly once,
 * never from inside the call.
 */
void health_check_http(struct worker *w, const char *host, uint16_t port, int tls, const char *host_header,
		       const char *path, double timeout, health_done_cb cb, void *ctx);

#endif
