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
#define RESOLVER_CACHE_MAX 256

/* One cached answer of a resolve_server channel. */
struct resolve_cached {
	struct resolve_cached *next;
	char *host;                 /* owned */
	int family;
	double expires;             /* ev_now() */
	struct resolved result;
};

struct resolver {
	struct ev_loop *loop;
	ares_channel channel;
	/* The worker's default channel heads a list of the resolve_server channels (owned through it). */
	struct resolver *next;
	char *key;                  /* resolve_server's; NULL for the default */
	double ttl;
	struct resolve_cached *cache;   /* owned, newest first */
	size_t n_cached;
	ev_timer timeout;
	struct {
		ev_io io;
		int fd;
	} socks[RESOLVER_MAX_SOCKS];
};

struct resolve_req {
	struct worker *w;
	struct resolver *via;       /* a resolve_server channel, whose cache takes the answer; NULL: default */
	char *host;                 /* owned, for the cache */
	int family;
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

static struct resolver *resolver_alloc(struct ev_loop *loop, struct ares_options *opts, int optmask)
{
	struct resolver *r = xcalloc(1, sizeof *r);
	opts->sock_state_cb = resolver_sock_state;
	opts->sock_state_cb_data = r;
	r->loop = loop;
	for (int i = 0; i < RESOLVER_MAX_SOCKS; i++)
		r->socks[i].fd = -1;
	if (ares_init_options(&r->channel, opts, optmask | ARES_OPT_SOCK_STATE_CB) != ARES_SUCCESS) {
		log_error("resolver: c-ares initialisation failed");
		abort();
	}
	ev_timer_init(&r->timeout, resolver_timeout_cb, 0, 0);
	r->timeout.data = r;
	return r;
}

struct resolver *resolver_new(struct ev_loop *loop)
{
	struct ares_options opts;
	memset(&opts, 0, sizeof opts);
	opts.timeout = 3000;
	opts.tries = 2;
	return resolver_alloc(loop, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
}

/* The channel of srv on this worker: the system's configuration replaced by srv's nameserver. */
static struct resolver *resolver_for(struct resolver *def, const struct resolve_server *srv)
{
	struct resolver *r;
	for (r = def->next; r; r = r->next)
		if (!strcmp(r->key, srv->key))
			return r;
	struct ares_options opts;
	memset(&opts, 0, sizeof opts);
	opts.flags = ARES_FLAG_NOSEARCH | (srv->tcp ? ARES_FLAG_USEVC : 0);
	opts.timeout = srv->timeout > 0 ? (int)(srv->timeout * 1000) : 5000;
	opts.tries = 1;
	opts.lookups = (char *)"b"; /* DNS only: hosts files are what `hosts:` is for */
	r = resolver_alloc(def->loop, &opts, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS);
	if (ares_set_servers_ports_csv(r->channel, srv->servers) != ARES_SUCCESS)
		log_error("resolver: c-ares refused the nameserver %s", srv->servers);
	r->key = xstrdup(srv->key);
	r->ttl = srv->ttl;
	r->next = def->next;
	def->next = r;
	return r;
}

static void resolver_cache_free(struct resolver *r)
{
	for (struct resolve_cached *c = r->cache, *next; c; c = next) {
		next = c->next;
		free(c->host);
		free(c);
	}
	r->cache = NULL;
	r->n_cached = 0;
}

/* A live entry, or NULL; drops expired ones on the way. */
static const struct resolve_cached *resolver_cache_get(struct resolver *r, const char *host, int family)
{
	double now = ev_now(r->loop);
	for (struct resolve_cached **pc = &r->cache; *pc;) {
		struct resolve_cached *c = *pc;
		if (c->expires <= now) {
			*pc = c->next;
			free(c->host);
			free(c);
			r->n_cached--;
			continue;
		}
		if (c->family == family && !strcasecmp(c->host, host))
			return c;
		pc = &c->next;
	}
	return NULL;
}

static void resolver_cache_put(struct resolver *r, const char *host, int family, const struct resolved *res,
			       double ttl)
{
	if (ttl <= 0)
		return;
	if (r->n_cached >= RESOLVER_CACHE_MAX) /* full of live entries: start over rather than grow */
		resolver_cache_free(r);
	struct resolve_cached *c = xcalloc(1, sizeof *c);
	c->host = xstrdup(host);
	c->family = family;
	c->expires = ev_now(r->loop) + ttl;
	c->result = *res;
	c->next = r->cache;
	r->cache = c;
	r->n_cached++;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	resolver_free(r->next);
	ares_destroy(r->channel);
	ev_timer_stop(r->loop, &r->timeout);
	for (int i = 0; i < RESOLVER_MAX_SOCKS; i++)
		if (r->socks[i].fd >= 0)
			ev_io_stop(r->loop, &r->socks[i].io);
	resolver_cache_free(r);
	free(r->key);
	free(r);
}

static void resolve_finish(void *arg)
{
	struct resolve_req *req = arg;
	req->cb(req->ctx, req->err ? NULL : &req->result, req->err);
	free(req->host);
	free(req);
}

static void resolve_ares_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct resolve_req *req = arg;
	int min_ttl = -1;
	(void)timeouts;
	if (status != ARES_SUCCESS || !ai) {
		req->err = status == ARES_ETIMEOUT ? ETIMEDOUT : EHOSTUNREACH;
	} else {
		/* IPv4 first: loopback services and most targets listen there. */
		for (int fam = 0; fam < 2; fam++)
			for (struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
				if ((fam == 0) != (n->ai_family == AF_INET) || req->result.count >= RESOLVE_MAX_ADDRS)
					continue;
				if (min_ttl < 0 || n->ai_ttl < min_ttl)
					min_ttl = n->ai_ttl;
				memcpy(&req->result.addr[req->result.count], n->ai_addr, n->ai_addrlen);
				req->result.len[req->result.count++] = n->ai_addrlen;
			}
		if (!req->result.count)
			req->err = EHOSTUNREACH;
	}
	if (ai)
		ares_freeaddrinfo(ai);
	if (req->via && !req->err && status != ARES_EDESTRUCTION)
		resolver_cache_put(req->via, req->host, req->family, &req->result,
				   req->via->ttl > 0 ? req->via->ttl : req->via->ttl < 0 ? 0 : min_ttl);
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

void resolve_via(struct worker *w, const struct resolve_server *srv, const char *host, int family, resolve_cb cb,
		 void *ctx)
{
	struct resolve_req *req = xcalloc(1, sizeof *req);
	req->w = w;
	req->cb = cb;
	req->ctx = ctx;
	if (!w->resolver) {
		req->err = EHOSTUNREACH; /* the control loop has no channels */
		worker_defer(w, resolve_finish, req);
		return;
	}
	req->via = resolver_for(w->resolver, srv);
	const struct resolve_cached *c = resolver_cache_get(req->via, host, family);
	if (c) {
		req->result = c->result;
		worker_defer(w, resolve_finish, req);
		return;
	}
	req->host = xstrdup(host);
	req->family = family;
	struct ares_addrinfo_hints hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	ares_getaddrinfo(req->via->channel, host, NULL, &hints, resolve_ares_cb, req);
	resolver_arm_timer(req->via);
}
