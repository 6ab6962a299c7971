/*
 * The GoDoxy agent HTTPS API on the stream handler's tls port (see
 * stream_api.h): HTTP/1.1 with keep-alive, one request at a time; a health
 * check runs asynchronously (src/probe.h) while the connection waits.
 */
#include "src/godoxy/stream_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "proto/http.h"
#include "proto/json.h"
#include "src/core/log.h"
#include "src/svc/health.h"
#include "src/svc/service.h"
#include "src/core/util.h"

#define API_BASE "/godoxy/agent"
#define API_HEAD_MAX 16384
#define API_CHECK_TIMEOUT_DEFAULT 5.0   /* GoDoxy's HealthCheckTimeoutDefault */
#define API_CHECK_TIMEOUT_MAX 60.0

int stream_api_init(struct service *svc, struct stream_api_opts *o, struct cfg_err *e)
{
	const struct cnode *md = svc->handler.md;
	char host[256] = "";
	const char *name = md_str(md, "agentName", NULL);
	const char *version = md_str(md, "agentVersion", "v" PACKAGE_VERSION);
	const char *runtime = md_str(md, "agentRuntime", "docker");

	if (!name || !*name) {
		if (gethostname(host, sizeof host - 1) < 0 || !*host)
			snprintf(host, sizeof host, "portway");
		name = host;
	}
	if (strlen(name) >= sizeof o->name || strlen(version) >= sizeof o->version)
		return cfg_error(e, cnode_get(md, strlen(name) >= sizeof o->name ? "agentName" : "agentVersion"),
				 "agentName", "too long");
	if (strcmp(runtime, "docker") && strcmp(runtime, "podman"))
		return cfg_error(e, cnode_get(md, "agentRuntime"), "agentRuntime", "expected docker or podman, got \"%s\"",
				 runtime);
	snprintf(o->name, sizeof o->name, "%s", name);
	snprintf(o->version, sizeof o->version, "%s", version);
	snprintf(o->runtime, sizeof o->runtime, "%s", runtime);
	if (md_duration(md, "apiTimeout", 60, &o->read_timeout, e) < 0)
		return -1;
	if (o->read_timeout <= 0)
		o->read_timeout = 60;
	return 0;
}

enum api_state {
	API_READING,    /* waiting for (the rest of) a request head */
	API_CHECKING,   /* a health check runs; reading is paused */
};

struct api_conn {
	struct service *svc;        /* a reference: o must outlive a check that ends after the client */
	const struct stream_api_opts *o;
	struct stream *client;      /* owned; NULL once gone while a check runs */
	enum api_state state;
	char *buf;                  /* received bytes not yet handled, owned */
	size_t len, cap;
	ev_timer timer;             /* request head / keep-alive deadline */
	int keep_alive;             /* of the request being answered */
	int head;                   /* it is a HEAD request: no body in the answer */
};

static void api_free(struct api_conn *a)
{
	if (a->client)
		ev_timer_stop(a->client->w->loop, &a->timer);
	stream_close(a->client);
	service_unref(a->svc);
	free(a->buf);
	free(a);
}

/* Go's net/http gives these texts. */
static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	default: return "Error";
	}
}

static void api_reply(struct api_conn *a, int status, const char *ctype, const char *body)
{
	char msg[2048];
	size_t blen = strlen(body);
	/* Head and body in one write: one TLS record for a small answer. */
	int n = snprintf(msg, sizeof msg,
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n%s\r\n%s", status,
			 status_text(status), ctype,
			 strncmp(ctype, "text/plain", 10) ? "" : "X-Content-Type-Options: nosniff\r\n", blen,
			 a->keep_alive ? "" : "Connection: close\r\n", a->head ? "" : body);
	if (n < 0 || (size_t)n >= sizeof msg || stream_write(a->client, msg, (size_t)n) < 0)
		a->keep_alive = 0;
}

static void api_text(struct api_conn *a, int status, const char *msg)
{
	char body[600];
	snprintf(body, sizeof body, "%s\n", msg);
	api_reply(a, status, "text/plain; charset=utf-8", body);
}

