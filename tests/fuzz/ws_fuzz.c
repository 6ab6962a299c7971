/*
 * libFuzzer target for the WebSocket codec. The first two bytes choose the
 * role and the payload limit; the rest is read as a sequence of frames. For
 * each frame that parses: the header is re-encoded and must re-parse to the
 * same fields (and to the same bytes when the input used the minimal
 * length form); the payload is unmasked in pieces and must match a one-shot
 * unmask; close payloads are re-encoded; fragmentation is tracked. The input
 * is also tried as a Sec-WebSocket-Key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws.h"

static void check_close(const uint8_t *payload, size_t len)
{
	struct ws_close c;
	uint8_t re[WS_CONTROL_PAYLOAD_MAX];
	int rc = ws_close_payload_parse(payload, len, &c);

	if (rc < 0) {
		if (ws_error_close_code(rc) == 0)
			abort();
		return;
	}
	int n = ws_close_payload_encode(re, sizeof re, c.code == WS_CLOSE_NO_STATUS && len == 0 ? 0 : c.code,
					c.reason, c.reason_len);
	if (n < 0 || (size_t)n != len || memcmp(re, payload, len) != 0)
		abort();
}

static void check_payload(const struct ws_frame_header *h, const uint8_t *p, size_t len, const uint8_t *cuts,
			  size_t ncuts)
{
	uint8_t *whole = malloc(len + 1), *pieces = malloc(len + 1);
	size_t pos = 0, off = 0, c = 0;

	if (!whole || !pieces)
		abort();
	memcpy(whole, p, len);
	memcpy(pieces, p, len);
	if (h->masked) {
		ws_mask(whole, len, h->mask_key, 0);
		while (pos < len) {
			size_t step = ncuts ? 1 + cuts[c++ % ncuts] % 17 : len;
			if (step > len - pos)
				step = len - pos;
			off = ws_mask(pieces + pos, step, h->mask_key, off);
			pos += step;
			if (off != pos % 4)
				abort();
		}
		if (memcmp(whole, pieces, len) != 0)
			abort();
		ws_mask(pieces, len, h->mask_key, 0);
		if (memcmp(pieces, p, len) != 0)
			abort();
	}
	if (h->opcode == WS_OP_CLOSE && len == h->payload_len)
		check_close(whole, len);
	free(whole);
	free(pieces);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum ws_role role;
	uint64_t max;
	uint8_t msg_op = 0;

	if (size < 2)
		return 0;
	role = (enum ws_role)(data[0] % 3);
	max = data[1] == 0 ? 0 : (uint64_t)1 << (data[1] % 64);
	const uint8_t *p = data + 2;
	size_t left = size - 2;

	while (left > 0) {
		struct ws_frame_header h, h2;
		uint8_t re[WS_FRAME_HEADER_MAX];
		int rc = ws_frame_header_parse(p, left, role, max, &h);

		if (rc < 0) {
			if (ws_error_close_code(rc) == 0)
				abort();
			(void)ws_strerror(rc);
			break;
		}
		if (rc == 0) {
			if (left >= WS_FRAME_HEADER_MAX)
				abort();
			break;
		}
		size_t hlen = (size_t)rc;
		if (hlen < 2 || hlen > WS_FRAME_HEADER_MAX || hlen > left)
			abort();
		if ((h.opcode & 8) && (!h.fin || h.payload_len > WS_CONTROL_PAYLOAD_MAX))
			abort();
		if ((role == WS_ROLE_SERVER && !h.masked) || (role == WS_ROLE_CLIENT && h.masked))
			abort();
		if ((max && h.payload_len > max) || h.payload_len >> 63)
			abort();

		int n = ws_frame_header_encode(re, sizeof re, &h);
		if (n < 2 || (size_t)n > hlen)
			abort();
		if ((size_t)n == hlen && memcmp(re, p, hlen) != 0)
			abort();
		if (ws_frame_header_parse(re, (size_t)n, role, max, &h2) != n || h2.fin != h.fin ||
		    h2.opcode != h.opcode || h2.masked != h.masked || h2.payload_len != h.payload_len ||
		    (h.masked && memcmp(h2.mask_key, h.mask_key, 4) != 0))
			abort();
		/* A shorter header is only possible for a non-minimal length. */
		if ((size_t)n < hlen && !((p[1] & 0x7f) == 126 && h.payload_len < 126) &&
		    !((p[1] & 0x7f) == 127 && h.payload_len <= 0xffff))
			abort();
		/* Every prefix of the header asks for more bytes. */
		for (size_t k = 0; k < hlen; k++)
			if (ws_frame_header_parse(p, k, role, max, &h2) != 0)
				abort();

		int seq = ws_frame_sequence_check(&msg_op, &h);
		if (seq < 0 && ws_error_close_code(seq) != 1002)
			abort();

		p += hlen;
		left -= hlen;
		size_t plen = h.payload_len < left ? (size_t)h.payload_len : left;
		check_payload(&h, p, plen, data, size < 8 ? size : 8);
		p += plen;
		left -= plen;
		if (seq < 0)
			break;
	}

	/* The input as a client key, NUL-terminated at some length. */
	char key[64], accept[WS_ACCEPT_KEY_LEN + 1];
	size_t klen = (size - 2) < sizeof key - 1 ? size - 2 : sizeof key - 1;
	memcpy(key, data + 2, klen);
	key[klen] = '\0';
	if (ws_client_key_valid(key) && strlen(key) != WS_CLIENT_KEY_LEN)
		abort();
	if (ws_accept_key(key, accept) != 0 || strlen(accept) != WS_ACCEPT_KEY_LEN ||
	    !ws_accept_key_matches(key, accept))
		abort();
	(void)ws_utf8_valid(data, size);
	return 0;
}
