/*
 * connector http2 (GOST's connector/http2): over the handle the http2 dialer
 * delivers, a CONNECT request on the node's shared HTTP/2 connection:
 * :authority host:port, Proxy-Authorization Basic from the node's auth, the
 * `header` fields. A 200 answer makes the request's stream the connection
 * (its DATA frames both ways); anything else fails the dial (407/403
 * EACCES, 504 ETIMEDOUT, else ECONNREFUSED). Over any other dialer it fails,
 * as GOST's does ("wrong connection type"). `timeout` bounds the wait for
 * the answer (default none: the dial's own timeout).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"
#include "src/conf/model.h"
#include "src/core/log.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/svc/h2_mux.h"

struct http2c_opts {
	double timeout;
	char *auth;                 /* "Basic ..." or NULL */
	struct h2_nv *hdr;
	size_t n_hdr;
};

struct http2c_req {
	struct node *n;
	stream_done_cb cb;
	void *ctx;
	struct worker *w;
	ev_timer timer;
	int answered, timed_out;
	char target[300];
};

static int status_errno(int status)
{
	if (status == 407 || status == 403)
		return EACCES;
	if (status == 504 || status == 408)
		return ETIMEDOUT;
	return ECONNREFUSED;
}

static void http2c_response(void *ctx, struct stream *st, int status, int err)
{
	struct http2c_req *r = ctx;
	ev_timer_stop(r->w->loop, &r->timer);
	if (r->timed_out) {
		stream_close(st);
		free(r);
		return;
	}
	if (st && status != 200) {
		log_info("node %s (%s): CONNECT %s refused: %d", r->n->name ? r->n->name : "-", r->n->addr, r->target,
			 status);
		stream_close(st);
		st = NULL;
		err = status_errno(status);
	} else if (!st) {
		log_info("node %s (%s): CONNECT %s failed: %s", r->n->name ? r->n->name : "-", r->n->addr, r->target,
			 strerror(err ? err : ECONNRESET));
	}
	r->cb(r->ctx, st, st ? 0 : (err ? err : ECONNRESET));
	free(r);
}

static void http2c_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct http2c_req *r = t->data;
	(void)loop;
	(void)revents;
	log_info("node %s (%s): no answer to CONNECT %s", r->n->name ? r->n->name : "-", r->n->addr, r->target);
	r->timed_out = 1; /* the answer, when it comes, is dropped */
	r->cb(r->ctx, NULL, ETIMEDOUT);
}

struct http2c_fail {
	stream_done_cb cb;
	void *ctx;
	int err;
};

static void http2c_fail_run(void *arg)
{
	struct http2c_fail *f = arg;
	f->cb(f->ctx, NULL, f->err);
	free(f);
}

static void http2c_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			   stream_done_cb cb, void *ctx)
{
	struct http2c_opts *o = n->connector.state;
	struct h2_session *sess = h2_handle_session(lower);
	int err = 0;
	if (dgram) {
		log_warn("node %s: the http2 connector carries TCP only", n->name ? n->name : "-");
		err = EPROTONOSUPPORT;
	} else if (!sess) {
		log_warn("node %s: http2: wrong connection type (the http2 connector needs the http2 dialer)",
			 n->name ? n->name : "-");
		err = EPROTO;
	}
	if (!err) {
		struct http2c_req *r = xcalloc(1, sizeof *r);
		struct h2_nv nv[3 + o->n_hdr];
		size_t k = 0;
		r->n = n;
		r->cb = cb;
		r->ctx = ctx;
		r->w = lower->w;
		hostport_format(r->target, sizeof r->target, host, port);
		nv[k++] = (struct h2_nv){ ":method", "CONNECT" };
		nv[k++] = (struct h2_nv){ ":authority", r->target };
		if (o->auth)
			nv[k++] = (struct h2_nv){ "proxy-authorization", o->auth };
		for (size_t i = 0; i < o->n_hdr; i++)
			nv[k++] = o->hdr[i];
		ev_timer_init(&r->timer, http2c_timeout, o->timeout, 0);
		r->timer.data = r;
		if (h2_session_request(sess, nv, k, http2c_response, r) == 0) {
			if (o->timeout > 0)
				ev_timer_start(r->w->loop, &r->timer);
			stream_close(lower);
			return;
		}
		free(r);
		err = ECONNRESET;
	}
	struct http2c_fail *f = xcalloc(1, sizeof *f);
	f->cb = cb;
	f->ctx = ctx;
	f->err = err;
	worker_defer(lower->w, http2c_fail_run, f);
	stream_close(lower);
}

static void http2c_fini(struct node *n)
{
	struct http2c_opts *o = n->connector.state;
	if (!o)
		return;
	free(o->auth);
	h2_headers_free(o->hdr, o->n_hdr);
	free(o);
}

static int http2c_init(struct node *n, struct cfg_err *e)
{
	struct http2c_opts *o = xcalloc(1, sizeof *o);
	n->connector.state = o;
	if (md_duration(n->connector.md, "timeout", 0, &o->timeout, e) < 0)
		return -1;
	if (h2_headers_parse(n->connector.md, "header", &o->hdr, &o->n_hdr, e) < 0)
		return -1;
	if (n->connector.auth.username) {
		char basic[400];
		if (http_basic_auth_encode(n->connector.auth.username, n->connector.auth.password, basic,
					   sizeof basic) < 0)
			return cfg_error(e, n->md, "connector.auth",
					 "node %s: the user name may not contain ':' and both must be short", n->name);
		o->auth = xstrdup(basic);
	}
	return 0;
}

const struct connector_type connector_http2 = {
	.name = "http2",
	.init = http2c_init,
	.fini = http2c_fini,
	.connect = http2c_connect,
	.sends_auth = 1,
};
