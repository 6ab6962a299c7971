/*
 * libFuzzer target for the GOST relay codec. Each input is read as a
 * request, a response, a UDP BIND frame, a LEN-framed datagram and an
 * address string. Checked: prefixes of a message never read as malformed
 * unless the whole is; what parses re-encodes to something that parses to
 * the same message, byte for byte when the input was in canonical form.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/relay.h"

static bool addr_equal(const struct relay_addr *a, const struct relay_addr *b)
{
	return a->atyp == b->atyp && a->port == b->port && strcmp(a->host, b->host) == 0;
}

static bool msg_equal(const struct relay_msg *a, const struct relay_msg *b)
{
	size_t i;

	if (a->version != b->version || a->cmd != b->cmd || a->status != b->status)
		return false;
	if (a->has_user_auth != b->has_user_auth || a->has_network != b->has_network ||
	    a->has_tunnel != b->has_tunnel || a->naddr != b->naddr)
		return false;
	if (a->has_user_auth &&
	    (a->username_len != b->username_len || a->password_len != b->password_len ||
	     memcmp(a->username, b->username, a->username_len) != 0 ||
	     memcmp(a->password, b->password, a->password_len) != 0))
		return false;
	if (a->has_network && a->network != b->network)
		return false;
	if (a->has_tunnel && memcmp(a->tunnel, b->tunnel, RELAY_TUNNEL_LEN) != 0)
		return false;
	for (i = 0; i < a->naddr; i++)
		if (!addr_equal(&a->addr[i], &b->addr[i]))
			return false;
	return true;
}

/* Feature types of a well-formed message, in wire order. */
/* Each feature's LEN, in wire order: a feature with spare bytes inside its LEN (which the parser
 * ignores, as GOST does) is not canonical, so only equal lengths allow a byte comparison. */
static size_t wire_lens(const uint8_t *buf, size_t len, uint16_t *lens, size_t max)
{
	size_t off = RELAY_HEADER_LEN, n = 0;

	while (off + 3 <= len && n < max) {
		lens[n] = (uint16_t)((size_t)buf[off + 1] << 8 | buf[off + 2]);
		off += 3 + lens[n++];
	}
	return n;
}

static size_t wire_types(const uint8_t *buf, size_t len, uint8_t *types, size_t max)
{
	size_t off = RELAY_HEADER_LEN, n = 0;

	while (off + 3 <= len && n < max) {
		types[n++] = buf[off];
		off += 3 + ((size_t)buf[off + 1] << 8 | buf[off + 2]);
	}
	return n;
}

/* The types relay_*_encode() writes for m, in order. */
static size_t canonical_types(const struct relay_msg *m, uint8_t *types)
{
	enum relay_feature_order order = m->order;
	size_t n = 0, i;

	if (order == RELAY_ORDER_AUTO)
		order = (m->cmd & RELAY_CMD_MASK) == RELAY_CMD_BIND ?
			RELAY_ORDER_AUTH_FIRST : RELAY_ORDER_NETWORK_FIRST;
	if (order == RELAY_ORDER_AUTH_FIRST) {
		if (m->has_user_auth)
			types[n++] = RELAY_FEATURE_USER_AUTH;
		if (m->has_network)
			types[n++] = RELAY_FEATURE_NETWORK;
	} else {
		if (m->has_network)
			types[n++] = RELAY_FEATURE_NETWORK;
		if (m->has_user_auth)
			types[n++] = RELAY_FEATURE_USER_AUTH;
	}
	for (i = 0; i < m->naddr_total; i++)
		types[n++] = RELAY_FEATURE_ADDR;
	if (m->has_tunnel)
		types[n++] = RELAY_FEATURE_TUNNEL;
	return n;
}

typedef int (*parse_fn)(const uint8_t *, size_t, struct relay_msg *);
typedef int (*encode_fn)(uint8_t *, size_t, const struct relay_msg *);

