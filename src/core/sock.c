/* Plain socket streams (TCP, connected UDP) and the asynchronous connect. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "src/core/log.h"
#include "src/core/resolve.h"
#include "src/core/stream.h"
#include "src/core/util.h"

/* Bytes the kernel would not take yet; freed as soon as they are written. */
struct chunk {
	struct chunk *next;
	size_t off, len;
	char data[];
};

struct sock_stream {
	struct stream base;
	int fd;
	ev_io rio, wio;
	struct chunk *wq_head, *wq_tail;   /* owned; freed when drained or on close */
};

static void sock_shutdown_now(struct sock_stream *ss)
{
	if (ss->base.dgram)
		return;
	shutdown(ss->fd, SHUT_WR);
}

static void sock_fail(struct sock_stream *ss, int err)
{
	ev_io_stop(ss->base.w->loop, &ss->rio);
	ev_io_stop(ss->base.w->loop, &ss->wio);
	stream_emit_event(&ss->base, STREAM_EV_ERROR, err);
}

static void sock_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct sock_stream *ss = io->data;
	struct worker *w = ss->base.w;
	ssize_t n;
	(void)loop;
	(void)revents;

	n = recv(ss->fd, w->scratch, WORKER_SCRATCH_SIZE, 0);
	if (n > 0) {
		stream_emit_read(&ss->base, w->scratch, (size_t)n);
		return;
	}
	if (n == 0 && !ss->base.dgram) {
		ev_io_stop(w->loop, &ss->rio);
		ss->base.reading = 0;
		stream_emit_read(&ss->base, NULL, 0);
		return;
	}
	if (n == 0)
		return; /* empty datagram */
	if (errno == EAGAIN || errno == EINTR)
		return;
	if (ss->base.dgram && errno == ECONNREFUSED)
		return; /* ICMP from a UDP peer: keep the session, as Go does */
	sock_fail(ss, errno);
}

static int sock_flush(struct sock_stream *ss)
{
	while (ss->wq_head) {
		struct chunk *c = ss->wq_head;
		ssize_t n = send(ss->fd, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		c->off += (size_t)n;
		ss->base.wqueued -= (size_t)n;
		if (c->off < c->len)
			return 0;
		ss->wq_head = c->next;
		if (!ss->wq_head)
			ss->wq_tail = NULL;
		free(c);
	}
	return 1;
}

static void sock_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct sock_stream *ss = io->data;
	(void)revents;
	int r = sock_flush(ss);
	if (r < 0) {
		sock_fail(ss, -r);
		return;
	}
	if (r == 1) {
		ev_io_stop(loop, &ss->wio);
		if (ss->base.shut_wr)
			sock_shutdown_now(ss);
		stream_emit_event(&ss->base, STREAM_EV_DRAINED, 0);
	}
}

static void sock_queue(struct sock_stream *ss, const char *data, size_t len)
{
	struct chunk *c = xmalloc(sizeof *c + len);
	c->next = NULL;
	c->off = 0;
	c->len = len;
	memcpy(c->data, data, len);
	if (ss->wq_tail)
		ss->wq_tail->next = c;
	else
		ss->wq_head = c;
	ss->wq_tail = c;
	ss->base.wqueued += len;
	ev_io_start(ss->base.w->loop, &ss->wio);
}

static int sock_write(struct stream *s, const char *data, size_t len)
{
	struct sock_stream *ss = (struct sock_stream *)s;
	ssize_t n = 0;

	if (s->dgram) {
		/* A datagram the kernel cannot take now is dropped, as UDP would. */
		if (send(ss->fd, data, len, MSG_NOSIGNAL) < 0 && errno != EAGAIN && errno != ECONNREFUSED)
			log_debug("udp send to %s: %s", s->peer, strerror(errno));
		return 0;
	}
	if (!ss->wq_head) {
		n = send(ss->fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			n = 0;
		}
	}
	if ((size_t)n < len)
		sock_queue(ss, data + n, len - (size_t)n);
	return 0;
}

