/* Unit tests for the HTTP/1.x head parser and its helpers (proto/http.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proto/http.h"

static struct http_request req;
static struct http_response resp;

#define REQ(s) http_request_parse(s, sizeof(s) - 1, 0, &req)
#define RESP(s) http_response_parse(s, sizeof(s) - 1, 0, &resp)
#define SL(s) ((struct http_slice){ s, sizeof(s) - 1 })

static void assert_slice(struct http_slice s, const char *want)
{
	if (s.len != strlen(want) || memcmp(s.p, want, s.len) != 0)
		fail_msg("slice \"%.*s\" != \"%s\"", (int)s.len, s.p, want);
}

/* ---- requests ---- */

static void test_request_origin_form(void **state)
{
	static const char r[] = "GET /index.html?x=1 HTTP/1.1\r\n"
				"Host: example.com\r\n"
				"X-Empty:\r\n"
				"Accept:  \t text/html \t\r\n"
				"\r\n"
				"BODY";
	(void)state;
	assert_int_equal(http_request_parse(r, sizeof r - 1, 0, &req), sizeof r - 1 - 4);
	assert_slice(req.method, "GET");
	assert_slice(req.target, "/index.html?x=1");
	assert_int_equal(req.form, HTTP_TARGET_ORIGIN);
	assert_int_equal(req.version_minor, 1);
	assert_int_equal(req.nheaders, 3);
	assert_slice(req.headers[0].name, "Host");
	assert_slice(req.headers[0].value, "example.com");
	assert_slice(req.headers[1].name, "X-Empty");
	assert_slice(req.headers[1].value, "");
	assert_slice(req.headers[2].value, "text/html");
	/* slices point into the caller's buffer */
	assert_ptr_equal(req.method.p, r);
	assert_ptr_equal(req.headers[0].value.p, r + 36);
}

static void test_request_bare_lf(void **state)
{
	(void)state;
	assert_int_equal(REQ("GET / HTTP/1.0\nHost: a\n\nrest"), 24);
	assert_int_equal(req.version_minor, 0);
	assert_slice(req.headers[0].value, "a");
	/* mixed line endings */
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost: a\n\r\n"), 26);
}

static void test_request_no_headers(void **state)
{
	(void)state;
	assert_int_equal(REQ("GET / HTTP/1.0\r\n\r\n"), 18);
	assert_int_equal(req.nheaders, 0);
}

static void test_request_every_prefix_needs_more(void **state)
{
	static const char r[] = "POST http://h:81/p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
	(void)state;
	for (size_t n = 0; n < sizeof r - 1; n++)
		assert_int_equal(http_request_parse(r, n, 0, &req), 0);
	assert_int_equal(http_request_parse(r, sizeof r - 1, 0, &req), sizeof r - 1);
}

static void test_request_leading_empty_lines(void **state)
{
	(void)state;
	assert_int_equal(REQ("\r\n\nGET / HTTP/1.1\r\n\r\n"), 21);
	assert_slice(req.method, "GET");
	assert_int_equal(REQ("\r\n"), 0);
	assert_int_equal(REQ("\r"), 0);
	assert_int_equal(REQ("\rGET / HTTP/1.1\r\n\r\n"), HTTP_ERR_REQUEST_LINE);
}

