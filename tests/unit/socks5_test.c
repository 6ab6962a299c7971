/* Unit tests for the SOCKS5 / RFC 1929 / SOCKS4(a) codecs (proto/socks5.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "proto/socks5.h"

/* Every strict prefix of a valid message needs more bytes. */
#define ASSERT_PREFIXES_NEED_MORE(fn, msg, out)                          \
	do {                                                             \
		for (size_t k_ = 0; k_ < sizeof(msg); k_++)              \
			assert_int_equal(fn(msg, k_, out), 0);           \
	} while (0)

static void test_greeting(void **state)
{
	static const uint8_t one[] = { 0x05, 0x01, 0x00 };
	static const uint8_t two[] = { 0x05, 0x02, 0x00, 0x02, 0xaa };
	struct socks5_greeting g;
	uint8_t out[8];
	(void)state;

	assert_int_equal(socks5_greeting_parse(one, sizeof one, &g), 3);
	assert_int_equal(g.nmethods, 1);
	assert_true(socks5_greeting_has(&g, SOCKS5_METHOD_NONE));
	assert_false(socks5_greeting_has(&g, SOCKS5_METHOD_USERPASS));
	ASSERT_PREFIXES_NEED_MORE(socks5_greeting_parse, one, &g);

	/* trailing bytes are not consumed */
	assert_int_equal(socks5_greeting_parse(two, sizeof two, &g), 4);
	assert_true(socks5_greeting_has(&g, SOCKS5_METHOD_USERPASS));

	assert_int_equal(socks5_greeting_parse((const uint8_t *)"\x04\x01\x00", 3, &g), -1);
	assert_int_equal(socks5_greeting_parse((const uint8_t *)"\x04", 1, &g), -1);
	assert_int_equal(socks5_greeting_parse((const uint8_t *)"\x05\x00", 2, &g), -1);

	assert_int_equal(socks5_greeting_encode(out, sizeof out, two + 2, 2), 4);
	assert_memory_equal(out, two, 4);
	assert_int_equal(socks5_greeting_encode(out, 3, two + 2, 2), -1);
	assert_int_equal(socks5_greeting_encode(out, sizeof out, two + 2, 0), -1);
	assert_int_equal(socks5_greeting_encode(out, sizeof out, two + 2, 256), -1);
}

static void test_method_choice(void **state)
{
	uint8_t out[2], m = 0;
	(void)state;
	assert_int_equal(socks5_method_choice_encode(out, sizeof out, SOCKS5_METHOD_USERPASS), 2);
	assert_memory_equal(out, "\x05\x02", 2);
	assert_int_equal(socks5_method_choice_encode(out, 1, 0), -1);
	assert_int_equal(socks5_method_choice_parse((const uint8_t *)"\x05\xff", 2, &m), 2);
	assert_int_equal(m, SOCKS5_METHOD_NO_ACCEPTABLE);
	assert_int_equal(socks5_method_choice_parse((const uint8_t *)"\x05", 1, &m), 0);
	assert_int_equal(socks5_method_choice_parse((const uint8_t *)"\x01\x00", 2, &m), -1);
}

static void test_userpass(void **state)
{
	static const uint8_t msg[] = { 0x01, 0x04, 'u', 's', 'e', 'r', 0x06,
				       'p', 'a', 's', 's', ':', 'x' };
	struct socks5_userpass up;
	uint8_t out[600];
	char big[256];
	(void)state;

	assert_int_equal(socks5_userpass_parse(msg, sizeof msg, &up), sizeof msg);
	assert_int_equal(up.ulen, 4);
	assert_string_equal(up.user, "user");
	assert_int_equal(up.plen, 6);
	assert_string_equal(up.pass, "pass:x");
	ASSERT_PREFIXES_NEED_MORE(socks5_userpass_parse, msg, &up);

	assert_int_equal(socks5_userpass_encode(out, sizeof out, "user", 4, "pass:x", 6),
			 sizeof msg);
	assert_memory_equal(out, msg, sizeof msg);
	assert_int_equal(socks5_userpass_encode(out, sizeof msg - 1, "user", 4, "pass:x", 6), -1);

	/* empty name and password */
	assert_int_equal(socks5_userpass_parse((const uint8_t *)"\x01\x00\x00", 3, &up), 3);
	assert_string_equal(up.user, "");
	assert_string_equal(up.pass, "");

	/* 255 each is the most */
	memset(big, 'x', sizeof big);
	assert_int_equal(socks5_userpass_encode(out, sizeof out, big, 255, big, 255), 513);
	assert_int_equal(socks5_userpass_parse(out, 513, &up), 513);
	assert_int_equal(up.ulen, 255);
	assert_int_equal(strlen(up.pass), 255);
	assert_int_equal(socks5_userpass_encode(out, sizeof out, big, 256, "", 0), -1);
	assert_int_equal(socks5_userpass_encode(out, sizeof out, "", 0, big, 256), -1);

	assert_int_equal(socks5_userpass_parse((const uint8_t *)"\x05\x01u\x01p", 5, &up), -1);
	assert_int_equal(socks5_userpass_parse((const uint8_t *)"\x01\x02u\x00\x01p", 6, &up), -1);
	assert_int_equal(socks5_userpass_parse((const uint8_t *)"\x01\x01u\x02p\x00", 6, &up), -1);
}

