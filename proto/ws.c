/* WebSocket (RFC 6455) codec. */
#include "proto/ws.h"

#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "proto/bytes.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool opcode_known(unsigned op)
{
	switch (op) {
	case WS_OP_CONTINUATION:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		return true;
	default:
		return false;
	}
}

static bool opcode_is_control(unsigned op) { return op & 0x8; }

static uint64_t ws_load_be64(const uint8_t *p) { return (uint64_t)rd_be32(p) << 32 | rd_be32(p + 4); }

static void ws_store_be64(uint8_t *p, uint64_t v)
{
	wr_be32(p, (uint32_t)(v >> 32));
	wr_be32(p + 4, (uint32_t)v);
}

int ws_frame_header_parse(const uint8_t *buf, size_t len, enum ws_role role, uint64_t max_payload,
			  struct ws_frame_header *out)
{
	size_t hlen = 2;
	uint64_t plen;
	unsigned op;
	bool fin, masked;

	if (len < 1)
		return 0;
	fin = buf[0] & 0x80;
	op = buf[0] & 0x0f;
	if (buf[0] & 0x70)
		return WS_ERR_RSV;
	if (!opcode_known(op))
		return WS_ERR_OPCODE;
	if (opcode_is_control(op) && !fin)
		return WS_ERR_CONTROL_FRAGMENTED;
	if (len < 2)
		return 0;
	masked = buf[1] & 0x80;
	plen = buf[1] & 0x7f;
	if (role == WS_ROLE_SERVER && !masked)
		return WS_ERR_MASK_REQUIRED;
	if (role == WS_ROLE_CLIENT && masked)
		return WS_ERR_MASK_FORBIDDEN;
	if (opcode_is_control(op) && plen > WS_CONTROL_PAYLOAD_MAX)
		return WS_ERR_CONTROL_TOO_LONG;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = rd_be16(buf + 2);
		hlen += 2;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = ws_load_be64(buf + 2);
		if (plen >> 63)
			return WS_ERR_LENGTH_OVERFLOW;
		hlen += 8;
	}
	/* Checked before the mask key arrives so 1009 goes out as early as possible. */
	if (max_payload && plen > max_payload)
		return WS_ERR_TOO_BIG;
	if (masked) {
		if (len < hlen + 4)
			return 0;
		memcpy(out->mask_key, buf + hlen, 4);
		hlen += 4;
	} else {
		memset(out->mask_key, 0, 4);
	}
	out->fin = fin;
	out->opcode = (uint8_t)op;
	out->masked = masked;
	out->payload_len = plen;
	return (int)hlen;
}

int ws_frame_header_encode(uint8_t *out, size_t cap, const struct ws_frame_header *h)
{
	uint64_t plen = h->payload_len;
	size_t n = 2;

	if (!opcode_known(h->opcode) || plen >> 63)
		return -1;
	if (opcode_is_control(h->opcode) && (!h->fin || plen > WS_CONTROL_PAYLOAD_MAX))
		return -1;
	if (plen > 0xffff)
		n += 8;
	else if (plen > 125)
		n += 2;
	if (h->masked)
		n += 4;
	if (cap < n)
		return -1;

	out[0] = (uint8_t)((h->fin ? 0x80 : 0) | h->opcode);
	out[1] = h->masked ? 0x80 : 0;
	if (plen > 0xffff) {
		out[1] |= 127;
		ws_store_be64(out + 2, plen);
	} else if (plen > 125) {
		out[1] |= 126;
		wr_be16(out + 2, (uint16_t)plen);
	} else {
		out[1] |= (uint8_t)plen;
	}
	if (h->masked)
		memcpy(out + n - 4, h->mask_key, 4);
	return (int)n;
}

int ws_frame_header_write(uint8_t *out, size_t cap, bool fin, enum ws_opcode opcode,
			  uint64_t payload_len, const uint8_t *mask_key)
{
	struct ws_frame_header h = {
		.fin = fin,
		.opcode = (uint8_t)opcode,
		.masked = mask_key != NULL,
		.payload_len = payload_len,
	};

	if (mask_key)
		memcpy(h.mask_key, mask_key, 4);
	return ws_frame_header_encode(out, cap, &h);
}

size_t ws_mask(uint8_t *data, size_t len, const uint8_t key[4], size_t offset)
{
	uint8_t k[8];
	uint64_t kw, w;
	size_t i = 0;

	/* Rotate the key so that k[i % 4] applies to data[i]; eight bytes is
	 * a whole number of key periods, so the word form stays in phase. */
	for (int j = 0; j < 8; j++)
		k[j] = key[(offset + (size_t)j) & 3];
	memcpy(&kw, k, 8);
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, data + i, 8);
		w ^= kw;
		memcpy(data + i, &w, 8);
	}
	for (; i < len; i++)
		data[i] ^= k[i & 3];
	return (offset + len) & 3;
}

int ws_frame_sequence_check(uint8_t *message_opcode, const struct ws_frame_header *h)
{
	if (opcode_is_control(h->opcode))
		return h->opcode;
	if (h->opcode == WS_OP_CONTINUATION) {
		int op = *message_opcode;
		if (op == 0)
			return WS_ERR_UNEXPECTED_CONTINUATION;
		if (h->fin)
			*message_opcode = 0;
		return op;
	}
	if (*message_opcode != 0)
		return WS_ERR_EXPECTED_CONTINUATION;
	if (!h->fin)
		*message_opcode = h->opcode;
	return h->opcode;
}

