/*
 * Health checks (probe.h) and `portway probe URL`, a one-shot check for
 * monitors:
 *   stream+tls://, stream+dtls://, stream:// (a GoDoxy agent, or portway's
 *     stream handler): the transport handshake, then the health-check header
 *     as GoDoxy sends it; healthy once the agent closes the session quietly;
 *   tcp://host:port: the connection opens;
 *   http://host:port/path, https://...: a HEAD request answers below 500;
 *   any other chain node URL (relay://, relay+tls://, socks5://...): the node's
 *     transport and handshake; with --target, a connection through it.
 * One line (or --json) on stdout; exit 0 healthy, 1 not, 2 usage error.
 */
#include "probe.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "model.h"
#include "router.h"
#include "stream_header.h"
#include "tls_stream.h"
#include "util.h"

#define HC_RESPONSE_MAX 16384
#define STREAM_ALPN "godoxy-agent-stream/1"

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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

/* ---- portway probe ---- */

enum probe_kind {
	PROBE_TCP,      /* health_check_dial */
	PROBE_HTTP,     /* health_check_http */
	PROBE_STREAM,   /* a GoDoxy agent: the health-check header */
	PROBE_NODE,     /* a chain node: its transport and handshake, or a dial through it */
};

enum probe_state {
	PR_CONNECT,     /* the socket to the node */
	PR_HANDSHAKE,   /* the node's dialer handshake */
	PR_WAIT_CLOSE,  /* health header sent, waiting for the agent to close */
	PR_DIAL,        /* router_dial through the node to --target */
	PR_DONE,
};

struct probe {
	struct worker *w;
	enum probe_kind kind;
	enum probe_state state;
	const char *url;
	struct config *cfg;         /* the node's config (PROBE_STREAM, PROBE_NODE), owned */
	struct node *node;
	char target_host[256];
	uint16_t target_port;
	double timeout;
	struct stream *s;           /* owned in PR_WAIT_CLOSE */
	struct dial *dial;
	ev_timer timer;
	double start;
	int inflight;               /* a connect or handshake still holds the probe */
	struct health_result r;
	int finished;
};

static void probe_finish(struct probe *p)
{
	if (p->finished)
		return;
	p->finished = 1;
	p->r.latency = mono_now() - p->start;
	ev_timer_stop(p->w->loop, &p->timer);
	if (p->dial)
		router_dial_cancel(p->dial);
	p->dial = NULL;
	stream_close(p->s);
	p->s = NULL;
	ev_break(p->w->loop, EVBREAK_ALL);
}

static void probe_fail(struct probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void probe_fail(struct probe *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->r.detail, sizeof p->r.detail, fmt, ap);
	va_end(ap);
	p->r.healthy = 0;
	probe_finish(p);
}

static void probe_ok(struct probe *p)
{
	p->r.healthy = 1;
	probe_finish(p);
}

static void probe_check_done(void *ctx, const struct health_result *r)
{
	struct probe *p = ctx;
	p->r = *r;
	p->finished = 1;
	ev_timer_stop(p->w->loop, &p->timer);
	ev_break(p->w->loop, EVBREAK_ALL);
}

static void probe_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct probe *p = t->data;
	(void)loop;
	(void)revents;
	if (p->state == PR_WAIT_CLOSE)
		probe_fail(p, "the agent did not close the session after the health check within %.1fs", p->timeout);
	else
		probe_fail(p, "timed out after %.1fs", p->timeout);
}

/* The agent answers nothing: the end of the session is the answer. */
static void probe_stream_read(struct stream *s, const char *data, size_t len)
{
	struct probe *p = s->ud;
	(void)data;
	if (len)
		probe_fail(p, "the peer sent %zu bytes after the health check: not a GoDoxy agent", len);
	else
		probe_ok(p);
}

static void probe_stream_event(struct stream *s, enum stream_event ev, int err)
{
	struct probe *p = s->ud;
	if (ev != STREAM_EV_ERROR)
		return;
	/* EPROTO here is a TLS alert after the handshake: with TLS 1.3 a refused client certificate. */
	probe_fail(p, "%s", err == EPROTO ? "the agent refused the session after the handshake" : strerror(err ? err : EIO));
}