static void test_auth_reply(void **state)
{
	uint8_t out[2], st = 9;
	(void)state;
	assert_int_equal(socks5_auth_reply_encode(out, sizeof out, SOCKS5_AUTH_SUCCESS), 2);
	assert_memory_equal(out, "\x01\x00", 2);
	assert_int_equal(socks5_auth_reply_encode(out, sizeof out, SOCKS5_AUTH_FAILURE), 2);
	assert_memory_equal(out, "\x01\x01", 2);
	assert_int_equal(socks5_auth_reply_encode(out, 1, 0), -1);
	assert_int_equal(socks5_auth_reply_parse((const uint8_t *)"\x01\x00", 2, &st), 2);
	assert_int_equal(st, 0);
	assert_int_equal(socks5_auth_reply_parse((const uint8_t *)"\x01", 1, &st), 0);
	assert_int_equal(socks5_auth_reply_parse((const uint8_t *)"\x05\x00", 2, &st), -1);
}

static void test_request_ipv4(void **state)
{
	static const uint8_t msg[] = { 0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50 };
	struct socks5_request req;
	uint8_t out[SOCKS5_REQUEST_MAX];
	(void)state;
	assert_int_equal(socks5_request_parse(msg, sizeof msg, &req), 10);
	assert_int_equal(req.cmd, SOCKS5_CMD_CONNECT);
	assert_int_equal(req.addr.atyp, SOCKS5_ATYP_IPV4);
	assert_memory_equal(req.addr.u.ipv4, "\x7f\x00\x00\x01", 4);
	assert_int_equal(req.addr.port, 80);
	ASSERT_PREFIXES_NEED_MORE(socks5_request_parse, msg, &req);
	assert_int_equal(socks5_request_encode(out, sizeof out, SOCKS5_CMD_CONNECT, &req.addr), 10);
	assert_memory_equal(out, msg, 10);
	assert_int_equal(socks5_request_encode(out, 9, SOCKS5_CMD_CONNECT, &req.addr), -1);
}

static void test_request_domain(void **state)
{
	static const uint8_t msg[] = { 0x05, 0x02, 0x00, 0x03, 11,  'e', 'x', 'a', 'm',
				       'p',  'l',  'e',	 '.',  'c', 'o', 'm', 0x01, 0xbb };
	struct socks5_request req;
	uint8_t out[SOCKS5_REQUEST_MAX];
	(void)state;
	assert_int_equal(socks5_request_parse(msg, sizeof msg, &req), sizeof msg);
	assert_int_equal(req.cmd, SOCKS5_CMD_BIND);
	assert_int_equal(req.addr.atyp, SOCKS5_ATYP_DOMAIN);
	assert_int_equal(req.addr.domain_len, 11);
	assert_string_equal(req.addr.u.domain, "example.com");
	assert_int_equal(req.addr.port, 443);
	ASSERT_PREFIXES_NEED_MORE(socks5_request_parse, msg, &req);
	assert_int_equal(socks5_request_encode(out, sizeof out, SOCKS5_CMD_BIND, &req.addr),
			 sizeof msg);
	assert_memory_equal(out, msg, sizeof msg);

	/* a 255-byte name fills SOCKS5_REQUEST_MAX */
	char name[255];
	struct socks5_addr a;
	memset(name, 'n', sizeof name);
	assert_int_equal(socks5_addr_set_domain(&a, name, 255, 1), 0);
	assert_int_equal(socks5_request_encode(out, sizeof out, SOCKS5_CMD_CONNECT, &a),
			 SOCKS5_REQUEST_MAX);
	assert_int_equal(socks5_request_parse(out, SOCKS5_REQUEST_MAX, &req), SOCKS5_REQUEST_MAX);
	assert_int_equal(strlen(req.addr.u.domain), 255);
}

