/*
 * The relay handler's BIND command (doc/protocols/gost-relay.md §2.6).
 *
 * TCP: listen on the requested address, answer with the bound address, and
 * serve the multiplexed BIND (handlers/mux_bind.c): every accepted
 * connection gets an smux stream that starts with a relay response carrying
 * the peer's address.
 *
 * UDP: bind the requested address, answer with it, then carry datagrams on
 * the connection as RSV(2)=length | FRAG | ATYP ADDR PORT | payload: the
 * destination towards the bound socket, the source back. Empty datagrams
 * cannot be framed and are dropped, as are datagrams a slow client cannot
 * take.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/core/log.h"
#include "proto/relay.h"
#include "src/core/resolve.h"
#include "src/svc/service.h"
#include "src/xprt/smux_session.h"
#include "src/core/util.h"
#include "handlers/relay.h"
#include "handlers/mux_bind.h"

#define UDP_BIND_FRAME_MAX (RELAY_UDP_BIND_HEADER_MAX + RELAY_UDP_MAX_PAYLOAD)

int relay_bind_init(struct service *svc, struct relay_opts *o, struct cfg_err *e)
{
	struct smux_config *c = xcalloc(1, sizeof *c);
	o->bind_opts = c;
	return smux_config_parse(svc->handler.md, c, e);
}

void relay_bind_fini(struct relay_opts *o) { free(o->bind_opts); }

/* A socket address as a relay Addr (IPv4-mapped IPv6 becomes IPv4, as GOST writes it). */
static void addr_from_sockaddr(struct relay_addr *a, const struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN] = "";
	uint16_t port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		port = ntohs(in6->sin6_port);
	}
	relay_addr_set(a, ip, port);
}

static int local_addr(int fd, struct relay_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	addr_from_sockaddr(a, &ss);
	return 0;
}

/* Write OK + the bound address. */
static int reply_bound(struct stream *client, const struct relay_addr *bound)
{
	uint8_t buf[RELAY_MSG_MAX_LEN];
	int n = relay_response_encode_addrs(buf, sizeof buf, RELAY_STATUS_OK, bound, 1);
	return n < 0 ? -1 : stream_write(client, buf, (size_t)n);
}

/* ---- TCP BIND ---- */

static int peer_header(uint8_t *out, size_t cap, const struct sockaddr_storage *peer)
{
	struct relay_addr a;
	addr_from_sockaddr(&a, peer);
	return relay_response_encode_addrs(out, cap, RELAY_STATUS_OK, &a, 1);
}

static void bind_tcp(struct service *svc, struct stream *client, const char *host, uint16_t port)
{
	struct relay_opts *o = svc->handler.state;
	struct relay_addr bound;
	char err[400], where[80];
	int fd = listen_socket(host, port, SOCK_STREAM, 0, err, sizeof err);
	if (fd < 0) {
		log_info("relay %s: %s: BIND refused: %s", svc->name, client->peer, err);
		relay_reply_and_close(client, RELAY_STATUS_SERVICE_UNAVAILABLE);
		return;
	}
	if (local_addr(fd, &bound) < 0 || reply_bound(client, &bound) < 0) {
		close(fd);
		stream_close(client);
		return;
	}
	relay_addr_format(&bound, where, sizeof where);
	mux_bind_serve(svc, client, fd, where, o->bind_opts, o->idle_timeout, peer_header, "relay");
}

/* ---- UDP BIND ---- */

/* One per BIND. Freed when the connection ended and no lookup is pending. */
struct udp_bind {
	struct service *svc;
	struct worker *w;
	struct stream *client;      /* owned; NULL once closed */
	int fd;                     /* the bound socket, owned; -1 once closed */
	int family;
	ev_io io;
	uint8_t *acc;               /* a partial frame from the client, owned */
	size_t acc_len;
	uint8_t *out;               /* a frame towards the client, owned */
	int lookups;                /* destinations being resolved */
	char where[80];
};

static void udp_bind_maybe_free(struct udp_bind *b)
{
	if (!b->client && !b->lookups) {
		free(b->acc);
		free(b->out);
		free(b);
	}
}

static void udp_bind_end(struct udp_bind *b, const char *why)
{
	if (!b->client)
		return;
	log_info("relay %s: BIND udp %s for %s ended: %s", b->svc->name, b->where, b->client->peer, why);
	ev_io_stop(b->w->loop, &b->io);
	close(b->fd);
	b->fd = -1;
	stream_close(b->client);
	b->client = NULL;
	udp_bind_maybe_free(b);
}

/* The socket's own family: an IPv4 destination on a dual-stack socket is IPv4-mapped. */
static void udp_bind_sendto(struct udp_bind *b, const struct sockaddr_storage *ss, socklen_t len, const void *data,
			    size_t n)
{
	struct sockaddr_storage to = *ss;
	if (b->family == AF_INET6 && ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		struct sockaddr_in6 *in6 = (void *)&to;
		memset(&to, 0, sizeof to);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = in->sin_port;
		in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&in6->sin6_addr.s6_addr[12], &in->sin_addr, 4);
		len = sizeof *in6;
	} else if (b->family != ss->ss_family) {
		return; /* an IPv6 destination from an IPv4 socket */
	}
	if (sendto(b->fd, data, n, MSG_NOSIGNAL, (struct sockaddr *)&to, len) < 0 && errno != EAGAIN)
		log_debug("relay %s: BIND udp %s: send: %s", b->svc->name, b->where, strerror(errno));
}

struct udp_lookup {
	struct udp_bind *b;
	size_t len;
	char data[];
};