static void api_health_json(struct api_conn *a, const struct health_result *r)
{
	char body[1024];
	size_t n = (size_t)snprintf(body, sizeof body, "{\"healthy\":%s,\"detail\":", r->healthy ? "true" : "false");
	n = json_escape(body, sizeof body, n, r->detail);
	snprintf(body + n, sizeof body - n, ",\"latency\":%lld}\n", (long long)(r->latency * 1e9));
	api_reply(a, 200, "application/json", body);
}

static void api_info(struct api_conn *a)
{
	char body[1024];
	size_t n = (size_t)snprintf(body, sizeof body, "{\"version\":");
	n = json_escape(body, sizeof body, n, a->o->version);
	n += (size_t)snprintf(body + n, sizeof body - n, ",\"name\":");
	n = json_escape(body, sizeof body, n, a->o->name);
	n += (size_t)snprintf(body + n, sizeof body - n, ",\"runtime\":");
	n = json_escape(body, sizeof body, n, a->o->runtime);
	snprintf(body + n, sizeof body - n, ",\"supports_tcp_stream\":true,\"supports_udp_stream\":true}\n");
	api_reply(a, 200, "application/json", body);
}

static void api_process(struct api_conn *a);

/* After an answer: 0 to go on reading requests, or -1 once the connection is closing (a is freed). */
static int api_answered(struct api_conn *a)
{
	if (!a->keep_alive) {
		struct stream *c = a->client;
		a->client = NULL;
		ev_timer_stop(c->w->loop, &a->timer);
		stream_close_after_flush(c);
		api_free(a);
		return -1;
	}
	a->state = API_READING;
	ev_timer_again(a->client->w->loop, &a->timer);
	return 0;
}

/* A check answered: resume reading and handle what was pipelined meanwhile. */
static void api_next(struct api_conn *a)
{
	if (api_answered(a) < 0)
		return;
	stream_read_start(a->client);
	api_process(a);
}

static void api_check_done(void *ctx, const struct health_result *r)
{
	struct api_conn *a = ctx;
	if (!a->client) {
		api_free(a);
		return;
	}
	if (r->failed)
		api_text(a, 502, r->detail);
	else
		api_health_json(a, r);
	api_next(a);
}

/* Go's url.Query semantics; "" when absent. */
static void query_get(struct http_slice q, const char *key, char *out, size_t size)
{
	if (http_query_get(q, key, out, size) < 0)
		out[0] = 0;
}

static double check_timeout(struct http_slice q)
{
	char v[32];
	query_get(q, "timeout", v, sizeof v);
	char *end;
	long long ms = strtoll(v, &end, 10);
	if (!*v || *end || ms <= 0)
		return API_CHECK_TIMEOUT_DEFAULT;
	return ms / 1000.0 > API_CHECK_TIMEOUT_MAX ? API_CHECK_TIMEOUT_MAX : ms / 1000.0;
}

/* An answer that needs no check: healthy false with detail. */
static void api_unhealthy(struct api_conn *a, const char *detail)
{
	struct health_result r = { 0 };
	snprintf(r.detail, sizeof r.detail, "%s", detail);
	api_health_json(a, &r);
}

/* GET /godoxy/agent/health?scheme=&host=&port=&path=&timeout= (GoDoxy's CheckHealth). Returns 1 when a
 * check was started (the answer comes later), 0 when answered. */
