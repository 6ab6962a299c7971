/*
 * connector socks4 (alias socks4a): CONNECT through a SOCKS4 server; an IPv4
 * target goes as SOCKS4, a name as SOCKS4a. The node's auth user name is the
 * USERID. TCP only. The codec is proto/socks5.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/handshake.h"
#include "src/core/log.h"
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "proto/socks5.h"
#include "src/core/util.h"

struct s4c_opts {
	double timeout;
};

static int s4_reply(struct handshake *h)
{
	uint8_t code, ip[4];
	uint16_t port;
	int n = socks4_reply_parse((const uint8_t *)h->buf.p, h->buf.len, &code, ip, &port);
	if (n <= 0)
		return n < 0 ? -EPROTO : 0;
	buf_consume(&h->buf, (size_t)n);
	if (code != SOCKS4_REP_GRANTED) {
		log_info("node %s (%s): SOCKS4 request rejected (%u)", h->n->name, h->n->addr, code);
		return code == SOCKS4_REP_REJECTED ? -ECONNREFUSED : -EACCES;
	}
	return 1;
}

static const struct handshake_proto s4_proto = {
	.reply = s4_reply,
	.timeout_msg = "no SOCKS4 answer",
};

static void s4c_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			stream_done_cb cb, void *ctx)
{
	struct s4c_opts *o = n->connector.state;
	uint8_t out[8 + 256 + 256], ip[4];
	const char *user = n->connector.auth.username ? n->connector.auth.username : "";
	int len;
	if (dgram) {
		stream_close(lower);
		cb(ctx, NULL, EPROTONOSUPPORT);
		return;
	}
	if (inet_pton(AF_INET, host, ip) == 1)
		len = socks4_request_encode(out, sizeof out, SOCKS4_CMD_CONNECT, ip, port, user, NULL);
	else
		len = socks4_request_encode(out, sizeof out, SOCKS4_CMD_CONNECT, NULL, port, user, host);
	if (len < 0) {
		stream_close(lower);
		cb(ctx, NULL, EINVAL);
		return;
	}
	handshake_start(&s4_proto, n, lower, o->timeout, out, (size_t)len, NULL, cb, ctx);
}

static int s4c_init(struct node *n, struct cfg_err *e)
{
	struct s4c_opts *o = xcalloc(1, sizeof *o);
	n->connector.state = o;
	return handshake_timeout_parse(n, &o->timeout, e);
}

static void s4c_fini(struct node *n) { free(n->connector.state); }

const struct connector_type connector_socks4 = {
	.name = "socks4",
	.init = s4c_init,
	.fini = s4c_fini,
	.connect = s4c_connect,
	.sends_auth = 1,
};