static void test_request_ipv6_udp(void **state)
{
	static const uint8_t msg[] = { 0x05, 0x03, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
				       0,    0,	   0,	 0,    0,    0,	   0,	 0,    1, 0x1f, 0x90 };
	struct socks5_request req;
	uint8_t out[SOCKS5_REQUEST_MAX];
	char s[SOCKS5_ADDR_STRLEN];
	(void)state;
	assert_int_equal(socks5_request_parse(msg, sizeof msg, &req), 22);
	assert_int_equal(req.cmd, SOCKS5_CMD_UDP_ASSOCIATE);
	assert_int_equal(req.addr.atyp, SOCKS5_ATYP_IPV6);
	assert_int_equal(req.addr.port, 8080);
	assert_int_equal(socks5_addr_format(&req.addr, s, sizeof s), 18);
	assert_string_equal(s, "[2001:db8::1]:8080");
	ASSERT_PREFIXES_NEED_MORE(socks5_request_parse, msg, &req);
	assert_int_equal(socks5_request_encode(out, sizeof out, SOCKS5_CMD_UDP_ASSOCIATE, &req.addr),
			 22);
	assert_memory_equal(out, msg, 22);
}

/* GOST's MBIND (0xF2) and UDP tunnel (0xF3) have the RFC's layout; their neighbours are unknown. */
static void test_request_gost_commands(void **state)
{
	static const uint8_t mbind[] = { 0x05, 0xf2, 0x00, 0x01, 0, 0, 0, 0, 0x08, 0xae };
	struct socks5_request req;
	uint8_t out[SOCKS5_REQUEST_MAX];
	(void)state;
	assert_int_equal(socks5_request_parse(mbind, sizeof mbind, &req), 10);
	assert_int_equal(req.cmd, SOCKS5_CMD_MUX_BIND);
	assert_int_equal(req.addr.port, 2222);
	ASSERT_PREFIXES_NEED_MORE(socks5_request_parse, mbind, &req);
	assert_int_equal(socks5_request_encode(out, sizeof out, SOCKS5_CMD_MUX_BIND, &req.addr), 10);
	assert_memory_equal(out, mbind, 10);
	assert_int_equal(socks5_request_parse((const uint8_t *)"\x05\xf3\x00\x01\0\0\0\0\0\0", 10, &req), 10);
	assert_int_equal(req.cmd, SOCKS5_CMD_UDP_TUN);
	assert_int_equal(socks5_request_parse((const uint8_t *)"\x05\xf1", 2, &req), SOCKS5_ERR_COMMAND);
	assert_int_equal(socks5_request_parse((const uint8_t *)"\x05\xf4", 2, &req), SOCKS5_ERR_COMMAND);
	assert_int_equal(socks5_request_parse((const uint8_t *)"\x05\xf0", 2, &req), SOCKS5_ERR_COMMAND);
}

/* BIND's two replies back to back (the bound port, then the peer), as a client reads them. */
static void test_bind_replies(void **state)
{
	static const uint8_t want[] = { 0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x9c, 0x40,
					0x05, 0x00, 0x00, 0x01, 10, 1, 2, 3, 0xd4, 0x31 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(54321) };
	struct socks5_addr bound, peer;
	struct socks5_reply rep;
	uint8_t out[2 * SOCKS5_REQUEST_MAX];
	char s[SOCKS5_ADDR_STRLEN];
	(void)state;
	assert_int_equal(socks5_addr_from_host(&bound, "127.0.0.1", 40000), 0);
	inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
	assert_int_equal(socks5_addr_from_sockaddr(&peer, (const struct sockaddr *)&sin), 0);
	int n = socks5_reply_encode(out, sizeof out, SOCKS5_REP_SUCCEEDED, &bound);
	assert_int_equal(n, 10);
	assert_int_equal(socks5_reply_encode(out + n, sizeof out - (size_t)n, SOCKS5_REP_SUCCEEDED, &peer), 10);
	assert_memory_equal(out, want, sizeof want);
	assert_int_equal(socks5_reply_parse(out, sizeof want, &rep), 10);
	assert_int_equal(rep.rep, SOCKS5_REP_SUCCEEDED);
	assert_int_equal(rep.addr.port, 40000);
	assert_int_equal(socks5_reply_parse(out + 10, 9, &rep), 0);
	assert_int_equal(socks5_reply_parse(out + 10, 10, &rep), 10);
	socks5_addr_format(&rep.addr, s, sizeof s);
	assert_string_equal(s, "10.1.2.3:54321");
	/* a refusal carries no address: 0.0.0.0:0 */
	assert_int_equal(socks5_reply_encode(out, sizeof out, SOCKS5_REP_NOT_ALLOWED, NULL), 10);
	assert_memory_equal(out, "\x05\x02\x00\x01\0\0\0\0\0\0", 10);
}

