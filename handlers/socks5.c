/*
 * handler socks5: SOCKS5 (RFC 1928) with the no-auth and username/password
 * (RFC 1929) methods.
 *  - CONNECT: the router reaches the target (through the chain), the reply
 *    carries the outgoing address, then a pipe joins the two.
 *  - UDP ASSOCIATE (metadata udp: true, as in GOST): a UDP relay socket next
 *    to the TCP connection; each destination gets its own datagram stream
 *    from the router; the association lives as long as the TCP connection.
 *  - GOST's UDP-over-TCP command (0xF3, what its socks5 connector sends for
 *    UDP): the same relay, with the datagrams framed on the TCP stream.
 *  - BIND, GOST's multiplexed BIND (0xF2) and its UDP BIND (0xF3 with a
 *    port) with metadata bind: true (handlers/socks5_bind.c); without it
 *    they get reply 2 (not allowed), as from GOST.
 * The wire format is in proto/socks5.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "src/core/log.h"
#include "src/core/pipe.h"
#include "handlers/proxy.h"
#include "handlers/socks5_bind.h"
#include "handlers/udp_targets.h"
#include "src/svc/service.h"
#include "proto/socks5.h"
#include "src/core/util.h"

#define LINGER_SECONDS 2.0

struct s5_opts {
	struct proxy_opts p;
	int udp;                    /* UDP ASSOCIATE and UDP-over-TCP allowed */
	struct socks5_bind_opts bind;
};

enum s5_state {
	S5_GREETING,                /* VER NMETHODS METHODS */
	S5_AUTH,                    /* RFC 1929 VER ULEN UNAME PLEN PASSWD */
	S5_REQUEST,                 /* VER CMD RSV ATYP DST.ADDR DST.PORT */
	S5_DIAL,                    /* CONNECT: the router is reaching the target */
	S5_UDP,                     /* UDP ASSOCIATE: relaying; the TCP side only signals the end */
	S5_UDP_TUN,                 /* 0xF3: datagrams framed on the TCP stream */
	S5_LINGER,                  /* failure reply queued; waiting for the client to close */
};

/* One client connection; owns everything below until the streams go to a pipe. */
struct s5_conn {
	struct service *svc;
	const struct s5_opts *o;
	enum s5_state state;
	struct stream *client;
	struct buf in;             /* client bytes not handled yet */
	struct proxy_dial *dial;
	char host[SOCKS5_DOMAIN_MAX + 1];
	uint16_t port;
	char user[256];             /* the user it authenticated as (GOST's client id); "": none */
	ev_timer timer;
	/* UDP ASSOCIATE */
	int ufd;                    /* relay socket, -1 when none; owned */
	ev_io uio;
	struct sockaddr_storage tcp_peer, upeer;
	socklen_t uplen;
	struct udp_targets targets; /* the association's destinations */
};

static void s5_free(struct s5_conn *c, int close_client);

/* ---- small helpers ---- */

static uint8_t rep_for_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return SOCKS5_REP_CONNECTION_REFUSED;
	case ENETUNREACH:
		return SOCKS5_REP_NETWORK_UNREACHABLE;
	case EHOSTUNREACH:
	case ETIMEDOUT:
		return SOCKS5_REP_HOST_UNREACHABLE;
	case EACCES:
	case EPERM:
		return SOCKS5_REP_NOT_ALLOWED;
	default:
		return SOCKS5_REP_GENERAL_FAILURE;
	}
}

static void send_reply(struct s5_conn *c, uint8_t rep, const struct socks5_addr *bnd)
{
	uint8_t buf[SOCKS5_REQUEST_MAX];
	int n = socks5_reply_encode(buf, sizeof buf, rep, bnd);
	if (n > 0)
		stream_write(c->client, buf, (size_t)n);
}

static void arm(struct s5_conn *c, double secs)
{
	ev_timer_stop(c->client->w->loop, &c->timer);
	if (secs > 0) {
		ev_timer_set(&c->timer, secs, 0);
		ev_timer_start(c->client->w->loop, &c->timer);
	}
}

/* After a failure reply: stop writing, read until the client closes (closing with unread
 * input would reset the connection and lose the reply). */
