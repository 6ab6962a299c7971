/*
 * The server side of a BIND once the requester was answered, shared by the
 * relay handler's BIND (handlers/relay_bind.c) and the socks5 handler's
 * MBIND and UDP BIND (handlers/socks5_bind.c).
 *
 * TCP, multiplexed: the requester's connection becomes an smux session in
 * which this side is the smux client; every connection accepted on the
 * bound port gets a new stream that starts with the protocol's header
 * naming the peer, then the bytes. Streams the requester opens are closed.
 * When the session dies the port is closed.
 *
 * UDP: datagrams travel on the connection as RSV(2)=length | FRAG 0xff |
 * ATYP ADDR PORT | payload (the same frame for relay and GOST's socks5 UDP
 * tunnel): the destination towards the bound socket (a domain is resolved),
 * the source back; the service's bypass applies to both. Empty datagrams
 * cannot be framed and are dropped, as are datagrams a slow client cannot
 * take. The socket closes with the connection, or at a malformed frame.
 */
#ifndef PORTWAY_HANDLERS_BIND_SERVER_H
#define PORTWAY_HANDLERS_BIND_SERVER_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "src/svc/service.h"
#include "src/xprt/smux_session.h"
#include "proto/relay.h"

/* The header a stream starts with; bytes written (0: none) or -1. */
typedef int (*mux_bind_header_fn)(uint8_t *out, size_t cap, const struct sockaddr_storage *peer);

/* fd: the bound, listening socket; client: the requester, already answered. Both are owned
 * from now on. mux must outlive the service (it is the handler's). proto names the protocol
 * in log lines ("relay", "socks5"); where is the bound address. */
void bind_mux_serve(struct service *svc, struct stream *client, int fd, const char *where,
		    const struct smux_config *mux, double idle_timeout, mux_bind_header_fn header, const char *proto);

/* fd: the bound UDP socket; client: the requester, already answered. Both owned from now on. */
void bind_udp_serve(struct service *svc, struct stream *client, int fd, const char *where, const char *proto);

/* A socket's own address (getsockname); -1 with errno. */
int bind_local_addr(int fd, struct sockaddr_storage *ss);
/* A socket address as a relay/SOCKS5 address (IPv4-mapped IPv6 becomes IPv4, as GOST writes it). */
void bind_addr_from_sockaddr(struct relay_addr *a, const struct sockaddr_storage *ss);

#endif
