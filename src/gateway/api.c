/*
 * The gateway's management API (doc/gateway.md): JSON over HTTP on the
 * control port. Bearer-token auth, or, with no token configured, only the
 * allowed client addresses. Database work runs on the store thread.
 */
#include <stdarg.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "src/gateway/gateway.h"
#include "proto/json.h"
#include "src/core/log.h"
#include "src/svc/service.h"
#include "src/core/util.h"

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 502: return "Bad Gateway";
	default: return "Internal Server Error";
	}
}

void gw_reply_typed(struct stream *s, int status, const char *ctype, const char *extra_headers, const char *body,
		    size_t len)
{
	char head[512];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
			 status, status_text(status), ctype, len, extra_headers ? extra_headers : "");
	stream_write(s, head, (size_t)n);
	stream_write(s, body, len);
	stream_close_after_flush(s);
}

void gw_reply(struct stream *s, int status, const char *json)
{
	size_t len = strlen(json);
	char *body = xmalloc(len + 2);
	memcpy(body, json, len);
	body[len] = '\n';
	gw_reply_typed(s, status, "application/json", NULL, body, len + 1);
	free(body);
}

static void reply_error(struct stream *s, int status, const char *msg)
{
	char body[512];
	size_t n = (size_t)snprintf(body, sizeof body, "{\"error\":");
	n = json_escape(body, sizeof body, n, msg);
	snprintf(body + n, sizeof body - n, "}");
	gw_reply(s, status, body);
}

/* The peer's address without the port ("127.0.0.1", "::1"). */
static void peer_host(const struct stream *s, char *out, size_t cap)
{
	uint16_t port;
	if (hostport_split(s->peer, out, cap, &port) < 0)
		snprintf(out, cap, "%s", s->peer);
}

/* The token as a Bearer token, or as the password of Basic credentials (any user name), which
 * is what a browser can send for the dashboard. */
static int token_given(const struct http_request *req, char *given, size_t cap)
{
	const struct http_header *h = http_header_find(req->headers, req->nheaders, "Authorization");
	char buf[600];
	const char *user, *pass;
	given[0] = 0;
	if (!h)
		return 0;
	if (h->value.len > 7 && !strncasecmp(h->value.p, "Bearer ", 7) && h->value.len - 7 < cap) {
		memcpy(given, h->value.p + 7, h->value.len - 7);
		given[h->value.len - 7] = 0;
	} else if (http_basic_auth_decode(h->value, buf, sizeof buf, &user, &pass) == 0 && strlen(pass) < cap) {
		snprintf(given, cap, "%s", pass);
	}
	return given[0] != 0;
}

static int api_allowed(struct gw *g, struct stream *s, const struct http_request *req)
{
	if (g->o.token[0]) {
		char given[300];
		token_given(req, given, sizeof given);
		return secret_equal(g->o.token, given);
	}
	char host[256];
	peer_host(s, host, sizeof host);
	/* The bypass matcher compares addresses, not text: ::ffff:127.0.0.1 (an IPv4 client of a
	 * dual-stack listener) is 127.0.0.1. */
	return bypass_match(&g->o.allow, host);
}

/* ---- JSON views of the state ---- */

struct jbuf {
	char *p;
	size_t len, cap;
};

static void jb_put(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jb_put(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n + 64;
		b->p = xrealloc(b->p, b->cap);
	}
}

static void jb_str(struct jbuf *b, const char *s)
{
	size_t need = strlen(s) * 6 + 3;
	if (b->cap - b->len < need) {
		b->cap += need + 64;
		b->p = xrealloc(b->p, b->cap);
	}
	b->len = json_escape(b->p, b->cap, b->len, s);
}

static void api_pools(struct gw *g, struct stream *s, enum onifast_kind kind)
{
	struct jbuf b = { xmalloc(256), 0, 256 };
	int first = 1;
	jb_put(&b, "{");
	for (struct gw_pool *p = g->pools; p; p = p->next) {
		if (p->kind != kind)
			continue;
		jb_put(&b, "%s", first ? "" : ",");
		jb_str(&b, p->name);
		jb_put(&b, ":%d", p->count);
		first = 0;
	}
	jb_put(&b, "}");
	gw_reply(s, 200, b.p);
	free(b.p);
}

