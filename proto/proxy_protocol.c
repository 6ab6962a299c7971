#include "proto/proxy_protocol.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t sig_v1[] = "PROXY ";
static const uint8_t sig_v2[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

enum { V2_CMD_LOCAL = 0x0, V2_CMD_PROXY = 0x1 };
enum { V2_AF_UNSPEC = 0x0, V2_AF_INET = 0x1, V2_AF_INET6 = 0x2, V2_AF_UNIX = 0x3 };
enum { V2_TP_UNSPEC = 0x0, V2_TP_STREAM = 0x1 };

/* Whether buf[0..len) is a prefix of (or starts with) sig: -1 no, 0 a prefix only, 1 all of it. */
static int sig_match(const uint8_t *buf, size_t len, const uint8_t *sig, size_t siglen)
{
	size_t n = len < siglen ? len : siglen;
	if (memcmp(buf, sig, n))
		return -1;
	return len >= siglen;
}

/* ---- v1: "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN...\r\n" ---- */

/* The next space-separated field of line[*pos..end) into out; -1 if empty or too long. */
static int v1_field(const char *line, size_t end, size_t *pos, char *out, size_t cap, int last)
{
	size_t start = *pos, i = start;
	while (i < end && line[i] != ' ')
		i++;
	if (i == start || i - start >= cap || (last ? i != end : i == end))
		return -1;
	memcpy(out, line + start, i - start);
	out[i - start] = 0;
	*pos = last ? i : i + 1;
	return 0;
}

/* Decimal 0..65535 without a sign or leading zeros. */
static int v1_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = strlen(s);
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int v1_ip(const char *s, int family, struct pp_addr *a)
{
	a->family = family;
	memset(a->ip, 0, sizeof a->ip);
	return inet_pton(family == 4 ? AF_INET : AF_INET6, s, a->ip) == 1 ? 0 : -1;
}

static long v1_parse(const uint8_t *buf, size_t len, struct pp_header *h)
{
	size_t lf = 0;
	while (lf < len && lf < PP_V1_MAX_LEN && buf[lf] != '\n')
		lf++;
	if (lf == len)
		return len < PP_V1_MAX_LEN ? PP_NEED_MORE : PP_INVALID;
	if (lf == PP_V1_MAX_LEN || lf == 0 || buf[lf - 1] != '\r')
		return PP_INVALID;
	const char *line = (const char *)buf;
	size_t end = lf - 1, pos = sizeof sig_v1 - 1;
	char proto[8], sip[48], dip[48], sport[8], dport[8];
	memset(h, 0, sizeof *h);
	h->version = 1;
	for (size_t i = 0; i < end; i++)
		if (line[i] == '\r' || line[i] == 0)
			return PP_INVALID;
	/* UNKNOWN may carry anything after it; the receiver ignores it */
	if (end - pos >= 7 && !memcmp(line + pos, "UNKNOWN", 7) && (end - pos == 7 || line[pos + 7] == ' '))
		return (long)lf + 1;
	if (v1_field(line, end, &pos, proto, sizeof proto, 0) < 0)
		return PP_INVALID;
	int family = !strcmp(proto, "TCP4") ? 4 : !strcmp(proto, "TCP6") ? 6 : 0;
	if (!family || v1_field(line, end, &pos, sip, sizeof sip, 0) < 0 ||
	    v1_field(line, end, &pos, dip, sizeof dip, 0) < 0 || v1_field(line, end, &pos, sport, sizeof sport, 0) < 0 ||
	    v1_field(line, end, &pos, dport, sizeof dport, 1) < 0)
		return PP_INVALID;
	if (v1_ip(sip, family, &h->src) < 0 || v1_ip(dip, family, &h->dst) < 0 || v1_port(sport, &h->src.port) < 0 ||
	    v1_port(dport, &h->dst.port) < 0)
		return PP_INVALID;
	h->has_addrs = 1;
	return (long)lf + 1;
}

/* ---- v2: signature, version/command, family/transport, length, addresses, TLVs ---- */

static int v2_tlvs_framed(const uint8_t *p, size_t n)
{
	while (n) {
		if (n < 3)
			return -1;
		size_t l = ((size_t)p[1] << 8) | p[2];
		if (l > n - 3)
			return -1;
		p += 3 + l;
		n -= 3 + l;
	}
	return 0;
}

static long v2_parse(const uint8_t *buf, size_t len, struct pp_header *h)
{
	if (len < PP_V2_FIXED_LEN)
		return PP_NEED_MORE;
	int ver = buf[12] >> 4, cmd = buf[12] & 0x0F, af = buf[13] >> 4, tp = buf[13] & 0x0F;
	size_t plen = ((size_t)buf[14] << 8) | buf[15];
	if (ver != 2 || (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY) || af > V2_AF_UNIX || tp > 2 ||
	    plen > PP_V2_MAX_PAYLOAD)
		return PP_INVALID;
	if (len < PP_V2_FIXED_LEN + plen)
		return PP_NEED_MORE;
	const uint8_t *p = buf + PP_V2_FIXED_LEN;
	size_t alen = af == V2_AF_INET ? 12 : af == V2_AF_INET6 ? 36 : af == V2_AF_UNIX ? 216 : 0;
	memset(h, 0, sizeof *h);
	h->version = 2;
	if (plen < alen || v2_tlvs_framed(p + alen, plen - alen) < 0)
		return PP_INVALID;
	if (cmd == V2_CMD_PROXY && (af == V2_AF_INET || af == V2_AF_INET6)) {
		/* a stream listener takes a stream's addresses (or ones whose transport is unsaid) */
		if (tp != V2_TP_STREAM && tp != V2_TP_UNSPEC)
			return PP_INVALID;
		size_t il = af == V2_AF_INET ? 4 : 16;
		h->src.family = h->dst.family = af == V2_AF_INET ? 4 : 6;
		memcpy(h->src.ip, p, il);
		memcpy(h->dst.ip, p + il, il);
		h->src.port = (uint16_t)((p[2 * il] << 8) | p[2 * il + 1]);
		h->dst.port = (uint16_t)((p[2 * il + 2] << 8) | p[2 * il + 3]);
		h->has_addrs = 1;
	}
	return (long)(PP_V2_FIXED_LEN + plen);
}

long pp_parse(const uint8_t *buf, size_t len, struct pp_header *h)
{
	if (len == 0)
		return PP_NEED_MORE;
	int m1 = sig_match(buf, len, sig_v1, sizeof sig_v1 - 1);
	int m2 = sig_match(buf, len, sig_v2, sizeof sig_v2);
	if (m1 == 1)
		return v1_parse(buf, len, h);
	if (m2 == 1)
		return v2_parse(buf, len, h);
	return m1 == 0 || m2 == 0 ? PP_NEED_MORE : PP_NOT_PROXY;
}

int pp_signature_seen(const uint8_t *buf, size_t len)
{
	return sig_match(buf, len, sig_v1, sizeof sig_v1 - 1) == 1 || sig_match(buf, len, sig_v2, sizeof sig_v2) == 1;
}

/* ---- encoding ---- */

/* Both sides in one family: 6 if either is IPv6 (the IPv4 one mapped), 0 if either is unknown. */
static int common_family(const struct pp_addr *a, const struct pp_addr *b, struct pp_addr *oa, struct pp_addr *ob)
{
	*oa = *a;
	*ob = *b;
	if (!a->family || !b->family)
		return 0;
	if (a->family == b->family)
		return a->family;
	struct pp_addr *v4 = a->family == 4 ? oa : ob;
	uint8_t ip[4];
	memcpy(ip, v4->ip, 4);
	memset(v4->ip, 0, 16);
	v4->ip[10] = v4->ip[11] = 0xFF;
	memcpy(v4->ip + 12, ip, 4);
	v4->family = 6;
	return 6;
}

static long encode_v1(uint8_t *out, size_t cap, int family, const struct pp_addr *s, const struct pp_addr *d)
{
	int n;
	if (!family) {
		n = snprintf((char *)out, cap, "PROXY UNKNOWN\r\n");
	} else {
		char sip[INET6_ADDRSTRLEN], dip[INET6_ADDRSTRLEN];
		int af = family == 4 ? AF_INET : AF_INET6;
		if (!inet_ntop(af, s->ip, sip, sizeof sip) || !inet_ntop(af, d->ip, dip, sizeof dip))
			return -1;
		n = snprintf((char *)out, cap, "PROXY TCP%d %s %s %u %u\r\n", family, sip, dip, s->port, d->port);
	}
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

static long encode_v2(uint8_t *out, size_t cap, int family, const struct pp_addr *s, const struct pp_addr *d)
{
	size_t il = family == 4 ? 4 : family == 6 ? 16 : 0, plen = il ? 2 * il + 4 : 0;
	if (cap < PP_V2_FIXED_LEN + plen)
		return -1;
	memcpy(out, sig_v2, sizeof sig_v2);
	out[12] = (uint8_t)(0x20 | V2_CMD_PROXY);
	out[13] = (uint8_t)(il ? ((family == 4 ? V2_AF_INET : V2_AF_INET6) << 4 | V2_TP_STREAM) : 0);
	out[14] = (uint8_t)(plen >> 8);
	out[15] = (uint8_t)plen;
	uint8_t *p = out + PP_V2_FIXED_LEN;
	if (il) {
		memcpy(p, s->ip, il);
		memcpy(p + il, d->ip, il);
		p[2 * il] = (uint8_t)(s->port >> 8);
		p[2 * il + 1] = (uint8_t)s->port;
		p[2 * il + 2] = (uint8_t)(d->port >> 8);
		p[2 * il + 3] = (uint8_t)d->port;
	}
	return (long)(PP_V2_FIXED_LEN + plen);
}

long pp_encode(uint8_t *out, size_t cap, int version, const struct pp_addr *src, const struct pp_addr *dst)
{
	struct pp_addr s, d;
	int family = common_family(src, dst, &s, &d);
	if (version == 1)
		return encode_v1(out, cap, family, &s, &d);
	if (version == 2)
		return encode_v2(out, cap, family, &s, &d);
	return -1;
}
