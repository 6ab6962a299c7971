/*
 * handler sshd: GOST's sshd handler, standard SSH port forwarding behind the
 * sshd listener (src/xprt/ssh_server.h).
 *
 *  - A direct-tcpip channel (ssh -L, ssh -D) asks for host:port: refused
 *    when the service's bypass matches, else dialed through the handler's
 *    chain and piped.
 *  - A tcpip-forward request (ssh -R [addr:]port:...) makes the handler
 *    listen on addr:port itself ("localhost" is 127.0.0.1, "" or "*" every address;
 *    port 0 picks one, which the answer tells the client). Each connection it
 *    accepts goes back to the client in a forwarded-tcpip channel. The
 *    listening ends with the SSH session, or when the client cancels it
 *    (cancel-tcpip-forward); connections already forwarded go on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/core/acceptor.h"
#include "src/core/log.h"
#include "src/core/pipe.h"
#include "src/core/util.h"
#include "src/svc/router.h"
#include "src/svc/service.h"
#include "src/xprt/ssh_channel.h"
#include "src/xprt/ssh_server.h"

/* ---- direct-tcpip ---- */

static void direct_report(void *ctx, struct stream *client, struct stream *remote, int err)
{
	struct service *svc = ctx;
	if (err)
		log_info("service %s: %s: ssh channel: cannot reach the target: %s", svc->name, client->peer,
			 strerror(err));
	else
		log_debug("service %s: ssh channel %s <-> %s", svc->name, client->peer, remote->peer);
}

static void sshd_direct(struct service *svc, struct stream *ch, const char *host, uint16_t port)
{
	char where[300];
	hostport_format(where, sizeof where, host, port);
	if (svc->bypass && bypass_match_port(svc->bypass, host, port)) {
		log_debug("service %s: %s: bypass %s", svc->name, ch->peer, where);
		stream_close(ch);
		return;
	}
	log_debug("service %s: %s >> %s", svc->name, ch->peer, where);
	router_dial_pipe(ch, &(struct dial_pipe){
		.dial = { .chain = svc->handler.chain },
		.host = host,
		.port = port,
		.report = direct_report,
		.ctx = svc,
	});
}

/* ---- tcpip-forward ---- */

struct remote_fwd {
	struct service *svc;
	struct stream *req;         /* the forward request: EOF or error ends it */
	int fd;
	struct acceptor acc;
	char where[300];
};

struct remote_conn {
	struct service *svc;
	struct stream *conn;
};

static void remote_opened(void *ctx, struct stream *ch, int err)
{
	struct remote_conn *rc = ctx;
	if (ch) {
		log_debug("service %s: ssh -R: %s <-> client channel", rc->svc->name, rc->conn->peer);
		pipe_start(ch, rc->conn, 0, NULL, NULL);
	} else {
		log_info("service %s: ssh -R: %s: the client refused the channel: %s", rc->svc->name, rc->conn->peer,
			 strerror(err));
		stream_close(rc->conn);
	}
	service_unref(rc->svc);
	free(rc);
}

static int remote_accepted(struct acceptor *a, struct stream *conn)
{
	struct remote_fwd *f = a->data;
	char host[64];
	uint16_t port = 0;
	if (hostport_split(conn->peer, host, sizeof host, &port) < 0)
		snprintf(host, sizeof host, "%s", conn->peer);
	struct remote_conn *rc = xcalloc(1, sizeof *rc);
	rc->svc = f->svc;
	service_ref(f->svc);
	rc->conn = conn;
	ssh_forward_open(f->req, host, port, remote_opened, rc);
	return 0;
}

static void remote_end(struct remote_fwd *f, const char *why)
{
	log_debug("service %s: ssh -R %s: %s", f->svc->name, f->where, why);
	acceptor_stop(&f->acc);
	close(f->fd);
	stream_close(f->req);
	free(f);
}

static void remote_req_read(struct stream *s, const char *data, size_t len)
{
	(void)data;
	if (!len)
		remote_end(s->ud, "cancelled by the client");
}

static void remote_req_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR)
		remote_end(s->ud, "the ssh session ended");
}

static void sshd_remote(struct service *svc, struct stream *req, const char *host, uint16_t port)
{
	char err[256];
	int fd = listen_socket(!strcmp(host, "*") ? "" : host, port, SOCK_STREAM, 0, err, sizeof err);
	if (fd < 0) {
		log_info("service %s: %s: ssh -R: %s", svc->name, req->peer, err);
		ssh_forward_reply(req, 0, 0);
		stream_close(req);
		return;
	}
	struct remote_fwd *f = xcalloc(1, sizeof *f);
	f->svc = svc;
	f->req = req;
	f->fd = fd;
	uint16_t bound = socket_local_port(fd);
	hostport_format(f->where, sizeof f->where, host, bound);
	ssh_forward_reply(req, 1, bound);
	log_info("service %s: %s: ssh -R listening on %s", svc->name, req->peer, f->where);
	acceptor_init(&f->acc, req->w, fd, remote_accepted, f, "service %s ssh -R %s", svc->name, f->where);
	acceptor_start(&f->acc);
	stream_set_callbacks(req, remote_req_read, remote_req_event, f);
	stream_read_start(req);
}

/* ---- the handler ---- */

static void sshd_handle(struct service *svc, struct stream *s)
{
	const char *host;
	uint16_t port;
	if (ssh_chan_target(s, &host, &port) == 0) {
		sshd_direct(svc, s, host, port);
	} else if (ssh_forward_request(s, &host, &port) == 0) {
		sshd_remote(svc, s, host, port);
	} else {
		log_warn("service %s: %s: sshd: wrong connection type (the sshd handler serves the sshd listener)",
			 svc->name, s->peer);
		stream_close(s);
	}
}

const struct handler_type handler_sshd = {
	.name = "sshd",
	.handle = sshd_handle,
};
