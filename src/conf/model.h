/*
 * The internal model: services, chains, hops and nodes, built once from
 * YAML or from -L/-F URLs and validated before anything starts. A model is
 * immutable once built, except the node health counters (atomics).
 */
#ifndef PORTWAY_MODEL_H
#define PORTWAY_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "src/conf/cnode.h"
#include "src/core/log_rotate.h"

/* The model names the runtime's types without needing it (no event loop here). */
struct stream;
struct worker;
typedef void (*stream_done_cb)(void *ctx, struct stream *s, int err);
/* A BIND's first answer: s and the address the node listens on ("host:port"), or NULL, NULL and an
 * errno value (ECONNREFUSED: the node refused). */
typedef void (*bind_done_cb)(void *ctx, struct stream *s, const char *bound, int err);

struct service;
struct traffic_limiter;
struct node;
struct cfg_err;
struct listener_inst;
struct admission;
struct addr_limiter;
struct svc_metrics;
struct node_metrics;

struct auth_cfg {
	char *username, *password;  /* NULL when not set */
};

struct tls_cfg {
	int set;
	char *cert_file, *key_file, *ca_file, *server_name;
	int secure;                 /* verify the peer (dialer side) */
	char **alpn;
	size_t n_alpn;
	char *min_version;
};

struct user {
	char *username, *password;
};

/* A named list of users (top-level `authers`) or a service's single `auth`. */
struct auther {
	char *name;
	struct user *users;
	size_t n_users;
	char *file;                 /* users file, "user pass" per line; reloaded with the config */
};

struct bypass {
	char *name;
	int whitelist;
	char *network;              /* "tcp" or "udp": the list applies to that network only; NULL: to both */
	char **patterns;            /* address, CIDR, or domain wildcard (*.example.com, .example.com) */
	size_t n;
	/* A group: what a service, hop or node names with `bypass` and `bypasses` together, when that is
	 * more than one list. The members belong to config.bypasses, the group to config.bypass_groups. */
	struct bypass **members;
	size_t n_members;
};

/* ---- registered types: one file each, one line in src/registry.c ---- */

struct handler_type {
	const char *name;
	int (*init)(struct service *svc, struct cfg_err *err);   /* parse options into svc->handler.state */
	void (*fini)(struct service *svc);
	/* A new client stream (owned by the handler from now on). */
	void (*handle)(struct service *svc, struct stream *client);
	/* Optional, on each worker the service runs on: open or close what the handler keeps itself
	 * (extra listeners, timers). Called after the listener started / before it stops. */
	void (*start)(struct service *svc, struct worker *w);
	void (*stop)(struct service *svc, struct worker *w);
	/* Optional, on the main thread before start runs on any worker (at start-up and when a reload
	 * brings the service in): what may block, such as opening a database. An older instance of the
	 * service may still run meanwhile. Failures are the handler's to report (start sees them). */
	void (*prepare)(struct service *svc);
	/* The handler's state lives on one worker (worker 0): the service listens there only. */
	int single_worker;
	/* Its forwarder's nodes are unix socket paths, not host:port (the unix handler). */
	int path_targets;
	/* It checks clients against handler.auth / auther / authers. 0: a service that sets them
	 * is refused, as the users would not be asked for (fail closed). */
	int checks_users;
	/* It reads handler metadata proxyProtocol and sends that PROXY header to its targets. */
	int sends_proxy_protocol;
};