static void udp_bind_resolved(void *ctx, const struct resolved *r, int err)
{
	struct udp_lookup *l = ctx;
	struct udp_bind *b = l->b;
	b->lookups--;
	if (b->client && !err && r->count)
		udp_bind_sendto(b, &r->addr[0], r->len[0], l->data, l->len);
	free(l);
	udp_bind_maybe_free(b);
}

static void udp_bind_to_peer(struct udp_bind *b, const struct relay_addr *a, const uint8_t *payload, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (bypass_match_net(b->svc->bypass, "udp", a->host, a->port))
		return;
	if (sockaddr_from_literal(a->host, a->port, &ss, &len) == 0) {
		udp_bind_sendto(b, &ss, len, payload, n);
		return;
	}
	if (!*a->host)
		return;
	struct udp_lookup *l = xmalloc(sizeof *l + n);
	l->b = b;
	l->len = n;
	memcpy(l->data, payload, n);
	b->lookups++;
	resolve(b->w, a->host, a->port, udp_bind_resolved, l);
}

static void udp_bind_client_read(struct stream *s, const char *data, size_t len)
{
	struct udp_bind *b = s->ud;
	if (!len) {
		udp_bind_end(b, "closed by the client");
		return;
	}
	while (len && b->client) {
		size_t take = UDP_BIND_FRAME_MAX - b->acc_len;
		if (take > len)
			take = len;
		memcpy(b->acc + b->acc_len, data, take);
		b->acc_len += take;
		data += take;
		len -= take;
		size_t off = 0;
		for (;;) {
			struct relay_addr a;
			const uint8_t *payload;
			size_t plen;
			int r = relay_udp_bind_frame_parse(b->acc + off, b->acc_len - off, &a, &payload, &plen);
			if (r < 0) {
				udp_bind_end(b, "malformed datagram frame");
				return;
			}
			if (r == 0)
				break;
			udp_bind_to_peer(b, &a, payload, plen);
			off += (size_t)r;
		}
		memmove(b->acc, b->acc + off, b->acc_len - off);
		b->acc_len -= off;
	}
}

static void udp_bind_client_event(struct stream *s, enum stream_event ev, int err)
{
	struct udp_bind *b = s->ud;
	if (ev == STREAM_EV_ERROR)
		udp_bind_end(b, strerror(err));
}

static void udp_bind_socket_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct udp_bind *b = io->data;
	(void)loop;
	(void)revents;
	for (int i = 0; i < 64 && b->client; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		struct relay_addr a;
		ssize_t n = recvfrom(b->fd, b->w->scratch, WORKER_SCRATCH_SIZE, 0, (struct sockaddr *)&ss, &sl);
		if (n < 0)
			return;
		if (n == 0 || n > RELAY_UDP_MAX_PAYLOAD || b->client->wqueued > STREAM_HIGH_WATER)
			continue;
		addr_from_sockaddr(&a, &ss);
		if (bypass_match_net(b->svc->bypass, "udp", a.host, a.port))
			continue;
		int len = relay_udp_bind_frame_encode(b->out, UDP_BIND_FRAME_MAX, &a, (const uint8_t *)b->w->scratch,
						      (size_t)n);
		if (len > 0 && stream_write(b->client, b->out, (size_t)len) < 0) {
			udp_bind_end(b, "write to the client failed");
			return;
		}
	}
}

static void bind_udp(struct service *svc, struct stream *client, const char *host, uint16_t port)
{
	struct relay_addr bound;
	char err[400];
	int fd = listen_socket(host, port, SOCK_DGRAM, 0, err, sizeof err);
	if (fd < 0) {
		/* GOST closes without a reply here. */
		log_info("relay %s: %s: BIND udp refused: %s", svc->name, client->peer, err);
		stream_close(client);
		return;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 || local_addr(fd, &bound) < 0 ||
	    reply_bound(client, &bound) < 0) {
		close(fd);
		stream_close(client);
		return;
	}
	struct udp_bind *b = xcalloc(1, sizeof *b);
	b->svc = svc;
	b->w = client->w;
	b->client = client;
	b->fd = fd;
	b->family = ss.ss_family;
	b->acc = xmalloc(UDP_BIND_FRAME_MAX);
	b->out = xmalloc(UDP_BIND_FRAME_MAX);
	relay_addr_format(&bound, b->where, sizeof b->where);
	ev_io_init(&b->io, udp_bind_socket_cb, fd, EV_READ);
	b->io.data = b;
	ev_io_start(b->w->loop, &b->io);
	stream_set_callbacks(client, udp_bind_client_read, udp_bind_client_event, b);
	stream_read_start(client);
	log_info("relay %s: %s: BIND udp on %s", svc->name, client->peer, b->where);
}

/* ---- entry ---- */

void relay_bind_start(struct service *svc, struct stream *client, const struct relay_msg *req, int udp)
{
	const struct relay_addr *a = relay_msg_last_addr(req);
	const char *host = a ? a->host : "";
	uint16_t port = a ? a->port : 0;

	if (!udp && req->has_network && strcmp(relay_network_name(req->network), "tcp")) {
		/* ip, unix, serial: not something portway binds */
		log_info("relay %s: %s: BIND for network %s is not supported", svc->name, client->peer,
			 relay_network_name(req->network));
		relay_reply_and_close(client, RELAY_STATUS_BAD_REQUEST);
		return;
	}
	/* An empty domain (GOST v3.2.6 for ":port") is every address; so is no address. */
	if (udp)
		bind_udp(svc, client, host, port);
	else
		bind_tcp(svc, client, host, port);
}
