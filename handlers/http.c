/*
 * handler http: an HTTP/1.x proxy.
 *  - CONNECT host:port: answer 200 once the router reached the target, then
 *    join the two streams with a pipe.
 *  - Absolute-URI requests (GET http://host/path): forward each request to
 *    its host in origin form, hop-by-hop fields removed, and relay the
 *    response; one client connection may carry requests to several hosts
 *    (keep-alive), and the upstream connection is reused while the host stays
 *    the same.
 * Proxy-Authorization: Basic is checked against the service's users (407);
 * a malformed head gets 400 (431 when too large), an unreachable target 502
 * and a dial timeout 504. All parsing is in proto/http.c.
 *
 * The same engine serves the sni handler's plain HTTP (http_origin_init): as
 * GOST's sniffer, requests in origin form go to the host their Host field
 * names (port 80 unless given), no proxy authentication, and what a proxy
 * would answer with an error status closes the connection instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "handlers/proxy.h"
#include "src/svc/service.h"
#include "src/core/util.h"

#define LINGER_SECONDS 2.0

struct http_opts {
	struct proxy_opts p;
	size_t max_head;            /* request and response heads */
	int keepalive;              /* reuse upstream connections */
	const char *proxy_agent;    /* points into the config tree, or a literal */
	const char *realm;
	int origin;                 /* the sni handler's: route by Host, errors close */
};

enum hc_state {
	HC_HEAD,                    /* waiting for (the rest of) a request head */
	HC_DIAL,                    /* the router is reaching the target */
	HC_FORWARD,                 /* request sent: relaying its body and the response */
	HC_LINGER,                  /* last response queued; reading until the client closes */
};

enum resp_phase {
	RESP_IDLE,                  /* no request in flight on the upstream */
	RESP_HEAD,                  /* collecting the response head */
	RESP_BODY,                  /* relaying the response body */
};

/* One client connection. Owns everything below until the streams go to a pipe. */
struct http_conn {
	struct service *svc;
	const struct http_opts *o;
	enum hc_state state;
	struct stream *client;      /* owned until handed to a pipe */
	struct stream *up;          /* owned; NULL when none */
	char up_host[256];          /* what up is connected to */
	uint16_t up_port;
	int up_reusable;
	struct proxy_dial *dial;    /* in flight, or NULL */
	char user[256];             /* the user the last request authenticated as (GOST's client id) */
	struct buf in;             /* client bytes not handled yet */
	struct buf out;            /* the rewritten request head, until the dial completes */
	struct buf resp;           /* upstream bytes of a response head */
	ev_timer timer;
	double timer_secs;
	/* the request in flight */
	char host[256];
	uint16_t port;
	char method[16];            /* for the response framing (HEAD) and logs */
	int is_connect, upgrade, client_ka, client_eof;
	int version_minor;          /* the client's; responses carry it (RFC 9110 6.2) */
	struct http_body req_body;
	struct http_chunked req_chunked;
	int req_done;
	/* its response */
	enum resp_phase rphase;
	struct http_body resp_body;
	struct http_chunked resp_chunked;
	int resp_started;           /* a final response head went to the client */
};

static void client_read(struct stream *s, const char *data, size_t len);
static void client_event(struct stream *s, enum stream_event ev, int err);
static void up_read(struct stream *s, const char *data, size_t len);
static void up_event(struct stream *s, enum stream_event ev, int err);
static void process_heads(struct http_conn *c);

/* ---- lifetime ---- */

static void arm(struct http_conn *c, double secs)
{
	struct ev_loop *loop = c->client->w->loop;
	c->timer_secs = secs;
	if (secs <= 0) {
		ev_timer_stop(loop, &c->timer);
		return;
	}
	c->timer.repeat = secs;
	ev_timer_again(loop, &c->timer);
}

/* Activity restarts the current timeout. */
static void touch(struct http_conn *c)
{
	if (c->timer_secs > 0)
		ev_timer_again(c->client->w->loop, &c->timer);
}

static void up_close(struct http_conn *c)
{
	stream_close(c->up);
	c->up = NULL;
	c->up_reusable = 0;
	c->rphase = RESP_IDLE;
}

static void conn_free(struct http_conn *c, int close_client)
{
	ev_timer_stop(c->client->w->loop, &c->timer);
	proxy_dial_cancel(c->dial);
	up_close(c);
	if (close_client)
		stream_close(c->client);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->resp);
	free(c);
}

