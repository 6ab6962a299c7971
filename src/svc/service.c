#include "src/svc/service.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "src/conf/limiter.h"
#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/conn_limits.h"
#include "src/svc/metrics.h"
#include "src/svc/proxy_header.h"

int listen_socket(const char *host, uint16_t port, int socktype, int reuseport, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;
	int any = !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::");

	if (any) {
		/* ":port", like an unspecified address, listens on every address, IPv6 and IPv4, as
		 * GOST does (Go's net.Listen("tcp", "0.0.0.0:P") listens on [::]:P). */
		struct sockaddr_in6 *in6 = (void *)&ss;
		memset(&ss, 0, sizeof ss);
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_any;
		in6->sin6_port = htons(port);
		len = sizeof *in6;
	} else if (sockaddr_from_literal(!strcmp(host, "localhost") ? "127.0.0.1" : host, port, &ss, &len) < 0) {
		snprintf(err, errlen, "listen address %s: a numeric IP address is required", host);
		return -1;
	}
	fd = socket(ss.ss_family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && any && errno == EAFNOSUPPORT) {
		sockaddr_from_literal("0.0.0.0", port, &ss, &len);
		fd = socket(AF_INET, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (ss.ss_family == AF_INET6) {
		int zero = 0;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (socktype == SOCK_STREAM && listen(fd, 4096) < 0)) {
		char where[300];
		hostport_format(where, sizeof where, host, port);
		snprintf(err, errlen, "cannot listen on %s: %s", where, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path)
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Whether a program accepts on the socket at path (a stale file refuses). */
static int unix_path_live(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), live;
	if (fd < 0 || unix_addr(path, &sa) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EAGAIN;
	close(fd);
	return live;
}

int listen_unix_socket(const char *path, int mode, int exclusive, struct unix_file *made, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	char tmp[sizeof sa.sun_path];
	int fd;
	static unsigned seq;

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "cannot listen on %s: a file that is no socket is there", path);
			return -1;
		}
		if (exclusive && unix_path_live(path)) {
			snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(EADDRINUSE));
			return -1;
		}
	}
	/* Made aside and renamed into place: a socket file already there (stale, or the one a changed
	 * service still accepts on during a reload) is replaced at once, never missing meanwhile. */
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.%d.%u", path, (int)getpid(), seq++) >= sizeof tmp ||
	    unix_addr(tmp, &sa) < 0) {
		snprintf(err, errlen, "cannot listen on %s: the path is too long", path);
		return -1;
	}
	unlink(tmp);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0 ||
	    (mode > 0 && chmod(tmp, (mode_t)mode) < 0) || stat(tmp, &st) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		unlink(tmp);
		close(fd);
		return -1;
	}
	made->dev = (unsigned long long)st.st_dev;
	made->ino = (unsigned long long)st.st_ino;
	return fd;
}

void unix_socket_remove(const char *path, const struct unix_file *made)
{
	struct stat st;
	if (made->ino && lstat(path, &st) == 0 && (unsigned long long)st.st_dev == made->dev &&
	    (unsigned long long)st.st_ino == made->ino)
		unlink(path);
}

uint16_t socket_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
		return 0;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
}

static int bind_one(struct service *svc, int socktype, char *err, size_t errlen)
{
	char e[400];
	int fd = listen_socket(svc->host, svc->port, socktype, 1, e, sizeof e);
	if (fd < 0)
		snprintf(err, errlen, "service %s: %s", svc->name, e);
	return fd;
}

/* Workers a service runs on: all, or only worker 0 for single-worker handlers. */
static int service_workers(const struct service *svc) { return svc->handler.type->single_worker ? 1 : worker_count; }

