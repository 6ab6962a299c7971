#include "src/svc/conn_limits.h"

#include <time.h>

#include "src/conf/access.h"
#include "src/core/log.h"

/* The client's IP, NULL when its peer is no IP address (a unix socket). */
static const struct ip_addr *peer_ip(const char *peer, struct ip_addr *buf)
{
	return ip_addr_from_peer(peer, buf) == 0 ? buf : NULL;
}

int conn_limits_admit_peer(const struct service *svc, const char *peer)
{
	struct ip_addr ip;
	if (!svc->n_admissions)
		return 1;
	if (access_admit(svc, peer_ip(peer, &ip)))
		return 1;
	log_debug("service %s: admission: %s is denied", svc->name, peer);
	return 0;
}

int conn_limits_accept(struct service *svc, struct stream *s, enum conn_check what)
{
	struct ip_addr ip;
	const struct ip_addr *a;
	struct climit_hold *hold = NULL;
	if (!s->svc) {
		service_ref(svc);
		s->svc = svc;
	}
	if (!svc->n_admissions && !svc->climiter)
		return 0;
	a = peer_ip(s->peer, &ip);
	if ((what & CONN_ADMIT) && svc->n_admissions && !access_admit(svc, a)) {
		log_debug("service %s: admission: %s is denied", svc->name, s->peer);
		stream_close(s);
		return -1;
	}
	if ((what & CONN_CLIMIT) && svc->climiter) {
		if (!climit_acquire(svc, a, &hold)) {
			log_debug("service %s: climiter %s: connection limit reached, %s refused", svc->name,
				  svc->climiter->name, s->peer);
			stream_close(s);
			return -1;
		}
		s->svc_hold = hold;
	}
	return 0;
}

void conn_limits_release(void *hold) { climit_release(hold); }

int conn_limits_request(struct service *svc, struct stream *s)
{
	struct ip_addr ip;
	struct timespec ts;
	if (!svc->rlimiter)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (rlimit_allow(svc, peer_ip(s->peer, &ip), now))
		return 0;
	log_debug("service %s: rlimiter %s: rate limit reached, %s refused", svc->name, svc->rlimiter->name, s->peer);
	stream_close(s);
	return -1;
}
