/*
 * listener agent: the Onifast agent (doc/gateway.md). It keeps idle worker
 * WebSockets dialed to the gateway's /relay and /tunnel, and each one the
 * gateway starts using becomes a connection for the agent handler: relay
 * workers go to the local web server (the service addr), tunnel workers to
 * the port named by their "CONNECT <port>" line. A taken worker is replaced
 * at once; a failed dial backs off exponentially with jitter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/core/backoff.h"
#include "src/core/log.h"
#include "proto/onifast.h"
#include "src/core/pipe.h"
#include "src/svc/router.h"
#include "src/svc/service.h"
#include "src/xprt/tls_stream.h"
#include "src/core/util.h"
#include "src/xprt/ws_stream.h"

#define AGENT_BACKOFF_MIN 0.5
#define AGENT_BACKOFF_MAX 30.0

enum agent_kind { AGENT_RELAY, AGENT_TUNNEL };

struct agent_opts {
	char host[256];             /* the gateway */
	uint16_t port;
	int secure;                 /* wss */
	char subdomain[64], secret[256];
	long workers[2];            /* idle workers kept per kind */
	struct ws_opts ws[2];       /* path /relay?... and /tunnel?... */
	struct tls_conf *tls;
	double dial_timeout;
	char tunnel_host[256];      /* where CONNECT <port> goes (127.0.0.1) */
	char **allow_ports;         /* "22", "3306", "8000-8100"; NULL: every port */
	size_t n_allow;
};

struct agent;

struct agent_worker {
	struct agent *a;
	enum agent_kind kind;
	struct stream *ws;          /* owned while idle */
	struct agent_worker *prev, *next;
};

/* On worker 0; freed when stopped and no dial is in flight. The listener instance is freed when it
 * stops (before the agent's dials end), so what outlives it is kept here: the worker, and a reference
 * on the service, which keeps o (the listener's state) valid for the dials still running. */
struct agent {
	struct worker *w;
	struct service *svc;        /* a reference, released with the agent */
	struct agent_opts *o;
	int live[2];                /* dialing or idle, per kind */
	struct backoff retry[2];    /* per kind: paces dials that failed */
	struct agent_worker *idle;  /* idle workers, owned */
	int pending;                /* dials in flight */
	int stopped;
};

static const char *kind_name(enum agent_kind k) { return k == AGENT_RELAY ? "relay" : "tunnel"; }

