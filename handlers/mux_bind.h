/*
 * The server side of a multiplexed TCP BIND, shared by the relay handler's
 * BIND (handlers/relay_bind.c) and the socks5 handler's MBIND
 * (handlers/socks5_bind.c): the requester's connection becomes an smux
 * session in which this side is the smux client; every connection accepted
 * on the bound port gets a new stream that starts with the protocol's header
 * naming the peer, then the bytes. Streams the requester opens are closed.
 * When the session dies the port is closed.
 */
#ifndef PORTWAY_HANDLERS_MUX_BIND_H
#define PORTWAY_HANDLERS_MUX_BIND_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "src/svc/service.h"
#include "src/xprt/smux_session.h"

/* The header a stream starts with; bytes written or -1. */
typedef int (*mux_bind_header_fn)(uint8_t *out, size_t cap, const struct sockaddr_storage *peer);

/* fd: the bound, listening socket; client: the requester, already answered. Both are owned
 * from now on. mux must outlive the service (it is the handler's). proto names the protocol
 * in log lines ("relay", "socks5"); where is the bound address. */
void mux_bind_serve(struct service *svc, struct stream *client, int fd, const char *where,
		    const struct smux_config *mux, double idle_timeout, mux_bind_header_fn header, const char *proto);

/* A listening socket's address, or a connected socket's peer; -1 with errno. */
int mux_bind_local(int fd, struct sockaddr_storage *ss);

#endif
