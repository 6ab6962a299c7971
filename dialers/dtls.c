/*
 * dialer dtls: DTLS 1.2 to the node over a datagram stream: a connected UDP
 * socket for the first hop (socktype SOCK_DGRAM), or a UDP association
 * through the previous hop's connector.
 */
#include <stdio.h>
#include <sys/socket.h>

#include "src/xprt/dtls_stream.h"
#include "src/conf/model.h"
#include "src/core/stream.h"

static int dtls_dialer_init(struct node *n, struct cfg_err *e)
{
	struct dtls_opts o;
	char err[512], label[300];
	if (dtls_opts_parse(n->dialer.md, &o, e) < 0)
		return -1;
	snprintf(label, sizeof label, "node %s", n->name ? n->name : n->addr);
	n->dialer.state = dtls_conf_client(&n->dialer.tls, &o, n->host, label, err, sizeof err);
	if (!n->dialer.state) {
		char field[300];
		snprintf(field, sizeof field, "node %s: dialer.tls", n->name ? n->name : n->addr);
		const struct cnode *where = cnode_get(n->cfg, "dialer");
		return cfg_error(e, where ? where : n->cfg, field, "%s", err);
	}
	return 0;
}

static void dtls_dialer_fini(struct node *n)
{
	dtls_conf_unref(n->dialer.state);
	n->dialer.state = NULL;
}

static void dtls_dialer_handshake(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx)
{
	dtls_socket_buffers(stream_fd(lower));
	dtls_start(n->dialer.state, lower, cb, ctx);
}

const struct dialer_type dialer_dtls = {
	.name = "dtls",
	.socktype = SOCK_DGRAM,
	.init = dtls_dialer_init,
	.fini = dtls_dialer_fini,
	.handshake = dtls_dialer_handshake,
	.uses_tls = 1,
};
