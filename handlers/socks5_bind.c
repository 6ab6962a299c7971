/* The socks5 handler's BIND and MBIND; see handlers/socks5_bind.h. */
#include "handlers/socks5_bind.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handlers/bind_server.h"
#include "src/core/acceptor.h"
#include "src/core/buf.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "src/core/util.h"

/* What the client may send before its peer arrives; beyond it the client is not read. */
#define EARLY_MAX 65536

int socks5_bind_init(struct service *svc, struct socks5_bind_opts *o, struct cfg_err *e)
{
	static const char *const public_keys[] = { "socks.publicAddr", "publicAddr", NULL };
	struct socks5_addr probe;
	if (md_bool(svc->handler.md, "bind", 0, &o->enabled, e) < 0 || md_bool(svc->handler.md, "comp", 0, &o->comp, e) < 0)
		return -1;
	const char *key = md_alias(svc->handler.md, public_keys);
	o->public_addr = md_str(svc->handler.md, key, NULL);
	if (o->public_addr && !*o->public_addr)
		o->public_addr = NULL;
	if (o->public_addr && socks5_addr_from_host(&probe, o->public_addr, 0) < 0)
		return cfg_error(e, svc->handler.md, key, "service %s: %s must be an IP address or a host name of at most "
				 "255 bytes", svc->name, key);
	return smux_config_parse(svc->handler.md, &o->mux, e);
}

static int write_reply(struct stream *s, uint8_t rep, const struct socks5_addr *a)
{
	uint8_t buf[SOCKS5_REQUEST_MAX];
	int n = socks5_reply_encode(buf, sizeof buf, rep, a);
	return n < 0 ? -1 : stream_write(s, buf, (size_t)n);
}

/* GOST v2's MBIND streams (metadata comp) carry the peer's bytes only. */
static int no_header(uint8_t *out, size_t cap, const struct sockaddr_storage *peer)
{
	(void)out;
	(void)cap;
	(void)peer;
	return 0;
}

static int peer_header(uint8_t *out, size_t cap, const struct sockaddr_storage *peer)
{
	struct socks5_addr a;
	if (socks5_addr_from_sockaddr(&a, (const struct sockaddr *)peer) < 0)
		memset(&a, 0, sizeof a), a.atyp = SOCKS5_ATYP_IPV4;
	return socks5_reply_encode(out, cap, SOCKS5_REP_SUCCEEDED, &a);
}

/* The first reply's address, as GOST gives it: the bound port on publicAddr, else on the
 * address the client reached this server at (the listener's own address when that is not known). */
static void bound_addr(const struct socks5_bind_opts *o, struct stream *client, int fd, struct socks5_addr *a)
{
	struct sockaddr_storage ln, here;
	uint16_t port;
	bind_local_addr(fd, &ln);
	socks5_addr_from_sockaddr(a, (const struct sockaddr *)&ln);
	port = a->port;
	int cfd = stream_fd(client);
	if (o->public_addr && socks5_addr_from_host(a, o->public_addr, port) == 0)
		return;
	if (cfd >= 0 && bind_local_addr(cfd, &here) == 0 &&
	    socks5_addr_from_sockaddr(a, (const struct sockaddr *)&here) == 0)
		a->port = port;
}

/* ---- RFC 1928 BIND: one peer ---- */

/* One per BIND, freed when the peer came (the pipe has both streams) or the client left. */
struct s5_bind {
	struct service *svc;        /* a reference */
	struct stream *client;      /* owned */
	int fd;                     /* the bound port, owned */
	struct acceptor acc;
	struct buf early;           /* client bytes for the peer */
	double idle_timeout;
	char where[SOCKS5_ADDR_STRLEN];
};

static void s5b_free(struct s5_bind *b, int close_client)
{
	acceptor_stop(&b->acc);
	close(b->fd);
	if (close_client)
		stream_close(b->client);
	buf_free(&b->early);
	service_unref(b->svc);
	free(b);
}

