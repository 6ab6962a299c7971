/*
 * libFuzzer target for proto/socks5.c. The first byte picks the message
 * kind; the rest is parsed as that message. Whatever parses must re-encode
 * to exactly the bytes consumed, and the prefix one byte shorter must ask
 * for more bytes rather than parse or fail. Kind 9 is what a BIND client
 * reads: replies back to back (the bound address, then the peer's).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socks5.h"

static void exact(const uint8_t *want, int n, const uint8_t *got, int m)
{
	if (n != m || memcmp(want, got, (size_t)n) != 0)
		abort();
}

static void check_addr(const struct socks5_addr *a)
{
	char s[SOCKS5_ADDR_STRLEN];
	struct sockaddr_storage ss;
	struct socks5_addr b;

	if (socks5_addr_format(a, s, sizeof s) <= 0)
		abort();
	if (a->atyp == SOCKS5_ATYP_DOMAIN) {
		if (a->domain_len == 0 || strlen(a->u.domain) != a->domain_len)
			abort();
		if (socks5_addr_to_sockaddr(a, &ss) != -1)
			abort();
		return;
	}
	if (socks5_addr_to_sockaddr(a, &ss) <= 0 ||
	    socks5_addr_from_sockaddr(&b, (struct sockaddr *)&ss) != 0 || b.port != a->port)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[1024];
	int n, m;

	if (size < 1)
		return 0;
	const uint8_t *d = data + 1;
	size_t len = size - 1;

	switch (data[0] % 10) {
	case 0: {
		struct socks5_greeting g;
		n = socks5_greeting_parse(d, len, &g);
		if (n <= 0)
			break;
		if (socks5_greeting_parse(d, (size_t)n - 1, &g) != 0)
			abort();
		socks5_greeting_parse(d, len, &g);
		m = socks5_greeting_encode(out, sizeof out, g.methods, g.nmethods);
		exact(d, n, out, m);
		break;
	}
	case 1: {
		uint8_t method;
		n = socks5_method_choice_parse(d, len, &method);
		if (n <= 0)
			break;
		m = socks5_method_choice_encode(out, sizeof out, method);
		exact(d, n, out, m);
		break;
	}
	case 2: {
		struct socks5_userpass up;
		n = socks5_userpass_parse(d, len, &up);
		if (n <= 0)
			break;
		if (socks5_userpass_parse(d, (size_t)n - 1, &up) != 0)
			abort();
		socks5_userpass_parse(d, len, &up);
		if (strlen(up.user) != up.ulen || strlen(up.pass) != up.plen)
			abort();
		m = socks5_userpass_encode(out, sizeof out, up.user, up.ulen, up.pass, up.plen);
		exact(d, n, out, m);
		break;
	}
	case 3: {
		uint8_t st;
		n = socks5_auth_reply_parse(d, len, &st);
		if (n <= 0)
			break;
		m = socks5_auth_reply_encode(out, sizeof out, st);
		exact(d, n, out, m);
		break;
	}
	case 4: {
		struct socks5_request req;
		n = socks5_request_parse(d, len, &req);
		if (n <= 0)
			break;
		if (socks5_request_parse(d, (size_t)n - 1, &req) != 0)
			abort();
		socks5_request_parse(d, len, &req);
		check_addr(&req.addr);
		m = socks5_request_encode(out, sizeof out, req.cmd, &req.addr);
		exact(d, n, out, m);
		break;
	}
	case 5: {
		struct socks5_reply rep;
		n = socks5_reply_parse(d, len, &rep);
		if (n <= 0)
			break;
		if (socks5_reply_parse(d, (size_t)n - 1, &rep) != 0)
			abort();
		socks5_reply_parse(d, len, &rep);
		check_addr(&rep.addr);
		(void)socks5_reply_str(rep.rep);
		m = socks5_reply_encode(out, sizeof out, rep.rep, &rep.addr);
		exact(d, n, out, m);
		break;
	}
	case 6: {
		struct socks5_udp_header h;
		n = socks5_udp_header_parse(d, len, &h);
		if (n <= 0)
			break;
		if (socks5_udp_header_parse(d, (size_t)n - 1, &h) != 0)
			abort();
		socks5_udp_header_parse(d, len, &h);
		check_addr(&h.addr);
		m = socks5_udp_header_encode(out, sizeof out, h.rsv, h.frag, &h.addr);
		exact(d, n, out, m);
		break;
	}
	case 7: {
		struct socks4_request req;
		struct socks5_addr a;
		n = socks4_request_parse(d, len, &req);
		if (n <= 0)
			break;
		if (socks4_request_parse(d, (size_t)n - 1, &req) != 0)
			abort();
		socks4_request_parse(d, len, &req);
		if (strlen(req.userid) != req.userid_len || strlen(req.domain) != req.domain_len)
			abort();
		socks4_request_addr(&req, &a);
		check_addr(&a);
		m = socks4_request_encode(out, sizeof out, req.cmd, req.ip, req.port, req.userid,
					  req.is_4a ? req.domain : NULL);
		if (m > 7 && req.is_4a)
			out[7] = d[7]; /* any 0.0.0.x, x != 0, means 4a; we write x = 1 */
		exact(d, n, out, m);
		break;
	}
	case 8: {
		uint8_t code, ip[4];
		uint16_t port;
		n = socks4_reply_parse(d, len, &code, ip, &port);
		if (n <= 0)
			break;
		m = socks4_reply_encode(out, sizeof out, code, ip, port);
		exact(d, n, out, m);
		break;
	}
	case 9: {
		struct socks5_reply rep;
		size_t off = 0;
		while ((n = socks5_reply_parse(d + off, len - off, &rep)) > 0) {
			check_addr(&rep.addr);
			m = socks5_reply_encode(out, sizeof out, rep.rep, &rep.addr);
			exact(d + off, n, out, m);
			off += (size_t)n;
		}
		if (off > len)
			abort();
		break;
	}
	}
	return 0;
}
