/*
 * HAProxy's PROXY protocol (proxy-protocol.txt): the v1 text line and the v2 binary
 * header a proxy puts before a connection's bytes to name the client it accepted.
 * I/O-free: bytes in, struct out, and back.
 */
#ifndef PORTWAY_PROTO_PROXY_PROTOCOL_H
#define PORTWAY_PROTO_PROXY_PROTOCOL_H
#include <stddef.h>
#include <stdint.h>

#define PP_V1_MAX_LEN 107            /* the spec's bound on a v1 line, CRLF included */
#define PP_V2_FIXED_LEN 16
#define PP_V2_MAX_PAYLOAD 2048       /* addresses plus TLVs; a longer header is refused */
#define PP_HEADER_MAX (PP_V2_FIXED_LEN + PP_V2_MAX_PAYLOAD)

/* An endpoint as the header names it: family 4 or 6 (ip in network order; an IPv4
 * address in the first 4 bytes), or 0 when the header carries none. */
struct pp_addr {
	int family;
	uint8_t ip[16];
	uint16_t port;
};

struct pp_header {
	int version;                 /* 1 or 2 */
	/* 0: v1 UNKNOWN, v2 LOCAL, or a v2 family without IP addresses (AF_UNSPEC, AF_UNIX):
	 * the connection's own addresses stand */
	int has_addrs;
	struct pp_addr src, dst;
};

enum {
	PP_NEED_MORE = 0,            /* a header's prefix so far */
	PP_INVALID = -1,             /* a PROXY signature with a malformed header */
	PP_NOT_PROXY = -2,           /* the bytes begin with neither signature */
};

/* Parse the header at the start of buf[0..len): its length (>0) with *h filled, or one of
 * the PP_ values. A v2 header's TLVs are checked for framing and skipped. */
long pp_parse(const uint8_t *buf, size_t len, struct pp_header *h);

/* Whether buf[0..len) holds a whole v1 or v2 signature: a header has begun (rather than bytes
 * that only might begin one). */
int pp_signature_seen(const uint8_t *buf, size_t len);

/* Write a version 1 or 2 header naming src -> dst into out: its length, -1 if cap is too
 * small or version is neither. Unknown addresses (family 0 on either side) give v1 UNKNOWN
 * and v2 PROXY with AF_UNSPEC; one IPv4 and one IPv6 address both go as IPv6 (mapped). */
long pp_encode(uint8_t *out, size_t cap, int version, const struct pp_addr *src, const struct pp_addr *dst);

#endif
