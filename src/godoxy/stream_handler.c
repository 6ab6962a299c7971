/*
 * handler stream: the agent side of the GoDoxy stream protocol
 * (doc/protocols/godoxy-stream.md). Each connection carries one 275-byte header
 * (proto/stream_header.h) and then raw payload; the agent never answers a
 * byte of its own:
 *   - a header not complete within readTimeout, or invalid: closed (and logged);
 *   - the health-check flag: closed quietly;
 *   - else the destination is dialed (dialTimeout) and joined to the client.
 * Over a tls listener the ALPN id "godoxy-agent-stream/1" selects the stream
 * protocol and anything else the agent HTTPS API (handlers/stream_api.c), as
 * the GoDoxy agent multiplexes its port. Over a dtls listener each record is
 * one datagram to and from a connected UDP socket (one per session).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/godoxy/stream_api.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "src/svc/accept_steps.h"
#include "src/svc/router.h"
#include "src/svc/service.h"
#include "proto/stream_header.h"
#include "src/xprt/tls_stream.h"
#include "src/core/util.h"

#define STREAM_ALPN "godoxy-agent-stream/1"
#define STREAM_TIMEOUT_DEFAULT 10.0     /* GoDoxy's dialTimeout: the header read and the dial */
#define STREAM_UDP_IDLE_DEFAULT 600.0   /* the GoDoxy client drops a session after 5 min idle */

struct stream_opts {
	double read_timeout;
	double dial_timeout;
	double idle_timeout;        /* 0: none */
	struct bypass allow;        /* allowed destinations; patterns owned; none: all allowed */
	int api;                    /* serve the agent API on the other ALPN values */
	int alpn_routing;           /* the listener is tls: route by ALPN */
	struct stream_api_opts api_opts;
};

enum sconn_state {
	SC_HEADER,      /* reading the 275-byte header */
	SC_DIALING,     /* the destination is being dialed */
};

/* One client until its header is read and the destination dialed; then the pipe owns the streams. */
struct sconn {
	struct service *svc;
	struct stream *client;      /* owned */
	enum sconn_state state;
	uint8_t hdr[STREAM_HEADER_SIZE];
	size_t have;
	ev_timer timer;             /* header deadline */
	struct dial *dial;          /* in flight in SC_DIALING */
	char dest[STREAM_HEADER_ADDR_MAX];
};

/* ---- options ---- */

static int is_listener(const struct service *svc, const char *name)
{
	return svc->listener.type && !strcasecmp(svc->listener.type->name, name);
}

static void allow_add(struct bypass *b, const char *p)
{
	if (!*p)
		return;
	b->patterns = xrealloc(b->patterns, (b->n + 1) * sizeof *b->patterns);
	b->patterns[b->n++] = xstrdup(p);
}

/* allow: "10.0.0.0/8, *.lan:80" or a YAML list; GOST matchers (host, host:port, CIDR, ranges). */
static int allow_parse(const struct cnode *md, struct bypass *b, struct cfg_err *e)
{
	const struct cnode *n = cnode_get(md, "allow");
	b->whitelist = 1;
	if (!n)
		return 0;
	if (n->kind == CN_SEQ) {
		for (size_t i = 0; i < n->n; i++) {
			if (n->items[i]->kind != CN_SCALAR)
				return cfg_error(e, n->items[i], "allow", "expected an address pattern");
			allow_add(b, n->items[i]->value);
		}
		return 0;
	}
	if (n->kind != CN_SCALAR)
		return cfg_error(e, n, "allow", "expected a list of address patterns");
	char *copy = xstrdup(n->value), *save = NULL;
	for (char *p = strtok_r(copy, ", ", &save); p; p = strtok_r(NULL, ", ", &save))
		allow_add(b, p);
	free(copy);
	return 0;
}

/*
 * The tls listener advertises "http/1.1" and the stream id, as the agent
 * does, unless its own alpn is configured; skipClientCertCheck drops the
 * client certificate requirement. The listener made its settings already:
 * they are made again with these and replace its own.
 */
