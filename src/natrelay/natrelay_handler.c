/*
 * handler natrelay: the relay of kazluu/relayServer (doc/natrelay.md).
 * Each control connection gets a client port and a server port. A client
 * on the client port waits while the relay writes "[NEW] <server port>\n"
 * on the control connection; the next connection on the server port is
 * joined to the oldest waiting client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/core/acceptor.h"
#include "src/core/log.h"
#include "proto/natrelay.h"
#include "src/core/pipe.h"
#include "src/core/rng.h"
#include "src/svc/service.h"
#include "src/core/util.h"

struct natrelay_opts {
	char bind_host[256];        /* where client and server ports listen ("" = every address) */
	long port_min, port_max;    /* 0: ephemeral */
	double pair_timeout;
	long max_controls, max_waiting;
	double idle_timeout;
	int controls;               /* live control connections, all workers (atomic) */
};

struct waiting_client {
	struct stream *s;           /* owned until paired or closed */
	ev_timer timer;
	struct natrelay_ctl *ctl;
	struct waiting_client *next;
};

/* One per control connection; owns both listeners and every waiting client. */
struct natrelay_ctl {
	struct service *svc;
	struct worker *w;
	struct stream *ctl;         /* the control connection, owned */
	int client_fd, server_fd;
	uint16_t client_port, server_port;
	struct acceptor client_acc, server_acc;
	struct waiting_client *head, **tail;
	long n_waiting;
	int closed;
};

static int natrelay_init(struct service *svc, struct cfg_err *e)
{
	struct natrelay_opts *o = xcalloc(1, sizeof *o);
	const char *range, *bind_host;
	svc->handler.state = o;
	bind_host = md_str(svc->handler.md, "bindAddr", svc->host);
	snprintf(o->bind_host, sizeof o->bind_host, "%s", bind_host);
	range = md_str(svc->handler.md, "portRange", NULL);
	if (range && *range) {
		char extra;
		if (sscanf(range, "%ld-%ld%c", &o->port_min, &o->port_max, &extra) != 2 || o->port_min < 1 ||
		    o->port_max > 65535 || o->port_min > o->port_max || o->port_max - o->port_min < 1)
			return cfg_error(e, cnode_get(svc->handler.md, "portRange"), "portRange",
					 "expected FIRST-LAST with room for two ports, e.g. 30000-30999, got \"%s\"", range);
	}
	if (md_duration(svc->handler.md, "pairTimeout", 10, &o->pair_timeout, e) < 0 ||
	    md_duration(svc->handler.md, "idleTimeout", 0, &o->idle_timeout, e) < 0 ||
	    md_int(svc->handler.md, "maxControls", 256, 1, 100000, &o->max_controls, e) < 0 ||
	    md_int(svc->handler.md, "maxWaiting", 64, 1, 100000, &o->max_waiting, e) < 0)
		return -1;
	return 0;
}

static void natrelay_fini(struct service *svc) { free(svc->handler.state); }

static void waiting_remove(struct natrelay_ctl *c, struct waiting_client *wc)
{
	struct waiting_client **pp = &c->head;
	while (*pp && *pp != wc)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = wc->next;
	if (c->tail == &wc->next)
		c->tail = pp;
	c->n_waiting--;
	ev_timer_stop(c->w->loop, &wc->timer);
}

static void ctl_close(struct natrelay_ctl *c)
{
	struct natrelay_opts *o = c->svc->handler.state;
	if (c->closed)
		return;
	c->closed = 1;
	acceptor_stop(&c->client_acc);
	acceptor_stop(&c->server_acc);
	if (c->client_fd >= 0)
		close(c->client_fd);
	if (c->server_fd >= 0)
		close(c->server_fd);
	while (c->head) {
		struct waiting_client *wc = c->head;
		waiting_remove(c, wc);
		stream_close(wc->s);
		free(wc);
	}
	log_info("natrelay: control %s closed; ports %u and %u released", c->ctl->peer, c->client_port, c->server_port);
	__atomic_sub_fetch(&o->controls, 1, __ATOMIC_RELAXED);
	stream_close(c->ctl);
	free(c);
}

static void waiting_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct waiting_client *wc = t->data;
	(void)loop;
	(void)revents;
	log_info("natrelay: client %s not paired within the timeout; closed", wc->s->peer);
	waiting_remove(wc->ctl, wc);
	stream_close(wc->s);
	free(wc);
}