static void linger(struct s5_conn *c)
{
	c->state = S5_LINGER;
	stream_shutdown(c->client);
	stream_read_start(c->client);
	arm(c, LINGER_SECONDS);
}

static void fail(struct s5_conn *c, uint8_t rep)
{
	send_reply(c, rep, NULL);
	linger(c);
}

/* ---- UDP: destinations ---- */

/* A datagram from a destination goes back to the client with its address in front. */
static void to_client(void *ctx, const struct socks5_addr *from, const char *data, size_t len)
{
	struct s5_conn *c = ctx;
	uint8_t hdr[3 + SOCKS5_REQUEST_MAX];
	if (c->state == S5_UDP_TUN) {
		int n = len <= 0xffff ? socks5_udp_header_encode(hdr, sizeof hdr, (uint16_t)len, 0xff, from) : -1;
		if (n < 0 || !len || c->client->wqueued > STREAM_HIGH_WATER)
			return; /* too big, empty (GOST would desync) or a slow client: dropped, as UDP would */
		stream_write(c->client, hdr, (size_t)n);
		stream_write(c->client, data, len);
		return;
	}
	int n = socks5_udp_header_encode(hdr, sizeof hdr, 0, 0, from);
	if (n < 0 || !c->uplen)
		return;
	struct iovec iov[2] = { { hdr, (size_t)n }, { (void *)data, len } };
	struct msghdr m = { .msg_name = &c->upeer, .msg_namelen = c->uplen, .msg_iov = iov, .msg_iovlen = 2 };
	if (sendmsg(c->ufd, &m, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		log_debug("service %s: udp relay to %s: %s", c->svc->name, c->client->peer, strerror(errno));
}

static void to_target(struct s5_conn *c, const struct socks5_addr *a, const uint8_t *data, size_t len)
{
	if (udp_targets_send(&c->targets, a, data, len) == 0 && c->o->p.idle_timeout > 0)
		arm(c, c->o->p.idle_timeout);
}

/* ---- UDP ASSOCIATE: the relay socket ---- */

static int same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	struct socks5_addr x, y;
	if (socks5_addr_from_sockaddr(&x, (const struct sockaddr *)a) < 0 ||
	    socks5_addr_from_sockaddr(&y, (const struct sockaddr *)b) < 0 || x.atyp != y.atyp)
		return 0;
	return !memcmp(x.u.ipv6, y.u.ipv6, x.atyp == SOCKS5_ATYP_IPV4 ? 4 : 16);
}

static void udp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct s5_conn *c = io->data;
	char *buf = c->client->w->scratch;
	(void)loop;
	(void)revents;
	for (int i = 0; i < 64 && c->ufd >= 0; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof from;
		struct socks5_udp_header h;
		ssize_t n = recvfrom(c->ufd, buf, WORKER_SCRATCH_SIZE, 0, (struct sockaddr *)&from, &flen);
		if (n < 0)
			return;
		/* Only the client that asked for the association may use it (RFC 1928 7). */
		if (!same_ip(&from, &c->tcp_peer))
			continue;
		int hl = socks5_udp_header_parse((const uint8_t *)buf, (size_t)n, &h);
		if (hl <= 0 || h.rsv || h.frag)
			continue; /* truncated, malformed or a fragment: dropped */
		memcpy(&c->upeer, &from, flen);
		c->uplen = flen;
		to_target(c, &h.addr, (const uint8_t *)buf + hl, (size_t)n - (size_t)hl);
	}
}

/* A UDP socket on the address the client reached us at; -1 on failure. */
static int udp_associate(struct s5_conn *c, struct socks5_addr *bnd)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof local, plen = sizeof c->tcp_peer;
	int fd = stream_fd(c->client);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    getpeername(fd, (struct sockaddr *)&c->tcp_peer, &plen) < 0) {
		log_info("service %s: UDP ASSOCIATE needs a plain TCP client connection", c->svc->name);
		return -1;
	}
	if (local.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&local)->sin6_port = 0;
	else
		((struct sockaddr_in *)&local)->sin_port = 0;
	c->ufd = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	llen = sizeof local;
	if (c->ufd < 0 || bind(c->ufd, (struct sockaddr *)&local, local.ss_family == AF_INET6 ?
				sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0 ||
	    getsockname(c->ufd, (struct sockaddr *)&local, &llen) < 0) {
		log_warn("service %s: UDP relay socket: %s", c->svc->name, strerror(errno));
		return -1;
	}
	socks5_addr_from_sockaddr(bnd, (struct sockaddr *)&local);
	ev_io_init(&c->uio, udp_read_cb, c->ufd, EV_READ);
	c->uio.data = c;
	ev_io_start(c->client->w->loop, &c->uio);
	return 0;
}