static void test_request_rejects(void **state)
{
	struct socks5_request req;
	(void)state;
#define RQ(s) socks5_request_parse((const uint8_t *)s, sizeof(s) - 1, &req)
	assert_int_equal(RQ("\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50"), SOCKS5_ERR_MALFORMED);
	/* unknown command, refused as soon as seen */
	assert_int_equal(RQ("\x05\x04"), SOCKS5_ERR_COMMAND);
	assert_int_equal(RQ("\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50"), SOCKS5_ERR_COMMAND);
	assert_int_equal(RQ("\x05\x01\x01\x01\x7f\x00\x00\x01\x00\x50"), SOCKS5_ERR_MALFORMED);
	assert_int_equal(RQ("\x05\x01\x00\x02"), SOCKS5_ERR_ADDRESS);
	assert_int_equal(RQ("\x05\x01\x00\x05\x00"), SOCKS5_ERR_ADDRESS);
	assert_int_equal(RQ("\x05\x01\x00\x03\x00\x00\x50"), SOCKS5_ERR_MALFORMED);
	assert_int_equal(RQ("\x05\x01\x00\x03\x03" "a\x00" "b\x00\x50"), SOCKS5_ERR_MALFORMED);
#undef RQ
}

static void test_reply(void **state)
{
	static const uint8_t zero[] = { 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
	static const uint8_t refused[] = { 0x05, 0x05, 0x00, 0x01, 10, 0, 0, 1, 0x04, 0x38 };
	struct socks5_reply rep;
	struct socks5_addr a = { .atyp = SOCKS5_ATYP_IPV4, .u.ipv4 = { 10, 0, 0, 1 }, .port = 1080 };
	uint8_t out[SOCKS5_REQUEST_MAX];
	(void)state;

	assert_int_equal(socks5_reply_encode(out, sizeof out, SOCKS5_REP_SUCCEEDED, NULL), 10);
	assert_memory_equal(out, zero, 10);
	assert_int_equal(socks5_reply_encode(out, sizeof out, SOCKS5_REP_CONNECTION_REFUSED, &a), 10);
	assert_memory_equal(out, refused, 10);
	assert_int_equal(socks5_reply_encode(out, 9, SOCKS5_REP_SUCCEEDED, NULL), -1);
	assert_int_equal(socks5_reply_encode(out, 2, SOCKS5_REP_SUCCEEDED, NULL), -1);

	assert_int_equal(socks5_reply_parse(refused, sizeof refused, &rep), 10);
	assert_int_equal(rep.rep, SOCKS5_REP_CONNECTION_REFUSED);
	assert_memory_equal(rep.addr.u.ipv4, a.u.ipv4, 4);
	assert_int_equal(rep.addr.port, 1080);
	ASSERT_PREFIXES_NEED_MORE(socks5_reply_parse, refused, &rep);
	assert_int_equal(socks5_reply_parse((const uint8_t *)"\x04\x00\x00\x01\0\0\0\0\0\0", 10, &rep),
			 -1);
	assert_int_equal(socks5_reply_parse((const uint8_t *)"\x05\x00\x01\x01\0\0\0\0\0\0", 10, &rep),
			 -1);
	assert_int_equal(socks5_reply_parse((const uint8_t *)"\x05\x00\x00\x07", 4, &rep), -1);

	/* bad addresses are not encoded */
	struct socks5_addr bad = { .atyp = 2 };
	assert_int_equal(socks5_reply_encode(out, sizeof out, 0, &bad), -1);
	bad.atyp = SOCKS5_ATYP_DOMAIN;
	bad.domain_len = 0;
	assert_int_equal(socks5_request_encode(out, sizeof out, 1, &bad), -1);

	assert_string_equal(socks5_reply_str(SOCKS5_REP_TTL_EXPIRED), "TTL expired");
	assert_string_equal(socks5_reply_str(0x09), "unknown reply code");
}

static void test_udp_header(void **state)
{
	static const uint8_t dgram[] = { 0x00, 0x00, 0x00, 0x01, 8, 8, 8, 8, 0x00, 0x35, 'a', 'b', 'c' };
	/* doc/protocols/gost-relay.md 2.6: RSV carries the length, FRAG is 0xff */
	static const uint8_t gost[] = { 0x00, 0x03, 0xff, 0x01, 8, 8, 8, 8, 0x00, 0x35, 'a', 'b', 'c' };
	struct socks5_udp_header h;
	uint8_t out[64];
	(void)state;

	assert_int_equal(socks5_udp_header_parse(dgram, sizeof dgram, &h), 10);
	assert_int_equal(h.rsv, 0);
	assert_int_equal(h.frag, 0);
	assert_int_equal(h.addr.port, 53);
	assert_int_equal(socks5_udp_header_encode(out, sizeof out, 0, 0, &h.addr), 10);
	assert_memory_equal(out, dgram, 10);

	assert_int_equal(socks5_udp_header_parse(gost, sizeof gost, &h), 10);
	assert_int_equal(h.rsv, 3);
	assert_int_equal(h.frag, 0xff);
	assert_int_equal(socks5_udp_header_encode(out, sizeof out, 3, 0xff, &h.addr), 10);
	assert_memory_equal(out, gost, 10);
	assert_int_equal(socks5_udp_header_encode(out, 9, 3, 0xff, &h.addr), -1);

	for (size_t k = 0; k < 10; k++)
		assert_int_equal(socks5_udp_header_parse(dgram, k, &h), 0);
	assert_int_equal(socks5_udp_header_parse((const uint8_t *)"\0\0\0\x09\0\0", 6, &h), -1);
	assert_int_equal(socks5_udp_header_parse((const uint8_t *)"\0\0\0\x03\0\0\0", 7, &h), -1);
}

static void test_addr_helpers(void **state)
{
	struct socks5_addr a;
	struct sockaddr_storage ss;
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(8080) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
	char s[SOCKS5_ADDR_STRLEN], name[256];
	(void)state;

	inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
	assert_int_equal(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&in), 0);
	assert_int_equal(a.atyp, SOCKS5_ATYP_IPV4);
	assert_int_equal(a.port, 8080);
	assert_int_equal(socks5_addr_format(&a, s, sizeof s), 14);
	assert_string_equal(s, "192.0.2.7:8080");
	assert_int_equal(socks5_addr_format(&a, s, 14), -1);
	assert_int_equal(socks5_addr_to_sockaddr(&a, &ss), (int)sizeof in);
	assert_memory_equal(&ss, &in, sizeof in);

	inet_pton(AF_INET6, "::ffff:192.0.2.7", &in6.sin6_addr);
	assert_int_equal(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&in6), 0);
	assert_int_equal(a.atyp, SOCKS5_ATYP_IPV4);
	assert_memory_equal(a.u.ipv4, &in.sin_addr, 4);

	inet_pton(AF_INET6, "2001:db8::53", &in6.sin6_addr);
	assert_int_equal(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&in6), 0);
	assert_int_equal(a.atyp, SOCKS5_ATYP_IPV6);
	assert_int_equal(socks5_addr_to_sockaddr(&a, &ss), (int)sizeof in6);
	assert_memory_equal(&ss, &in6, sizeof in6);

	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_int_equal(socks5_addr_from_sockaddr(&a, &un), -1);

	assert_int_equal(socks5_addr_set_domain(&a, "example.org", 11, 443), 0);
	assert_int_equal(socks5_addr_to_sockaddr(&a, &ss), -1);
	assert_int_equal(socks5_addr_format(&a, s, sizeof s), 15);
	assert_string_equal(s, "example.org:443");
	assert_int_equal(socks5_addr_set_domain(&a, "", 0, 1), -1);
	assert_int_equal(socks5_addr_set_domain(&a, "a\0b", 3, 1), -1);
	memset(name, 'x', sizeof name);
	assert_int_equal(socks5_addr_set_domain(&a, name, 256, 1), -1);
	assert_int_equal(socks5_addr_set_domain(&a, name, 255, 65535), 0);
	assert_int_equal(socks5_addr_format(&a, s, sizeof s), 261);
}

