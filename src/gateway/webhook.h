/* Fire-and-forget JSON notifications (HTTP POST) with a timeout and retries, never waited for. */
#ifndef PORTWAY_WEBHOOK_H
#define PORTWAY_WEBHOOK_H
#include <stdint.h>

#include "src/core/worker.h"

struct webhook {
	char host[256];
	uint16_t port;
	char path[512];
	double timeout;             /* per attempt */
	int retries;                /* further attempts after the first */
	uint64_t *failures;         /* bumped (on the posting worker) when a delivery gives up; may be NULL */
};

/* Parse "http://host[:port]/path". 0 or -1 (https is not supported: put a local relay in front). */
int webhook_parse(struct webhook *wh, const char *url);
/* POST body from worker w; wh and body are copied (the delivery outlives the caller's options).
 * The outcome is only logged. */
void webhook_post(struct worker *w, const struct webhook *wh, const char *body);

#endif
