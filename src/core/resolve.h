/* Asynchronous name resolution through c-ares, one channel per worker. */
#ifndef PORTWAY_RESOLVE_H
#define PORTWAY_RESOLVE_H
#include <stdint.h>
#include <sys/socket.h>

#include "src/core/worker.h"

#define RESOLVE_MAX_ADDRS 8

struct resolved {
	int count;
	struct sockaddr_storage addr[RESOLVE_MAX_ADDRS];
	socklen_t len[RESOLVE_MAX_ADDRS];
};

/* err is 0 or an errno value (EHOSTUNREACH for NXDOMAIN, ETIMEDOUT). */
typedef void (*resolve_cb)(void *ctx, const struct resolved *r, int err);

/* A nameserver of its own, instead of the system's: GOST's resolvers. */
struct resolve_server {
	const char *key;            /* equal keys share one channel (and cache) per worker */
	const char *servers;        /* c-ares' "host:port" or "[v6]:port" */
	int tcp;                    /* queries over TCP (ARES_FLAG_USEVC) */
	double timeout;             /* per query, seconds */
	double ttl;                 /* > 0: cache answers that long; 0: their own TTL; < 0: no cache */
};

struct resolver *resolver_new(struct ev_loop *loop);
void resolver_free(struct resolver *r);
/* Literal addresses complete at once (from a deferred call, never re-entrantly). */
void resolve(struct worker *w, const char *host, uint16_t port, resolve_cb cb, void *ctx);

/* Addresses of one family (AF_INET or AF_INET6) of host from srv, through this worker's channel for
 * srv (made at its first use; DNS only, never /etc/hosts). cb runs from a deferred call. */
void resolve_via(struct worker *w, const struct resolve_server *srv, const char *host, int family, resolve_cb cb,
		 void *ctx);

#endif
