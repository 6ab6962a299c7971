/*
 * handler sni: as GOST's, it reads the first bytes of each connection and
 *  - a TLS ClientHello (record type 22, version 3.1..3.4) goes to the host its
 *    server_name names, port 443, through the handler's chain; the hello and
 *    everything after it pass on untouched (no SNI: the connection closes);
 *  - an HTTP/1.x request (GET, POST, PUT, DELETE, OPTIONS, PATCH, HEAD,
 *    CONNECT, TRACE) is forwarded request by request to the host its Host
 *    field names, port 80 unless given (handlers/http.c, origin mode);
 *  - anything else closes.
 * The service's bypass refuses a host (the connection closes). Peeking is
 * push-back: the bytes read go back in front of the stream (stream_unread).
 */
#include <stdlib.h>
#include <string.h>

#include "proto/tls_peek.h"
#include "src/core/buf.h"
#include "src/core/log.h"
#include "src/core/util.h"
#include "handlers/proxy.h"
#include "src/svc/router.h"
#include "src/svc/service.h"

#define SNI_TLS_PORT 443
#define SNI_SNIFF_LEN 5             /* GOST decides on the first record header's bytes */

struct sni_state {
	struct proxy_opts p;        /* the TLS side's dial, read and idle timeouts */
	void *http;                 /* the HTTP side's engine options (http_origin_init) */
};

enum sni_phase {
	SNI_SNIFF,                  /* fewer than SNI_SNIFF_LEN bytes so far */
	SNI_HELLO,                  /* a TLS record: reading the whole ClientHello */
};

/* Owns the client until it is handed to a dial or to the HTTP engine. */
struct sni_conn {
	struct service *svc;
	struct stream *client;
	enum sni_phase phase;
	struct buf in;              /* everything read so far */
	ev_timer timer;
};

static void sni_free(struct sni_conn *c)
{
	ev_timer_stop(c->client->w->loop, &c->timer);
	buf_free(&c->in);
	free(c);
}

static void sni_drop(struct sni_conn *c, const char *why)
{
	struct stream *s = c->client;
	log_debug("service %s: %s: %s", c->svc->name, s->peer, why);
	sni_free(c);
	stream_close(s);
}

/* GOST's sniffing.Sniff: the methods it knows, by their first bytes (5 at most). */
static int looks_like_http(const char *p)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELET", "OPTIO", "PATCH", "HEAD", "CONNE",
					       "TRACE" };
	for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
		if (!strncmp(p, methods[i], strlen(methods[i])))
			return 1;
	return 0;
}

static int looks_like_tls(const unsigned char *p)
{
	return p[0] == 22 && p[1] == 3 && p[2] >= 1 && p[2] <= 4;
}

/* Hands the client, with every byte read pushed back, to what serves it from now on. */
static struct stream *sni_release(struct sni_conn *c)
{
	struct stream *s = c->client;
	stream_read_stop(s);
	stream_unread(s, c->in.p, c->in.len);
	sni_free(c);
	return s;
}

static void sni_report(void *ctx, struct stream *client, struct stream *remote, int err)
{
	struct service *svc = ctx;
	if (err)
		log_info("service %s: %s: tls: %s", svc->name, client->peer, strerror(err));
	else
		log_debug("service %s: %s: tls -> %s", svc->name, client->peer, remote->peer);
}

static void sni_route_tls(struct sni_conn *c, const char *host)
{
	struct service *svc = c->svc;
	const struct sni_state *st = svc->handler.state;
	if (proxy_refused(svc, host, SNI_TLS_PORT)) {
		log_info("service %s: %s: %s:%u refused by bypass", svc->name, c->client->peer, host, SNI_TLS_PORT);
		sni_drop(c, "bypassed");
		return;
	}
	log_info("service %s: %s: tls %s:%u", svc->name, c->client->peer, host, SNI_TLS_PORT);
	struct stream *s = sni_release(c);
	char hash[320];
	router_dial_pipe(s, &(struct dial_pipe){
		.dial = { .chain = svc->handler.chain, .timeout = st->p.dial_timeout, .svc = svc,
			  .hash = router_hash_key(s->peer, NULL, st->p.hash_host, host, SNI_TLS_PORT, hash, sizeof hash) },
		.host = host,
		.port = SNI_TLS_PORT,
		.idle_timeout = st->p.idle_timeout,
		.report = sni_report,
		.ctx = svc,
	});
}

static void sni_hello(struct sni_conn *c)
{
	char host[TLS_PEEK_HOST_MAX + 1];
	switch (tls_peek_sni(c->in.p, c->in.len, host)) {
	case TLS_PEEK_NEED_MORE:
		return;
	case TLS_PEEK_SNI:
		sni_route_tls(c, host);
		return;
	case TLS_PEEK_NO_SNI:
		sni_drop(c, "no server name in the ClientHello");
		return;
	default:
		sni_drop(c, "malformed ClientHello");
	}
}

static void sni_sniff(struct sni_conn *c)
{
	if (c->in.len < SNI_SNIFF_LEN)
		return;
	if (looks_like_tls((const unsigned char *)c->in.p)) {
		c->phase = SNI_HELLO;
		sni_hello(c);
		return;
	}
	if (looks_like_http(c->in.p)) {
		struct service *svc = c->svc;
		http_proxy_serve(svc, ((struct sni_state *)svc->handler.state)->http, sni_release(c));
		return;
	}
	sni_drop(c, "neither TLS nor HTTP");
}

static void sni_read(struct stream *s, const char *data, size_t len)
{
	struct sni_conn *c = s->ud;
	if (!len) {
		sni_drop(c, "closed before a request");
		return;
	}
	/* tls_peek_sni gives up beyond TLS_PEEK_MAX: more is never needed */
	size_t room = TLS_PEEK_MAX - c->in.len;
	buf_append(&c->in, data, len < room ? len : room);
	if (c->phase == SNI_SNIFF)
		sni_sniff(c);
	else
		sni_hello(c);
}

static void sni_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR)
		sni_drop(s->ud, "read error");
}

static void sni_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	sni_drop(t->data, "no request in time");
}

static void sni_handle(struct service *svc, struct stream *client)
{
	const struct sni_state *st = svc->handler.state;
	struct sni_conn *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->client = client;
	c->phase = SNI_SNIFF;
	ev_timer_init(&c->timer, sni_timeout, st->p.read_timeout, 0);
	c->timer.data = c;
	ev_timer_start(client->w->loop, &c->timer);
	stream_set_callbacks(client, sni_read, sni_event, c);
	stream_read_start(client);
}

static int sni_init(struct service *svc, struct cfg_err *e)
{
	struct sni_state *st = xcalloc(1, sizeof *st);
	svc->handler.state = st;
	if (proxy_opts_parse(svc, &st->p, e) < 0)
		return -1;
	/* GOST: readTimeout bounds the sniffing, 15 s when unset or not positive */
	if ((!cnode_get(svc->handler.md, "readTimeout") && !cnode_get(svc->md, "readTimeout")) ||
	    st->p.read_timeout <= 0)
		st->p.read_timeout = 15;
	return http_origin_init(svc, &st->http, e);
}

static void sni_fini(struct service *svc)
{
	struct sni_state *st = svc->handler.state;
	if (!st)
		return;
	http_proxy_free(st->http);
	free(st);
}

const struct handler_type handler_sni = {
	.name = "sni",
	.init = sni_init,
	.fini = sni_fini,
	.handle = sni_handle,
};
