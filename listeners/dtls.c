/*
 * listener dtls: DTLS 1.2 over UDP. A UDP session table (src/svc/udp_sessions.h)
 * gives one datagram stream per client address; each becomes a DTLS server
 * session and reaches the handler once its handshake is done, as a datagram
 * stream that delivers one record per read (src/xprt/dtls_stream.h).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include "src/xprt/dtls_stream.h"
#include "src/core/log.h"
#include "src/svc/conn_limits.h"
#include "src/svc/udp_sessions.h"

static int dtls_listener_init(struct service *svc, struct cfg_err *e)
{
	struct dtls_opts o;
	char err[512], label[300];
	if (dtls_opts_parse(svc->listener.md, &o, e) < 0)
		return -1;
	snprintf(label, sizeof label, "service %s", svc->name);
	svc->listener.state = dtls_conf_server(&svc->listener.tls, &o, label, err, sizeof err);
	if (!svc->listener.state) {
		const struct cnode *l = cnode_get(svc->cfg, "listener");
		const struct cnode *where = cnode_get(l, "tls") ? cnode_get(l, "tls") : svc->cfg;
		return cfg_error(e, where, "listener.tls", "%s", err);
	}
	return 0;
}

static void dtls_listener_fini(struct service *svc)
{
	dtls_conf_unref(svc->listener.state);
	svc->listener.state = NULL;
}

/* ctx: the service, with a reference taken for the handshake. */
static void handshake_done(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	if (err) {
		service_unref(svc);
		return;
	}
	if (s->svc) /* the session's own, taken over with its climiter slot by the DTLS stream */
		service_unref(svc);
	else
		s->svc = svc;
	service_dispatch(svc, s);
}

static void on_session(struct listener_inst *li, struct stream *session)
{
	/* counted as GOST's dtls listener counts connections, before the handshake */
	if (conn_limits_accept(li->svc, session, CONN_CLIMIT) < 0)
		return;
	service_ref(li->svc);
	dtls_start(li->svc->listener.state, session, handshake_done, li->svc);
}

static int dtls_listener_start(struct listener_inst *li)
{
	dtls_socket_buffers(li->fd);
	return udp_sessions_start(li, on_session);
}

const struct listener_type listener_dtls = {
	.name = "dtls",
	.socktype = SOCK_DGRAM,
	.init = dtls_listener_init,
	.fini = dtls_listener_fini,
	.start = dtls_listener_start,
	.stop = udp_sessions_stop,
	.uses_tls = 1,
};
