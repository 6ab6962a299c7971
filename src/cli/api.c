/*
 * GOST's web API (go-gost/x api/): the running configuration as JSON, its services,
 * chains, hops, authers and bypasses one by one, reload and save. HTTP/1.1 on the main
 * thread's loop; a request is answered at once, as main applies a change synchronously.
 *
 * Responses have GOST's shapes: {"data": ...} for reads, {"msg": "OK"} for changes,
 * {"code": N, "msg": "..."} for errors (40001 invalid, 40002 duplicate, 40003 could not
 * be created, 40004 not found, 40005 save failed; 401 with "Unauthorized").
 */
#include "src/cli/api.h"
#include "src/cli/status_page.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/http.h"
#include "src/conf/cnode_json.h"
#include "src/conf/model.h"
#include "src/core/acceptor.h"
#include "src/core/log.h"
#include "src/core/stream.h"
#include "src/core/util.h"

#define API_HEAD_MAX 16384
#define API_BODY_MAX (4u << 20)
#define API_IDLE 60.0 /* seconds a connection may stay silent */
#define API_CONNS_MAX 64

enum {
	ERR_INVALID = 40001,
	ERR_DUP = 40002,
	ERR_FAILED = 40003,
	ERR_NOT_FOUND = 40004,
	ERR_SAVE = 40005,
};

struct api_conn {
	struct stream *s;      /* NULL once closed */
	char *buf;             /* what arrived and is not answered yet */
	size_t len, cap;
	ev_timer idle;
	int busy;              /* inside its read callback: free it on the way out */
	int last;              /* close after the answer being made */
	int continued;         /* "100 Continue" sent for the request at the head of buf */
	struct api_conn *prev, *next;
};

static struct {
	struct ev_loop *loop;
	const struct api_ops *ops;
	struct worker *w;      /* the main loop as a worker, for streams and the acceptor */
	const struct api_cfg *cfg;
	int fd;
	char host[256];
	uint16_t port;
	struct acceptor acc;
	struct api_conn *conns;
	size_t n_conns;
} srv = { .fd = -1 };

struct resp {
	int status;
	const char *ctype;
	char *body;            /* owned */
	size_t len;
	int challenge;         /* WWW-Authenticate: Basic */
	int cors;              /* Access-Control-Allow-Origin */
	int preflight;         /* the other CORS headers */
	const char *allow;     /* Allow, with 405 */
};

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	default: return "Unknown";
	}
}

/* ---- responses ---- */

static void resp_json(struct resp *r, int status, json_t *j, size_t flags)
{
	r->status = status;
	r->ctype = "application/json; charset=utf-8";
	r->body = json_dumps(j, (flags ? flags : JSON_COMPACT) | JSON_ENSURE_ASCII);
	r->len = r->body ? strlen(r->body) : 0;
	json_decref(j);
}

static void __attribute__((format(printf, 4, 5))) resp_error(struct resp *r, int status, int code, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	resp_json(r, status, json_pack("{s:i, s:s}", "code", code, "msg", msg), 0);
}

static void resp_ok(struct resp *r) { resp_json(r, 200, json_pack("{s:s}", "msg", "OK"), 0); }

/* ---- the configuration tree ---- */

static const struct kind {
	const char *list, *one;
} kinds[] = {
	{ "services", "service" }, { "chains", "chain" }, { "hops", "hop" },
	{ "authers", "auther" },   { "bypasses", "bypass" },
	{ "admissions", "admission" }, { "climiters", "climiter" }, { "rlimiters", "rlimiter" },
	{ "limiters", "limiter" },     { "hosts", "hosts" },         { "resolvers", "resolver" },
};

static const struct kind *kind_find(const char *name)
{
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		if (!strcmp(kinds[i].list, name))
			return &kinds[i];
	return NULL;
}

