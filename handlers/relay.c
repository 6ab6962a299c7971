/*
 * handler relay: the GOST relay protocol server (doc/protocols/gost-relay.md §2).
 * Reads one request within readTimeout, checks the user, then CONNECTs
 * (TCP, or UDP framed as LEN|payload), forwards (a service with forwarder
 * nodes), or BINDs (handlers/relay_bind.c). A malformed request is closed
 * without a reply, as GOST does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/filter.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "proto/relay.h"
#include "src/svc/metrics.h"
#include "src/svc/router.h"
#include "src/svc/service.h"
#include "src/core/util.h"
#include "handlers/relay.h"

#define RELAY_REQUEST_MAX (RELAY_HEADER_LEN + 65535)

enum relay_state {
	RELAY_READING_REQUEST,
	RELAY_DIALING,
};

struct relay_conn {
	struct service *svc;
	struct stream *client;      /* owned until handed on */
	enum relay_state state;
	char *buf;                  /* request bytes so far, owned */
	size_t len, cap;
	size_t consumed;            /* request length once parsed; bytes after it are client data */
	ev_timer timer;
	struct relay_msg req;
	int udp;
	int forward;
	struct dial *dial;
};

static int relay_init(struct service *svc, struct cfg_err *e)
{
	struct relay_opts *o = xcalloc(1, sizeof *o);
	svc->handler.state = o;
	if (md_bool(svc->handler.md, "bind", 0, &o->bind, e) < 0 ||
	    md_bool(svc->handler.md, "nodelay", 0, &o->nodelay, e) < 0 ||
	    md_duration(svc->handler.md, "readTimeout", 15, &o->read_timeout, e) < 0 ||
	    md_duration(svc->handler.md, "dialTimeout", 10, &o->dial_timeout, e) < 0 ||
	    md_duration(svc->handler.md, "idleTimeout", 0, &o->idle_timeout, e) < 0)
		return -1;
	if (o->read_timeout <= 0)
		o->read_timeout = 15;
	if (router_hash_opt(svc, &o->hash_host, e) < 0)
		return -1;
	if (relay_bind_init(svc, o, e) < 0)
		return -1;
	return 0;
}

static void relay_fini(struct service *svc)
{
	struct relay_opts *o = svc->handler.state;
	if (o)
		relay_bind_fini(o);
	free(o);
}

/* ---- replies ---- */

static void reply_sent_event(struct stream *s, enum stream_event ev, int err)
{
	(void)ev;
	(void)err;
	stream_close(s);
}

static void reply_sent_read(struct stream *s, const char *data, size_t len)
{
	(void)s;
	(void)data;
	(void)len;
}

void relay_reply_and_close(struct stream *client, uint8_t status)
{
	uint8_t r[4] = { RELAY_VERSION, status, 0, 0 };
	stream_read_stop(client);
	if (stream_write(client, r, sizeof r) < 0 || !client->wqueued) {
		stream_close(client);
		return;
	}
	stream_set_callbacks(client, reply_sent_read, reply_sent_event, NULL);
}

static void conn_free(struct relay_conn *c)
{
	ev_timer_stop(c->client->w->loop, &c->timer);
	free(c->buf);
	free(c);
}

static void conn_fail(struct relay_conn *c, uint8_t status)
{
	relay_reply_and_close(c->client, status);
	conn_free(c);
}

static void conn_drop(struct relay_conn *c, const char *why)
{
	log_info("relay %s: %s: %s; closed without a reply", c->svc->name, c->client->peer, why);
	stream_close(c->client);
	conn_free(c);
}

/* ---- after the dial ---- */

static void relay_dialed(void *ctx, struct stream *remote, int err)
{
	struct relay_conn *c = ctx;
	struct relay_opts *o = c->svc->handler.state;
	static const uint8_t ok[4] = { RELAY_VERSION, RELAY_STATUS_OK, 0, 0 };
	struct stream *client = c->client;

	c->dial = NULL;
	if (err) {
		log_info("relay %s: %s: dial failed: %s", c->svc->name, client->peer, strerror(err));
		svc_metrics_handler_error(c->svc, client->w);
		conn_fail(c, c->forward ? RELAY_STATUS_HOST_UNREACHABLE : RELAY_STATUS_NETWORK_UNREACHABLE);
		return;
	}
	/* Client bytes that came with the request go to the target first. */
	if (c->len > c->consumed)
		stream_unread(client, c->buf + c->consumed, c->len - c->consumed);
	if (o->nodelay) {
		if (stream_write(client, ok, sizeof ok) < 0) {
			stream_close(remote);
			stream_close(client);
			conn_free(c);
			return;
		}
	} else {
		/* GOST's default: the OK goes out just ahead of the target's first bytes. */
		client = prefix_stream_new(client, ok, sizeof ok);
	}
	if (c->udp)
		client = frame_stream_new(client);
	log_debug("relay %s: %s -> %s (%s)", c->svc->name, c->client->peer, remote->peer, c->udp ? "udp" : "tcp");
	conn_free(c);
	pipe_start(client, remote, o->idle_timeout, NULL, NULL);
}

/* ---- the request ---- */

