/* Shared between handlers/relay.c and handlers/relay_bind.c (the BIND command). */
#ifndef PORTWAY_HANDLERS_RELAY_H
#define PORTWAY_HANDLERS_RELAY_H
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "proto/relay.h"

struct relay_opts {
	int bind;                   /* allow BIND */
	int nodelay;                /* send the OK reply at once instead of with the target's first bytes */
	double read_timeout;        /* for the request */
	double dial_timeout;
	double idle_timeout;
	int hash_host;              /* metadata hash: host (router_hash_opt) */
	void *bind_opts;            /* parsed by relay_bind_init, owned by handlers/relay_bind.c */
};

/* Write a 4-byte reply with this status and close once it is sent. */
void relay_reply_and_close(struct stream *client, uint8_t status);

/* handlers/relay_bind.c: the BIND command's options and sessions. */
int relay_bind_init(struct service *svc, struct relay_opts *o, struct cfg_err *e);
void relay_bind_fini(struct relay_opts *o);
/* BIND was asked and allowed: client and req now belong to the BIND code. */
void relay_bind_start(struct service *svc, struct stream *client, const struct relay_msg *req, int udp);

#endif