static int agent_init(struct service *svc, struct cfg_err *e)
{
	struct agent_opts *o = xcalloc(1, sizeof *o);
	const struct cnode *md = svc->listener.md;
	const char *gw = md_str(md, "gateway", NULL), *sub = md_str(md, "subdomain", ""), *sec = md_str(md, "secret", "");
	char path[512], url_hostport[300];
	svc->listener.state = o;
	if (!gw || (strncasecmp(gw, "ws://", 5) && strncasecmp(gw, "wss://", 6)))
		return cfg_error(e, cnode_get(md, "gateway") ? cnode_get(md, "gateway") : svc->cfg, "gateway",
				 "expected ws://HOST:PORT or wss://HOST:PORT of the gateway");
	o->secure = !strncasecmp(gw, "wss://", 6);
	snprintf(url_hostport, sizeof url_hostport, "%.*s", (int)strcspn(gw + (o->secure ? 6 : 5), "/"),
		 gw + (o->secure ? 6 : 5));
	if (hostport_split(url_hostport, o->host, sizeof o->host, &o->port) < 0)
		return cfg_error(e, cnode_get(md, "gateway"), "gateway", "expected HOST:PORT in \"%s\"", gw);
	if (!*sub || strlen(sub) >= sizeof o->subdomain || !*sec || strlen(sec) >= sizeof o->secret)
		return cfg_error(e, svc->cfg, "subdomain", "the agent needs subdomain and secret (portway tunnel add NAME)");
	snprintf(o->subdomain, sizeof o->subdomain, "%s", sub);
	snprintf(o->secret, sizeof o->secret, "%s", sec);
	if (md_int(md, "relayWorkers", 4, 0, 1000, &o->workers[AGENT_RELAY], e) < 0 ||
	    md_int(md, "tunnelWorkers", 4, 0, 1000, &o->workers[AGENT_TUNNEL], e) < 0 ||
	    md_duration(md, "dialTimeout", 10, &o->dial_timeout, e) < 0)
		return -1;
	snprintf(o->tunnel_host, sizeof o->tunnel_host, "%s", md_str(md, "tunnelHost", "127.0.0.1"));
	const char *allow = md_str(md, "allowPorts", NULL);
	if (allow && *allow) {
		char *copy = xstrdup(allow), *save = NULL;
		for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
			long lo, hi;
			char extra;
			int n = sscanf(t, "%ld-%ld%c", &lo, &hi, &extra);
			if (n == 1)
				hi = lo;
			if ((n != 1 && n != 2) || lo < 1 || hi > 65535 || lo > hi) {
				/* t points into copy: the message first, then the free */
				cfg_error(e, cnode_get(md, "allowPorts"), "allowPorts",
					  "expected ports and ranges such as 22,3306,8000-8100, got \"%s\"", t);
				free(copy);
				return -1;
			}
			o->allow_ports = xrealloc(o->allow_ports, (o->n_allow + 1) * sizeof *o->allow_ports);
			o->allow_ports[o->n_allow++] = xstrdup(t);
		}
		free(copy);
	}
	for (int k = 0; k < 2; k++) {
		if (ws_opts_parse(&o->ws[k], md, 1, e) < 0)
			return -1;
		free(o->ws[k].path);
		snprintf(path, sizeof path, "/%s?subdomain=%s&secret=%s", k == AGENT_RELAY ? "relay" : "tunnel",
			 o->subdomain, o->secret);
		o->ws[k].path = xstrdup(path);
	}
	if (o->secure) {
		struct tls_cfg tls = svc->listener.tls;
		if (!tls.set) {
			/* The agent talks to its own gateway: verify it unless told otherwise. */
			tls.secure = 1;
		}
		int insecure = 0;
		if (md_bool(md, "insecure", 0, &insecure, e) < 0)
			return -1;
		if (insecure)
			tls.secure = 0;
		if (!(o->tls = tls_conf_client(&tls, md, cnode_get(md, "gateway"), o->host, "agent", e)))
			return -1;
	} else if (svc->listener.tls.set) {
		/* ws:// is plain: TLS settings (a CA to trust, a client certificate) would not be applied */
		const struct cnode *l = cnode_get(svc->cfg, "listener");
		const struct cnode *t = l ? cnode_get(l, "tls") : NULL;
		return cfg_error(e, t ? t : svc->cfg, "listener.tls",
				 "the gateway is ws://, without TLS, so this would not be applied (use wss://)");
	}
	return 0;
}

static void agent_fini(struct service *svc)
{
	struct agent_opts *o = svc->listener.state;
	if (!o)
		return;
	ws_opts_free(&o->ws[0]);
	ws_opts_free(&o->ws[1]);
	for (size_t i = 0; i < o->n_allow; i++)
		free(o->allow_ports[i]);
	free(o->allow_ports);
	tls_conf_unref(o->tls);
	free(o);
}

static void agent_fill(struct agent *a, enum agent_kind k);

static void agent_maybe_free(struct agent *a)
{
	if (!a->stopped || a->pending)
		return;
	struct service *svc = a->svc;
	free(a);
	service_unref(svc);
}

static void idle_unlink(struct agent_worker *aw)
{
	struct agent *a = aw->a;
	if (aw->prev)
		aw->prev->next = aw->next;
	else
		a->idle = aw->next;
	if (aw->next)
		aw->next->prev = aw->prev;
	a->live[aw->kind]--;
}

static void agent_retry_later(struct agent *a, enum agent_kind k)
{
	if (a->stopped || backoff_pending(&a->retry[k]))
		return;
	/* Jittered, so a fleet of agents does not return in lockstep. */
	backoff_retry_later(&a->retry[k], a->w->loop);
}

static int port_allowed(const struct agent_opts *o, long port)
{
	if (!o->n_allow)
		return 1;
	for (size_t i = 0; i < o->n_allow; i++) {
		long lo, hi;
		if (sscanf(o->allow_ports[i], "%ld-%ld", &lo, &hi) == 1)
			hi = lo;
		if (port >= lo && port <= hi)
			return 1;
	}
	return 0;
}

/*
 * A tunnel worker in use: read "CONNECT <port>\n", then join it to that local port. One owner at a
 * time: the worker's callbacks while the line is read (tunnel_line_read, tunnel_event), then the
 * dial (tunnel_dialed), during which the worker's failure only closes it (tunnel_wait_event).
 * It outlives the agent (a stop does not wait for tunnels), so it holds its own service reference.
 */
struct agent_tunnel {
	const struct agent_opts *o;
	struct service *svc;        /* a reference */
	struct stream *ws;          /* owned until the pipe takes it; NULL once it failed during the dial */
	char line[ONIFAST_LINE_MAX];
	size_t len;
};