static void check_msg(const uint8_t *data, size_t size, parse_fn parse, encode_fn encode)
{
	static struct relay_msg m, back, tmp;
	static uint8_t re[RELAY_MSG_MAX_LEN];
	int rc = parse(data, size, &m), half, n;

	if (rc < -1 || (rc > 0 && (size_t)rc > size))
		abort();
	/* Once all FEALEN bytes are in, the message must be decided. */
	if (rc == 0 && size >= RELAY_HEADER_LEN &&
	    size >= RELAY_HEADER_LEN + ((size_t)data[2] << 8 | data[3]))
		abort();
	/* A shorter view may only need more, fail as the whole does, or be whole. */
	half = parse(data, size / 2, &tmp);
	if (!(half == 0 || (half == -1 && rc == -1) || (rc > 0 && half == rc)))
		abort();
	if (rc <= 0)
		return;
	if (parse(data, (size_t)rc - 1, &tmp) != 0)
		abort();

	n = encode(re, sizeof(re), &m);
	if (n < RELAY_HEADER_LEN)
		abort();
	if (parse(re, (size_t)n, &back) != n || !msg_equal(&m, &back))
		abort();
	if (m.naddr_total <= RELAY_MAX_ADDRS && n == rc) {
		uint8_t got[32], want[32];
		uint16_t lens_in[32], lens_out[32];
		size_t ng = wire_types(data, (size_t)rc, got, sizeof(got));
		size_t nw = canonical_types(&m, want);
		size_t nli = wire_lens(data, (size_t)rc, lens_in, 32), nlo = wire_lens(re, (size_t)n, lens_out, 32);

		if (ng == nw && memcmp(got, want, ng) == 0 && nli == nlo &&
		    memcmp(lens_in, lens_out, nli * sizeof *lens_in) == 0 && memcmp(re, data, (size_t)n) != 0)
			abort();
	}
	if (encode(re, (size_t)n - 1, &m) != -1)
		abort();
}

static void check_udp_bind(const uint8_t *data, size_t size)
{
	static uint8_t re[RELAY_UDP_BIND_HEADER_MAX + RELAY_UDP_MAX_PAYLOAD];
	struct relay_addr a, a2;
	const uint8_t *payload, *p2;
	size_t plen, plen2;
	int rc = relay_udp_bind_frame_parse(data, size, &a, &payload, &plen), n;

	if (rc < -1 || (rc > 0 && (size_t)rc > size))
		abort();
	if (rc <= 0)
		return;
	if (relay_udp_bind_frame_parse(data, (size_t)rc - 1, &a2, &p2, &plen2) != 0)
		abort();
	n = relay_udp_bind_frame_encode(re, sizeof(re), &a, payload, plen);
	if (n != rc)
		abort();
	/* Identical except FRAG, which we always write as 0xFF. */
	if (memcmp(re, data, 2) != 0 || re[2] != 0xff || memcmp(re + 3, data + 3, (size_t)n - 3) != 0)
		abort();
	if (relay_udp_bind_frame_parse(re, (size_t)n, &a2, &p2, &plen2) != n ||
	    !addr_equal(&a, &a2) || plen2 != plen)
		abort();
}

static void check_udp_len(const uint8_t *data, size_t size)
{
	const uint8_t *payload;
	size_t plen;
	uint8_t hdr[2];
	int rc = relay_udp_len_frame_parse(data, size, &payload, &plen);

	if (rc < 0 || (size_t)rc > size)
		abort();
	if (rc == 0)
		return;
	if (payload != data + 2 || (size_t)rc != 2 + plen)
		abort();
	if (relay_udp_len_header_encode(hdr, sizeof(hdr), plen) != 2 || memcmp(hdr, data, 2) != 0)
		abort();
}

static void check_addr_string(const uint8_t *data, size_t size)
{
	char s[600];
	struct relay_addr a, a2;
	uint8_t buf[RELAY_ADDR_MAX_LEN];
	char text[RELAY_HOST_MAX + 16];
	int n;

	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	if (relay_addr_from_string(&a, s) < 0)
		return;
	n = relay_addr_encode(buf, sizeof(buf), &a);
	if (n <= 0)
		abort();
	/* A NUL-free host always survives the wire. */
	if (relay_addr_parse(buf, (size_t)n, &a2) != n || !addr_equal(&a, &a2))
		abort();
	if (relay_addr_format(&a, text, sizeof(text)) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_msg(data, size, relay_request_parse, relay_request_encode);
	check_msg(data, size, relay_response_parse, relay_response_encode);
	check_udp_bind(data, size);
	check_udp_len(data, size);
	check_addr_string(data, size);
	return 0;
}