/* The name the loader gives the item: its own, or "service-N" for an unnamed service. */
static int item_is(const struct kind *k, const struct cnode *item, size_t index, const char *name)
{
	const char *own = cnode_str(item, "name");
	if (own && *own)
		return !strcmp(own, name);
	char nm[32];
	snprintf(nm, sizeof nm, "service-%zu", index);
	return !strcmp(k->list, "services") && !strcmp(nm, name);
}

static ssize_t item_index(const struct cnode *list, const struct kind *k, const char *name)
{
	for (size_t i = 0; list && list->kind == CN_SEQ && i < list->n; i++)
		if (item_is(k, list->items[i], i, name))
			return (ssize_t)i;
	return -1;
}

static const struct cnode *running_root(void) { return srv.ops->current()->root; }

/* The list of kind k in a new tree (made a list if it is absent or an empty scalar). */
static struct cnode *list_of(struct cnode *root, const struct kind *k)
{
	struct cnode *l = cnode_get(root, k->list);
	if (l && l->kind == CN_SEQ)
		return l;
	if (l) { /* an empty scalar ("services:"): the loader took it for no list */
		l->kind = CN_SEQ;
		free(l->value);
		l->value = NULL;
		return l;
	}
	l = cnode_new(CN_SEQ, NULL, 0, 0);
	l->key = xstrdup(k->list);
	cnode_append(root, l);
	return l;
}

static void apply(struct resp *r, struct cnode *root)
{
	char msg[1024] = "";
	int st = srv.ops->apply(root, msg, sizeof msg);
	if (!st)
		resp_ok(r);
	else
		resp_error(r, st, st == 409 ? ERR_FAILED : ERR_INVALID, "%s", msg);
}

static void get_config(struct resp *r, struct http_slice query)
{
	char fmt[16];
	if (http_query_get(query, "format", fmt, sizeof fmt) > 0 && !strcasecmp(fmt, "yaml")) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		int bad = !f || cnode_write(running_root(), f, 0) < 0;
		if (f)
			fclose(f);
		if (bad) {
			free(text);
			return resp_error(r, 500, ERR_FAILED, "cannot write the configuration as YAML");
		}
		r->status = 200;
		r->ctype = "text/x-yaml";
		r->body = text;
		r->len = len;
		return;
	}
	resp_json(r, 200, cnode_to_json(running_root()), JSON_INDENT(2));
}

/* POST /config: write the running configuration to the -C file (GOST's "save"). */
static void save_config(struct resp *r, struct http_slice query)
{
	char fmt[16] = "", want[PATH_MAX] = "", real[PATH_MAX], tmp[PATH_MAX + 32];
	const char *file = srv.ops->config_path();
	if (http_query_get(query, "format", fmt, sizeof fmt) == HTTP_QUERY_BAD ||
	    http_query_get(query, "path", want, sizeof want) == HTTP_QUERY_BAD)
		return resp_error(r, 400, ERR_INVALID, "bad query");
	if (!file)
		return resp_error(r, 400, ERR_SAVE,
				  "no configuration file to save to: portway runs from -L/-F (start it with -C FILE)");
	if (*want && strcmp(want, file))
		return resp_error(r, 400, ERR_SAVE, "portway saves only to its configuration file %s, not to %s", file, want);
	if (*fmt && strcasecmp(fmt, "yaml") && strcasecmp(fmt, "json"))
		return resp_error(r, 400, ERR_INVALID, "format: expected yaml or json, got \"%s\"", fmt);
	if (!realpath(file, real)) /* a symbolic link keeps pointing at the file written */
		snprintf(real, sizeof real, "%s", file);
	const char *ext = strrchr(real, '.');
	int json = *fmt ? !strcasecmp(fmt, "json") : ext && !strcasecmp(ext, ".json");
	struct stat st;
	mode_t mode = stat(real, &st) == 0 ? (st.st_mode & 07777) : 0600;
	snprintf(tmp, sizeof tmp, "%s.tmp%ld", real, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return resp_error(r, 500, ERR_SAVE, "create file: %s: %s", tmp, strerror(err));
	}
	int bad = cnode_write(running_root(), f, json) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0;
	int err = errno;
	if (fclose(f) != 0 && !bad) {
		bad = 1;
		err = errno;
	}
	if (bad || rename(tmp, real) < 0) {
		if (!bad)
			err = errno;
		unlink(tmp);
		return resp_error(r, 500, ERR_SAVE, "save config: %s: %s", real, strerror(err));
	}
	log_info("api: configuration saved to %s", real);
	resp_ok(r);
}