static int listener_tls_adjust(struct service *svc, int skip_client_cert, struct cfg_err *e)
{
	static char http11[] = "http/1.1", stream_id[] = STREAM_ALPN;
	static char *protos[] = { http11, stream_id };
	struct tls_cfg t = svc->listener.tls; /* shallow: the strings stay the config's */
	int own_alpn = t.n_alpn || cnode_get(svc->listener.md, "alpn");
	char label[160];

	if (own_alpn && !skip_client_cert)
		return 0;
	if (!own_alpn) {
		t.alpn = protos;
		t.n_alpn = 2;
	}
	if (skip_client_cert)
		t.ca_file = NULL;
	snprintf(label, sizeof label, "service %s", svc->name);
	const struct cnode *where = cnode_get(svc->cfg, "listener");
	struct tls_conf *c = tls_conf_server(&t, svc->listener.md, where ? where : svc->cfg, label, e);
	if (!c)
		return -1;
	/* The tls listener's state is its accept steps (src/svc/accept_steps.h): swap their TLS. */
	struct accept_steps *steps = svc->listener.state;
	tls_conf_unref(steps->tls);
	steps->tls = c;
	return 0;
}

static void stream_handler_fini(struct service *svc)
{
	struct stream_opts *o = svc->handler.state;
	if (!o)
		return;
	for (size_t i = 0; i < o->allow.n; i++)
		free(o->allow.patterns[i]);
	free(o->allow.patterns);
	free(o);
}

static int stream_handler_init(struct service *svc, struct cfg_err *e)
{
	struct stream_opts *o = xcalloc(1, sizeof *o);
	const struct cnode *md = svc->handler.md;
	int tls = is_listener(svc, "tls"), dtls = is_listener(svc, "dtls"), skip = 0;

	svc->handler.state = o;
	if (md_duration(md, "readTimeout", STREAM_TIMEOUT_DEFAULT, &o->read_timeout, e) < 0 ||
	    md_duration(md, "dialTimeout", STREAM_TIMEOUT_DEFAULT, &o->dial_timeout, e) < 0 ||
	    md_duration(md, "idleTimeout", dtls ? STREAM_UDP_IDLE_DEFAULT : 0, &o->idle_timeout, e) < 0 ||
	    md_bool(md, "api", 1, &o->api, e) < 0 || md_bool(md, "skipClientCertCheck", 0, &skip, e) < 0 ||
	    allow_parse(md, &o->allow, e) < 0)
		return -1;
	if (o->read_timeout <= 0)
		o->read_timeout = STREAM_TIMEOUT_DEFAULT;
	if (o->dial_timeout <= 0)
		o->dial_timeout = STREAM_TIMEOUT_DEFAULT;
	if (dtls && skip)
		return cfg_error(e, cnode_get(md, "skipClientCertCheck"), "skipClientCertCheck",
				 "applies to tls only: the GoDoxy agent always requires client certificates over dtls");
	/* The agent is reached from afar and dials for whoever reaches it: mutual TLS is the rule. */
	if ((tls || dtls) && !skip && !(svc->listener.tls.ca_file && *svc->listener.tls.ca_file))
		return cfg_error(e, cnode_get(svc->cfg, "listener") ? cnode_get(svc->cfg, "listener") : svc->cfg,
				 "listener.tls.caFile",
				 "handler stream needs client certificates (mutual TLS): set caFile to the CA that "
				 "signed them%s",
				 tls ? ", or skipClientCertCheck: true" : "");
	if (tls) {
		o->alpn_routing = 1;
		if (listener_tls_adjust(svc, skip, e) < 0)
			return -1;
		if (o->api && stream_api_init(svc, &o->api_opts, e) < 0)
			return -1;
	}
	return 0;
}

/* ---- UDP sessions: one DTLS record is one datagram, both ways ---- */

struct udp_relay {
	struct worker *w;
	struct stream *tun;         /* the DTLS session, owned */
	struct stream *dst;         /* the connected UDP socket, owned */
	ev_timer idle;
	double idle_timeout;
	ev_tstamp last;
	uint64_t dropped;
};

static void udp_relay_end(struct udp_relay *r, const char *why)
{
	log_debug("stream: udp session %s -> %s ended: %s%s", r->tun->peer, r->dst->peer, why,
		  r->dropped ? " (datagrams dropped on full queues)" : "");
	ev_timer_stop(r->w->loop, &r->idle);
	stream_close(r->tun);
	stream_close(r->dst);
	__atomic_sub_fetch(&r->w->connections, 1, __ATOMIC_RELAXED);
	free(r);
}