int service_bind(struct service *svc, int exclusive, char *err, size_t errlen)
{
	int socktype = svc->listener.type->socktype;
	if (exclusive && socktype && svc->port) {
		/* A socket without SO_REUSEPORT cannot bind where anyone listens: a probe that tells. */
		char e[400];
		int probe = listen_socket(svc->host, svc->port, socktype, 0, e, sizeof e);
		if (probe < 0) {
			snprintf(err, errlen, "service %s: %s (is another program or portway already there?)", svc->name,
				 e);
			return -1;
		}
		close(probe);
	}
	svc->fds = xcalloc((size_t)worker_count, sizeof *svc->fds);
	svc->inst = xcalloc((size_t)worker_count, sizeof *svc->inst);
	for (int i = 0; i < worker_count; i++)
		svc->fds[i] = -1;
	if (!socktype)
		return 0;
	if (svc->listener.type->bind) {
		/* One socket (a path takes no SO_REUSEPORT): every worker accepts on a copy of it. */
		int fd = svc->listener.type->bind(svc, exclusive, err, errlen);
		if (fd < 0)
			return -1;
		svc->fds[0] = fd;
		for (int i = 1; i < service_workers(svc); i++)
			if ((svc->fds[i] = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
				snprintf(err, errlen, "service %s: dup: %s", svc->name, strerror(errno));
				for (int k = 0; k < i; k++) {
					close(svc->fds[k]);
					svc->fds[k] = -1;
				}
				return -1;
			}
		return 0;
	}
	for (int i = 0; i < service_workers(svc); i++) {
		svc->fds[i] = bind_one(svc, socktype, err, errlen);
		if (svc->fds[i] < 0) {
			for (int k = 0; k < i; k++)
				close(svc->fds[k]);
			return -1;
		}
		if (svc->port == 0 && i == 0)
			svc->port = socket_local_port(svc->fds[0]); /* every worker shares the first's ephemeral port */
	}
	return 0;
}

static void start_on_worker(void *arg)
{
	struct listener_inst *li = arg;
	if (li->svc->listener.type->start(li) < 0)
		log_error("service %s: listener %s failed to start on worker %d", li->svc->name,
			  li->svc->listener.type->name, li->w->id);
	if (li->svc->handler.type->start)
		li->svc->handler.type->start(li->svc, li->w);
}

/* ---- the last free of a config, off the worker loops ----
 * The last reference on a config often drops on a worker (a connection closes, a dial ends), and the
 * types' fini may block (the gateway joins its store thread and closes its database). The free is
 * handed to one thread of its own instead, started with the first service. */

struct reap {
	struct config *c;
	void (*free_now)(struct config *c);
	struct reap *next;
};

static pthread_mutex_t reap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reap_cond = PTHREAD_COND_INITIALIZER;
static struct reap *reap_head, **reap_tail = &reap_head;

static void *reaper_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&reap_lock);
		while (!reap_head)
			pthread_cond_wait(&reap_cond, &reap_lock);
		struct reap *r = reap_head;
		reap_head = r->next;
		if (!reap_head)
			reap_tail = &reap_head;
		pthread_mutex_unlock(&reap_lock);
		r->free_now(r->c);
		free(r);
	}
	return NULL;
}

static void reap_later(struct config *c, void (*free_now)(struct config *c))
{
	struct reap *r = xcalloc(1, sizeof *r);
	r->c = c;
	r->free_now = free_now;
	pthread_mutex_lock(&reap_lock);
	*reap_tail = r;
	reap_tail = &r->next;
	pthread_cond_signal(&reap_cond);
	pthread_mutex_unlock(&reap_lock);
}

/* On the main thread, before the first service runs. Without the thread, frees stay where they drop. */
static void reaper_start(void)
{
	static int started;
	pthread_t t;
	if (started)
		return;
	started = 1;
	int err = pthread_create(&t, NULL, reaper_main, NULL);
	if (err) {
		log_warn("cannot start the thread that frees replaced configurations: %s", strerror(err));
		return;
	}
	pthread_detach(t);
	config_set_free_hook(reap_later);
}

/* One line per joined connection when it ends, as GOST's handlers log one: the client, what it was
 * joined to and through what, bytes each way, how long and how it ended; what an operator greps
 * for. In JSON each is a member, under GOST's names where GOST has one (its duration is in
 * nanoseconds too). */
static void svc_pipe_end(struct service *svc, const struct stream *s, const struct stream *peer, uint64_t in,
			 uint64_t out, const char *result)
{
	double took = s->svc_since > 0 ? ev_now(s->w->loop) - s->svc_since : 0;
	const struct stream_route *r = peer ? peer->route : NULL;
	const char *target = r ? r->target : peer ? peer->peer : "?";
	const char *chain = r ? r->chain : NULL, *node = r ? r->node : NULL;
	char msg[400], via[300] = "";
	if (took < 0)
		took = 0;
	snprintf(msg, sizeof msg, "%s >-< %s", s->peer, target);
	if (chain || node)
		snprintf(via, sizeof via, " (%s%s%s%s%s)", chain ? "chain " : "", chain ? chain : "",
			 chain && node ? ", " : "", node ? "node " : "", node ? node : "");
	struct log_field f[11];
	size_t n = 0;
	f[n++] = (struct log_field){ "service", LOG_FIELD_STR, svc->name, 0 };
	f[n++] = (struct log_field){ "handler", LOG_FIELD_STR, svc->handler.type ? svc->handler.type->name : "", 0 };
	f[n++] = (struct log_field){ "listener", LOG_FIELD_STR, svc->listener.type ? svc->listener.type->name : "", 0 };
	f[n++] = (struct log_field){ "client", LOG_FIELD_STR, s->peer, 0 };
	f[n++] = (struct log_field){ "dst", LOG_FIELD_STR, target, 0 };
	if (chain)
		f[n++] = (struct log_field){ "chain", LOG_FIELD_STR, chain, 0 };
	if (node)
		f[n++] = (struct log_field){ "node", LOG_FIELD_STR, node, 0 };
	f[n++] = (struct log_field){ "inputBytes", LOG_FIELD_UINT, NULL, in };
	f[n++] = (struct log_field){ "outputBytes", LOG_FIELD_UINT, NULL, out };
	f[n++] = (struct log_field){ "duration", LOG_FIELD_UINT, NULL, (unsigned long long)(took * 1e9) };
	f[n++] = (struct log_field){ "result", LOG_FIELD_STR, result, 0 };
	log_event(LOG_LVL_INFO, f, n, msg, "service %s: %s: %llu bytes in, %llu bytes out, %.3fs, %s%s", svc->name, msg,
		  (unsigned long long)in, (unsigned long long)out, took, result, via);
}