/* Stop writing, read what the client still sends, close on its EOF or after a moment:
 * closing with unread input would reset the connection and lose the response. */
static void linger(struct http_conn *c)
{
	c->state = HC_LINGER;
	proxy_dial_cancel(c->dial);
	c->dial = NULL;
	up_close(c);
	stream_shutdown(c->client);
	stream_read_start(c->client);
	arm(c, LINGER_SECONDS);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents);

static void send_error(struct http_conn *c, int code, const char *extra)
{
	static const struct { int code; const char *reason; } reasons[] = {
		{ 400, "Bad Request" }, { 403, "Forbidden" }, { 407, "Proxy Authentication Required" },
		{ 408, "Request Timeout" }, { 431, "Request Header Fields Too Large" }, { 502, "Bad Gateway" },
		{ 504, "Gateway Timeout" },
	};
	const char *reason = "Error";
	char buf[1024];
	if (c->o->origin) {
		conn_free(c, 1); /* GOST's sniffer answers nothing: the connection closes */
		return;
	}
	for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
		if (reasons[i].code == code)
			reason = reasons[i].reason;
	char body[128];
	int bl = snprintf(body, sizeof body, "%d %s\n", code, reason);
	int n = snprintf(buf, sizeof buf,
			 "HTTP/1.1 %d %s\r\nProxy-Agent: %s\r\n%sContent-Type: text/plain\r\n"
			 "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
			 code, reason, c->o->proxy_agent, extra ? extra : "", bl, body);
	stream_write(c->client, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
	linger(c);
}

static int dial_error_status(int err) { return err == ETIMEDOUT ? 504 : 502; }

/* ---- requests ---- */

/* 0 when the request may go on; otherwise the answer was sent. */
static int check_auth(struct http_conn *c, const struct http_request *req)
{
	const struct http_header *h;
	char buf[600], extra[300];
	const char *user = NULL, *pass = NULL;
	if (c->o->origin || !service_auth_required(c->svc))
		return 0;
	h = http_header_find(req->headers, req->nheaders, "Proxy-Authorization");
	if (h && http_basic_auth_decode(h->value, buf, sizeof buf, &user, &pass) == 0 &&
	    service_auth_check(c->svc, user, pass)) {
		snprintf(c->user, sizeof c->user, "%s", user);
		return 0;
	}
	log_info("service %s: %s: proxy authentication %s%s", c->svc->name, c->client->peer,
		 user ? "failed for user " : "missing", user ? user : "");
	snprintf(extra, sizeof extra, "Proxy-Authenticate: Basic realm=\"%s\"\r\n", c->o->realm);
	send_error(c, 407, extra);
	return -1;
}

static void slice_copy(char *out, size_t size, struct http_slice s)
{
	size_t n = s.len < size - 1 ? s.len : size - 1;
	memcpy(out, s.p, n);
	out[n] = 0;
}

static void out_slice(struct buf *b, struct http_slice s) { buf_append(b, s.p, s.len); }
static void out_str(struct buf *b, const char *s) { buf_append(b, s, strlen(s)); }

/* Header fields to pass on: end-to-end ones, plus the framing we relay as received. */
static int keep_field(const struct http_header *f, const struct http_header *all, size_t n, int upgrade)
{
	if (http_slice_case_eq(f->name, "Transfer-Encoding"))
		return 1;
	if (upgrade && http_slice_case_eq(f->name, "Upgrade"))
		return 1;
	return !http_is_hop_by_hop(f->name, all, n);
}

/* The request as the origin server must see it: origin-form target, Host from the URI. */
static int build_forward_head(struct http_conn *c, const struct http_request *req, const struct http_uri *u)
{
	struct buf *b = &c->out;
	char line[64];
	out_slice(b, req->method);
	out_str(b, " ");
	out_slice(b, u->path);
	if (u->has_query) {
		out_str(b, "?");
		out_slice(b, u->query);
	}
	snprintf(line, sizeof line, " HTTP/1.%d\r\nHost: ", req->version_minor);
	out_str(b, line);
	if (memchr(u->host.p, ':', u->host.len)) {
		out_str(b, "[");
		out_slice(b, u->host);
		out_str(b, "]");
	} else {
		out_slice(b, u->host);
	}
	if (u->port_explicit) {
		snprintf(line, sizeof line, ":%u", u->port);
		out_str(b, line);
	}
	out_str(b, "\r\n");
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct http_header *f = &req->headers[i];
		if (http_slice_case_eq(f->name, "Host") || !keep_field(f, req->headers, req->nheaders, c->upgrade))
			continue;
		out_slice(b, f->name);
		out_str(b, ": ");
		out_slice(b, f->value);
		out_str(b, "\r\n");
	}
	out_str(b, c->upgrade ? "Connection: Upgrade\r\n\r\n" : "\r\n");
	return 0;
}

