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

struct resolver *resolver_new(struct ev_loop *loop);
void resolver_free(struct resolver *r);
/* Literal addresses complete at once (from a deferred call, never re-entrantly). */
void resolve(struct worker *w, const char *host, uint16_t port, resolve_cb cb, void *ctx);

#endif