static void probe_ready(struct probe *p, struct stream *s)
{
	uint8_t hdr[STREAM_HEADER_SIZE];
	if (p->kind == PROBE_NODE) {
		stream_close(s);
		probe_ok(p);
		return;
	}
	if (!strcasecmp(p->node->dialer.type->name, "tls") && strcmp(s->alpn, STREAM_ALPN)) {
		stream_close(s);
		probe_fail(p, "the server did not select ALPN %s: no stream support", STREAM_ALPN);
		return;
	}
	p->s = s;
	p->state = PR_WAIT_CLOSE;
	stream_header_build_health_check(hdr);
	stream_set_callbacks(s, probe_stream_read, probe_stream_event, p);
	if (stream_write(s, hdr, sizeof hdr) < 0) {
		probe_fail(p, "cannot send the health-check header");
		return;
	}
	stream_read_start(s);
}

static void probe_handshaken(void *ctx, struct stream *s, int err)
{
	struct probe *p = ctx;
	p->inflight = 0;
	if (p->finished) {
		stream_close(s);
		return;
	}
	if (err) {
		probe_fail(p, "%s handshake: %s", p->node->dialer.type->name,
			   err == EPROTO ? "refused or failed" : strerror(err));
		return;
	}
	probe_ready(p, s);
}

static void probe_connected(void *ctx, struct stream *s, int err)
{
	struct probe *p = ctx;
	p->inflight = 0;
	if (p->finished) {
		stream_close(s);
		return;
	}
	if (err) {
		probe_fail(p, "connect %s:%u: %s", p->node->host, p->node->port, strerror(err));
		return;
	}
	if (!p->node->dialer.type->handshake) {
		probe_ready(p, s);
		return;
	}
	p->state = PR_HANDSHAKE;
	p->inflight = 1;
	p->node->dialer.type->handshake(p->node, s, probe_handshaken, p);
}

static void probe_dialed(void *ctx, struct stream *s, int err)
{
	struct probe *p = ctx;
	p->dial = NULL;
	if (err) {
		probe_fail(p, "dial %s:%u through %s: %s", p->target_host, p->target_port, p->node->addr, strerror(err));
		return;
	}
	stream_close(s);
	probe_ok(p);
}

static void probe_node_start(struct probe *p)
{
	if (p->target_port) {
		struct dial_opts d = { .chain = p->cfg->chains[0], .timeout = p->timeout };
		p->state = PR_DIAL;
		p->dial = router_dial(p->w, &d, p->target_host, p->target_port, probe_dialed, p);
		return;
	}
	p->state = PR_CONNECT;
	p->inflight = 1;
	sock_connect(p->w, p->node->host, p->node->port, p->node->dialer.type->socktype == SOCK_DGRAM, p->timeout,
		     probe_connected, p);
}

/*
 * Failure reasons are logged by the layer that saw them (a TLS alert, a
 * certificate that does not verify). The log goes to a memory file while the
 * probe runs; the most telling line becomes the reason: a warning or error,
 * else a TLS or DTLS line, else an info line.
 */
static void log_reason(int fd, char *out, size_t cap)
{
	static char buf[65536];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	int best = 0;
	if (n <= 0)
		return;
	buf[n] = 0;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		char *lvl = sp + 1;
		while (*lvl == ' ')
			lvl++;
		char *msg = strchr(lvl, ' ');
		if (!msg)
			continue;
		while (*msg == ' ')
			msg++;
		int score = !strncmp(lvl, "warn", 4) || !strncmp(lvl, "error", 5) ? 3
			    : strstr(msg, "TLS") || strstr(msg, "dtls")                ? 2
			    : !strncmp(lvl, "info", 4)                                 ? 1
										       : 0;
		if (score && score >= best) {
			best = score;
			snprintf(out, cap, "%s", msg);
		}
	}
}

