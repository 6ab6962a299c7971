/*
 * connector socks5: asks a SOCKS5 server (RFC 1928) for a connection,
 * offering no-auth and, when the node has auth, username/password
 * (RFC 1929). TCP: CONNECT. UDP: GOST's UDP-over-TCP command (0xF3), whose
 * datagrams are framed on the same stream (RSV = length, FRAG = 0xff, the
 * address, the data); the stream handed on is a datagram stream that frames
 * and unframes them (src/core/udp_tun_stream.c). BIND (rtcp through a
 * socks5 last hop): GOST's multiplexed BIND (0xF2), after which the server
 * opens an smux stream per peer, each starting with a reply naming the peer
 * (GOST's rtcp listener always asks for this one); UDP (rudp): the UDP
 * tunnel command with the port to bind, then datagrams framed as for UDP
 * over TCP. The codec is proto/socks5.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/handshake.h"
#include "src/core/filter.h"
#include "src/core/log.h"
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "proto/socks5.h"
#include "src/core/util.h"

struct s5c_opts {
	double timeout;             /* for the whole handshake */
};

enum s5c_state {
	S5C_METHOD,                 /* waiting for the server's method choice */
	S5C_AUTH,                   /* waiting for the RFC 1929 status */
	S5C_REPLY,                  /* waiting for the reply to our request */
};

/* The SOCKS5 side of one handshake (the wait itself is connectors/handshake.c); freed in s5c_done. */
struct s5c_req {
	enum s5c_state state;
	int dgram;
	uint8_t cmd;                /* CONNECT, UDP_TUN or MUX_BIND */
	struct socks5_addr target;
	struct socks5_addr bound;   /* BND of the reply */
	stream_done_cb cb;
	bind_done_cb bind_cb;       /* MUX_BIND: called instead of cb */
	void *ctx;
};

/* ---- the handshake ---- */

/* The handshake is over: a UDP tunnel is handed on as a datagram stream. */
static void s5c_done(void *ctx, struct stream *s, int err)
{
	struct s5c_req *r = ctx;
	stream_done_cb cb = r->cb;
	bind_done_cb bind_cb = r->bind_cb;
	void *cbctx = r->ctx;
	char bound[SOCKS5_ADDR_STRLEN] = "";
	if (!err && r->dgram)
		s = udp_tun_stream_new(s, &r->target);
	if (!err && bind_cb)
		socks5_addr_format(&r->bound, bound, sizeof bound);
	free(r);
	if (bind_cb)
		bind_cb(cbctx, s, err ? NULL : bound, err == EACCES ? ECONNREFUSED : err);
	else
		cb(cbctx, s, err);
}

static int errno_for_rep(uint8_t rep)
{
	switch (rep) {
	case SOCKS5_REP_CONNECTION_REFUSED:
		return ECONNREFUSED;
	case SOCKS5_REP_NETWORK_UNREACHABLE:
		return ENETUNREACH;
	case SOCKS5_REP_HOST_UNREACHABLE:
		return EHOSTUNREACH;
	case SOCKS5_REP_TTL_EXPIRED:
		return ETIMEDOUT;
	case SOCKS5_REP_NOT_ALLOWED:
		return EACCES;
	default:
		return ECONNABORTED;
	}
}

static void send_request(struct handshake *h)
{
	struct s5c_req *r = h->arg;
	uint8_t out[SOCKS5_REQUEST_MAX];
	struct socks5_addr any = { .atyp = SOCKS5_ATYP_IPV4 };
	int n = r->dgram ? socks5_request_encode(out, sizeof out, SOCKS5_CMD_UDP_TUN, &any)
			 : socks5_request_encode(out, sizeof out, r->cmd, &r->target);
	stream_write(h->lower, out, (size_t)n);
	r->state = S5C_REPLY;
}

/* What a step returns besides -errno; the first two are what handshake_proto.reply returns. */
enum { S5C_MORE = 0, S5C_DONE = 1, S5C_NEXT = 2 };

