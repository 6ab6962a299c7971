/*
 * listener udp: one socket per worker; each client address becomes a
 * datagram stream (a session) handed to the handler. The kernel's
 * SO_REUSEPORT hash keeps a client on one worker. Another listener can reuse
 * the session table: set li->on_accept before calling listener_udp.start and
 * each new session goes there instead of to the handler.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "src/core/log.h"
#include "src/svc/service.h"
#include "src/core/util.h"

#define UDP_BUCKETS 256
#define UDP_QUEUE_MAX 64

struct udp_msg {
	struct udp_msg *next;
	size_t len;
	char data[];
};

struct udp_listener;

struct udp_session {
	struct stream base;                 /* dgram */
	struct udp_listener *ul;            /* NULL once the listener stopped */
	struct sockaddr_storage peer;
	socklen_t plen;
	struct udp_session *next;           /* bucket chain */
	struct udp_msg *q_head, **q_tail;   /* datagrams that came before the handler read; owned */
	int queued;
	int delivering;
};

struct udp_listener {
	struct listener_inst *li;
	ev_io io;
	struct udp_session *buckets[UDP_BUCKETS];
	long sessions;
	long max_sessions;
	int full_warned;                    /* the "full" warning was logged since the last new session */
};

static unsigned addr_hash(const struct sockaddr_storage *ss, socklen_t len)
{
	const unsigned char *p = (const void *)ss;
	unsigned h = 2166136261u;
	for (socklen_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % UDP_BUCKETS;
}

static void session_deliver(void *arg)
{
	struct udp_session *us = arg;
	us->delivering = 0;
	while (us->q_head && us->base.reading && !us->base.closed) {
		struct udp_msg *m = us->q_head;
		us->q_head = m->next;
		if (!us->q_head)
			us->q_tail = &us->q_head;
		us->queued--;
		stream_emit_read(&us->base, m->data, m->len);
		free(m);
	}
}

static void session_read_start(struct stream *s)
{
	struct udp_session *us = (struct udp_session *)s;
	if (us->q_head && !us->delivering) {
		us->delivering = 1;
		worker_defer(s->w, session_deliver, us);
	}
}

static void session_read_stop(struct stream *s) { (void)s; }

static int session_write(struct stream *s, const char *data, size_t len)
{
	struct udp_session *us = (struct udp_session *)s;
	if (!us->ul)
		return -1;
	if (sendto(us->ul->li->fd, data, len, MSG_NOSIGNAL, (struct sockaddr *)&us->peer, us->plen) < 0 &&
	    errno != EAGAIN)
		log_debug("udp: send to %s: %s", s->peer, strerror(errno));
	return 0;
}

static void session_shutdown(struct stream *s) { (void)s; }

static void session_unlink(struct udp_session *us)
{
	if (!us->ul)
		return;
	struct udp_session **pp = &us->ul->buckets[addr_hash(&us->peer, us->plen)];
	while (*pp && *pp != us)
		pp = &(*pp)->next;
	if (*pp)
		*pp = us->next;
	us->ul->sessions--;
	us->ul = NULL;
}

static void session_close(struct stream *s)
{
	struct udp_session *us = (struct udp_session *)s;
	session_unlink(us);
	while (us->q_head) {
		struct udp_msg *m = us->q_head;
		us->q_head = m->next;
		free(m);
	}
}

static const struct stream_ops session_ops = {
	.name = "udp-session",
	.read_start = session_read_start,
	.read_stop = session_read_stop,
	.write = session_write,
	.shutdown = session_shutdown,
	.close = session_close,
};

static struct udp_session *session_find(struct udp_listener *ul, const struct sockaddr_storage *ss, socklen_t len)
{
	for (struct udp_session *us = ul->buckets[addr_hash(ss, len)]; us; us = us->next)
		if (us->plen == len && !memcmp(&us->peer, ss, len))
			return us;
	return NULL;
}

static struct udp_session *session_new(struct udp_listener *ul, const struct sockaddr_storage *ss, socklen_t len)
{
	struct udp_session *us = xmalloc(sizeof *us);
	stream_init(&us->base, &session_ops, ul->li->w);
	us->base.dgram = 1;
	us->ul = ul;
	us->peer = *ss;
	us->plen = len;
	us->q_head = NULL;
	us->q_tail = &us->q_head;
	us->queued = 0;
	us->delivering = 0;
	sockaddr_format((const struct sockaddr *)ss, us->base.peer, sizeof us->base.peer);
	unsigned h = addr_hash(ss, len);
	us->next = ul->buckets[h];
	ul->buckets[h] = us;
	ul->sessions++;
	return us;
}

static void session_push(struct udp_session *us, const char *data, size_t len)
{
	if (us->base.reading && !us->q_head) {
		stream_emit_read(&us->base, data, len);
		return;
	}
	if (us->queued >= UDP_QUEUE_MAX)
		return; /* the handler is not keeping up: drop, as the network would */
	struct udp_msg *m = xmalloc(sizeof *m + len);
	m->next = NULL;
	m->len = len;
	memcpy(m->data, data, len);
	*us->q_tail = m;
	us->q_tail = &m->next;
	us->queued++;
	if (us->base.reading)
		session_read_start(&us->base);
}

static void udp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct udp_listener *ul = io->data;
	struct worker *w = ul->li->w;
	(void)loop;
	(void)revents;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		ssize_t n = recvfrom(ul->li->fd, w->scratch, WORKER_SCRATCH_SIZE, 0, (struct sockaddr *)&ss, &len);
		if (n < 0)
			return;
		if (n == 0)
			continue; /* a stream read of 0 bytes means EOF: an empty datagram would end the session */
		struct udp_session *us = session_find(ul, &ss, len);
		if (!us) {
			if (ul->sessions >= ul->max_sessions) {
				if (!ul->full_warned) /* once per shortage: a flood must not flood the log */
					log_warn("service %s: %ld UDP sessions, dropping datagrams from new clients",
						 ul->li->svc->name, ul->sessions);
				ul->full_warned = 1;
				continue;
			}
			ul->full_warned = 0;
			us = session_new(ul, &ss, len);
			session_push(us, w->scratch, (size_t)n);
			/* A listener built on this one (dtls) may wrap the session first. */
			if (ul->li->on_accept)
				ul->li->on_accept(ul->li, &us->base);
			else
				service_dispatch(ul->li->svc, &us->base);
			continue;
		}
		session_push(us, w->scratch, (size_t)n);
	}
}

