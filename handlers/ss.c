/*
 * handler ss: a Shadowsocks AEAD server (GOST's handler ss, TCP). The method
 * and password are the handler's auth (ss://METHOD:PASSWORD@:8338). The
 * client's stream is decrypted (src/xprt/ss_stream.c); its first plaintext
 * is the target as a SOCKS5 address; the router reaches it through the
 * handler's chain, then a pipe joins the two with encryption both ways.
 *
 * A client that does not authenticate (a wrong password, garbage, a probe),
 * or names no valid target, never gets a byte back: as ss-server does, the
 * connection is read and discarded until the peer closes or readTimeout
 * (counted from the accept, so it ends at the same moment however many
 * bytes came) runs out. A bypassed target or a failed dial closes at once,
 * as GOST does.
 *
 * Metadata: readTimeout (15 s, the whole header), dialTimeout, idleTimeout,
 * retries (handlers/proxy.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/proxy.h"
#include "proto/socks5.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "src/core/util.h"
#include "src/svc/service.h"
#include "src/xprt/ss_stream.h"

#define SS_READ_TIMEOUT 15.0
#define SS_ADDR_MAX (1 + 1 + SOCKS5_DOMAIN_MAX + 2)

struct ss_opts {
	struct proxy_opts p;
	struct ss_cfg c;
};

enum ss_state {
	SS_READ_TARGET,             /* decrypting up to the end of the target address */
	SS_DIALING,                 /* the router is reaching the target */
	SS_DRAIN,                   /* refused without a word: discarding until EOF or the deadline */
};

/* One client connection; owns the client until it goes to the pipe. */
struct ss_conn {
	struct service *svc;
	const struct ss_opts *o;
	enum ss_state state;
	struct stream *client;      /* the decrypting stream over the connection */
	uint8_t head[SS_ADDR_MAX];  /* plaintext so far, up to the end of the address */
	size_t head_len;
	char *rest;                 /* owned: plaintext after the address, for the target */
	size_t rest_len;
	char host[SOCKS5_DOMAIN_MAX + 1];
	char target[SOCKS5_ADDR_STRLEN];
	uint16_t port;
	struct proxy_dial *dial;
	ev_timer timer;
};

static int ss_init(struct service *svc, struct cfg_err *e)
{
	struct ss_opts *o = xcalloc(1, sizeof *o);
	svc->handler.state = o;
	const struct cnode *h = cnode_get(svc->cfg, "handler");
	if (ss_cfg_parse(&o->c, &svc->handler.auth, h ? h : svc->cfg, "handler.auth", e) < 0 ||
	    proxy_opts_parse(svc, &o->p, e) < 0)
		return -1;
	/* GOST's ss handler: readTimeout 15 s unless set (0 or negative too). */
	if (!cnode_get(svc->handler.md, "readTimeout") && !cnode_get(svc->md, "readTimeout"))
		o->p.read_timeout = SS_READ_TIMEOUT;
	if (o->p.read_timeout <= 0)
		o->p.read_timeout = SS_READ_TIMEOUT;
	return 0;
}

static void ss_fini(struct service *svc)
{
	struct ss_opts *o = svc->handler.state;
	if (o)
		memset(o->c.key, 0, sizeof o->c.key);
	free(o);
}

static void conn_free(struct ss_conn *c)
{
	ev_timer_stop(c->client->w->loop, &c->timer);
	proxy_dial_cancel(c->dial);
	free(c->rest);
	free(c);
}

static void conn_close(struct ss_conn *c)
{
	stream_close(c->client);
	conn_free(c);
}

/* Not a word back: keep reading and discarding until the peer gives up or the deadline. */
static void drain(struct ss_conn *c, const char *why)
{
	log_info("service %s: %s: %s; discarding the connection's bytes without a reply", c->svc->name,
		 c->client->peer, why);
	c->state = SS_DRAIN;
	stream_read_start(c->client);
}

