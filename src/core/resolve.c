#include "src/core/resolve.h"

#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/core/util.h"

#define RESOLVER_MAX_SOCKS 16

struct resolver {
	struct ev_loop *loop;
	ares_channel channel;
	ev_timer timeout;
	struct {
		ev_io io;
		int fd;
	} socks[RESOLVER_MAX_SOCKS];
};

struct resolve_req {
	struct worker *w;
	resolve_cb cb;
	void *ctx;
	struct resolved result;
	int err;
};

static void resolver_arm_timer(struct resolver *r)
{
	struct timeval tv, *tvp = ares_timeout(r->channel, NULL, &tv);
	ev_timer_stop(r->loop, &r->timeout);
	if (tvp) {
		ev_timer_set(&r->timeout, tvp->tv_sec + tvp->tv_usec / 1e6 + 0.001, 0);
		ev_timer_start(r->loop, &r->timeout);
	}
}

static void resolver_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct resolver *r = io->data;
	(void)loop;
	ares_process_fd(r->channel, (revents & EV_READ) ? io->fd : ARES_SOCKET_BAD,
			(revents & EV_WRITE) ? io->fd : ARES_SOCKET_BAD);
	resolver_arm_timer(r);
}

static void resolver_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct resolver *r = t->data;
	(void)loop;
	(void)revents;
	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolver_arm_timer(r);
}

/* c-ares tells us which sockets to watch; mirror that into ev_io watchers. */
static void resolver_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	int i, free_slot = -1;
	for (i = 0; i < RESOLVER_MAX_SOCKS; i++) {
		if (r->socks[i].fd == fd)
			break;
		if (r->socks[i].fd < 0 && free_slot < 0)
			free_slot = i;
	}
	if (i == RESOLVER_MAX_SOCKS) {
		if (!readable && !writable)
			return;
		if (free_slot < 0) {
			log_error("resolver: too many DNS sockets");
			return;
		}
		i = free_slot;
		r->socks[i].fd = fd;
	} else {
		ev_io_stop(r->loop, &r->socks[i].io);
	}
	if (!readable && !writable) {
		r->socks[i].fd = -1;
		return;
	}
	ev_io_init(&r->socks[i].io, resolver_io_cb, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	r->socks[i].io.data = r;
	ev_io_start(r->loop, &r->socks[i].io);
}

struct resolver *resolver_new(struct ev_loop *loop)
{
	struct resolver *r = xcalloc(1, sizeof *r);
	struct ares_options opts;
	memset(&opts, 0, sizeof opts);
	opts.sock_state_cb = resolver_sock_state;
	opts.sock_state_cb_data = r;
	opts.timeout = 3000;
	opts.tries = 2;
	r->loop = loop;
	for (int i = 0; i < RESOLVER_MAX_SOCKS; i++)
		r->socks[i].fd = -1;
	if (ares_init_options(&r->channel, &opts, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) !=
	    ARES_SUCCESS) {
		log_error("resolver: c-ares initialisation failed");
		abort();
	}
	ev_timer_init(&r->timeout, resolver_timeout_cb, 0, 0);
	r->timeout.data = r;
	return r;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	ares_destroy(r->channel);
	ev_timer_stop(r->loop, &r->timeout);
	for (int i = 0; i < RESOLVER_MAX_SOCKS; i++)
		if (r->socks[i].fd >= 0)
			ev_io_stop(r->loop, &r->socks[i].io);
	free(r);
}

static void resolve_finish(void *arg)
{
	struct resolve_req *req = arg;
	req->cb(req->ctx, req->err ? NULL : &req->result, req->err);
	free(req);
}

static void resolve_ares_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct resolve_req *req = arg;
	(void)timeouts;
	if (status != ARES_SUCCESS || !ai) {
		req->err = status == ARES_ETIMEOUT ? ETIMEDOUT : EHOSTUNREACH;
	} else {
		/* IPv4 first: loopback services and most targets listen there. */
		for (int fam = 0; fam < 2; fam++)
			for (struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
				if ((fam == 0) != (n->ai_family == AF_INET) || req->result.count >= RESOLVE_MAX_ADDRS)
					continue;
				memcpy(&req->result.addr[req->result.count], n->ai_addr, n->ai_addrlen);
				req->result.len[req->result.count++] = n->ai_addrlen;
			}
		if (!req->result.count)
			req->err = EHOSTUNREACH;
	}
	if (ai)
		ares_freeaddrinfo(ai);
	/* c-ares answers names from /etc/hosts inside ares_getaddrinfo: never call back re-entrantly. */
	worker_defer(req->w, resolve_finish, req);
}

void resolve(struct worker *w, const char *host, uint16_t port, resolve_cb cb, void *ctx)
{
	struct resolve_req *req = xcalloc(1, sizeof *req);
	req->w = w;
	req->cb = cb;
	req->ctx = ctx;
	if (!*host)
		host = "127.0.0.1"; /* ":port" means this host, as in Go */
	if (sockaddr_from_literal(host, port, &req->result.addr[0], &req->result.len[0]) == 0) {
		req->result.count = 1;
		worker_defer(w, resolve_finish, req);
		return;
	}
	char portstr[8];
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof portstr, "%u", port);
	ares_getaddrinfo(w->resolver->channel, host, portstr, &hints, resolve_ares_cb, req);
	resolver_arm_timer(w->resolver);
}
