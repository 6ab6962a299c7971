/* UDP sessions (src/svc/udp_sessions.h): the session table, and the table on a UDP socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/conn_limits.h"
#include "src/svc/udp_sessions.h"

#define SESSION_BUCKETS 256
#define SESSION_QUEUE_MAX 64

struct queued_dgram {
	struct queued_dgram *next;
	size_t len;
	char data[];
};

struct session {
	struct stream base;                 /* dgram */
	struct session_table *t;            /* NULL once detached from the table */
	struct session *next;               /* bucket chain */
	struct queued_dgram *q_head, **q_tail; /* datagrams that came before the handler read; owned */
	int queued;
	int delivering;
	size_t peerlen;
	unsigned char peer[];
};

struct session_table {
	struct worker *w;
	session_send_fn send;
	void *ctx;
	struct session *buckets[SESSION_BUCKETS];
	long count;
};

static unsigned peer_hash(const void *peer, size_t len)
{
	const unsigned char *p = peer;
	unsigned h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % SESSION_BUCKETS;
}

/* ---- the session streams ---- */

static void session_deliver(void *arg)
{
	struct session *ss = arg;
	ss->delivering = 0;
	while (ss->q_head && ss->base.reading && !ss->base.closed) {
		struct queued_dgram *m = ss->q_head;
		ss->q_head = m->next;
		if (!ss->q_head)
			ss->q_tail = &ss->q_head;
		ss->queued--;
		stream_emit_read(&ss->base, m->data, m->len);
		free(m);
	}
}

/* The queue is emptied from a deferred call: the handler may still be inside read_start. */
static void session_read_start(struct stream *s)
{
	struct session *ss = (struct session *)s;
	if (ss->q_head && !ss->delivering) {
		ss->delivering = 1;
		worker_defer(s->w, session_deliver, ss);
	}
}

static void session_read_stop(struct stream *s) { (void)s; }

static int session_write(struct stream *s, const char *data, size_t len)
{
	struct session *ss = (struct session *)s;
	if (!ss->t)
		return -1;
	return ss->t->send(ss->t->ctx, s, ss->peer, ss->peerlen, data, len);
}

static void session_shutdown(struct stream *s) { (void)s; }

static void session_unlink(struct session *ss)
{
	struct session_table *t = ss->t;
	if (!t)
		return;
	struct session **pp = &t->buckets[peer_hash(ss->peer, ss->peerlen)];
	while (*pp && *pp != ss)
		pp = &(*pp)->next;
	if (*pp)
		*pp = ss->next;
	t->count--;
	ss->t = NULL;
}

