/*
 * handler auto (GOST's default handler): the first byte tells the protocol
 * (0x05 SOCKS5, 0x04 SOCKS4, anything else HTTP); the bytes read go back in
 * front of the stream and the stream goes to that handler.
 */
#include <stdlib.h>

#include "src/core/log.h"
#include "handlers/proxy.h"
#include "src/svc/service.h"
#include "src/core/util.h"

struct auto_state {
	void *http, *socks5, *socks4;   /* each handler's parsed options; owned */
	double read_timeout;
};

/* Waiting for the first byte; owns the client until it is handed on. */
struct auto_conn {
	struct service *svc;
	struct stream *client;
	ev_timer timer;
};

static void auto_done(struct auto_conn *c)
{
	ev_timer_stop(c->client->w->loop, &c->timer);
	free(c);
}

static void auto_read(struct stream *s, const char *data, size_t len)
{
	struct auto_conn *c = s->ud;
	struct service *svc = c->svc;
	struct auto_state *st = svc->handler.state;
	auto_done(c);
	if (!len) {
		stream_close(s);
		return;
	}
	stream_read_stop(s);
	stream_unread(s, data, len);
	if (data[0] == 0x05)
		socks5_proxy_serve(svc, st->socks5, s);
	else if (data[0] == 0x04)
		socks4_proxy_serve(svc, st->socks4, s);
	else
		http_proxy_serve(svc, st->http, s);
}

static void auto_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR) {
		auto_done(s->ud);
		stream_close(s);
	}
}

static void auto_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct auto_conn *c = t->data;
	struct stream *s = c->client;
	(void)loop;
	(void)revents;
	auto_done(c);
	stream_close(s);
}

static void auto_handle(struct service *svc, struct stream *client)
{
	struct auto_state *st = svc->handler.state;
	struct auto_conn *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->client = client;
	ev_timer_init(&c->timer, auto_timeout, st->read_timeout > 0 ? st->read_timeout : 30, 0);
	c->timer.data = c;
	ev_timer_start(client->w->loop, &c->timer);
	stream_set_callbacks(client, auto_read, auto_event, c);
	stream_read_start(client);
}

static void auto_fini(struct service *svc)
{
	struct auto_state *st = svc->handler.state;
	if (!st)
		return;
	http_proxy_free(st->http);
	socks5_proxy_free(st->socks5);
	socks4_proxy_free(st->socks4);
	free(st);
}

static int auto_init(struct service *svc, struct cfg_err *e)
{
	struct auto_state *st = xcalloc(1, sizeof *st);
	struct proxy_opts o;
	svc->handler.state = st;
	if (http_proxy_init(svc, &st->http, e) < 0 || socks5_proxy_init(svc, &st->socks5, e) < 0 ||
	    socks4_proxy_init(svc, &st->socks4, e) < 0 || proxy_opts_parse(svc, &o, e) < 0)
		return -1;
	st->read_timeout = o.read_timeout;
	return 0;
}

const struct handler_type handler_auto = {
	.name = "auto",
	.init = auto_init,
	.fini = auto_fini,
	.handle = auto_handle,
	/* through the http, socks5 and socks4 handlers it hands the stream to */
	.checks_users = 1,
};
