/*
 * The Onifast-compatible gateway (doc/gateway.md). Its state lives on worker
 * 0 only (the handler is single_worker), so pools need no locks: agents and
 * public clients of one gateway all land on that loop.
 */
#ifndef PORTWAY_GW_H
#define PORTWAY_GW_H
#include <stdint.h>
#include <time.h>

#include "proto/http.h"
#include "proto/onifast.h"
#include "src/conf/model.h"
#include "src/core/acceptor.h"
#include "src/core/stream.h"
#include "src/gateway/store.h"
#include "src/gateway/webhook.h"
#include "src/xprt/ws_stream.h"



struct gw_pool;

/* An idle agent worker WebSocket waiting in its pool. */
struct gw_worker {
	struct stream *ws;          /* owned while idle */
	struct gw *g;
	struct gw_pool *pool;
	struct gw_worker *prev, *next;
};

/* A public connection waiting a moment for a worker of an empty pool. */
struct gw_waiter {
	struct gw *g;
	struct gw_pool *pool;
	struct stream *client;      /* owned */
	char *pending;              /* bytes read from the client so far, owned */
	size_t pending_len;
	int port, reply_connect, http;
	ev_timer timer;
	struct gw_waiter *next;
};

struct gw_pool {
	char name[STORE_NAME_MAX + 1];
	enum onifast_kind kind;
	struct gw_worker *head, *tail;  /* head: oldest */
	int count;
	ev_tstamp last_activity;        /* a worker joined, was taken or left */
	struct gw_waiter *wait_head, **wait_tail;
	int waiting;
	struct gw_pool *next;
};

struct gw_forward {
	struct port_forward pf;
	int fd;                     /* -1 for an inactive forward */
	struct acceptor acc;
	struct gw *g;
	struct gw_forward *next;
};

struct gw_opts {
	char db[512];
	char web_host[256];
	uint16_t web_port;
	char forward_bind[256];     /* where static forwards listen: forwardBind, else the service's host */
	char **domains;
	size_t n_domains;
	char token[256];            /* "" : none, then only allowed addresses reach the API */
	struct bypass allow;        /* API clients allowed without a token (IPs, CIDRs, ranges); patterns owned */
	long max_idle;
	double pool_idle;           /* pools with no worker for this long are collected */
	double gc_interval;
	double head_timeout;
	double worker_wait;         /* how long a client may wait for a worker of an empty pool */
	int has_webhook;
	struct webhook webhook;
	struct ws_opts ws;          /* pings keep idle workers honest */
};

struct gw_stats {
	uint64_t requests, tunnels, no_worker, agents_accepted, agents_refused, webhook_failures;
};

/* A connect or disconnect of a subdomain's workers, kept for the dashboard. */
#define GW_EVENTS 32
struct gw_event {
	time_t when;
	int connected;              /* 1 connected, 0 disconnected */
	enum onifast_kind kind;
	char name[STORE_NAME_MAX + 1];
};

struct gw {
	struct service *svc;
	struct gw_opts o;
	struct store *store;        /* opened by gw_prepare on the main thread; NULL if it failed */
	struct port_forward *initial_pfs; /* read by gw_prepare, opened (and freed) by gw_start */
	size_t n_initial_pfs;
	struct worker *w;           /* worker 0, once started */
	int stopped;                /* gw_stop ran: late store completions close their connection */
	struct gw_pool *pools;
	int web_fd;
	struct acceptor web_acc;
	struct gw_forward *forwards;
	ev_timer gc;
	ev_tstamp started;
	struct gw_stats stats;
	struct gw_event events[GW_EVENTS]; /* a ring: the newest at (n_events - 1) % GW_EVENTS */
	unsigned n_events;
};

/* For the metrics endpoint (src/cli/metrics_http.c). */
struct gw_metrics {
	int pools[2], idle[2], waiting[2];  /* by enum onifast_kind */
	int forwards;                       /* static port forwards listening */
	struct gw_stats stats;
};
int gw_service_is_gateway(const struct service *svc);
/* On worker 0, the gateway's loop. */
void gw_metrics_read(const struct service *svc, struct gw_metrics *out);

/* src/gw_pool.c */
struct gw_pool *gw_pool_find(struct gw *g, const char *name, enum onifast_kind kind, int create);
void gw_pool_add(struct gw *g, struct gw_pool *p, struct stream *ws);
/* Take the newest live worker, or NULL. The caller owns the stream. */
struct stream *gw_pool_take(struct gw *g, struct gw_pool *p);
void gw_pools_collect(struct gw *g, ev_tstamp now);
void gw_pools_free(struct gw *g);
void gw_notify(struct gw *g, const char *event, const struct gw_pool *p);
const char *gw_kind_name(enum onifast_kind k);

/* src/gw_api.c: the management API; the request's body is complete. */
void gw_api_serve(struct gw *g, struct stream *s, const struct http_request *req, const char *body, size_t body_len);
void gw_reply(struct stream *s, int status, const char *json);
void gw_reply_typed(struct stream *s, int status, const char *ctype, const char *extra_headers, const char *body,
		    size_t len);

/* src/gateway/dashboard.c: the status page of the gateway and the JSON it reads (GET /dashboard,
 * /dashboard.json on the API port, behind the API's check). */
void gw_dashboard_page(struct gw *g, struct stream *s);
void gw_dashboard_json(struct gw *g, struct stream *s);
void gw_event_record(struct gw *g, const struct gw_pool *p, int connected);
int gw_forward_open(struct gw *g, const struct port_forward *pf, char *err, size_t errlen);
int gw_forward_close(struct gw *g, int listen_port);

/* handlers/gateway.c: a worker arrived; 1 if it went straight to a waiting client. */
int gw_waiter_serve(struct gw *g, struct gw_pool *p, struct stream *ws);
/* Close every waiting client of p (the gateway stops). */
void gw_waiters_drop(struct gw_pool *p);
/* handlers/gateway.c: join a public connection to a worker of the pool (with a first line for tunnels). */
void gw_dispatch(struct gw *g, struct stream *client, const char *name, enum onifast_kind kind, int port,
		 const char *pending, size_t pending_len, int reply_connect);

#endif