static const struct stream_svc_hooks svc_hooks = {
	.release = service_unref,
	.release_hold = conn_limits_release,
	.request_end = svc_metrics_request_end,
	.transfer = svc_metrics_transfer,
	.pipe_end = svc_pipe_end,
};

void service_start(struct service *svc)
{
	stream_set_svc_hooks(&svc_hooks);
	reaper_start();
	/* What may block (opening a database) runs here, on the main thread, never on a worker. */
	if (svc->handler.type->prepare)
		svc->handler.type->prepare(svc);
	svc->running = 1;
	for (int i = 0; i < service_workers(svc); i++) {
		struct listener_inst *li = xcalloc(1, sizeof *li);
		li->svc = svc;
		li->w = workers[i];
		li->fd = svc->fds[i];
		svc->inst[i] = li;
		worker_post(workers[i], start_on_worker, li);
	}
	log_info("service %s: %s on %s (%s)", svc->name, svc->handler.type->name, svc->addr, svc->listener.type->name);
}

static void stop_on_worker(void *arg)
{
	struct listener_inst *li = arg;
	struct service *svc = li->svc;
	if (svc->handler.type->stop)
		svc->handler.type->stop(svc, li->w);
	if (svc->listener.type->stop)
		svc->listener.type->stop(li);
	proxy_header_cancel_all(li);
	if (li->fd >= 0)
		close(li->fd);
	free(li);
	service_unref(svc);
}

void service_stop(struct service *svc)
{
	if (!svc->running)
		return;
	svc->running = 0;
	for (int i = 0; i < service_workers(svc); i++) {
		service_ref(svc);
		worker_post(workers[i], stop_on_worker, svc->inst[i]);
		svc->inst[i] = NULL;
	}
	if (svc->listener.type->unbind)
		svc->listener.type->unbind(svc);
	log_info("service %s: stopped listening on %s", svc->name, svc->addr);
}

void service_dispatch(struct service *svc, struct stream *client)
{
	if (!client->svc) {
		service_ref(svc);
		client->svc = svc;
	}
	/* GOST wraps the accepted connection: its reads are "in", its writes "out" (src/core/pipe.c enforces) */
	if (svc->limiter && !client->rate && !client->dgram)
		client->rate = traffic_limiter_conn(svc->limiter, client->peer);
	svc_metrics_request(client);
	if (conn_limits_request(svc, client) < 0)
		return;
	svc->handler.type->handle(svc, client);
}

/* ---- stream listeners ---- */

void service_accept_ready(struct listener_inst *li, struct stream *s)
{
	if (conn_limits_accept(li->svc, s, CONN_ALL) < 0)
		return;
	li->on_accept(li, s);
}

static int listener_accepted(struct acceptor *a, struct stream *s)
{
	struct listener_inst *li = a->data;
	service_ref(li->svc);
	s->svc = li->svc;
	log_debug("service %s: connection from %s", li->svc->name, s->peer);
	/* GOST reads the PROXY header before anything judges the client by its address */
	if (li->svc->proxy_protocol)
		proxy_header_accept(li, s);
	else
		service_accept_ready(li, s);
	return 0;
}

static void default_on_accept(struct listener_inst *li, struct stream *s) { service_dispatch(li->svc, s); }

int stream_listener_start(struct listener_inst *li, void (*on_accept)(struct listener_inst *li, struct stream *s))
{
	li->on_accept = on_accept ? on_accept : default_on_accept;
	acceptor_init(&li->acc, li->w, li->fd, listener_accepted, li, "service %s", li->svc->name);
	acceptor_start(&li->acc);
	return 0;
}

void stream_listener_stop(struct listener_inst *li)
{
	acceptor_stop(&li->acc);
}
