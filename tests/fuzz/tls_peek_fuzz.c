/*
 * libFuzzer target for proto/tls_peek.c. Each input is peeked as is, and
 * also wrapped in a valid record and handshake header (so the hello body
 * parser is reached without the fuzzer having to guess lengths), and split
 * into two records. Checked: a prefix never contradicts the whole (a refusal
 * stays a refusal, an answer stays the same answer), and a reported host
 * name is 1..255 bytes of [a-z0-9._-].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/tls_peek.h"

static void check_host(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > TLS_PEEK_HOST_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= '0' && h[i] <= '9') || h[i] == '.' ||
		      h[i] == '-' || h[i] == '_'))
			abort();
}

static void check(const uint8_t *d, size_t len)
{
	char host[TLS_PEEK_HOST_MAX + 1], pre_host[TLS_PEEK_HOST_MAX + 1];
	int r = tls_peek_sni(d, len, host);

	if (r < TLS_PEEK_NOT_TLS || r > TLS_PEEK_NO_SNI)
		abort();
	if (r == TLS_PEEK_SNI)
		check_host(host);
	size_t cuts[] = { len / 2, len ? len - 1 : 0, len / 3 };
	for (size_t i = 0; i < 3; i++) {
		int p = tls_peek_sni(d, cuts[i], pre_host);
		if (p == TLS_PEEK_NOT_TLS && r != TLS_PEEK_NOT_TLS)
			abort();
		if (p > 0 && (p != r || (p == TLS_PEEK_SNI && strcmp(host, pre_host) != 0)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[2 * TLS_PEEK_MAX];

	check(data, size);
	if (size == 0 || size > 16384 - 4)
		return 0;

	/* record + handshake header around the body */
	size_t body = size;
	buf[0] = 0x16;
	buf[1] = 3;
	buf[2] = 1;
	buf[3] = (uint8_t)((body + 4) >> 8);
	buf[4] = (uint8_t)(body + 4);
	buf[5] = 1;
	buf[6] = 0;
	buf[7] = (uint8_t)(body >> 8);
	buf[8] = (uint8_t)body;
	memcpy(buf + 9, data, size);
	check(buf, 9 + size);

	/* the same handshake message over two records, cut where data[0] says */
	size_t hs = 4 + body, cut = 4 + (size_t)data[0] % body;
	if (cut < hs) {
		uint8_t *o = buf + 9 + size;
		size_t rest = hs - cut;
		memcpy(o, buf, 5);
		o[3] = (uint8_t)(cut >> 8);
		o[4] = (uint8_t)cut;
		memcpy(o + 5, buf + 5, cut);
		o[5 + cut] = 0x16;
		o[6 + cut] = 3;
		o[7 + cut] = 3;
		o[8 + cut] = (uint8_t)(rest >> 8);
		o[9 + cut] = (uint8_t)rest;
		memcpy(o + 10 + cut, buf + 5 + cut, rest);
		check(o, 10 + hs);
	}
	return 0;
}
