/*
 * connector stream: the GoDoxy side of the agent stream protocol
 * (doc/protocols/godoxy-stream.md). Over the node's transport (a tls dialer for TCP,
 * a dtls dialer for UDP) it sends the 275-byte header naming the destination
 * and hands the stream on: the agent answers nothing, so a refused or failed
 * destination shows only as the end of the stream.
 *
 * Over tls the node offers ALPN "godoxy-agent-stream/1" only and names the
 * server "godoxy.agent" (the name in GoDoxy's agent certificates), unless
 * the dialer configures alpn or serverName itself; over dtls the same name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "src/xprt/dtls_stream.h"
#include "src/core/log.h"
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "proto/stream_header.h"
#include "src/xprt/tls_stream.h"

#define STREAM_ALPN "godoxy-agent-stream/1"
#define STREAM_SERVER_NAME "godoxy.agent"

static int dialer_is(const struct node *n, const char *name)
{
	return n->dialer.type && !strcasecmp(n->dialer.type->name, name);
}

/*
 * The dialer (initialised before its connector) built its settings without
 * the GoDoxy defaults: they are built again with them and replace its own,
 * which stay the dialer's to release.
 */
static int adjust_tls(struct node *n, struct cfg_err *e)
{
	static char stream_id[] = STREAM_ALPN, server_name[] = STREAM_SERVER_NAME;
	static char *protos[] = { stream_id };
	struct tls_cfg t = n->dialer.tls; /* shallow: the strings stay the config's */
	char label[320];

	if (!t.n_alpn && !cnode_get(n->dialer.md, "alpn")) {
		t.alpn = protos;
		t.n_alpn = 1;
	}
	if (!t.server_name || !*t.server_name)
		t.server_name = server_name;
	snprintf(label, sizeof label, "node %s (%s)", n->name ? n->name : "-", n->addr);
	struct tls_conf *c = tls_conf_client(&t, n->dialer.md, n->dialer.md ? n->dialer.md : n->md, n->host, label, e);
	if (!c)
		return -1;
	tls_conf_unref(n->dialer.state);
	n->dialer.state = c;
	return 0;
}

static int adjust_dtls(struct node *n, struct cfg_err *e)
{
	static char server_name[] = STREAM_SERVER_NAME;
	struct tls_cfg t = n->dialer.tls;
	struct dtls_opts o;
	char err[512], label[300];

	if (t.server_name && *t.server_name)
		return 0;
	t.server_name = server_name;
	if (dtls_opts_parse(n->dialer.md, &o, e) < 0)
		return -1;
	snprintf(label, sizeof label, "node %s", n->name ? n->name : n->addr);
	struct dtls_conf *c = dtls_conf_client(&t, &o, n->host, label, err, sizeof err);
	if (!c)
		return cfg_error(e, n->dialer.md ? n->dialer.md : n->md, "dialer.tls", "%s", err);
	dtls_conf_unref(n->dialer.state);
	n->dialer.state = c;
	return 0;
}

static int stream_connector_init(struct node *n, struct cfg_err *e)
{
	if (dialer_is(n, "tls") && n->dialer.state)
		return adjust_tls(n, e);
	if (dialer_is(n, "dtls") && n->dialer.state)
		return adjust_dtls(n, e);
	return 0;
}

static void stream_connector_connect(struct node *n, struct stream *lower, int dgram, const char *host,
				     uint16_t port, stream_done_cb cb, void *ctx)
{
	uint8_t hdr[STREAM_HEADER_SIZE];
	char p[8];

	/* The agent dials TCP for a TLS session and UDP for a DTLS one: the transport decides. */
	if (!dgram != !lower->dgram) {
		log_warn("node %s: the stream protocol carries %s over a %s transport only (use a %s dialer)",
			 n->name ? n->name : n->addr, dgram ? "UDP" : "TCP", dgram ? "datagram" : "stream",
			 dgram ? "dtls" : "tls");
		stream_close(lower);
		cb(ctx, NULL, EPROTONOSUPPORT);
		return;
	}
	snprintf(p, sizeof p, "%u", (unsigned)port);
	if (stream_header_build(hdr, host, p) < 0) {
		log_warn("node %s: destination host \"%.40s...\" is longer than %d bytes", n->name ? n->name : n->addr,
			 host, STREAM_HEADER_HOST_MAX);
		stream_close(lower);
		cb(ctx, NULL, EINVAL);
		return;
	}
	/* One write: over DTLS the header must be a record of its own (the agent reads exactly 275 bytes). */
	if (stream_write(lower, hdr, sizeof hdr) < 0) {
		stream_close(lower);
		cb(ctx, NULL, ECONNRESET);
		return;
	}
	cb(ctx, lower, 0);
}

const struct connector_type connector_stream = {
	.name = "stream",
	.init = stream_connector_init,
	.connect = stream_connector_connect,
};
