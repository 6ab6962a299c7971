#include "src/core/acceptor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "src/core/log.h"

/* Errors that say "this process cannot take a connection now", not "this connection is bad". */
static int resource_shortage(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

static void acceptor_pause(struct acceptor *a, int err)
{
	if (!a->warned++)
		log_warn("%s: accept: %s; pausing this listener briefly", a->what, strerror(err));
	ev_io_stop(a->w->loop, &a->io);
	ev_timer_set(&a->pause, ACCEPTOR_PAUSE, 0);
	ev_timer_start(a->w->loop, &a->pause);
}

static void acceptor_resume_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct acceptor *a = t->data;
	(void)revents;
	ev_io_start(loop, &a->io);
}

static void acceptor_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct acceptor *a = io->data;
	(void)loop;
	(void)revents;
	for (int i = 0; i < ACCEPTOR_BATCH; i++) {
		int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue; /* that one connection is gone; the next may be fine */
			if (resource_shortage(errno))
				acceptor_pause(a, errno);
			else if (errno == EAGAIN)
				a->warned = 0; /* backlog drained: the shortage is over, a new one is news */
			else
				log_error("%s: accept: %s", a->what, strerror(errno));
			return;
		}
		if (a->on_accept(a, sock_stream_new(a->w, fd, 0)) < 0)
			return;
	}
}

void acceptor_init(struct acceptor *a, struct worker *w, int fd, acceptor_cb cb, void *data, const char *what, ...)
{
	va_list ap;
	memset(a, 0, sizeof *a);
	a->w = w;
	a->fd = fd;
	a->on_accept = cb;
	a->data = data;
	va_start(ap, what);
	vsnprintf(a->what, sizeof a->what, what, ap);
	va_end(ap);
	ev_io_init(&a->io, acceptor_io_cb, fd, EV_READ);
	a->io.data = a;
	ev_init(&a->pause, acceptor_resume_cb);
	a->pause.data = a;
}

void acceptor_start(struct acceptor *a) { ev_io_start(a->w->loop, &a->io); }

void acceptor_stop(struct acceptor *a)
{
	ev_io_stop(a->w->loop, &a->io);
	ev_timer_stop(a->w->loop, &a->pause);
}