/* 0xF3 frames from the client: RSV = length, FRAG, address, data. */
static int udp_tun_frames(struct s5_conn *c)
{
	while (c->in.len) {
		struct socks5_udp_header h;
		int hl = socks5_udp_header_parse((const uint8_t *)c->in.p, c->in.len, &h);
		if (hl < 0)
			return -1;
		if (hl == 0 || c->in.len < (size_t)hl + h.rsv)
			return 0;
		if (h.rsv)
			to_target(c, &h.addr, (const uint8_t *)c->in.p + hl, h.rsv);
		buf_consume(&c->in, (size_t)hl + h.rsv);
	}
	return 0;
}

/* ---- CONNECT ---- */

static void connect_dialed(void *ctx, struct stream *remote, int err)
{
	struct s5_conn *c = ctx;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct socks5_addr bnd, *bp = NULL;
	c->dial = NULL;
	if (err) {
		log_info("service %s: %s: CONNECT %s:%u: %s", c->svc->name, c->client->peer, c->host, c->port,
			 strerror(err));
		fail(c, rep_for_errno(err));
		return;
	}
	log_info("service %s: %s: CONNECT %s:%u", c->svc->name, c->client->peer, c->host, c->port);
	int fd = stream_fd(remote);
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    socks5_addr_from_sockaddr(&bnd, (struct sockaddr *)&ss) == 0)
		bp = &bnd;
	send_reply(c, SOCKS5_REP_SUCCEEDED, bp);
	if (c->in.len)
		stream_write(remote, c->in.p, c->in.len); /* sent before our reply came */
	struct stream *client = c->client;
	double idle = c->o->p.idle_timeout;
	s5_free(c, 0);
	pipe_start(client, remote, idle, NULL, NULL);
}

/* ---- the handshake ---- */

static int step_greeting(struct s5_conn *c)
{
	struct socks5_greeting g;
	uint8_t out[2];
	int n = socks5_greeting_parse((const uint8_t *)c->in.p, c->in.len, &g);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	buf_consume(&c->in, (size_t)n);
	uint8_t m = SOCKS5_METHOD_NO_ACCEPTABLE;
	if (service_auth_required(c->svc)) {
		if (socks5_greeting_has(&g, SOCKS5_METHOD_USERPASS))
			m = SOCKS5_METHOD_USERPASS;
	} else if (socks5_greeting_has(&g, SOCKS5_METHOD_NONE)) {
		m = SOCKS5_METHOD_NONE;
	}
	socks5_method_choice_encode(out, sizeof out, m);
	stream_write(c->client, out, 2);
	if (m == SOCKS5_METHOD_NO_ACCEPTABLE) {
		log_info("service %s: %s: no acceptable SOCKS5 method", c->svc->name, c->client->peer);
		linger(c);
		return -2;
	}
	c->state = m == SOCKS5_METHOD_USERPASS ? S5_AUTH : S5_REQUEST;
	return 1;
}

static int step_auth(struct s5_conn *c)
{
	struct socks5_userpass up;
	uint8_t out[2];
	int n = socks5_userpass_parse((const uint8_t *)c->in.p, c->in.len, &up);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	buf_consume(&c->in, (size_t)n);
	int ok = service_auth_check(c->svc, up.user, up.pass);
	socks5_auth_reply_encode(out, sizeof out, ok ? SOCKS5_AUTH_SUCCESS : SOCKS5_AUTH_FAILURE);
	stream_write(c->client, out, 2);
	if (!ok) {
		log_info("service %s: %s: SOCKS5 authentication failed for user %s", c->svc->name, c->client->peer,
			 up.user);
		linger(c);
		return -2;
	}
	snprintf(c->user, sizeof c->user, "%s", up.user);
	c->state = S5_REQUEST;
	return 1;
}