static void sock_read_start(struct stream *s)
{
	struct sock_stream *ss = (struct sock_stream *)s;
	ev_io_start(s->w->loop, &ss->rio);
}

static void sock_read_stop(struct stream *s)
{
	struct sock_stream *ss = (struct sock_stream *)s;
	ev_io_stop(s->w->loop, &ss->rio);
}

static void sock_shutdown(struct stream *s)
{
	struct sock_stream *ss = (struct sock_stream *)s;
	if (!ss->wq_head)
		sock_shutdown_now(ss);
}

static void sock_close(struct stream *s)
{
	struct sock_stream *ss = (struct sock_stream *)s;
	ev_io_stop(s->w->loop, &ss->rio);
	ev_io_stop(s->w->loop, &ss->wio);
	while (ss->wq_head) {
		struct chunk *c = ss->wq_head;
		ss->wq_head = c->next;
		free(c);
	}
	close(ss->fd);
}

static int sock_fd(struct stream *s) { return ((struct sock_stream *)s)->fd; }

static const struct stream_ops sock_ops = {
	.name = "sock",
	.read_start = sock_read_start,
	.read_stop = sock_read_stop,
	.write = sock_write,
	.shutdown = sock_shutdown,
	.close = sock_close,
	.fd = sock_fd,
};

struct stream *sock_stream_new(struct worker *w, int fd, int dgram)
{
	struct sock_stream *ss = xmalloc(sizeof *ss);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;

	stream_init(&ss->base, &sock_ops, w);
	ss->base.dgram = dgram ? 1 : 0;
	ss->fd = fd;
	ss->wq_head = ss->wq_tail = NULL;
	ev_io_init(&ss->rio, sock_read_cb, fd, EV_READ);
	ev_io_init(&ss->wio, sock_write_cb, fd, EV_WRITE);
	ss->rio.data = ss->wio.data = ss;
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
		sockaddr_format((struct sockaddr *)&peer, ss->base.peer, sizeof ss->base.peer);
	if (!dgram) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	return &ss->base;
}

/* ---- asynchronous connect: resolve, then try each address in turn ---- */

struct connect_req {
	struct worker *w;
	stream_done_cb cb;
	void *ctx;
	int dgram;
	double timeout;
	struct resolved addrs;
	int next;
	int fd;
	int last_err;
	ev_io io;
	ev_timer timer;
};

static void connect_try_next(struct connect_req *cr);

static void connect_done(struct connect_req *cr, struct stream *s, int err)
{
	ev_io_stop(cr->w->loop, &cr->io);
	ev_timer_stop(cr->w->loop, &cr->timer);
	cr->cb(cr->ctx, s, err);
	free(cr);
}

static void connect_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct connect_req *cr = io->data;
	int err = 0;
	socklen_t len = sizeof err;
	(void)loop;
	(void)revents;
	getsockopt(cr->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err == EINPROGRESS)
		return;
	ev_io_stop(cr->w->loop, &cr->io);
	ev_timer_stop(cr->w->loop, &cr->timer);
	if (err) {
		close(cr->fd);
		cr->fd = -1;
		cr->last_err = err;
		connect_try_next(cr);
		return;
	}
	connect_done(cr, sock_stream_new(cr->w, cr->fd, cr->dgram), 0);
}

static void connect_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct connect_req *cr = t->data;
	(void)loop;
	(void)revents;
	close(cr->fd);
	cr->fd = -1;
	connect_done(cr, NULL, ETIMEDOUT);
}

