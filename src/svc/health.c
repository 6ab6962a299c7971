/* Health checks (src/svc/health.h): asynchronous, one timer for the whole check. */
#include "src/svc/health.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "proto/http.h"
#include "src/core/log.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/xprt/tls_stream.h"

#define HC_RESPONSE_MAX 16384

/* ---- health checks ---- */

enum hc_state {
	HC_CONNECT,     /* sock_connect in flight */
	HC_TLS,         /* tls_connect in flight */
	HC_RESPONSE,    /* request sent, reading the response head */
};

struct hc {
	struct worker *w;
	enum hc_state state;
	int inflight;               /* a connect or handshake still holds hc */
	int reported;
	int http, tls, dgram;
	char host[256];
	uint16_t port;
	char *request;              /* owned */
	struct stream *s;           /* owned in HC_RESPONSE */
	char resp[HC_RESPONSE_MAX];
	size_t resp_len;
	ev_timer timer;             /* the whole check */
	double start;
	struct health_result r;
	health_done_cb cb;
	void *ctx;
};

static void hc_free(struct hc *h)
{
	ev_timer_stop(h->w->loop, &h->timer);
	stream_close(h->s);
	free(h->request);
	free(h);
}

/* Report once; hc is freed now, or when the step in flight returns. */
static void hc_report(struct hc *h)
{
	if (!h->reported) {
		h->reported = 1;
		h->r.latency = mono_now() - h->start;
		ev_timer_stop(h->w->loop, &h->timer);
		h->cb(h->ctx, &h->r);
	}
	if (!h->inflight)
		hc_free(h);
}

static void hc_detail(struct hc *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hc_detail(struct hc *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->r.detail, sizeof h->r.detail, fmt, ap);
	va_end(ap);
}

static void hc_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct hc *h = t->data;
	(void)loop;
	(void)revents;
	h->r.healthy = 0;
	if (h->http) {
		hc_detail(h, "timeout");
	} else {
		/* Go's dial error: not a refusal, so the agent answers 502. */
		h->r.failed = 1;
		hc_detail(h, "dial %s %s:%u: i/o timeout", h->dgram ? "udp" : "tcp", h->host, h->port);
	}
	hc_report(h);
}

