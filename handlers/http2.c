/*
 * handler http2 (GOST's handler/http2): the HTTP/2 proxy behind the http2
 * listener. Each request is one HTTP/2 stream:
 *  - CONNECT host:port: once the router reached the target, 200 and the
 *    stream's DATA frames are the tunnel (END_STREAM is the half close).
 *  - other methods (GOST forwards them as HTTP/1.1 requests): not
 *    implemented, answered 501.
 * Proxy-Authorization: Basic is checked against the service's users: 407
 * with Proxy-Authenticate (realm authBasicRealm); probeResist and knock are
 * refused by the configuration loader, as for the http handler. The
 * bypass refuses with 403, a failed dial answers 503, as GOST does. The
 * `header` (or http.header) fields go out with the answers after the auth
 * and bypass checks. readTimeout (read.timeout) is the tunnel's idle timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers/proxy.h"
#include "proto/http.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "src/core/util.h"
#include "src/svc/h2_mux.h"
#include "src/svc/service.h"

struct http2_opts {
	struct proxy_opts p;
	char *realm;
	struct h2_nv *hdr;
	size_t n_hdr;
};

struct h2req {
	struct service *svc;
	const struct http2_opts *o;
	struct stream *client;      /* owned */
	struct proxy_dial *dial;
	char host[256];
	uint16_t port;
	char user[256];             /* the user it authenticated as (GOST's client id); "": none */
};

static void req_free(struct h2req *r, int close_client)
{
	proxy_dial_cancel(r->dial);
	if (close_client)
		stream_close(r->client);
	free(r);
}

/* An answer without a body, then the stream is done. extra: the `header` fields too. */
static void answer(struct h2req *r, int status, const struct h2_nv *nv, size_t n, int extra)
{
	const struct http2_opts *o = r->o;
	struct h2_nv all[n + (extra ? o->n_hdr : 0) + 1];
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		all[k++] = nv[i];
	for (size_t i = 0; extra && i < o->n_hdr; i++)
		all[k++] = o->hdr[i];
	h2_stream_respond(r->client, status, all, k, 1);
	req_free(r, 1);
}

static void client_read(struct stream *s, const char *data, size_t len)
{
	(void)s;
	(void)data;
	(void)len;
}

static void client_event(struct stream *s, enum stream_event ev, int err)
{
	struct h2req *r = s->ud;
	if (ev == STREAM_EV_ERROR) {
		log_debug("service %s: %s: CONNECT %s:%u: the client went away (%s)", r->svc->name, s->peer, r->host,
			  r->port, strerror(err));
		req_free(r, 1);
	}
}

static void dialed(void *ctx, struct stream *remote, int err)
{
	struct h2req *r = ctx;
	r->dial = NULL;
	if (err) {
		log_info("service %s: %s: CONNECT %s:%u: %s", r->svc->name, r->client->peer, r->host, r->port,
			 strerror(err));
		answer(r, 503, NULL, 0, 1);
		return;
	}
	log_info("service %s: %s: CONNECT %s:%u", r->svc->name, r->client->peer, r->host, r->port);
	if (h2_stream_respond(r->client, 200, r->o->hdr, r->o->n_hdr, 0) < 0) {
		stream_close(remote);
		req_free(r, 1);
		return;
	}
	struct stream *client = r->client;
	double idle = r->o->p.idle_timeout;
	req_free(r, 0);
	pipe_start(client, remote, idle, NULL, NULL);
}

/* 0: the request may go on; otherwise answered. */
static int check_auth(struct h2req *r, const struct h2_request *req)
{
	char buf[600];
	const char *user = NULL, *pass = NULL, *value = NULL;
	if (!service_auth_required(r->svc))
		return 0;
	for (size_t i = 0; i < req->n_headers; i++)
		if (!strcmp(req->headers[i].name, "proxy-authorization"))
			value = req->headers[i].value;
	if (value && http_basic_auth_decode((struct http_slice){ value, strlen(value) }, buf, sizeof buf, &user, &pass) == 0 &&
	    service_auth_check(r->svc, user, pass)) {
		snprintf(r->user, sizeof r->user, "%s", user);
		return 0;
	}
	log_info("service %s: %s: proxy authentication %s%s", r->svc->name, r->client->peer,
		 user ? "failed for user " : "missing", user ? user : "");
	char challenge[300];
	snprintf(challenge, sizeof challenge, "Basic realm=\"%s\"", r->o->realm);
	struct h2_nv nv[] = { { "proxy-authenticate", challenge } };
	answer(r, 407, nv, 1, 0);
	return -1;
}

