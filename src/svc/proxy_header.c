#include "src/svc/proxy_header.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "proto/proxy_protocol.h"
#include "src/core/log.h"
#include "src/core/util.h"
#include "src/core/worker.h"

/* One connection sending its header; owned by the listener instance's list until it ends. */
struct proxy_wait {
	struct listener_inst *li;
	struct stream *s;
	ev_timer timer;
	struct proxy_wait *prev, *next;     /* li->proxy_waits */
	size_t len;
	uint8_t buf[PP_HEADER_MAX];
};

static void wait_free(struct proxy_wait *pw)
{
	ev_timer_stop(pw->li->w->loop, &pw->timer);
	if (pw->prev)
		pw->prev->next = pw->next;
	else
		pw->li->proxy_waits = pw->next;
	if (pw->next)
		pw->next->prev = pw->prev;
	free(pw);
}

static void wait_fail(struct proxy_wait *pw, const char *why)
{
	log_info("service %s: connection from %s: %s; closed", pw->li->svc->name, pw->s->peer, why);
	stream_close(pw->s);
	wait_free(pw);
}

static void addr_format(const struct pp_addr *a, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (a->family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a->ip, 4);
		in->sin_port = htons(a->port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a->ip, 16);
		in6->sin6_port = htons(a->port);
	}
	sockaddr_format((struct sockaddr *)&ss, out, cap);
}

/* The header (or its absence) is known: what followed it goes back, the listener goes on. */
static void wait_done(struct proxy_wait *pw, size_t used, const struct pp_header *h)
{
	struct listener_inst *li = pw->li;
	struct stream *s = pw->s;
	stream_read_stop(s);
	stream_unread(s, pw->buf + used, pw->len - used);
	if (h && h->has_addrs) {
		char was[sizeof s->peer];
		memcpy(was, s->peer, sizeof was);
		addr_format(&h->src, s->peer, sizeof s->peer);
		addr_format(&h->dst, s->local, sizeof s->local);
		log_debug("service %s: connection from %s: PROXY v%d header names %s", li->svc->name, was, h->version,
			  s->peer);
	}
	stream_set_callbacks(s, NULL, NULL, NULL);
	wait_free(pw);
	service_accept_ready(li, s);
}

static void wait_read(struct stream *s, const char *data, size_t len)
{
	struct proxy_wait *pw = s->ud;
	if (!len) {
		wait_fail(pw, "closed before its PROXY header ended");
		return;
	}
	/* What comes after the header stays in the stream for the next step, however much it is. */
	while (len) {
		size_t take = sizeof pw->buf - pw->len < len ? sizeof pw->buf - pw->len : len;
		memcpy(pw->buf + pw->len, data, take);
		pw->len += take;
		data += take;
		len -= take;
		struct pp_header h;
		long n = pp_parse(pw->buf, pw->len, &h);
		if (n == PP_NEED_MORE && pw->len < sizeof pw->buf)
			continue;
		if (n > 0 || n == PP_NOT_PROXY) {
			if (len)
				stream_unread(s, data, len);
			wait_done(pw, n > 0 ? (size_t)n : 0, n > 0 ? &h : NULL);
			return;
		}
		wait_fail(pw, "malformed PROXY header");
		return;
	}
}

static void wait_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR)
		wait_fail(s->ud, "error before its PROXY header ended");
}

/* As GOST (go-proxyproto takes a timeout for "no header"): a client that sent nothing, or only
 * bytes that might begin a signature, goes on as it is (one waiting for the server to speak
 * first); a header begun and not finished in time is closed. */
static void wait_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct proxy_wait *pw = t->data;
	(void)loop;
	(void)revents;
	if (pp_signature_seen(pw->buf, pw->len))
		wait_fail(pw, "no complete PROXY header in time");
	else
		wait_done(pw, 0, NULL);
}

void proxy_header_accept(struct listener_inst *li, struct stream *s)
{
	struct proxy_wait *pw = xmalloc(sizeof *pw);
	pw->li = li;
	pw->s = s;
	pw->len = 0;
	pw->prev = NULL;
	pw->next = li->proxy_waits;
	if (pw->next)
		pw->next->prev = pw;
	li->proxy_waits = pw;
	ev_timer_init(&pw->timer, wait_timeout, PROXY_HEADER_TIMEOUT, 0);
	pw->timer.data = pw;
	ev_timer_start(li->w->loop, &pw->timer);
	stream_set_callbacks(s, wait_read, wait_event, pw);
	stream_read_start(s);
}

void proxy_header_cancel_all(struct listener_inst *li)
{
	while (li->proxy_waits)
		wait_fail(li->proxy_waits, "the service stopped before its PROXY header ended");
}

static void addr_parse(const char *text, struct pp_addr *a)
{
	char host[64];
	memset(a, 0, sizeof *a);
	if (hostport_split(text, host, sizeof host, &a->port) < 0)
		return;
	if (inet_pton(AF_INET, host, a->ip) == 1)
		a->family = 4;
	else if (inet_pton(AF_INET6, host, a->ip) == 1)
		a->family = 6;
}

long proxy_header_for(struct stream *client, int version, uint8_t *out, size_t cap)
{
	struct pp_addr src, dst;
	char local[64] = "";
	addr_parse(client->peer, &src);
	if (client->local[0]) {
		snprintf(local, sizeof local, "%s", client->local);
	} else {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = stream_fd(client);
		if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			sockaddr_format((struct sockaddr *)&ss, local, sizeof local);
	}
	addr_parse(local, &dst);
	return pp_encode(out, cap, version, &src, &dst);
}
