/*
 * What the proxy handlers (http, socks4, socks5, auto) share: their common
 * options, a dial with the handler's retries, and
 * the entry points the auto handler uses to hand a peeked stream on.
 */
#ifndef PORTWAY_HANDLERS_PROXY_H
#define PORTWAY_HANDLERS_PROXY_H
#include <stddef.h>
#include <stdint.h>

#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/core/buf.h"
#include "src/svc/router.h"

struct proxy_opts {
	double dial_timeout;        /* the whole dial through the chain */
	double read_timeout;        /* handshake, request head, response head */
	double idle_timeout;        /* tunnels and bodies; 0: none */
	int retries;                /* further dials after a failed one (GOST handler.retries) */
	int hash_host;              /* metadata hash: host: the hash strategy keys on the target */
};

/* Reads dialTimeout, readTimeout, idleTimeout and retries from the handler (or service) metadata. */
int proxy_opts_parse(struct service *svc, struct proxy_opts *o, struct cfg_err *e);

/* A router dial repeated up to o->retries times, for the client at peer (a stream's peer: its IP,
 * or host:port with the handler's hash: host, is the hash strategy's key; client_id, the user it
 * authenticated as or NULL, wins over both, as in GOST).
 * cb runs once unless cancelled. */
struct proxy_dial;
struct proxy_dial *proxy_dial_start(struct worker *w, const char *peer, const char *client_id, struct service *svc,
				    const struct proxy_opts *o, const char *host, uint16_t port, int dgram, stream_done_cb cb, void *ctx);
void proxy_dial_cancel(struct proxy_dial *pd);

/* The service's bypass refuses host:port (GOST answers 403, SOCKS "not allowed"). */
int proxy_refused(const struct service *svc, const char *host, uint16_t port);

/* Handler entry points for the auto handler: options parsed once, then one stream at a time. */
int http_proxy_init(struct service *svc, void **state, struct cfg_err *e);
void http_proxy_free(void *state);
void http_proxy_serve(struct service *svc, void *state, struct stream *client);
/* The sni handler's plain HTTP, served by http_proxy_serve and freed by http_proxy_free: each
 * request goes to the host its Host field names (port 80 by default), in origin form; no proxy
 * authentication; where a proxy would answer an error status the connection closes. */
int http_origin_init(struct service *svc, void **state, struct cfg_err *e);
int socks5_proxy_init(struct service *svc, void **state, struct cfg_err *e);
void socks5_proxy_free(void *state);
void socks5_proxy_serve(struct service *svc, void *state, struct stream *client);
int socks4_proxy_init(struct service *svc, void **state, struct cfg_err *e);
void socks4_proxy_free(void *state);
void socks4_proxy_serve(struct service *svc, void *state, struct stream *client);

#endif
