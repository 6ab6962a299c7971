/*
 * An HTTP/2 connection (nghttp2) over any lower stream, on one worker: many
 * HTTP/2 streams, each a struct stream. nghttp2 only sees bytes
 * (nghttp2_session_mem_recv / mem_send); the lower stream is a socket, a TLS
 * stream or anything a chain delivered.
 *
 * A stream's bytes are its DATA frames: the request body on the client side,
 * the response body on the server side (GOST's http2 proxy and h2 tunnel put
 * the tunnel there). END_STREAM is the half close (stream_shutdown sends it;
 * the peer's is EOF); RST_STREAM with an error code is STREAM_EV_ERROR
 * (ECONNRESET). A peer that resets with NO_ERROR after its END_STREAM (what
 * an HTTP/2 server does when it is done and the request body is not) reads
 * no more: once EOF is delivered the owner gets STREAM_EV_ERROR (EPIPE) if it
 * has not ended its side yet.
 *
 * Flow control honours back-pressure both ways: received DATA is granted back
 * to the peer (WINDOW_UPDATE) only once the owner has read it, so an owner
 * that stops reading stops the peer after one window; written bytes wait in
 * the stream (s->wqueued) until the peer's window and the lower stream take
 * them, and DRAINED comes when they are gone. The lower stream is no longer
 * fed past STREAM_HIGH_WATER of its own queue.
 *
 * Closing a stream whose side is not ended sends END_STREAM after what was
 * written (then RST_STREAM NO_ERROR if the peer's side is still open), or
 * RST_STREAM CANCEL when it is closed with bytes still queued.
 *
 * Events reach owners only from the session's entry points (the lower
 * stream's callbacks, deferred calls), never from inside an owner's call.
 */
#ifndef PORTWAY_H2_SESSION_H
#define PORTWAY_H2_SESSION_H
#include <stddef.h>
#include <stdint.h>

#include "src/core/stream.h"

struct h2_config {
	uint32_t stream_window;     /* the window granted per stream, default 1 MiB */
	uint32_t conn_window;       /* the connection's, default 8 MiB */
	uint32_t max_streams;       /* server: SETTINGS_MAX_CONCURRENT_STREAMS, default 1000 */
	size_t max_header_bytes;    /* a request's or response's header block, default 64 KiB */
};

void h2_config_default(struct h2_config *c);

/* A header field; name and value are NUL-terminated. */
struct h2_nv {
	const char *name, *value;
};

/* What a server stream was asked (its HEADERS); pointers live as long as the stream. */
struct h2_request {
	const char *method, *scheme, *authority, *path;   /* "" when absent */
	const struct h2_nv *headers;                      /* the regular fields, names lower-case */
	size_t n_headers;
	int end_stream;                                   /* no body follows */
};

struct h2_session;

struct h2_session_callbacks {
	/* Server: a request's headers arrived. st belongs to the callee, who answers with
	 * h2_stream_respond and uses it as any stream, or closes it. */
	void (*on_request)(void *ud, struct h2_session *sess, struct stream *st);
	/* The connection ended (lower EOF or error, protocol error, GOAWAY and nothing left).
	 * Live streams get STREAM_EV_ERROR first. The session must not be used after. */
	void (*on_closed)(void *ud, struct h2_session *sess, int err);
};

/* Start a session over lower, which it owns from now on. server: wait for the client
 * preface; else send it. c may be NULL (defaults); it is copied. */
struct h2_session *h2_session_new(struct stream *lower, int server, const struct h2_config *c,
				  const struct h2_session_callbacks *cb, void *ud);
/* GOAWAY, then close the session and its lower stream; live streams get STREAM_EV_ERROR
 * (ECONNABORTED) from the loop; on_closed is not called. Memory goes once every stream is closed. */
void h2_session_close(struct h2_session *s);
/* The owner lets go of a session that still carries streams: no on_closed; it closes
 * (as h2_session_close) once its last stream is closed. */
void h2_session_forget(struct h2_session *s);
struct worker *h2_session_worker(const struct h2_session *s);
/* Streams not closed by their owners yet. */
size_t h2_session_stream_count(const struct h2_session *s);
/* Client: a new request can go out (the connection lives and the peer sent no GOAWAY). */
int h2_session_usable(const struct h2_session *s);
/* Keep the session's memory (not the connection) while something that is not one of its
 * streams points at it; release from the session's worker. */
void h2_session_hold(struct h2_session *s);
void h2_session_release(struct h2_session *s);
/* The lower stream's peer address. */
const char *h2_session_peer(const struct h2_session *s);

/*
 * Client: send a request (HEADERS without END_STREAM: the stream's writes are its body).
 * nv holds the pseudo-headers first (":method", ":scheme", ":authority", ":path", as the
 * method needs) then regular fields. cb runs later, exactly once: with the stream and the
 * response's status once a final response's headers came (the stream is the callee's, also
 * when status is not 2xx), or NULL, 0 and an error (ECONNRESET: refused or reset;
 * ECONNABORTED: the session closed). -1 when the session cannot take a request now.
 */
typedef void (*h2_response_cb)(void *ctx, struct stream *st, int status, int err);
int h2_session_request(struct h2_session *s, const struct h2_nv *nv, size_t n, h2_response_cb cb, void *ctx);

/* Client: the same, but the stream is the caller's at once, before any answer, as a gRPC
 * client's call is (a gRPC server may send its response headers only with its first message).
 * An answer other than 2xx, a reset or the session's end is STREAM_EV_ERROR. NULL when the
 * session cannot take a request now. */
struct stream *h2_session_call(struct h2_session *s, const struct h2_nv *nv, size_t n);

/* Server streams: the request (NULL if st is not a server HTTP/2 stream). */
const struct h2_request *h2_stream_request(struct stream *st);
/* Answer with status and fields. end: no body (END_STREAM now); otherwise the stream's writes
 * are the body. Writes before the answer fail. -1 when answered already or the stream is gone. */
int h2_stream_respond(struct stream *st, int status, const struct h2_nv *nv, size_t n, int end);
/* Fields (copied) sent as trailers when the body ends (stream_shutdown, or the close that ends
 * it): a HEADERS frame with END_STREAM after the last DATA, as gRPC ends a call with its
 * grpc-status. -1 when the stream's side has ended already. */
int h2_stream_set_trailers(struct stream *st, const struct h2_nv *nv, size_t n);
/* Any HTTP/2 stream of this layer. */
int h2_stream_is(const struct stream *st);

#endif
