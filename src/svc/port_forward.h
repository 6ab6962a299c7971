/*
 * Port forwarding, what the tcp, rtcp, udp and rudp handlers share: each
 * client stream goes to one of the forwarder's nodes (round-robin, failing
 * over to the next node when a dial fails), through the handler's chain when
 * it has one, and is piped to it. The types differ only in their texts and,
 * for datagrams, in how long a session lives (ttl).
 */
#ifndef PORTWAY_SVC_PORT_FORWARD_H
#define PORTWAY_SVC_PORT_FORWARD_H
#include "src/svc/service.h"

/* A type's own words; they are in its log lines and config errors. */
struct forward_texts {
	const char *no_forwarder;   /* the config error when the service has no forwarder nodes */
	const char *log_prefix;     /* log lines begin "<log_prefix> <service name>: " */
	const char *unreachable;    /* the log line when no node answered: "... <client>: <unreachable>: <why>" */
	const char *session;        /* before "<client> -> <target>" in the debug line: "" or "udp session " */
};

/* Where a datagram session's ttl comes from: the handler's metadata, else the service's,
 * else (from_listener) the listener's. It is both the dial timeout and the pipe's idle timeout. */
struct forward_ttl {
	double def;                 /* when none of them sets it */
	int from_listener;          /* the listener's ttl counts too (rudp: GOST reads it there) */
	int zero_is_default;        /* ttl 0 means def, not "no limit" */
};

/* handler_type.init of a stream type: options idleTimeout (the handler's, else the service's,
 * default none) and dialTimeout (10 s). t must outlive the service (a static of the type). */
int stream_forward_init(struct service *svc, const struct forward_texts *t, struct cfg_err *e);
/* handler_type.init of a datagram type: option ttl as ttl says. t and ttl: statics of the type. */
int datagram_forward_init(struct service *svc, const struct forward_texts *t, const struct forward_ttl *ttl,
			  struct cfg_err *e);
/* handler_type.fini and .handle of both. */
void port_forward_fini(struct service *svc);
void port_forward_handle(struct service *svc, struct stream *client);

#endif
