/*
 * Who may use a service, as GOST v3 has it: admissions (client address
 * allow/deny lists), climiters (concurrent connections) and rlimiters
 * (requests per second), top-level lists named by services.
 *
 * The lists are part of the immutable model; their counters are the one
 * mutable part, shared by every worker: atomics, and for the per-IP scopes
 * ("$$" and CIDR lines) a table of per-address entries behind a lock per
 * bucket, entries freed once nothing holds them (a climiter's when its last
 * connection closes, a rlimiter's when its bucket is full again).
 */
#ifndef PORTWAY_CONF_ACCESS_H
#define PORTWAY_CONF_ACCESS_H
#include <stdint.h>

#include "proto/addr_rules.h"
#include "src/conf/model.h"

struct admission {
	char *name;
	int whitelist;              /* only matching clients are admitted; else matching ones are refused */
	struct ip_prefix *rules;    /* owned */
	size_t n;
	uint64_t file_hash;         /* of file.path's lines, for the services' fingerprints */
};

/* One counter: a climiter's connections, or a rlimiter's bucket (GCRA: the time its next
 * request would be on schedule, in monotonic nanoseconds). */
struct limit_cell {
	long held;                  /* atomic (climiter) */
	uint64_t tat;               /* atomic (rlimiter) */
};

struct limit_rule {
	struct ip_prefix prefix;
	double value;
	struct limit_cell cell;     /* an IP line's, shared by that address's connections */
};

struct ip_table;

/* A climiter (rate 0) or a rlimiter (rate 1). */
struct addr_limiter {
	char *name;
	int rate;
	double global;              /* "$": the service as a whole; <= 0: none */
	struct limit_cell global_cell;
	double per_ip;              /* "$$": each client address not under an IP or CIDR line; <= 0: none */
	struct limit_rule *ips;     /* IP lines: one counter for that address */
	size_t n_ips;
	struct limit_rule *nets;    /* CIDR lines: a counter for each address inside */
	size_t n_nets;
	struct ip_table *table;     /* the per-address counters ("$$", CIDR); NULL when none */
	uint64_t file_hash;
};

/* ---- loading (src/conf/config.c calls these) ---- */

/* The top-level admissions, climiters and rlimiters of c->root into c. -1 with e. */
int access_parse_config(struct config *c, struct cfg_err *e);
/* A service's admission, admissions, climiter and rlimiter (n: its subtree). -1 with e. */
int access_parse_service(struct config *c, struct service *svc, const struct cnode *n, const char *path,
			 struct cfg_err *e);
/* What the services' fingerprints must also cover: the contents of the lists' files. */
uint64_t access_files_hash(const struct config *c);
void access_free_service(struct service *svc);
void access_free_config(struct config *c);

/* ---- checks (the services layer calls these on its workers) ---- */

/* 1: every admission of svc admits the client; 0: one refuses. a NULL: not an IP (a unix socket). */
int access_admit(const struct service *svc, const struct ip_addr *a);

/* What a connection admitted by a climiter holds, released when it closes. */
struct climit_hold;
/* 1 and *hold (NULL if the service has no climiter) when the connection may be accepted; 0 when
 * a limit is reached. */
int climit_acquire(const struct service *svc, const struct ip_addr *a, struct climit_hold **hold);
void climit_release(struct climit_hold *hold);

/* 1 if the service's rlimiter lets one more request from a through at now_ns (monotonic). */
int rlimit_allow(const struct service *svc, const struct ip_addr *a, uint64_t now_ns);

#endif