static void test_socks4_request(void **state)
{
	static const uint8_t v4[] = { 0x04, 0x01, 0x00, 0x50, 93, 184, 216, 34, 'f', 'r', 'e', 'd', 0 };
	static const uint8_t v4a[] = { 0x04, 0x02, 0x1f, 0x90, 0, 0, 0, 1, 0, 'e', 'x', '.',
				       'o',  'r',  'g',	 0 };
	struct socks4_request req;
	struct socks5_addr a;
	uint8_t out[600];
	(void)state;

	assert_int_equal(socks4_request_parse(v4, sizeof v4, &req), sizeof v4);
	assert_int_equal(req.cmd, SOCKS4_CMD_CONNECT);
	assert_int_equal(req.port, 80);
	assert_memory_equal(req.ip, v4 + 4, 4);
	assert_false(req.is_4a);
	assert_string_equal(req.userid, "fred");
	assert_int_equal(req.userid_len, 4);
	ASSERT_PREFIXES_NEED_MORE(socks4_request_parse, v4, &req);
	socks4_request_addr(&req, &a);
	assert_int_equal(a.atyp, SOCKS5_ATYP_IPV4);
	assert_int_equal(a.port, 80);
	assert_int_equal(socks4_request_encode(out, sizeof out, SOCKS4_CMD_CONNECT, v4 + 4, 80,
					       "fred", NULL),
			 sizeof v4);
	assert_memory_equal(out, v4, sizeof v4);

	assert_int_equal(socks4_request_parse(v4a, sizeof v4a, &req), sizeof v4a);
	assert_int_equal(req.cmd, SOCKS4_CMD_BIND);
	assert_int_equal(req.port, 8080);
	assert_true(req.is_4a);
	assert_string_equal(req.userid, "");
	assert_string_equal(req.domain, "ex.org");
	assert_int_equal(req.domain_len, 6);
	ASSERT_PREFIXES_NEED_MORE(socks4_request_parse, v4a, &req);
	socks4_request_addr(&req, &a);
	assert_int_equal(a.atyp, SOCKS5_ATYP_DOMAIN);
	assert_string_equal(a.u.domain, "ex.org");
	assert_int_equal(socks4_request_encode(out, sizeof out, SOCKS4_CMD_BIND, NULL, 8080, NULL,
					       "ex.org"),
			 sizeof v4a);
	assert_memory_equal(out, v4a, sizeof v4a);
	assert_int_equal(socks4_request_encode(out, sizeof v4a - 1, SOCKS4_CMD_BIND, NULL, 8080,
					       NULL, "ex.org"),
			 -1);
	/* 0.0.0.x without a domain would be read back as 4a */
	assert_int_equal(socks4_request_encode(out, sizeof out, 1, v4a + 4, 1, "", NULL), -1);
	assert_int_equal(socks4_request_encode(out, sizeof out, 1, NULL, 1, "", ""), -1);
	/* 0.0.0.0 is plain SOCKS4 */
	assert_int_equal(socks4_request_parse((const uint8_t *)"\x04\x01\x00\x50\0\0\0\0\0", 9,
					      &req),
			 9);
	assert_false(req.is_4a);
}

