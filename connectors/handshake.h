/*
 * The wait for a handshake's reply, shared by the connectors whose handshake
 * is a request and a reply on the stream to the node (http CONNECT, SOCKS4,
 * SOCKS5, relay with nodelay): the request goes out, the reply accumulates
 * until the protocol's parser decides, and a timer bounds the wait. On
 * success the bytes after the reply (the tunnel's first bytes) are pushed
 * back in front of the stream, which is handed on stopped and with no
 * callbacks; on failure (a refusal, a malformed reply, EOF, a stream error,
 * the timeout) it is closed.
 */
#ifndef PORTWAY_CONNECTOR_HANDSHAKE_H
#define PORTWAY_CONNECTOR_HANDSHAKE_H
#include <stddef.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/core/buf.h"

struct handshake;

/* What a connector plugs in; a static const per protocol. */
struct handshake_proto {
	/* Looks at h->buf (the reply so far) and consumes what it has read:
	 * 1 when the handshake is done, 0 for more bytes, -errno when it failed.
	 * A handshake of several rounds writes its next request to h->lower here. */
	int (*reply)(struct handshake *h);
	/* Logged at info level after "node NAME (ADDR): " when no reply comes in time. */
	const char *timeout_msg;
	/* Logged likewise when the node closes before replying; NULL: nothing. */
	const char *eof_msg;
};

/* One handshake in flight; owns lower until it is handed on or closed. */
struct handshake {
	const struct handshake_proto *proto;
	struct node *n;
	struct stream *lower;
	struct buf buf;            /* the reply so far */
	void *arg;                  /* the protocol's own state, owned by the caller */
	stream_done_cb cb;
	void *ctx;
	ev_timer timer;
};

/* Writes req (len bytes) to lower and waits up to timeout for the reply. cb runs
 * exactly once: with lower and 0, or with NULL and an errno value. */
void handshake_start(const struct handshake_proto *proto, struct node *n, struct stream *lower, double timeout,
		     const void *req, size_t len, void *arg, stream_done_cb cb, void *ctx);

/* The connector's connectTimeout: how long handshake_start waits (10 s by default, and when not positive). */
int handshake_timeout_parse(struct node *n, double *timeout, struct cfg_err *e);

#endif
