/*
 * DTLS 1.2 (mbedTLS) as a datagram filter stream over a lower datagram
 * stream: a UDP listener session on the server side, a connected UDP
 * socket (or any tunnelled datagram stream) on the client side.
 *
 * The stream has s->dgram set: each on_read delivers exactly one decrypted
 * record, and each write becomes one record in one datagram of at most
 * DTLS_MAX_DATAGRAM bytes; a longer write is cut into several records, so
 * that stream-oriented handlers can run over DTLS too.
 *
 * Profile: DTLS 1.2 only, ECDHE with AEAD ciphers (ECDHE-ECDSA-AES128-GCM
 * first), the extended master secret, X25519/P-256/P-384; the server asks
 * every new client for a cookie (HelloVerifyRequest) and keeps no state for
 * it until the client returns it. This is what pion/dtls speaks.
 */
#ifndef PORTWAY_DTLS_STREAM_H
#define PORTWAY_DTLS_STREAM_H
#include <stddef.h>

#include "src/conf/model.h"
#include "src/core/stream.h"

/* pion/dtls reads datagrams into an 8 KiB buffer and drops the session on a larger one. */
#define DTLS_MAX_DATAGRAM 8192

struct dtls_opts {
	int mtu;                    /* handshake datagram size (flight fragmentation); 0: 1200 */
	double flight_interval;     /* first retransmission interval, doubled each time; 0: 1 s */
	double handshake_timeout;   /* the whole handshake; 0: 30 s */
};

/* Metadata mtu, flightInterval, handshakeTimeout; -1 with cfg_err when malformed. */
int dtls_opts_parse(const struct cnode *md, struct dtls_opts *o, struct cfg_err *e);

/*
 * Settings shared by every session of one listener or one node, on every
 * worker: certificates, keys, the RNG, the cookie secret. Reference counted:
 * each live session holds one, so reloading the config never frees it under
 * a session.
 */
struct dtls_conf;

/*
 * Server side. tls: certFile+keyFile (else a self-signed ECDSA P-256
 * certificate is made), caFile (then client certificates are required and
 * verified against it). label names the owner in log lines ("service x").
 * NULL with a message in err on failure.
 */
struct dtls_conf *dtls_conf_server(const struct tls_cfg *tls, const struct dtls_opts *o, const char *label,
				   char *err, size_t errlen);
/*
 * Client side. tls: certFile+keyFile (client certificate), caFile (verify the
 * server's chain against it), secure (also verify the name; without caFile
 * against the system CA bundle), serverName (default: default_name).
 */
struct dtls_conf *dtls_conf_client(const struct tls_cfg *tls, const struct dtls_opts *o, const char *default_name,
				   const char *label, char *err, size_t errlen);
void dtls_conf_unref(struct dtls_conf *c);

/*
 * Wrap lower (a datagram stream, owned from now on) and run the handshake.
 * cb(ctx, s, 0) with the DTLS stream once it is established, or
 * cb(ctx, NULL, err) once lower is closed and the cause logged: ETIMEDOUT,
 * EPROTO (handshake refused), ECONNRESET, or EAGAIN for a client that was
 * sent a cookie to come back with (the server keeps nothing for it).
 * cb runs exactly once, never from inside this call.
 */
void dtls_start(struct dtls_conf *c, struct stream *lower, stream_done_cb cb, void *ctx);

/*
 * Best effort: larger kernel buffers on a UDP socket carrying DTLS (fd < 0:
 * nothing), since a burst that overflows them is lost for good.
 */
void dtls_socket_buffers(int fd);

#endif
