/*
 * The accept loop every listening socket shares (service listeners, the
 * gateway's web port and port forwards, natrelay's ports, relay BIND).
 *
 * Each wake-up accepts at most a bounded batch, so one busy port cannot
 * starve the loop's other work. When the process is out of descriptors (or
 * kernel memory) the pending connection would wake the loop again at once
 * and forever: the acceptor stops watching the socket, logs one warning,
 * and looks again after a short pause. The warning comes back only after
 * the backlog was seen empty, i.e. for a new shortage.
 */
#ifndef PORTWAY_ACCEPTOR_H
#define PORTWAY_ACCEPTOR_H
#include <ev.h>

#include "src/core/stream.h"

#define ACCEPTOR_BATCH 64
#define ACCEPTOR_PAUSE 0.5 /* seconds */

struct acceptor;
/* A new connection as a socket stream, owned by the callee. Return 0 to go on accepting, -1 when
 * the acceptor was stopped or freed meanwhile (its memory must not be touched again). */
typedef int (*acceptor_cb)(struct acceptor *a, struct stream *s);

struct acceptor {
	struct worker *w;
	int fd;                     /* the listening socket, not owned */
	ev_io io;
	ev_timer pause;             /* back-off while out of descriptors */
	int warned;                 /* this shortage was logged */
	acceptor_cb on_accept;
	void *data;                 /* the owner's */
	char what[128];             /* who accepts, for the log: "service web" */
};

/* Prepare (does not start); what is a printf format naming the port for log lines. */
void acceptor_init(struct acceptor *a, struct worker *w, int fd, acceptor_cb cb, void *data, const char *what, ...)
	__attribute__((format(printf, 6, 7)));
void acceptor_start(struct acceptor *a);
/* Safe on an initialised acceptor that never started, and twice. */
void acceptor_stop(struct acceptor *a);

#endif
