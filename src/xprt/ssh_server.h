/*
 * The server side of SSH port forwarding (libssh, non-blocking, driven by a
 * libev watcher on the session's socket): key exchange, user authentication
 * (password through the owner, public keys from a list), and the forwarding
 * requests of RFC 4254 section 7 that GOST's sshd serves:
 *
 *  - "direct-tcpip" channels (ssh -L, ssh -D): each becomes a channel stream
 *    handed to the owner with its destination (ssh_chan_target);
 *  - "tcpip-forward" global requests (ssh -R): each becomes a forward
 *    request stream handed to the owner, which answers before it returns
 *    (ssh_forward_reply) and then opens a "forwarded-tcpip" channel back to
 *    the client for every connection it accepts (ssh_forward_open).
 *    "cancel-tcpip-forward" ends the request: its stream reads EOF.
 *
 * Every other channel type ("session": shells, commands) and global request
 * is refused. A session lives on the worker that accepted it; it holds the
 * owner (conf->hold/release) until the connection ends.
 */
#ifndef PORTWAY_XPRT_SSH_SERVER_H
#define PORTWAY_XPRT_SSH_SERVER_H
#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/xprt/ssh_channel.h"

#define SSH_SERVER_MAX_AUTH_TRIES 6     /* Go's x/crypto/ssh default, which GOST uses */

struct ssh_server_conf {
	char *hostkey;              /* the host's private key, OpenSSH base64 form, owned */
	ssh_key *keys;              /* authorized public keys, owned; none: no public key auth */
	size_t n_keys;
	/* Password authentication through the owner; NULL: none. With neither passwords nor keys
	 * every client is let in (GOST's NoClientAuth). */
	int (*password_ok)(void *ud, const char *user, const char *pass);
	double handshake_timeout;   /* accept to authenticated */
	char label[96];             /* "service x", for log lines */
	/* The owner. */
	void *ud;
	void (*hold)(void *ud);
	void (*release)(void *ud);
	/* A direct-tcpip channel stream (owned by the callee), called outside libssh. */
	void (*on_direct)(void *ud, struct stream *ch);
	/* A tcpip-forward request stream (owned by the callee). Called while the request waits for
	 * its answer: the callee calls ssh_forward_reply before it returns (else: refused), and must
	 * not touch other SSH streams meanwhile. */
	void (*on_forward)(void *ud, struct stream *req);
};

/* libssh's global state, once per process (main thread, at load). */
void ssh_server_global_init(void);
/* Load an authorized_keys file into conf->keys; -1 with a message in err. */
int ssh_server_load_authorized_keys(struct ssh_server_conf *conf, const char *path, char *err, size_t errlen);
/* The host key: from a private key file (passphrase may be NULL), or NULL path: one generated
 * for the process (ECDSA P-256, fingerprint logged). -1 with a message in err. */
int ssh_server_load_hostkey(struct ssh_server_conf *conf, const char *path, const char *passphrase, char *err,
			    size_t errlen);
void ssh_server_conf_clear(struct ssh_server_conf *conf);

/* Per worker: what accepts sessions (libssh's ssh_bind with the host key). */
struct ssh_server;
struct ssh_server *ssh_server_new(struct worker *w, const struct ssh_server_conf *conf, char *err, size_t errlen);
/* Stops accepting; live sessions go on. */
void ssh_server_free(struct ssh_server *srv);
/* A new connection (fd owned from now on). */
void ssh_server_accept(struct ssh_server *srv, int fd, const char *peer);

/* 0 and the requested address when s is a forward request stream, else -1. */
int ssh_forward_request(struct stream *s, const char **host, uint16_t *port);
/* The answer, from inside on_forward: ok, and the port bound (sent when the client asked for
 * port 0). */
void ssh_forward_reply(struct stream *s, int ok, uint16_t bound_port);
/* Open a forwarded-tcpip channel to the client for a connection from orig_host:orig_port.
 * cb(ctx, channel stream, 0), or cb(ctx, NULL, err): ECONNREFUSED (the client refused),
 * ECONNRESET (the connection went). Runs exactly once, never from inside this call. */
void ssh_forward_open(struct stream *s, const char *orig_host, uint16_t orig_port, stream_done_cb cb, void *ctx);

#endif
