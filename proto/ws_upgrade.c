#include "proto/ws_upgrade.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/ws.h"

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool ws_header_name_ok(const char *name)
{
	if (!name || !*name)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (!is_tchar(*p))
			return false;
	return true;
}

bool ws_header_value_ok(const char *value)
{
	if (!value)
		return false;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

/* A request path: starts with '/', printable, no space (it sits between two spaces). */
static bool path_ok(const char *path)
{
	if (!path || path[0] != '/')
		return false;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

bool ws_upgrade_requested(const struct http_request *req)
{
	return http_header_has_token(req->headers, req->nheaders, "Upgrade", "websocket");
}

/* Splits the target into path and query; false when the target cannot name a path. */
static bool target_path(const struct http_request *req, struct http_slice *path, struct http_slice *query)
{
	struct http_slice t = req->target;
	query->p = "";
	query->len = 0;
	if (req->form == HTTP_TARGET_ABSOLUTE) {
		struct http_uri uri;
		if (http_uri_parse(t.p, t.len, &uri) < 0)
			return false;
		*path = uri.path;
		if (uri.has_query)
			*query = uri.query;
		return true;
	}
	if (req->form != HTTP_TARGET_ORIGIN)
		return false;
	const char *q = memchr(t.p, '?', t.len);
	const char *hash = memchr(t.p, '#', t.len);
	size_t end = hash ? (size_t)(hash - t.p) : t.len;
	if (q && q < t.p + end) {
		path->p = t.p;
		path->len = (size_t)(q - t.p);
		query->p = q + 1;
		query->len = end - path->len - 1;
	} else {
		path->p = t.p;
		path->len = end;
	}
	return true;
}

int ws_upgrade_request_check(const struct http_request *req, struct ws_upgrade_request *out, const char **why)
{
	const struct http_header *h = req->headers;
	size_t n = req->nheaders;
	const char *dummy;
	if (!why)
		why = &dummy;
	memset(out, 0, sizeof *out);
	out->path.p = out->query.p = out->key.p = out->host.p = "";

	if (!http_slice_eq(req->method, "GET")) {
		*why = "a WebSocket upgrade must be a GET request";
		return 405;
	}
	if (!ws_upgrade_requested(req)) {
		*why = "not a WebSocket upgrade request (no \"Upgrade: websocket\")";
		return 426;
	}
	if (req->version_minor < 1) {
		*why = "a WebSocket upgrade needs HTTP/1.1";
		return 400;
	}
	if (!http_header_has_token(h, n, "Connection", "upgrade")) {
		*why = "the Connection field does not name upgrade";
		return 400;
	}
	bool v13 = false;
	for (ssize_t i = http_header_index(h, n, "Sec-WebSocket-Version", 0); i >= 0;
	     i = http_header_index(h, n, "Sec-WebSocket-Version", (size_t)i + 1))
		if (http_token_list_has(h[i].value, "13"))
			v13 = true;
	if (!v13) {
		*why = "unsupported Sec-WebSocket-Version (13 is required)";
		return 426;
	}
	ssize_t k = http_header_index(h, n, "Sec-WebSocket-Key", 0);
	if (k < 0 || http_header_index(h, n, "Sec-WebSocket-Key", (size_t)k + 1) >= 0) {
		*why = "missing or repeated Sec-WebSocket-Key";
		return 400;
	}
	char key[WS_CLIENT_KEY_LEN + 1];
	if (h[k].value.len != WS_CLIENT_KEY_LEN) {
		*why = "malformed Sec-WebSocket-Key";
		return 400;
	}
	memcpy(key, h[k].value.p, WS_CLIENT_KEY_LEN);
	key[WS_CLIENT_KEY_LEN] = 0;
	if (!ws_client_key_valid(key)) {
		*why = "malformed Sec-WebSocket-Key";
		return 400;
	}
	out->key = h[k].value;
	if (!target_path(req, &out->path, &out->query)) {
		*why = "the request target names no path";
		return 400;
	}
	const struct http_header *host = http_header_find(h, n, "Host");
	if (host)
		out->host = host->value;
	*why = "ok";
	return 0;
}

/* Appends to out; tracks overflow in *len (set to cap + 1 on overflow). */
static void put(char *out, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	if (*len >= cap)
		return;
	va_start(ap, fmt);
	int r = vsnprintf(out + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= cap - *len)
		*len = cap + 1;
	else
		*len += (size_t)r;
}

static bool extra_ok(const struct ws_extra_header *extra, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ws_header_name_ok(extra[i].name) || !ws_header_value_ok(extra[i].value))
			return false;
	return true;
}

static void put_extra(char *out, size_t cap, size_t *len, const struct ws_extra_header *extra, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(out, cap, len, "%s: %s\r\n", extra[i].name, extra[i].value);
}

ssize_t ws_upgrade_request_write(char *out, size_t cap, const char *host, const char *path, const char *key,
				 const struct ws_extra_header *extra, size_t n_extra)
{
	size_t len = 0;
	if (!out || !path_ok(path) || !host || !*host || !ws_header_value_ok(host) || !key ||
	    !ws_header_value_ok(key) || !extra_ok(extra, n_extra))
		return -1;
	put(out, cap, &len,
	    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
	    path, host, key);
	put_extra(out, cap, &len, extra, n_extra);
	put(out, cap, &len, "\r\n");
	return len > cap || len == cap ? -1 : (ssize_t)len;
}

ssize_t ws_upgrade_response_write(char *out, size_t cap, struct http_slice key, const struct ws_extra_header *extra,
				  size_t n_extra)
{
	char k[257], accept[WS_ACCEPT_KEY_LEN + 1];
	size_t len = 0;
	if (!out || key.len > 256 || !extra_ok(extra, n_extra))
		return -1;
	memcpy(k, key.p, key.len);
	k[key.len] = 0;
	if (ws_accept_key(k, accept) < 0)
		return -1;
	put(out, cap, &len,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n",
	    accept);
	put_extra(out, cap, &len, extra, n_extra);
	put(out, cap, &len, "\r\n");
	return len > cap || len == cap ? -1 : (ssize_t)len;
}

int ws_upgrade_response_check(const struct http_response *resp, const char *key, const char **why)
{
	const struct http_header *h = resp->headers;
	size_t n = resp->nheaders;
	const char *dummy;
	if (!why)
		why = &dummy;
	if (resp->status != 101) {
		*why = "the server did not switch protocols";
		return -1;
	}
	if (!http_header_has_token(h, n, "Upgrade", "websocket")) {
		*why = "the answer lacks \"Upgrade: websocket\"";
		return -1;
	}
	if (!http_header_has_token(h, n, "Connection", "upgrade")) {
		*why = "the answer's Connection field does not name upgrade";
		return -1;
	}
	ssize_t a = http_header_index(h, n, "Sec-WebSocket-Accept", 0);
	if (a < 0 || http_header_index(h, n, "Sec-WebSocket-Accept", (size_t)a + 1) >= 0 ||
	    h[a].value.len != WS_ACCEPT_KEY_LEN) {
		*why = "missing, repeated or malformed Sec-WebSocket-Accept";
		return -1;
	}
	char accept[WS_ACCEPT_KEY_LEN + 1];
	memcpy(accept, h[a].value.p, WS_ACCEPT_KEY_LEN);
	accept[WS_ACCEPT_KEY_LEN] = 0;
	if (!key || !ws_accept_key_matches(key, accept)) {
		*why = "Sec-WebSocket-Accept does not match the key sent";
		return -1;
	}
	if (http_header_find(h, n, "Sec-WebSocket-Extensions")) {
		*why = "the server chose an extension that was not offered";
		return -1;
	}
	if (http_header_find(h, n, "Sec-WebSocket-Protocol")) {
		*why = "the server chose a subprotocol that was not offered";
		return -1;
	}
	*why = "ok";
	return 0;
}

const char *ws_http_reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

ssize_t ws_http_error_write(char *out, size_t cap, int status, const char *body_text)
{
	size_t len = 0;
	if (!out || status < 100 || status > 999 || !body_text || !ws_header_value_ok(body_text))
		return -1;
	put(out, cap, &len, "HTTP/1.1 %d %s\r\n", status, ws_http_reason(status));
	if (status == 405)
		put(out, cap, &len, "Allow: GET\r\n");
	if (status == 426)
		put(out, cap, &len, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
	put(out, cap, &len, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	    strlen(body_text) + 1, body_text);
	return len > cap || len == cap ? -1 : (ssize_t)len;
}