static void test_request_absolute_form(void **state)
{
	struct http_slice host;
	uint16_t port;
	(void)state;
	assert_true(REQ("GET http://example.com:8080/a?b=c HTTP/1.1\r\nHost: other\r\n\r\n") > 0);
	assert_int_equal(req.form, HTTP_TARGET_ABSOLUTE);
	assert_int_equal(http_request_authority(&req, 80, &host, &port), 0);
	assert_slice(host, "example.com");
	assert_int_equal(port, 8080);

	assert_true(REQ("GET https://example.com HTTP/1.1\r\n\r\n") > 0);
	assert_int_equal(http_request_authority(&req, 80, &host, &port), 0);
	assert_int_equal(port, 443);

	assert_int_equal(REQ("GET example.com/x HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
	assert_int_equal(REQ("GET http:/x HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
	assert_int_equal(REQ("GET http://bad host/ HTTP/1.1\r\n\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(REQ("GET http://bad|host/ HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
}

static void test_request_authority_form(void **state)
{
	struct http_slice host;
	uint16_t port;
	(void)state;
	assert_int_equal(REQ("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
			 59);
	assert_int_equal(req.form, HTTP_TARGET_AUTHORITY);
	assert_int_equal(http_request_authority(&req, 80, &host, &port), 0);
	assert_slice(host, "example.com");
	assert_int_equal(port, 443);

	assert_true(REQ("CONNECT [2001:db8::1]:22 HTTP/1.1\r\n\r\n") > 0);
	assert_int_equal(http_request_authority(&req, 0, &host, &port), 0);
	assert_slice(host, "2001:db8::1");
	assert_int_equal(port, 22);

	assert_int_equal(REQ("CONNECT example.com HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
	assert_int_equal(REQ("CONNECT example.com:0 HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
	assert_int_equal(REQ("CONNECT /x HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
	assert_int_equal(REQ("CONNECT http://a:1/ HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
	assert_int_equal(REQ("CONNECT 2001:db8::1:22 HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
}

static void test_request_asterisk_form(void **state)
{
	(void)state;
	assert_true(REQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
	assert_int_equal(req.form, HTTP_TARGET_ASTERISK);
	assert_int_equal(REQ("GET * HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
}

static void test_request_bad_request_line(void **state)
{
	(void)state;
	assert_int_equal(REQ("GET\r\n\r\n"), HTTP_ERR_REQUEST_LINE);
	assert_int_equal(REQ("GET /\r\n\r\n"), HTTP_ERR_REQUEST_LINE);
	assert_int_equal(REQ("GET  / HTTP/1.1\r\n\r\n"), HTTP_ERR_REQUEST_LINE);
	assert_int_equal(REQ("GET / HTTP/1.1 extra\r\n\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(REQ("GET /a b HTTP/1.1\r\n\r\n"), HTTP_ERR_VERSION);
}

static void test_request_bad_method(void **state)
{
	(void)state;
	assert_int_equal(REQ("G(T / HTTP/1.1\r\n\r\n"), HTTP_ERR_METHOD);
	assert_int_equal(REQ(" GET / HTTP/1.1\r\n\r\n"), HTTP_ERR_METHOD);
	assert_int_equal(REQ("G\x01T / HTTP/1.1\r\n\r\n"), HTTP_ERR_METHOD);
	/* refused before a whole line arrives: a TLS record, an SSH banner's NUL */
	assert_int_equal(REQ("\x16\x03\x01"), HTTP_ERR_METHOD);
	assert_int_equal(REQ("GE\x00"), HTTP_ERR_METHOD);
	assert_int_equal(REQ("GE"), 0);
}

static void test_request_bad_version(void **state)
{
	(void)state;
	assert_int_equal(REQ("GET / HTTP/2.0\r\n\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(REQ("GET / HTTP/1.2\r\n\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(REQ("GET / http/1.1\r\n\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(REQ("GET / HTTP/1.1 \r\n\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(REQ("GET / HTTP/1\r\n\r\n"), HTTP_ERR_VERSION);
}

static void test_request_bad_target(void **state)
{
	(void)state;
	assert_int_equal(REQ("GET /a\x01 HTTP/1.1\r\n\r\n"), HTTP_ERR_CONTROL_CHAR);
	assert_int_equal(REQ("GET /a\x7f HTTP/1.1\r\n\r\n"), HTTP_ERR_CONTROL_CHAR);
	assert_int_equal(REQ("GET /\xc3\xa9 HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
	assert_int_equal(REQ("GET /#frag HTTP/1.1\r\n\r\n"), HTTP_ERR_TARGET);
}

static void test_request_bad_headers(void **state)
{
	(void)state;
	assert_int_equal(REQ("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), HTTP_ERR_HEADER);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), HTTP_ERR_HEADER);
	assert_int_equal(REQ("GET / HTTP/1.1\r\n: a\r\n\r\n"), HTTP_ERR_HEADER);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nA(b: a\r\n\r\n"), HTTP_ERR_HEADER);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), HTTP_ERR_OBS_FOLD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n"), HTTP_ERR_OBS_FOLD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\n\tc\r\n\r\n"), HTTP_ERR_OBS_FOLD);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nA: b\x00" "c\r\n\r\n"), HTTP_ERR_CONTROL_CHAR);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"), HTTP_ERR_CONTROL_CHAR);
	assert_int_equal(REQ("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n"), HTTP_ERR_CONTROL_CHAR);
	/* obs-text is allowed in values */
	assert_true(REQ("GET / HTTP/1.1\r\nA: caf\xc3\xa9\r\n\r\n") > 0);
}

static void test_request_header_count(void **state)
{
	char buf[4096];
	size_t n;
	(void)state;

	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)sprintf(buf + n, "H%d: v\r\n", i);
	n += (size_t)sprintf(buf + n, "\r\n");
	assert_int_equal(http_request_parse(buf, n, 0, &req), (ssize_t)n);
	assert_int_equal(req.nheaders, HTTP_MAX_HEADERS);
	assert_slice(req.headers[63].name, "H63");

	n -= 2;
	n += (size_t)sprintf(buf + n, "One-Too-Many: v\r\n\r\n");
	assert_int_equal(http_request_parse(buf, n, 0, &req), HTTP_ERR_TOO_MANY_HEADERS);
}

static void test_request_too_large(void **state)
{
	static const char r[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"; /* 27 bytes */
	(void)state;
	assert_int_equal(http_request_parse(r, 27, 27, &req), 27);
	assert_int_equal(http_request_parse(r, 27, 26, &req), HTTP_ERR_TOO_LARGE);
	/* incomplete, and already as long as the limit */
	assert_int_equal(http_request_parse(r, 20, 20, &req), HTTP_ERR_TOO_LARGE);
	assert_int_equal(http_request_parse(r, 19, 20, &req), 0);
	/* one long request line */
	assert_int_equal(http_request_parse("GET /aaaaaaaaaa", 15, 10, &req), HTTP_ERR_TOO_LARGE);
	/* empty lines count */
	assert_int_equal(http_request_parse("\r\n\r\n\r\n", 6, 4, &req), HTTP_ERR_TOO_LARGE);
}

/* ---- responses ---- */

static void test_response_ok(void **state)
{
	static const char r[] = "HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n";
	(void)state;
	assert_int_equal(http_response_parse(r, sizeof r - 1, 0, &resp), sizeof r - 1);
	assert_int_equal(resp.version_minor, 1);
	assert_int_equal(resp.status, 200);
	assert_slice(resp.reason, "Connection established");
	assert_int_equal(resp.nheaders, 1);
	assert_slice(resp.headers[0].name, "Proxy-Agent");
	for (size_t n = 0; n < sizeof r - 1; n++)
		assert_int_equal(http_response_parse(r, n, 0, &resp), 0);

	assert_int_equal(RESP("HTTP/1.0 404 Not Found\n\n"), 24);
	assert_int_equal(resp.version_minor, 0);
	assert_int_equal(resp.status, 404);
	assert_int_equal(RESP("HTTP/1.1 204\r\n\r\n"), 16);
	assert_slice(resp.reason, "");
	assert_int_equal(RESP("HTTP/1.1 200 \r\n\r\n"), 17);
	assert_slice(resp.reason, "");
	assert_int_equal(RESP("HTTP/1.1 500 caf\xc3\xa9\r\n\r\n"), 22);
}

static void test_response_rejects(void **state)
{
	(void)state;
	assert_int_equal(RESP("HTTP/2 200 OK\r\n\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(RESP("HTTP/1.2 200 OK\r\n\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(RESP("HTTP/1.10 200 OK\r\n\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(RESP("SSH-2.0-x\r\n"), HTTP_ERR_VERSION);
	assert_int_equal(RESP("X"), HTTP_ERR_VERSION); /* early */
	assert_int_equal(RESP("HTTP/1."), 0);
	assert_int_equal(RESP("HTTP/1.1\r\n\r\n"), HTTP_ERR_STATUS);
	assert_int_equal(RESP("HTTP/1.1 20 OK\r\n\r\n"), HTTP_ERR_STATUS);
	assert_int_equal(RESP("HTTP/1.1 099 OK\r\n\r\n"), HTTP_ERR_STATUS);
	assert_int_equal(RESP("HTTP/1.1 2000 OK\r\n\r\n"), HTTP_ERR_STATUS);
	assert_int_equal(RESP("HTTP/1.1 2x0 OK\r\n\r\n"), HTTP_ERR_STATUS);
	assert_int_equal(RESP("HTTP/1.1 200 O\x01K\r\n\r\n"), HTTP_ERR_CONTROL_CHAR);
	assert_int_equal(RESP("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"), HTTP_ERR_HEADER);
	assert_int_equal(http_response_parse("HTTP/1.1 200 OK\r\n", 17, 17, &resp),
			 HTTP_ERR_TOO_LARGE);
}

/* ---- header helpers ---- */

static void test_header_lookup(void **state)
{
	(void)state;
	assert_true(REQ("GET / HTTP/1.1\r\nhost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n") > 0);
	const struct http_header *h = http_header_find(req.headers, req.nheaders, "HOST");
	assert_non_null(h);
	assert_slice(h->value, "a");
	assert_null(http_header_find(req.headers, req.nheaders, "Hos"));
	assert_null(http_header_find(req.headers, req.nheaders, "Hostx"));
	assert_int_equal(http_header_index(req.headers, req.nheaders, "X-a", 0), 1);
	assert_int_equal(http_header_index(req.headers, req.nheaders, "X-a", 2), 2);
	assert_int_equal(http_header_index(req.headers, req.nheaders, "X-a", 3), -1);
}

static void test_token_list(void **state)
{
	(void)state;
	assert_true(http_token_list_has(SL("keep-alive, Upgrade"), "upgrade"));
	assert_true(http_token_list_has(SL("keep-alive, Upgrade"), "Keep-Alive"));
	assert_true(http_token_list_has(SL(" ,\tclose ,,"), "close"));
	assert_false(http_token_list_has(SL("upgraded"), "upgrade"));
	assert_false(http_token_list_has(SL("up grade"), "upgrade"));
	assert_false(http_token_list_has(SL(""), "close"));
	assert_true(REQ("GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n\r\n") >
		    0);
	assert_true(http_header_has_token(req.headers, req.nheaders, "connection", "upgrade"));
	assert_false(http_header_has_token(req.headers, req.nheaders, "connection", "close"));
}

static void test_hop_by_hop(void **state)
{
	static const char *const hop[] = { "Connection", "keep-alive", "Proxy-Authenticate",
					   "proxy-authorization", "Proxy-Connection", "te",
					   "Trailer", "Transfer-Encoding", "UPGRADE" };
	(void)state;
	assert_true(REQ("GET / HTTP/1.1\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n\r\n") > 0);
	for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++) {
		struct http_slice s = { hop[i], strlen(hop[i]) };
		assert_true(http_is_hop_by_hop(s, req.headers, req.nheaders));
	}
	assert_true(http_is_hop_by_hop(SL("x-secret"), req.headers, req.nheaders));
	assert_false(http_is_hop_by_hop(SL("Host"), req.headers, req.nheaders));
	assert_false(http_is_hop_by_hop(SL("X-Secre"), req.headers, req.nheaders));
	assert_false(http_is_hop_by_hop(SL("X-Secret"), NULL, 0));
}

static void test_host_port_split(void **state)
{
	struct http_slice host;
	uint16_t port;
	char longhost[300];
	(void)state;

#define SPLIT(s, d) http_host_port_split(s, sizeof(s) - 1, d, &host, &port)
	assert_int_equal(SPLIT("example.com", 80), 0);
	assert_slice(host, "example.com");
	assert_int_equal(port, 80);
	assert_int_equal(SPLIT("Example.COM:8080", 80), 0);
	assert_slice(host, "Example.COM");
	assert_int_equal(port, 8080);
	assert_int_equal(SPLIT("10.0.0.1:65535", 0), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(SPLIT("[::1]:443", 0), 0);
	assert_slice(host, "::1");
	assert_int_equal(port, 443);
	assert_int_equal(SPLIT("[2001:db8::ffff:1.2.3.4]", 8080), 0);
	assert_slice(host, "2001:db8::ffff:1.2.3.4");
	assert_int_equal(port, 8080);
	assert_int_equal(SPLIT("host:", 80), 0);
	assert_int_equal(port, 80);

	assert_int_equal(SPLIT("example.com", 0), -1);
	assert_int_equal(SPLIT("host:", 0), -1);
	assert_int_equal(SPLIT("", 80), -1);
	assert_int_equal(SPLIT(":80", 80), -1);
	assert_int_equal(SPLIT("::1", 80), -1);
	assert_int_equal(SPLIT("host:0", 80), -1);
	assert_int_equal(SPLIT("host:65536", 80), -1);
	assert_int_equal(SPLIT("host:100000", 80), -1);
	assert_int_equal(SPLIT("host:+80", 80), -1);
	assert_int_equal(SPLIT("host:8o", 80), -1);
	assert_int_equal(SPLIT("host:80:81", 80), -1);
	assert_int_equal(SPLIT("[::1", 80), -1);
	assert_int_equal(SPLIT("[]:80", 80), -1);
	assert_int_equal(SPLIT("[zz::1]:80", 80), -1);
	assert_int_equal(SPLIT("[fe80::1%eth0]:80", 80), -1);
	assert_int_equal(SPLIT("[::1]x", 80), -1);
	assert_int_equal(SPLIT("ex ample", 80), -1);
	assert_int_equal(SPLIT("a/b", 80), -1);
	assert_int_equal(SPLIT("user@host", 80), -1);

	memset(longhost, 'a', sizeof longhost);
	assert_int_equal(http_host_port_split(longhost, 255, 80, &host, &port), 0);
	assert_int_equal(http_host_port_split(longhost, 256, 80, &host, &port), -1);
#undef SPLIT
}

static void test_uri_parse(void **state)
{
	struct http_uri u;
	(void)state;
#define URI(s) http_uri_parse(s, sizeof(s) - 1, &u)
	assert_int_equal(URI("http://example.com"), 0);
	assert_slice(u.scheme, "http");
	assert_slice(u.host, "example.com");
	assert_int_equal(u.port, 80);
	assert_false(u.port_explicit);
	assert_slice(u.path, "/");
	assert_false(u.has_query);

	assert_int_equal(URI("https://user:pw@Example.com:8443/a/b?x=1&y#frag"), 0);
	assert_slice(u.scheme, "https");
	assert_slice(u.userinfo, "user:pw");
	assert_slice(u.host, "Example.com");
	assert_int_equal(u.port, 8443);
	assert_true(u.port_explicit);
	assert_slice(u.path, "/a/b");
	assert_true(u.has_query);
	assert_slice(u.query, "x=1&y");

	assert_int_equal(URI("HTTP://[::1]/"), 0);
	assert_slice(u.host, "::1");
	assert_int_equal(u.port, 80);
	assert_false(u.port_explicit);
	assert_int_equal(URI("wss://h?q"), 0);
	assert_int_equal(u.port, 443);
	assert_slice(u.path, "/");
	assert_slice(u.query, "q");
	assert_int_equal(URI("ws://h:"), 0);
	assert_int_equal(u.port, 80);
	assert_false(u.port_explicit);
	assert_int_equal(URI("svn+ssh://h/x"), 0);
	assert_int_equal(u.port, 0);
	assert_int_equal(URI("socks5://h:1080"), 0);
	assert_int_equal(u.port, 1080);

	assert_int_equal(URI("http:/h"), -1);
	assert_int_equal(URI("http//h"), -1);
	assert_int_equal(URI("://h"), -1);
	assert_int_equal(URI("1http://h"), -1);
	assert_int_equal(URI("ht_tp://h"), -1);
	assert_int_equal(URI("http://"), -1);
	assert_int_equal(URI("http:///x"), -1);
	assert_int_equal(URI("http://a@b@c/"), -1);
	assert_int_equal(URI("http://h:99999/"), -1);
#undef URI
}

static void test_request_authority_host_header(void **state)
{
	struct http_slice host;
	uint16_t port;
	(void)state;
	assert_true(REQ("GET / HTTP/1.1\r\nHost: p22.myserver.example.com:4053\r\n\r\n") > 0);
	assert_int_equal(http_request_authority(&req, 80, &host, &port), 0);
	assert_slice(host, "p22.myserver.example.com");
	assert_int_equal(port, 4053);
	assert_true(REQ("GET / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
	assert_int_equal(http_request_authority(&req, 80, &host, &port), 0);
	assert_int_equal(port, 80);

	assert_true(REQ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") > 0);
	assert_int_equal(http_request_authority(&req, 80, &host, &port), -1);
	assert_true(REQ("GET / HTTP/1.0\r\n\r\n") > 0);
	assert_int_equal(http_request_authority(&req, 80, &host, &port), -1);
	assert_true(REQ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") > 0);
	assert_int_equal(http_request_authority(&req, 80, &host, &port), -1);
	assert_true(REQ("GET ftp://h/ HTTP/1.1\r\n\r\n") > 0);
	assert_int_equal(http_request_authority(&req, 0, &host, &port), -1);
	assert_int_equal(http_request_authority(&req, 21, &host, &port), 0);
	assert_int_equal(port, 21);
}

/* ---- framing ---- */

static void test_content_length(void **state)
{
	uint64_t v = 7;
	(void)state;
#define CL(h) (REQ("GET / HTTP/1.1\r\n" h "\r\n") > 0 ? \
	       http_content_length(req.headers, req.nheaders, &v) : -99)
	assert_int_equal(CL(""), 0);
	assert_int_equal(v, 7);
	assert_int_equal(CL("Content-Length: 42\r\n"), 1);
	assert_int_equal(v, 42);
	assert_int_equal(CL("content-length: 0\r\n"), 1);
	assert_int_equal(v, 0);
	assert_int_equal(CL("Content-Length: 5, 5\r\n"), 1);
	assert_int_equal(v, 5);
	assert_int_equal(CL("Content-Length: 5\r\nContent-Length: 5\r\n"), 1);
	assert_int_equal(CL("Content-Length: 18446744073709551\r\n"), 1);
	assert_true(v == 18446744073709551ULL);

	assert_int_equal(CL("Content-Length: 5, 6\r\n"), -1);
	assert_int_equal(CL("Content-Length: 5\r\nContent-Length: 6\r\n"), -1);
	assert_int_equal(CL("Content-Length: -1\r\n"), -1);
	assert_int_equal(CL("Content-Length: +5\r\n"), -1);
	assert_int_equal(CL("Content-Length: 0x10\r\n"), -1);
	assert_int_equal(CL("Content-Length: 1 2\r\n"), -1);
	assert_int_equal(CL("Content-Length:\r\n"), -1);
	assert_int_equal(CL("Content-Length: 99999999999999999999\r\n"), -1);
#undef CL
}

static void test_transfer_chunked(void **state)
{
	(void)state;
#define TE(h) (REQ("GET / HTTP/1.1\r\n" h "\r\n") > 0 ? \
	       http_transfer_chunked(req.headers, req.nheaders) : -99)
	assert_int_equal(TE(""), 0);
	assert_int_equal(TE("Transfer-Encoding: chunked\r\n"), 1);
	assert_int_equal(TE("Transfer-Encoding: CHUNKED\r\n"), 1);
	assert_int_equal(TE("Transfer-Encoding: gzip, chunked\r\n"), 1);
	assert_int_equal(TE("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), 1);
	assert_int_equal(TE("Transfer-Encoding: chunked, gzip\r\n"), -1);
	assert_int_equal(TE("Transfer-Encoding: chunked, chunked\r\n"), -1);
	assert_int_equal(TE("Transfer-Encoding: gzip\r\n"), -1);
	assert_int_equal(TE("Transfer-Encoding: xchunked\r\n"), -1);
	assert_int_equal(TE("Transfer-Encoding:\r\n"), -1);
#undef TE
}

static void test_request_body(void **state)
{
	struct http_body b;
	(void)state;
#define RB(s) (REQ(s) > 0 ? http_request_body(&req, &b) : -99)
	assert_int_equal(RB("GET / HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(b.kind, HTTP_BODY_NONE);
	assert_int_equal(RB("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 0);
	assert_int_equal(b.kind, HTTP_BODY_NONE);
	assert_int_equal(RB("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"), 0);
	assert_int_equal(b.kind, HTTP_BODY_LENGTH);
	assert_int_equal(b.length, 12);
	assert_int_equal(RB("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
	assert_int_equal(b.kind, HTTP_BODY_CHUNKED);

	assert_int_equal(
		RB("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), -1);
	assert_int_equal(RB("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), -1);
	assert_int_equal(RB("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -1);
	assert_int_equal(RB("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), -1);
#undef RB
}

static void test_response_body(void **state)
{
	struct http_body b;
	(void)state;
#define RSB(s, m) (RESP(s) > 0 ? http_response_body(&resp, SL(m), &b) : -99)
	assert_int_equal(RSB("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "GET"), 0);
	assert_int_equal(b.kind, HTTP_BODY_LENGTH);
	assert_int_equal(b.length, 10);
	assert_int_equal(RSB("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET"), 0);
	assert_int_equal(b.kind, HTTP_BODY_NONE);
	assert_int_equal(RSB("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD"), 0);
	assert_int_equal(b.kind, HTTP_BODY_NONE);
	assert_int_equal(RSB("HTTP/1.1 204 No Content\r\n\r\n", "GET"), 0);
	assert_int_equal(b.kind, HTTP_BODY_NONE);
	assert_int_equal(RSB("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", "GET"), 0);
	assert_int_equal(b.kind, HTTP_BODY_NONE);
	assert_int_equal(RSB("HTTP/1.1 100 Continue\r\n\r\n", "POST"), 0);
	assert_int_equal(b.kind, HTTP_BODY_NONE);
	assert_int_equal(RSB("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
			     "GET"),
			 0);
	assert_int_equal(b.kind, HTTP_BODY_TUNNEL);
	assert_int_equal(RSB("HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT"), 0);
	assert_int_equal(b.kind, HTTP_BODY_TUNNEL);
	assert_int_equal(RSB("HTTP/1.1 407 Auth\r\nContent-Length: 3\r\n\r\n", "CONNECT"), 0);
	assert_int_equal(b.kind, HTTP_BODY_LENGTH);
	assert_int_equal(
		RSB("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		    "GET"),
		0);
	assert_int_equal(b.kind, HTTP_BODY_CHUNKED);
	assert_int_equal(RSB("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET"), 0);
	assert_int_equal(b.kind, HTTP_BODY_UNTIL_CLOSE);
	assert_int_equal(RSB("HTTP/1.0 200 OK\r\n\r\n", "GET"), 0);
	assert_int_equal(b.kind, HTTP_BODY_UNTIL_CLOSE);
	assert_int_equal(RSB("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "GET"), -1);
#undef RSB
}

static void test_keep_alive(void **state)
{
	(void)state;
	assert_true(REQ("GET / HTTP/1.1\r\n\r\n") > 0);
	assert_true(http_keep_alive(req.version_minor, req.headers, req.nheaders));
	assert_true(REQ("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n") > 0);
	assert_false(http_keep_alive(req.version_minor, req.headers, req.nheaders));
	assert_true(REQ("GET / HTTP/1.0\r\n\r\n") > 0);
	assert_false(http_keep_alive(req.version_minor, req.headers, req.nheaders));
	assert_true(REQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
	assert_true(http_keep_alive(req.version_minor, req.headers, req.nheaders));
}

/* ---- Basic credentials ---- */

static void test_basic_auth_decode(void **state)
{
	char buf[64];
	const char *u, *p;
	(void)state;
	/* RFC 7617 2 */
	assert_int_equal(http_basic_auth_decode(SL("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), buf,
						sizeof buf, &u, &p),
			 0);
	assert_string_equal(u, "Aladdin");
	assert_string_equal(p, "open sesame");
	assert_int_equal(http_basic_auth_decode(SL("basic  dXNlcjpwOmFzcw=="), buf, sizeof buf, &u,
						&p),
			 0);
	assert_string_equal(u, "user");
	assert_string_equal(p, "p:ass");
	/* ":" alone: empty user and password */
	assert_int_equal(http_basic_auth_decode(SL("Basic Og=="), buf, sizeof buf, &u, &p), 0);
	assert_string_equal(u, "");
	assert_string_equal(p, "");
	/* exactly fits: "a:b" needs 4 bytes */
	assert_int_equal(http_basic_auth_decode(SL("Basic YTpi"), buf, 4, &u, &p), 0);
	assert_string_equal(p, "b");

	assert_int_equal(http_basic_auth_decode(SL("Basic YTpi"), buf, 3, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Bearer YTpi"), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("BasicYTpi"), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic"), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic "), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic YTp"), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic YTpi="), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic YT=i"), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic Y==="), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic YTpi!A=="), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic YT==YTpi"), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic YTpi YTpi"), buf, sizeof buf, &u, &p),
			 -1);
	/* "user" has no colon */
	assert_int_equal(http_basic_auth_decode(SL("Basic dXNlcg=="), buf, sizeof buf, &u, &p), -1);
	/* "a:\x01" and "a\x00:b" */
	assert_int_equal(http_basic_auth_decode(SL("Basic YToB"), buf, sizeof buf, &u, &p), -1);
	assert_int_equal(http_basic_auth_decode(SL("Basic YQA6Yg=="), buf, sizeof buf, &u, &p), -1);
}

static void test_basic_auth_encode(void **state)
{
	char out[64], buf[64];
	const char *u, *p;
	static const char *const pw[] = { "", "x", "xy", "xyz", "p:ass w\xc3\xb6rd" };
	(void)state;
	assert_int_equal(http_basic_auth_encode("Aladdin", "open sesame", out, sizeof out), 34);
	assert_string_equal(out, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
	assert_int_equal(http_basic_auth_encode("a", "b", out, 11), 10);
	assert_string_equal(out, "Basic YTpi");
	assert_int_equal(http_basic_auth_encode("a", "b", out, 10), -1);
	assert_int_equal(http_basic_auth_encode("a:b", "c", out, sizeof out), -1);
	for (size_t i = 0; i < sizeof pw / sizeof pw[0]; i++) {
		ssize_t n = http_basic_auth_encode("user", pw[i], out, sizeof out);
		assert_true(n > 0);
		struct http_slice v = { out, (size_t)n };
		assert_int_equal(http_basic_auth_decode(v, buf, sizeof buf, &u, &p), 0);
		assert_string_equal(u, "user");
		assert_string_equal(p, pw[i]);
	}
}

/* ---- chunked bodies ---- */

static void test_chunked_whole(void **state)
{
	static const char body[] = "4\r\nWiki\r\n5;name=val\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
				   "0\r\n\r\nGET /next HTTP/1.1\r\n";
	struct http_chunked c;
	size_t end = sizeof body - 1 - 20;
	(void)state;

	http_chunked_init(&c);
	assert_int_equal(http_chunked_scan(&c, body, sizeof body - 1), end);
	assert_true(http_chunked_done(&c));
	assert_int_equal(http_chunked_scan(&c, "x", 1), 0);

	/* byte by byte, and in two halves at every split point */
	http_chunked_init(&c);
	for (size_t i = 0; i < end; i++) {
		assert_false(http_chunked_done(&c));
		assert_int_equal(http_chunked_scan(&c, body + i, 1), 1);
	}
	assert_true(http_chunked_done(&c));
	for (size_t k = 0; k <= end; k++) {
		http_chunked_init(&c);
		ssize_t a = http_chunked_scan(&c, body, k);
		assert_int_equal(a, k == end ? (ssize_t)end : (ssize_t)k);
		ssize_t b = http_chunked_scan(&c, body + k, sizeof body - 1 - k);
		assert_int_equal((size_t)(a + b), end);
		assert_true(http_chunked_done(&c));
	}
}

static void test_chunked_trailers_and_sizes(void **state)
{
	static const char body[] = "1A \r\nabcdefghijklmnopqrstuvwxyz\r\n000\r\n"
				   "Expires: never\r\nX-Sum: 1\r\n\r\n";
	struct http_chunked c;
	(void)state;
	http_chunked_init(&c);
	assert_int_equal(http_chunked_scan(&c, body, sizeof body - 1), sizeof body - 1);
	assert_true(http_chunked_done(&c));

	/* a 16-digit size is fine, data is counted without being looked at */
	http_chunked_init(&c);
	assert_int_equal(http_chunked_scan(&c, "0000000000000003\r\n\r\n\n", 21), 21);
	assert_false(http_chunked_done(&c));
	assert_int_equal(http_chunked_scan(&c, "\r\n0\r\n\r\n", 7), 7);
	assert_true(http_chunked_done(&c));
}

static void test_chunked_rejects(void **state)
{
	static const char *const bad[] = {
		"x\r\n",		/* not hex */
		"\r\n",			/* no size */
		" 5\r\n",		/* leading space */
		"-5\r\n",		/* sign */
		"5\n",			/* bare LF after size */
		"5;a\n",		/* bare LF after extension */
		"5;a\x01\r\n",		/* control byte in extension */
		"1\r\nab\r\n",		/* data longer than its size */
		"1\r\na\n0\r\n\r\n",	/* bare LF after data */
		"10000000000000000\r\n", /* 17 digits */
		"0\r\n\n",		/* bare LF at the end */
		"0\r\n X: 1\r\n\r\n",	/* folded trailer */
		"0\r\n:x\r\n\r\n",	/* trailer without name */
		"0\r\nX: \x01\r\n\r\n", /* control byte in trailer */
		"0\r\nX: 1\n\r\n",	/* bare LF in trailer */
		"0\r\n\rx",		/* CR not followed by LF */
	};
	struct http_chunked c;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		http_chunked_init(&c);
		if (http_chunked_scan(&c, bad[i], strlen(bad[i])) != -1)
			fail_msg("accepted bad chunked body %zu", i);
		/* the error sticks */
		assert_int_equal(http_chunked_scan(&c, "0\r\n\r\n", 5), -1);
		assert_int_equal(http_chunked_scan(&c, "", 0), -1);
	}

	char ext[HTTP_CHUNKED_EXT_MAX + 8];
	http_chunked_init(&c);
	ext[0] = '1';
	memset(ext + 1, 'a', sizeof ext - 1);
	ext[1] = ';';
	assert_int_equal(http_chunked_scan(&c, ext, HTTP_CHUNKED_EXT_MAX + 1), HTTP_CHUNKED_EXT_MAX + 1);
	assert_int_equal(http_chunked_scan(&c, ext + 2, 1), -1);

	static char trailer[HTTP_CHUNKED_TRAILER_MAX + 16];
	http_chunked_init(&c);
	memset(trailer, 'a', sizeof trailer);
	memcpy(trailer, "0\r\nX:", 5);
	assert_int_equal(http_chunked_scan(&c, trailer, 3 + HTTP_CHUNKED_TRAILER_MAX),
			 3 + HTTP_CHUNKED_TRAILER_MAX);
	assert_int_equal(http_chunked_scan(&c, "a", 1), -1);
}

/* ---- query strings ---- */

static void test_query_get(void **state)
{
	char out[32];
	struct http_slice q;
	(void)state;

	assert_true(REQ("GET /relay?subdomain=myserver&secret=K%2Bx%2f%20y+z#f HTTP/1.1\r\n\r\n") ==
		    HTTP_ERR_TARGET);
	assert_true(REQ("GET /relay?subdomain=myserver&secret=K%2Bx%2f%20y+z HTTP/1.1\r\n\r\n") > 0);
	q = http_target_query(req.target);
	assert_slice(q, "subdomain=myserver&secret=K%2Bx%2f%20y+z");
	assert_int_equal(http_query_get(q, "subdomain", out, sizeof out), 8);
	assert_string_equal(out, "myserver");
	assert_int_equal(http_query_get(q, "secret", out, sizeof out), 8);
	assert_string_equal(out, "K+x/ y z");
	assert_int_equal(http_query_get(q, "sub", out, sizeof out), HTTP_QUERY_NOT_FOUND);
	assert_int_equal(http_query_get(q, "subdomain=myserver", out, sizeof out),
			 HTTP_QUERY_NOT_FOUND);

	q = SL("a=1&flag&&%62=2&a=3&e=&bad=%zz&nul=%00&short=%4");
	assert_int_equal(http_query_get(q, "a", out, sizeof out), 1);
	assert_string_equal(out, "1"); /* first wins */
	assert_int_equal(http_query_get(q, "flag", out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_int_equal(http_query_get(q, "b", out, sizeof out), 1);
	assert_string_equal(out, "2");
	assert_int_equal(http_query_get(q, "e", out, sizeof out), 0);
	assert_int_equal(http_query_get(q, "bad", out, sizeof out), HTTP_QUERY_BAD);
	assert_int_equal(http_query_get(q, "nul", out, sizeof out), HTTP_QUERY_BAD);
	assert_int_equal(http_query_get(q, "short", out, sizeof out), HTTP_QUERY_BAD);
	assert_int_equal(http_query_get(q, "", out, sizeof out), HTTP_QUERY_NOT_FOUND);
	assert_int_equal(http_query_get(SL("k=abc"), "k", out, 4), 3);
	assert_int_equal(http_query_get(SL("k=abc"), "k", out, 3), HTTP_QUERY_BAD);
	assert_int_equal(http_query_get(SL(""), "k", out, sizeof out), HTTP_QUERY_NOT_FOUND);

	assert_slice(http_target_query(SL("/p")), "");
	assert_slice(http_target_query(SL("/p?")), "");
	assert_slice(http_target_query(SL("/p?a=1#x?y")), "a=1");
}

static void test_error_strings(void **state)
{
	(void)state;
	for (int e = HTTP_ERR_TOO_LARGE; e <= HTTP_ERR_REQUEST_LINE; e++)
		assert_string_not_equal(http_error_str(e), "unknown error");
	assert_string_equal(http_error_str(0), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_origin_form),
		cmocka_unit_test(test_request_bare_lf),
		cmocka_unit_test(test_request_no_headers),
		cmocka_unit_test(test_request_every_prefix_needs_more),
		cmocka_unit_test(test_request_leading_empty_lines),
		cmocka_unit_test(test_request_absolute_form),
		cmocka_unit_test(test_request_authority_form),
		cmocka_unit_test(test_request_asterisk_form),
		cmocka_unit_test(test_request_bad_request_line),
		cmocka_unit_test(test_request_bad_method),
		cmocka_unit_test(test_request_bad_version),
		cmocka_unit_test(test_request_bad_target),
		cmocka_unit_test(test_request_bad_headers),
		cmocka_unit_test(test_request_header_count),
		cmocka_unit_test(test_request_too_large),
		cmocka_unit_test(test_response_ok),
		cmocka_unit_test(test_response_rejects),
		cmocka_unit_test(test_header_lookup),
		cmocka_unit_test(test_token_list),
		cmocka_unit_test(test_hop_by_hop),
		cmocka_unit_test(test_host_port_split),
		cmocka_unit_test(test_uri_parse),
		cmocka_unit_test(test_request_authority_host_header),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_transfer_chunked),
		cmocka_unit_test(test_request_body),
		cmocka_unit_test(test_response_body),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_basic_auth_decode),
		cmocka_unit_test(test_basic_auth_encode),
		cmocka_unit_test(test_chunked_whole),
		cmocka_unit_test(test_chunked_trailers_and_sizes),
		cmocka_unit_test(test_chunked_rejects),
		cmocka_unit_test(test_query_get),
		cmocka_unit_test(test_error_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
