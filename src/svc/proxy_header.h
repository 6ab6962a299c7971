/*
 * The listener side of the PROXY protocol (GOST's `proxyProtocol` on a service): an accepted
 * connection's first bytes may be a v1 or v2 header; its source becomes the connection's peer
 * (s->peer: logs, admission, bypass, auth, metrics, handlers). As GOST (go-proxyproto's
 * default policy) a connection that begins with neither signature goes on unchanged with its
 * socket's address; a malformed header, a timeout or an end before the header closes it.
 */
#ifndef PORTWAY_SVC_PROXY_HEADER_H
#define PORTWAY_SVC_PROXY_HEADER_H
#include <stddef.h>
#include <stdint.h>

#include "src/core/stream.h"
#include "src/svc/service.h"

#define PROXY_HEADER_TIMEOUT 10.0    /* GOST's readHeaderTimeout */

/* Read s's header, then service_accept_ready(li, s) with s->peer (and s->local) set from it. */
void proxy_header_accept(struct listener_inst *li, struct stream *s);
/* li stops: close the connections still sending their header. */
void proxy_header_cancel_all(struct listener_inst *li);

/* The sending side (GOST's forward handlers' proxyProtocol): a version 1 or 2 header naming
 * client's peer -> the address it reached (s->local, else its socket's), into out; its length,
 * -1 if out is too small. An address that is no IP (a unix socket) goes as unknown. */
long proxy_header_for(struct stream *client, int version, uint8_t *out, size_t cap);

#endif
