/*
 * The Prometheus endpoint (GOST's `metrics:` section and -metrics flag): a small
 * HTTP/1.1 server on the main thread's control loop, never on a worker. Each
 * scrape sums the per-worker counters of src/svc/metrics.c with relaxed loads;
 * the gateways' pools live on worker 0, so their part is read there (one message
 * out, one back) before the answer goes out. One request per connection.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "proto/http.h"
#include "src/cli/main.h"
#include "src/conf/model.h"
#include "src/core/acceptor.h"
#include "src/core/buf.h"
#include "src/core/log.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/core/worker.h"
#include "src/gateway/gateway.h"
#include "src/svc/metrics.h"
#include "src/svc/service.h"

#define MHTTP_HEAD_MAX 8192
#define MHTTP_TIMEOUT 10.0

struct mconn {
	struct stream *s;           /* NULL once closed */
	struct buf in;
	ev_timer timer;
	int busy;                   /* a scrape waits for worker 0 */
	struct mconn *prev, *next;
};

struct user_copy {
	char *user, *pass;
};

static struct {
	struct worker *w;           /* the control loop's */
	int fd;
	struct acceptor acc;
	char host[256];
	uint16_t port;
	char *path;
	struct user_copy *users;    /* metrics.auth and metrics.auther's users: any may scrape */
	size_t n_users;
	struct mconn *conns;
	char hostname[256];
} srv = { .fd = -1 };

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		buf_append(b, tmp, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_append(b, big, (size_t)n);
	free(big);
}

/* A label value: backslash, double quote and newline escaped (text format 0.0.4). */
static const char *esc(const char *v, char *out, size_t cap)
{
	size_t o = 0;
	for (; v && *v && o + 3 < cap; v++) {
		if (*v == '\\' || *v == '"') {
			out[o++] = '\\';
			out[o++] = *v;
		} else if (*v == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *v;
		}
	}
	out[o] = 0;
	return out;
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- what a scrape shows ---- */

struct scrape {
	struct mconn *c;
	int head_only;
	size_t n_gw;
	struct service **gw;        /* referenced until the answer */
	struct gw_metrics *gwm;
};

static void render_services(struct buf *b, struct service *const *run, size_t n)
{
	char h[512], sv[512];
	size_t up = 0;
	struct svc_totals *t = xcalloc(n + 1, sizeof *t);
	esc(srv.hostname, h, sizeof h);
	for (size_t i = 0; i < n; i++) {
		up += run[i]->running;
		if (run[i]->metrics)
			svc_metrics_sum(run[i]->metrics, &t[i]);
	}
	family(b, "gost_services", "gauge", "Current number of services");
	bprintf(b, "gost_services{host=\"%s\"} %zu\n", h, up);
	family(b, "gost_service_status", "gauge", "Number of services in each state");
	bprintf(b, "gost_service_status{host=\"%s\",state=\"ready\"} %zu\n", h, up);

	static const struct {
		const char *name, *type, *help;
		size_t off;
	} simple[] = {
		{ "gost_service_requests_total", "counter", "Total number of requests", offsetof(struct svc_totals, requests) },
		{ "gost_service_requests_in_flight", "gauge", "Current in-flight requests", (size_t)-1 },
		{ "gost_service_transfer_input_bytes_total", "counter", "Total service input data transfer size in bytes",
		  offsetof(struct svc_totals, input) },
		{ "gost_service_transfer_output_bytes_total", "counter", "Total service output data transfer size in bytes",
		  offsetof(struct svc_totals, output) },
		{ "gost_service_handler_errors_total", "counter", "Total service handler errors",
		  offsetof(struct svc_totals, errors) },
	};
	for (size_t f = 0; f < sizeof simple / sizeof *simple; f++) {
		family(b, simple[f].name, simple[f].type, simple[f].help);
		for (size_t i = 0; i < n; i++) {
			uint64_t v = simple[f].off != (size_t)-1 ? *(const uint64_t *)((const char *)&t[i] + simple[f].off)
								 : t[i].requests - t[i].ended;
			bprintf(b, "%s{host=\"%s\",service=\"%s\"} %llu\n", simple[f].name, h,
				esc(run[i]->name, sv, sizeof sv), (unsigned long long)v);
		}
	}
	const char *hn = "gost_service_request_duration_seconds";
	family(b, hn, "histogram", "Distribution of request latencies");
	for (size_t i = 0; i < n; i++) {
		uint64_t cum = 0;
		esc(run[i]->name, sv, sizeof sv);
		for (int k = 0; k < SVC_DURATION_BUCKETS; k++) {
			cum += t[i].duration[k];
			bprintf(b, "%s_bucket{host=\"%s\",service=\"%s\",le=\"%g\"} %llu\n", hn, h, sv, svc_duration_bounds[k],
				(unsigned long long)cum);
		}
		bprintf(b, "%s_bucket{host=\"%s\",service=\"%s\",le=\"+Inf\"} %llu\n", hn, h, sv,
			(unsigned long long)t[i].ended);
		bprintf(b, "%s_sum{host=\"%s\",service=\"%s\"} %.6f\n", hn, h, sv, (double)t[i].duration_us / 1e6);
		bprintf(b, "%s_count{host=\"%s\",service=\"%s\"} %llu\n", hn, h, sv, (unsigned long long)t[i].ended);
	}
	free(t);
}

static void add_chain(const struct chain *c, const struct node_metrics ***list, size_t *n, size_t *cap)
{
	size_t nodes = 0;
	if (!c || !c->metrics)
		return;
	for (size_t h = 0; h < c->n_hops; h++)
		nodes += c->hops[h]->n_nodes;
	for (size_t k = 0; k < nodes; k++) {
		int seen = 0;
		for (size_t j = 0; j < *n && !seen; j++)
			seen = (*list)[j] == c->metrics[k];
		if (seen)
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*list = xrealloc(*list, *cap * sizeof **list);
		}
		(*list)[(*n)++] = c->metrics[k];
	}
}