/* Origin mode, a request already in origin form: its target and Host go on as they came. */
static void build_origin_head(struct http_conn *c, const struct http_request *req)
{
	struct buf *b = &c->out;
	char line[32];
	out_slice(b, req->method);
	out_str(b, " ");
	out_slice(b, req->target);
	snprintf(line, sizeof line, " HTTP/1.%d\r\n", req->version_minor);
	out_str(b, line);
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct http_header *f = &req->headers[i];
		if (!keep_field(f, req->headers, req->nheaders, c->upgrade))
			continue;
		out_slice(b, f->name);
		out_str(b, ": ");
		out_slice(b, f->value);
		out_str(b, "\r\n");
	}
	out_str(b, c->upgrade ? "Connection: Upgrade\r\n\r\n" : "\r\n");
}

static void dial_connect_done(void *ctx, struct stream *remote, int err);
static void dial_forward_done(void *ctx, struct stream *remote, int err);
static void start_forward(struct http_conn *c);

static void start_dial(struct http_conn *c, stream_done_cb cb)
{
	c->state = HC_DIAL;
	arm(c, 0);
	stream_read_stop(c->client);
	c->dial = proxy_dial_start(c->client->w, c->client->peer, c->user, c->svc, &c->o->p, c->host, c->port, 0, cb, c);
}

/* The target of the request; 0 or -1 after answering 400. */
static int request_target(struct http_conn *c, const struct http_request *req, struct http_uri *u)
{
	struct http_slice host;
	u->host.len = 0;
	if (c->o->origin) {
		/* GOST's sniffer: the request's Host (an absolute URI's host first), port 80 by default */
		if (c->is_connect || http_request_authority(req, 80, &host, &c->port) < 0 ||
		    (req->form == HTTP_TARGET_ABSOLUTE && http_uri_parse(req->target.p, req->target.len, u) < 0))
			goto bad;
	} else if (c->is_connect) {
		if (req->form != HTTP_TARGET_AUTHORITY || http_request_authority(req, 0, &host, &c->port) < 0)
			goto bad;
	} else {
		/* Origin-form would make the proxy a web server dialing whatever Host says,
		 * itself included; only absolute http URIs are proxied. */
		if (req->form != HTTP_TARGET_ABSOLUTE || http_uri_parse(req->target.p, req->target.len, u) < 0 ||
		    !http_slice_case_eq(u->scheme, "http") || !u->host.len)
			goto bad;
		host = u->host;
		c->port = u->port ? u->port : 80;
	}
	if (host.len >= sizeof c->host)
		goto bad;
	slice_copy(c->host, sizeof c->host, host);
	return 0;
bad:
	log_info("service %s: %s: bad request target %.*s", c->svc->name, c->client->peer, (int)req->target.len,
		 req->target.p);
	send_error(c, 400, NULL);
	return -1;
}

/* A complete head of hl bytes at the front of c->in. */
static void handle_request(struct http_conn *c, const struct http_request *req, size_t hl)
{
	struct http_uri u;
	if (check_auth(c, req) < 0)
		return;
	slice_copy(c->method, sizeof c->method, req->method);
	c->is_connect = http_slice_eq(req->method, "CONNECT");
	if (request_target(c, req, &u) < 0)
		return;
	if (proxy_refused(c->svc, c->host, c->port)) {
		log_info("service %s: %s: %s %s:%u refused by bypass", c->svc->name, c->client->peer, c->method,
			 c->host, c->port);
		send_error(c, 403, NULL);
		return;
	}
	if (c->is_connect) {
		buf_consume(&c->in, hl);
		up_close(c);
		start_dial(c, dial_connect_done);
		return;
	}
	if (http_request_body(req, &c->req_body) < 0) {
		send_error(c, 400, NULL);
		return;
	}
	c->upgrade = http_header_has_token(req->headers, req->nheaders, "Connection", "upgrade") &&
		     http_header_find(req->headers, req->nheaders, "Upgrade");
	c->client_ka = http_keep_alive(req->version_minor, req->headers, req->nheaders) ||
		       http_header_has_token(req->headers, req->nheaders, "Proxy-Connection", "keep-alive");
	c->version_minor = req->version_minor;
	http_chunked_init(&c->req_chunked);
	c->req_done = 0;
	c->resp_started = 0;
	c->out.len = 0;
	if (c->o->origin && req->form != HTTP_TARGET_ABSOLUTE)
		build_origin_head(c, req);
	else
		build_forward_head(c, req, &u);
	buf_consume(&c->in, hl);
	if (c->up && c->up_reusable && c->up_port == c->port && !strcasecmp(c->up_host, c->host)) {
		start_forward(c);
		return;
	}
	up_close(c);
	start_dial(c, dial_forward_done);
}