static void tunnel_free(struct agent_tunnel *t)
{
	struct service *svc = t->svc;
	free(t);
	service_unref(svc);
}

static void tunnel_dialed(void *ctx, struct stream *local, int err)
{
	struct agent_tunnel *t = ctx;
	if (err) {
		log_info("agent: tunnel to %s: %s", t->line, strerror(err));
		stream_close(t->ws); /* the gateway sees the worker close */
	} else if (!t->ws) {
		log_debug("agent: tunnel to %s: the worker closed during the dial", t->line);
		stream_close(local);
	} else {
		pipe_start(t->ws, local, 0, NULL, NULL);
	}
	tunnel_free(t);
}

/* The worker failed while its dial runs: the dial still owns t and learns it in tunnel_dialed. */
static void tunnel_wait_event(struct stream *s, enum stream_event ev, int err)
{
	struct agent_tunnel *t = s->ud;
	(void)err;
	if (ev != STREAM_EV_ERROR)
		return;
	stream_close(s);
	t->ws = NULL;
}

static void tunnel_line_read(struct stream *s, const char *data, size_t len)
{
	struct agent_tunnel *t = s->ud;
	int port = 0;
	size_t take = len < sizeof t->line - t->len ? len : sizeof t->line - t->len;
	if (!len) {
		log_info("agent: a tunnel worker closed before its CONNECT line");
		stream_close(s);
		tunnel_free(t);
		return;
	}
	memcpy(t->line + t->len, data, take);
	t->len += take;
	int n = onifast_connect_line_parse(t->line, t->len, &port);
	if (n == 0 && t->len < sizeof t->line)
		return;
	if (n <= 0 || !port_allowed(t->o, port)) {
		log_warn(n <= 0 ? "agent: a tunnel worker without a valid CONNECT line; closed"
				: "agent: refusing a tunnel to port %d (allowPorts)", port);
		stream_close(s);
		tunnel_free(t);
		return;
	}
	/* What followed the line (the client's first bytes) goes to the local port. */
	size_t before = t->len - take, used = (size_t)n - before;
	stream_read_stop(s);
	if (len > used)
		stream_unread(s, data + used, len - used);
	snprintf(t->line, sizeof t->line, "port %d", port);
	stream_set_callbacks(s, NULL, tunnel_wait_event, t); /* the dial owns t from here */
	struct dial_opts d = { .timeout = t->o->dial_timeout, .svc = t->svc };
	router_dial(s->w, &d, t->o->tunnel_host, (uint16_t)port, tunnel_dialed, t);
}

static void tunnel_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR) {
		tunnel_free(s->ud);
		stream_close(s);
	}
}

/* The gateway sent the first bytes: this worker now carries a public connection. */
static void worker_first_read(struct stream *s, const char *data, size_t len)
{
	struct agent_worker *aw = s->ud;
	struct agent *a = aw->a;
	enum agent_kind k = aw->kind;
	idle_unlink(aw);
	free(aw);
	if (!len) {
		log_debug("agent: an idle %s worker was closed by the gateway", kind_name(k));
		stream_close(s);
		agent_retry_later(a, k);
		return;
	}
	if (k == AGENT_RELAY) {
		/* web relay: the handler joins it to the local web server */
		stream_read_stop(s);
		stream_unread(s, data, len);
		service_dispatch(a->svc, s);
	} else {
		struct agent_tunnel *t = xcalloc(1, sizeof *t);
		t->o = a->o;
		t->svc = a->svc;
		service_ref(t->svc);
		t->ws = s;
		stream_set_callbacks(s, tunnel_line_read, tunnel_event, t);
		tunnel_line_read(s, data, len);
	}
	agent_fill(a, k);
}

static void worker_event(struct stream *s, enum stream_event ev, int err)
{
	struct agent_worker *aw = s->ud;
	struct agent *a = aw->a;
	enum agent_kind k = aw->kind;
	if (ev != STREAM_EV_ERROR)
		return;
	log_debug("agent: idle %s worker lost: %s", kind_name(k), strerror(err));
	idle_unlink(aw);
	free(aw);
	stream_close(s);
	agent_retry_later(a, k);
}

struct agent_dial {
	struct agent *a;
	enum agent_kind k;
};

