/*
 * The router: a connection to host:port, directly or through a chain.
 * Hop i's node is reached through hop i-1's connector; its dialer then runs
 * its handshake (TLS, WebSocket) over that tunnelled stream. Every step is
 * asynchronous and the whole dial has one timeout.
 */
#ifndef PORTWAY_ROUTER_H
#define PORTWAY_ROUTER_H
#include "src/conf/model.h"
#include "src/core/stream.h"

struct dial;

struct dial_opts {
	struct chain *chain;        /* NULL: direct */
	int dgram;                  /* UDP at the far end */
	double timeout;             /* whole dial; <= 0: 15 s */
	/* The service whose model the dial reads (its chain, forwarder and their nodes, a listener's own
	 * prefix chain). The dial holds a reference on it until the last step it started has finished,
	 * even after a timeout or router_dial_cancel: a connector still waiting for its node's answer
	 * reads the node, which a reload would otherwise free. NULL: the caller keeps the model alive
	 * (the CLI's probe owns its config). router_dial_pipe defaults it to the client's service. */
	struct service *svc;
	/* The target (host, or the forwarder's node) is a unix socket path. Direct only: through a
	 * chain the dial fails with EPROTONOSUPPORT (no connector here carries a unix target). */
	int unix_target;
	/* The hash strategy's key (GOST: the client's IP, or the target with a handler's hash: host):
	 * copied by the dial; NULL: none, a hash hop then picks at random. router_dial_pipe defaults it
	 * to the client's IP. */
	const char *hash;
};

/* cb runs exactly once unless the dial is cancelled first. err: errno value. */
struct dial *router_dial(struct worker *w, const struct dial_opts *o, const char *host, uint16_t port,
			 stream_done_cb cb, void *ctx);
/* Dial one of the hop's nodes (port forwarding), failing over to the next node. */
struct dial *router_dial_forward(struct worker *w, const struct dial_opts *o, struct hop *forwarder,
				 stream_done_cb cb, void *ctx);
void router_dial_cancel(struct dial *d);

/* What a forwarding handler does with a connection: dial, then pipe. */
struct dial_pipe {
	struct dial_opts dial;
	struct hop *forwarder;      /* dial one of its nodes, failing over; NULL: host:port */
	const char *host;           /* copied by the dial */
	uint16_t port;
	double idle_timeout;        /* the pipe's; <= 0: none */
	/* Logs the outcome (may be NULL): remote is what the dial reached, or NULL and err is set. */
	void (*report)(void *ctx, struct stream *client, struct stream *remote, int err);
	void *ctx;
};

/* Owns client from the call on: piped to what the dial reaches, or closed when it fails. */
void router_dial_pipe(struct stream *client, const struct dial_pipe *o);

/* The client's IP (its peer address, as a stream's peer, without the port), GOST's default hash key; returns out. */
const char *router_client_ip(const char *peer, char *out, size_t outlen);
/* GOST's handler metadata "hash" (http, http2, socks4, socks5, ss, sni, relay): "host" keys the hash
 * strategy on the target instead of the client's IP; any other value is a configuration error. */
int router_hash_opt(const struct service *svc, int *hash_host, struct cfg_err *e);
/* The hash key of a request from peer (a stream's peer) for host:port (into out, returned): as in
 * GOST, the client's id (the user it authenticated as) when it has one, else the target with
 * hash_host, else the client's IP. */
const char *router_hash_key(const char *peer, const char *client_id, int hash_host, const char *host, uint16_t port,
			    char *out, size_t outlen);

/* Node selection as GOST's selector does it: failed nodes (maxFails/failTimeout) and then backup
 * nodes filtered out while others remain, then the hop's strategy (round, weighted random, fifo,
 * hash of `hash`). exclude: nodes already tried. */
struct node *hop_select(struct hop *h, struct node *const *exclude, size_t n_exclude, const char *hash);
void node_mark_failed(struct hop *h, struct node *n);
void node_mark_ok(struct node *n);
/* The part of the chain used for host:port: it stops before the first hop whose bypass
 * matches, or whose nodes are all bypassed (a node's own bypass excludes it from selection). */
size_t chain_hops_for(const struct chain *c, const char *host, uint16_t port);
/* The same for network "tcp" or "udp" (bypass lists may apply to one network only). */
size_t chain_hops_for_net(const struct chain *c, const char *network, const char *host, uint16_t port);

#endif