static void render_chains(struct buf *b, struct service *const *run, size_t n)
{
	const struct node_metrics **list = NULL;
	size_t nl = 0, cap = 0;
	char h[512], cn[512], nn[512];
	esc(srv.hostname, h, sizeof h);
	for (size_t i = 0; i < n; i++) {
		add_chain(run[i]->handler.chain, &list, &nl, &cap);
		add_chain(run[i]->listener.chain, &list, &nl, &cap);
	}
	struct node_totals *t = xcalloc(nl + 1, sizeof *t);
	for (size_t i = 0; i < nl; i++)
		node_metrics_sum(list[i], &t[i]);
	family(b, "gost_chain_errors_total", "counter", "Total chain errors");
	for (size_t i = 0; i < nl; i++)
		bprintf(b, "gost_chain_errors_total{host=\"%s\",chain=\"%s\",node=\"%s\"} %llu\n", h,
			esc(list[i]->chain, cn, sizeof cn), esc(list[i]->node, nn, sizeof nn),
			(unsigned long long)t[i].errors);
	const char *hn = "gost_chain_node_connect_duration_seconds";
	family(b, hn, "histogram", "Distribution of chain node connect latencies");
	for (size_t i = 0; i < nl; i++) {
		uint64_t cum = 0;
		esc(list[i]->chain, cn, sizeof cn);
		esc(list[i]->node, nn, sizeof nn);
		for (int k = 0; k < NODE_CONNECT_BUCKETS; k++) {
			cum += t[i].connect[k];
			bprintf(b, "%s_bucket{host=\"%s\",chain=\"%s\",node=\"%s\",le=\"%g\"} %llu\n", hn, h, cn, nn,
				node_connect_bounds[k], (unsigned long long)cum);
		}
		bprintf(b, "%s_bucket{host=\"%s\",chain=\"%s\",node=\"%s\",le=\"+Inf\"} %llu\n", hn, h, cn, nn,
			(unsigned long long)t[i].connects);
		bprintf(b, "%s_sum{host=\"%s\",chain=\"%s\",node=\"%s\"} %.6f\n", hn, h, cn, nn,
			(double)t[i].connect_us / 1e6);
		bprintf(b, "%s_count{host=\"%s\",chain=\"%s\",node=\"%s\"} %llu\n", hn, h, cn, nn,
			(unsigned long long)t[i].connects);
	}
	free(t);
	free(list);
}

