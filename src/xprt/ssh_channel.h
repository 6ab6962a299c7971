/*
 * A stream over one SSH channel (libssh), shared by the server side (the
 * sshd listener's direct-tcpip and forwarded-tcpip channels) and any client
 * side.
 *
 * libssh runs in non-blocking mode and may process incoming packets inside
 * any call (a write flushes, and flushing polls). So libssh's callbacks never
 * call out: they only note what happened (data buffered, EOF, close, window
 * grown) and ask the session for a pass. The pass runs outside libssh, from
 * the session's socket watcher or the worker's deferred queue, and is where
 * streams deliver bytes and events to their owners.
 *
 * Back-pressure, both ways, is SSH's window: bytes the reader does not take
 * stay in libssh's channel buffer and the window is only grown as they are
 * read; writes go out as far as the peer's window allows, the rest waits in
 * wqueued until the peer adjusts the window.
 */
#ifndef PORTWAY_XPRT_SSH_CHANNEL_H
#define PORTWAY_XPRT_SSH_CHANNEL_H
#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

#include "src/core/stream.h"

struct ssh_chan;

/* What channels need of their session; embedded in it, reference counted. */
struct ssh_link {
	struct worker *w;
	ssh_session ss;             /* NULL once the connection is gone */
	int refs;
	/* Called outside libssh after the channel layer called into it, and from libssh's
	 * callbacks: check the socket, and run a pass soon (never from inside this call). */
	void (*kick)(struct ssh_link *l);
	/* The last reference went: free the session's memory. */
	void (*release)(struct ssh_link *l);
	struct ssh_chan *chans;     /* live channel streams */
	unsigned gen;               /* pass counter: a channel is served once per pass */
	char peer[64];              /* the SSH peer, printable */
};

void ssh_link_init(struct ssh_link *l, struct worker *w, ssh_session ss);
void ssh_link_ref(struct ssh_link *l);
void ssh_link_unref(struct ssh_link *l);
/* From the session's pass, outside libssh: deliver what libssh holds, flush queued writes. */
void ssh_link_pass(struct ssh_link *l);
/* The connection is gone (before ssh_free): every channel stream reports ECONNRESET at the
 * next pass and no longer touches libssh. */
void ssh_link_lost(struct ssh_link *l);

/* A stream over the open channel ch (owned by the stream from now on); s->peer is the
 * link's peer. */
struct stream *ssh_chan_stream_new(struct ssh_link *l, ssh_channel ch);
/* The destination a direct-tcpip channel asked for (the server side notes it). */
void ssh_chan_set_target(struct stream *s, const char *host, uint16_t port);
/* 0 and host/port when s is a channel stream with a target, else -1. */
int ssh_chan_target(struct stream *s, const char **host, uint16_t *port);

#endif