static void process_heads(struct http_conn *c)
{
	struct http_request req;
	ssize_t n = http_request_parse(c->in.p, c->in.len, c->o->max_head, &req);
	if (n == 0) {
		stream_read_start(c->client);
		return;
	}
	if (n < 0) {
		log_info("service %s: %s: bad request: %s", c->svc->name, c->client->peer, http_error_str((int)n));
		send_error(c, n == HTTP_ERR_TOO_LARGE || n == HTTP_ERR_TOO_MANY_HEADERS ? 431 : 400, NULL);
		return;
	}
	handle_request(c, &req, (size_t)n);
}

/* ---- CONNECT ---- */

static void dial_connect_done(void *ctx, struct stream *remote, int err)
{
	struct http_conn *c = ctx;
	char ok[256];
	c->dial = NULL;
	if (err) {
		log_info("service %s: %s: CONNECT %s:%u: %s", c->svc->name, c->client->peer, c->host, c->port,
			 strerror(err));
		send_error(c, dial_error_status(err), NULL);
		return;
	}
	log_info("service %s: %s: CONNECT %s:%u", c->svc->name, c->client->peer, c->host, c->port);
	int n = snprintf(ok, sizeof ok, "HTTP/1.1 200 Connection established\r\nProxy-Agent: %s\r\n\r\n",
			 c->o->proxy_agent);
	stream_write(c->client, ok, (size_t)n);
	/* Bytes the client sent right behind the head (a TLS ClientHello) go first. */
	if (c->in.len)
		stream_write(remote, c->in.p, c->in.len);
	struct stream *client = c->client;
	double idle = c->o->p.idle_timeout;
	conn_free(c, 0);
	pipe_start(client, remote, idle, NULL, NULL);
}

/* ---- forwarding ---- */

static void dial_forward_done(void *ctx, struct stream *remote, int err)
{
	struct http_conn *c = ctx;
	c->dial = NULL;
	if (err) {
		log_info("service %s: %s: %s http://%s:%u: %s", c->svc->name, c->client->peer, c->method, c->host,
			 c->port, strerror(err));
		send_error(c, dial_error_status(err), NULL);
		return;
	}
	c->up = remote;
	snprintf(c->up_host, sizeof c->up_host, "%s", c->host);
	c->up_port = c->port;
	stream_set_callbacks(remote, up_read, up_event, c);
	start_forward(c);
}

/* Relay what the client has of the request body; the rest of c->in is the next request. */
static void pump_request_body(struct http_conn *c)
{
	while (!c->req_done) {
		size_t n = 0;
		switch (c->req_body.kind) {
		case HTTP_BODY_LENGTH:
			n = c->in.len < c->req_body.length ? c->in.len : (size_t)c->req_body.length;
			c->req_body.length -= n;
			c->req_done = c->req_body.length == 0;
			break;
		case HTTP_BODY_CHUNKED: {
			ssize_t k = http_chunked_scan(&c->req_chunked, c->in.p, c->in.len);
			if (k < 0) {
				log_info("service %s: %s: malformed chunked request body", c->svc->name, c->client->peer);
				if (c->resp_started)
					conn_free(c, 1);
				else
					send_error(c, 400, NULL);
				return;
			}
			n = (size_t)k;
			c->req_done = http_chunked_done(&c->req_chunked);
			break;
		}
		default:
			c->req_done = 1;
		}
		if (n) {
			stream_write(c->up, c->in.p, n);
			buf_consume(&c->in, n);
		}
		if (!c->in.len)
			break;
	}
	if (c->req_done || c->up->wqueued > STREAM_HIGH_WATER)
		stream_read_stop(c->client);
	else
		stream_read_start(c->client);
}

