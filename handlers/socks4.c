/*
 * handler socks4 (alias socks4a): SOCKS4 and SOCKS4a CONNECT. With users
 * configured the USERID must be one of them, checked with an empty password
 * as GOST does (so only users without a password can log in). BIND is
 * refused. The wire format is in proto/socks5.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/core/pipe.h"
#include "handlers/proxy.h"
#include "src/svc/service.h"
#include "proto/socks5.h"
#include "src/core/util.h"

#define LINGER_SECONDS 2.0

enum s4_state {
	S4_REQUEST,                 /* VN CD DSTPORT DSTIP USERID NUL [DOMAIN NUL] */
	S4_DIAL,                    /* the router is reaching the target */
	S4_LINGER,                  /* rejection queued; waiting for the client to close */
};

/* One client connection; owns its members until the streams go to a pipe. */
struct s4_conn {
	struct service *svc;
	const struct proxy_opts *o;
	enum s4_state state;
	struct stream *client;
	struct buf in;
	struct proxy_dial *dial;
	char host[SOCKS5_DOMAIN_MAX + 1];
	uint16_t port;
	ev_timer timer;
};

static void s4_free(struct s4_conn *c, int close_client)
{
	ev_timer_stop(c->client->w->loop, &c->timer);
	proxy_dial_cancel(c->dial);
	if (close_client)
		stream_close(c->client);
	buf_free(&c->in);
	free(c);
}

static void reply(struct s4_conn *c, uint8_t code)
{
	uint8_t out[8];
	if (socks4_reply_encode(out, sizeof out, code, NULL, 0) == 8)
		stream_write(c->client, out, 8);
}

static void reject(struct s4_conn *c, uint8_t code)
{
	reply(c, code);
	c->state = S4_LINGER;
	stream_shutdown(c->client);
	stream_read_start(c->client);
	ev_timer_stop(c->client->w->loop, &c->timer);
	ev_timer_set(&c->timer, LINGER_SECONDS, 0);
	ev_timer_start(c->client->w->loop, &c->timer);
}

static void dialed(void *ctx, struct stream *remote, int err)
{
	struct s4_conn *c = ctx;
	c->dial = NULL;
	if (err) {
		log_info("service %s: %s: SOCKS4 CONNECT %s:%u: %s", c->svc->name, c->client->peer, c->host, c->port,
			 strerror(err));
		reject(c, SOCKS4_REP_REJECTED);
		return;
	}
	log_info("service %s: %s: SOCKS4 CONNECT %s:%u", c->svc->name, c->client->peer, c->host, c->port);
	reply(c, SOCKS4_REP_GRANTED);
	if (c->in.len)
		stream_write(remote, c->in.p, c->in.len);
	struct stream *client = c->client;
	double idle = c->o->idle_timeout;
	s4_free(c, 0);
	pipe_start(client, remote, idle, NULL, NULL);
}

static void handle_request(struct s4_conn *c)
{
	struct socks4_request req;
	int n = socks4_request_parse((const uint8_t *)c->in.p, c->in.len, &req);
	if (n == 0) {
		stream_read_start(c->client);
		return;
	}
	if (n < 0) {
		log_info("service %s: %s: malformed SOCKS4 request", c->svc->name, c->client->peer);
		reject(c, SOCKS4_REP_REJECTED);
		return;
	}
	buf_consume(&c->in, (size_t)n);
	if (service_auth_required(c->svc) && !service_auth_check(c->svc, req.userid, "")) {
		log_info("service %s: %s: SOCKS4 user \"%s\" refused", c->svc->name, c->client->peer, req.userid);
		reject(c, SOCKS4_REP_IDENTD_MISMATCH);
		return;
	}
	if (req.cmd != SOCKS4_CMD_CONNECT) {
		reject(c, SOCKS4_REP_REJECTED);
		return;
	}
	if (req.is_4a)
		snprintf(c->host, sizeof c->host, "%s", req.domain);
	else
		inet_ntop(AF_INET, req.ip, c->host, sizeof c->host);
	c->port = req.port;
	if (proxy_refused(c->svc, c->host, c->port)) {
		log_info("service %s: %s: SOCKS4 CONNECT %s:%u refused by bypass", c->svc->name, c->client->peer,
			 c->host, c->port);
		reject(c, SOCKS4_REP_REJECTED);
		return;
	}
	c->state = S4_DIAL;
	ev_timer_stop(c->client->w->loop, &c->timer);
	stream_read_stop(c->client);
	c->dial = proxy_dial_start(c->client->w, c->client->peer, service_auth_required(c->svc) ? req.userid : NULL,
				   c->svc, c->o, c->host, c->port, 0, dialed, c);
}

static void client_read(struct stream *s, const char *data, size_t len)
{
	struct s4_conn *c = s->ud;
	if (!len) {
		s4_free(c, 1);
		return;
	}
	switch (c->state) {
	case S4_LINGER:
		return;
	case S4_DIAL:
		buf_append(&c->in, data, len);
		stream_read_stop(s);
		return;
	case S4_REQUEST:
		buf_append(&c->in, data, len);
		handle_request(c);
		return;
	}
}

static void client_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR)
		s4_free(s->ud, 1);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	s4_free(t->data, 1);
}

int socks4_proxy_init(struct service *svc, void **state, struct cfg_err *e)
{
	struct proxy_opts *o = xcalloc(1, sizeof *o);
	*state = o;
	return proxy_opts_parse(svc, o, e);
}

void socks4_proxy_free(void *state) { free(state); }

void socks4_proxy_serve(struct service *svc, void *state, struct stream *client)
{
	struct s4_conn *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->o = state;
	c->client = client;
	c->state = S4_REQUEST;
	ev_timer_init(&c->timer, timer_cb, c->o->read_timeout > 0 ? c->o->read_timeout : 30, 0);
	c->timer.data = c;
	ev_timer_start(client->w->loop, &c->timer);
	stream_set_callbacks(client, client_read, client_event, c);
	stream_read_start(client);
}

static int s4_init(struct service *svc, struct cfg_err *e) { return socks4_proxy_init(svc, &svc->handler.state, e); }
static void s4_fini(struct service *svc) { socks4_proxy_free(svc->handler.state); }
static void s4_handle(struct service *svc, struct stream *client)
{
	socks4_proxy_serve(svc, svc->handler.state, client);
}

const struct handler_type handler_socks4 = {
	.name = "socks4",
	.init = s4_init,
	.fini = s4_fini,
	.handle = s4_handle,
	.checks_users = 1,
};