static int req_step(struct handshake *h)
{
	struct s5c_req *r = h->arg;
	const uint8_t *b = (const uint8_t *)h->buf.p;
	int n;
	switch (r->state) {
	case S5C_METHOD: {
		uint8_t m;
		if ((n = socks5_method_choice_parse(b, h->buf.len, &m)) <= 0)
			return n < 0 ? -EPROTO : S5C_MORE;
		buf_consume(&h->buf, (size_t)n);
		if (m == SOCKS5_METHOD_USERPASS && h->n->connector.auth.username) {
			uint8_t out[3 + 255 + 255];
			const struct auth_cfg *a = &h->n->connector.auth;
			n = socks5_userpass_encode(out, sizeof out, a->username, strlen(a->username), a->password,
						   strlen(a->password));
			if (n < 0)
				return -EINVAL;
			stream_write(h->lower, out, (size_t)n);
			r->state = S5C_AUTH;
			return S5C_NEXT;
		}
		if (m != SOCKS5_METHOD_NONE) {
			log_info("node %s (%s): no acceptable SOCKS5 method%s", h->n->name, h->n->addr,
				 h->n->connector.auth.username ? "" : " (the server wants credentials)");
			return -EACCES;
		}
		send_request(h);
		return S5C_NEXT;
	}
	case S5C_AUTH: {
		uint8_t st;
		if ((n = socks5_auth_reply_parse(b, h->buf.len, &st)) <= 0)
			return n < 0 ? -EPROTO : S5C_MORE;
		buf_consume(&h->buf, (size_t)n);
		if (st != SOCKS5_AUTH_SUCCESS) {
			log_info("node %s (%s): SOCKS5 authentication failed", h->n->name, h->n->addr);
			return -EACCES;
		}
		send_request(h);
		return S5C_NEXT;
	}
	case S5C_REPLY: {
		struct socks5_reply rep;
		if ((n = socks5_reply_parse(b, h->buf.len, &rep)) <= 0)
			return n < 0 ? -EPROTO : S5C_MORE;
		buf_consume(&h->buf, (size_t)n);
		if (rep.rep != SOCKS5_REP_SUCCEEDED) {
			log_info("node %s (%s): SOCKS5 request refused: %s", h->n->name, h->n->addr,
				 socks5_reply_str(rep.rep));
			return -errno_for_rep(rep.rep);
		}
		r->bound = rep.addr;
		return S5C_DONE;
	}
	}
	return -EPROTO;
}

/* The server's answers may arrive together: step through all that is there. */
static int s5_reply(struct handshake *h)
{
	int st;
	while ((st = req_step(h)) == S5C_NEXT)
		;
	return st;
}

static const struct handshake_proto s5_proto = {
	.reply = s5_reply,
	.timeout_msg = "no SOCKS5 answer",
};

/* Greeting sent; the request follows the method choice (req_step). */
static void s5c_start(struct node *n, struct stream *lower, struct s5c_req *r, const char *host, uint16_t port)
{
	struct s5c_opts *o = n->connector.state;
	uint8_t methods[2] = { SOCKS5_METHOD_NONE, SOCKS5_METHOD_USERPASS }, out[8];
	r->state = S5C_METHOD;
	int k = socks5_greeting_encode(out, sizeof out, methods, n->connector.auth.username ? 2 : 1);
	int err = socks5_addr_from_host(&r->target, host, port) < 0 ? EINVAL : k < 0 ? ECONNRESET : 0;
	if (err) {
		stream_close(lower);
		s5c_done(r, NULL, err);
		return;
	}
	handshake_start(&s5_proto, n, lower, o->timeout, out, (size_t)k, r, s5c_done, r);
}

static void s5c_connect(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			stream_done_cb cb, void *ctx)
{
	struct s5c_req *r = xcalloc(1, sizeof *r);
	r->dgram = dgram;
	r->cmd = SOCKS5_CMD_CONNECT;
	r->cb = cb;
	r->ctx = ctx;
	s5c_start(n, lower, r, host, port);
}

static void s5c_bind(struct node *n, struct stream *lower, int udp, const char *host, uint16_t port,
		     bind_done_cb cb, void *ctx)
{
	struct s5c_req *r = xcalloc(1, sizeof *r);
	r->cmd = udp ? SOCKS5_CMD_UDP_TUN : SOCKS5_CMD_MUX_BIND;
	r->bind_cb = cb;
	r->ctx = ctx;
	s5c_start(n, lower, r, *host ? host : "0.0.0.0", port); /* GOST sends ":port" as 0.0.0.0 */
}

/* Each MBIND stream opens with a reply: REP 0 and the peer's address. */
static int s5c_bind_peer(const uint8_t *buf, size_t len, char *peer, size_t cap)
{
	struct socks5_reply rep;
	int n = socks5_reply_parse(buf, len, &rep);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	if (rep.rep != SOCKS5_REP_SUCCEEDED)
		return -1;
	if (socks5_addr_format(&rep.addr, peer, cap) < 0 && cap)
		peer[0] = 0;
	return n;
}

static int s5c_init(struct node *n, struct cfg_err *e)
{
	struct s5c_opts *o = xcalloc(1, sizeof *o);
	n->connector.state = o;
	if (handshake_timeout_parse(n, &o->timeout, e) < 0)
		return -1;
	const struct auth_cfg *a = &n->connector.auth;
	if (a->username && (strlen(a->username) > 255 || strlen(a->password) > 255))
		return cfg_error(e, n->md, "connector.auth", "node %s: SOCKS5 user names and passwords are at most 255 bytes",
				 n->name);
	return 0;
}

static void s5c_fini(struct node *n) { free(n->connector.state); }

const struct connector_type connector_socks5 = {
	.name = "socks5",
	.init = s5c_init,
	.fini = s5c_fini,
	.connect = s5c_connect,
	.bind = s5c_bind,
	.bind_peer = s5c_bind_peer,
	.sends_auth = 1,
};