static void test_socks4_rejects(void **state)
{
	uint8_t buf[8 + 300 + 300];
	struct socks4_request req;
	(void)state;

	assert_int_equal(socks4_request_parse((const uint8_t *)"\x05\x01", 2, &req), -1);
	assert_int_equal(socks4_request_parse((const uint8_t *)"\x04\x03", 2, &req), -1);
	assert_int_equal(socks4_request_parse((const uint8_t *)"\x04\x00", 2, &req), -1);

	/* userid: 255 bytes and no NUL yet is still "more", 256 is too long */
	memcpy(buf, "\x04\x01\x00\x50\x01\x02\x03\x04", 8);
	memset(buf + 8, 'u', 300);
	assert_int_equal(socks4_request_parse(buf, 8 + 255, &req), 0);
	assert_int_equal(socks4_request_parse(buf, 8 + 256, &req), -1);
	buf[8 + 255] = 0;
	assert_int_equal(socks4_request_parse(buf, 8 + 256, &req), 8 + 256);
	assert_int_equal(req.userid_len, 255);

	/* 4a domain: empty, or longer than 255 */
	memcpy(buf, "\x04\x01\x00\x50\x00\x00\x00\x09", 8);
	buf[8] = 0;
	buf[9] = 0;
	assert_int_equal(socks4_request_parse(buf, 10, &req), -1);
	memset(buf + 9, 'd', 300);
	assert_int_equal(socks4_request_parse(buf, 9 + 255, &req), 0);
	assert_int_equal(socks4_request_parse(buf, 9 + 256, &req), -1);
	buf[9 + 255] = 0;
	assert_int_equal(socks4_request_parse(buf, 9 + 256, &req), 9 + 256);
	assert_int_equal(req.domain_len, 255);
}

