/*
 * listener redu (GOST's listener/redirect/udp): UDP that TPROXY hands over, for the redu
 * handler. The socket is IP_TRANSPARENT with IP_RECVORIGDSTADDR; a datagram from a client
 * to an address it has no session with gets a socket of its own, bound (transparently) to
 * that original destination and connected to the client, as GOST makes it: the kernel then
 * delivers the session's next datagrams there, and replies leave from the address the client
 * wrote to. That socket, with the first datagram pushed back, goes to the handler as a
 * datagram stream. Needs CAP_NET_ADMIN. Metadata: `ttl` (the handler's idle time, 30 s),
 * `readBufferSize` (4096: longer datagrams are cut, as GOST's).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "src/core/worker.h"
#include "src/svc/service.h"

struct redu_listener {
	long bufsize;
};

/* One per worker: the socket's watcher (li->state). */
struct redu_inst {
	struct listener_inst *li;
	ev_io rio;
};

static int redu_listener_init(struct service *svc, struct cfg_err *e)
{
	struct redu_listener *l = xcalloc(1, sizeof *l);
	svc->listener.state = l;
	return md_int(svc->listener.md, "readBufferSize", 4096, 512, 65535, &l->bufsize, e);
}

static void redu_listener_fini(struct service *svc) { free(svc->listener.state); }

/* The original destination in the datagram's control messages; 0 or -1. */
static int orig_dst(struct msghdr *m, struct sockaddr_storage *dst)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVORIGDSTADDR) {
			memcpy(dst, CMSG_DATA(c), sizeof(struct sockaddr_in));
			return 0;
		}
		if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVORIGDSTADDR) {
			memcpy(dst, CMSG_DATA(c), sizeof(struct sockaddr_in6));
			return 0;
		}
	}
	return -1;
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* A socket bound to dst (not ours: IP_TRANSPARENT) and connected to the client. */
static int session_socket(const struct sockaddr_storage *dst, const struct sockaddr_storage *client)
{
	int on = 1, v6 = dst->ss_family == AF_INET6;
	int fd = socket(dst->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &on, sizeof on) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0 ||
	    bind(fd, (const struct sockaddr *)dst, sa_len(dst)) < 0 ||
	    connect(fd, (const struct sockaddr *)client, sa_len(client)) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static void redu_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct redu_inst *ri = io->data;
	struct listener_inst *li = ri->li;
	const struct redu_listener *l = li->svc->listener.state;
	(void)loop;
	(void)revents;
	for (int batch = 0; batch < 64; batch++) {
		struct sockaddr_storage client, dst;
		char ctl[256], cbuf[64], dbuf[64];
		struct iovec iov = { li->w->scratch, (size_t)l->bufsize };
		struct msghdr m = { .msg_name = &client, .msg_namelen = sizeof client, .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl, .msg_controllen = sizeof ctl };
		memset(&dst, 0, sizeof dst);
		ssize_t n = recvmsg(li->fd, &m, 0);
		if (n < 0)
			return; /* EAGAIN, or an error the next datagram may not have */
		sockaddr_unmap_v4(&client); /* a socket for an IPv4 client is IPv4 */
		if (orig_dst(&m, &dst) < 0) {
			log_debug("service %s: a datagram without its original destination", li->svc->name);
			continue;
		}
		sockaddr_unmap_v4(&dst);
		sockaddr_format((struct sockaddr *)&client, cbuf, sizeof cbuf);
		sockaddr_format((struct sockaddr *)&dst, dbuf, sizeof dbuf);
		int fd = session_socket(&dst, &client);
		if (fd < 0) {
			log_info("service %s: %s -> %s: %s", li->svc->name, cbuf, dbuf, strerror(errno));
			continue;
		}
		struct stream *s = sock_stream_new(li->w, fd, 1);
		stream_unread(s, li->w->scratch, (size_t)n);
		service_dispatch(li->svc, s);
	}
}

static int redu_listener_start(struct listener_inst *li)
{
	int on = 1;
	int ok4 = setsockopt(li->fd, SOL_IP, IP_TRANSPARENT, &on, sizeof on) == 0 &&
		  setsockopt(li->fd, SOL_IP, IP_RECVORIGDSTADDR, &on, sizeof on) == 0;
	int ok6 = setsockopt(li->fd, SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof on) == 0 &&
		  setsockopt(li->fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &on, sizeof on) == 0;
	if (!ok4 && !ok6) {
		log_error("service %s: IP_TRANSPARENT: %s (redu needs CAP_NET_ADMIN)", li->svc->name, strerror(errno));
		return -1;
	}
	struct redu_inst *ri = xcalloc(1, sizeof *ri);
	ri->li = li;
	li->state = ri;
	ev_io_init(&ri->rio, redu_read_cb, li->fd, EV_READ);
	ri->rio.data = ri;
	ev_io_start(li->w->loop, &ri->rio);
	return 0;
}

static void redu_listener_stop(struct listener_inst *li)
{
	struct redu_inst *ri = li->state;
	if (!ri)
		return;
	ev_io_stop(li->w->loop, &ri->rio);
	free(ri);
	li->state = NULL;
}

const struct listener_type listener_redu = {
	.name = "redu",
	.socktype = SOCK_DGRAM,
	.init = redu_listener_init,
	.fini = redu_listener_fini,
	.start = redu_listener_start,
	.stop = redu_listener_stop,
};
