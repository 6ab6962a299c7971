/*
 * WebSocket (RFC 6455) as a filter stream over any lower stream: the
 * opening handshake (server or client side), then each write becomes binary
 * frames and the payload of every data frame read is delivered as bytes.
 * Frames from the client are masked, as the RFC requires; pings are answered;
 * an optional keep-alive pings the peer and drops it when nothing comes back.
 *
 * Half close: stream_shutdown sends a close frame (1000) and shuts the lower
 * stream down; a close frame received is the end of the stream (len == 0),
 * and the other direction stays open until the owner shuts it down too.
 *
 * Shared by the ws and wss listeners and dialers; the gateway uses the
 * server side with its own routing through ws_server_upgrade.
 */
#ifndef PORTWAY_WS_STREAM_H
#define PORTWAY_WS_STREAM_H
#include <stddef.h>
#include <stdint.h>

#include "proto/http.h"
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "proto/ws_upgrade.h"

#define WS_DEFAULT_PATH "/ws"
#define WS_DEFAULT_MAX_FRAME (1024 * 1024)

/* Settings of one listener or one node, parsed once. */
struct ws_opts {
	char *path;                      /* owned: request path (client) or the one path served (server) */
	char *host;                      /* owned, client: Host field; NULL: the node's address */
	struct ws_extra_header *headers; /* owned (names and values too): extra request / 101 headers */
	size_t n_headers;
	double handshake_timeout;        /* default 10 s */
	double keepalive;                /* ping interval; 0: no pings of our own */
	uint64_t max_frame;              /* largest frame payload accepted and sent */
};

/*
 * Metadata: path (default /ws), host (client), header (a map of extra
 * headers) or header.NAME keys, handshakeTimeout, keepAlive and ttl (GOST:
 * keepAlive turns pings on, ttl is their interval, default 15 s), or
 * keepAlivePeriod, maxFrameSize (bytes, default 1 MiB). -1 with cfg_err.
 */
int ws_opts_parse(struct ws_opts *o, const struct cnode *md, int client, struct cfg_err *e);
void ws_opts_free(struct ws_opts *o);
/* A deep copy, for a handshake that must not depend on its node surviving a reload. */
void ws_opts_copy(struct ws_opts *dst, const struct ws_opts *src);

/*
 * Server: read the upgrade request from lower (owned from now on); a request
 * for another path gets 404, a plain HTTP request 426, a malformed one 400,
 * each with a short body, and the connection is closed after it. Then answer
 * 101 and cb(ctx, ws_stream, 0), else cb(ctx, NULL, err) once everything is
 * closed. cb runs exactly once, never from inside this call. o must stay
 * valid until cb runs.
 */
void ws_server_accept(const struct ws_opts *o, struct stream *lower, stream_done_cb cb, void *ctx);

/*
 * Server, for a request someone else has read and routed: check it, answer
 * 101 (with o's extra headers) and return the WebSocket stream over lower.
 * rest holds the bytes that followed the head (the first frames), copied.
 * Returns NULL after sending the error answer (400/405/426) and closing
 * lower. o may be NULL (defaults). The stream takes lower's svc and peer.
 */
struct stream *ws_server_upgrade(const struct ws_opts *o, struct stream *lower, const struct http_request *req,
				 const void *rest, size_t restlen);

/*
 * Answer an HTTP error (status, text body, Connection: close) on lower,
 * which is owned from now on: it is shut down and closed once the answer
 * is out and the peer's remaining bytes are read, or after a short while.
 */
void ws_http_refuse(struct stream *lower, int status, const char *text);

/*
 * Client: send the upgrade request over lower (owned from now on) with Host
 * o->host or else default_host, check the 101, then cb(ctx, ws_stream, 0),
 * or cb(ctx, NULL, err) (EPROTO for a refusal, ETIMEDOUT, ECONNRESET), the
 * cause logged under label. cb runs exactly once, never from inside this call.
 * o, default_host and label are copied: they need not outlive the call.
 */
void ws_client_connect(const struct ws_opts *o, struct stream *lower, const char *default_host, const char *label,
		       stream_done_cb cb, void *ctx);

#endif
