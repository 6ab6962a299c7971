/*
 * A service's admissions, climiter and rlimiter applied to its clients
 * (the lists and counters are in src/conf/access.h).
 *
 * As GOST's listeners do, a client is checked right after accept, before
 * any byte of a handshake (TLS, WebSocket, a DTLS session), and a refused
 * one is closed at once. UDP listeners check each new client address and
 * drop its datagrams. The rlimiter counts requests where GOST's handlers
 * do, when the service hands a stream to its handler.
 */
#ifndef PORTWAY_SVC_CONN_LIMITS_H
#define PORTWAY_SVC_CONN_LIMITS_H
#include "src/conf/model.h"
#include "src/core/stream.h"

enum conn_check { CONN_ADMIT = 1, CONN_CLIMIT = 2, CONN_ALL = 3 };

/* A new client s of svc: 0 to go on, -1 when refused (s is closed then). s takes a reference
 * on svc when it holds none. */
int conn_limits_accept(struct service *svc, struct stream *s, enum conn_check what);
/* Only the admissions, for a peer address not yet a stream ("1.2.3.4:5"): 1 admitted. */
int conn_limits_admit_peer(const struct service *svc, const char *peer);
/* One request of the service's handler: 0 to go on, -1 when the rlimiter refuses (s is closed). */
int conn_limits_request(struct service *svc, struct stream *s);
/* The stream hook that gives back a climiter's slot when the connection closes. */
void conn_limits_release(void *hold);

#endif
