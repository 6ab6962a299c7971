/*
 * libFuzzer target for proto/http.c. The first input byte picks the head
 * limit; the rest is parsed as a request and as a response head, and then as
 * a chunked body. Checked: a shorter prefix never contradicts the whole
 * input (an error stays an error, a complete head stays the same head);
 * slices stay inside the buffer; a parsed head printed back canonically
 * parses to the same fields; the chunked scanner gives the same answer fed
 * at once or in pieces; Basic credentials round-trip; every helper runs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"

static const uint8_t *g_buf;
static size_t g_len;

static void in_buf(struct http_slice s)
{
	if (s.len && ((const uint8_t *)s.p < g_buf || (const uint8_t *)s.p + s.len > g_buf + g_len))
		abort();
}

static bool same(struct http_slice a, struct http_slice b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

static size_t put(char *o, size_t n, struct http_slice s)
{
	memcpy(o + n, s.p, s.len);
	return n + s.len;
}

static size_t put_fields(char *o, size_t n, const struct http_header *h, size_t nh)
{
	for (size_t i = 0; i < nh; i++) {
		n = put(o, n, h[i].name);
		memcpy(o + n, ": ", 2);
		n = put(o, n + 2, h[i].value);
		memcpy(o + n, "\r\n", 2);
		n += 2;
	}
	memcpy(o + n, "\r\n", 2);
	return n + 2;
}

static void same_fields(const struct http_header *a, size_t na, const struct http_header *b,
			size_t nb)
{
	if (na != nb)
		abort();
	for (size_t i = 0; i < na; i++)
		if (!same(a[i].name, b[i].name) || !same(a[i].value, b[i].value))
			abort();
}

static void check_headers(const struct http_header *h, size_t n)
{
	char buf[512];
	const char *u, *p;
	uint64_t cl;

	for (size_t i = 0; i < n; i++) {
		in_buf(h[i].name);
		in_buf(h[i].value);
		if (h[i].name.len == 0)
			abort();
		(void)http_is_hop_by_hop(h[i].name, h, n);
		(void)http_token_list_has(h[i].value, "close");
		if (http_basic_auth_decode(h[i].value, buf, sizeof buf, &u, &p) == 0) {
			char enc[1024], buf2[512];
			const char *u2, *p2;
			ssize_t e = http_basic_auth_encode(u, p, enc, sizeof enc);
			if (e < 0)
				abort();
			struct http_slice v = { enc, (size_t)e };
			if (http_basic_auth_decode(v, buf2, sizeof buf2, &u2, &p2) != 0 ||
			    strcmp(u, u2) != 0 || strcmp(p, p2) != 0)
				abort();
		}
		struct http_slice hp;
		uint16_t port;
		if (http_host_port_split(h[i].value.p, h[i].value.len, 80, &hp, &port) == 0 &&
		    (port == 0 || hp.len == 0))
			abort();
	}
	(void)http_content_length(h, n, &cl);
	(void)http_transfer_chunked(h, n);
	(void)http_keep_alive(1, h, n);
}

static void check_request(const uint8_t *d, size_t len, size_t max)
{
	static struct http_request req, req2, pre;
	ssize_t rc = http_request_parse(d, len, max, &req);
	ssize_t rp = http_request_parse(d, len / 2, max, &pre);

	if (rc > (ssize_t)len || (rp < 0 && rc >= 0) || (rp > 0 && rc != rp))
		abort();
	if (rc <= 0)
		return;
	in_buf(req.method);
	in_buf(req.target);
	if (req.method.len == 0 || req.target.len == 0 || req.nheaders > HTTP_MAX_HEADERS ||
	    (req.version_minor != 0 && req.version_minor != 1))
		abort();
	check_headers(req.headers, req.nheaders);

	char *o = malloc(2 * len + 32);
	size_t n = put(o, 0, req.method);
	o[n++] = ' ';
	n = put(o, n, req.target);
	memcpy(o + n, " HTTP/1.", 8);
	n += 8;
	o[n++] = (char)('0' + req.version_minor);
	o[n++] = '\r';
	o[n++] = '\n';
	n = put_fields(o, n, req.headers, req.nheaders);
	if (http_request_parse(o, n, n, &req2) != (ssize_t)n || !same(req.method, req2.method) ||
	    !same(req.target, req2.target) || req.version_minor != req2.version_minor ||
	    req.form != req2.form)
		abort();
	same_fields(req.headers, req.nheaders, req2.headers, req2.nheaders);
	free(o);

	struct http_slice host, q;
	uint16_t port;
	struct http_body body;
	struct http_uri uri;
	char val[64];
	if (http_request_authority(&req, 80, &host, &port) == 0 && (port == 0 || host.len == 0))
		abort();
	if (http_request_body(&req, &body) == 0 && body.kind != HTTP_BODY_NONE &&
	    body.kind != HTTP_BODY_LENGTH && body.kind != HTTP_BODY_CHUNKED)
		abort();
	if (req.form == HTTP_TARGET_ABSOLUTE &&
	    http_uri_parse(req.target.p, req.target.len, &uri) != 0)
		abort();
	q = http_target_query(req.target);
	in_buf(q);
	int g = http_query_get(q, "secret", val, sizeof val);
	if (g >= 0 && strlen(val) != (size_t)g)
		abort();
}

static void check_response(const uint8_t *d, size_t len, size_t max)
{
	static struct http_response resp, resp2, pre;
	ssize_t rc = http_response_parse(d, len, max, &resp);
	ssize_t rp = http_response_parse(d, len / 2, max, &pre);

	if (rc > (ssize_t)len || (rp < 0 && rc >= 0) || (rp > 0 && rc != rp))
		abort();
	if (rc <= 0)
		return;
	in_buf(resp.reason);
	if (resp.status < 100 || resp.status > 999)
		abort();
	check_headers(resp.headers, resp.nheaders);

	char *o = malloc(2 * len + 32);
	size_t n = (size_t)sprintf(o, "HTTP/1.%d %03d ", resp.version_minor, resp.status);
	n = put(o, n, resp.reason);
	o[n++] = '\r';
	o[n++] = '\n';
	n = put_fields(o, n, resp.headers, resp.nheaders);
	if (http_response_parse(o, n, n, &resp2) != (ssize_t)n || resp.status != resp2.status ||
	    !same(resp.reason, resp2.reason) || resp.version_minor != resp2.version_minor)
		abort();
	same_fields(resp.headers, resp.nheaders, resp2.headers, resp2.nheaders);
	free(o);

	struct http_body body;
	(void)http_response_body(&resp, (struct http_slice){ "GET", 3 }, &body);
}

/* The scanner fed all at once and fed in pieces sized by the data itself. */
static void check_chunked(const uint8_t *d, size_t len)
{
	struct http_chunked a, b;
	ssize_t ra, total = 0;
	size_t i = 0;
	bool err = false;

	http_chunked_init(&a);
	ra = http_chunked_scan(&a, d, len);
	http_chunked_init(&b);
	while (i < len) {
		size_t step = (size_t)(d[i] % 7) + 1;
		if (step > len - i)
			step = len - i;
		ssize_t r = http_chunked_scan(&b, d + i, step);
		if (r < 0) {
			err = true;
			break;
		}
		total += r;
		if ((size_t)r < step && !http_chunked_done(&b))
			abort();
		i += step;
	}
	if (ra < 0 ? !err : (err || ra != total || http_chunked_done(&a) != http_chunked_done(&b)))
		abort();
	if (ra >= 0 && !http_chunked_done(&a) && (size_t)ra != len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max = data[0] ? (size_t)data[0] * 16 : 0;
	g_buf = data + 1;
	g_len = size - 1;
	check_request(g_buf, g_len, max);
	check_response(g_buf, g_len, max);
	check_chunked(g_buf, g_len);

	struct http_uri uri;
	if (http_uri_parse((const char *)g_buf, g_len, &uri) == 0) {
		in_buf(uri.scheme);
		in_buf(uri.host);
		in_buf(uri.userinfo);
		in_buf(uri.query);
		if (uri.path.len == 0 || uri.host.len == 0)
			abort();
	}
	return 0;
}
