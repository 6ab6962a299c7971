/*
 * The stream: every endpoint of a connection (a TCP socket, a TLS session, a
 * WebSocket, an smux stream, a UDP session) has this shape, so handlers and
 * the pipe never know what lies below. Filter streams own the stream below
 * them and install their own callbacks on it (nginx's recv/send swap).
 *
 * Reading: after stream_read_start() the stream calls on_read(s, data, len)
 * with bytes it owns for the duration of the call; len == 0 means EOF.
 * Datagram streams (s->dgram) deliver one message per call and write one
 * message per stream_write().
 *
 * Writing: stream_write() always takes all bytes (or fails with -1); what the
 * layer below cannot take yet is queued and counted in s->wqueued. When the
 * queue becomes empty the stream raises STREAM_EV_DRAINED. Callers stop
 * reading their source while the destination's wqueued is over
 * STREAM_HIGH_WATER: that is the back-pressure.
 *
 * Closing: stream_close() releases everything; no callback fires after it,
 * and the memory itself is freed later on the worker, so code still on the
 * stack may test s->closed.
 */
#ifndef PORTWAY_STREAM_H
#define PORTWAY_STREAM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "src/core/worker.h"

#define STREAM_HIGH_WATER (256 * 1024)

enum stream_event {
	STREAM_EV_DRAINED,  /* the write queue became empty */
	STREAM_EV_ERROR,    /* broken; err holds an errno value */
};

struct stream;
struct service;
typedef void (*stream_read_cb)(struct stream *s, const char *data, size_t len);
typedef void (*stream_event_cb)(struct stream *s, enum stream_event ev, int err);
/* Completion of an asynchronous step that produces a stream (dial, handshake). */
typedef void (*stream_done_cb)(void *ctx, struct stream *s, int err);

struct stream_ops {
	const char *name;
	void (*read_start)(struct stream *s);
	void (*read_stop)(struct stream *s);
	int (*write)(struct stream *s, const char *data, size_t len);
	void (*shutdown)(struct stream *s);   /* half close: no more writes */
	void (*close)(struct stream *s);      /* release resources; memory freed by stream_close */
	int (*fd)(struct stream *s);          /* plain socket fd for splice, or -1 */
};

struct readahead {
	char *data;
	size_t len;
};

struct stream {
	const struct stream_ops *ops;
	struct worker *w;
	stream_read_cb on_read;
	stream_event_cb on_event;
	void *ud;                       /* owner's context */
	struct service *svc;            /* a reference held while the connection lives, or NULL */
	double svc_since;               /* loop time service_dispatch counted it as a request of svc; 0: not */
	void *svc_hold;                 /* what svc's limits hold for this connection (a climiter's slot), or NULL */
	size_t wqueued;
	struct readahead pending;       /* bytes pushed back by stream_unread, delivered first */
	unsigned dgram : 1, reading : 1, closed : 1, shut_wr : 1, delivering : 1;
	char peer[64];                  /* printable peer address */
	/* the address the client reached, when a PROXY header named it; "": the socket's own */
	char local[64];
	char alpn[32];                  /* negotiated ALPN protocol, "" if none */
	struct stream_route *route;     /* owned, freed by stream_close; NULL: not set */
	struct rate_conn *rate;         /* owned: the client connection's bandwidth limits (src/core/rate.h); NULL: none */
};

/* What the router dialed to get this stream: the connection line's target, and the chain and
 * node it went through (NULL when none). One allocation, strings inside it. */
struct stream_route {
	const char *target, *chain, *node;
};
void stream_set_route(struct stream *s, const char *target, const char *chain, const char *node);

void stream_init(struct stream *s, const struct stream_ops *ops, struct worker *w);
void stream_set_callbacks(struct stream *s, stream_read_cb r, stream_event_cb e, void *ud);
void stream_read_start(struct stream *s);
void stream_read_stop(struct stream *s);
int stream_write(struct stream *s, const void *data, size_t len);
void stream_shutdown(struct stream *s);
void stream_close(struct stream *s);
int stream_fd(struct stream *s);
/* Stop reading, send what is queued, then close (an error reply, the end of an HTTP answer).
 * Gives up after a few seconds if the peer does not take the bytes. */
void stream_close_after_flush(struct stream *s);
/* Push bytes back in front of the stream: they are read again first (peeking, hand-off). */
void stream_unread(struct stream *s, const void *data, size_t len);

/* s->svc is a reference on the connection's service, released at close; the runtime does not
 * know services, so the services layer says once what to do with one (src/svc/service.c). */
struct stream_svc_hooks {
	void (*release)(struct service *svc);                 /* drop the reference (service_unref) */
	void (*release_hold)(void *hold);                     /* give back s->svc_hold, before release */
	/* A connection counted as a request (svc_since set) closes, on its worker w. */
	void (*request_end)(struct service *svc, struct worker *w, double since);
	/* A pipe ends: in bytes were read from the service's connection, out written to it. */
	void (*transfer)(struct service *svc, struct worker *w, uint64_t in, uint64_t out);
	/* A pipe joining s (the service's connection) and peer ended: the connection's log line.
	 * result: how it ended ("eof", "idle timeout", "error: ..."). */
	void (*pipe_end)(struct service *svc, const struct stream *s, const struct stream *peer, uint64_t in,
			 uint64_t out, const char *result);
};
void stream_set_svc_hooks(const struct stream_svc_hooks *h);
/* Move the service reference (and its request accounting) of from to to: a filter taking a
 * stream over. */
static inline void stream_take_svc(struct stream *to, struct stream *from)
{
	to->svc = from->svc;
	to->svc_since = from->svc_since;
	to->svc_hold = from->svc_hold;
	to->rate = from->rate;
	from->rate = NULL;
	from->svc = NULL;
	from->svc_since = 0;
	from->svc_hold = NULL;
}
/* Account a finished transfer to the connection's service, if it has one. */
void stream_account_transfer(struct stream *s, uint64_t in, uint64_t out);
/* A pipe joining s and peer ended (in: read from s, out: written to s): tell s's service. */
void stream_pipe_ended(const struct stream *s, const struct stream *peer, uint64_t in, uint64_t out,
		       const char *result);

/* Hand cb(ctx, s, err) over from w's loop, never from inside the caller's call (an asynchronous
 * step that can sometimes finish at once still answers later, as it would otherwise). */
void stream_done_later(struct worker *w, stream_done_cb cb, void *ctx, struct stream *s, int err);

/* For stream implementations: raise events to the owner. */
void stream_emit_read(struct stream *s, const char *data, size_t len);
void stream_emit_event(struct stream *s, enum stream_event ev, int err);

/* Socket streams (src/sock.c). */
struct stream *sock_stream_new(struct worker *w, int fd, int dgram);
/* Asynchronous connect to host:port (DNS through c-ares), each address in turn. */
void sock_connect(struct worker *w, const char *host, uint16_t port, int dgram, double timeout,
		  stream_done_cb cb, void *ctx);
/* Asynchronous connect to the unix stream socket at path; cb runs from the loop, never inside. */
void sock_connect_unix(struct worker *w, const char *path, double timeout, stream_done_cb cb, void *ctx);

#endif
