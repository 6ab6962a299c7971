/*
 * handler redu (GOST's handler/redirect/udp): each session the redu listener hands over (a
 * datagram socket bound to the client's original destination) is forwarded to that
 * destination over UDP, directly or through the chain, until `ttl` passes without a datagram
 * (the listener's ttl, else the handler's, 30 s as GOST). The service's bypass refuses
 * destinations. GOST's QUIC sniffing (`sniffing`) is not implemented: setting it is an error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "handlers/redirect.h"
#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/router.h"
#include "src/svc/service.h"

struct redu_opts {
	double ttl;
};

static int redu_init(struct service *svc, struct cfg_err *e)
{
	struct redu_opts *o = xcalloc(1, sizeof *o);
	int sniffing;
	svc->handler.state = o;
	if (strcmp(svc->listener.type->name, "redu"))
		return cfg_error(e, cnode_get(svc->cfg, "listener") ? cnode_get(svc->cfg, "listener") : svc->cfg,
				 "listener.type", "handler redu takes its sessions from listener redu, not %s",
				 svc->listener.type->name);
	if (md_bool(svc->handler.md, "sniffing", 0, &sniffing, e) < 0)
		return -1;
	if (sniffing)
		return cfg_error(e, cnode_get(svc->handler.md, "sniffing"), "handler.metadata.sniffing",
				 "GOST's QUIC sniffing is not implemented by portway");
	if (md_duration(svc->listener.md, "ttl", 0, &o->ttl, e) < 0)
		return -1;
	if (o->ttl <= 0 && md_duration(svc->handler.md, "ttl", 30, &o->ttl, e) < 0)
		return -1;
	return 0;
}

static void redu_fini(struct service *svc) { free(svc->handler.state); }

static void redu_handle(struct service *svc, struct stream *client)
{
	struct redu_opts *o = svc->handler.state;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd = stream_fd(client);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		stream_close(client);
		return;
	}
	redirect_forward(svc, client, &ss, o->ttl);
}

const struct handler_type handler_redu = {
	.name = "redu",
	.init = redu_init,
	.fini = redu_fini,
	.handle = redu_handle,
};