static void probe_usage(FILE *f)
{
	fprintf(f, "Usage: portway probe [--json] [--timeout DURATION] [--target HOST:PORT] [-v] URL\n"
		   "  URL  stream+tls://host:port?caFile=ca.pem&certFile=client.pem&keyFile=client.key\n"
		   "       stream+dtls://host:port?... (same keys), tcp://host:port,\n"
		   "       http://host:port/path, https://host:port/path, or a chain node (relay+tls://host:port...)\n"
		   "  --json     one JSON object instead of one line\n"
		   "  --timeout  the whole check (default 5s)\n"
		   "  --target   a chain node: dial HOST:PORT through it\n"
		   "  -v         show the log on stderr\n"
		   "Exit status: 0 healthy, 1 unhealthy, 2 usage error.\n");
}

/* The URL without its query (which names files and may carry secrets). */
static void url_display(const char *url, char *out, size_t cap)
{
	const char *q = strchr(url, '?');
	size_t n = q ? (size_t)(q - url) : strlen(url);
	const char *at = memchr(url, '@', n), *sep = strstr(url, "://");
	if (at && sep && sep < at) /* drop user:pass@ */
		snprintf(out, cap, "%.*s%.*s", (int)(sep + 3 - url), url, (int)(n - (size_t)(at + 1 - url)), at + 1);
	else
		snprintf(out, cap, "%.*s", (int)n, url);
}

static void probe_print(const struct probe *p, int json)
{
	char shown[512];
	url_display(p->url, shown, sizeof shown);
	if (json) {
		char buf[2048];
		size_t n = (size_t)snprintf(buf, sizeof buf, "{\"url\":");
		n = json_escape(buf, sizeof buf, n, shown);
		n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"healthy\":%s,\"latency_ms\":%.3f,\"detail\":",
				      p->r.healthy ? "true" : "false", p->r.latency * 1000);
		n = json_escape(buf, sizeof buf, n, p->r.detail);
		printf("%.*s}\n", (int)n, buf);
	} else if (p->r.healthy) {
		printf("OK %s %.1fms%s%s\n", shown, p->r.latency * 1000, *p->r.detail ? " " : "", p->r.detail);
	} else {
		printf("FAIL %s %.1fms: %s\n", shown, p->r.latency * 1000, *p->r.detail ? p->r.detail : "unhealthy");
	}
	fflush(stdout);
}

/* Sets up the check for url; -1 with a message on stderr for a usage error. */
static int probe_setup(struct probe *p, const char *url)
{
	const char *sep = strstr(url, "://");
	char scheme[64] = "";
	if (!sep || (size_t)(sep - url) >= sizeof scheme) {
		fprintf(stderr, "portway probe: \"%s\" is not a URL (scheme://host:port)\n", url);
		return -1;
	}
	memcpy(scheme, url, (size_t)(sep - url));
	scheme[sep - url] = 0;

	if (!strcasecmp(scheme, "tcp")) {
		char host[256];
		uint16_t port;
		const char *hp = sep + 3;
		char tmp[300];
		snprintf(tmp, sizeof tmp, "%.*s", (int)strcspn(hp, "/?"), hp);
		if (hostport_split(tmp, host, sizeof host, &port) < 0 || !port) {
			fprintf(stderr, "portway probe: expected tcp://host:port, got \"%s\"\n", url);
			return -1;
		}
		p->kind = PROBE_TCP;
		health_check_dial(p->w, *host ? host : "127.0.0.1", port, 0, p->timeout, probe_check_done, p);
		return 0;
	}
	if (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https")) {
		struct http_uri u;
		char host[256], hh[300], path[2048];
		if (http_uri_parse(url, strlen(url), &u) < 0 || !u.host.len || u.host.len >= sizeof host) {
			fprintf(stderr, "portway probe: cannot parse \"%s\"\n", url);
			return -1;
		}
		int tls = !strcasecmp(scheme, "https");
		snprintf(host, sizeof host, "%.*s", (int)u.host.len, u.host.p);
		if (u.port_explicit)
			snprintf(hh, sizeof hh, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, u.port);
		else
			snprintf(hh, sizeof hh, strchr(host, ':') ? "[%s]" : "%s", host);
		snprintf(path, sizeof path, "%.*s", (int)u.path.len, u.path.p);
		p->kind = PROBE_HTTP;
		health_check_http(p->w, host, u.port ? u.port : (tls ? 443 : 80), tls, hh, path, p->timeout,
				  probe_check_done, p);
		return 0;
	}

	/* A node, built as -F builds it, so its dialer and connector settings are exactly those of a chain. */
	struct cfg_err e;
	char *F[1] = { (char *)url };
	p->cfg = config_from_urls(NULL, 0, F, 1, &e);
	if (!p->cfg) {
		fprintf(stderr, "portway probe: %s\n", e.msg);
		return -1;
	}
	if (!p->cfg->n_chains || !p->cfg->chains[0]->n_hops || !p->cfg->chains[0]->hops[0]->n_nodes) {
		fprintf(stderr, "portway probe: no node in \"%s\"\n", url);
		return -1;
	}
	p->node = p->cfg->chains[0]->hops[0]->nodes[0];
	p->kind = !strcasecmp(p->node->connector.type->name, "stream") ? PROBE_STREAM : PROBE_NODE;
	if (p->kind == PROBE_STREAM && p->target_port) {
		fprintf(stderr, "portway probe: --target does not apply to a stream endpoint (it sends the health check)\n");
		return -1;
	}
	probe_node_start(p);
	return 0;
}