static void test_socks4_reply(void **state)
{
	static const uint8_t granted[] = { 0x00, 90, 0x00, 0x50, 1, 2, 3, 4 };
	uint8_t out[8], ip[4], code = 0;
	uint16_t port = 0;
	(void)state;
	assert_int_equal(socks4_reply_encode(out, sizeof out, SOCKS4_REP_GRANTED, granted + 4, 80), 8);
	assert_memory_equal(out, granted, 8);
	assert_int_equal(socks4_reply_encode(out, sizeof out, SOCKS4_REP_REJECTED, NULL, 0), 8);
	assert_memory_equal(out, "\x00\x5b\0\0\0\0\0\0", 8);
	assert_int_equal(socks4_reply_encode(out, 7, SOCKS4_REP_REJECTED, NULL, 0), -1);
	assert_int_equal(socks4_reply_parse(granted, sizeof granted, &code, ip, &port), 8);
	assert_int_equal(code, SOCKS4_REP_GRANTED);
	assert_int_equal(port, 80);
	assert_memory_equal(ip, granted + 4, 4);
	for (size_t k = 0; k < 8; k++)
		assert_int_equal(socks4_reply_parse(granted, k, &code, ip, &port), 0);
	assert_int_equal(socks4_reply_parse((const uint8_t *)"\x04\x5a\0\0\0\0\0\0", 8, &code, ip,
					    &port),
			 -1);
}

static void test_addr_from_host_and_back(void **state)
{
	(void)state;
	struct socks5_addr a;
	char host[SOCKS5_DOMAIN_MAX + 1];
	assert_int_equal(socks5_addr_from_host(&a, "192.0.2.7", 53), 0);
	assert_int_equal(a.atyp, SOCKS5_ATYP_IPV4);
	assert_int_equal(a.port, 53);
	socks5_addr_host(&a, host, sizeof host);
	assert_string_equal(host, "192.0.2.7");
	assert_int_equal(socks5_addr_from_host(&a, "2001:db8::1", 443), 0);
	assert_int_equal(a.atyp, SOCKS5_ATYP_IPV6);
	socks5_addr_host(&a, host, sizeof host);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(socks5_addr_from_host(&a, "example.com", 80), 0);
	assert_int_equal(a.atyp, SOCKS5_ATYP_DOMAIN);
	socks5_addr_host(&a, host, sizeof host);
	assert_string_equal(host, "example.com");
	/* names a SOCKS address cannot carry */
	assert_int_equal(socks5_addr_from_host(&a, "", 80), -1);
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	assert_int_equal(socks5_addr_from_host(&a, longname, 80), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_from_host_and_back),
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_method_choice),
		cmocka_unit_test(test_userpass),
		cmocka_unit_test(test_auth_reply),
		cmocka_unit_test(test_request_ipv4),
		cmocka_unit_test(test_request_domain),
		cmocka_unit_test(test_request_ipv6_udp),
		cmocka_unit_test(test_request_rejects),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_udp_header),
		cmocka_unit_test(test_addr_helpers),
		cmocka_unit_test(test_request_gost_commands),
		cmocka_unit_test(test_bind_replies),
		cmocka_unit_test(test_socks4_request),
		cmocka_unit_test(test_socks4_rejects),
		cmocka_unit_test(test_socks4_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
