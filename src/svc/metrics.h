/*
 * Counters behind GOST's Prometheus metrics (doc/operations.md, Metrics).
 *
 * Nothing is shared on the hot path: every service and every chain node has one
 * counter block per worker, written only by that worker (relaxed atomic stores of
 * its own values) and summed by the scrape on the main thread (relaxed loads).
 * Blocks are kept by name (service; chain and node) for the process's life, so a
 * service a reload keeps or changes goes on counting, and a new name starts at 0.
 */
#ifndef PORTWAY_SVC_METRICS_H
#define PORTWAY_SVC_METRICS_H
#include <stddef.h>
#include <stdint.h>

#include "src/conf/model.h"
#include "src/core/stream.h"

/* GOST's buckets (x/metrics/prom.go). */
#define SVC_DURATION_BUCKETS 14
#define NODE_CONNECT_BUCKETS 13
extern const double svc_duration_bounds[SVC_DURATION_BUCKETS];
extern const double node_connect_bounds[NODE_CONNECT_BUCKETS];

struct svc_counters {
	uint64_t requests;          /* counted at service_dispatch */
	uint64_t errors;            /* the handler failed the connection (a dial failed) */
	uint64_t input, output;     /* bytes read from / written to the clients (at a pipe's end) */
	uint64_t duration_us;       /* sum of the ended requests' durations */
	uint64_t duration[SVC_DURATION_BUCKETS + 1]; /* ended requests per bucket (not cumulative), last +Inf */
} __attribute__((aligned(64)));

struct svc_metrics {
	char *name;
	struct svc_counters *w;     /* [worker_count] */
	struct svc_metrics *next;
};

struct node_counters {
	uint64_t errors;            /* the node's connect or handshake failed (or timed out) */
	uint64_t connect_us;
	uint64_t connect[NODE_CONNECT_BUCKETS + 1];
} __attribute__((aligned(64)));

struct node_metrics {
	char *chain, *node;
	struct node_counters *w;    /* [worker_count] */
	struct node_metrics *next;
};

/* Sums over the workers (main thread, any time). */
struct svc_totals {
	uint64_t requests, ended, errors, input, output, duration_us;
	uint64_t duration[SVC_DURATION_BUCKETS + 1];
};
struct node_totals {
	uint64_t errors, connects, connect_us;
	uint64_t connect[NODE_CONNECT_BUCKETS + 1];
};

/* Main thread, after workers_init, before the services of cfg start: give each service
 * and chain of cfg its counters (those of the same names if they exist). */
void metrics_attach(struct config *cfg);
void svc_metrics_sum(const struct svc_metrics *m, struct svc_totals *t);
void node_metrics_sum(const struct node_metrics *m, struct node_totals *t);
/* With the workers stopped: free every block. */
void metrics_free_all(void);

/* The stream hooks (installed by service_start). */
void svc_metrics_request_end(struct service *svc, struct worker *w, double since);
void svc_metrics_transfer(struct service *svc, struct worker *w, uint64_t in, uint64_t out);

/* On the connection's worker. */
void svc_metrics_request(struct stream *client);            /* service_dispatch */
void svc_metrics_handler_error(struct service *svc, struct worker *w);
/* Hop `hop` of chain c, node n: its connect (dial and handshake) failed, or took seconds. */
void node_metrics_error(const struct chain *c, size_t hop, const struct node *n, struct worker *w);
void node_metrics_connect(const struct chain *c, size_t hop, const struct node *n, struct worker *w, double seconds);

#endif