static int start_udp(struct s5_conn *c, const struct socks5_request *req)
{
	struct socks5_addr bnd;
	if (!c->o->udp) {
		log_info("service %s: %s: UDP relay is disabled (metadata udp: true enables it)", c->svc->name,
			 c->client->peer);
		fail(c, SOCKS5_REP_NOT_ALLOWED);
		return -2;
	}
	if (req->cmd == SOCKS5_CMD_UDP_TUN) {
		c->state = S5_UDP_TUN;
		send_reply(c, SOCKS5_REP_SUCCEEDED, NULL);
	} else {
		if (udp_associate(c, &bnd) < 0) {
			fail(c, SOCKS5_REP_GENERAL_FAILURE);
			return -2;
		}
		c->state = S5_UDP;
		send_reply(c, SOCKS5_REP_SUCCEEDED, &bnd);
	}
	udp_targets_init(&c->targets, c->client->w, c->svc, &c->o->p, c->client->peer, to_client, c);
	log_info("service %s: %s: UDP %s", c->svc->name, c->client->peer,
		 c->state == S5_UDP ? "ASSOCIATE" : "over TCP");
	arm(c, c->o->p.idle_timeout);
	return 1;
}

static void client_read(struct stream *s, const char *data, size_t len);
static void client_event(struct stream *s, enum stream_event ev, int err);

static int start_bind(struct s5_conn *c, const struct socks5_request *req)
{
	if (!c->o->bind.enabled) {
		log_info("service %s: %s: BIND is disabled (metadata bind: true enables it)", c->svc->name,
			 c->client->peer);
		fail(c, SOCKS5_REP_NOT_ALLOWED);
		return -2;
	}
	struct stream *client = c->client;
	arm(c, 0);
	stream_read_stop(client);
	if (c->in.len)
		stream_unread(client, c->in.p, c->in.len);
	buf_consume(&c->in, c->in.len);
	stream_set_callbacks(client, NULL, NULL, NULL);
	int rep = socks5_bind_start(c->svc, &c->o->bind, c->o->p.idle_timeout, client, req);
	if (rep) {
		stream_set_callbacks(client, client_read, client_event, c);
		fail(c, (uint8_t)rep);
		return -2;
	}
	s5_free(c, 0);
	return -3;
}

static int step_request(struct s5_conn *c)
{
	struct socks5_request req;
	int n = socks5_request_parse((const uint8_t *)c->in.p, c->in.len, &req);
	if (n == 0)
		return 0;
	if (n < 0) {
		if (n == SOCKS5_ERR_COMMAND || n == SOCKS5_ERR_ADDRESS) {
			fail(c, n == SOCKS5_ERR_COMMAND ? SOCKS5_REP_COMMAND_NOT_SUPPORTED
							: SOCKS5_REP_ADDRESS_NOT_SUPPORTED);
			return -2;
		}
		return -1;
	}
	buf_consume(&c->in, (size_t)n);
	/* GOST's UDP tunnel with a port is its UDP BIND (bind: true), without one a UDP relay (udp: true). */
	if (req.cmd == SOCKS5_CMD_BIND || req.cmd == SOCKS5_CMD_MUX_BIND ||
	    (req.cmd == SOCKS5_CMD_UDP_TUN && req.addr.port))
		return start_bind(c, &req);
	if (req.cmd == SOCKS5_CMD_UDP_ASSOCIATE || req.cmd == SOCKS5_CMD_UDP_TUN)
		return start_udp(c, &req);
	if (req.cmd != SOCKS5_CMD_CONNECT) {
		fail(c, SOCKS5_REP_COMMAND_NOT_SUPPORTED);
		return -2;
	}
	socks5_addr_host(&req.addr, c->host, sizeof c->host);
	c->port = req.addr.port;
	if (proxy_refused(c->svc, c->host, c->port)) {
		log_info("service %s: %s: CONNECT %s:%u refused by bypass", c->svc->name, c->client->peer, c->host,
			 c->port);
		fail(c, SOCKS5_REP_NOT_ALLOWED);
		return -2;
	}
	c->state = S5_DIAL;
	arm(c, 0);
	stream_read_stop(c->client);
	c->dial = proxy_dial_start(c->client->w, c->client->peer, c->user, c->svc, &c->o->p, c->host, c->port, 0,
				   connect_dialed, c);
	return 0;
}