/* Datagrams are dropped, never queued without bound, when the other side cannot keep up. */
static int udp_relay_forward(struct udp_relay *r, struct stream *to, const char *data, size_t len)
{
	r->last = ev_now(r->w->loop);
	if (to->wqueued > STREAM_HIGH_WATER) {
		r->dropped++;
		return 0;
	}
	return stream_write(to, data, len);
}

static void udp_relay_read(struct stream *s, const char *data, size_t len)
{
	struct udp_relay *r = s->ud;
	if (s == r->tun && !len) {
		udp_relay_end(r, "closed by the client");
		return;
	}
	if (!len)
		return;
	if (udp_relay_forward(r, s == r->tun ? r->dst : r->tun, data, len) < 0)
		udp_relay_end(r, "write failed");
}

static void udp_relay_event(struct stream *s, enum stream_event ev, int err)
{
	struct udp_relay *r = s->ud;
	if (ev == STREAM_EV_ERROR)
		udp_relay_end(r, strerror(err ? err : EIO));
}

static void udp_relay_idle_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct udp_relay *r = t->data;
	(void)revents;
	ev_tstamp left = r->last + r->idle_timeout - ev_now(loop);
	if (left <= 0) {
		udp_relay_end(r, "idle timeout");
		return;
	}
	t->repeat = left;
	ev_timer_again(loop, t);
}

static void udp_relay_start(struct stream *tun, struct stream *dst, double idle_timeout)
{
	struct udp_relay *r = xcalloc(1, sizeof *r);
	r->w = tun->w;
	r->tun = tun;
	r->dst = dst;
	r->idle_timeout = idle_timeout;
	r->last = ev_now(r->w->loop);
	__atomic_add_fetch(&r->w->connections, 1, __ATOMIC_RELAXED);
	ev_init(&r->idle, udp_relay_idle_cb);
	r->idle.data = r;
	if (idle_timeout > 0) {
		r->idle.repeat = idle_timeout;
		ev_timer_again(r->w->loop, &r->idle);
	}
	stream_set_callbacks(tun, udp_relay_read, udp_relay_event, r);
	stream_set_callbacks(dst, udp_relay_read, udp_relay_event, r);
	stream_read_start(dst);
	stream_read_start(tun);
}

/* ---- the header, then the destination ---- */

/* The agent ends a session it will not serve with a clean close (close_notify), as Go's Close does. */
static void sconn_free(struct sconn *c)
{
	ev_timer_stop(c->client->w->loop, &c->timer);
	if (c->dial)
		router_dial_cancel(c->dial);
	stream_close_after_flush(c->client);
	free(c);
}

static void sconn_dialed(void *ctx, struct stream *remote, int err)
{
	struct sconn *c = ctx;
	struct stream_opts *o = c->svc->handler.state;
	c->dial = NULL;
	if (err) {
		log_info("service %s: %s: stream to %s failed: %s", c->svc->name, c->client->peer, c->dest,
			 strerror(err));
		sconn_free(c);
		return;
	}
	log_debug("service %s: %s -> %s (%s)", c->svc->name, c->client->peer, c->dest, remote->peer);
	if (c->client->dgram)
		udp_relay_start(c->client, remote, o->idle_timeout);
	else
		pipe_start(c->client, remote, o->idle_timeout, NULL, NULL);
	free(c);
}

static int sconn_allowed(const struct sconn *c, const char *host, uint16_t port)
{
	const struct stream_opts *o = c->svc->handler.state;
	if (o->allow.n && bypass_match_port(&o->allow, host, port))
		return 0;
	return !(c->svc->bypass && bypass_match_port(c->svc->bypass, host, port));
}

