/*
 * The relay handler's BIND command (doc/protocols/gost-relay.md §2.6).
 *
 * TCP: listen on the requested address, answer with the bound address, and
 * serve the multiplexed BIND (handlers/bind_server.c): every accepted
 * connection gets an smux stream that starts with a relay response carrying
 * the peer's address.
 *
 * UDP: bind the requested address, answer with it, then carry datagrams on
 * the connection (handlers/bind_server.c).
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
#include "handlers/bind_server.h"

int relay_bind_init(struct service *svc, struct relay_opts *o, struct cfg_err *e)
{
	struct smux_config *c = xcalloc(1, sizeof *c);
	o->bind_opts = c;
	return smux_config_parse(svc->handler.md, c, e);
}

void relay_bind_fini(struct relay_opts *o) { free(o->bind_opts); }

static int local_addr(int fd, struct relay_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	bind_addr_from_sockaddr(a, &ss);
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
	bind_addr_from_sockaddr(&a, peer);
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
	bind_mux_serve(svc, client, fd, where, o->bind_opts, o->idle_timeout, peer_header, "relay");
}

/* ---- UDP BIND ---- */

static void bind_udp(struct service *svc, struct stream *client, const char *host, uint16_t port)
{
	struct relay_addr bound;
	char err[400], where[80];
	int fd = listen_socket(host, port, SOCK_DGRAM, 0, err, sizeof err);
	if (fd < 0) {
		/* GOST closes without a reply here. */
		log_info("relay %s: %s: BIND udp refused: %s", svc->name, client->peer, err);
		stream_close(client);
		return;
	}
	if (local_addr(fd, &bound) < 0 || reply_bound(client, &bound) < 0) {
		close(fd);
		stream_close(client);
		return;
	}
	relay_addr_format(&bound, where, sizeof where);
	bind_udp_serve(svc, client, fd, where, "relay");
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
