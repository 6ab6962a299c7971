/* Fire-and-forget JSON notifications (HTTP POST) with a timeout and retries, never waited for. */
#ifndef PORTWAY_WEBHOOK_H
#define PORTWAY_WEBHOOK_H
#include <stdint.h>

#include "src/core/worker.h"

/* What deliveries count, shared by the webhook's owner and each delivery in flight (a delivery
 * can outlive the gateway that posted it, across a reload). */
struct webhook_stats {
	int refs;                   /* atomic */
	uint64_t failures;          /* deliveries given up after every retry (relaxed atomic) */
};

struct webhook_stats *webhook_stats_new(void);
void webhook_stats_unref(struct webhook_stats *st);

struct webhook {
	char host[256];
	uint16_t port;
	char path[512];
	double timeout;             /* per attempt */
	int retries;                /* further attempts after the first */
	struct webhook_stats *stats;/* a reference owned with this webhook; NULL: nothing counted */
};

/* Parse "http://host[:port]/path". 0 or -1 (https is not supported: put a local relay in front). */
int webhook_parse(struct webhook *wh, const char *url);
/* POST body from worker w; wh and body are copied (the delivery outlives the caller's options).
 * The outcome is only logged. */
void webhook_post(struct worker *w, const struct webhook *wh, const char *body);

#endif
