/*
 * TLS (OpenSSL, TLS 1.2 and 1.3) as a filter stream over any lower stream:
 * a socket, or a stream already tunnelled through earlier hops. The record
 * layer runs through BIOs of our own over buffers, so the lower stream is
 * only ever read and written through the stream interface.
 *
 * Shared by the tls and wss listeners and dialers, and by anything else that
 * terminates or originates TLS (the stream protocol, the gateway).
 */
#ifndef PORTWAY_TLS_STREAM_H
#define PORTWAY_TLS_STREAM_H
#include <stddef.h>

#include "src/conf/model.h"
#include "src/core/stream.h"

/*
 * Settings shared by every connection of one listener or one node, on every
 * worker: the SSL_CTX (certificate, key, CA, versions, ALPN) and the
 * handshake options. Reference counted: each handshake in flight holds one,
 * so a reload never frees it under a connection.
 */
struct tls_conf;

/*
 * Server side. tls: certFile+keyFile (keyFile defaults to certFile), else a
 * self-signed ECDSA P-256 certificate generated once per process, whose
 * SHA-256 fingerprint is logged; caFile: client certificates are required
 * and verified against it (mutual TLS); options.minVersion, options.alpn.
 * md (may be NULL): alpn ("h2,http/1.1" or a list, added to options.alpn),
 * handshakeTimeout (default 10 s). label names the owner in log lines
 * ("service x"); where locates errors in the configuration (may be NULL).
 * NULL with cfg_err set on failure.
 */
struct tls_conf *tls_conf_server(const struct tls_cfg *tls, const struct cnode *md, const struct cnode *where,
				 const char *label, struct cfg_err *e);

/*
 * Client side. tls: certFile+keyFile (client certificate); caFile (verify the
 * server's chain against it); secure (verify chain and name; without caFile
 * against the system CA store); serverName (SNI and the name verified;
 * default: default_name, e.g. the node's host). secure defaults to off, as
 * in GOST: without secure or caFile the server is not authenticated.
 * md: alpn, handshakeTimeout.
 */
struct tls_conf *tls_conf_client(const struct tls_cfg *tls, const struct cnode *md, const struct cnode *where,
				 const char *default_name, const char *label, struct cfg_err *e);

void tls_conf_ref(struct tls_conf *c);
void tls_conf_unref(struct tls_conf *c);   /* NULL is fine */

/*
 * Wrap lower (owned from now on) and run the handshake as server or client.
 * cb(ctx, s, 0) with the TLS stream once established (s->alpn holds the
 * negotiated protocol, s->peer and s->svc come from lower), or
 * cb(ctx, NULL, err) once everything is closed and the cause logged:
 * ETIMEDOUT, EPROTO (handshake or verification failed), ECONNRESET (the
 * peer went away). cb runs exactly once, never from inside this call.
 */
void tls_accept(struct tls_conf *c, struct stream *lower, stream_done_cb cb, void *ctx);
void tls_connect(struct tls_conf *c, struct stream *lower, stream_done_cb cb, void *ctx);

/* SHA-256 fingerprint of the generated certificate ("AB:CD:..."), "" before one exists. */
const char *tls_auto_cert_fingerprint(void);

#endif
