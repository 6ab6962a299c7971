/* Running services: bound sockets, per-worker listener instances, start, stop, reload. */
#ifndef PORTWAY_SERVICE_H
#define PORTWAY_SERVICE_H
#include "src/conf/model.h"
#include "src/core/acceptor.h"
#include "src/core/stream.h"

struct listener_inst {
	struct service *svc;
	struct worker *w;
	int fd;                     /* bound socket for this worker, or -1 */
	struct acceptor acc;        /* stream listeners: the accept loop on fd */
	void *state;                /* the listener type's own */
	void (*on_accept)(struct listener_inst *li, struct stream *s);
	struct proxy_wait *proxy_waits; /* connections still sending a PROXY header (proxy_header.h) */
};

/* A non-blocking listening (SOCK_STREAM) or bound (SOCK_DGRAM) socket; "" host = every address. */
int listen_socket(const char *host, uint16_t port, int socktype, int reuseport, char *err, size_t errlen);
uint16_t socket_local_port(int fd);

/* The socket file a unix listener made, to remove it only while it is still that one. */
struct unix_file {
	unsigned long long dev, ino;
};
/* A non-blocking listening unix socket at path, mode applied (0: the umask's), into place by a
 * rename: a socket file there is replaced, unless exclusive and a program accepts on it; any other
 * file is refused. made: what to give unix_socket_remove. -1 with a message in err. */
int listen_unix_socket(const char *path, int mode, int exclusive, struct unix_file *made, char *err, size_t errlen);
void unix_socket_remove(const char *path, const struct unix_file *made);

/* Bind one SO_REUSEPORT socket per worker. -1 with a message in err. exclusive: first make sure no
 * other socket holds the address (SO_REUSEPORT alone would let another process share it silently). */
int service_bind(struct service *svc, int exclusive, char *err, size_t errlen);
void service_start(struct service *svc);
/* Stop accepting (listeners close); live connections go on. */
void service_stop(struct service *svc);

/* For stream listeners: accept on li->fd and call on_accept for each new connection. */
int stream_listener_start(struct listener_inst *li, void (*on_accept)(struct listener_inst *li, struct stream *s));
void stream_listener_stop(struct listener_inst *li);
/* An accepted stream whose client address is final (s->peer, after a PROXY header if the service
 * takes one): what judges the client by its address (admission, limits) goes here, before the
 * listener's own steps (li->on_accept). */
void service_accept_ready(struct listener_inst *li, struct stream *s);
/* Hand a ready client stream to the service's handler (takes a service reference). */
void service_dispatch(struct service *svc, struct stream *client);

#endif
