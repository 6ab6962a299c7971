/*
 * handler red (aliases redir, redirect; GOST's handler/redirect/tcp): a transparent TCP proxy.
 * Connections that iptables/nftables REDIRECTed to the listener go where they were headed:
 * the original destination (SO_ORIGINAL_DST), or with `tproxy` (TPROXY, the listener's
 * IP_TRANSPARENT) the address the client connected to; through the handler's chain when it
 * has one. The service's bypass refuses destinations (the connection is closed).
 * GOST's sniffing and MITM (sniffing*, mitm.*) are not implemented: setting them is an error.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "handlers/redirect.h"
#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/router.h"
#include "src/svc/service.h"

/* linux/netfilter_ipv4.h and netfilter_ipv6/ip6_tables.h, whose includes clash with netinet/in.h */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

struct red_opts {
	int tproxy;
};

static const char *const mitm_keys[] = { "mitm.certFile", "mitm.caCertFile", "mitm.keyFile", "mitm.caKeyFile",
					 "mitm.alpn", "mitm.bypass", NULL };

static int red_init(struct service *svc, struct cfg_err *e)
{
	const struct cnode *md = svc->handler.md;
	struct red_opts *o = xcalloc(1, sizeof *o);
	int sniffing;
	svc->handler.state = o;
	if (md_bool(md, "sniffing", 0, &sniffing, e) < 0 || md_bool(md, "tproxy", 0, &o->tproxy, e) < 0)
		return -1;
	if (sniffing)
		return cfg_error(e, cnode_get(md, "sniffing"), "handler.metadata.sniffing",
				 "GOST's protocol sniffing is not implemented by portway");
	for (size_t i = 0; mitm_keys[i]; i++)
		if (cnode_get(md, mitm_keys[i]))
			return cfg_error(e, cnode_get(md, mitm_keys[i]), "handler.metadata",
					 "%s: GOST's TLS interception (MITM) is not implemented by portway", mitm_keys[i]);
	return 0;
}

static void red_fini(struct service *svc) { free(svc->handler.state); }

/* Where the client was headed: the NAT table's original destination, or (TPROXY) our own end. */
static int original_dst(int fd, int tproxy, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof *ss;
	memset(ss, 0, sizeof *ss);
	if (getsockname(fd, (struct sockaddr *)ss, &len) < 0)
		return -1;
	if (tproxy) {
		sockaddr_unmap_v4(ss); /* an IPv4 client of a dual-stack listener went to a.b.c.d */
		return 0;
	}
	int v6 = ss->ss_family == AF_INET6 &&
		 !IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)ss)->sin6_addr);
	len = sizeof *ss;
	if (v6)
		return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, ss, &len);
	return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, ss, &len);
}

static void redirect_report(void *ctx, struct stream *client, struct stream *target, int err)
{
	struct service *svc = ctx;
	const char *net = client->dgram ? "udp " : "";
	if (err)
		log_info("service %s: %s%s: %s", svc->name, net, client->peer, strerror(err));
	else
		log_debug("service %s: %s%s -> %s", svc->name, net, client->peer, target->peer);
}

void redirect_forward(struct service *svc, struct stream *client, const struct sockaddr_storage *dst, double ttl)
{
	char where[80], host[64];
	uint16_t port;
	const char *net = client->dgram ? "udp " : "";
	sockaddr_format((const struct sockaddr *)dst, where, sizeof where);
	if (hostport_split(where, host, sizeof host, &port) < 0) {
		stream_close(client);
		return;
	}
	if (bypass_match_net(svc->bypass, client->dgram ? "udp" : "tcp", host, port)) {
		log_info("service %s: %s%s: %s is bypassed", svc->name, net, client->peer, where);
		stream_close(client);
		return;
	}
	log_info("service %s: %s%s -> %s (redirected)", svc->name, net, client->peer, where);
	router_dial_pipe(client, &(struct dial_pipe){
		.dial = { .chain = svc->handler.chain, .dgram = client->dgram, .timeout = ttl, .svc = svc },
		.host = host,
		.port = port,
		.idle_timeout = ttl,
		.report = redirect_report,
		.ctx = svc,
	});
}

static void red_handle(struct service *svc, struct stream *client)
{
	struct red_opts *o = svc->handler.state;
	struct sockaddr_storage ss;
	int fd = stream_fd(client);
	if (fd < 0 || original_dst(fd, o->tproxy, &ss) < 0) {
		log_info("service %s: %s: no original destination (%s)", svc->name, client->peer,
			 fd < 0 ? "not a plain TCP connection" : strerror(errno));
		stream_close(client);
		return;
	}
	redirect_forward(svc, client, &ss, 0);
}

const struct handler_type handler_red = {
	.name = "red",
	.init = red_init,
	.fini = red_fini,
	.handle = red_handle,
};