static void reload_config(struct resp *r)
{
	char msg[1024] = "";
	int st = srv.ops->reload(msg, sizeof msg);
	if (!st)
		resp_ok(r);
	else
		resp_error(r, st, st == 409 ? ERR_FAILED : ERR_INVALID, "%s", msg);
}

static void list_items(struct resp *r, const struct kind *k)
{
	const struct cnode *l = cnode_get(running_root(), k->list);
	json_t *list = json_array();
	for (size_t i = 0; l && l->kind == CN_SEQ && i < l->n; i++)
		json_array_append_new(list, cnode_to_json(l->items[i]));
	resp_json(r, 200, json_pack("{s:{s:I, s:o}}", "data", "count", (json_int_t)json_array_size(list), "list", list),
		  0);
}

/* As GOST: an unknown name reads as no data, {}. */
static void get_item(struct resp *r, const struct kind *k, const char *name)
{
	const struct cnode *l = cnode_get(running_root(), k->list);
	ssize_t i = item_index(l, k, name);
	if (i < 0)
		return resp_json(r, 200, json_object(), 0);
	resp_json(r, 200, json_pack("{s:o}", "data", cnode_to_json(l->items[i])), 0);
}

/* The request body as an object, or NULL with the error answered. */
static json_t *body_object(struct resp *r, const char *body, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(body, len, 0, &jerr);
	if (!j) {
		resp_error(r, 400, ERR_INVALID, "request body is not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
			   jerr.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		resp_error(r, 400, ERR_INVALID, "request body: expected a JSON object");
		return NULL;
	}
	return j;
}

static char *trimmed(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

/* POST (name NULL: create), PUT (replace) and DELETE (body NULL) of one item. */
static void change_item(struct resp *r, const struct kind *k, const char *path_name, const char *body, size_t blen,
			int del)
{
	json_t *obj = NULL;
	char *name;
	if (!del && !(obj = body_object(r, body, blen)))
		return;
	if (path_name) {
		name = trimmed(path_name);
	} else {
		const char *n = json_string_value(json_object_get(obj, "name"));
		name = trimmed(n ? n : "");
		if (!*name) {
			resp_error(r, 400, ERR_INVALID, "%s name is required", k->one);
			goto out;
		}
	}
	ssize_t at = item_index(cnode_get(running_root(), k->list), k, name);
	if (!path_name && at >= 0) {
		resp_error(r, 400, ERR_DUP, "%s %s already exists", k->one, name);
		goto out;
	}
	if (path_name && at < 0) {
		resp_error(r, 400, ERR_NOT_FOUND, "%s %s not found", k->one, name);
		goto out;
	}
	struct cnode *root = cnode_clone_bare(running_root()), *list = list_of(root, k);
	if (del) {
		cnode_free(list->items[at]);
		memmove(list->items + at, list->items + at + 1, (list->n - (size_t)at - 1) * sizeof *list->items);
		list->n--;
	} else {
		json_object_set_new(obj, "name", json_string(name)); /* the path's name wins, as in GOST */
		struct cnode *item = cnode_from_json(obj, NULL);
		if (at >= 0) {
			cnode_free(list->items[at]);
			list->items[at] = item;
		} else {
			cnode_append(list, item);
		}
	}
	apply(r, root);
out:
	free(name);
	json_decref(obj);
}

/* ---- routing ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A path segment %-decoded; -1 on a bad escape or a NUL. */
static int seg_decode(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = h * 16 + l;
			i += 2;
		}
		if (!c || o + 1 >= size)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return 0;
}

#define MAX_SEGS 8

static int method_is(const struct http_request *req, const char *m) { return http_slice_eq(req->method, m); }

static int authorized(const struct http_request *req)
{
	const struct http_header *h = http_header_find(req->headers, req->nheaders, "Authorization");
	char buf[1024];
	const char *user = "", *pass = "";
	if (!api_auth_required(srv.cfg))
		return 1;
	if (h && http_basic_auth_decode(h->value, buf, sizeof buf, &user, &pass) < 0)
		user = pass = "";
	int ok = api_auth_check(srv.cfg, user, pass);
	explicit_bzero(buf, sizeof buf);
	return ok;
}

/* Origin of another site than the Host the request names. */
static int cross_origin(const struct http_request *req)
{
	const struct http_header *o = http_header_find(req->headers, req->nheaders, "Origin");
	const struct http_header *h = http_header_find(req->headers, req->nheaders, "Host");
	if (!o)
		return 0;
	const char *sep = memmem(o->value.p, o->value.len, "://", 3);
	if (!sep || !h)
		return 1;
	size_t off = (size_t)(sep + 3 - o->value.p);
	return o->value.len - off != h->value.len || strncasecmp(sep + 3, h->value.p, h->value.len);
}

/* The status page, or the JSON it reads. */
static void get_status(struct resp *r, int html)
{
	if (!html)
		return resp_json(r, 200, status_snapshot(), JSON_COMPACT);
	r->status = 200;
	r->ctype = "text/html; charset=utf-8";
	r->body = xstrdup(status_page_html);
	r->len = strlen(r->body);
}

static void route(const struct http_request *req, const char *body, size_t blen, struct resp *r)
{
	struct http_slice t = req->target, query = http_target_query(req->target);
	size_t plen = 0; /* the target is no C string: it lies in the connection's buffer */
	while (plen < t.len && t.p[plen] != '?' && t.p[plen] != '#')
		plen++;
	if (req->form != HTTP_TARGET_ORIGIN)
		return resp_error(r, 400, 400, "expected a path as request target");

	/* Split the raw path, then decode each segment (a name may hold an escaped slash). */
	struct http_slice raw[MAX_SEGS + 1];
	size_t n = 0;
	for (size_t i = 0; i < plen;) {
		while (i < plen && t.p[i] == '/')
			i++;
		size_t start = i;
		while (i < plen && t.p[i] != '/')
			i++;
		if (i > start) {
			if (n == MAX_SEGS)
				return resp_error(r, 404, 404, "404 page not found");
			raw[n++] = (struct http_slice){ t.p + start, i - start };
		}
	}
	/* pathPrefix: its segments first. */
	size_t skip = 0;
	for (const char *p = srv.cfg->path_prefix; *p;) {
		p++;
		size_t l = strcspn(p, "/");
		if (skip >= n || raw[skip].len != l || memcmp(raw[skip].p, p, l))
			return resp_error(r, 404, 404, "404 page not found");
		skip++;
		p += l;
	}
	char seg[MAX_SEGS][512];
	size_t ns = 0;
	for (size_t i = skip; i < n; i++, ns++)
		if (seg_decode(raw[i].p, raw[i].len, seg[ns], sizeof seg[ns]) < 0)
			return resp_error(r, 400, 400, "bad escape in the path");
	int status_page = ns == 1 && (!strcmp(seg[0], "status") || !strcmp(seg[0], "status.json"));
	if (!status_page && (!ns || strcmp(seg[0], "config") || ns > 3))
		return resp_error(r, 404, 404, "404 page not found");

	int has_auth = api_auth_required(srv.cfg), cross = cross_origin(req);
	if (cross && !has_auth)
		return resp_error(r, 403, 403,
				  "cross-origin request refused: the API has no auth (set api.auth to use it from a web page)");
	r->cors = cross;
	if (method_is(req, "OPTIONS")) { /* a CORS preflight: answered before auth, as GOST does */
		r->status = 204;
		r->preflight = cross;
		r->allow = "GET, POST, PUT, DELETE, OPTIONS";
		return;
	}
	if (!authorized(req)) {
		r->challenge = 1;
		return resp_error(r, 401, 401, "Unauthorized");
	}

	const char *allow = NULL;
	if (status_page) {
		if (method_is(req, "GET"))
			return get_status(r, !strcmp(seg[0], "status"));
		allow = "GET";
	} else if (ns == 1) {
		if (method_is(req, "GET"))
			return get_config(r, query);
		if (method_is(req, "POST"))
			return save_config(r, query);
		allow = "GET, POST";
	} else if (ns == 2 && !strcmp(seg[1], "reload")) {
		if (method_is(req, "POST"))
			return reload_config(r);
		allow = "POST";
	} else {
		const struct kind *k = kind_find(seg[1]);
		if (!k)
			return resp_error(r, 404, 404, "404 page not found");
		if (ns == 2) {
			if (method_is(req, "GET"))
				return list_items(r, k);
			if (method_is(req, "POST"))
				return change_item(r, k, NULL, body, blen, 0);
			allow = "GET, POST";
		} else {
			if (method_is(req, "GET"))
				return get_item(r, k, seg[2]);
			if (method_is(req, "PUT"))
				return change_item(r, k, seg[2], body, blen, 0);
			if (method_is(req, "DELETE"))
				return change_item(r, k, seg[2], NULL, 0, 1);
			allow = "GET, PUT, DELETE";
		}
	}
	r->allow = allow;
	resp_error(r, 405, 405, "method not allowed (allowed: %s)", allow);
}

/* ---- connections ---- */

static void conn_free(struct api_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv.n_conns--;
	ev_timer_stop(srv.loop, &c->idle);
	free(c->buf);
	free(c);
}

/* flush: send what is queued first. The memory goes now, or after the read callback. */
static void conn_close(struct api_conn *c, int flush)
{
	if (c->s) {
		if (flush)
			stream_close_after_flush(c->s);
		else
			stream_close(c->s);
		c->s = NULL;
	}
	if (!c->busy)
		conn_free(c);
}

static void send_resp(struct api_conn *c, struct resp *r, int keep)
{
	char head[1024];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\n"
			 "%s%s%s"
			 "Content-Length: %zu\r\n"
			 "%s%s%s%s%s%s"
			 "%s"
			 "\r\n",
			 r->status, reason(r->status), r->ctype ? "Content-Type: " : "", r->ctype ? r->ctype : "",
			 r->ctype ? "\r\n" : "", r->len, r->challenge ? "WWW-Authenticate: Basic\r\n" : "",
			 r->allow ? "Allow: " : "", r->allow ? r->allow : "", r->allow ? "\r\n" : "",
			 r->cors ? "Access-Control-Allow-Origin: *\r\n" : "",
			 r->preflight ? "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r\n"
					"Access-Control-Allow-Headers: *, Authorization\r\n"
					"Access-Control-Allow-Private-Network: true\r\n"
				      : "",
			 keep ? "" : "Connection: close\r\n");
	stream_write(c->s, head, (size_t)n);
	if (r->len)
		stream_write(c->s, r->body, r->len);
}