/* A worker dial that ends without a worker: a step failed (err), or the listener stopped meanwhile. */
static void dial_end(struct agent_dial *d, struct stream *s, int err)
{
	struct agent *a = d->a;
	stream_close(s);
	a->pending--;
	a->live[d->k]--;
	if (err) {
		if (!a->stopped)
			log_warn("agent: %s worker to %s:%u: %s", kind_name(d->k), a->o->host, a->o->port, strerror(err));
		agent_retry_later(a, d->k);
	}
	free(d);
	agent_maybe_free(a);
}

static void ws_ready(void *ctx, struct stream *ws, int err)
{
	struct agent_dial *d = ctx;
	struct agent *a = d->a;
	if (err || a->stopped) {
		dial_end(d, ws, err);
		return;
	}
	a->pending--;
	backoff_reset(&a->retry[d->k]);
	struct agent_worker *aw = xcalloc(1, sizeof *aw);
	aw->a = a;
	aw->kind = d->k;
	aw->ws = ws;
	aw->next = a->idle;
	if (a->idle)
		a->idle->prev = aw;
	a->idle = aw;
	free(d);
	stream_set_callbacks(ws, worker_first_read, worker_event, aw);
	stream_read_start(ws);
}

static void transport_ready(void *ctx, struct stream *s, int err)
{
	struct agent_dial *d = ctx;
	struct agent *a = d->a;
	if (err || a->stopped) {
		dial_end(d, s, err);
		return;
	}
	ws_client_connect(&a->o->ws[d->k], s, a->o->host, "agent", ws_ready, d);
}

static void tcp_ready(void *ctx, struct stream *s, int err)
{
	struct agent_dial *d = ctx;
	if (!err && d->a->o->secure && !d->a->stopped) {
		tls_connect(d->a->o->tls, s, transport_ready, d);
		return;
	}
	transport_ready(ctx, s, err);
}

static void agent_dial_one(struct agent *a, enum agent_kind k)
{
	struct agent_dial *d = xcalloc(1, sizeof *d);
	struct dial_opts opts = { .chain = a->svc->listener.chain, .timeout = a->o->dial_timeout, .svc = a->svc };
	d->a = a;
	d->k = k;
	a->live[k]++;
	a->pending++;
	router_dial(a->w, &opts, a->o->host, a->o->port, tcp_ready, d);
}

/*
 * Top the pool up. A worker the gateway used is replaced at once even while a
 * back-off timer runs: the gateway evidently works, and a public client may be
 * waiting for a worker. The back-off only paces dials that failed.
 */
static void agent_fill(struct agent *a, enum agent_kind k)
{
	if (a->stopped)
		return;
	while (a->live[k] < a->o->workers[k])
		agent_dial_one(a, k);
}

static void retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct agent *a = t->data;
	(void)loop;
	(void)revents;
	agent_fill(a, t == &a->retry[AGENT_RELAY].timer ? AGENT_RELAY : AGENT_TUNNEL);
}

static int agent_start(struct listener_inst *li)
{
	if (li->w->id != 0)
		return 0;
	struct agent *a = xcalloc(1, sizeof *a);
	a->w = li->w;
	a->svc = li->svc;
	service_ref(a->svc);
	a->o = li->svc->listener.state;
	li->state = a;
	for (int k = 0; k < 2; k++)
		backoff_init(&a->retry[k], AGENT_BACKOFF_MIN, AGENT_BACKOFF_MAX, 1, retry_cb, a);
	log_info("agent %s: keeping %ld relay and %ld tunnel workers at %s://%s:%u as %s", li->svc->name,
		 a->o->workers[0], a->o->workers[1], a->o->secure ? "wss" : "ws", a->o->host, a->o->port,
		 a->o->subdomain);
	agent_fill(a, AGENT_RELAY);
	agent_fill(a, AGENT_TUNNEL);
	return 0;
}

static void agent_stop(struct listener_inst *li)
{
	struct agent *a = li->state;
	if (!a)
		return;
	a->stopped = 1;
	li->state = NULL;
	for (int k = 0; k < 2; k++)
		backoff_cancel(&a->retry[k], a->w->loop);
	while (a->idle) {
		struct agent_worker *aw = a->idle;
		idle_unlink(aw);
		stream_close(aw->ws);
		free(aw);
	}
	agent_maybe_free(a);
}

const struct listener_type listener_agent = {
	.name = "agent",
	.socktype = 0,
	.init = agent_init,
	.fini = agent_fini,
	.start = agent_start,
	.stop = agent_stop,
	/* for a wss:// gateway: its client side (caFile, certFile, secure) */
	.uses_tls = 1,
};