static void http2_handle(struct service *svc, struct stream *client)
{
	const struct http2_opts *o = svc->handler.state;
	const struct h2_request *req = h2_stream_request(client);
	if (!req) {
		log_warn("service %s: %s: http2: wrong connection type (the http2 handler needs the http2 listener)",
			 svc->name, client->peer);
		stream_close(client);
		return;
	}
	struct h2req *r = xcalloc(1, sizeof *r);
	r->svc = svc;
	r->o = o;
	r->client = client;
	stream_set_callbacks(client, client_read, client_event, r);

	/* :authority, else Host; no port: 443 (the listener is TLS, as Go's r.TLS says) or 80 for http */
	const char *authority = req->authority;
	for (size_t i = 0; !*authority && i < req->n_headers; i++)
		if (!strcmp(req->headers[i].name, "host"))
			authority = req->headers[i].value;
	uint16_t port = 0;
	if (hostport_split(authority, r->host, sizeof r->host, &port) < 0) {
		const char *a = authority;
		size_t l = strlen(a);
		if (l >= 2 && a[0] == '[' && a[l - 1] == ']') {
			a++;
			l -= 2;
		}
		snprintf(r->host, sizeof r->host, "%.*s", (int)l, a);
		port = 443;
	}
	r->port = port;
	if (!r->host[0] || !r->port) {
		log_info("service %s: %s: %s without a target", svc->name, client->peer, req->method);
		answer(r, 400, NULL, 0, 0);
		return;
	}
	if (check_auth(r, req) < 0)
		return;
	if (proxy_refused(svc, r->host, r->port)) {
		log_info("service %s: %s: %s %s:%u refused by bypass", svc->name, client->peer, req->method, r->host,
			 r->port);
		answer(r, 403, NULL, 0, 0);
		return;
	}
	if (strcmp(req->method, "CONNECT")) {
		log_info("service %s: %s: %s %s%s: forwarding plain requests is not implemented", svc->name,
			 client->peer, req->method, authority, req->path);
		answer(r, 501, NULL, 0, 1);
		return;
	}
	r->dial = proxy_dial_start(client->w, client->peer, r->user, svc, &o->p, r->host, r->port, 0, dialed, r);
}

static void http2_fini(struct service *svc)
{
	struct http2_opts *o = svc->handler.state;
	if (!o)
		return;
	free(o->realm);
	h2_headers_free(o->hdr, o->n_hdr);
	free(o);
}

static int http2_init(struct service *svc, struct cfg_err *e)
{
	struct http2_opts *o = xcalloc(1, sizeof *o);
	const struct cnode *md = svc->handler.md;
	svc->handler.state = o;
	if (proxy_opts_parse(svc, &o->p, e) < 0)
		return -1;
	/* GOST's readTimeout here is the tunnel's idle read timeout, default none */
	const char *rt = cnode_get(md, "readTimeout") ? "readTimeout" : "read.timeout";
	if (md_duration(md, rt, 0, &o->p.idle_timeout, e) < 0)
		return -1;
	o->realm = xstrdup(md_str(md, "authBasicRealm", "portway"));
	if (strpbrk(o->realm, "\"\r\n"))
		return cfg_error(e, cnode_get(md, "authBasicRealm"), "authBasicRealm", "may not hold quotes or line breaks");
	const char *hk = cnode_get(md, "http.header") ? "http.header" : "header";
	if (h2_headers_parse(md, hk, &o->hdr, &o->n_hdr, e) < 0)
		return -1;
	return 0;
}

const struct handler_type handler_http2 = {
	.name = "http2",
	.init = http2_init,
	.fini = http2_fini,
	.handle = http2_handle,
	.checks_users = 1,
};
