/* Unit tests for the WebSocket opening handshake helpers (proto/ws_upgrade.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/ws_upgrade.h"

/* RFC 6455 1.3 sample key and its accept value. */
#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int check_req(const char *text, struct ws_upgrade_request *u, const char **why)
{
	static struct http_request req;
	ssize_t n = http_request_parse(text, strlen(text), 0, &req);
	assert_true(n > 0);
	return ws_upgrade_request_check(&req, u, why);
}

static void test_rfc_request(void **state)
{
	struct ws_upgrade_request u;
	const char *why;
	(void)state;
	assert_int_equal(check_req("GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
				   "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
				   "Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n\r\n",
				   &u, &why),
			 0);
	assert_true(http_slice_eq(u.path, "/chat"));
	assert_true(http_slice_eq(u.query, "x=1"));
	assert_true(http_slice_eq(u.key, SAMPLE_KEY));
	assert_true(http_slice_eq(u.host, "server.example.com"));
}

static void test_absolute_target(void **state)
{
	struct ws_upgrade_request u;
	(void)state;
	assert_int_equal(check_req("GET http://h:8080/ws HTTP/1.1\r\nHost: h:8080\r\nUpgrade: WebSocket\r\n"
				   "Connection: upgrade\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
				   "Sec-WebSocket-Version: 13\r\n\r\n",
				   &u, NULL),
			 0);
	assert_true(http_slice_eq(u.path, "/ws"));
	assert_int_equal(u.query.len, 0);
}

static void test_refusals(void **state)
{
	struct ws_upgrade_request u;
	const char *why = NULL;
	(void)state;
	/* A plain GET: 426, so the client learns what this port speaks. */
	assert_int_equal(check_req("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", &u, &why), 426);
	assert_non_null(why);
	assert_int_equal(check_req("POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n", &u, &why), 405);
	assert_int_equal(check_req("GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
				   "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
				   &u, &why),
			 400);
	assert_int_equal(check_req("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
				   "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
				   &u, &why),
			 400);
	assert_int_equal(check_req("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				   "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n",
				   &u, &why),
			 426);
	assert_int_equal(check_req("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				   "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
				   &u, &why),
			 400);
	assert_int_equal(check_req("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				   "Sec-WebSocket-Version: 13\r\n\r\n",
				   &u, &why),
			 400);
	assert_int_equal(check_req("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				   "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
				   "Sec-WebSocket-Version: 13\r\n\r\n",
				   &u, &why),
			 400);
}

static void test_response_round_trip(void **state)
{
	char buf[1024];
	struct http_response resp;
	struct http_slice key = { SAMPLE_KEY, sizeof SAMPLE_KEY - 1 };
	struct ws_extra_header extra[] = { { "X-Served-By", "portway" } };
	const char *why;
	(void)state;
	ssize_t n = ws_upgrade_response_write(buf, sizeof buf, key, extra, 1);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "Sec-WebSocket-Accept: " SAMPLE_ACCEPT "\r\n"));
	assert_non_null(strstr(buf, "X-Served-By: portway\r\n"));
	assert_int_equal(http_response_parse(buf, (size_t)n, 0, &resp), n);
	assert_int_equal(ws_upgrade_response_check(&resp, SAMPLE_KEY, &why), 0);
	assert_int_equal(ws_upgrade_response_check(&resp, "AAAAAAAAAAAAAAAAAAAAAA==", &why), -1);
	/* Too small a buffer. */
	assert_int_equal(ws_upgrade_response_write(buf, 40, key, NULL, 0), -1);
}

static void test_response_refusals(void **state)
{
	struct http_response resp;
	const char *why;
	const char *texts[] = {
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " SAMPLE_ACCEPT "\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " SAMPLE_ACCEPT "\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
		SAMPLE_ACCEPT "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		assert_true(http_response_parse(texts[i], strlen(texts[i]), 0, &resp) > 0);
		assert_int_equal(ws_upgrade_response_check(&resp, SAMPLE_KEY, &why), -1);
	}
}

static void test_request_write(void **state)
{
	char buf[1024];
	struct http_request req;
	struct ws_upgrade_request u;
	struct ws_extra_header extra[] = { { "User-Agent", "portway" } };
	struct ws_extra_header bad[] = { { "X-A", "b\r\nX-Injected: 1" } };
	(void)state;
	ssize_t n = ws_upgrade_request_write(buf, sizeof buf, "example.com:80", "/ws?a=b", SAMPLE_KEY, extra, 1);
	assert_true(n > 0);
	assert_int_equal(http_request_parse(buf, (size_t)n, 0, &req), n);
	assert_int_equal(ws_upgrade_request_check(&req, &u, NULL), 0);
	assert_true(http_slice_eq(u.path, "/ws"));
	assert_true(http_slice_eq(u.host, "example.com:80"));
	assert_int_equal(ws_upgrade_request_write(buf, sizeof buf, "h", "/ws", SAMPLE_KEY, bad, 1), -1);
	assert_int_equal(ws_upgrade_request_write(buf, sizeof buf, "h", "ws", SAMPLE_KEY, NULL, 0), -1);
	assert_int_equal(ws_upgrade_request_write(buf, sizeof buf, "h", "/a b", SAMPLE_KEY, NULL, 0), -1);
	assert_int_equal(ws_upgrade_request_write(buf, sizeof buf, "h\n", "/ws", SAMPLE_KEY, NULL, 0), -1);
	assert_int_equal(ws_upgrade_request_write(buf, 20, "h", "/ws", SAMPLE_KEY, NULL, 0), -1);
}

static void test_error_write(void **state)
{
	char buf[512];
	struct http_response resp;
	(void)state;
	ssize_t n = ws_http_error_write(buf, sizeof buf, 426, "not a WebSocket upgrade");
	assert_true(n > 0);
	assert_int_equal(http_response_parse(buf, (size_t)n, 0, &resp), (ssize_t)(strstr(buf, "\r\n\r\n") - buf + 4));
	assert_int_equal(resp.status, 426);
	assert_non_null(http_header_find(resp.headers, resp.nheaders, "Sec-WebSocket-Version"));
	uint64_t cl;
	assert_int_equal(http_content_length(resp.headers, resp.nheaders, &cl), 1);
	assert_int_equal(cl, strlen("not a WebSocket upgrade\n"));
	assert_non_null(strstr(buf, "\r\n\r\nnot a WebSocket upgrade\n"));
	n = ws_http_error_write(buf, sizeof buf, 405, "x");
	assert_non_null(strstr(buf, "Allow: GET\r\n"));
	assert_int_equal(ws_http_error_write(buf, sizeof buf, 400, "a\r\nb"), -1);
	assert_int_equal(ws_http_error_write(buf, 30, 400, "x"), -1);
	assert_string_equal(ws_http_reason(431), "Request Header Fields Too Large");
}

static void test_header_checks(void **state)
{
	(void)state;
	assert_true(ws_header_name_ok("X-Token"));
	assert_false(ws_header_name_ok("X Token"));
	assert_false(ws_header_name_ok(""));
	assert_false(ws_header_name_ok("X:"));
	assert_true(ws_header_value_ok("a b\tc"));
	assert_false(ws_header_value_ok("a\rb"));
	assert_false(ws_header_value_ok("a\x7f"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_request),     cmocka_unit_test(test_absolute_target),
		cmocka_unit_test(test_refusals),        cmocka_unit_test(test_response_round_trip),
		cmocka_unit_test(test_response_refusals), cmocka_unit_test(test_request_write),
		cmocka_unit_test(test_error_write),     cmocka_unit_test(test_header_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