/* Answer a request that cannot be read, and close. */
static void fail(struct api_conn *c, int status, const char *msg)
{
	struct resp r = { 0 };
	resp_error(&r, status, status, "%s", msg);
	send_resp(c, &r, 0);
	free(r.body);
	conn_close(c, 1);
}

/* A chunked body (checked by http_chunked_scan) decoded in place; its length. */
static size_t dechunk(char *p, size_t n)
{
	size_t in = 0, out = 0;
	for (;;) {
		uint64_t size = 0;
		while (in < n && hexval((unsigned char)p[in]) >= 0)
			size = size * 16 + (uint64_t)hexval((unsigned char)p[in++]);
		while (in < n && p[in] != '\n')
			in++;
		in++;
		if (!size || in >= n || size > n - in)
			return out;
		memmove(p + out, p + in, (size_t)size);
		out += (size_t)size;
		in += (size_t)size + 2;
	}
}

static void maybe_continue(struct api_conn *c, const struct http_request *req)
{
	if (c->continued || req->version_minor < 1 ||
	    !http_header_has_token(req->headers, req->nheaders, "Expect", "100-continue"))
		return;
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	stream_write(c->s, cont, sizeof cont - 1);
	c->continued = 1;
}

/* Answer every complete request in the buffer, in order. */
static void process(struct api_conn *c)
{
	while (c->s && c->len) {
		struct http_request req;
		struct http_body body;
		ssize_t h = http_request_parse(c->buf, c->len, API_HEAD_MAX, &req);
		if (h == 0)
			return;
		if (h < 0)
			return fail(c, h == HTTP_ERR_TOO_LARGE || h == HTTP_ERR_TOO_MANY_HEADERS ? 431 : 400,
				    http_error_str((int)h));
		if (http_request_body(&req, &body) < 0)
			return fail(c, 400, "bad body framing (Content-Length, Transfer-Encoding)");
		size_t head = (size_t)h, blen = 0, total = head;
		if (body.kind == HTTP_BODY_LENGTH) {
			if (body.length > API_BODY_MAX)
				return fail(c, 413, "request body too large");
			if (c->len - head < body.length)
				return maybe_continue(c, &req);
			blen = (size_t)body.length;
			total = head + blen;
		} else if (body.kind == HTTP_BODY_CHUNKED) {
			struct http_chunked ch;
			http_chunked_init(&ch);
			ssize_t m = http_chunked_scan(&ch, c->buf + head, c->len - head);
			if (m < 0)
				return fail(c, 400, "bad chunked body");
			if (!http_chunked_done(&ch)) {
				if (c->len - head > API_BODY_MAX)
					return fail(c, 413, "request body too large");
				return maybe_continue(c, &req);
			}
			total = head + (size_t)m;
			blen = dechunk(c->buf + head, (size_t)m);
		}
		int keep = http_keep_alive(req.version_minor, req.headers, req.nheaders);
		struct resp r = { 0 };
		double t0 = mono_now();
		route(&req, c->buf + head, blen, &r);
		keep = keep && !c->last && c->s;
		if (srv.cfg && srv.cfg->accesslog)
			log_info("api | %3d | %8.3fms | %15s | %-7.*s %.*s", r.status, (mono_now() - t0) * 1e3,
				 c->s ? c->s->peer : "-", (int)req.method.len, req.method.p, (int)req.target.len,
				 req.target.p);
		if (c->s)
			send_resp(c, &r, keep);
		free(r.body);
		if (!keep)
			return conn_close(c, 1);
		memmove(c->buf, c->buf + total, c->len - total);
		c->len -= total;
		c->continued = 0;
	}
}