static void sconn_header_done(struct sconn *c)
{
	struct stream_opts *o = c->svc->handler.state;
	struct stream_header h;
	int rc = stream_header_parse(c->hdr, sizeof c->hdr, &h);

	ev_timer_stop(c->client->w->loop, &c->timer);
	stream_read_stop(c->client);
	if (rc < 0) {
		log_info("service %s: %s: invalid stream header (%s), closed", c->svc->name, c->client->peer,
			 stream_header_strerror(rc));
		sconn_free(c);
		return;
	}
	if (h.flag & STREAM_HEADER_FLAG_CLOSE_IMMEDIATELY) {
		log_debug("service %s: %s: health check", c->svc->name, c->client->peer);
		sconn_free(c);
		return;
	}
	int port = stream_header_port_number(&h);
	if (port <= 0 || stream_header_dial_addr(&h, c->dest, sizeof c->dest) < 0) {
		log_info("service %s: %s: stream header with an unusable address (host %.*s, port %.*s), closed",
			 c->svc->name, c->client->peer, (int)strnlen(h.host, h.host_len), h.host,
			 (int)strnlen(h.port, h.port_len), h.port);
		sconn_free(c);
		return;
	}
	/* Go dials ":80" on the local system. */
	const char *host = h.host_len ? h.host : "127.0.0.1";
	if (!sconn_allowed(c, host, (uint16_t)port)) {
		log_info("service %s: %s: stream to %s refused by the allow list", c->svc->name, c->client->peer,
			 c->dest);
		sconn_free(c);
		return;
	}
	c->state = SC_DIALING;
	struct dial_opts d = { .chain = c->svc->handler.chain, .dgram = c->client->dgram, .timeout = o->dial_timeout,
			       .svc = c->svc };
	c->dial = router_dial(c->client->w, &d, host, (uint16_t)port, sconn_dialed, c);
}

/*
 * TCP: bytes after the header are payload and wait for the pipe. DTLS: the
 * GoDoxy agent reads the header with io.ReadFull into 275 bytes from pion,
 * which fails on a record larger than what is left of that buffer; so the
 * header may span records, but no record may cross its end.
 */
static void sconn_read(struct stream *s, const char *data, size_t len)
{
	struct sconn *c = s->ud;
	size_t need = sizeof c->hdr - c->have;

	if (!len) {
		log_debug("service %s: %s: closed before the stream header", c->svc->name, s->peer);
		sconn_free(c);
		return;
	}
	if (s->dgram && len > need) {
		log_info("service %s: %s: invalid stream header (a %zu-byte record), closed", c->svc->name, s->peer,
			 c->have + len);
		sconn_free(c);
		return;
	}
	size_t take = len < need ? len : need;
	memcpy(c->hdr + c->have, data, take);
	c->have += take;
	if (c->have < sizeof c->hdr)
		return;
	if (len > take)
		stream_unread(s, data + take, len - take);
	sconn_header_done(c);
}

static void sconn_event(struct stream *s, enum stream_event ev, int err)
{
	struct sconn *c = s->ud;
	if (ev != STREAM_EV_ERROR)
		return;
	log_debug("service %s: %s: %s before the stream began", c->svc->name, s->peer, strerror(err ? err : EIO));
	sconn_free(c);
}

static void sconn_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sconn *c = t->data;
	(void)loop;
	(void)revents;
	log_info("service %s: %s: no stream header within %.0fs, closed", c->svc->name, c->client->peer,
		 ((struct stream_opts *)c->svc->handler.state)->read_timeout);
	sconn_free(c);
}

static void stream_handle(struct service *svc, struct stream *client)
{
	struct stream_opts *o = svc->handler.state;

	if (o->alpn_routing && !client->dgram && strcmp(client->alpn, STREAM_ALPN) != 0) {
		if (o->api) {
			stream_api_serve(svc, &o->api_opts, client);
		} else {
			log_debug("service %s: %s: ALPN \"%s\" is not %s, closed", svc->name, client->peer, client->alpn,
				  STREAM_ALPN);
			stream_close(client);
		}
		return;
	}
	struct sconn *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->client = client;
	c->state = SC_HEADER;
	ev_timer_init(&c->timer, sconn_timeout, o->read_timeout, 0);
	c->timer.data = c;
	ev_timer_start(client->w->loop, &c->timer);
	stream_set_callbacks(client, sconn_read, sconn_event, c);
	stream_read_start(client);
}

const struct handler_type handler_stream = {
	.name = "stream",
	.init = stream_handler_init,
	.fini = stream_handler_fini,
	.handle = stream_handle,
};