/* Checked at load, so that -t and a reload refuse a bad value instead of start ignoring it. */
static int udp_listener_init(struct service *svc, struct cfg_err *e)
{
	long max;
	return md_int(svc->listener.md, "maxSessions", 4096, 1, 1000000, &max, e);
}

static int udp_listener_start(struct listener_inst *li)
{
	struct udp_listener *ul = xcalloc(1, sizeof *ul);
	long max;
	struct cfg_err e;
	ul->li = li;
	if (md_int(li->svc->listener.md, "maxSessions", 4096, 1, 1000000, &max, &e) < 0)
		max = 4096;
	ul->max_sessions = max;
	li->state = ul;
	ev_io_init(&ul->io, udp_read_cb, li->fd, EV_READ);
	ul->io.data = ul;
	ev_io_start(li->w->loop, &ul->io);
	return 0;
}

static void udp_listener_stop(struct listener_inst *li)
{
	struct udp_listener *ul = li->state;
	ev_io_stop(li->w->loop, &ul->io);
	/* Live sessions stay with their pipes but can no longer send. */
	for (int i = 0; i < UDP_BUCKETS; i++)
		for (struct udp_session *us = ul->buckets[i], *n; us; us = n) {
			n = us->next;
			us->ul = NULL;
		}
	free(ul);
}

const struct listener_type listener_udp = {
	.name = "udp",
	.socktype = SOCK_DGRAM,
	.init = udp_listener_init,
	.start = udp_listener_start,
	.stop = udp_listener_stop,
};
