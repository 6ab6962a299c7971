/*
 * listener red (aliases redir, redirect; GOST's listener/redirect/tcp): TCP for the red
 * handler. With `tproxy` the listening socket is IP_TRANSPARENT (and IPV6_TRANSPARENT), so
 * iptables' TPROXY target can hand it connections for any address (needs CAP_NET_ADMIN).
 * `mptcp` is not implemented (an error); `reuseport` changes nothing (portway's listening
 * sockets are SO_REUSEPORT already).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/service.h"

static int red_listener_init(struct service *svc, struct cfg_err *e)
{
	int *tproxy = xcalloc(1, sizeof *tproxy), mptcp;
	svc->listener.state = tproxy;
	if (md_bool(svc->listener.md, "tproxy", 0, tproxy, e) < 0 || md_bool(svc->listener.md, "mptcp", 0, &mptcp, e) < 0)
		return -1;
	if (mptcp)
		return cfg_error(e, cnode_get(svc->listener.md, "mptcp"), "listener.metadata.mptcp",
				 "is not implemented by portway");
	return 0;
}

static void red_listener_fini(struct service *svc) { free(svc->listener.state); }

static int red_listener_start(struct listener_inst *li)
{
	const int *tproxy = li->svc->listener.state, on = 1;
	if (*tproxy) {
		int v4 = setsockopt(li->fd, SOL_IP, IP_TRANSPARENT, &on, sizeof on);
		int v6 = setsockopt(li->fd, SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof on);
		if (v4 < 0 && v6 < 0) {
			log_error("service %s: IP_TRANSPARENT: %s (tproxy needs CAP_NET_ADMIN)", li->svc->name,
				  strerror(errno));
			return -1;
		}
	}
	return stream_listener_start(li, NULL);
}

const struct listener_type listener_red = {
	.name = "red",
	.socktype = SOCK_STREAM,
	.init = red_listener_init,
	.fini = red_listener_fini,
	.start = red_listener_start,
	.stop = stream_listener_stop,
};
