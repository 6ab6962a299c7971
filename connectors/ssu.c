/*
 * connector ssu: a Shadowsocks AEAD UDP client (GOST's connector ssu), over
 * a datagram dialer (udp by default: -F ssu://METHOD:PASSWORD@host:port).
 * The method and password are the node's auth, as for ss. Like GOST it asks
 * nothing of the server: every datagram the application writes goes out as
 * one packet holding the target's address and the datagram; every packet
 * back that opens gives what follows its address (src/xprt/ss_stream.c).
 * So a socks5 UDP ASSOCIATE or a udp port forward reaches targets through
 * an ssu (or ss-server -u) server. TCP goes through ss, not here.
 *
 * Over a stream dialer (ssu+tcp://, ssu+tls://...), GOST's UDP over TCP: a
 * Shadowsocks stream whose first plaintext is the target's address, then
 * each datagram as a SOCKS5 UDP frame (RSV = length, FRAG 0xff, the target,
 * the data; src/core/udp_tun_stream.c), one stream per target.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socks5.h"
#include "src/conf/model.h"
#include "src/core/filter.h"
#include "src/core/log.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/xprt/ss_stream.h"

/* How long the target address waits for the first datagram (as the ss connector). */
#define SSU_PREFIX_WAIT 0.1

static int ssu_cinit(struct node *n, struct cfg_err *e)
{
	struct ss_cfg *c = xcalloc(1, sizeof *c);
	n->connector.state = c;
	return ss_cfg_parse(c, &n->connector.auth, n->connector.md, "connector.auth", e);
}

static void ssu_cfini(struct node *n)
{
	struct ss_cfg *c = n->connector.state;
	if (c)
		memset(c->key, 0, sizeof c->key);
	free(c);
}

static void ssu_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			stream_done_cb cb, void *ctx)
{
	struct ss_cfg *c = n->connector.state;
	struct socks5_addr a;
	uint8_t hdr[SOCKS5_REQUEST_MAX];
	int len = -1;
	if (!dgram) {
		log_info("ssu node %s: tcp to %s:%u is not supported (ssu carries UDP; TCP goes through ss)", n->addr,
			 host, port);
		stream_close(lower);
		cb(ctx, NULL, EPROTONOSUPPORT);
		return;
	}
	if (socks5_addr_from_host(&a, host, port) < 0 || (len = socks5_addr_encode(hdr, sizeof hdr, &a)) < 0) {
		log_warn("ssu node %s: cannot encode the target %s:%u", n->addr, host, port);
		stream_close(lower);
		cb(ctx, NULL, EINVAL);
		return;
	}
	if (lower->dgram) {
		struct stream *s = ss_packet_stream_new(lower, c, &a);
		cb(ctx, s, s ? 0 : EPROTO);
		return;
	}
	/* GOST's UDP over a stream: a Shadowsocks stream naming the target, carrying UDP-over-TCP frames */
	struct stream *ss = ss_stream_new(lower, c, hdr, (size_t)len, SSU_PREFIX_WAIT);
	cb(ctx, ss ? udp_tun_stream_new(ss, &a) : NULL, ss ? 0 : EPROTO);
}

const struct connector_type connector_ssu = {
	.name = "ssu",
	.init = ssu_cinit,
	.fini = ssu_cfini,
	.connect = ssu_connect,
	.sends_auth = 1, /* as the key */
};
