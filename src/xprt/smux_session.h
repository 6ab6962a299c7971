/*
 * An smux session (xtaci/smux v1.5.31 as GOST uses it, doc/protocols/gost-relay.md
 * §4) over any lower stream, on one worker. Each smux stream is a struct
 * stream: read, write (split into PSH frames), shutdown (FIN), close.
 *
 * Half close: shutdown sends FIN and the stream goes on reading; once the
 * peer's FIN came the stream reads what was buffered, then EOF, and may still
 * write. smux itself has no half close (a GOST peer's FIN means it closed, and
 * it drops what comes after), so a portway side that closed a stream answers
 * data still arriving for it with a second FIN: the writer then gets
 * STREAM_EV_ERROR (EPIPE) and writes fail.
 *
 * Back-pressure: a stream's wqueued is what it could not send yet (v2:
 * beyond the peer's window) plus the session's lower queue, which all
 * streams share; DRAINED comes when both are empty. Received data that the
 * owner does not read yet is buffered; past maxReceiveBuffer for the whole
 * session the lower stream is no longer read (as smux does).
 *
 * Keepalive: a NOP every interval; the session closes when nothing arrived
 * during a whole timeout period.
 */
#ifndef PORTWAY_SMUX_SESSION_H
#define PORTWAY_SMUX_SESSION_H
#include <stddef.h>
#include <stdint.h>

#include "src/conf/model.h"
#include "src/core/stream.h"

struct smux_config {
	int version;                /* 1 (GOST's default) or 2 (UPD flow control) */
	int keepalive_disabled;
	double keepalive_interval;  /* seconds, default 10 */
	double keepalive_timeout;   /* seconds, default 30 */
	size_t max_frame_size;      /* largest PSH payload sent, default 32768, at most 65535 */
	size_t max_receive_buffer;  /* received, unread bytes of the whole session, default 4 MiB */
	size_t max_stream_buffer;   /* v2: the window granted to the peer per stream, default 64 KiB */
};

void smux_config_default(struct smux_config *c);
/* The mux.* keys of md (mux.version, mux.keepaliveInterval, mux.keepaliveDisabled,
 * mux.keepaliveTimeout, mux.maxFrameSize, mux.maxReceiveBuffer, mux.maxStreamBuffer);
 * absent or 0 keeps the default, as GOST does. -1 with e when malformed. */
int smux_config_parse(const struct cnode *md, struct smux_config *c, struct cfg_err *e);
/* The same with another version when mux.version is absent or 0 (GOST's mtcp: 2). */
int smux_config_parse_version(const struct cnode *md, int default_version, struct smux_config *c, struct cfg_err *e);

struct smux_session;

struct smux_callbacks {
	/* The peer opened a stream (SYN). It belongs to the callee, who sets its
	 * callbacks and starts reading, or closes it. NULL: such streams are closed. */
	void (*on_stream)(void *ud, struct smux_session *sess, struct stream *st);
	/* The session died (lower EOF or error, protocol error, keepalive timeout).
	 * Live streams get STREAM_EV_ERROR first. The session must not be used after. */
	void (*on_closed)(void *ud, struct smux_session *sess, int err);
};

/* Start a session over lower, which it owns from now on. client: this side
 * opens odd stream ids (the relay server in a BIND); the server even ones. */
struct smux_session *smux_session_new(struct stream *lower, int client, const struct smux_config *c,
				      const struct smux_callbacks *cb, void *ud);
/* Open a stream (SYN is sent now). NULL when the session is closed or out of ids. */
struct stream *smux_stream_open(struct smux_session *s);
/* Close the session and its lower stream; live streams get STREAM_EV_ERROR
 * (ECONNABORTED); on_closed is not called. The memory goes once every stream is closed. */
void smux_session_close(struct smux_session *s);
size_t smux_session_stream_count(const struct smux_session *s);

#endif
