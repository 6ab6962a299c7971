/*
 * `portway probe URL`, a one-shot check for
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
#include "src/cli/main.h"
#include "src/svc/health.h"

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
#include "proto/http.h"
#include "proto/json.h"
#include "src/core/log.h"
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/svc/router.h"
#include "proto/stream_header.h"
#include "src/xprt/tls_stream.h"
#include "src/core/util.h"

#define HC_RESPONSE_MAX 16384
#define STREAM_ALPN "godoxy-agent-stream/1"

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