static void session_close(struct stream *s)
{
	struct session *ss = (struct session *)s;
	session_unlink(ss);
	while (ss->q_head) {
		struct queued_dgram *m = ss->q_head;
		ss->q_head = m->next;
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

void session_push(struct stream *session, const char *data, size_t len)
{
	struct session *ss = (struct session *)session;
	if (ss->base.reading && !ss->q_head) {
		stream_emit_read(&ss->base, data, len);
		return;
	}
	if (ss->queued >= SESSION_QUEUE_MAX)
		return; /* the handler is not keeping up: drop, as the network would */
	struct queued_dgram *m = xmalloc(sizeof *m + len);
	m->next = NULL;
	m->len = len;
	memcpy(m->data, data, len);
	*ss->q_tail = m;
	ss->q_tail = &m->next;
	ss->queued++;
	if (ss->base.reading)
		session_read_start(&ss->base);
}

/* ---- the table ---- */

struct session_table *session_table_new(struct worker *w, session_send_fn send, void *ctx)
{
	struct session_table *t = xcalloc(1, sizeof *t);
	t->w = w;
	t->send = send;
	t->ctx = ctx;
	return t;
}

void session_table_end(struct session_table *t, int err)
{
	struct session *all = NULL;
	for (int i = 0; i < SESSION_BUCKETS; i++) {
		while (t->buckets[i]) {
			struct session *ss = t->buckets[i];
			t->buckets[i] = ss->next;
			ss->t = NULL;
			ss->next = all;
			all = ss;
		}
	}
	t->count = 0;
	while (all) {
		struct session *next = all->next; /* memory outlives close: freed by a deferred call */
		if (err && !all->base.closed)
			stream_emit_event(&all->base, STREAM_EV_ERROR, err);
		all = next;
	}
}

void session_table_free(struct session_table *t)
{
	session_table_end(t, 0);
	free(t);
}

long session_table_count(const struct session_table *t) { return t->count; }

struct stream *session_table_find(struct session_table *t, const void *peer, size_t peerlen)
{
	for (struct session *ss = t->buckets[peer_hash(peer, peerlen)]; ss; ss = ss->next)
		if (ss->peerlen == peerlen && !memcmp(ss->peer, peer, peerlen))
			return &ss->base;
	return NULL;
}

struct stream *session_table_add(struct session_table *t, const void *peer, size_t peerlen, const char *printable)
{
	struct session *ss = xcalloc(1, sizeof *ss + peerlen);
	stream_init(&ss->base, &session_ops, t->w);
	ss->base.dgram = 1;
	ss->t = t;
	ss->q_tail = &ss->q_head;
	ss->peerlen = peerlen;
	memcpy(ss->peer, peer, peerlen);
	snprintf(ss->base.peer, sizeof ss->base.peer, "%s", printable);
	unsigned h = peer_hash(peer, peerlen);
	ss->next = t->buckets[h];
	t->buckets[h] = ss;
	t->count++;
	return &ss->base;
}

/* ---- on a UDP socket ---- */

struct udp_sessions {
	struct listener_inst *li;
	ev_io io;
	struct session_table *table;
	long max_sessions;
	int full_warned;                    /* the "full" warning was logged since the last new session */
};

static int udp_send(void *ctx, struct stream *session, const void *peer, size_t peerlen, const char *data,
		    size_t len)
{
	struct udp_sessions *us = ctx;
	if (sendto(us->li->fd, data, len, MSG_NOSIGNAL, peer, (socklen_t)peerlen) < 0 && errno != EAGAIN)
		log_debug("udp: send to %s: %s", session->peer, strerror(errno));
	return 0;
}

static struct stream *udp_new_session(struct udp_sessions *us, const struct sockaddr_storage *ss, socklen_t len)
{
	if (session_table_count(us->table) >= us->max_sessions) {
		if (!us->full_warned) /* once per shortage: a flood must not flood the log */
			log_warn("service %s: %ld UDP sessions, dropping datagrams from new clients",
				 us->li->svc->name, session_table_count(us->table));
		us->full_warned = 1;
		return NULL;
	}
	us->full_warned = 0;
	char printable[64];
	sockaddr_format((const struct sockaddr *)ss, printable, sizeof printable);
	return session_table_add(us->table, ss, len, printable);
}

static int udp_admitted(struct udp_sessions *us, const struct sockaddr_storage *ss)
{
	char printable[64];
	sockaddr_format((const struct sockaddr *)ss, printable, sizeof printable);
	return conn_limits_admit_peer(us->li->svc, printable);
}

static void udp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct udp_sessions *us = io->data;
	struct worker *w = us->li->w;
	(void)loop;
	(void)revents;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		ssize_t n = recvfrom(us->li->fd, w->scratch, WORKER_SCRATCH_SIZE, 0, (struct sockaddr *)&ss, &len);
		if (n < 0)
			return;
		if (n == 0)
			continue; /* a stream read of 0 bytes means EOF: an empty datagram would end the session */
		struct stream *s = session_table_find(us->table, &ss, len);
		if (s) {
			session_push(s, w->scratch, (size_t)n);
			continue;
		}
		if (us->li->svc->n_admissions && !udp_admitted(us, &ss))
			continue; /* as GOST's packet conn: the datagrams of a refused client are dropped */
		s = udp_new_session(us, &ss, len);
		if (!s)
			continue;
		session_push(s, w->scratch, (size_t)n);
		us->li->on_accept(us->li, s);
	}
}

static int max_sessions_option(const struct service *svc, long *max, struct cfg_err *e)
{
	return md_int(svc->listener.md, "maxSessions", 4096, 1, 1000000, max, e);
}

/* Checked at load, so that -t and a reload refuse a bad value instead of start ignoring it. */
int udp_sessions_check(struct service *svc, struct cfg_err *e)
{
	long max;
	return max_sessions_option(svc, &max, e);
}

static void dispatch_session(struct listener_inst *li, struct stream *s) { service_dispatch(li->svc, s); }

int udp_sessions_start(struct listener_inst *li, void (*on_session)(struct listener_inst *li, struct stream *s))
{
	struct udp_sessions *us = xcalloc(1, sizeof *us);
	struct cfg_err e;
	us->li = li;
	us->table = session_table_new(li->w, udp_send, us);
	if (max_sessions_option(li->svc, &us->max_sessions, &e) < 0)
		us->max_sessions = 4096;
	li->state = us;
	li->on_accept = on_session ? on_session : dispatch_session;
	ev_io_init(&us->io, udp_read_cb, li->fd, EV_READ);
	us->io.data = us;
	ev_io_start(li->w->loop, &us->io);
	return 0;
}

void udp_sessions_stop(struct listener_inst *li)
{
	struct udp_sessions *us = li->state;
	ev_io_stop(li->w->loop, &us->io);
	session_table_free(us->table);
	free(us);
	li->state = NULL;
}