/* Runs the handshake over what c->in holds. */
static void s5_process(struct s5_conn *c)
{
	for (;;) {
		int r;
		switch (c->state) {
		case S5_GREETING:
			r = step_greeting(c);
			break;
		case S5_AUTH:
			r = step_auth(c);
			break;
		case S5_REQUEST:
			r = step_request(c);
			break;
		case S5_UDP_TUN:
			r = udp_tun_frames(c);
			break;
		default:
			return;
		}
		if (r == -2 || r == -3)
			return; /* answered and lingering, or handed on and c is gone */
		if (r < 0) {
			log_info("service %s: %s: malformed SOCKS5 message", c->svc->name, c->client->peer);
			s5_free(c, 1);
			return;
		}
		if (r == 0 || c->state == S5_DIAL)
			return;
	}
}

static void client_read(struct stream *s, const char *data, size_t len)
{
	struct s5_conn *c = s->ud;
	if (!len) {
		s5_free(c, 1); /* also ends an association */
		return;
	}
	switch (c->state) {
	case S5_LINGER:
	case S5_UDP:
		return; /* nothing more is expected on the TCP side */
	case S5_DIAL:
		buf_append(&c->in, data, len);
		stream_read_stop(s);
		return;
	default:
		/* at most one partial frame (64 KiB and a header) and one read */
		if (c->in.len + len > 0xffff + 3 + SOCKS5_REQUEST_MAX + WORKER_SCRATCH_SIZE) {
			s5_free(c, 1);
			return;
		}
		buf_append(&c->in, data, len);
		s5_process(c);
	}
}

static void client_event(struct stream *s, enum stream_event ev, int err)
{
	struct s5_conn *c = s->ud;
	(void)err;
	if (ev == STREAM_EV_ERROR)
		s5_free(c, 1);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct s5_conn *c = t->data;
	(void)loop;
	(void)revents;
	s5_free(c, 1);
}

static void s5_free(struct s5_conn *c, int close_client)
{
	ev_timer_stop(c->client->w->loop, &c->timer);
	proxy_dial_cancel(c->dial);
	udp_targets_free(&c->targets);
	if (c->ufd >= 0) {
		ev_io_stop(c->client->w->loop, &c->uio);
		close(c->ufd);
	}
	if (close_client)
		stream_close(c->client);
	buf_free(&c->in);
	free(c);
}

/* ---- the type ---- */

int socks5_proxy_init(struct service *svc, void **state, struct cfg_err *e)
{
	struct s5_opts *o = xcalloc(1, sizeof *o);
	*state = o;
	if (proxy_opts_parse(svc, &o->p, e) < 0 || md_bool(svc->handler.md, "udp", 0, &o->udp, e) < 0 ||
	    socks5_bind_init(svc, &o->bind, e) < 0)
		return -1;
	return 0;
}

void socks5_proxy_free(void *state) { free(state); }

void socks5_proxy_serve(struct service *svc, void *state, struct stream *client)
{
	struct s5_conn *c = xcalloc(1, sizeof *c);
	c->svc = svc;
	c->o = state;
	c->client = client;
	c->state = S5_GREETING;
	c->ufd = -1;
	ev_init(&c->timer, timer_cb);
	c->timer.data = c;
	stream_set_callbacks(client, client_read, client_event, c);
	arm(c, c->o->p.read_timeout);
	stream_read_start(client);
}

static int s5_init(struct service *svc, struct cfg_err *e) { return socks5_proxy_init(svc, &svc->handler.state, e); }
static void s5_fini(struct service *svc) { socks5_proxy_free(svc->handler.state); }
static void s5_handle(struct service *svc, struct stream *client)
{
	socks5_proxy_serve(svc, svc->handler.state, client);
}

const struct handler_type handler_socks5 = {
	.name = "socks5",
	.init = s5_init,
	.fini = s5_fini,
	.handle = s5_handle,
	.checks_users = 1,
};