static void start_forward(struct http_conn *c)
{
	log_info("service %s: %s: %s http://%s:%u", c->svc->name, c->client->peer, c->method, c->host, c->port);
	c->state = HC_FORWARD;
	c->rphase = RESP_HEAD;
	c->resp.len = 0;
	stream_write(c->up, c->out.p, c->out.len);
	buf_free(&c->out);
	stream_read_start(c->up);
	arm(c, c->o->p.read_timeout);
	pump_request_body(c);
}

static void response_done(struct http_conn *c)
{
	c->rphase = RESP_IDLE;
	if (!c->up_reusable || !c->o->keepalive)
		up_close(c);
	if (!c->client_ka || !c->req_done || c->client_eof) {
		linger(c);
		return;
	}
	c->state = HC_HEAD;
	arm(c, c->o->p.read_timeout);
	if (c->in.len) {
		process_heads(c);
		return;
	}
	buf_free(&c->in); /* an idle keep-alive connection holds no buffer */
	stream_read_start(c->client);
}

/* Response body bytes; done when its framing says so. head, when given, is the response
 * head still to be sent: the first body bytes go out in the same write. */
static void pump_response_body(struct http_conn *c, const char *data, size_t len, struct buf *head)
{
	size_t n = len;
	int done = 0;
	switch (c->resp_body.kind) {
	case HTTP_BODY_LENGTH:
		n = len < c->resp_body.length ? len : (size_t)c->resp_body.length;
		c->resp_body.length -= n;
		done = c->resp_body.length == 0;
		break;
	case HTTP_BODY_CHUNKED: {
		ssize_t k = http_chunked_scan(&c->resp_chunked, data, len);
		if (k < 0) {
			log_info("service %s: %s: malformed chunked response from %s:%u", c->svc->name,
				 c->client->peer, c->host, c->port);
			conn_free(c, 1);
			return;
		}
		n = (size_t)k;
		done = http_chunked_done(&c->resp_chunked);
		break;
	}
	case HTTP_BODY_UNTIL_CLOSE:
		break;
	default:
		n = 0;
		done = 1;
	}
	if (head) {
		buf_append(head, data, n);
		stream_write(c->client, head->p, head->len);
	} else if (n) {
		stream_write(c->client, data, n);
	}
	if (n < len)
		c->up_reusable = 0; /* bytes after the response: the server is out of step */
	if (done) {
		response_done(c);
		return;
	}
	if (c->client->wqueued > STREAM_HIGH_WATER)
		stream_read_stop(c->up);
}

/* The response head as the client must see it, into b. */
static void build_response_head(struct http_conn *c, const struct http_response *r, int close_after, struct buf *b)
{
	char line[64];
	int upgrade = r->status == 101;
	snprintf(line, sizeof line, "HTTP/1.%d %03d ", c->version_minor, r->status);
	out_str(b, line);
	out_slice(b, r->reason);
	out_str(b, "\r\n");
	for (size_t i = 0; i < r->nheaders; i++) {
		const struct http_header *f = &r->headers[i];
		if (!keep_field(f, r->headers, r->nheaders, upgrade))
			continue;
		out_slice(b, f->name);
		out_str(b, ": ");
		out_slice(b, f->value);
		out_str(b, "\r\n");
	}
	if (upgrade)
		out_str(b, "Connection: Upgrade\r\n");
	else if (r->status >= 200)
		out_str(b, close_after ? "Connection: close\r\n" : "Connection: keep-alive\r\n");
	out_str(b, "\r\n");
}

/* 101: from here on both sides talk their new protocol through a pipe. */
static void start_upgrade_tunnel(struct http_conn *c)
{
	struct stream *client = c->client, *up = c->up;
	if (c->resp.len)
		stream_write(client, c->resp.p, c->resp.len);
	if (c->in.len)
		stream_write(up, c->in.p, c->in.len);
	double idle = c->o->p.idle_timeout;
	c->up = NULL;
	conn_free(c, 0);
	pipe_start(client, up, idle, NULL, NULL);
}

