/*
 * The destinations of one UDP association, shared by the handlers that relay
 * datagrams to targets each datagram names (socks5's UDP ASSOCIATE and
 * UDP-over-TCP, ssu): each destination gets its own datagram stream from the
 * router (through the handler's chain, with its retries); datagrams that
 * come while it is being dialed wait (16 at most, then dropped, as the
 * network would); replies go to the owner's reply function with the
 * destination's address as the client named it. At most 64 destinations:
 * a new one beyond that ends the least recently used.
 */
#ifndef PORTWAY_HANDLERS_UDP_TARGETS_H
#define PORTWAY_HANDLERS_UDP_TARGETS_H
#include <stddef.h>

#include "handlers/proxy.h"
#include "proto/socks5.h"

typedef void (*udp_reply_fn)(void *ctx, const struct socks5_addr *from, const char *data, size_t len);

struct udp_target;

/* Embedded in its owner; everything below list is owned. */
struct udp_targets {
	struct worker *w;
	struct service *svc;
	const struct proxy_opts *o;
	const char *peer;           /* the client, for log lines; outlives the table */
	udp_reply_fn reply;
	void *ctx;
	struct udp_target *list;
	int n;
};

void udp_targets_init(struct udp_targets *t, struct worker *w, struct service *svc, const struct proxy_opts *o,
		      const char *peer, udp_reply_fn reply, void *ctx);
/* One datagram to a: 0, or -1 when the service's bypass refuses a (the datagram is dropped). */
int udp_targets_send(struct udp_targets *t, const struct socks5_addr *a, const void *data, size_t len);
/* Close every destination (dials in flight are cancelled). */
void udp_targets_free(struct udp_targets *t);

#endif
