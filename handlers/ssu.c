/*
 * handler ssu: Shadowsocks AEAD over UDP (GOST's handler ssu), on a udp
 * listener by default (-L ssu://METHOD:PASSWORD@:8338). The method and
 * password are the handler's auth, as for ss.
 *
 * Each client address is a session (src/svc/udp_sessions.c); each of its
 * packets opens to [SOCKS address][payload] (src/xprt/ss_stream.c), and the
 * payload goes to that target through the handler's chain, one datagram
 * stream per target (handlers/udp_targets.c). What a target sends back goes
 * to the client sealed, with the target's address in front. A packet that
 * does not open (a wrong key, garbage, a replay) or names no valid target is
 * dropped without a word, as ss-server does; so is one to a bypassed target.
 *
 * A session with no datagram either way for ttl (handler, service or
 * listener metadata; else readTimeout; 60 s by default, GOST's UDP timeout)
 * ends, closing its targets. Metadata also: dialTimeout, retries
 * (handlers/proxy.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "handlers/proxy.h"
#include "handlers/udp_targets.h"
#include "proto/socks5.h"
#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/service.h"
#include "src/xprt/ss_stream.h"

#define SSU_TTL 60.0
#define SSU_STACK_REPLY 2048    /* replies this size need no allocation */

struct ssu_opts {
	struct proxy_opts p;
	struct ss_cfg c;
	double ttl;                 /* a session's idle limit */
};

/* One client address; owns its packet stream and its targets. */
struct ssu_sess {
	struct service *svc;
	const struct ssu_opts *o;
	struct stream *client;      /* the packet stream over the listener's session */
	struct udp_targets targets;
	ev_timer idle;
};

/* The first of handler, service and listener metadata that has key. */
static const struct cnode *md_with(struct service *svc, const char *key)
{
	const struct cnode *mds[] = { svc->handler.md, svc->md, svc->listener.md };
	for (size_t i = 0; i < sizeof mds / sizeof *mds; i++)
		if (mds[i] && cnode_get(mds[i], key))
			return mds[i];
	return NULL;
}

static int ssu_init(struct service *svc, struct cfg_err *e)
{
	struct ssu_opts *o = xcalloc(1, sizeof *o);
	svc->handler.state = o;
	const struct cnode *h = cnode_get(svc->cfg, "handler");
	if (ss_cfg_parse(&o->c, &svc->handler.auth, h ? h : svc->cfg, "handler.auth", e) < 0 ||
	    proxy_opts_parse(svc, &o->p, e) < 0)
		return -1;
	if (svc->listener.type && svc->listener.type->socktype != SOCK_DGRAM) {
		const struct cnode *l = cnode_get(svc->cfg, "listener");
		return cfg_error(e, l ? l : svc->cfg, "listener.type",
				 "handler ssu runs on a datagram listener (udp, dtls); GOST's UDP over a %s stream "
				 "is not implemented",
				 svc->listener.type->name);
	}
	const struct cnode *md = md_with(svc, "ttl");
	o->ttl = SSU_TTL;
	if (md) {
		if (md_duration(md, "ttl", SSU_TTL, &o->ttl, e) < 0)
			return -1;
	} else if (md_with(svc, "readTimeout")) {
		o->ttl = o->p.read_timeout;
	}
	if (o->ttl <= 0)
		o->ttl = SSU_TTL;
	return 0;
}

static void ssu_fini(struct service *svc)
{
	struct ssu_opts *o = svc->handler.state;
	if (o)
		memset(o->c.key, 0, sizeof o->c.key);
	free(o);
}

static void sess_close(struct ssu_sess *ss)
{
	ev_timer_stop(ss->client->w->loop, &ss->idle);
	udp_targets_free(&ss->targets);
	stream_close(ss->client);
	free(ss);
}

static void sess_touch(struct ssu_sess *ss)
{
	ev_timer_again(ss->client->w->loop, &ss->idle);
}

/* A target's datagram: to the client, sealed, with the target's address in front. */
static void sess_reply(void *ctx, const struct socks5_addr *from, const char *data, size_t len)
{
	struct ssu_sess *ss = ctx;
	uint8_t stackbuf[SSU_STACK_REPLY];
	int hl = socks5_addr_size(from);
	if (hl < 0 || len > 0xffff)
		return;
	size_t total = (size_t)hl + len;
	uint8_t *p = total <= sizeof stackbuf ? stackbuf : xmalloc(total);
	socks5_addr_encode(p, (size_t)hl, from);
	memcpy(p + hl, data, len);
	sess_touch(ss);
	if (stream_write(ss->client, (const char *)p, total) < 0)
		log_debug("service %s: %s: udp reply dropped", ss->svc->name, ss->client->peer);
	if (p != stackbuf)
		free(p);
}

static void sess_read(struct stream *s, const char *data, size_t len)
{
	struct ssu_sess *ss = s->ud;
	struct socks5_addr a;
	if (!len) {
		sess_close(ss);
		return;
	}
	/* The packet stream lets through only plaintexts that start with a valid address. */
	int hl = ss_packet_addr((const uint8_t *)data, len, &a);
	if (hl < 0 || (size_t)hl == len)
		return;
	sess_touch(ss);
	udp_targets_send(&ss->targets, &a, data + hl, len - (size_t)hl);
}

static void sess_event(struct stream *s, enum stream_event ev, int err)
{
	struct ssu_sess *ss = s->ud;
	if (ev != STREAM_EV_ERROR)
		return;
	log_debug("service %s: %s: %s", ss->svc->name, s->peer, strerror(err));
	sess_close(ss);
}

static void sess_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ssu_sess *ss = t->data;
	(void)loop;
	(void)revents;
	log_info("service %s: %s: udp session idle for %gs, ended", ss->svc->name, ss->client->peer, ss->o->ttl);
	sess_close(ss);
}

static void ssu_handle(struct service *svc, struct stream *lower)
{
	struct ssu_opts *o = svc->handler.state;
	if (!lower->dgram) {
		/* GOST's UDP-over-TCP for ssu (a stream listener) is not implemented */
		log_info("service %s: %s: handler ssu needs a datagram listener (udp)", svc->name, lower->peer);
		stream_close(lower);
		return;
	}
	struct stream *client = ss_packet_stream_new(lower, &o->c, NULL);
	if (!client)
		return;
	struct ssu_sess *ss = xcalloc(1, sizeof *ss);
	ss->svc = svc;
	ss->o = o;
	ss->client = client;
	udp_targets_init(&ss->targets, client->w, svc, &o->p, client->peer, sess_reply, ss);
	ev_init(&ss->idle, sess_idle);
	ss->idle.repeat = o->ttl;
	ss->idle.data = ss;
	ev_timer_again(client->w->loop, &ss->idle);
	stream_set_callbacks(client, sess_read, sess_event, ss);
	stream_read_start(client);
}

const struct handler_type handler_ssu = {
	.name = "ssu",
	.init = ssu_init,
	.fini = ssu_fini,
	.handle = ssu_handle,
	.checks_users = 1, /* the method and password are the key every client must prove */
};
