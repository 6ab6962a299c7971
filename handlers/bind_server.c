/* The server side of BINDs shared by relay and socks5; see handlers/bind_server.h. */
#include "handlers/bind_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/core/acceptor.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "src/core/resolve.h"
#include "src/core/util.h"

#define UDP_BIND_FRAME_MAX (RELAY_UDP_BIND_HEADER_MAX + RELAY_UDP_MAX_PAYLOAD)

/* ---- TCP, multiplexed ---- */

/* One per BIND; freed when its session closes. */
struct mux_bind {
	struct service *svc;
	struct worker *w;
	int fd;                     /* the bound port, owned */
	struct acceptor acc;
	struct smux_session *sess;  /* owns the requester's connection */
	mux_bind_header_fn header;
	double idle_timeout;
	const char *proto;
	char where[80];             /* the bound address, for the log */
	char requester[64];
};

/* A socket address as a relay/SOCKS5 address (IPv4-mapped IPv6 becomes IPv4, as GOST writes it). */
void bind_addr_from_sockaddr(struct relay_addr *a, const struct sockaddr_storage *ss)
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

int bind_local_addr(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof *ss;
	memset(ss, 0, sizeof *ss);
	return getsockname(fd, (struct sockaddr *)ss, &len);
}

/* The session's on_closed is deferred (smux never calls back from inside an operation), so b
 * outlives this call. */
static int mux_bind_accepted(struct acceptor *a, struct stream *s)
{
	struct mux_bind *b = a->data;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	uint8_t hdr[512];

	struct stream *st = smux_stream_open(b->sess);
	if (!st) {
		stream_close(s);
		return 0;
	}
	if (getpeername(stream_fd(s), (struct sockaddr *)&ss, &len) < 0)
		memset(&ss, 0, sizeof ss);
	int n = b->header(hdr, sizeof hdr, &ss);
	if (n < 0 || (n > 0 && stream_write(st, hdr, (size_t)n) < 0)) {
		stream_close(st);
		stream_close(s);
		return 0;
	}
	service_ref(b->svc);
	s->svc = b->svc;
	log_debug("%s %s: BIND %s: connection from %s", b->proto, b->svc->name, b->where, s->peer);
	pipe_start(s, st, b->idle_timeout, NULL, NULL);
	return 0;
}

static void mux_bind_closed(void *ud, struct smux_session *sess, int err)
{
	struct mux_bind *b = ud;
	(void)sess;
	log_info("%s %s: BIND %s for %s ended (%s); the port is closed", b->proto, b->svc->name, b->where,
		 b->requester, err ? strerror(err) : "closed by the client");
	acceptor_stop(&b->acc);
	close(b->fd);
	service_unref(b->svc);
	free(b);
}

void bind_mux_serve(struct service *svc, struct stream *client, int fd, const char *where,
		    const struct smux_config *mux, double idle_timeout, mux_bind_header_fn header, const char *proto)
{
	struct mux_bind *b = xcalloc(1, sizeof *b);
	service_ref(svc); /* the connection's own reference goes with it when the session closes */
	b->svc = svc;
	b->w = client->w;
	b->fd = fd;
	b->header = header;
	b->idle_timeout = idle_timeout;
	b->proto = proto;
	snprintf(b->where, sizeof b->where, "%s", where);
	snprintf(b->requester, sizeof b->requester, "%s", client->peer);
	acceptor_init(&b->acc, b->w, fd, mux_bind_accepted, b, "%s %s: BIND %s", proto, svc->name, b->where);
	static const struct smux_callbacks cb = { .on_stream = NULL, .on_closed = mux_bind_closed };
	b->sess = smux_session_new(client, 1, mux, &cb, b);
	acceptor_start(&b->acc);
	log_info("%s %s: %s: BIND tcp on %s", proto, svc->name, b->requester, b->where);
}

/* ---- UDP ---- */

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
	const char *proto;
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
	log_info("%s %s: BIND udp %s for %s ended: %s", b->proto, b->svc->name, b->where, b->client->peer, why);
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
		log_debug("%s %s: BIND udp %s: send: %s", b->proto, b->svc->name, b->where, strerror(errno));
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
		bind_addr_from_sockaddr(&a, &ss);
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

void bind_udp_serve(struct service *svc, struct stream *client, int fd, const char *where, const char *proto)
{
	struct sockaddr_storage ss;
	struct udp_bind *b = xcalloc(1, sizeof *b);
	bind_local_addr(fd, &ss);
	b->svc = svc;
	b->w = client->w;
	b->client = client;
	b->fd = fd;
	b->family = ss.ss_family;
	b->proto = proto;
	b->acc = xmalloc(UDP_BIND_FRAME_MAX);
	b->out = xmalloc(UDP_BIND_FRAME_MAX);
	snprintf(b->where, sizeof b->where, "%s", where);
	ev_io_init(&b->io, udp_bind_socket_cb, fd, EV_READ);
	b->io.data = b;
	ev_io_start(b->w->loop, &b->io);
	stream_set_callbacks(client, udp_bind_client_read, udp_bind_client_event, b);
	stream_read_start(client);
	log_info("%s %s: %s: BIND udp on %s", proto, svc->name, client->peer, b->where);
}
