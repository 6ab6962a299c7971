/*
 * libFuzzer target for the Shadowsocks AEAD codec. The first byte picks the
 * method and a segment size; the rest is read twice:
 *  - as wire bytes for the decoder, fed in segments, which must never
 *    overrun, must report plaintext no longer than a chunk, and, once
 *    failed, must stay failed;
 *  - as plaintext for the encoder, whose output must decode (in other
 *    segments) back to exactly that plaintext.
 * With "none" (no tags) arbitrary input reaches the length and payload
 * states too. The same bytes are then a UDP packet, whose opening must
 * give exactly its length minus the overhead or an error, and whose
 * plaintext's address must parse within it or be refused; and a UDP
 * plaintext, whose sealed packet must open back to it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/shadowsocks.h"
#include "proto/socks5.h"

static const char *const names[] = { "aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305", "none" };

/* Feeds in to d in segments of seg bytes, appending plaintext to out (may be NULL). Returns 0 or the error. */
static int feed(struct ss_decoder *d, const uint8_t *in, size_t len, size_t seg, uint8_t *out, size_t *outlen)
{
	static uint8_t pt[SS_PAYLOAD_MAX];
	for (size_t off = 0; off < len;) {
		size_t n = seg < len - off ? seg : len - off, pos = 0;
		while (pos < n) {
			size_t used, got;
			int r = ss_decode(d, in + off + pos, n - pos, &used, pt, &got);
			if (used > n - pos || got > SS_PAYLOAD_MAX)
				abort();
			pos += used;
			if (r < 0)
				return r;
			if (r == 0) {
				if (pos != n)
					abort();
				break;
			}
			if (out) {
				memcpy(out + *outlen, pt, got);
				*outlen += got;
			}
		}
		off += n;
	}
	return 0;
}

static void fuzz_packet(const struct ss_method *m, const uint8_t *key, const uint8_t *data, size_t size)
{
	struct ss_aead a = { 0 };
	struct socks5_addr addr;
	uint8_t salt[SS_SALT_MAX];
	uint8_t *out = malloc(size + 1), *wire = malloc(size + ss_packet_overhead(m));
	ssize_t n = ss_packet_open(&a, m, key, data, size, out, size);
	if (n >= 0) {
		if ((size_t)n != size - ss_packet_overhead(m))
			abort();
		int hl = ss_packet_addr(out, (size_t)n, &addr);
		if (hl != SS_ERR_ADDRESS && (hl <= 0 || hl > n))
			abort();
	} else if (n != SS_ERR_SHORT && n != SS_ERR_AUTH) {
		abort();
	}
	memset(salt, size ? data[size - 1] : 0, sizeof salt);
	n = ss_packet_seal(&a, m, key, salt, data, size, wire, size + ss_packet_overhead(m));
	if (n != (ssize_t)(size + ss_packet_overhead(m)) ||
	    ss_packet_open(&a, m, key, wire, (size_t)n, out, size) != (ssize_t)size || (size && memcmp(out, data, size)))
		abort();
	ss_aead_free(&a);
	free(out);
	free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const struct ss_method *m = ss_method_find(names[data[0] % 5]);
	size_t seg = 1 + (data[0] >> 3) * 37;
	uint8_t key[SS_KEY_MAX] = { 0 }, salt[SS_SALT_MAX];
	data++;
	size--;
	if (ss_password_key(m, "fuzz", 4, key) < 0)
		abort();

	struct ss_decoder *d = malloc(sizeof *d);
	if (ss_decoder_init(d, m, key) < 0)
		abort();
	int r = feed(d, data, size, seg, NULL, NULL);
	if (r < 0) {
		size_t used, got;
		uint8_t pt[SS_PAYLOAD_MAX];
		if (ss_decode(d, data, size, &used, pt, &got) != r || used)
			abort();
	}
	ss_decoder_free(d);

	/* Round trip: what the encoder writes decodes to the input. */
	struct ss_encoder e;
	memset(salt, size ? data[0] : 0, sizeof salt);
	if (ss_encoder_init(&e, m, key, salt) < 0)
		abort();
	size_t wl = ss_encoded_size(&e, size);
	uint8_t *wire = malloc(wl ? wl : 1), *out = malloc(size ? size : 1);
	size_t outlen = 0;
	if (ss_encode(&e, data, size, wire, wl) != (ssize_t)wl)
		abort();
	ss_encoder_free(&e);
	if (ss_decoder_init(d, m, key) < 0 || feed(d, wire, wl, seg * 3 + 1, out, &outlen) != 0 || outlen != size ||
	    (size && memcmp(out, data, size)))
		abort();
	ss_decoder_free(d);
	free(d);
	free(wire);
	free(out);
	fuzz_packet(m, key, data, size);
	return 0;
}
