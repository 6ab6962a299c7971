/* What the transparent proxies share (handlers/red.c, handlers/redu.c). */
#ifndef PORTWAY_HANDLERS_REDIRECT_H
#define PORTWAY_HANDLERS_REDIRECT_H
#include <sys/socket.h>

#include "src/core/stream.h"
#include "src/svc/service.h"

/* Send client (a TCP connection, or a datagram session) where it was headed, dst: refused when
 * the service's bypass matches, else dialed (through the handler's chain) and piped; ttl bounds
 * the dial and idleness (0: the defaults). Owns client from the call on. */
void redirect_forward(struct service *svc, struct stream *client, const struct sockaddr_storage *dst, double ttl);

#endif
