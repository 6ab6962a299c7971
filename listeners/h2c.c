/*
 * listener h2c (GOST's listener/http2/h2 without TLS): HTTP/2 with prior
 * knowledge over plain TCP (the client preface first, as Go's h2c transport
 * sends it); each tunnel request (CONNECT, or any method on `path` when set)
 * is answered 200 and its stream goes to the handler. GOST's Go server would
 * also take an HTTP/1.1 "Upgrade: h2c" request; portway does not (the
 * connection is closed).
 */
#include <stdlib.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/h2_mux.h"
#include "src/svc/service.h"

static int h2c_listener_init(struct service *svc, struct cfg_err *e)
{
	(void)e;
	const char *path = md_str(svc->listener.md, "path", NULL);
	svc->listener.state = path && *path ? xstrdup(path) : NULL;
	return 0;
}

static void h2c_listener_fini(struct service *svc) { free(svc->listener.state); }

static void h2c_listener_request(struct service *svc, struct stream *st)
{
	h2_tunnel_accept(svc, st, svc->listener.state);
}

static void h2c_listener_accept(struct listener_inst *li, struct stream *s) { h2_serve(li->svc, s, h2c_listener_request); }

static int h2c_listener_start(struct listener_inst *li) { return stream_listener_start(li, h2c_listener_accept); }

const struct listener_type listener_h2c = {
	.name = "h2c",
	.socktype = SOCK_STREAM,
	.init = h2c_listener_init,
	.fini = h2c_listener_fini,
	.start = h2c_listener_start,
	.stop = stream_listener_stop,
};