static void api_status(struct gw *g, struct stream *s)
{
	int pools = 0, workers = 0, forwards = 0;
	for (struct gw_pool *p = g->pools; p; p = p->next) {
		pools++;
		workers += p->count;
	}
	for (struct gw_forward *f = g->forwards; f; f = f->next)
		forwards++;
	char body[512];
	snprintf(body, sizeof body,
		 "{\"name\":\"portway-gateway\",\"version\":\"%s\",\"uptime\":%.0f,\"pools\":%d,\"idle_workers\":%d,"
		 "\"port_forwards\":%d,\"requests\":%llu,\"tunnels\":%llu,\"no_worker\":%llu,\"agents_accepted\":%llu,"
		 "\"agents_refused\":%llu,\"connections\":%ld}",
		 PACKAGE_VERSION, ev_now(g->w->loop) - g->started, pools, workers, forwards,
		 (unsigned long long)g->stats.requests, (unsigned long long)g->stats.tunnels,
		 (unsigned long long)g->stats.no_worker, (unsigned long long)g->stats.agents_accepted,
		 (unsigned long long)g->stats.agents_refused, workers_connection_total());
	gw_reply(s, 200, body);
}

static void api_forwards_list(struct gw *g, struct stream *s)
{
	struct jbuf b = { xmalloc(256), 0, 256 };
	jb_put(&b, "[");
	for (struct gw_forward *f = g->forwards; f; f = f->next) {
		jb_put(&b, "%s{\"listen_port\":%d,\"tunnel_host\":", f == g->forwards ? "" : ",", f->pf.listen_port);
		jb_str(&b, f->pf.tunnel_host);
		jb_put(&b, ",\"target_port\":%d,\"active\":%s}", f->pf.target_port, f->pf.active ? "true" : "false");
	}
	jb_put(&b, "]");
	gw_reply(s, 200, b.p);
	free(b.p);
}

/* ---- database jobs ---- */

enum api_job_kind { JOB_PF_ADD, JOB_PF_DELETE, JOB_TUNNEL_ADD, JOB_TUNNEL_DELETE, JOB_TUNNEL_LIST };

struct api_job {
	enum api_job_kind kind;
	struct gw *g;
	struct stream *s;
	struct port_forward pf;
	char name[STORE_NAME_MAX + 1];
	char secret[STORE_SECRET_LEN + 1];
	int rc;
	struct jbuf list;
};

static void list_each(void *ctx, const char *name, long created_at)
{
	struct api_job *j = ctx;
	jb_put(&j->list, "%s{\"subdomain\":", j->list.len > 1 ? "," : "");
	jb_str(&j->list, name);
	jb_put(&j->list, ",\"created_at\":%ld}", created_at);
}

static void api_job_run(struct store *st, void *arg)
{
	struct api_job *j = arg;
	switch (j->kind) {
	case JOB_PF_ADD: j->rc = store_pf_add(st, &j->pf); break;
	case JOB_PF_DELETE: j->rc = store_pf_delete(st, j->pf.listen_port); break;
	case JOB_TUNNEL_ADD: j->rc = store_tunnel_add(st, j->name, j->secret); break;
	case JOB_TUNNEL_DELETE: j->rc = store_tunnel_del(st, j->name); break;
	case JOB_TUNNEL_LIST:
		j->list.p = xmalloc(256);
		j->list.cap = 256;
		j->list.len = 0;
		jb_put(&j->list, "[");
		j->rc = store_tunnel_list(st, list_each, j) < 0 ? -2 : 0;
		jb_put(&j->list, "]");
		break;
	}
}

static void api_job_done(void *arg)
{
	struct api_job *j = arg;
	char body[512];
	switch (j->kind) {
	case JOB_PF_ADD:
		if (j->rc == 0) {
			snprintf(body, sizeof body, "{\"added\":%d}", j->pf.listen_port);
			gw_reply(j->s, 200, body);
			break;
		}
		gw_forward_close(j->g, j->pf.listen_port); /* opened before the write: undo */
		reply_error(j->s, j->rc == -1 ? 409 : 500, j->rc == -1 ? "listen_port exists" : "database error");
		break;
	case JOB_PF_DELETE:
		if (j->rc == 0) {
			gw_forward_close(j->g, j->pf.listen_port);
			snprintf(body, sizeof body, "{\"deleted\":%d}", j->pf.listen_port);
			gw_reply(j->s, 200, body);
		} else {
			reply_error(j->s, j->rc == -1 ? 404 : 500, j->rc == -1 ? "no such port forward" : "database error");
		}
		break;
	case JOB_TUNNEL_ADD:
		if (j->rc == 0) {
			size_t n = (size_t)snprintf(body, sizeof body, "{\"subdomain\":");
			n = json_escape(body, sizeof body, n, j->name);
			snprintf(body + n, sizeof body - n, ",\"secret\":\"%s\"}", j->secret);
			log_info("gateway: tunnel %s added through the API", j->name);
			gw_reply(j->s, 200, body);
		} else {
			reply_error(j->s, j->rc == -1 ? 409 : 500, j->rc == -1 ? "tunnel exists" : "database error");
		}
		break;
	case JOB_TUNNEL_DELETE:
		if (j->rc == 0)
			gw_reply(j->s, 200, "{\"deleted\":true}");
		else
			reply_error(j->s, j->rc == -1 ? 404 : 500, j->rc == -1 ? "no such tunnel" : "database error");
		break;
	case JOB_TUNNEL_LIST:
		if (j->rc == 0)
			gw_reply(j->s, 200, j->list.p);
		else
			reply_error(j->s, 500, "database error");
		free(j->list.p);
		break;
	}
	free(j);
}