int probe_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },	  { "timeout", required_argument, NULL, 't' },
		{ "target", required_argument, NULL, 'T' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	  { NULL, 0, NULL, 0 },
	};
	struct probe p = { 0 };
	int json = 0, verbose = 0, c, logfd = -1;
	const char *target = NULL;

	p.timeout = 5;
	optind = 1;
	while ((c = getopt_long(argc, argv, "jt:T:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 't':
			p.timeout = duration_parse(optarg);
			if (p.timeout <= 0) {
				fprintf(stderr, "portway probe: --timeout: expected a duration such as 5s or 500ms, got \"%s\"\n",
					optarg);
				return 2;
			}
			break;
		case 'T':
			target = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			probe_usage(stdout);
			return 0;
		default:
			probe_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		probe_usage(stderr);
		return 2;
	}
	p.url = argv[optind];
	if (target && (hostport_split(target, p.target_host, sizeof p.target_host, &p.target_port) < 0 ||
		       !p.target_port || !*p.target_host)) {
		fprintf(stderr, "portway probe: --target: expected host:port, got \"%s\"\n", target);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (verbose) {
		log_set_level("debug");
	} else {
		char path[64];
		logfd = memfd_create("portway-probe-log", MFD_CLOEXEC);
		snprintf(path, sizeof path, "/dev/fd/%d", logfd);
		if (logfd < 0 || log_set_output(path) < 0) {
			log_set_level("error");
		} else {
			log_set_level("debug");
		}
	}
	workers_init(1);
	p.w = workers[0];
	p.start = mono_now();
	ev_timer_init(&p.timer, probe_timeout, p.timeout, 0);
	p.timer.data = &p;
	if (probe_setup(&p, p.url) < 0) {
		if (p.cfg)
			config_unref(p.cfg);
		return 2;
	}
	/* A health check keeps its own deadline; the probe's covers the node steps. */
	if (p.kind == PROBE_STREAM || p.kind == PROBE_NODE)
		ev_timer_start(p.w->loop, &p.timer);
	if (!p.finished)
		ev_run(p.w->loop, 0);
	if (!p.r.healthy && !*p.r.detail)
		snprintf(p.r.detail, sizeof p.r.detail, "unhealthy");
	if (!p.r.healthy && logfd >= 0 && p.kind != PROBE_HTTP && p.kind != PROBE_TCP) {
		char why[256] = "";
		log_reason(logfd, why, sizeof why);
		if (*why) {
			size_t l = strlen(p.r.detail);
			snprintf(p.r.detail + l, sizeof p.r.detail - l, " (%s)", why);
		}
	}
	if (verbose && !p.r.healthy)
		fprintf(stderr, "probe: %s\n", p.r.detail);
	probe_print(&p, json);
	/* Streams and the config may still be referenced by deferred frees: the process ends here. */
	fflush(NULL);
	_exit(p.r.healthy ? 0 : 1);
}