struct listener_type {
	const char *name;
	int socktype;               /* SOCK_STREAM, SOCK_DGRAM: the socket main binds; 0: none (rtcp) */
	int (*init)(struct service *svc, struct cfg_err *err);
	void (*fini)(struct service *svc);
	/* Per worker: begin accepting on li (li->fd is bound when socktype != 0). */
	int (*start)(struct listener_inst *li);
	void (*stop)(struct listener_inst *li);
	/* It reads listener.tls. 0: a listener.tls block is refused (it would not be applied). */
	int uses_tls;
	/* It checks clients against listener.auth (sshd). 0: a listener.auth is refused. */
	int checks_users;
	/* Listeners whose service addr is no host:port (unix: a socket path), NULL for the others.
	 * bind makes the one listening socket every worker accepts on, on the main thread; -1 with a
	 * message in err. exclusive: refuse an address another program listens on. unbind, when the
	 * service stops listening: remove what bind made (the socket file, unless another took it). */
	int (*bind)(struct service *svc, int exclusive, char *err, size_t errlen);
	void (*unbind)(struct service *svc);
};

struct dialer_type {
	const char *name;
	int socktype;               /* what the first hop's socket is: SOCK_STREAM or SOCK_DGRAM */
	int (*init)(struct node *n, struct cfg_err *err);
	void (*fini)(struct node *n);
	/* Run the transport handshake over lower (already reaching the node). NULL: use lower as is. */
	void (*handshake)(struct node *n, struct stream *lower, stream_done_cb cb, void *ctx);
	/* It reads dialer.tls. 0: a dialer.tls block is refused (it would not be applied). */
	int uses_tls;
	/* The node's addr is a unix socket path (in node.host): as the first hop, the router connects
	 * there instead of to host:port. */
	int path_addr;
	/* Multiplexing dialers (mtcp, mtls, mws, mwss); NULL for the others. reuse: a new stream
	 * over the node's session on worker w, when one is up or being established there: 1, and
	 * cb runs later, exactly once, with the stream (as handshake would deliver it) or an error.
	 * 0: no session, and the caller (ctx) now establishes it: it reaches the node and hands the
	 * connection to handshake(..., ctx) (other requests wait meanwhile), or, when it cannot,
	 * calls give_up with the same ctx and why, while the node still lives. */
	int (*reuse)(struct node *n, struct worker *w, stream_done_cb cb, void *ctx);
	void (*give_up)(struct node *n, struct worker *w, void *ctx, int err);
};

struct connector_type {
	const char *name;
	int (*init)(struct node *n, struct cfg_err *err);
	void (*fini)(struct node *n);
	/* Ask the node, reached through lower, for a connection to host:port. */
	void (*connect)(struct node *n, struct stream *lower, int dgram, const char *host, uint16_t port,
			stream_done_cb cb, void *ctx);
	/* Optional (GOST's multiplexed Binder; the relay connector's BIND is src/svc/relay_bind_client.c):
	 * ask the node, reached through lower, to listen on host:port ("" host: every address). TCP: it
	 * sends what it accepts back as smux streams it opens on this connection; UDP: datagrams are
	 * framed on it (RSV = length, FRAG 0xff, the peer's address, the data). cb runs once, with
	 * lower positioned after the node's first reply. */
	void (*bind)(struct node *n, struct stream *lower, int udp, const char *host, uint16_t port,
		     bind_done_cb cb, void *ctx);
	/* With bind: the header each such stream starts with, naming the peer as "host:port" in
	 * peer. Bytes consumed, 0 for more, -1 when malformed or not a success. */
	int (*bind_peer)(const uint8_t *buf, size_t len, char *peer, size_t cap);
	/* It sends connector.auth to the node. 0: credentials given to it are only warned about
	 * (the node refuses the connection; nothing is left open on this side). */
	int sends_auth;
};

/* By name or GOST alias, NULL if unknown. Defined in src/registry.c, the one file that names
 * every type: the model sees the lookups, never the types themselves. */
const struct handler_type *registry_handler(const char *name);
const struct listener_type *registry_listener(const char *name);
const struct dialer_type *registry_dialer(const char *name);
const struct connector_type *registry_connector(const char *name);
/* "a, b, c" of every registered name of a kind, for error messages. */
void registry_names(const char *kind, char *out, size_t outlen);
/* The same, of the types of that kind for which keep(type) is true. */
void registry_names_if(const char *kind, int (*keep)(const void *type), char *out, size_t outlen);

