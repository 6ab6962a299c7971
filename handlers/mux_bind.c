/* The multiplexed TCP BIND's server side; see handlers/mux_bind.h. */
#include "handlers/mux_bind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/core/acceptor.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "src/core/util.h"

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

int mux_bind_local(int fd, struct sockaddr_storage *ss)
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
	if (n < 0 || stream_write(st, hdr, (size_t)n) < 0) {
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

void mux_bind_serve(struct service *svc, struct stream *client, int fd, const char *where,
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