static void connect_try_next(struct connect_req *cr)
{
	while (cr->next < cr->addrs.count) {
		int i = cr->next++;
		struct sockaddr *sa = (struct sockaddr *)&cr->addrs.addr[i];
		int fd = socket(sa->sa_family, (cr->dgram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			cr->last_err = errno;
			continue;
		}
		if (connect(fd, sa, cr->addrs.len[i]) == 0) {
			connect_done(cr, sock_stream_new(cr->w, fd, cr->dgram), 0);
			return;
		}
		if (errno != EINPROGRESS || cr->dgram) {
			cr->last_err = errno;
			close(fd);
			continue;
		}
		cr->fd = fd;
		ev_io_init(&cr->io, connect_io_cb, fd, EV_WRITE);
		cr->io.data = cr;
		ev_io_start(cr->w->loop, &cr->io);
		ev_timer_init(&cr->timer, connect_timeout_cb, cr->timeout, 0);
		cr->timer.data = cr;
		ev_timer_start(cr->w->loop, &cr->timer);
		return;
	}
	connect_done(cr, NULL, cr->last_err ? cr->last_err : EHOSTUNREACH);
}

static void connect_resolved(void *ctx, const struct resolved *r, int err)
{
	struct connect_req *cr = ctx;
	if (err) {
		connect_done(cr, NULL, err);
		return;
	}
	cr->addrs = *r;
	connect_try_next(cr);
}

void sock_connect(struct worker *w, const char *host, uint16_t port, int dgram, double timeout,
		  stream_done_cb cb, void *ctx)
{
	struct connect_req *cr = xcalloc(1, sizeof *cr);
	cr->w = w;
	cr->cb = cb;
	cr->ctx = ctx;
	cr->dgram = dgram;
	cr->timeout = timeout > 0 ? timeout : 10;
	cr->fd = -1;
	ev_io_init(&cr->io, connect_io_cb, -1, EV_WRITE);
	ev_timer_init(&cr->timer, connect_timeout_cb, 0, 0);
	resolve(w, host, port, connect_resolved, cr);
}

/* ---- unix sockets: a path, no resolution ---- */

struct unix_connect {
	struct worker *w;
	stream_done_cb cb;
	void *ctx;
	int fd, err;
	ev_io io;
	ev_timer timer;
};

static void unix_connect_done(struct unix_connect *uc, int err)
{
	struct stream *s = NULL;
	ev_io_stop(uc->w->loop, &uc->io);
	ev_timer_stop(uc->w->loop, &uc->timer);
	if (!err)
		s = sock_stream_new(uc->w, uc->fd, 0);
	else if (uc->fd >= 0)
		close(uc->fd);
	uc->cb(uc->ctx, s, err);
	free(uc);
}

static void unix_connect_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct unix_connect *uc = io->data;
	int err = 0;
	socklen_t len = sizeof err;
	(void)loop;
	(void)revents;
	getsockopt(uc->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	unix_connect_done(uc, err);
}

/* Also the first wake-up of a connect that finished (or failed) at once: the callback never runs
 * inside the caller. */
static void unix_connect_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct unix_connect *uc = t->data;
	(void)loop;
	(void)revents;
	unix_connect_done(uc, uc->err);
}

void sock_connect_unix(struct worker *w, const char *path, double timeout, stream_done_cb cb, void *ctx)
{
	struct unix_connect *uc = xcalloc(1, sizeof *uc);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uc->w = w;
	uc->cb = cb;
	uc->ctx = ctx;
	uc->err = ETIMEDOUT;
	ev_io_init(&uc->io, unix_connect_io_cb, -1, EV_WRITE);
	uc->io.data = uc;
	ev_timer_init(&uc->timer, unix_connect_timer_cb, timeout > 0 ? timeout : 10, 0);
	uc->timer.data = uc;
	uc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (uc->fd < 0 || strlen(path) >= sizeof sa.sun_path) {
		uc->err = uc->fd < 0 ? errno : ENAMETOOLONG;
	} else {
		strcpy(sa.sun_path, path);
		if (connect(uc->fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
			uc->err = 0;
		} else if (errno == EINPROGRESS || errno == EAGAIN) {
			/* a full backlog: wait for the listener to take it, until the timeout */
			ev_io_set(&uc->io, uc->fd, EV_WRITE);
			ev_io_start(w->loop, &uc->io);
		} else {
			uc->err = errno;
		}
	}
	if (uc->err != ETIMEDOUT)
		ev_timer_set(&uc->timer, 0, 0);
	ev_timer_start(w->loop, &uc->timer);
}
