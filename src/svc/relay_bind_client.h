/*
 * A BIND on the chain's last node: ask it to listen for us. With the relay
 * connector (doc/protocols/gost-relay.md §3.3), or one with a bind op (socks5:
 * GOST's MBIND and UDP tunnel), TCP and UDP. TCP: the node's connections
 * come back as smux streams (this side is the smux server), each after a
 * header that names the remote peer (relay: a response; socks5: a reply).
 * UDP: datagrams travel on the connection in the BIND frame.
 * Used by the rtcp and rudp listeners.
 */
#ifndef PORTWAY_CONNECTOR_RELAY_BIND_H
#define PORTWAY_CONNECTOR_RELAY_BIND_H
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "proto/relay.h"

struct relay_bind;

struct relay_bind_callbacks {
	/* The server listens: bound is its "host:port". */
	void (*bound)(void *ctx, struct relay_bind *b, const char *bound);
	/* TCP: a remote connection; st->peer is the remote client. The callee owns st. */
	void (*accepted)(void *ctx, struct relay_bind *b, struct stream *st);
	/* UDP: a datagram from peer (data valid during the call). */
	void (*datagram)(void *ctx, struct relay_bind *b, const struct relay_addr *peer, const char *data, size_t len);
	/* The BIND failed or ended (err: an errno value; ECONNREFUSED: refused by the
	 * server). b is gone afterwards. Not called after relay_bind_close. */
	void (*closed)(void *ctx, int err);
};

/* Check the node's connector options a BIND uses (mux.*, connectTimeout), at load. */
/* 1 when a BIND of this kind (udp or TCP) can go through the node's connector. */
int relay_bind_supported(const struct node *n, int udp);
int relay_bind_node_check(struct node *n, struct cfg_err *e);

/* Send BIND for host:port ("" host: every address; port 0: any) over lower,
 * a connection reaching the node (owned from now on). Callbacks come from the
 * loop, never from inside this call. */
struct relay_bind *relay_bind_dial(struct node *n, struct stream *lower, int udp, const char *host, uint16_t port,
				   const struct relay_bind_callbacks *cb, void *ctx);

/* UDP: a datagram to peer through the server's socket. 0 (also when dropped
 * because the connection is backed up, or empty), -1 when the BIND is gone. */
int relay_bind_send(struct relay_bind *b, const struct relay_addr *peer, const void *data, size_t len);

/* End the BIND and its connection; streams already accepted get an error.
 * No callback comes after this. */
void relay_bind_close(struct relay_bind *b);

#endif