static void relay_process(struct relay_conn *c)
{
	struct relay_opts *o = c->svc->handler.state;
	const struct relay_addr *addr = relay_msg_last_addr(&c->req);
	uint8_t cmd = c->req.cmd & RELAY_CMD_MASK;
	struct dial_opts d = { .chain = c->svc->handler.chain, .timeout = o->dial_timeout, .svc = c->svc };
	char hash[320];

	if (service_auth_required(c->svc) &&
	    !service_auth_check(c->svc, c->req.has_user_auth ? c->req.username : "",
				c->req.has_user_auth ? c->req.password : "")) {
		log_info("relay %s: %s: authentication failed for user \"%s\"", c->svc->name, c->client->peer,
			 c->req.has_user_auth ? c->req.username : "");
		conn_fail(c, RELAY_STATUS_UNAUTHORIZED);
		return;
	}
	/* GOST: the user a client authenticated as is its id, the hash strategy's key */
	const char *client_id = service_auth_required(c->svc) && c->req.has_user_auth ? c->req.username : NULL;
	c->udp = (c->req.cmd & RELAY_FLAG_UDP) ||
		 (c->req.has_network && !strcmp(relay_network_name(c->req.network), "udp"));
	d.dgram = c->udp;
	if (c->svc->forwarder) {
		/* Forward mode: the client's address is ignored. */
		c->forward = 1;
		c->state = RELAY_DIALING;
		d.hash = router_hash_key(c->client->peer, client_id, 0, NULL, 0, hash, sizeof hash);
		c->dial = router_dial_forward(c->client->w, &d, c->svc->forwarder, relay_dialed, c);
		return;
	}
	switch (cmd) {
	case 0:
	case RELAY_CMD_CONNECT:
		if (!addr) {
			conn_fail(c, RELAY_STATUS_BAD_REQUEST);
			return;
		}
		if (bypass_match_net(c->svc->bypass, c->udp ? "udp" : "tcp", addr->host, addr->port)) {
			log_info("relay %s: %s: %s:%u is bypassed", c->svc->name, c->client->peer, addr->host, addr->port);
			conn_fail(c, RELAY_STATUS_FORBIDDEN);
			return;
		}
		c->state = RELAY_DIALING;
		d.hash = router_hash_key(c->client->peer, client_id, o->hash_host, addr->host, addr->port, hash, sizeof hash);
		c->dial = router_dial(c->client->w, &d, addr->host, addr->port, relay_dialed, c);
		return;
	case RELAY_CMD_BIND:
		if (!o->bind) {
			conn_fail(c, RELAY_STATUS_FORBIDDEN);
			return;
		}
		{
			struct relay_msg req = c->req;
			struct stream *client = c->client;
			struct service *svc = c->svc;
			int udp = c->udp;
			if (c->len > c->consumed)
				stream_unread(client, c->buf + c->consumed, c->len - c->consumed);
			conn_free(c);
			relay_bind_start(svc, client, &req, udp);
		}
		return;
	default:
		conn_fail(c, RELAY_STATUS_BAD_REQUEST);
	}
}

static void relay_client_read(struct stream *s, const char *data, size_t len)
{
	struct relay_conn *c = s->ud;
	if (!len) {
		conn_drop(c, "closed before a complete request");
		return;
	}
	if (c->len + len > c->cap) {
		size_t cap = c->cap ? c->cap : 512;
		while (cap < c->len + len)
			cap *= 2;
		if (cap > RELAY_REQUEST_MAX + 65536)
			cap = RELAY_REQUEST_MAX + 65536;
		if (c->len + len > cap) {
			conn_drop(c, "request too long");
			return;
		}
		c->buf = xrealloc(c->buf, cap);
		c->cap = cap;
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	int n = relay_request_parse((const uint8_t *)c->buf, c->len, &c->req);
	if (n == 0)
		return;
	if (n < 0) {
		conn_drop(c, "malformed request");
		return;
	}
	c->consumed = (size_t)n;
	stream_read_stop(s);
	ev_timer_stop(s->w->loop, &c->timer);
	relay_process(c);
}

static void relay_client_event(struct stream *s, enum stream_event ev, int err)
{
	struct relay_conn *c = s->ud;
	if (ev == STREAM_EV_ERROR) {
		log_debug("relay %s: %s: %s", c->svc->name, s->peer, strerror(err));
		if (c->state == RELAY_DIALING) {
			router_dial_cancel(c->dial);
			stream_close(c->client);
			conn_free(c);
			return;
		}
		stream_close(c->client);
		conn_free(c);
	}
}

static void relay_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	conn_drop(t->data, "no complete request within readTimeout");
}

static void relay_handle(struct service *svc, struct stream *client)
{
	struct relay_opts *o = svc->handler.state;
	struct relay_conn *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->client = client;
	c->state = RELAY_READING_REQUEST;
	relay_msg_init(&c->req);
	ev_timer_init(&c->timer, relay_timeout_cb, o->read_timeout, 0);
	c->timer.data = c;
	ev_timer_start(client->w->loop, &c->timer);
	stream_set_callbacks(client, relay_client_read, relay_client_event, c);
	stream_read_start(client);
}

const struct handler_type handler_relay = {
	.name = "relay",
	.init = relay_init,
	.fini = relay_fini,
	.handle = relay_handle,
	.checks_users = 1,
};