static struct api_job *job_new(struct gw *g, struct stream *s, enum api_job_kind kind)
{
	struct api_job *j = xcalloc(1, sizeof *j);
	j->kind = kind;
	j->g = g;
	j->s = s;
	return j;
}

static void api_forwards_add(struct gw *g, struct stream *s, const struct json_object *o)
{
	long lp, tp;
	const struct json_field *host = json_get(o, "tunnel_host"), *active = json_get(o, "active");
	struct port_forward pf = { 0 };
	char err[256];
	if (json_get_int(o, "listen_port", 1, 65535, &lp) < 0 || json_get_int(o, "target_port", 1, 65535, &tp) < 0 ||
	    !host || host->type != JSON_STRING || !store_name_valid(host->str) ||
	    (active && active->type != JSON_BOOL && active->type != JSON_NUMBER)) {
		reply_error(s, 400, "expected {\"listen_port\": 1-65535, \"tunnel_host\": a tunnel name, "
				    "\"target_port\": 1-65535, \"active\": true|false}");
		return;
	}
	pf.listen_port = (int)lp;
	pf.target_port = (int)tp;
	pf.active = !active || (active->type == JSON_BOOL ? active->b : active->num != 0);
	snprintf(pf.tunnel_host, sizeof pf.tunnel_host, "%s", host->str);
	for (struct gw_forward *f = g->forwards; f; f = f->next)
		if (f->pf.listen_port == pf.listen_port) {
			reply_error(s, 409, "listen_port exists");
			return;
		}
	if (gw_forward_open(g, &pf, err, sizeof err) < 0) {
		reply_error(s, 409, err);
		return;
	}
	struct api_job *j = job_new(g, s, JOB_PF_ADD);
	j->pf = pf;
	store_async(g->store, g->w, api_job_run, api_job_done, j);
}

static void api_forwards_delete(struct gw *g, struct stream *s, const struct json_object *o)
{
	long lp;
	if (json_get_int(o, "listen_port", 1, 65535, &lp) < 0) {
		reply_error(s, 400, "expected {\"listen_port\": 1-65535}");
		return;
	}
	struct api_job *j = job_new(g, s, JOB_PF_DELETE);
	j->pf.listen_port = (int)lp;
	store_async(g->store, g->w, api_job_run, api_job_done, j);
}

static void api_tunnel_change(struct gw *g, struct stream *s, const struct json_object *o, enum api_job_kind kind)
{
	const struct json_field *name = json_get(o, "subdomain");
	if (!name || name->type != JSON_STRING || !store_name_valid(name->str)) {
		reply_error(s, 400, "expected {\"subdomain\": a name of 1-63 a-z, 0-9 and -}");
		return;
	}
	struct api_job *j = job_new(g, s, kind);
	snprintf(j->name, sizeof j->name, "%s", name->str);
	store_async(g->store, g->w, api_job_run, api_job_done, j);
}