static void conn_read(struct stream *s, const char *data, size_t len)
{
	struct api_conn *c = s->ud;
	if (!len) { /* the client is done sending: answer what is complete, then close */
		c->busy = 1;
		c->last = 1;
		process(c);
		c->busy = 0;
		return conn_close(c, 1);
	}
	if (c->len + len > API_HEAD_MAX + API_BODY_MAX + 64)
		return fail(c, 413, "request too large");
	if (c->len + len > c->cap) {
		c->cap = (c->len + len) * 2;
		c->buf = xrealloc(c->buf, c->cap);
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	ev_timer_again(srv.loop, &c->idle);
	c->busy = 1;
	process(c);
	c->busy = 0;
	if (!c->s)
		conn_free(c);
	else if (c->s->wqueued > API_BODY_MAX) /* a client that sends and never reads */
		conn_close(c, 0);
}

static void conn_event(struct stream *s, enum stream_event ev, int err)
{
	(void)err;
	if (ev == STREAM_EV_ERROR)
		conn_close(s->ud, 0);
}

static void conn_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	conn_close(t->data, 0);
}

static int api_accept(struct acceptor *a, struct stream *s)
{
	(void)a;
	if (srv.n_conns >= API_CONNS_MAX) {
		log_warn("api: %zu connections open, refusing %s", srv.n_conns, s->peer);
		stream_close(s);
		return 0;
	}
	struct api_conn *c = xcalloc(1, sizeof *c);
	c->s = s;
	ev_init(&c->idle, conn_idle);
	c->idle.repeat = API_IDLE;
	c->idle.data = c;
	ev_timer_again(srv.loop, &c->idle);
	c->next = srv.conns;
	if (srv.conns)
		srv.conns->prev = c;
	srv.conns = c;
	srv.n_conns++;
	stream_set_callbacks(s, conn_read, conn_event, c);
	stream_read_start(s);
	return 0;
}