static void render_gateways(struct buf *b, const struct scrape *sc)
{
	static const char *const kinds[2] = { "relay", "tunnel" };
	char sv[512];
	if (!sc->n_gw)
		return;
	static const struct {
		const char *name, *help;
		size_t off;
	} per_kind[] = {
		{ "portway_gateway_pools", "Agent pools of the gateway", offsetof(struct gw_metrics, pools) },
		{ "portway_gateway_idle_workers", "Idle agent worker connections waiting in the pools",
		  offsetof(struct gw_metrics, idle) },
		{ "portway_gateway_waiting_clients", "Public connections waiting for a worker of an empty pool",
		  offsetof(struct gw_metrics, waiting) },
	};
	for (size_t f = 0; f < sizeof per_kind / sizeof *per_kind; f++) {
		family(b, per_kind[f].name, "gauge", per_kind[f].help);
		for (size_t i = 0; i < sc->n_gw; i++)
			for (int k = 0; k < 2; k++)
				bprintf(b, "%s{service=\"%s\",kind=\"%s\"} %d\n", per_kind[f].name,
					esc(sc->gw[i]->name, sv, sizeof sv), kinds[k],
					((const int *)((const char *)&sc->gwm[i] + per_kind[f].off))[k]);
	}
	family(b, "portway_gateway_port_forwards", "gauge", "Static port forwards listening");
	for (size_t i = 0; i < sc->n_gw; i++)
		bprintf(b, "portway_gateway_port_forwards{service=\"%s\"} %d\n", esc(sc->gw[i]->name, sv, sizeof sv),
			sc->gwm[i].forwards);
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{ "portway_gateway_requests_total", "Relay connections joined to an agent worker",
		  offsetof(struct gw_stats, requests) },
		{ "portway_gateway_tunnels_total", "Tunnel connections joined to an agent worker",
		  offsetof(struct gw_stats, tunnels) },
		{ "portway_gateway_no_worker_total", "Public connections refused as no agent worker was there",
		  offsetof(struct gw_stats, no_worker) },
		{ "portway_gateway_webhook_failures_total", "Webhook deliveries given up after every retry",
		  offsetof(struct gw_stats, webhook_failures) },
	};
	for (size_t f = 0; f < sizeof counters / sizeof *counters; f++) {
		family(b, counters[f].name, "counter", counters[f].help);
		for (size_t i = 0; i < sc->n_gw; i++)
			bprintf(b, "%s{service=\"%s\"} %llu\n", counters[f].name, esc(sc->gw[i]->name, sv, sizeof sv),
				(unsigned long long)*(const uint64_t *)((const char *)&sc->gwm[i].stats + counters[f].off));
	}
	family(b, "portway_gateway_agent_dialins_total", "counter", "Agent worker dial-ins by outcome");
	for (size_t i = 0; i < sc->n_gw; i++) {
		esc(sc->gw[i]->name, sv, sizeof sv);
		bprintf(b, "portway_gateway_agent_dialins_total{service=\"%s\",result=\"accepted\"} %llu\n", sv,
			(unsigned long long)sc->gwm[i].stats.agents_accepted);
		bprintf(b, "portway_gateway_agent_dialins_total{service=\"%s\",result=\"refused\"} %llu\n", sv,
			(unsigned long long)sc->gwm[i].stats.agents_refused);
	}
}

