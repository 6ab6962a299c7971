/*
 * UDP sessions: the datagrams of each peer address become one datagram
 * stream (a session) handed to a handler, with the handler's writes going
 * back to that peer. Datagrams that come before the handler reads are queued
 * (64 at most; more are dropped, as the network would).
 *
 * A session table is fed by whoever receives the datagrams: the udp and dtls
 * listeners' own sockets (udp_sessions_start below), the rudp listener's
 * UDP BIND on a relay.
 */
#ifndef PORTWAY_SVC_UDP_SESSIONS_H
#define PORTWAY_SVC_UDP_SESSIONS_H
#include "src/svc/service.h"

struct session_table;

/* Send one datagram from session to the peer it was added with: what stream_write returns. */
typedef int (*session_send_fn)(void *ctx, struct stream *session, const void *peer, size_t peerlen,
			       const char *data, size_t len);

struct session_table *session_table_new(struct worker *w, session_send_fn send, void *ctx);
/* Detach every session and free the table (as session_table_end with err 0). */
void session_table_free(struct session_table *t);
/* Detach every session: each lives on with its owner, but its writes fail from now on.
 * err != 0: each one not closed yet also gets STREAM_EV_ERROR err. Only from the loop. */
void session_table_end(struct session_table *t, int err);
long session_table_count(const struct session_table *t);
/* peer: the address as bytes that are equal for one peer and only for it. */
struct stream *session_table_find(struct session_table *t, const void *peer, size_t peerlen);
/* A new session for peer (copied); printable is its stream's peer text. */
struct stream *session_table_add(struct session_table *t, const void *peer, size_t peerlen, const char *printable);
/* One datagram from the session's peer: read by the handler now, or queued until it reads. */
void session_push(struct stream *session, const char *data, size_t len);

/* A session table on li->fd (a bound UDP socket), sessions keyed by the client's address.
 * Option maxSessions (4096): datagrams from new clients beyond it are dropped, with a warning
 * once per shortage. udp_sessions_check validates it at load. */
int udp_sessions_check(struct service *svc, struct cfg_err *e);
/* on_session gets each new session (it may wrap it: DTLS); NULL: service_dispatch. */
int udp_sessions_start(struct listener_inst *li, void (*on_session)(struct listener_inst *li, struct stream *s));
/* Stop reading; live sessions stay with their pipes but can no longer send. */
void udp_sessions_stop(struct listener_inst *li);

#endif
