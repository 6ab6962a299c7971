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

#include "connectors/handshake.h"
#include "proto/http.h"
#include "src/core/log.h"
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/core/util.h"

struct httpc_opts {
	double timeout;             /* for the proxy's answer */
	char auth[512];             /* "Proxy-Authorization: Basic ...\r\n" or "" */
	const char *user_agent;     /* points into the config tree, or a literal */
};

static int status_errno(int status)
{
	if (status == 407 || status == 403)
		return EACCES;
	if (status == 504 || status == 408)
		return ETIMEDOUT;
	return ECONNREFUSED;
}

static int connect_reply(struct handshake *h)
{
	struct http_response resp;
	ssize_t hl = http_response_parse(h->buf.p, h->buf.len, 0, &resp);
	if (hl == 0)
		return 0;
	if (hl < 0) {
		log_info("node %s: bad answer to CONNECT: %s", h->n->name, http_error_str((int)hl));
		return -EPROTO;
	}
	if (resp.status < 200 || resp.status > 299) {
		log_info("node %s (%s): CONNECT refused: %d %.*s", h->n->name, h->n->addr, resp.status,
			 (int)resp.reason.len, resp.reason.p);
		return -status_errno(resp.status);
	}
	/* What follows the answer may already be the target's first bytes: it stays in the buffer. */
	buf_consume(&h->buf, (size_t)hl);
	return 1;
}

static const struct handshake_proto connect_proto = {
	.reply = connect_reply,
	.timeout_msg = "no answer to CONNECT",
	.eof_msg = "closed the connection before answering CONNECT",
};

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
	handshake_start(&connect_proto, n, lower, o->timeout, head, (size_t)len, NULL, cb, ctx);
}

static int httpc_init(struct node *n, struct cfg_err *e)
{
	struct httpc_opts *o = xcalloc(1, sizeof *o);
	char basic[400];
	n->connector.state = o;
	if (handshake_timeout_parse(n, &o->timeout, e) < 0)
		return -1;
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
	.sends_auth = 1,
};