/* process_* as Prometheus's process collector names them, from /proc/self. */
static void render_process(struct buf *b)
{
	char stat[2048];
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
	long long rss = 0;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/stat", "r");
	if (f) {
		size_t n = fread(stat, 1, sizeof stat - 1, f);
		stat[n] = 0;
		fclose(f);
		/* After the command's closing parenthesis: field 3 (state) onwards. */
		const char *p = strrchr(stat, ')');
		if (p && sscanf(p + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
				&utime, &stime, &start, &vsize, &rss) != 5)
			utime = stime = start = vsize = 0, rss = 0;
	}
	double btime = 0;
	f = fopen("/proc/stat", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "btime ", 6)) {
				btime = atof(line + 6);
				break;
			}
		fclose(f);
	}
	long fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		for (struct dirent *e; (e = readdir(d));)
			fds += e->d_name[0] != '.';
		closedir(d);
		fds--; /* the directory's own descriptor */
	}
	struct rlimit rl = { 0, 0 };
	getrlimit(RLIMIT_NOFILE, &rl);
	if (ticks <= 0)
		ticks = 100;
	family(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
	bprintf(b, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)ticks);
	family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
	bprintf(b, "process_open_fds %ld\n", fds);
	family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	bprintf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	bprintf(b, "process_virtual_memory_bytes %llu\n", vsize);
	family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	bprintf(b, "process_resident_memory_bytes %lld\n", rss * page);
	family(b, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
	bprintf(b, "process_start_time_seconds %.2f\n", btime + (double)start / (double)ticks);
}

