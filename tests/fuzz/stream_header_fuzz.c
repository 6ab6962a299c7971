/*
 * libFuzzer target for the GoDoxy stream header. Each input is tried twice:
 * as is (which almost never passes the CRC), and with a correct CRC patched
 * in, so that the field checks and the extraction are reached too. Whatever
 * parses is re-encoded and must come out identical up to padding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proto/stream_header.h"

static int has_any(const char *s, size_t len, const char *set)
{
	for (; *set; set++)
		if (memchr(s, *set, len))
			return 1;
	return 0;
}

static void check(const uint8_t *buf, size_t len)
{
	struct stream_header h, h2;
	uint8_t re[STREAM_HEADER_SIZE], canon[STREAM_HEADER_SIZE];
	char addr[STREAM_HEADER_ADDR_MAX];
	int rc = stream_header_parse(buf, len, &h);

	if (len < STREAM_HEADER_SIZE) {
		if (rc != 0)
			abort();
		return;
	}
	int v = stream_header_validate(buf);
	if (v < 0 ? rc != v : rc != STREAM_HEADER_SIZE)
		abort();
	if (rc < 0)
		return;
	if (rc != STREAM_HEADER_SIZE || h.port_len > STREAM_HEADER_PORT_MAX)
		abort();
	if (h.host[h.host_len] != '\0' || h.port[h.port_len] != '\0')
		abort();

	if (stream_header_encode(re, h.host, h.host_len, h.port, h.port_len, h.flag) != STREAM_HEADER_SIZE)
		abort();
	/* The input with its padding zeroed and CRC recomputed is the canonical form. */
	memcpy(canon, buf, STREAM_HEADER_SIZE);
	memset(canon + 9 + h.host_len, 0, STREAM_HEADER_HOST_MAX - h.host_len);
	memset(canon + 265 + h.port_len, 0, STREAM_HEADER_PORT_MAX - h.port_len);
	memcpy(canon + 271, re + 271, 4);
	if (memcmp(re, canon, 271) != 0)
		abort();
	/* Zero padding: the re-encoding is byte for byte the input. */
	if (memcmp(canon, buf, 271) == 0 && memcmp(re, buf, STREAM_HEADER_SIZE) != 0)
		abort();
	if (stream_header_parse(re, sizeof re, &h2) != STREAM_HEADER_SIZE)
		abort();
	if (h2.flag != h.flag || h2.host_len != h.host_len || h2.port_len != h.port_len ||
	    memcmp(h2.host, h.host, h.host_len + 1) != 0 || memcmp(h2.port, h.port, h.port_len + 1) != 0)
		abort();

	int n = stream_header_dial_addr(&h, addr, sizeof addr);
	if (n >= 0) {
		if ((size_t)n != strlen(addr) || n < h.host_len + 1 + h.port_len)
			abort();
		if (strchr(h.host, ':') && addr[0] != '[')
			abort();
		/* What we dial must split back into what we were sent, unless
		 * brackets or a colon in the port make it ambiguous. */
		if (!has_any(h.host, h.host_len, "[]") && !has_any(h.port, h.port_len, "[]:") &&
		    (stream_header_build_addr(re, addr) != STREAM_HEADER_SIZE ||
		     stream_header_parse(re, sizeof re, &h2) != STREAM_HEADER_SIZE ||
		    h2.host_len != h.host_len || memcmp(h2.host, h.host, h.host_len) != 0 ||
		    h2.port_len != h.port_len || memcmp(h2.port, h.port, h.port_len) != 0))
			abort();
	}
	(void)stream_header_port_number(&h);
	(void)stream_header_strerror(rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[STREAM_HEADER_SIZE];

	check(data, size);
	if (size < STREAM_HEADER_SIZE)
		return 0;
	memcpy(buf, data, sizeof buf);
	uLong crc = crc32(crc32(0L, Z_NULL, 0), buf, 271);
	buf[271] = (uint8_t)(crc >> 24);
	buf[272] = (uint8_t)(crc >> 16);
	buf[273] = (uint8_t)(crc >> 8);
	buf[274] = (uint8_t)crc;
	check(buf, sizeof buf);

	/* Arbitrary text as a dial address for the client-side builder. */
	char addr[300];
	size_t n = size - STREAM_HEADER_SIZE < sizeof addr - 1 ? size - STREAM_HEADER_SIZE : sizeof addr - 1;
	memcpy(addr, data + STREAM_HEADER_SIZE, n);
	addr[n] = '\0';
	if (stream_header_build_addr(buf, addr) == STREAM_HEADER_SIZE)
		check(buf, sizeof buf);
	return 0;
}
