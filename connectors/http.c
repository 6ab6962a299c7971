/*
 * connector http: CONNECT host:port through an upstream HTTP proxy, with
 * Basic credentials from the node's auth. A 2xx answer hands the stream on
 * (bytes after the answer are pushed back in front of it); anything else
 * fails the dial with an errno value the handler can report (407 EACCES,
 * 504 ETIMEDOUT, otherwise ECONNREFUSED). The codec is proto/http.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/proxy.h"
#include "http.h"
#include "log.h"
#include "model.h"
#include "util.h"

struct httpc_opts {
	double timeout;             /* for the proxy's answer */
	char auth[512];             /* "Proxy-Authorization: Basic ...\r\n" or "" */
	const char *user_agent;     /* points into the config tree, or a literal */
};

/* One CONNECT in flight; owns lower until it is handed on or closed. */
struct httpc_req {
	struct node *n;
	struct stream *lower;
	struct pbuf buf;            /* the answer so far */
	stream_done_cb cb;
	void *ctx;
	ev_timer timer;
};

static void req_finish(struct httpc_req *r, int err)
{
	struct stream *s = r->lower;
	stream_done_cb cb = r->cb;
	void *ctx = r->ctx;
	ev_timer_stop(s->w->loop, &r->timer);
	pbuf_free(&r->buf);
	free(r);
	if (err) {
		stream_close(s);
		s = NULL;
	} else {
		stream_read_stop(s);
		stream_set_callbacks(s, NULL, NULL, NULL);
	}
	cb(ctx, s, err);
}

static int status_errno(int status)
{
	if (status == 407 || status == 403)
		return EACCES;
	if (status == 504 || status == 408)
		return ETIMEDOUT;
	return ECONNREFUSED;
}

static void req_read(struct stream *s, const char *data, size_t len)
{
	struct httpc_req *r = s->ud;
	struct http_response resp;
	if (!len) {
		log_info("node %s: %s closed the connection before answering CONNECT", r->n->name, r->n->addr);
		req_finish(r, ECONNRESET);
		return;
	}
	pbuf_append(&r->buf, data, len);
	ssize_t hl = http_response_parse(r->buf.p, r->buf.len, 0, &resp);
	if (hl == 0)
		return;
	if (hl < 0) {
		log_info("node %s: bad answer to CONNECT: %s", r->n->name, http_error_str((int)hl));
		req_finish(r, EPROTO);
		return;
	}
	if (resp.status < 200 || resp.status > 299) {
		log_info("node %s (%s): CONNECT refused: %d %.*s", r->n->name, r->n->addr, resp.status,
			 (int)resp.reason.len, resp.reason.p);
		req_finish(r, status_errno(resp.status));
		return;
	}
	/* The tunnel may already carry the target's first bytes. */
	if ((size_t)hl < r->buf.len)
		stream_unread(s, r->buf.p + hl, r->buf.len - (size_t)hl);
	req_finish(r, 0);
}

static void req_event(struct stream *s, enum stream_event ev, int err)
{
	if (ev == STREAM_EV_ERROR)
		req_finish(s->ud, err ? err : ECONNRESET);
}

static void req_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct httpc_req *r = t->data;
	(void)loop;
	(void)revents;
	log_info("node %s (%s): no answer to CONNECT", r->n->name, r->n->addr);
	req_finish(r, ETIMEDOUT);
}

static void httpc_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			  stream_done_cb cb, void *ctx)
{
	struct httpc_opts *o = n->connector.state;
	char target[300], head[1200];
	if (dgram) {
		log_warn("node %s: the http connector carries TCP only", n->name);
		stream_close(lower);
		cb(ctx, NULL, EPROTONOSUPPORT);
		return;
	}
	hostport_format(target, sizeof target, host, port);
	int len = snprintf(head, sizeof head,
			   "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%sUser-Agent: %s\r\nProxy-Connection: keep-alive\r\n\r\n",
			   target, target, o->auth, o->user_agent);
	struct httpc_req *r = xcalloc(1, sizeof *r);
	r->n = n;
	r->lower = lower;
	r->cb = cb;
	r->ctx = ctx;
	ev_timer_init(&r->timer, req_timeout, o->timeout, 0);
	r->timer.data = r;
	ev_timer_start(lower->w->loop, &r->timer);
	stream_set_callbacks(lower, req_read, req_event, r);
	if (stream_write(lower, head, (size_t)len) < 0) {
		req_finish(r, ECONNRESET);
		return;
	}
	stream_read_start(lower);
}

static int httpc_init(struct node *n, struct cfg_err *e)
{
	struct httpc_opts *o = xcalloc(1, sizeof *o);
	char basic[400];
	n->connector.state = o;
	if (md_duration(n->connector.md, "connectTimeout", 10, &o->timeout, e) < 0)
		return -1;
	if (o->timeout <= 0)
		o->timeout = 10;
	o->user_agent = md_str(n->connector.md, "userAgent", "portway");
	if (strpbrk(o->user_agent, "\r\n"))
		return cfg_error(e, n->connector.md, "connector.metadata.userAgent", "must be one line");
	if (n->connector.auth.username) {
		if (http_basic_auth_encode(n->connector.auth.username, n->connector.auth.password, basic,
					   sizeof basic) < 0)
			return cfg_error(e, n->md, "connector.auth",
					 "node %s: the user name may not contain ':' and both must be short", n->name);
		snprintf(o->auth, sizeof o->auth, "Proxy-Authorization: %s\r\n", basic);
	}
	return 0;
}

static void httpc_fini(struct node *n) { free(n->connector.state); }

const struct connector_type connector_http = {
	.name = "http",
	.init = httpc_init,
	.fini = httpc_fini,
	.connect = httpc_connect,
};