static int api_health(struct api_conn *a, struct http_slice q)
{
	char scheme[32], host[300], port[16], path[1024], hp[340], h[256];
	uint16_t pnum;
	double timeout = check_timeout(q);
	struct worker *w = a->client->w;

	query_get(q, "scheme", scheme, sizeof scheme);
	query_get(q, "host", host, sizeof host);
	query_get(q, "port", port, sizeof port);
	query_get(q, "path", path, sizeof path);
	if (!*scheme) {
		api_text(a, 400, "missing scheme");
		return 0;
	}
	if (!strcmp(scheme, "fileserver")) {
		if (!*path)
			api_text(a, 400, "missing path");
		else
			api_unhealthy(a, "fileserver checks are not supported by portway");
		return 0;
	}
	int http = !strcmp(scheme, "http"), https = !strcmp(scheme, "https");
	int tcp = !strncmp(scheme, "tcp", 3) && (!scheme[3] || !strcmp(scheme + 3, "4") || !strcmp(scheme + 3, "6"));
	int udp = !strncmp(scheme, "udp", 3) && (!scheme[3] || !strcmp(scheme + 3, "4") || !strcmp(scheme + 3, "6"));
	if (!http && !https && !tcp && !udp && strcmp(scheme, "h2c")) {
		api_unhealthy(a, "");
		return 0;
	}
	if (!*host) {
		api_text(a, 400, "missing host");
		return 0;
	}
	if (!strcmp(scheme, "h2c")) {
		api_unhealthy(a, "h2c checks are not supported by portway");
		return 0;
	}
	if (http || https) {
		struct http_slice hs;
		if (http_host_port_split(host, strlen(host), https ? 443 : 80, &hs, &pnum) < 0) {
			char d[400];
			snprintf(d, sizeof d, "invalid host \"%s\"", host);
			api_unhealthy(a, d);
			return 0;
		}
		snprintf(h, sizeof h, "%.*s", (int)hs.len, hs.p);
		a->state = API_CHECKING;
		health_check_http(w, h, pnum, https, host, path, timeout, api_check_done, a);
		return 1;
	}
	if (*port && strchr(host, ':')) {
		api_text(a, 400, "port and host with port cannot both be provided");
		return 0;
	}
	if (*port)
		snprintf(hp, sizeof hp, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
	else
		snprintf(hp, sizeof hp, "%s", host);
	if (hostport_split(hp, h, sizeof h, &pnum) < 0 || !pnum) {
		char d[400];
		snprintf(d, sizeof d, "dial %s: address %s: missing port in address", scheme, hp);
		api_text(a, 502, d);
		return 0;
	}
	a->state = API_CHECKING;
	health_check_dial(w, *h ? h : "127.0.0.1", pnum, udp, timeout, api_check_done, a);
	return 1;
}

/* Answers one request. Returns 1 when the answer comes later (a check runs). */
static int api_route(struct api_conn *a, const struct http_request *req)
{
	struct http_slice t = req->target, q = http_target_query(req->target);
	size_t plen = 0, base = strlen(API_BASE);
	while (plen < t.len && t.p[plen] != '?' && t.p[plen] != '#')
		plen++;
	int get = http_slice_eq(req->method, "GET") || a->head;

	if (req->form != HTTP_TARGET_ORIGIN || plen < base || memcmp(t.p, API_BASE, base) != 0 ||
	    (plen > base && t.p[base] != '/')) {
		api_text(a, 404, "404 page not found (portway does not proxy the Docker socket)");
		return 0;
	}
	struct http_slice sub = { t.p + base, plen - base };
	if (http_slice_eq(sub, "/info")) {
		api_info(a);
		return 0;
	}
	static const char *const gets[] = { "/health", "/version", "/name", "/runtime" };
	int known = 0;
	for (size_t i = 0; i < sizeof gets / sizeof *gets; i++)
		known |= http_slice_eq(sub, gets[i]);
	if (!known) {
		api_text(a, 404, "404 page not found");
		return 0;
	}
	if (!get) {
		api_text(a, 405, "Method Not Allowed");
		return 0;
	}
	if (http_slice_eq(sub, "/health"))
		return api_health(a, q);
	const char *text = http_slice_eq(sub, "/version") ? a->o->version
			   : http_slice_eq(sub, "/name")  ? a->o->name
							  : a->o->runtime;
	api_reply(a, 200, "text/plain; charset=utf-8", text);
	return 0;
}

/* Handle every complete request in the buffer, in order, until one has to wait. */
static void api_process(struct api_conn *a)
{
	while (a->state == API_READING && a->len) {
		struct http_request req;
		struct http_body body;
		ssize_t n = http_request_parse(a->buf, a->len, API_HEAD_MAX, &req);
		if (n == 0)
			return;
		if (n < 0) {
			a->keep_alive = 0;
			a->head = 0;
			if (n == HTTP_ERR_TOO_LARGE || n == HTTP_ERR_TOO_MANY_HEADERS)
				api_text(a, 431, "431 Request Header Fields Too Large");
			else
				api_text(a, 400, "400 Bad Request");
			log_debug("service %s: %s: agent API: %s", a->svc->name, a->client->peer, http_error_str((int)n));
			api_answered(a);
			return;
		}
		a->head = http_slice_eq(req.method, "HEAD");
		a->keep_alive = http_keep_alive(req.version_minor, req.headers, req.nheaders);
		/* Bodies are not read: answer, then close, so no body byte is taken for a request. */
		if (http_request_body(&req, &body) < 0 ||
		    (body.kind != HTTP_BODY_NONE && !(body.kind == HTTP_BODY_LENGTH && body.length == 0)))
			a->keep_alive = 0;
		log_debug("service %s: %s: agent API %.*s %.*s", a->svc->name, a->client->peer, (int)req.method.len,
			  req.method.p, (int)req.target.len, req.target.p);
		ev_timer_stop(a->client->w->loop, &a->timer);
		int later = api_route(a, &req);
		/* The request's bytes are no longer needed: the check copied what it uses. */
		memmove(a->buf, a->buf + n, a->len - (size_t)n);
		a->len -= (size_t)n;
		if (later) {
			stream_read_stop(a->client);
			return;
		}
		if (api_answered(a) < 0)
			return;
	}
}

static void api_read(struct stream *s, const char *data, size_t len)
{
	struct api_conn *a = s->ud;
	if (!len) {
		/* The client is done sending; what was answered still goes out. */
		a->client = NULL;
		ev_timer_stop(s->w->loop, &a->timer);
		stream_close_after_flush(s);
		api_free(a);
		return;
	}
	if (a->len + len > API_HEAD_MAX * 2) {
		/* More than a head's worth unparsed: the parser has answered or will; stop buffering. */
		len = a->len < API_HEAD_MAX * 2 ? API_HEAD_MAX * 2 - a->len : 0;
		if (!len) {
			api_free(a);
			return;
		}
	}
	if (a->len + len > a->cap) {
		a->cap = (a->len + len) * 2;
		a->buf = xrealloc(a->buf, a->cap);
	}
	memcpy(a->buf + a->len, data, len);
	a->len += len;
	api_process(a);
}

static void api_event(struct stream *s, enum stream_event ev, int err)
{
	struct api_conn *a = s->ud;
	(void)err;
	if (ev != STREAM_EV_ERROR)
		return;
	if (a->state == API_CHECKING) {
		/* The check still holds a; it frees it when it reports. */
		ev_timer_stop(s->w->loop, &a->timer);
		stream_close(a->client);
		a->client = NULL;
		return;
	}
	api_free(a);
}

static void api_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct api_conn *a = t->data;
	(void)loop;
	(void)revents;
	if (a->state == API_READING)
		api_free(a);
}

void stream_api_serve(struct service *svc, const struct stream_api_opts *o, struct stream *client)
{
	struct api_conn *a = xcalloc(1, sizeof *a);
	service_ref(svc);
	a->svc = svc;
	a->o = o;
	a->client = client;
	a->state = API_READING;
	ev_init(&a->timer, api_timeout);
	a->timer.repeat = o->read_timeout;
	a->timer.data = a;
	ev_timer_again(client->w->loop, &a->timer);
	log_debug("service %s: %s: agent API (ALPN \"%s\")", svc->name, client->peer, client->alpn);
	stream_set_callbacks(client, api_read, api_event, a);
	stream_read_start(client);
}