/* ---- the listener ---- */

static int api_bind(const char *host, uint16_t port, char *err, size_t len)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char ps[8];
	snprintf(ps, sizeof ps, "%u", port);
	int r = getaddrinfo(*host ? host : NULL, ps, &hints, &ai);
	if (r) {
		snprintf(err, len, "api: %s: %s", host, gai_strerror(r));
		return -1;
	}
	int fd = -1, e = EADDRNOTAVAIL;
	/* An empty host is every address: "::" taking IPv4 too, when there is IPv6; else the first that binds. */
	for (int pass = *host ? 1 : 0; pass < 2 && fd < 0; pass++)
		for (struct addrinfo *p = ai; p && fd < 0; p = p->ai_next) {
			if (!pass && p->ai_family != AF_INET6)
				continue;
			fd = socket(p->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				e = errno;
				continue;
			}
			int one = 1, zero = 0;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			if (p->ai_family == AF_INET6 && !*host)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
			if (bind(fd, p->ai_addr, p->ai_addrlen) < 0 || listen(fd, 128) < 0) {
				e = errno;
				close(fd);
				fd = -1;
			}
		}
	freeaddrinfo(ai);
	if (fd < 0)
		snprintf(err, len, "api: cannot listen on %s:%u: %s", *host ? host : "*", port, strerror(e));
	return fd;
}