void gw_api_serve(struct gw *g, struct stream *s, const struct http_request *req, const char *body, size_t body_len)
{
	char path[128];
	struct json_object o;
	size_t plen = req->target.len;
	const char *q = memchr(req->target.p, '?', plen);
	if (q)
		plen = (size_t)(q - req->target.p);
	if (plen >= sizeof path) {
		reply_error(s, 404, "not found");
		return;
	}
	memcpy(path, req->target.p, plen);
	path[plen] = 0;
	if (!api_allowed(g, s, req)) {
		log_info("gateway: API %s from %s refused", path, s->peer);
		if (g->o.token[0] && !strncmp(path, "/dashboard", 10)) {
			static const char msg[] = "the dashboard needs the API token as the password\n";
			gw_reply_typed(s, 401, "text/plain; charset=utf-8",
				       "WWW-Authenticate: Basic realm=\"portway gateway\"\r\n", msg, sizeof msg - 1);
		} else if (g->o.token[0])
			reply_error(s, 401, "a valid Authorization: Bearer token is required");
		else
			reply_error(s, 403, "this address may not use the API (configure a token)");
		return;
	}
	int get = http_slice_eq(req->method, "GET"), post = http_slice_eq(req->method, "POST");
	static const char *const gets[] = { "/status", "/relay/pools", "/tunnel/pools", "/portforwards/list",
					    "/tunnels/list", "/dashboard", "/dashboard.json" };
	static const char *const posts[] = { "/portforwards/add", "/portforwards/delete", "/tunnels/add",
					     "/tunnels/delete" };
	for (size_t i = 0; i < sizeof gets / sizeof *gets; i++)
		if (!strcmp(path, gets[i]) && !get) {
			reply_error(s, 405, "use GET");
			return;
		}
	for (size_t i = 0; i < sizeof posts / sizeof *posts; i++)
		if (!strcmp(path, posts[i])) {
			if (!post) {
				reply_error(s, 405, "use POST");
				return;
			}
			if (json_object_parse(body, body_len, &o) < 0) {
				reply_error(s, 400, "the body is not a JSON object");
				return;
			}
		}
	if (!strcmp(path, "/status"))
		api_status(g, s);
	else if (!strcmp(path, "/dashboard"))
		gw_dashboard_page(g, s);
	else if (!strcmp(path, "/dashboard.json"))
		gw_dashboard_json(g, s);
	else if (!strcmp(path, "/relay/pools"))
		api_pools(g, s, ONIFAST_RELAY);
	else if (!strcmp(path, "/tunnel/pools"))
		api_pools(g, s, ONIFAST_TUNNEL);
	else if (!strcmp(path, "/portforwards/list"))
		api_forwards_list(g, s);
	else if (!strcmp(path, "/portforwards/add"))
		api_forwards_add(g, s, &o);
	else if (!strcmp(path, "/portforwards/delete"))
		api_forwards_delete(g, s, &o);
	else if (!strcmp(path, "/tunnels/list"))
		store_async(g->store, g->w, api_job_run, api_job_done, job_new(g, s, JOB_TUNNEL_LIST));
	else if (!strcmp(path, "/tunnels/add"))
		api_tunnel_change(g, s, &o, JOB_TUNNEL_ADD);
	else if (!strcmp(path, "/tunnels/delete"))
		api_tunnel_change(g, s, &o, JOB_TUNNEL_DELETE);
	else
		reply_error(s, 404, "not found");
}

/* ---- static port forward listeners ---- */

static int forward_accepted(struct acceptor *a, struct stream *s)
{
	struct gw_forward *f = a->data;
	service_ref(f->g->svc);
	s->svc = f->g->svc;
	gw_dispatch(f->g, s, f->pf.tunnel_host, ONIFAST_TUNNEL, f->pf.target_port, NULL, 0, 0);
	return 0;
}

int gw_forward_open(struct gw *g, const struct port_forward *pf, char *err, size_t errlen)
{
	struct gw_forward *f = xcalloc(1, sizeof *f);
	f->pf = *pf;
	f->g = g;
	f->fd = -1;
	if (pf->active) {
		f->fd = listen_socket(g->o.forward_bind, (uint16_t)pf->listen_port, SOCK_STREAM, 0, err, errlen);
		if (f->fd < 0) {
			free(f);
			return -1;
		}
		acceptor_init(&f->acc, g->w, f->fd, forward_accepted, f, "gateway: port forward :%d", pf->listen_port);
		acceptor_start(&f->acc);
		log_info("gateway: port forward :%d -> %s:%d", pf->listen_port, pf->tunnel_host, pf->target_port);
	}
	f->next = g->forwards;
	g->forwards = f;
	return 0;
}

int gw_forward_close(struct gw *g, int listen_port)
{
	for (struct gw_forward **pp = &g->forwards; *pp; pp = &(*pp)->next) {
		struct gw_forward *f = *pp;
		if (f->pf.listen_port != listen_port)
			continue;
		*pp = f->next;
		if (f->fd >= 0) {
			acceptor_stop(&f->acc);
			close(f->fd);
			log_info("gateway: port forward :%d removed", listen_port);
		}
		free(f);
		return 0;
	}
	return -1;
}