static const char *status_5xx(int status)
{
	switch (status) {
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}

static void hc_http_read(struct stream *s, const char *data, size_t len)
{
	struct hc *h = s->ud;
	struct http_response resp;

	if (!len) {
		hc_detail(h, "the server closed connection before returning %s", h->resp_len ? "a complete response head"
											     : "the first response byte");
		hc_report(h);
		return;
	}
	if (len > sizeof h->resp - h->resp_len)
		len = sizeof h->resp - h->resp_len;
	memcpy(h->resp + h->resp_len, data, len);
	h->resp_len += len;
	ssize_t n = http_response_parse(h->resp, h->resp_len, sizeof h->resp, &resp);
	if (n == 0)
		return;
	if (n < 0) {
		hc_detail(h, "malformed response: %s", http_error_str((int)n));
	} else if (resp.status >= 500 && resp.status < 600) {
		hc_detail(h, "%s", *status_5xx(resp.status) ? status_5xx(resp.status) : "server error");
	} else {
		h->r.healthy = 1;
	}
	hc_report(h);
}

static void hc_http_event(struct stream *s, enum stream_event ev, int err)
{
	struct hc *h = s->ud;
	if (ev != STREAM_EV_ERROR)
		return;
	hc_detail(h, "%s", strerror(err ? err : EIO));
	hc_report(h);
}

static void hc_http_send(struct hc *h, struct stream *s)
{
	h->state = HC_RESPONSE;
	h->s = s;
	stream_set_callbacks(s, hc_http_read, hc_http_event, h);
	if (stream_write(s, h->request, strlen(h->request)) < 0) {
		hc_detail(h, "cannot send the request");
		hc_report(h);
		return;
	}
	stream_read_start(s);
}

static void hc_tls_done(void *ctx, struct stream *s, int err)
{
	struct hc *h = ctx;
	h->inflight = 0;
	if (h->reported) {
		stream_close(s);
		hc_free(h);
		return;
	}
	if (err) {
		hc_detail(h, "tls handshake with %s:%u: %s", h->host, h->port,
			  err == EPROTO ? "handshake failed" : strerror(err));
		hc_report(h);
		return;
	}
	hc_http_send(h, s);
}

static int refusal(int err) { return err == ECONNREFUSED || err == ECONNRESET || err == ECONNABORTED || err == EPIPE; }

static void hc_connected(void *ctx, struct stream *s, int err)
{
	struct hc *h = ctx;
	h->inflight = 0;
	if (h->reported) {
		stream_close(s);
		hc_free(h);
		return;
	}
	if (err) {
		hc_detail(h, "dial %s %s:%u: %s", h->dgram ? "udp" : "tcp", h->host, h->port, strerror(err));
		h->r.failed = !h->http && !refusal(err);
		hc_report(h);
		return;
	}
	if (!h->http) {
		stream_close(s);
		h->r.healthy = 1;
		hc_report(h);
		return;
	}
	if (!h->tls) {
		hc_http_send(h, s);
		return;
	}
	struct cfg_err e;
	struct tls_cfg none = { 0 };
	struct tls_conf *c = tls_conf_client(&none, NULL, NULL, h->host, "health check", &e);
	if (!c) {
		stream_close(s);
		hc_detail(h, "%s", e.msg);
		hc_report(h);
		return;
	}
	h->state = HC_TLS;
	h->inflight = 1;
	tls_connect(c, s, hc_tls_done, h);
	tls_conf_unref(c);
}

static struct hc *hc_new(struct worker *w, const char *host, uint16_t port, double timeout, health_done_cb cb,
			 void *ctx)
{
	struct hc *h = xcalloc(1, sizeof *h);
	h->w = w;
	snprintf(h->host, sizeof h->host, "%s", host);
	h->port = port;
	h->cb = cb;
	h->ctx = ctx;
	h->start = mono_now();
	ev_timer_init(&h->timer, hc_timeout, timeout > 0 ? timeout : 5, 0);
	h->timer.data = h;
	ev_timer_start(w->loop, &h->timer);
	return h;
}

static void hc_connect(struct hc *h, double timeout)
{
	h->state = HC_CONNECT;
	h->inflight = 1;
	sock_connect(h->w, h->host, h->port, h->dgram, timeout, hc_connected, h);
}

void health_check_dial(struct worker *w, const char *host, uint16_t port, int dgram, double timeout,
		       health_done_cb cb, void *ctx)
{
	struct hc *h = hc_new(w, host, port, timeout, cb, ctx);
	h->dgram = dgram;
	hc_connect(h, timeout);
}

/* The path as Go's url.JoinPath leaves it: rooted, with what cannot stand in a request line escaped. */
static void path_escape(const char *path, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	if (path[0] != '/' && o + 1 < cap)
		out[o++] = '/';
	for (const unsigned char *p = (const unsigned char *)path; *p && o + 4 < cap; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#' || *p == '%') {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = 0;
}

void health_check_http(struct worker *w, const char *host, uint16_t port, int tls, const char *host_header,
		       const char *path, double timeout, health_done_cb cb, void *ctx)
{
	struct hc *h = hc_new(w, host, port, timeout, cb, ctx);
	char p[3200], hh[300];
	size_t k = 0;
	h->http = 1;
	h->tls = tls;
	path_escape(path ? path : "", p, sizeof p);
	/* A Host field must not carry a line break. */
	for (const char *c = host_header; *c && k + 1 < sizeof hh; c++)
		if ((unsigned char)*c > 0x20 && *c != 0x7f)
			hh[k++] = *c;
	hh[k] = 0;
	size_t len = strlen(p) + strlen(hh) + 512;
	h->request = xmalloc(len);
	snprintf(h->request, len,
		 "HEAD %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: portway/%s\r\nAccept: text/plain,text/html,*/*;q=0.8\r\n"
		 "Accept-Encoding: identity\r\nCache-Control: no-cache\r\nPragma: no-cache\r\nConnection: close\r\n\r\n",
		 p, hh, PACKAGE_VERSION);
	hc_connect(h, timeout);
}
