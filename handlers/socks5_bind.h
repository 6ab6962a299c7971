/*
 * The socks5 handler's BIND commands (handlers/socks5_bind.c), allowed by
 * metadata bind: true (GOST's default is off; then both get REP 2, not
 * allowed, as GOST answers):
 *  - BIND (RFC 1928 section 4): listen on DST.ADDR:DST.PORT, reply with the
 *    bound address, reply again when a peer connects with the peer's
 *    address, then the connection carries that peer's bytes. One peer.
 *  - MBIND (GOST's 0xF2, what its rtcp listener sends through a socks5
 *    chain): the same first reply, then the connection is an smux session
 *    (handlers/bind_server.c) with one stream per accepted peer, each stream
 *    starting with a reply that names the peer.
 *  - UDP BIND (GOST's 0xF3 with a port, what its rudp listener sends): bind
 *    a UDP socket there, reply with its address, then datagrams are framed
 *    on the connection (handlers/bind_server.c).
 */
#ifndef PORTWAY_HANDLERS_SOCKS5_BIND_H
#define PORTWAY_HANDLERS_SOCKS5_BIND_H
#include "proto/socks5.h"
#include "src/svc/service.h"
#include "src/xprt/smux_session.h"

struct socks5_bind_opts {
	int enabled;                /* metadata bind */
	int comp;                   /* metadata comp: MBIND streams without the reply (GOST v2's form) */
	const char *public_addr;    /* metadata publicAddr: the host of BIND's first reply, or NULL; the config's */
	struct smux_config mux;     /* mux.*, for MBIND */
};

int socks5_bind_init(struct service *svc, struct socks5_bind_opts *o, struct cfg_err *e);

/* req (BIND, MBIND, or UDP_TUN with a port) was asked and allowed. 0: client (read stopped, any bytes after the
 * request pushed back into it, no callbacks) belongs to the BIND code from now on; o must
 * outlive it. Else nothing was sent and client is still the caller's: the REP to refuse with. */
int socks5_bind_start(struct service *svc, const struct socks5_bind_opts *o, double idle_timeout,
		       struct stream *client, const struct socks5_request *req);

#endif
