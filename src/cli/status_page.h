/* The proxy's status page, served by the web API (`GET {pathPrefix}/status` and
 * `/status.json`, behind the API's auth): services, chains and nodes with their health,
 * connections and traffic, as HAProxy's stats page shows them. Main thread only: it reads the
 * running services and sums the per-worker counters, as a metrics scrape does. */
#ifndef PORTWAY_CLI_STATUS_PAGE_H
#define PORTWAY_CLI_STATUS_PAGE_H

#include <jansson.h>

/* A new JSON object (the caller owns it): process, services[], chains[]. */
json_t *status_snapshot(void);

/* The HTML page: static, it fetches status.json beside itself every two seconds. */
extern const char status_page_html[];

#endif