static void listener_stop(void)
{
	if (srv.fd < 0)
		return;
	acceptor_stop(&srv.acc);
	close(srv.fd);
	srv.fd = -1;
}

void api_init(struct ev_loop *loop, const struct api_ops *ops)
{
	srv.loop = loop;
	srv.ops = ops;
}

int api_configure(const struct api_cfg *cfg, char *err, size_t len)
{
	if (!cfg || !cfg->addr) {
		if (srv.fd >= 0)
			log_info("api: stopped listening on %s:%u", srv.host, srv.port);
		listener_stop();
		/* Connections left end after their answer (one may be asking for this very change). */
		for (struct api_conn *c = srv.conns, *next; c; c = next) {
			next = c->next;
			c->last = 1;
			if (!c->busy)
				conn_close(c, 1);
		}
		srv.cfg = NULL;
		return 0;
	}
	if (!srv.w)
		srv.w = worker_control_new(srv.loop);
	srv.cfg = cfg;
	if (srv.fd >= 0 && srv.port == cfg->port && !strcmp(srv.host, cfg->host))
		return 0;
	int fd = api_bind(cfg->host, cfg->port, err, len);
	if (fd < 0)
		return -1;
	listener_stop();
	srv.fd = fd;
	snprintf(srv.host, sizeof srv.host, "%s", cfg->host);
	srv.port = cfg->port;
	acceptor_init(&srv.acc, srv.w, fd, api_accept, NULL, "api %s", cfg->addr);
	acceptor_start(&srv.acc);
	log_info("api: listening on %s%s%s", cfg->addr, *cfg->path_prefix ? ", path prefix " : "", cfg->path_prefix);
	return 0;
}

void api_shutdown(void)
{
	listener_stop();
	while (srv.conns) {
		struct api_conn *c = srv.conns;
		c->busy = 0;
		conn_close(c, 0);
	}
	srv.cfg = NULL;
}

void api_fini(void)
{
	api_shutdown();
	worker_control_free(srv.w);
	srv.w = NULL;
}
