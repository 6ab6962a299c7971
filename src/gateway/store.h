/*
 * The gateway's SQLite state (onifast-relay.db): tunnels with hashed secrets
 * and static port forwards. Opening and migrating is synchronous and never on
 * a worker (the main thread before the gateway starts, the CLI); so is
 * store_close, which joins the store's thread. At run time every query goes
 * through store_async: the job runs on the store's own thread and its
 * completion is posted back to the worker, so a slow disk never stalls an
 * event loop.
 */
#ifndef PORTWAY_STORE_H
#define PORTWAY_STORE_H
#include <stddef.h>

#include "src/core/worker.h"

#define STORE_SECRET_LEN 64     /* hex characters of a generated secret */
#define STORE_NAME_MAX 63

struct store;

struct port_forward {
	int listen_port;
	char tunnel_host[STORE_NAME_MAX + 1];
	int target_port;
	int active;
};

/* Opens (creating and migrating) the database and starts the store's thread; NULL with err. */
struct store *store_open(const char *path, char *err, size_t errlen);
/* Runs the jobs still queued, joins the thread, closes the database. */
void store_close(struct store *st);

/* A tunnel name is a DNS label: 1-63 of [a-z0-9-], not starting or ending with '-'. */
int store_name_valid(const char *name);

/* 0 and the new secret (shown once) / -1 exists / -2 error. */
int store_tunnel_add(struct store *st, const char *name, char secret[STORE_SECRET_LEN + 1]);
/* 0 removed / -1 no such tunnel / -2 error. */
int store_tunnel_del(struct store *st, const char *name);
/* Calls each() per tunnel in name order; returns the count or -1. */
int store_tunnel_list(struct store *st, void (*each)(void *ctx, const char *name, long created_at), void *ctx);
/* 1 when the secret matches the tunnel's hash (constant time), 0 when not or no such tunnel. */
int store_tunnel_check(struct store *st, const char *name, const char *secret);
/* 1 when a tunnel of that name exists, 0 when not, -1 on error. */
int store_tunnel_exists(struct store *st, const char *name);

int store_pf_list(struct store *st, struct port_forward **out, size_t *n);   /* caller frees *out */
/* 0 added / -1 listen_port exists / -2 error. */
int store_pf_add(struct store *st, const struct port_forward *pf);
int store_pf_delete(struct store *st, int listen_port);                      /* 0 / -1 none / -2 */

/* Run job(st, arg) on the store thread, then done(arg) on worker w. */
void store_async(struct store *st, struct worker *w, void (*job)(struct store *st, void *arg), void (*done)(void *arg),
		 void *arg);

#endif