/* ---- the model ---- */

enum selector_strategy { SEL_ROUND, SEL_RANDOM, SEL_FIFO, SEL_HASH };

struct selector_cfg {
	enum selector_strategy strategy;
	int max_fails;              /* failures before a node is marked down; default 1 */
	double fail_timeout;        /* how long it stays down; default 10 s */
};

struct hosts_table;   /* src/conf/dns.h */
struct resolver_cfg;

struct node {
	char *name, *addr;
	const struct cnode *cfg;    /* this node's own subtree, for messages */
	char host[256];
	uint16_t port;
	struct {
		const struct connector_type *type;
		struct auth_cfg auth;
		struct tls_cfg tls;
		struct cnode *md;
		void *state;
	} connector;
	struct {
		const struct dialer_type *type;
		struct auth_cfg auth;
		struct tls_cfg tls;
		struct cnode *md;
		void *state;
	} dialer;
	struct cnode *md;
	struct bypass *bypass;
	/* GOST's node metadata for the selector. weight: the random strategy's (<= 0: 1); backup: only
	 * chosen when every other node is down; max_fails, fail_timeout: this node's own (0: the hop's). */
	struct {
		int weight, backup, max_fails;
		double fail_timeout;
	} sel;
	/* GOST's node (else its hop's) hosts and resolver, for this node's address; not owned (config's) */
	struct hosts_table *hosts;
	struct resolver_cfg *resolver;
	/* health, shared by all workers */
	int fails;
	double down_until;
};

struct hop {
	char *name;
	struct node **nodes;
	size_t n_nodes;
	struct selector_cfg sel;
	struct bypass *bypass;
	struct hosts_table *hosts;          /* the default of its nodes; not owned */
	struct resolver_cfg *resolver;
	unsigned rr;                /* round-robin cursor (atomic) */
};

struct chain {
	char *name;
	struct hop **hops;
	size_t n_hops;
	/* The services layer's counters (src/svc/metrics.h), one per node of each hop in order;
	 * set on the main thread before a service using the chain starts; NULL: not counted. */
	struct node_metrics **metrics;
};

struct service {
	char *name, *addr;
	char host[256];
	uint16_t port;
	struct {
		const struct handler_type *type;
		struct chain *chain;
		struct auth_cfg auth;
		struct auther **authers;
		size_t n_authers;
		struct tls_cfg tls;
		struct cnode *md;
		void *state;
	} handler;
	struct {
		const struct listener_type *type;
		struct chain *chain;
		struct auth_cfg auth;
		struct tls_cfg tls;
		struct cnode *md;
		void *state;
	} listener;
	struct hop *forwarder;      /* owned; NULL when no forwarder */
	int proxy_protocol;         /* proxyProtocol: accepted connections may start with a PROXY header */
	struct bypass *bypass;
	/* Who may use it (src/conf/access.h): admission then admissions, all must admit (the array
	 * is owned, its items are the config's); climiter, rlimiter: one of the config's, or NULL. */
	struct admission **admissions;
	size_t n_admissions;
	struct addr_limiter *climiter, *rlimiter;
	/* GOST's service hosts and resolver: for the targets it dials (forwarder nodes too); not owned */
	struct hosts_table *hosts;
	struct resolver_cfg *resolver;
	struct traffic_limiter *limiter; /* `limiter:` (src/conf/limiter.h), the config's; NULL: none */
	struct cnode *md;
	struct cnode *cfg;          /* this service's own subtree */
	char *fingerprint;          /* service subtree plus what it references */
	int *fds;                   /* one bound socket per worker, owned */
	struct listener_inst **inst;/* per worker */
	int running;
	int refs;                   /* atomic: the running set and each live connection */
	struct config *owner;       /* the config this service was built from */
	/* Per-worker counters (src/svc/metrics.h), kept by name across reloads; not owned. */
	struct svc_metrics *metrics;
};