static void ss_dialed(void *ctx, struct stream *remote, int err)
{
	struct ss_conn *c = ctx;
	struct stream *client = c->client;
	c->dial = NULL;
	if (err) {
		log_info("service %s: %s: ss to %s: %s", c->svc->name, client->peer, c->target, strerror(err));
		conn_close(c);
		return;
	}
	log_info("service %s: %s: ss to %s", c->svc->name, client->peer, c->target);
	if (c->rest_len)
		stream_unread(client, c->rest, c->rest_len);
	double idle = c->o->p.idle_timeout;
	conn_free(c);
	pipe_start(client, remote, idle, NULL, NULL);
}

static void ss_target(struct ss_conn *c, const struct socks5_addr *a)
{
	socks5_addr_format(a, c->target, sizeof c->target);
	socks5_addr_host(a, c->host, sizeof c->host);
	c->port = a->port;
	if (proxy_refused(c->svc, c->host, c->port)) {
		log_info("service %s: %s: ss to %s refused by bypass", c->svc->name, c->client->peer, c->target);
		conn_close(c);
		return;
	}
	ev_timer_stop(c->client->w->loop, &c->timer);
	stream_read_stop(c->client);
	c->state = SS_DIALING;
	c->dial = proxy_dial_start(c->client->w, c->client->peer, NULL, c->svc, &c->o->p, c->host, c->port, 0, ss_dialed, c);
}

static void ss_read_head(struct ss_conn *c, const char *data, size_t len)
{
	size_t take = len < sizeof c->head - c->head_len ? len : sizeof c->head - c->head_len;
	struct socks5_addr a;
	memcpy(c->head + c->head_len, data, take);
	c->head_len += take;
	int n = socks5_addr_parse(c->head, c->head_len, &a);
	if (n == 0)
		return;
	if (n < 0) {
		drain(c, "no valid target address");
		return;
	}
	/* What came after the address goes to the target first. */
	size_t extra = c->head_len - (size_t)n + (len - take);
	if (extra) {
		c->rest = xmalloc(extra);
		memcpy(c->rest, c->head + n, c->head_len - (size_t)n);
		memcpy(c->rest + c->head_len - (size_t)n, data + take, len - take);
		c->rest_len = extra;
	}
	ss_target(c, &a);
}

static void ss_client_read(struct stream *s, const char *data, size_t len)
{
	struct ss_conn *c = s->ud;
	if (!len) {
		if (c->state == SS_READ_TARGET)
			log_debug("service %s: %s: closed before a complete ss header", c->svc->name, s->peer);
		conn_close(c);
		return;
	}
	if (c->state == SS_READ_TARGET)
		ss_read_head(c, data, len);
	/* SS_DRAIN: discarded */
}

static void ss_client_event(struct stream *s, enum stream_event ev, int err)
{
	struct ss_conn *c = s->ud;
	if (ev != STREAM_EV_ERROR)
		return;
	if (err == EBADMSG && c->state == SS_READ_TARGET) {
		drain(c, "authentication failed (wrong method or password, or not shadowsocks)");
		return;
	}
	log_debug("service %s: %s: %s", c->svc->name, s->peer, strerror(err));
	conn_close(c);
}

static void ss_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ss_conn *c = t->data;
	(void)loop;
	(void)revents;
	if (c->state == SS_READ_TARGET)
		log_info("service %s: %s: no complete ss header within readTimeout", c->svc->name, c->client->peer);
	conn_close(c);
}

static void ss_handle(struct service *svc, struct stream *lower)
{
	struct ss_opts *o = svc->handler.state;
	struct stream *client = ss_stream_new(lower, &o->c, NULL, 0, 0);
	if (!client)
		return;
	struct ss_conn *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->o = o;
	c->client = client;
	c->state = SS_READ_TARGET;
	ev_timer_init(&c->timer, ss_timeout, o->p.read_timeout, 0);
	c->timer.data = c;
	ev_timer_start(client->w->loop, &c->timer);
	stream_set_callbacks(client, ss_client_read, ss_client_event, c);
	stream_read_start(client);
}

const struct handler_type handler_ss = {
	.name = "ss",
	.init = ss_init,
	.fini = ss_fini,
	.handle = ss_handle,
	.checks_users = 1, /* the method and password are the key every client must prove */
};
