/* ClientHello / SNI peeking; see tls_peek.h. */
#include "proto/tls_peek.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto/bytes.h"

#define CT_HANDSHAKE 0x16
#define HS_CLIENT_HELLO 0x01
#define EXT_SERVER_NAME 0x0000
#define NAME_TYPE_HOST 0x00
#define RECORD_MAX 16384
/* version(2) random(32) session_id(1) cipher_suites(2+2) compression(1+1) */
#define HELLO_MIN 41

/*
 * Checks the record header at b[off..], as far as it has arrived. Returns
 * the record's fragment length, 0 when the header is incomplete, -1 when it
 * is no handshake record.
 */
static int record_header(const uint8_t *b, size_t len, size_t off)
{
	size_t avail = len - off;

	if (avail < 1)
		return 0;
	if (b[off] != CT_HANDSHAKE)
		return -1;
	if (avail < 2)
		return 0;
	if (b[off + 1] != 3)
		return -1;
	if (avail < 3)
		return 0;
	if (b[off + 2] > 4)
		return -1;
	if (avail < 5)
		return 0;
	unsigned n = rd_be16(b + off + 3);
	return n == 0 || n > RECORD_MAX ? -1 : (int)n;
}

/* A cursor over the hello body that fails once and stays failed. */
struct cur {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	if (c->bad || n > c->left) {
		c->bad = true;
		return NULL;
	}
	const uint8_t *p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

static unsigned take8(struct cur *c)
{
	const uint8_t *p = take(c, 1);
	return p ? p[0] : 0;
}

static unsigned take16(struct cur *c)
{
	const uint8_t *p = take(c, 2);
	return p ? rd_be16(p) : 0;
}

static int copy_host(const uint8_t *p, size_t n, char *host)
{
	if (n == 0 || n > TLS_PEEK_HOST_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
			   c == '-' || c == '_'))
			return -1;
		host[i] = (char)c;
	}
	host[n] = 0;
	return 0;
}

/* server_name extension data: a list of (type, name); returns 1 if found. */
static int server_name(const uint8_t *p, size_t n, char *host)
{
	struct cur c = { p, n, false };
	size_t list = take16(&c);
	int found = 0;

	if (c.bad || list != c.left || list == 0)
		return -1;
	while (c.left) {
		unsigned type = take8(&c);
		size_t len = take16(&c);
		const uint8_t *name = take(&c, len);
		if (c.bad)
			return -1;
		if (type == NAME_TYPE_HOST) {
			if (found)
				return -1; /* RFC 6066 3: one name per type */
			if (copy_host(name, len, host) < 0)
				return -1;
			found = 1;
		}
	}
	return found;
}

/* The ClientHello body, after the 4-byte handshake header. */
static int parse_hello(const uint8_t *p, size_t n, char *host)
{
	struct cur c = { p, n, false };
	bool seen_sni = false;
	int found = 0;

	if (take8(&c) != 3)
		return TLS_PEEK_NOT_TLS;
	take(&c, 1 + 32);
	size_t sid = take8(&c);
	if (sid > 32)
		return TLS_PEEK_NOT_TLS;
	take(&c, sid);
	size_t cs = take16(&c);
	if (cs < 2 || cs % 2)
		return TLS_PEEK_NOT_TLS;
	take(&c, cs);
	size_t comp = take8(&c);
	if (comp < 1)
		return TLS_PEEK_NOT_TLS;
	take(&c, comp);
	if (c.bad)
		return TLS_PEEK_NOT_TLS;
	if (c.left == 0)
		return TLS_PEEK_NO_SNI; /* no extensions at all */

	size_t ext_total = take16(&c);
	if (c.bad || ext_total != c.left)
		return TLS_PEEK_NOT_TLS;
	while (c.left) {
		unsigned type = take16(&c);
		size_t len = take16(&c);
		const uint8_t *data = take(&c, len);
		if (c.bad)
			return TLS_PEEK_NOT_TLS;
		if (type == EXT_SERVER_NAME) {
			if (seen_sni)
				return TLS_PEEK_NOT_TLS;
			seen_sni = true;
			found = server_name(data, len, host);
			if (found < 0)
				return TLS_PEEK_NOT_TLS;
		}
	}
	return found ? TLS_PEEK_SNI : TLS_PEEK_NO_SNI;
}

/* Needing `end` bytes when len arrived: wait, or give up past TLS_PEEK_MAX. */
static int need(size_t end)
{
	return end > TLS_PEEK_MAX ? TLS_PEEK_NOT_TLS : TLS_PEEK_NEED_MORE;
}

int tls_peek_sni(const void *buf, size_t len, char host[TLS_PEEK_HOST_MAX + 1])
{
	const uint8_t *b = buf;
	int rec = record_header(b, len, 0);
	size_t hs_len;

	if (rec <= 0)
		return rec < 0 ? TLS_PEEK_NOT_TLS : TLS_PEEK_NEED_MORE;
	if (len < 6)
		return TLS_PEEK_NEED_MORE;
	if (b[5] != HS_CLIENT_HELLO)
		return TLS_PEEK_NOT_TLS;
	/* The handshake header itself may be split, but needs 4 bytes first. */
	if (rec < 4)
		return TLS_PEEK_NOT_TLS;
	if (len < 9)
		return TLS_PEEK_NEED_MORE;
	hs_len = (size_t)b[6] << 16 | (size_t)rd_be16(b + 7);
	if (hs_len < HELLO_MIN || 4 + hs_len > TLS_PEEK_MAX)
		return TLS_PEEK_NOT_TLS;

	if (4 + hs_len <= (size_t)rec) {
		if (len < 9 + hs_len)
			return TLS_PEEK_NEED_MORE;
		return parse_hello(b + 9, hs_len, host);
	}

	/* Spread over several records: gather the fragments. */
	uint8_t hs[TLS_PEEK_MAX];
	size_t got = 0, want = 4 + hs_len, off = 0;
	while (got < want) {
		rec = record_header(b, len, off);
		if (rec < 0)
			return TLS_PEEK_NOT_TLS;
		if (rec == 0)
			return need(off + 5);
		size_t take_n = (size_t)rec < want - got ? (size_t)rec : want - got;
		if (len - off - 5 < take_n)
			return need(off + 5 + take_n);
		memcpy(hs + got, b + off + 5, take_n);
		got += take_n;
		off += 5 + (size_t)rec;
		if (got < want && off + 5 > TLS_PEEK_MAX)
			return TLS_PEEK_NOT_TLS;
	}
	return parse_hello(hs + 4, hs_len, host);
}
