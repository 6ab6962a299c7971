/*
 * connector ss: a Shadowsocks AEAD client (GOST's connector ss, TCP). The
 * method and password are the node's auth (-F ss://METHOD:PASSWORD@host:port).
 * Like GOST it asks nothing of the server: the stream is handed back at once
 * and the salt and the encrypted target address go out in one chunk with the
 * application's first bytes (src/xprt/ss_stream.c), or alone after a short
 * wait (a server-speaks-first protocol), or at the application's shutdown.
 * UDP goes through ssu, not here (GOST: "network udp is unsupported").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socks5.h"
#include "src/conf/model.h"
#include "src/core/log.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/xprt/ss_stream.h"

/* How long the target address waits for the application's first bytes. */
#define SS_PREFIX_WAIT 0.1

static int ss_cinit(struct node *n, struct cfg_err *e)
{
	struct ss_cfg *c = xcalloc(1, sizeof *c);
	n->connector.state = c;
	return ss_cfg_parse(c, &n->connector.auth, n->connector.md, "connector.auth", e);
}

static void ss_cfini(struct node *n)
{
	struct ss_cfg *c = n->connector.state;
	if (c)
		memset(c->key, 0, sizeof c->key);
	free(c);
}

static void ss_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
		       stream_done_cb cb, void *ctx)
{
	struct ss_cfg *c = n->connector.state;
	struct socks5_addr a;
	uint8_t hdr[SOCKS5_REQUEST_MAX];
	int len;
	if (dgram) {
		log_info("ss node %s: udp to %s:%u is not supported (use ssu)", n->addr, host, port);
		stream_close(lower);
		cb(ctx, NULL, EPROTONOSUPPORT);
		return;
	}
	if (socks5_addr_from_host(&a, host, port) < 0 || (len = socks5_addr_encode(hdr, sizeof hdr, &a)) < 0) {
		log_warn("ss node %s: cannot encode the target %s:%u", n->addr, host, port);
		stream_close(lower);
		cb(ctx, NULL, EINVAL);
		return;
	}
	struct stream *s = ss_stream_new(lower, c, hdr, (size_t)len, SS_PREFIX_WAIT);
	cb(ctx, s, s ? 0 : EPROTO);
}

const struct connector_type connector_ss = {
	.name = "ss",
	.init = ss_cinit,
	.fini = ss_cfini,
	.connect = ss_connect,
	.sends_auth = 1, /* as the key */
};
