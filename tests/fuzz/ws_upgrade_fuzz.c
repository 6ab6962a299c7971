/*
 * libFuzzer target for the WebSocket opening handshake (proto/ws_upgrade.c)
 * over the HTTP head parser. The input is read as an upgrade request: when
 * the check accepts it, the slices must lie in the buffer, the key must give
 * a 101 answer that the client-side check accepts for that key and refuses
 * for another, and the request written back from path, host and key must
 * check again. When the check refuses, the status must have an error answer
 * that parses. The input is also read as a server's answer to a fixed key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws_upgrade.h"

static const uint8_t *g_buf;
static size_t g_len;

static void in_buf(struct http_slice s)
{
	if (s.len && ((const uint8_t *)s.p < g_buf || (const uint8_t *)s.p + s.len > g_buf + g_len))
		abort();
}

static void accepted(const struct ws_upgrade_request *u)
{
	static char out[HTTP_HEAD_MAX_DEFAULT + 512];
	struct http_response resp;
	const char *why;
	char key[64];

	/* An absolute-form target without a path gets the constant "/" (http_uri_parse), not a slice. */
	if (!(u->path.len == 1 && u->path.p[0] == '/'))
		in_buf(u->path);
	in_buf(u->query);
	in_buf(u->key);
	in_buf(u->host);
	ssize_t n = ws_upgrade_response_write(out, sizeof out, u->key, NULL, 0);
	if (n <= 0 || http_response_parse(out, (size_t)n, 0, &resp) != n)
		abort();
	if (u->key.len >= sizeof key)
		abort();
	memcpy(key, u->key.p, u->key.len);
	key[u->key.len] = 0;
	if (ws_upgrade_response_check(&resp, key, &why) != 0)
		abort();
	key[0] = key[0] == 'A' ? 'B' : 'A';
	if (ws_upgrade_response_check(&resp, key, &why) == 0)
		abort();
	key[0] = u->key.p[0];

	/* Write the request back from its parts: it must check again. */
	char path[2048], host[512];
	if (u->path.len + 1 + u->query.len >= sizeof path || u->host.len >= sizeof host)
		return;
	memcpy(path, u->path.p, u->path.len);
	size_t pl = u->path.len;
	if (u->query.len) {
		path[pl++] = '?';
		memcpy(path + pl, u->query.p, u->query.len);
		pl += u->query.len;
	}
	path[pl] = 0;
	memcpy(host, u->host.p, u->host.len);
	host[u->host.len] = 0;
	n = ws_upgrade_request_write(out, sizeof out, host, path, key, NULL, 0);
	if (n <= 0)
		return; /* a path or host the writer will not put on the wire */
	static struct http_request req2;
	struct ws_upgrade_request u2;
	if (http_request_parse(out, (size_t)n, 0, &req2) != n)
		return; /* e.g. a path that is no valid origin-form target */
	if (ws_upgrade_request_check(&req2, &u2, &why) != 0)
		abort();
	if (u2.key.len != u->key.len || memcmp(u2.key.p, u->key.p, u->key.len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req;
	static struct http_response resp;
	static char out[1024];
	const char *why = NULL;

	g_buf = data;
	g_len = size;
	ssize_t n = http_request_parse(data, size, 0, &req);
	if (n > 0) {
		struct ws_upgrade_request u;
		int st = ws_upgrade_request_check(&req, &u, &why);
		if (!why)
			abort();
		if (st == 0) {
			accepted(&u);
		} else {
			if (st != 400 && st != 405 && st != 426)
				abort();
			ssize_t m = ws_http_error_write(out, sizeof out, st, why);
			if (m <= 0 || http_response_parse(out, (size_t)m, 0, &resp) <= 0 || resp.status != st)
				abort();
		}
		(void)ws_upgrade_requested(&req);
	}
	n = http_response_parse(data, size, 0, &resp);
	if (n > 0)
		(void)ws_upgrade_response_check(&resp, "dGhlIHNhbXBsZSBub25jZQ==", &why);
	return 0;
}
