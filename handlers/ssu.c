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
 * On a stream listener (ssu+tcp://, ssu+tls://...) it is GOST's UDP over
 * TCP: a Shadowsocks stream (src/xprt/ss_stream.c) whose first plaintext is
 * an address (the client's target, not used), then UDP frames both ways
 * (RSV = length, FRAG, the address, the data; replies with FRAG 0xff), one
 * session per connection. A stream that does not authenticate or starts
 * with no valid address is read and discarded without a word until the
 * peer closes or ttl; a malformed frame after that closes it.
 *
 * A session with no datagram either way for ttl (handler, service or
 * listener metadata; else readTimeout; 60 s by default, GOST's UDP timeout)
 * ends, closing its targets. Metadata also: dialTimeout, retries
 * (handlers/proxy.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/proxy.h"
#include "handlers/udp_targets.h"
#include "proto/socks5.h"
#include "src/core/buf.h"
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

enum ssu_state {
	SSU_PACKETS,                /* a datagram session: each read is one packet's plaintext */
	SSU_TUN_HEAD,               /* over a stream: reading the target address the stream starts with */
	SSU_TUN_FRAMES,             /* over a stream: UDP frames */
	SSU_TUN_DRAIN,              /* over a stream, refused without a word: discarding */
};

/* One client (address, or stream); owns its packet or Shadowsocks stream and its targets. */
struct ssu_sess {
	struct service *svc;
	const struct ssu_opts *o;
	enum ssu_state state;
	struct stream *client;      /* the packet stream over the listener's session, or the ss stream */
	struct buf in;              /* over a stream: plaintext not parsed yet */
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
	buf_free(&ss->in);
	free(ss);
}

static void sess_touch(struct ssu_sess *ss)
{
	ev_timer_again(ss->client->w->loop, &ss->idle);
}

/* A target's datagram: to the client, sealed, with the target's address in front (over a stream,
 * as a UDP frame: RSV = length, FRAG 0xff, the address). */
static void sess_reply(void *ctx, const struct socks5_addr *from, const char *data, size_t len)
{
	struct ssu_sess *ss = ctx;
	uint8_t stackbuf[SSU_STACK_REPLY], hdr[3 + SOCKS5_REQUEST_MAX];
	int tun = ss->state != SSU_PACKETS;
	int hl = tun ? socks5_udp_header_encode(hdr, sizeof hdr, (uint16_t)len, 0xff, from)
		     : socks5_addr_encode(hdr, sizeof hdr, from);
	if (hl < 0 || len > 0xffff || (tun && (!len || ss->client->wqueued > STREAM_HIGH_WATER)))
		return; /* too big, empty (a GOST peer would read it as the end) or a slow client: dropped */
	size_t total = (size_t)hl + len;
	uint8_t *p = total <= sizeof stackbuf ? stackbuf : xmalloc(total);
	memcpy(p, hdr, (size_t)hl);
	memcpy(p + hl, data, len);
	sess_touch(ss);
	if (stream_write(ss->client, (const char *)p, total) < 0)
		log_debug("service %s: %s: udp reply dropped", ss->svc->name, ss->client->peer);
	if (p != stackbuf)
		free(p);
}

/* Not a word back: keep reading and discarding until the peer gives up or the session's ttl. */
static void sess_drain(struct ssu_sess *ss, const char *why)
{
	log_info("service %s: %s: %s; discarding the connection's bytes without a reply", ss->svc->name,
		 ss->client->peer, why);
	ss->state = SSU_TUN_DRAIN;
	buf_free(&ss->in);
}

/* Over a stream: the target address first (GOST's client names one; unused), then UDP frames. */
static void tun_read(struct ssu_sess *ss, const char *data, size_t len)
{
	struct socks5_addr a;
	buf_append(&ss->in, data, len);
	if (ss->state == SSU_TUN_HEAD) {
		int n = socks5_addr_parse((const uint8_t *)ss->in.p, ss->in.len, &a);
		if (n == 0)
			return;
		if (n < 0) {
			sess_drain(ss, "no valid address at the start of the stream");
			return;
		}
		buf_consume(&ss->in, (size_t)n);
		ss->state = SSU_TUN_FRAMES;
	}
	while (ss->in.len) {
		struct socks5_udp_header h;
		int hl = socks5_udp_header_parse((const uint8_t *)ss->in.p, ss->in.len, &h);
		if (hl < 0) {
			log_info("service %s: %s: a malformed UDP frame; closing", ss->svc->name, ss->client->peer);
			sess_close(ss);
			return;
		}
		if (hl == 0 || ss->in.len < (size_t)hl + h.rsv)
			return;
		sess_touch(ss);
		if (h.rsv)
			udp_targets_send(&ss->targets, &h.addr, ss->in.p + hl, h.rsv);
		buf_consume(&ss->in, (size_t)hl + h.rsv);
	}
}

static void sess_read(struct stream *s, const char *data, size_t len)
{
	struct ssu_sess *ss = s->ud;
	struct socks5_addr a;
	if (!len) {
		sess_close(ss);
		return;
	}
	if (ss->state == SSU_TUN_DRAIN)
		return;
	if (ss->state != SSU_PACKETS) {
		tun_read(ss, data, len);
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
	if (err == EBADMSG && ss->state == SSU_TUN_HEAD) {
		sess_drain(ss, "authentication failed (wrong method or password, or not shadowsocks)");
		return;
	}
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
	/* a stream (tcp, tls... listeners): GOST's UDP over TCP in a Shadowsocks stream */
	int dgram = lower->dgram;
	struct stream *client = dgram ? ss_packet_stream_new(lower, &o->c, NULL)
					     : ss_stream_new(lower, &o->c, NULL, 0, 0);
	if (!client)
		return;
	struct ssu_sess *ss = xcalloc(1, sizeof *ss);
	ss->svc = svc;
	ss->o = o;
	ss->client = client;
	ss->state = dgram ? SSU_PACKETS : SSU_TUN_HEAD;
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