/* The top-level `metrics` section (or -metrics): GOST's Prometheus endpoint. */
struct metrics_cfg {
	const char *addr;           /* NULL: no endpoint */
	char host[256];
	uint16_t port;
	const char *path;           /* "/metrics" unless set */
	struct auth_cfg auth;       /* basic auth; username NULL: none */
	struct auther *auther;      /* metrics.auther: its users may scrape; NULL: none */
};

/* Top-level `api`: GOST's web API (served by src/cli/api.c on the main loop). */
struct api_cfg {
	char *addr;                 /* NULL: no API */
	char host[256];
	uint16_t port;
	char *path_prefix;          /* "" or "/prefix" without a trailing slash, owned */
	int accesslog;
	struct auth_cfg auth;       /* api.auth */
	struct auther *auther;      /* api.auther, one of the config's authers */
};

struct config {
	char *path;                 /* owned; cnode file pointers point here */
	struct cnode *root;         /* owned */
	struct service **services;
	size_t n_services;
	struct chain **chains;
	size_t n_chains;
	struct hop **hops;
	size_t n_hops;
	struct auther **authers;
	size_t n_authers;
	struct bypass **bypasses;
	size_t n_bypasses;
	struct hosts_table **hosts;     /* owned (src/conf/dns.h) */
	size_t n_hosts;
	struct resolver_cfg **resolvers;/* owned */
	size_t n_resolvers;
	struct bypass **bypass_groups;  /* owned: the groups services, hops and nodes name (struct bypass) */
	size_t n_bypass_groups;
	struct traffic_limiter **limiters;  /* owned: `limiters:` (src/conf/limiter.h) */
	size_t n_limiters;
	char **kept;                /* owned: strings read from files the tree names (auth.file) */
	size_t n_kept;
	/* Top-level admissions, climiters, rlimiters (src/conf/access.h), owned; their counters are
	 * the mutable part of the model, shared by the workers. */
	struct admission **admissions;
	size_t n_admissions;
	struct addr_limiter **climiters, **rlimiters;
	size_t n_climiters, n_rlimiters;
	int workers;                /* 0: number of cores */
	int refs;                   /* atomic: the loader's reference plus one per live service */
	char *log_level, *log_format, *log_output;
	struct log_rotation log_rotation;   /* log.rotation; enabled only with a file output */
	struct metrics_cfg metrics;
	struct api_cfg api;
};

/* ---- configuration errors ---- */

struct cfg_err {
	char msg[1024];
};

