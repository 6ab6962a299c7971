/*
 * GOST's bandwidth limiters (the top-level `limiters:`, a service's `limiter:`):
 * parsed from their `limits:` lines (proto/limit.h), and the buckets they hand to
 * each client connection (src/core/rate.h).
 */
#ifndef PORTWAY_CONF_LIMITER_H
#define PORTWAY_CONF_LIMITER_H
#include <pthread.h>
#include <sys/socket.h>

#include "proto/limit.h"
#include "src/conf/model.h"
#include "src/core/rate.h"

struct host_bucket;

struct traffic_limiter {
	char *name;                     /* owned */
	/* "$": one bucket per direction, shared by every connection of every service naming this
	 * limiter, on every worker (go-gost keeps one "$" limiter per limiter object too) */
	struct rate_bucket svc_in, svc_out;
	int has_svc_in, has_svc_out;
	struct traffic_limit conn;         /* "$$": each connection gets buckets of these rates; in/out 0: none */
	struct traffic_limit *hosts;       /* owned: IP and CIDR lines, in file order (a later same scope replaced) */
	size_t n_hosts;
	/* The buckets of the client addresses that have connections (or had, less than
	 * HOST_KEEP ago): one per address, shared by its connections on every worker. The
	 * lock is taken when a connection starts and ends, never per read. Owned. */
	pthread_mutex_t lock;
	struct host_bucket *active;
};

/* `n` is one item of `limiters:` whose keys config.c checked. NULL with e set when malformed. */
struct traffic_limiter *traffic_limiter_parse(const struct cnode *n, const char *path, struct cfg_err *e);
void traffic_limiter_free(struct traffic_limiter *l);

/* The limits of a new client connection from peer ("IP:PORT", "[IPv6]:PORT", as struct stream's
 * peer; anything else has no host limit), owned by the caller and released with
 * rate_conn_release; NULL when the limiter limits nothing for it. */
struct rate_conn *traffic_limiter_conn(struct traffic_limiter *l, const char *peer);

/* The host line that limits addr, or NULL: an exact IP's line, else the widest block that holds
 * it (go-gost takes the first network its CIDR trie returns, the shortest prefix). */
const struct traffic_limit *traffic_limiter_host_line(const struct traffic_limiter *l, const struct ip_addr *addr);

#endif
