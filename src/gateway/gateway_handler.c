/*
 * handler gateway: the Onifast-compatible relay gateway (doc/gateway.md).
 * The service's own port (4052) takes agent dial-in (/relay, /tunnel), the
 * management API, HTTP CONNECT and raw TCP routed by TLS SNI or Host; the
 * web port (4053) routes HTTP by Host to agents' relay pools. Each public
 * connection is joined to one idle agent worker WebSocket.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/gateway/gateway.h"
#include "proto/json.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "src/svc/service.h"
#include "proto/tls_peek.h"
#include "src/core/util.h"

#define GW_HEAD_MAX 16384
#define GW_BODY_MAX 65536

/* ---- options ---- */

static int split_list(const struct cnode *md, const char *key, const char *def, char ***out, size_t *n)
{
	struct cnode *node = cnode_get(md, key);
	*out = NULL;
	*n = 0;
	if (node && node->kind == CN_SEQ) {
		*out = xcalloc(node->n + 1, sizeof **out);
		for (size_t i = 0; i < node->n; i++)
			if (node->items[i]->kind == CN_SCALAR && *node->items[i]->value)
				(*out)[(*n)++] = xstrdup(node->items[i]->value);
		return 0;
	}
	const char *v = node && node->kind == CN_SCALAR ? node->value : def;
	if (!v)
		return 0;
	char *copy = xstrdup(v), *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		*out = xrealloc(*out, (*n + 2) * sizeof **out);
		(*out)[(*n)++] = xstrdup(t);
	}
	free(copy);
	return 0;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static int gw_init(struct service *svc, struct cfg_err *e)
{
	struct gw *g = xcalloc(1, sizeof *g);
	const struct cnode *md = svc->handler.md;
	const char *web = md_str(md, "webAddr", ":4053"), *hook = md_str(md, "webhook", NULL);
	svc->handler.state = g;
	g->svc = svc;
	g->web_fd = -1;
	snprintf(g->o.db, sizeof g->o.db, "%s", md_str(md, "db", "onifast-relay.db"));
	snprintf(g->o.token, sizeof g->o.token, "%s", md_str(md, "token", ""));
	/* Forwards listen where the gateway does: one kept to 127.0.0.1 must not open public ports. */
	snprintf(g->o.forward_bind, sizeof g->o.forward_bind, "%s", md_str(md, "forwardBind", svc->host));
	if (*web && hostport_split(web, g->o.web_host, sizeof g->o.web_host, &g->o.web_port) < 0)
		return cfg_error(e, cnode_get(md, "webAddr"), "webAddr", "expected host:port or :port, got \"%s\"", web);
	if (hook && *hook) {
		if (webhook_parse(&g->o.webhook, hook) < 0)
			return cfg_error(e, cnode_get(md, "webhook"), "webhook", "expected http://host[:port]/path, got \"%s\"",
					 hook);
		g->o.has_webhook = 1;
		long retries;
		if (md_duration(md, "webhookTimeout", 5, &g->o.webhook.timeout, e) < 0 ||
		    md_int(md, "webhookRetries", 3, 0, 10, &retries, e) < 0)
			return -1;
		g->o.webhook.retries = (int)retries;
		g->o.webhook.stats = webhook_stats_new();
	}
	split_list(md, "domains", NULL, &g->o.domains, &g->o.n_domains);
	split_list(md, "apiAllow", "127.0.0.1,::1", &g->o.allow.patterns, &g->o.allow.n);
	for (size_t i = 0; i < g->o.allow.n; i++)
		if (!addr_pattern_is_ip(g->o.allow.patterns[i]))
			return cfg_error(e, cnode_get(md, "apiAllow"), "apiAllow",
					 "\"%s\" is not an IP address, a CIDR (127.0.0.0/8, ::1/128) or a range (a-b)",
					 g->o.allow.patterns[i]);
	for (size_t i = 0; i < g->o.n_domains; i++)
		for (char *p = g->o.domains[i]; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	if (md_int(md, "maxIdleWorkers", 100, 1, 100000, &g->o.max_idle, e) < 0 ||
	    md_duration(md, "poolIdleTimeout", 60, &g->o.pool_idle, e) < 0 ||
	    md_duration(md, "gcInterval", 10, &g->o.gc_interval, e) < 0 ||
	    md_duration(md, "headerTimeout", 10, &g->o.head_timeout, e) < 0 ||
	    md_duration(md, "workerWait", 0.5, &g->o.worker_wait, e) < 0)
		return -1;
	if (ws_opts_parse(&g->o.ws, md, 0, e) < 0)
		return -1;
	if (!cnode_get(md, "pingInterval") && !cnode_get(md, "keepAlivePeriod"))
		g->o.ws.keepalive = 30;
	else if (md_duration(md, "pingInterval", 30, &g->o.ws.keepalive, e) < 0)
		return -1;
	if (g->o.gc_interval <= 0)
		g->o.gc_interval = 10;
	/* The database is opened at start, so that `portway -t` creates no file; here only its place is checked. */
	char dir[sizeof g->o.db];
	snprintf(dir, sizeof dir, "%s", g->o.db);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	if (access(slash ? (*dir ? dir : "/") : ".", W_OK) < 0)
		return cfg_error(e, cnode_get(md, "db") ? cnode_get(md, "db") : svc->cfg, "db",
				 "cannot write the database's directory for %s: %s", g->o.db, strerror(errno));
	return 0;
}

static void gw_fini(struct service *svc)
{
	struct gw *g = svc->handler.state;
	if (!g)
		return;
	store_close(g->store);
	free(g->initial_pfs);
	free_list(g->o.domains, g->o.n_domains);
	free_list(g->o.allow.patterns, g->o.allow.n);
	ws_opts_free(&g->o.ws);
	webhook_stats_unref(g->o.webhook.stats);
	free(g);
}

/* ---- routing a host name to a pool ---- */

/* Routing rules are in proto/onifast.c (I/O-free, unit-tested and fuzzed). */
static int gw_route_host(struct gw *g, const char *host, size_t len, enum onifast_kind default_kind, int default_port,
			 struct onifast_route *r)
{
	return onifast_route_host((const char *const *)g->o.domains, g->o.n_domains, host, len,
				  default_kind, default_port, r);
}

/* ---- joining a public connection to a worker ---- */

static const char not_found_page[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
				     "Connection: close\r\n\r\nno such tunnel is known\n";
static const char bad_gateway_page[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 36\r\n"
				       "Connection: close\r\n\r\nthe tunnel's agent is not connected\n";

static void gw_refuse(struct stream *client, const char *page)
{
	if (page)
		stream_write(client, page, strlen(page));
	stream_close_after_flush(client);
}

/* Send a worker what opens the connection (the CONNECT line, the bytes read so far). 0, or -1 if it is stale. */
static int gw_join(struct gw *g, struct stream *client, struct stream *ws, const char *name, enum onifast_kind kind,
		   int port, const char *pending, size_t pending_len, int reply_connect)
{
	int ok = 1;
	if (kind == ONIFAST_TUNNEL) {
		char line[ONIFAST_LINE_MAX];
		int n = onifast_connect_line_write(line, sizeof line, port);
		ok = n > 0 && stream_write(ws, line, (size_t)n) == 0;
	}
	if (ok && pending_len)
		ok = stream_write(ws, pending, pending_len) == 0;
	if (!ok) {
		log_info("gateway: a stale %s worker of %s; trying the next", gw_kind_name(kind), name);
		stream_close(ws);
		return -1;
	}
	if (reply_connect) {
		static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		stream_write(client, established, sizeof established - 1);
	}
	if (kind == ONIFAST_TUNNEL)
		g->stats.tunnels++;
	else
		g->stats.requests++;
	log_debug("gateway: %s -> %s worker of %s", client->peer, gw_kind_name(kind), name);
	pipe_start(client, ws, 0, NULL, NULL);
	return 0;
}

static void waiter_free(struct gw_waiter *wt)
{
	ev_timer_stop(wt->g->w->loop, &wt->timer);
	free(wt->pending);
	free(wt);
}

static struct gw_waiter *waiter_pop(struct gw_pool *p)
{
	struct gw_waiter *wt = p->wait_head;
	if (!wt)
		return NULL;
	p->wait_head = wt->next;
	if (!p->wait_head)
		p->wait_tail = &p->wait_head;
	p->waiting--;
	return wt;
}

int gw_waiter_serve(struct gw *g, struct gw_pool *p, struct stream *ws)
{
	struct gw_waiter *wt = waiter_pop(p);
	if (!wt)
		return 0;
	int r = gw_join(g, wt->client, ws, p->name, p->kind, wt->port, wt->pending, wt->pending_len, wt->reply_connect);
	if (r < 0) /* the new worker was already dead: this client gets the error */
		gw_refuse(wt->client, wt->http ? bad_gateway_page : NULL);
	waiter_free(wt);
	return 1;
}

static void waiter_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct gw_waiter *wt = t->data, **pp;
	(void)loop;
	(void)revents;
	for (pp = &wt->pool->wait_head; *pp && *pp != wt; pp = &(*pp)->next)
		;
	if (*pp) {
		*pp = wt->next;
		if (wt->pool->wait_tail == &wt->next)
			wt->pool->wait_tail = pp;
		wt->pool->waiting--;
	}
	wt->g->stats.no_worker++;
	log_info("gateway: %s: no %s worker for %s", wt->client->peer, gw_kind_name(wt->pool->kind), wt->pool->name);
	gw_refuse(wt->client, wt->http ? bad_gateway_page : NULL);
	waiter_free(wt);
}

void gw_waiters_drop(struct gw_pool *p)
{
	struct gw_waiter *wt;
	while ((wt = waiter_pop(p))) {
		stream_close(wt->client);
		waiter_free(wt);
	}
}

#define GW_MAX_WAITERS 1024

void gw_dispatch(struct gw *g, struct stream *client, const char *name, enum onifast_kind kind, int port,
		 const char *pending, size_t pending_len, int reply_connect)
{
	struct gw_pool *p = gw_pool_find(g, name, kind, 0);
	int http = kind == ONIFAST_RELAY && !reply_connect && pending_len;
	struct stream *ws;
	while (p && (ws = gw_pool_take(g, p)))
		if (gw_join(g, client, ws, name, kind, port, pending, pending_len, reply_connect) == 0)
			return;
	/* An agent refills its pool as workers are taken: a client may wait a moment for the next one. */
	if (p && g->o.worker_wait > 0 && p->waiting < GW_MAX_WAITERS) {
		struct gw_waiter *wt = xcalloc(1, sizeof *wt);
		wt->g = g;
		wt->pool = p;
		wt->client = client;
		wt->port = port;
		wt->reply_connect = reply_connect;
		wt->http = http;
		if (pending_len) {
			wt->pending = xmalloc(pending_len);
			memcpy(wt->pending, pending, pending_len);
			wt->pending_len = pending_len;
		}
		ev_timer_init(&wt->timer, waiter_timeout_cb, g->o.worker_wait, 0);
		wt->timer.data = wt;
		ev_timer_start(g->w->loop, &wt->timer);
		*p->wait_tail = wt;
		p->wait_tail = &wt->next;
		p->waiting++;
		return;
	}
	g->stats.no_worker++;
	log_info("gateway: %s: no %s worker for %s", client->peer, gw_kind_name(kind), name);
	gw_refuse(client, http ? bad_gateway_page : NULL);
}

/* ---- reading what a connection starts with ---- */

enum gw_port_role { GW_CONTROL, GW_WEB };

enum gw_conn_state {
	GWC_PEEK,           /* the first bytes decide: HTTP mux, CONNECT or raw */
	GWC_HEAD,           /* an HTTP head on the web port or the mux */
	GWC_BODY,           /* an API request body */
	GWC_RAW_PEEK,       /* raw TCP: a ClientHello's SNI or a Host header */
	GWC_AUTH,           /* agent dial-in: the secret is being checked */
};

struct gw_conn {
	struct gw *g;
	struct stream *s;           /* owned until handed on */
	enum gw_port_role role;
	enum gw_conn_state state;
	char *buf;                  /* owned */
	size_t len, cap;
	size_t head_len, body_len;
	struct http_request req;    /* slices into buf[0, head_len): re-parsed whenever buf moves */
	ev_timer timer;
	/* agent dial-in */
	enum onifast_kind kind;
	char name[STORE_NAME_MAX + 1];
	char secret[256];
	int ok;
};

static void conn_free(struct gw_conn *c)
{
	ev_timer_stop(c->g->w->loop, &c->timer);
	free(c->buf);
	free(c);
}

static void conn_close(struct gw_conn *c, const char *page)
{
	gw_refuse(c->s, page);
	conn_free(c);
}

static void conn_http_error(struct gw_conn *c, int status, const char *text)
{
	char page[256];
	snprintf(page, sizeof page, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
				    "Connection: close\r\n\r\n%s\n",
		 status, text, strlen(text) + 1, text);
	conn_close(c, page);
}

/* Hand the connection and every byte read so far to a worker. */
static void conn_dispatch(struct gw_conn *c, const struct onifast_route *r, int reply_connect, size_t skip)
{
	struct stream *s = c->s;
	char *buf = c->buf;
	size_t len = c->len;
	c->buf = NULL;
	ev_timer_stop(c->g->w->loop, &c->timer);
	stream_read_stop(s);
	gw_dispatch(c->g, s, r->name, r->kind, r->port, buf + skip, len - skip, reply_connect);
	free(buf);
	conn_free(c);
}

static void conn_no_route(struct gw_conn *c, int http)
{
	log_info("gateway: %s: no tunnel matches the requested host", c->s->peer);
	if (http)
		conn_close(c, not_found_page);
	else
		conn_close(c, NULL);
}

/* A pool never seen: 404 when no tunnel of that name exists, else 502. Asked off the loop. */
struct known_job {
	struct gw_conn *c;
	struct onifast_route r;
	int exists;
};

static void known_run(struct store *st, void *arg)
{
	struct known_job *k = arg;
	k->exists = store_tunnel_exists(st, k->r.name);
}

static const char unavailable_page[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
				       "Content-Length: 24\r\nConnection: close\r\n\r\nthe gateway has stopped\n";

/*
 * A store job of a connection: the job holds a reference on the service (so g stays valid until its
 * completion runs), and the completion first asks whether the gateway stopped meanwhile (a reload,
 * a shutdown): then the connection is closed, never handed to pools that are gone.
 */
static void conn_store_async(struct gw_conn *c, void (*job)(struct store *st, void *arg), void (*done)(void *arg),
			     void *arg)
{
	c->state = GWC_AUTH;
	stream_read_stop(c->s);
	ev_timer_stop(c->g->w->loop, &c->timer);
	service_ref(c->g->svc);
	store_async(c->g->store, c->g->w, job, done, arg);
}

/* 1 when the gateway stopped: c was closed and freed, and the job's reference released. */
static int conn_store_done_stopped(struct gw_conn *c)
{
	struct service *svc = c->g->svc;
	if (!c->g->stopped)
		return 0;
	log_debug("gateway: %s: the gateway stopped while the database was asked", c->s->peer);
	conn_close(c, unavailable_page);
	service_unref(svc);
	return 1;
}

static void known_done(void *arg)
{
	struct known_job *k = arg;
	struct service *svc = k->c->g->svc;
	if (conn_store_done_stopped(k->c)) {
		free(k);
		return;
	}
	if (k->exists == 0)
		conn_close(k->c, not_found_page);
	else
		conn_dispatch(k->c, &k->r, 0, 0);
	free(k);
	service_unref(svc);
}

static void web_route(struct gw_conn *c)
{
	const struct http_header *host = http_header_find(c->req.headers, c->req.nheaders, "Host");
	struct onifast_route r;
	if (!host || gw_route_host(c->g, host->value.p, host->value.len, ONIFAST_RELAY, 0, &r) < 0) {
		conn_no_route(c, 1);
		return;
	}
	if (gw_pool_find(c->g, r.name, r.kind, 0)) {
		conn_dispatch(c, &r, 0, 0);
		return;
	}
	struct known_job *k = xcalloc(1, sizeof *k);
	k->c = c;
	k->r = r;
	conn_store_async(c, known_run, known_done, k);
}

/* ---- agent dial-in: /relay and /tunnel ---- */

static void auth_run(struct store *st, void *arg)
{
	struct gw_conn *c = arg;
	c->ok = store_tunnel_check(st, c->name, c->secret);
	memset(c->secret, 0, sizeof c->secret);
}

static void agent_auth_done(void *arg)
{
	struct gw_conn *c = arg;
	struct gw *g = c->g;
	struct service *svc = g->svc;
	if (conn_store_done_stopped(c))
		return;
	if (!c->ok) {
		g->stats.agents_refused++;
		log_warn("gateway: %s: agent for %s (%s) refused: unknown tunnel or wrong secret", c->s->peer, c->name,
			 gw_kind_name(c->kind));
		conn_http_error(c, 401, "Unauthorized");
		service_unref(svc);
		return;
	}
	struct stream *ws = ws_server_upgrade(&g->o.ws, c->s, &c->req, c->buf + c->head_len, c->len - c->head_len);
	c->s = NULL;
	if (ws) {
		g->stats.agents_accepted++;
		log_debug("gateway: %s worker of %s from %s", gw_kind_name(c->kind), c->name, ws->peer);
		gw_pool_add(g, gw_pool_find(g, c->name, c->kind, 1), ws);
	}
	conn_free(c);
	service_unref(svc);
}

static void agent_dial_in(struct gw_conn *c, enum onifast_kind kind)
{
	struct http_slice q = http_target_query(c->req.target);
	if (http_query_get(q, "subdomain", c->name, sizeof c->name) < 0 || !store_name_valid(c->name) ||
	    http_query_get(q, "secret", c->secret, sizeof c->secret) < 0) {
		c->g->stats.agents_refused++;
		log_warn("gateway: %s: agent dial-in without a valid subdomain and secret", c->s->peer);
		conn_http_error(c, 401, "Unauthorized");
		return;
	}
	c->kind = kind;
	conn_store_async(c, auth_run, agent_auth_done, c);
}

/* ---- the control port's HTTP mux ---- */

static int path_is(const struct http_request *req, const char *path)
{
	size_t n = strlen(path);
	return req->target.len >= n && !memcmp(req->target.p, path, n) &&
	       (req->target.len == n || req->target.p[n] == '?');
}

/* Returns 1 when an API body is to be read next; otherwise c was handed on or freed. */
static int control_head(struct gw_conn *c)
{
	if (http_slice_eq(c->req.method, "CONNECT")) {
		struct http_slice host;
		uint16_t port;
		struct onifast_route r;
		char target[300];
		if (http_host_port_split(c->req.target.p, c->req.target.len, 0, &host, &port) < 0 ||
		    host.len >= sizeof target) {
			conn_http_error(c, 400, "Bad Request");
			return 0;
		}
		memcpy(target, host.p, host.len);
		target[host.len] = 0;
		/* CONNECT NAME.domain:PORT opens PORT on NAME's agent; p<port> in the name wins. */
		if (gw_route_host(c->g, target, host.len, ONIFAST_TUNNEL, port, &r) < 0) {
			conn_http_error(c, 404, "Not Found");
			return 0;
		}
		r.kind = ONIFAST_TUNNEL;
		conn_dispatch(c, &r, 1, c->head_len);
		return 0;
	}
	if (path_is(&c->req, "/relay") || path_is(&c->req, "/tunnel")) {
		agent_dial_in(c, path_is(&c->req, "/relay") ? ONIFAST_RELAY : ONIFAST_TUNNEL);
		return 0;
	}
	struct http_body body;
	if (http_request_body(&c->req, &body) < 0 || body.kind == HTTP_BODY_CHUNKED) {
		conn_http_error(c, 400, "Bad Request");
		return 0;
	}
	c->body_len = body.kind == HTTP_BODY_LENGTH ? (size_t)body.length : 0;
	if (c->body_len > GW_BODY_MAX) {
		conn_http_error(c, 413, "Payload Too Large");
		return 0;
	}
	c->state = GWC_BODY;
	return 1;
}

static int is_http_method_prefix(const char *p)
{
	static const char *const m[] = { "GET ", "POST", "PUT ", "DELE", "HEAD", "OPTI", "PATC" };
	for (size_t i = 0; i < sizeof m / sizeof *m; i++)
		if (!memcmp(p, m[i], 4))
			return 1;
	return 0;
}

/* Raw TCP on the control port: a ClientHello's SNI or an HTTP Host picks the pool. */
static void raw_peek(struct gw_conn *c)
{
	char sni[TLS_PEEK_HOST_MAX + 1];
	struct onifast_route r;
	int t = tls_peek_sni(c->buf, c->len, sni);
	if (t == TLS_PEEK_NEED_MORE)
		return;
	if (t == TLS_PEEK_SNI) {
		if (gw_route_host(c->g, sni, strlen(sni), ONIFAST_RELAY, 0, &r) < 0)
			conn_no_route(c, 0);
		else
			conn_dispatch(c, &r, 0, 0);
		return;
	}
	struct http_request req;
	ssize_t n = http_request_parse(c->buf, c->len, GW_HEAD_MAX, &req);
	if (n == 0 && t != TLS_PEEK_NO_SNI && c->len < GW_HEAD_MAX)
		return;
	const struct http_header *host = n > 0 ? http_header_find(req.headers, req.nheaders, "Host") : NULL;
	if (!host || gw_route_host(c->g, host->value.p, host->value.len, ONIFAST_RELAY, 0, &r) < 0) {
		conn_no_route(c, 0);
		return;
	}
	conn_dispatch(c, &r, 0, 0);
}

static void conn_progress(struct gw_conn *c)
{
	ssize_t n;
	switch (c->state) {
	case GWC_PEEK:
		if (c->len < 4)
			return;
		if (c->role == GW_WEB || is_http_method_prefix(c->buf) || !memcmp(c->buf, "CONN", 4)) {
			c->state = GWC_HEAD;
			conn_progress(c);
		} else {
			c->state = GWC_RAW_PEEK;
			raw_peek(c);
		}
		return;
	case GWC_HEAD:
		n = http_request_parse(c->buf, c->len, GW_HEAD_MAX, &c->req);
		if (n == 0)
			return;
		if (n < 0) {
			if (n == HTTP_ERR_TOO_LARGE || n == HTTP_ERR_TOO_MANY_HEADERS)
				conn_http_error(c, 431, "Request Header Fields Too Large");
			else
				conn_http_error(c, 400, "Bad Request");
			return;
		}
		c->head_len = (size_t)n;
		if (c->role == GW_WEB) {
			web_route(c);
			return;
		}
		if (control_head(c))
			conn_progress(c);
		return;
	case GWC_BODY:
		if (c->len - c->head_len < c->body_len)
			return;
		ev_timer_stop(c->g->w->loop, &c->timer);
		stream_read_stop(c->s);
		gw_api_serve(c->g, c->s, &c->req, c->buf + c->head_len, c->body_len);
		conn_free(c);
		return;
	case GWC_RAW_PEEK:
		raw_peek(c);
		return;
	case GWC_AUTH:
		return;
	}
}

static void conn_read(struct stream *s, const char *data, size_t len)
{
	struct gw_conn *c = s->ud;
	if (!len) {
		stream_close(s);
		conn_free(c);
		return;
	}
	if (c->len + len > GW_HEAD_MAX + GW_BODY_MAX) {
		conn_http_error(c, 431, "Request Header Fields Too Large");
		return;
	}
	if (c->len + len > c->cap) {
		c->cap = (c->len + len) * 2;
		c->buf = xrealloc(c->buf, c->cap + 1);
		/* A body or an auth check may still use the parsed head: point it at the moved buffer. */
		if (c->head_len && http_request_parse(c->buf, c->head_len, GW_HEAD_MAX, &c->req) != (ssize_t)c->head_len) {
			conn_http_error(c, 400, "Bad Request");
			return;
		}
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	c->buf[c->len] = 0;
	conn_progress(c);
}

static void conn_event(struct stream *s, enum stream_event ev, int err)
{
	struct gw_conn *c = s->ud;
	(void)err;
	if (ev == STREAM_EV_ERROR && c->state != GWC_AUTH) {
		stream_close(s);
		conn_free(c);
	}
}

static void conn_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct gw_conn *c = t->data;
	(void)loop;
	(void)revents;
	log_info("gateway: %s sent no complete request in time", c->s->peer);
	if (c->state == GWC_RAW_PEEK || (c->state == GWC_PEEK && c->role == GW_CONTROL))
		conn_close(c, NULL);
	else
		conn_http_error(c, 408, "Request Timeout");
}

static void conn_start(struct gw *g, struct stream *s, enum gw_port_role role)
{
	struct gw_conn *c = xcalloc(1, sizeof *c);
	c->g = g;
	c->s = s;
	c->role = role;
	c->state = GWC_PEEK;
	ev_timer_init(&c->timer, conn_timeout, g->o.head_timeout, 0);
	c->timer.data = c;
	ev_timer_start(g->w->loop, &c->timer);
	stream_set_callbacks(s, conn_read, conn_event, c);
	stream_read_start(s);
}

static void gw_handle(struct service *svc, struct stream *client)
{
	struct gw *g = svc->handler.state;
	if (!g->store) {
		stream_close(client); /* the database could not be opened: logged at start */
		return;
	}
	conn_start(g, client, GW_CONTROL);
}

/* ---- the web port and the lifecycle ---- */

static int web_accepted(struct acceptor *a, struct stream *s)
{
	struct gw *g = a->data;
	service_ref(g->svc);
	s->svc = g->svc;
	conn_start(g, s, GW_WEB);
	return 0;
}

static void gc_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	gw_pools_collect(t->data, ev_now(loop));
}

static void gw_start(struct service *svc, struct worker *w)
{
	struct gw *g = svc->handler.state;
	char err[512];
	g->w = w;
	g->started = ev_now(w->loop);
	if (!g->store)
		return; /* gw_prepare could not open the database: logged there */
	if (g->o.web_port) {
		g->web_fd = listen_socket(g->o.web_host, g->o.web_port, SOCK_STREAM, 1, err, sizeof err);
		if (g->web_fd < 0) {
			log_error("gateway %s: web port: %s", svc->name, err);
		} else {
			acceptor_init(&g->web_acc, w, g->web_fd, web_accepted, g, "gateway %s: web port", svc->name);
			acceptor_start(&g->web_acc);
			log_info("gateway %s: web proxy on %s:%u", svc->name, g->o.web_host, g->o.web_port);
		}
	}
	/* Port forwards are read once by gw_prepare; later changes come through the API. */
	for (size_t i = 0; i < g->n_initial_pfs; i++)
		if (gw_forward_open(g, &g->initial_pfs[i], err, sizeof err) < 0)
			log_error("gateway %s: port forward %d: %s", svc->name, g->initial_pfs[i].listen_port, err);
	free(g->initial_pfs);
	g->initial_pfs = NULL;
	g->n_initial_pfs = 0;
	ev_timer_init(&g->gc, gc_cb, g->o.gc_interval, g->o.gc_interval);
	g->gc.data = g;
	ev_timer_start(w->loop, &g->gc);
}

/* On the main thread before gw_start: opening (and migrating) the database, and reading the port
 * forwards, block; no worker loop may wait for them. */
static void gw_prepare(struct service *svc)
{
	struct gw *g = svc->handler.state;
	char err[512];
	if (g->store)
		return;
	if (!(g->store = store_open(g->o.db, err, sizeof err))) {
		log_error("gateway %s: %s; the gateway cannot start", svc->name, err);
		return;
	}
	if (store_pf_list(g->store, &g->initial_pfs, &g->n_initial_pfs) < 0)
		log_error("gateway %s: cannot read the port forwards from %s", svc->name, g->o.db);
}

static void gw_stop(struct service *svc, struct worker *w)
{
	struct gw *g = svc->handler.state;
	g->stopped = 1; /* store jobs still in flight find it so (agent_auth_done, known_done) */
	ev_timer_stop(w->loop, &g->gc);
	if (g->web_fd >= 0) {
		acceptor_stop(&g->web_acc);
		close(g->web_fd);
		g->web_fd = -1;
	}
	while (g->forwards)
		gw_forward_close(g, g->forwards->pf.listen_port);
	gw_pools_free(g);
}

extern const struct handler_type handler_gateway;

int gw_service_is_gateway(const struct service *svc) { return svc->handler.type == &handler_gateway; }

void gw_metrics_read(const struct service *svc, struct gw_metrics *out)
{
	const struct gw *g = svc->handler.state;
	memset(out, 0, sizeof *out);
	if (!g)
		return;
	for (const struct gw_pool *p = g->pools; p; p = p->next) {
		int k = p->kind == ONIFAST_TUNNEL;
		out->pools[k]++;
		out->idle[k] += p->count;
		out->waiting[k] += p->waiting;
	}
	for (const struct gw_forward *f = g->forwards; f; f = f->next)
		out->forwards += f->fd >= 0;
	out->stats = g->stats;
	if (g->o.webhook.stats)
		out->stats.webhook_failures = __atomic_load_n(&g->o.webhook.stats->failures, __ATOMIC_RELAXED);
}

const struct handler_type handler_gateway = {
	.name = "gateway",
	.init = gw_init,
	.fini = gw_fini,
	.handle = gw_handle,
	.start = gw_start,
	.stop = gw_stop,
	.prepare = gw_prepare,
	.single_worker = 1,
};