/* "file:line:col: field: message". Always returns -1. */
int cfg_error(struct cfg_err *e, const struct cnode *where, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Keys of map: known ones pass, ignored ones are warned about, refused ones (GOST keys of
 * something portway would not enforce) and unknown ones are errors. Any list may be NULL. */
int cfg_check_keys(struct cfg_err *e, const struct cnode *map, const char *path, const char *const *known,
		   const char *const *ignored, const char *const *refused);

/* Metadata lookups with validation; def when absent; -1 with cfg_err when malformed. */
const char *md_str(const struct cnode *md, const char *key, const char *def);
int md_bool(const struct cnode *md, const char *key, int def, int *out, struct cfg_err *e);
/* GOST reads a setting under several names (mdutil.GetBool(md, "grpc.insecure", "grpcInsecure",
 * "insecure")): the first of keys (NULL-terminated) that md has, else the first. */
const char *md_alias(const struct cnode *md, const char *const *keys);
int md_duration(const struct cnode *md, const char *key, double def, double *out, struct cfg_err *e);
int md_int(const struct cnode *md, const char *key, long def, long min, long max, long *out, struct cfg_err *e);

struct config *config_load_file(const char *path, struct cfg_err *e);
/* Build from -L and -F URLs (src/url.c makes the tree). */
struct config *config_from_urls(char **L, int nL, char **F, int nF, struct cfg_err *e);
/* GOST's port range in an address, "host:min-max": 1 and its parts (the host is addr's first
 * prefix_len bytes); 0: no range there; -1: a malformed one (min > max, not ports). */
int port_range_split(const char *addr, size_t *prefix_len, unsigned *min, unsigned *max);
#define PORT_RANGE_MAX 4096     /* ports one -L may expand to */
/* GOST's -api [user:pass@]host:port[?pathPrefix=/p&accesslog=true]: root's api block, replaced. */
int config_set_api_flag(struct cnode *root, const char *arg, struct cfg_err *e);
/* Takes root and path (freed on error too). */
struct config *config_from_tree(struct cnode *root, char *path, struct cfg_err *e);
/* The tree -L/-F URLs make (positions name file, which must outlive the tree). */
struct cnode *config_tree_from_urls(char **L, int nL, char **F, int nF, const char *file, struct cfg_err *e);
/* GOST's sources, merged in order (src/conf/sources.c): each -C source (a file, "-" for stdin,
 * or inline JSON "{...}"), then the -L/-F URLs, then -api (api_flag, NULL for none) replacing
 * the api block. Lists (services, chains, hops, authers, bypasses, ...) add up; single settings
 * (log, tls, api, metrics, workers) are the last one's. */
struct config *config_load_sources(char **sources, int n_sources, char **L, int nL, char **F, int nF,
				   const char *api_flag, struct cfg_err *e);
/* The file portway reads when given neither -C nor -L: the first that exists of
 * SYSCONFDIR/portway/portway.yaml and GOST's gost.{yaml,yml,json} in /etc/gost/, ~/.gost/
 * and the working directory; NULL if none. */
const char *config_default_path(char *buf, size_t cap);
/* -metrics [user:pass@]host:port[?path=/p] (GOST's flag): m's strings are allocated and
 * kept for the process's life. Checked as the YAML section is: -1 with a message in e. */
int metrics_flag_parse(const char *arg, struct metrics_cfg *m, struct cfg_err *e);
void metrics_flag_free(struct metrics_cfg *m);
/* An endpoint off loopback needs auth (portway's rule for management ports). */
int metrics_cfg_check(const struct metrics_cfg *m, const struct cnode *where, struct cfg_err *e);
void config_unref(struct config *c);
/* Where the last reference's free runs (the types' fini may join a thread or close a database, which
 * a worker loop must not do). Unset: at once, on the thread that dropped it. The services layer sets
 * one that hands the free to a thread of its own; the hook must call free_now(c) exactly once. */
void config_set_free_hook(void (*hook)(struct config *c, void (*free_now)(struct config *c)));

/* Services keep the model alive while connections use them. */
void service_ref(struct service *s);
void service_unref(struct service *s);

/* Authentication: no auth configured => ok. Constant-time password comparison. */
int service_auth_required(const struct service *s);
int service_auth_check(const struct service *s, const char *user, const char *pass);
/* One auth block (a listener's, as the ssh listeners use): set when it names a user; the same
 * rules and constant-time comparison as service_auth_check. */
int auth_cfg_set(const struct auth_cfg *a);
int auth_cfg_check(const struct auth_cfg *a, const char *user, const char *pass);
/* The API's users: api.auth and api.auther (either may pass); no users => ok. */
int api_auth_required(const struct api_cfg *a);
int api_auth_check(const struct api_cfg *a, const char *user, const char *pass);
int bypass_match(const struct bypass *b, const char *host);
/* An IP address, a CIDR or an IP range: what a client allow-list takes (a bypass list also takes names). */
int addr_pattern_is_ip(const char *p);
int bypass_match_port(const struct bypass *b, const char *host, uint16_t port);
/* The same for a connection over network "tcp" or "udp" (a list with `network` applies to that one only). */
int bypass_match_net(const struct bypass *b, const char *network, const char *host, uint16_t port);

#endif