static int s5b_accepted(struct acceptor *a, struct stream *peer)
{
	struct s5_bind *b = a->data;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct socks5_addr pa;
	struct stream *client = b->client;

	if (getpeername(stream_fd(peer), (struct sockaddr *)&ss, &len) < 0 ||
	    socks5_addr_from_sockaddr(&pa, (const struct sockaddr *)&ss) < 0)
		memset(&pa, 0, sizeof pa), pa.atyp = SOCKS5_ATYP_IPV4;
	log_info("socks5 %s: %s: BIND %s: peer %s connected", b->svc->name, client->peer, b->where, peer->peer);
	if (write_reply(client, SOCKS5_REP_SUCCEEDED, &pa) < 0) {
		stream_close(peer);
		s5b_free(b, 1);
		return -1;
	}
	stream_read_stop(client);
	stream_set_callbacks(client, NULL, NULL, NULL);
	if (b->early.len)
		stream_unread(client, b->early.p, b->early.len);
	double idle = b->idle_timeout;
	s5b_free(b, 0); /* stops the acceptor: no more accepts */
	pipe_start(client, peer, idle, NULL, NULL);
	return -1;
}

static void s5b_client_read(struct stream *s, const char *data, size_t len)
{
	struct s5_bind *b = s->ud;
	if (!len) {
		log_info("socks5 %s: %s: BIND %s: the client left before a peer came", b->svc->name, s->peer,
			 b->where);
		s5b_free(b, 1);
		return;
	}
	buf_append(&b->early, data, len);
	if (b->early.len >= EARLY_MAX)
		stream_read_stop(s);
}

static void s5b_client_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR)
		s5b_free(s->ud, 1);
}

static void bind_one(struct service *svc, struct stream *client, int fd, const char *where, double idle)
{
	struct s5_bind *b = xcalloc(1, sizeof *b);
	service_ref(svc);
	b->svc = svc;
	b->client = client;
	b->fd = fd;
	b->idle_timeout = idle;
	snprintf(b->where, sizeof b->where, "%s", where);
	acceptor_init(&b->acc, client->w, fd, s5b_accepted, b, "socks5 %s: BIND %s", svc->name, where);
	stream_set_callbacks(client, s5b_client_read, s5b_client_event, b);
	acceptor_start(&b->acc);
	stream_read_start(client);
	log_info("socks5 %s: %s: BIND on %s", svc->name, client->peer, where);
}

/* ---- entry ---- */

int socks5_bind_start(struct service *svc, const struct socks5_bind_opts *o, double idle_timeout,
		       struct stream *client, const struct socks5_request *req)
{
	char host[SOCKS5_DOMAIN_MAX + 1], err[400], where[SOCKS5_ADDR_STRLEN];
	struct socks5_addr bound;
	socks5_addr_host(&req->addr, host, sizeof host);
	/* GOST listens on what was asked; 0.0.0.0 and :: mean every address. */
	if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
		host[0] = 0;
	int udp = req->cmd == SOCKS5_CMD_UDP_TUN;
	int fd = listen_socket(host, req->addr.port, udp ? SOCK_DGRAM : SOCK_STREAM, 0, err, sizeof err);
	if (fd < 0) {
		log_info("socks5 %s: %s: BIND%s refused: %s", svc->name, client->peer, udp ? " udp" : "", err);
		return SOCKS5_REP_GENERAL_FAILURE;
	}
	if (udp) {
		/* GOST names the socket's own address here */
		struct sockaddr_storage ss;
		bind_local_addr(fd, &ss);
		socks5_addr_from_sockaddr(&bound, (const struct sockaddr *)&ss);
	} else {
		bound_addr(o, client, fd, &bound);
	}
	if (socks5_addr_format(&bound, where, sizeof where) < 0)
		snprintf(where, sizeof where, "?");
	if (write_reply(client, SOCKS5_REP_SUCCEEDED, &bound) < 0) {
		close(fd);
		stream_close(client);
		return 0;
	}
	if (udp)
		bind_udp_serve(svc, client, fd, where, "socks5");
	else if (req->cmd == SOCKS5_CMD_MUX_BIND)
		bind_mux_serve(svc, client, fd, where, &o->mux, idle_timeout, o->comp ? no_header : peer_header, "socks5");
	else
		bind_one(svc, client, fd, where, idle_timeout);
	return 0;
}
