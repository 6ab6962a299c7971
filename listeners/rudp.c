/*
 * listener rudp: remote UDP port forwarding. Like rtcp, the port is opened
 * on the chain's last node (a relay, UDP BIND); the datagrams of each remote
 * peer become one datagram stream (a pseudo-connection) handed to the
 * handler, whose replies go back to that peer through the relay.
 *
 *   portway -L rudp://:5353/127.0.0.1:53 -F relay://server:8420
 *
 * Metadata: maxSessions (peers at once, 4096), dialTimeout. A session ends
 * with the handler's ttl, or when the BIND ends.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "listeners/rtcp.h"
#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/conn_limits.h"
#include "src/svc/udp_sessions.h"

/* One per service on worker 0. */
struct rudp {
	struct listener_inst *li;
	struct rbind *rb;
	struct relay_bind *b;               /* the live BIND, or NULL */
	struct session_table *sessions;     /* keyed by rudp_peer_key */
	long max_sessions;
};

/* The table's key for a peer: the address without the unused tail of host, so that equal
 * addresses are equal bytes. Returns its length. */
static size_t rudp_peer_key(const struct relay_addr *a, struct relay_addr *key)
{
	memset(key, 0, offsetof(struct relay_addr, host));
	key->atyp = a->atyp;
	key->port = a->port;
	size_t hlen = strnlen(a->host, RELAY_HOST_MAX);
	memcpy(key->host, a->host, hlen);
	key->host[hlen] = '\0';
	return offsetof(struct relay_addr, host) + hlen + 1;
}

static int rudp_send(void *ctx, struct stream *session, const void *peer, size_t peerlen, const char *data,
		     size_t len)
{
	struct rudp *u = ctx;
	struct relay_addr a;
	(void)session;
	if (!u->b)
		return -1;
	memcpy(&a, peer, peerlen);
	return relay_bind_send(u->b, &a, data, len);
}

static void rudp_bound(void *ctx, struct relay_bind *b)
{
	struct rudp *u = ctx;
	u->b = b;
}

static void rudp_lost(void *ctx)
{
	struct rudp *u = ctx;
	u->b = NULL;
	session_table_end(u->sessions, ECONNRESET); /* the BIND that carried them is gone */
}

static void rudp_datagram(void *ctx, struct relay_bind *b, const struct relay_addr *peer, const char *data,
			  size_t len)
{
	struct rudp *u = ctx;
	struct relay_addr key;
	size_t keylen = rudp_peer_key(peer, &key);
	(void)b;
	struct stream *s = session_table_find(u->sessions, &key, keylen);
	if (s) {
		session_push(s, data, len);
		return;
	}
	if (session_table_count(u->sessions) >= u->max_sessions) {
		log_warn("rudp %s: %ld sessions, dropping a datagram from a new peer", u->li->svc->name,
			 session_table_count(u->sessions));
		return;
	}
	char printable[64];
	relay_addr_format(peer, printable, sizeof printable);
	if (!conn_limits_admit_peer(u->li->svc, printable))
		return;
	s = session_table_add(u->sessions, &key, keylen, printable);
	if (conn_limits_accept(u->li->svc, s, CONN_CLIMIT) < 0)
		return;
	session_push(s, data, len);
	log_debug("rudp %s: new session from %s", u->li->svc->name, s->peer);
	service_dispatch(u->li->svc, s);
}

static int rudp_init(struct service *svc, struct cfg_err *e)
{
	long max;
	if (rbind_init(svc, e) < 0)
		return -1;
	return md_int(svc->listener.md, "maxSessions", 4096, 1, 1000000, &max, e);
}

static int rudp_start(struct listener_inst *li)
{
	static const struct rbind_hooks hooks = {
		.bound = rudp_bound,
		.datagram = rudp_datagram,
		.lost = rudp_lost,
	};
	if (li->w->id != 0)
		return 0; /* one BIND per service */
	struct rudp *u = xcalloc(1, sizeof *u);
	struct cfg_err e;
	u->li = li;
	if (md_int(li->svc->listener.md, "maxSessions", 4096, 1, 1000000, &u->max_sessions, &e) < 0)
		u->max_sessions = 4096;
	u->sessions = session_table_new(li->w, rudp_send, u);
	li->state = u;
	u->rb = rbind_start(li, 1, &hooks, u);
	return 0;
}

static void rudp_stop(struct listener_inst *li)
{
	struct rudp *u = li->state;
	if (!u)
		return;
	rbind_stop(u->rb);
	u->b = NULL;
	session_table_end(u->sessions, ECONNRESET);
	session_table_free(u->sessions);
	free(u);
	li->state = NULL;
}

const struct listener_type listener_rudp = {
	.name = "rudp",
	.socktype = 0,
	.init = rudp_init,
	.fini = rbind_fini,
	.start = rudp_start,
	.stop = rudp_stop,
};