static void render(struct buf *b, const struct scrape *sc)
{
	struct service *const *run;
	size_t n = portway_running(&run);
	render_services(b, run, n);
	render_chains(b, run, n);
	render_gateways(b, sc);
	family(b, "portway_connections", "gauge", "Open stream connections (pipes) on all workers");
	bprintf(b, "portway_connections %ld\n", workers_connection_total());
	family(b, "portway_workers", "gauge", "Worker threads");
	bprintf(b, "portway_workers %d\n", worker_count);
	family(b, "portway_build_info", "gauge", "portway's version; always 1");
	bprintf(b, "portway_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	render_process(b);
}

/* ---- connections ---- */

static void conn_free(struct mconn *c)
{
	ev_timer_stop(srv.w->loop, &c->timer);
	if (c->prev)
		c->prev->next = c->next;
	else if (srv.conns == c)
		srv.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	buf_free(&c->in);
	free(c);
}

/* Close the stream; the connection's memory goes now, or when its scrape comes back. */
static void conn_close(struct mconn *c)
{
	stream_close(c->s);
	c->s = NULL;
	if (!c->busy)
		conn_free(c);
}

static void conn_reply(struct mconn *c, int status, const char *reason, const char *extra, const char *ctype,
		       const char *body, size_t len, int head_only)
{
	struct buf b = { 0 };
	bprintf(&b,
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
		"Access-Control-Allow-Origin: *\r\n%s\r\n",
		status, reason, ctype, len, extra ? extra : "");
	if (!head_only)
		buf_append(&b, body, len);
	struct stream *s = c->s;
	c->s = NULL;
	stream_write(s, b.p, b.len);
	buf_free(&b);
	stream_close_after_flush(s); /* takes the stream's callbacks over */
	conn_free(c);
}

static void conn_text(struct mconn *c, int status, const char *reason, const char *extra, const char *text)
{
	conn_reply(c, status, reason, extra, "text/plain; charset=utf-8", text, strlen(text), 0);
}

static void scrape_answer(struct scrape *sc)
{
	struct mconn *c = sc->c;
	c->busy = 0;
	if (c->s) {
		struct buf body = { 0 };
		render(&body, sc);
		conn_reply(c, 200, "OK", NULL, "text/plain; version=0.0.4; charset=utf-8", body.p ? body.p : "", body.len,
			   sc->head_only);
		buf_free(&body);
	} else {
		conn_free(c);
	}
	for (size_t i = 0; i < sc->n_gw; i++)
		service_unref(sc->gw[i]);
	free(sc->gw);
	free(sc->gwm);
	free(sc);
}

/* Back on the control loop. */
static void scrape_back(void *arg) { scrape_answer(arg); }

/* On worker 0, where the gateways' state lives. */
static void scrape_gateways(void *arg)
{
	struct scrape *sc = arg;
	for (size_t i = 0; i < sc->n_gw; i++)
		gw_metrics_read(sc->gw[i], &sc->gwm[i]);
	worker_post(srv.w, scrape_back, sc);
}

static int authorized(const struct http_request *req)
{
	char buf[1024];
	const char *user, *pass;
	int ok = 0;
	if (!srv.n_users)
		return 1;
	const struct http_header *a = http_header_find(req->headers, req->nheaders, "Authorization");
	if (!a || http_basic_auth_decode(a->value, buf, sizeof buf, &user, &pass) < 0)
		return 0;
	for (size_t i = 0; i < srv.n_users; i++)
		ok |= secret_equal(user, srv.users[i].user) & secret_equal(pass, srv.users[i].pass);
	memset(buf, 0, sizeof buf);
	return ok;
}

static void conn_request(struct mconn *c, const struct http_request *req)
{
	char path[1024];
	size_t plen = req->target.len;
	const char *q = memchr(req->target.p, '?', plen);
	if (q)
		plen = (size_t)(q - req->target.p);
	int head = http_slice_eq(req->method, "HEAD");
	if (http_slice_eq(req->method, "OPTIONS")) {
		conn_reply(c, 204, "No Content",
			   "Access-Control-Allow-Methods: GET, OPTIONS\r\nAccess-Control-Allow-Headers: *\r\n",
			   "text/plain", "", 0, 1);
		return;
	}
	if (plen >= sizeof path || req->form != HTTP_TARGET_ORIGIN) {
		conn_text(c, 404, "Not Found", NULL, "not found\n");
		return;
	}
	memcpy(path, req->target.p, plen);
	path[plen] = 0;
	if (strcmp(path, srv.path)) {
		conn_text(c, 404, "Not Found", NULL, "not found\n");
		return;
	}
	if (!http_slice_eq(req->method, "GET") && !head) {
		conn_text(c, 405, "Method Not Allowed", "Allow: GET, HEAD, OPTIONS\r\n", "use GET\n");
		return;
	}
	if (!authorized(req)) {
		log_info("metrics: %s: unauthorized scrape", c->s->peer);
		conn_text(c, 401, "Unauthorized", "WWW-Authenticate: Basic realm=\"portway metrics\"\r\n",
			  "unauthorized\n");
		return;
	}
	struct scrape *sc = xcalloc(1, sizeof *sc);
	struct service *const *run;
	size_t n = portway_running(&run);
	sc->c = c;
	sc->head_only = head;
	sc->gw = xcalloc(n + 1, sizeof *sc->gw);
	sc->gwm = xcalloc(n + 1, sizeof *sc->gwm);
	for (size_t i = 0; i < n; i++)
		if (run[i]->running && gw_service_is_gateway(run[i])) {
			service_ref(run[i]);
			sc->gw[sc->n_gw++] = run[i];
		}
	c->busy = 1;
	stream_read_stop(c->s);
	ev_timer_stop(srv.w->loop, &c->timer);
	if (sc->n_gw)
		worker_post(workers[0], scrape_gateways, sc);
	else
		scrape_answer(sc);
}

static void conn_read(struct stream *s, const char *data, size_t len)
{
	struct mconn *c = s->ud;
	struct http_request req;
	if (!len) {
		conn_close(c);
		return;
	}
	buf_append(&c->in, data, len);
	ssize_t r = http_request_parse(c->in.p, c->in.len, MHTTP_HEAD_MAX, &req);
	if (r == 0)
		return;
	if (r < 0) {
		if (r == HTTP_ERR_TOO_LARGE || r == HTTP_ERR_TOO_MANY_HEADERS)
			conn_text(c, 431, "Request Header Fields Too Large", NULL, "request head too large\n");
		else
			conn_text(c, 400, "Bad Request", NULL, "bad request\n");
		return;
	}
	conn_request(c, &req);
}

static void conn_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR)
		conn_close(s->ud);
}

