/*
 * What the rtcp and rudp listeners share: keep a BIND open on the chain's
 * last node (a relay), reaching it through the hops before it, and bind
 * again with back-off (1 s doubling to 5 s) whenever it fails or ends.
 * Runs on worker 0 only: one BIND per service.
 */
#ifndef PORTWAY_LISTENER_RTCP_H
#define PORTWAY_LISTENER_RTCP_H
#include "src/svc/relay_bind_client.h"
#include "src/svc/service.h"

struct rbind;

struct rbind_hooks {
	void (*bound)(void *ctx, struct relay_bind *b);   /* a BIND is live (may be NULL) */
	void (*accepted)(void *ctx, struct stream *st);   /* TCP: a remote connection (owned by the callee) */
	void (*datagram)(void *ctx, struct relay_bind *b, const struct relay_addr *peer, const char *data, size_t len);
	void (*lost)(void *ctx);                          /* the live BIND ended (may be NULL) */
};

/* listener init/fini for both types: check the chain and options. */
int rbind_init(struct service *svc, struct cfg_err *e);
void rbind_fini(struct service *svc);
/* Start keeping the BIND; stop ends it (no hook runs afterwards). */
struct rbind *rbind_start(struct listener_inst *li, int udp, const struct rbind_hooks *h, void *ctx);
void rbind_stop(struct rbind *r);

#endif