bool ws_close_code_valid(unsigned code)
{
	/* 1004-1006 and 1015 are reserved and must never be sent; 1012-1014
	 * were registered with IANA after the RFC; 1016-2999 are unassigned;
	 * 3000-3999 belong to libraries and 4000-4999 to applications. */
	if (code >= 1000 && code <= 1003)
		return true;
	if (code >= 1007 && code <= 1014)
		return true;
	return code >= 3000 && code <= 4999;
}

bool ws_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* UTF-16 surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= n; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += n + 1;
	}
	return true;
}

int ws_close_payload_parse(const uint8_t *payload, size_t len, struct ws_close *out)
{
	if (len == 0) {
		out->code = WS_CLOSE_NO_STATUS;
		out->reason = "";
		out->reason_len = 0;
		return 0;
	}
	if (len == 1)
		return WS_ERR_CLOSE_LENGTH;
	if (len > WS_CONTROL_PAYLOAD_MAX)
		return WS_ERR_CONTROL_TOO_LONG;
	uint16_t code = rd_be16(payload);
	if (!ws_close_code_valid(code))
		return WS_ERR_CLOSE_CODE;
	if (!ws_utf8_valid(payload + 2, len - 2))
		return WS_ERR_CLOSE_UTF8;
	out->code = code;
	out->reason = (const char *)payload + 2;
	out->reason_len = len - 2;
	return 0;
}

int ws_close_payload_encode(uint8_t *out, size_t cap, uint16_t code, const char *reason,
			    size_t reason_len)
{
	if (code == 0)
		return reason_len == 0 ? 0 : -1;
	if (!ws_close_code_valid(code) || reason_len > WS_CLOSE_REASON_MAX)
		return -1;
	if (reason_len && (!reason || !ws_utf8_valid((const uint8_t *)reason, reason_len)))
		return -1;
	if (cap < 2 + reason_len)
		return -1;
	wr_be16(out, code);
	if (reason_len)
		memcpy(out + 2, reason, reason_len);
	return (int)(2 + reason_len);
}

int ws_error_close_code(int err)
{
	switch (err) {
	case WS_ERR_TOO_BIG:
		return WS_CLOSE_MESSAGE_TOO_BIG;
	case WS_ERR_CLOSE_UTF8:
		return WS_CLOSE_INVALID_PAYLOAD;
	case WS_ERR_RSV:
	case WS_ERR_OPCODE:
	case WS_ERR_CONTROL_FRAGMENTED:
	case WS_ERR_CONTROL_TOO_LONG:
	case WS_ERR_LENGTH_OVERFLOW:
	case WS_ERR_MASK_REQUIRED:
	case WS_ERR_MASK_FORBIDDEN:
	case WS_ERR_UNEXPECTED_CONTINUATION:
	case WS_ERR_EXPECTED_CONTINUATION:
	case WS_ERR_CLOSE_LENGTH:
	case WS_ERR_CLOSE_CODE:
		return WS_CLOSE_PROTOCOL_ERROR;
	default:
		return 0;
	}
}

const char *ws_strerror(int err)
{
	switch (err) {
	case WS_ERR_RSV:
		return "websocket: reserved bits set";
	case WS_ERR_OPCODE:
		return "websocket: reserved opcode";
	case WS_ERR_CONTROL_FRAGMENTED:
		return "websocket: fragmented control frame";
	case WS_ERR_CONTROL_TOO_LONG:
		return "websocket: control frame payload over 125 bytes";
	case WS_ERR_LENGTH_OVERFLOW:
		return "websocket: 64-bit length with the top bit set";
	case WS_ERR_MASK_REQUIRED:
		return "websocket: unmasked frame from client";
	case WS_ERR_MASK_FORBIDDEN:
		return "websocket: masked frame from server";
	case WS_ERR_TOO_BIG:
		return "websocket: frame too big";
	case WS_ERR_UNEXPECTED_CONTINUATION:
		return "websocket: continuation frame without a message";
	case WS_ERR_EXPECTED_CONTINUATION:
		return "websocket: new message inside a fragmented message";
	case WS_ERR_CLOSE_LENGTH:
		return "websocket: close payload of 1 byte";
	case WS_ERR_CLOSE_CODE:
		return "websocket: invalid close code";
	case WS_ERR_CLOSE_UTF8:
		return "websocket: close reason is not UTF-8";
	default:
		return "websocket: unknown error";
	}
}

int ws_accept_key(const char *client_key, char out[WS_ACCEPT_KEY_LEN + 1])
{
	/* Keys are 24 bytes in practice; the bound keeps the buffer on the stack. */
	uint8_t buf[256 + sizeof ws_guid - 1];
	uint8_t digest[SHA_DIGEST_LENGTH];
	size_t n;

	if (!client_key)
		return -1;
	n = strnlen(client_key, 257);
	if (n > 256)
		return -1;
	memcpy(buf, client_key, n);
	memcpy(buf + n, ws_guid, sizeof ws_guid - 1);
	SHA1(buf, n + sizeof ws_guid - 1, digest);
	EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
	return 0;
}

bool ws_accept_key_matches(const char *client_key, const char *accept)
{
	char want[WS_ACCEPT_KEY_LEN + 1];

	if (!accept || ws_accept_key(client_key, want) < 0)
		return false;
	return strcmp(want, accept) == 0;
}

void ws_client_key_make(const uint8_t random16[16], char out[WS_CLIENT_KEY_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)out, random16, 16);
}

static bool base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/';
}

bool ws_client_key_valid(const char *key)
{
	/* 16 bytes = 22 base64 characters (132 bits, 4 of them padding) + "==". */
	if (!key || strnlen(key, WS_CLIENT_KEY_LEN + 1) != WS_CLIENT_KEY_LEN)
		return false;
	for (int i = 0; i < 22; i++)
		if (!base64_char(key[i]))
			return false;
	return key[22] == '=' && key[23] == '=';
}