static void conn_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	conn_close(t->data);
}

static int on_accept(struct acceptor *a, struct stream *s)
{
	(void)a;
	struct mconn *c = xcalloc(1, sizeof *c);
	c->s = s;
	c->next = srv.conns;
	if (srv.conns)
		srv.conns->prev = c;
	srv.conns = c;
	ev_timer_init(&c->timer, conn_timeout, MHTTP_TIMEOUT, 0);
	c->timer.data = c;
	ev_timer_start(srv.w->loop, &c->timer);
	stream_set_callbacks(s, conn_read, conn_event, c);
	stream_read_start(s);
	return 0;
}

/* ---- the server ---- */

static void settings_free(void)
{
	for (size_t i = 0; i < srv.n_users; i++) {
		free(srv.users[i].user);
		free(srv.users[i].pass);
	}
	free(srv.users);
	free(srv.path);
	srv.users = NULL;
	srv.n_users = 0;
	srv.path = NULL;
}

static void settings_take(const struct metrics_cfg *m)
{
	settings_free();
	srv.path = xstrdup(m->path ? m->path : "/metrics");
	size_t n = (m->auth.username ? 1 : 0) + (m->auther ? m->auther->n_users : 0);
	srv.users = xcalloc(n + 1, sizeof *srv.users);
	if (m->auth.username) {
		srv.users[srv.n_users].user = xstrdup(m->auth.username);
		srv.users[srv.n_users++].pass = xstrdup(m->auth.password ? m->auth.password : "");
	}
	for (size_t i = 0; m->auther && i < m->auther->n_users; i++) {
		srv.users[srv.n_users].user = xstrdup(m->auther->users[i].username);
		srv.users[srv.n_users++].pass = xstrdup(m->auther->users[i].password ? m->auther->users[i].password : "");
	}
}

static void listener_close(void)
{
	if (srv.fd < 0)
		return;
	acceptor_stop(&srv.acc);
	close(srv.fd);
	srv.fd = -1;
}

int metrics_http_apply(struct ev_loop *loop, const struct metrics_cfg *m)
{
	char err[512], where[300];
	if (!srv.w) {
		srv.w = worker_control_new(loop);
		if (gethostname(srv.hostname, sizeof srv.hostname - 1) < 0)
			snprintf(srv.hostname, sizeof srv.hostname, "localhost");
	}
	if (!m->addr) {
		if (srv.fd >= 0)
			log_info("metrics: no longer served on %s:%u", srv.host, srv.port);
		listener_close();
		return 0;
	}
	if (srv.fd < 0 || strcmp(srv.host, m->host) || srv.port != m->port) {
		int fd = listen_socket(m->host, m->port, SOCK_STREAM, 0, err, sizeof err);
		if (fd < 0) {
			log_error("metrics: %s", err);
			return -1;
		}
		listener_close();
		srv.fd = fd;
		snprintf(srv.host, sizeof srv.host, "%s", m->host);
		srv.port = m->port;
		acceptor_init(&srv.acc, srv.w, fd, on_accept, NULL, "metrics");
		acceptor_start(&srv.acc);
	}
	settings_take(m);
	hostport_format(where, sizeof where, m->host, m->port);
	log_info("metrics: serving http://%s%s%s", where, srv.path, srv.n_users ? " (basic auth)" : "");
	return 0;
}

void metrics_http_stop(void)
{
	listener_close();
	for (struct mconn *c = srv.conns, *next; c; c = next) {
		next = c->next;
		if (c->s)
			conn_close(c);
	}
}

void metrics_http_free(void)
{
	if (srv.w) {
		metrics_http_stop();
		worker_control_drain(srv.w); /* scrapes that came back meanwhile, the deferred frees */
		while (srv.conns)
			conn_free(srv.conns);
		worker_control_free(srv.w);
		srv.w = NULL;
	}
	settings_free();
}