static void bad_gateway(struct http_conn *c, const char *why)
{
	log_info("service %s: %s: %s:%u: %s", c->svc->name, c->client->peer, c->host, c->port, why);
	if (c->resp_started)
		conn_free(c, 1);
	else
		send_error(c, 502, NULL);
}

static void parse_response(struct http_conn *c)
{
	struct http_response r;
	struct http_slice method = { c->method, strlen(c->method) };
	for (;;) {
		ssize_t n = http_response_parse(c->resp.p, c->resp.len, c->o->max_head, &r);
		if (n == 0)
			return;
		if (n < 0) {
			bad_gateway(c, http_error_str((int)n));
			return;
		}
		if (r.status >= 100 && r.status < 200 && r.status != 101) {
			struct buf b = { 0 };
			build_response_head(c, &r, 0, &b); /* interim (100 Continue): more heads follow */
			stream_write(c->client, b.p, b.len);
			buf_free(&b);
			buf_consume(&c->resp, (size_t)n);
			continue;
		}
		if (http_response_body(&r, method, &c->resp_body) < 0) {
			bad_gateway(c, "bad Content-Length in the response");
			return;
		}
		if (r.status == 101 && !c->upgrade) {
			bad_gateway(c, "101 to a request that asked for no upgrade");
			return;
		}
		int until_close = c->resp_body.kind == HTTP_BODY_UNTIL_CLOSE;
		c->up_reusable = !until_close && http_keep_alive(r.version_minor, r.headers, r.nheaders);
		if (until_close || !c->req_done)
			c->client_ka = 0;
		struct buf head = { 0 };
		build_response_head(c, &r, !c->client_ka, &head);
		c->resp_started = 1;
		buf_consume(&c->resp, (size_t)n);
		if (r.status == 101) {
			stream_write(c->client, head.p, head.len);
			buf_free(&head);
			start_upgrade_tunnel(c);
			return;
		}
		c->rphase = RESP_BODY;
		http_chunked_init(&c->resp_chunked);
		arm(c, c->o->p.idle_timeout);
		struct buf rest = c->resp;
		memset(&c->resp, 0, sizeof c->resp);
		pump_response_body(c, rest.p ? rest.p : "", rest.len, &head);
		buf_free(&rest);
		buf_free(&head);
		return;
	}
}

static void up_eof(struct http_conn *c)
{
	if (c->rphase == RESP_BODY && c->resp_body.kind == HTTP_BODY_UNTIL_CLOSE) {
		c->up_reusable = 0;
		response_done(c);
		return;
	}
	if (c->rphase == RESP_HEAD) {
		bad_gateway(c, "connection closed before a response");
		return;
	}
	log_info("service %s: %s: %s:%u closed in the middle of a response", c->svc->name, c->client->peer,
		 c->host, c->port);
	conn_free(c, 1);
}

static void up_read(struct stream *s, const char *data, size_t len)
{
	struct http_conn *c = s->ud;
	if (c->rphase == RESP_IDLE) {
		up_close(c); /* an idle upstream spoke or closed: it cannot be reused */
		return;
	}
	touch(c);
	stream_account_transfer(c->client, 0, len); /* relayed to the client (metrics) */
	if (!len) {
		up_eof(c);
		return;
	}
	if (c->rphase == RESP_BODY) {
		pump_response_body(c, data, len, NULL);
		return;
	}
	if (c->resp.len + len > c->o->max_head + WORKER_SCRATCH_SIZE) {
		bad_gateway(c, "response head too large");
		return;
	}
	buf_append(&c->resp, data, len);
	parse_response(c);
}

static void up_event(struct stream *s, enum stream_event ev, int err)
{
	struct http_conn *c = s->ud;
	if (ev == STREAM_EV_DRAINED) {
		if (c->state == HC_FORWARD && !c->req_done && !c->client_eof)
			stream_read_start(c->client);
		return;
	}
	if (c->rphase == RESP_IDLE) {
		up_close(c);
		return;
	}
	bad_gateway(c, strerror(err));
}

/* ---- the client side ---- */

static void client_eof(struct http_conn *c)
{
	c->client_eof = 1;
	if (c->state == HC_FORWARD && c->req_done) {
		c->client_ka = 0; /* the response still goes out, then we close */
		return;
	}
	conn_free(c, 1);
}