/* A client: it waits while the control connection is told to send a server connection. */
static int client_accepted(struct acceptor *a, struct stream *s)
{
	struct natrelay_ctl *c = a->data;
	struct natrelay_opts *o = c->svc->handler.state;
	if (c->n_waiting >= o->max_waiting) {
		log_warn("natrelay: %ld clients already wait on port %u; refusing %s", c->n_waiting, c->client_port,
			 s->peer);
		stream_close(s);
		return 0;
	}
	struct waiting_client *wc = xcalloc(1, sizeof *wc);
	wc->s = s;
	wc->ctl = c;
	ev_timer_init(&wc->timer, waiting_timeout_cb, o->pair_timeout, 0);
	wc->timer.data = wc;
	ev_timer_start(c->w->loop, &wc->timer);
	*c->tail = wc;
	c->tail = &wc->next;
	c->n_waiting++;
	char line[NATRELAY_LINE_MAX];
	int n = natrelay_line_write(line, sizeof line, NATRELAY_NEW, c->server_port);
	if (n < 0 || stream_write(c->ctl, line, (size_t)n) < 0) {
		ctl_close(c); /* frees c and both acceptors */
		return -1;
	}
	return 0;
}

/* A server connection: joined to the oldest waiting client. */
static int server_accepted(struct acceptor *a, struct stream *s)
{
	struct natrelay_ctl *c = a->data;
	struct natrelay_opts *o = c->svc->handler.state;
	struct waiting_client *wc = c->head;
	if (!wc) {
		log_info("natrelay: server connection %s with no waiting client; closed", s->peer);
		stream_close(s);
		return 0;
	}
	waiting_remove(c, wc);
	log_debug("natrelay: pairing client %s with server %s", wc->s->peer, s->peer);
	pipe_start(wc->s, s, o->idle_timeout, NULL, NULL);
	free(wc);
	return 0;
}

static void ctl_read_cb(struct stream *s, const char *data, size_t len)
{
	struct natrelay_ctl *c = s->ud;
	(void)data;
	if (!len)
		ctl_close(c); /* the server went away: so do its ports and waiting clients */
}

static void ctl_event_cb(struct stream *s, enum stream_event ev, int err)
{
	struct natrelay_ctl *c = s->ud;
	(void)err;
	if (ev == STREAM_EV_ERROR)
		ctl_close(c);
}

/* Bind a port from the range (from a random start) or an ephemeral one. */
static int open_port(struct natrelay_opts *o, int avoid, uint16_t *port)
{
	char err[400];
	long span = o->port_max - o->port_min + 1;
	if (!o->port_min) {
		int fd = listen_socket(o->bind_host, 0, SOCK_STREAM, 0, err, sizeof err);
		if (fd >= 0)
			*port = socket_local_port(fd);
		else
			log_warn("natrelay: %s", err);
		return fd;
	}
	long start = (long)rng_below((uint32_t)span);
	for (long i = 0; i < span; i++) {
		long p = o->port_min + (start + i) % span;
		if (p == avoid)
			continue;
		int fd = listen_socket(o->bind_host, (uint16_t)p, SOCK_STREAM, 0, err, sizeof err);
		if (fd >= 0) {
			*port = (uint16_t)p;
			return fd;
		}
	}
	log_warn("natrelay: no free port in %ld-%ld", o->port_min, o->port_max);
	return -1;
}

static void natrelay_handle(struct service *svc, struct stream *ctl)
{
	struct natrelay_opts *o = svc->handler.state;
	if (__atomic_add_fetch(&o->controls, 1, __ATOMIC_RELAXED) > o->max_controls) {
		__atomic_sub_fetch(&o->controls, 1, __ATOMIC_RELAXED);
		log_warn("natrelay: %ld control connections already; refusing %s", o->max_controls, ctl->peer);
		stream_close(ctl);
		return;
	}
	struct natrelay_ctl *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->w = ctl->w;
	c->ctl = ctl;
	c->tail = &c->head;
	c->client_fd = open_port(o, -1, &c->client_port);
	c->server_fd = c->client_fd >= 0 ? open_port(o, c->client_port, &c->server_port) : -1;
	acceptor_init(&c->client_acc, c->w, c->client_fd, client_accepted, c, "natrelay: client port %u", c->client_port);
	acceptor_init(&c->server_acc, c->w, c->server_fd, server_accepted, c, "natrelay: server port %u", c->server_port);
	if (c->server_fd < 0) {
		ctl_close(c);
		return;
	}
	acceptor_start(&c->client_acc);
	acceptor_start(&c->server_acc);
	stream_set_callbacks(ctl, ctl_read_cb, ctl_event_cb, c);
	stream_read_start(ctl);
	char line[NATRELAY_LINE_MAX];
	int n = natrelay_line_write(line, sizeof line, NATRELAY_PORT, c->client_port);
	log_info("natrelay: control %s: client port %u, server port %u", ctl->peer, c->client_port, c->server_port);
	if (stream_write(ctl, line, (size_t)n) < 0)
		ctl_close(c);
}

const struct handler_type handler_natrelay = {
	.name = "natrelay",
	.init = natrelay_init,
	.fini = natrelay_fini,
	.handle = natrelay_handle,
};