static void client_read(struct stream *s, const char *data, size_t len)
{
	struct http_conn *c = s->ud;
	if (!len) {
		client_eof(c);
		return;
	}
	stream_account_transfer(s, len, 0); /* heads and bodies the handler reads itself (metrics) */
	switch (c->state) {
	case HC_LINGER:
		return;
	case HC_HEAD:
		if (c->in.len + len > c->o->max_head + WORKER_SCRATCH_SIZE) {
			send_error(c, 431, NULL);
			return;
		}
		buf_append(&c->in, data, len);
		process_heads(c);
		return;
	case HC_DIAL:
		buf_append(&c->in, data, len);
		stream_read_stop(s);
		return;
	case HC_FORWARD:
		touch(c);
		buf_append(&c->in, data, len);
		if (c->req_done) {
			stream_read_stop(s); /* a pipelined request: it waits for this response */
			return;
		}
		pump_request_body(c);
		return;
	}
}

static void client_event(struct stream *s, enum stream_event ev, int err)
{
	struct http_conn *c = s->ud;
	(void)err;
	if (ev == STREAM_EV_ERROR) {
		conn_free(c, 1);
		return;
	}
	if (c->state == HC_FORWARD && c->up && c->rphase != RESP_IDLE && !c->up->reading)
		stream_read_start(c->up);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct http_conn *c = t->data;
	(void)loop;
	(void)revents;
	switch (c->state) {
	case HC_HEAD:
		if (c->in.len)
			send_error(c, 408, NULL);
		else
			conn_free(c, 1);
		return;
	case HC_FORWARD:
		if (c->rphase == RESP_HEAD && !c->resp_started) {
			log_info("service %s: %s: no response from %s:%u", c->svc->name, c->client->peer, c->host,
				 c->port);
			send_error(c, 504, NULL);
			return;
		}
		conn_free(c, 1);
		return;
	default:
		conn_free(c, 1);
	}
}

/* ---- the type ---- */

int http_proxy_init(struct service *svc, void **state, struct cfg_err *e)
{
	struct http_opts *o = xcalloc(1, sizeof *o);
	long max_head;
	*state = o;
	if (proxy_opts_parse(svc, &o->p, e) < 0 ||
	    md_int(svc->handler.md, "maxHeaderBytes", HTTP_HEAD_MAX_DEFAULT, 1024, 1 << 20, &max_head, e) < 0 ||
	    md_bool(svc->handler.md, "keepalive", 1, &o->keepalive, e) < 0)
		return -1;
	o->max_head = (size_t)max_head;
	o->proxy_agent = md_str(svc->handler.md, "proxyAgent", "portway");
	o->realm = md_str(svc->handler.md, "authBasicRealm", "portway");
	if (strpbrk(o->proxy_agent, "\r\n") || strpbrk(o->realm, "\r\n\""))
		return cfg_error(e, svc->handler.md, "handler.metadata", "proxyAgent and authBasicRealm must be one line");
	return 0;
}

int http_origin_init(struct service *svc, void **state, struct cfg_err *e)
{
	if (http_proxy_init(svc, state, e) < 0)
		return -1;
	struct http_opts *o = *state;
	o->origin = 1;
	/* GOST's sni handler: readTimeout, 15 s when unset (or not positive) */
	if (!cnode_get(svc->handler.md, "readTimeout") && !cnode_get(svc->md, "readTimeout"))
		o->p.read_timeout = 15;
	if (o->p.read_timeout <= 0)
		o->p.read_timeout = 15;
	return 0;
}

void http_proxy_free(void *state) { free(state); }

void http_proxy_serve(struct service *svc, void *state, struct stream *client)
{
	struct http_conn *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->o = state;
	c->client = client;
	c->state = HC_HEAD;
	ev_init(&c->timer, timer_cb);
	c->timer.data = c;
	stream_set_callbacks(client, client_read, client_event, c);
	arm(c, c->o->p.read_timeout);
	stream_read_start(client);
}

static int http_init(struct service *svc, struct cfg_err *e) { return http_proxy_init(svc, &svc->handler.state, e); }
static void http_fini(struct service *svc) { http_proxy_free(svc->handler.state); }
static void http_handle(struct service *svc, struct stream *client)
{
	http_proxy_serve(svc, svc->handler.state, client);
}

const struct handler_type handler_http = {
	.name = "http",
	.init = http_init,
	.fini = http_fini,
	.handle = http_handle,
	.checks_users = 1,
};
