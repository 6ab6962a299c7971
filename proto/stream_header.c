/* GoDoxy agent stream header codec (doc/protocols/godoxy-stream.md 1.2). */
#include "proto/stream_header.h"

#include <string.h>
#include <zlib.h>

#include "proto/bytes.h"

enum {
	OFF_VERSION = 0,
	OFF_HOST_LEN = 8,
	OFF_HOST = 9,
	OFF_PORT_LEN = OFF_HOST + STREAM_HEADER_HOST_MAX,
	OFF_PORT = OFF_PORT_LEN + 1,
	OFF_FLAG = OFF_PORT + STREAM_HEADER_PORT_MAX,
	OFF_CRC = OFF_FLAG + 1,
};

_Static_assert(OFF_CRC + 4 == STREAM_HEADER_SIZE, "stream header layout");

/* Compared over all 8 bytes, NULs included, as the agent does. */
static const uint8_t version[8] = { '0', '.', '1', '.', '0', 0, 0, 0 };

static uint32_t header_crc(const uint8_t *buf)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, OFF_CRC);
}

int stream_header_encode(uint8_t out[STREAM_HEADER_SIZE], const char *host, size_t host_len,
			 const char *port, size_t port_len, uint8_t flag)
{
	if (host_len > STREAM_HEADER_HOST_MAX || port_len > STREAM_HEADER_PORT_MAX)
		return -1;
	if ((host_len && !host) || (port_len && !port))
		return -1;
	memset(out, 0, STREAM_HEADER_SIZE);
	memcpy(out + OFF_VERSION, version, sizeof version);
	out[OFF_HOST_LEN] = (uint8_t)host_len;
	if (host_len)
		memcpy(out + OFF_HOST, host, host_len);
	out[OFF_PORT_LEN] = (uint8_t)port_len;
	if (port_len)
		memcpy(out + OFF_PORT, port, port_len);
	out[OFF_FLAG] = flag;
	wr_be32(out + OFF_CRC, header_crc(out));
	return STREAM_HEADER_SIZE;
}

int stream_header_build(uint8_t out[STREAM_HEADER_SIZE], const char *host, const char *port)
{
	if (!host || !port)
		return -1;
	return stream_header_encode(out, host, strlen(host), port, strlen(port), 0);
}

/* Mirrors Go's net.SplitHostPort so that we carry what a GoDoxy client would. */
static int split_host_port(const char *addr, size_t len, const char **host, size_t *host_len,
			   const char **port, size_t *port_len)
{
	const char *colon = NULL;
	size_t j = 0, k = 0;

	for (size_t i = len; i > 0; i--) {
		if (addr[i - 1] == ':') {
			colon = addr + i - 1;
			break;
		}
	}
	if (!colon)
		return -1; /* missing port */
	if (addr[0] == '[') {
		const char *end = memchr(addr, ']', len);
		if (!end || end + 1 != colon)
			return -1; /* missing ']', missing port, or too many colons */
		*host = addr + 1;
		*host_len = (size_t)(end - addr - 1);
		j = 1;
		k = (size_t)(end - addr) + 1;
	} else {
		*host = addr;
		*host_len = (size_t)(colon - addr);
		if (memchr(*host, ':', *host_len))
			return -1; /* too many colons: IPv6 needs brackets */
	}
	if (memchr(addr + j, '[', len - j) || memchr(addr + k, ']', len - k))
		return -1;
	*port = colon + 1;
	*port_len = len - (size_t)(colon + 1 - addr);
	return 0;
}

int stream_header_build_addr(uint8_t out[STREAM_HEADER_SIZE], const char *addr)
{
	const char *host, *port;
	size_t host_len, port_len;

	if (!addr || split_host_port(addr, strlen(addr), &host, &host_len, &port, &port_len) < 0)
		return -1;
	return stream_header_encode(out, host, host_len, port, port_len, 0);
}

int stream_header_build_health_check(uint8_t out[STREAM_HEADER_SIZE])
{
	return stream_header_encode(out, NULL, 0, NULL, 0, STREAM_HEADER_FLAG_CLOSE_IMMEDIATELY);
}

int stream_header_validate(const uint8_t buf[STREAM_HEADER_SIZE])
{
	if (memcmp(buf + OFF_VERSION, version, sizeof version) != 0)
		return STREAM_HEADER_ERR_VERSION;
	/* The host length byte cannot exceed 255: nothing to check. */
	if (buf[OFF_PORT_LEN] > STREAM_HEADER_PORT_MAX)
		return STREAM_HEADER_ERR_PORT_LENGTH;
	if (rd_be32(buf + OFF_CRC) != header_crc(buf))
		return STREAM_HEADER_ERR_CHECKSUM;
	return 0;
}

int stream_header_parse(const uint8_t *buf, size_t len, struct stream_header *out)
{
	int rc;

	if (len < STREAM_HEADER_SIZE)
		return 0;
	rc = stream_header_validate(buf);
	if (rc < 0)
		return rc;
	out->flag = buf[OFF_FLAG];
	out->host_len = buf[OFF_HOST_LEN];
	memcpy(out->host, buf + OFF_HOST, out->host_len);
	out->host[out->host_len] = '\0';
	out->port_len = buf[OFF_PORT_LEN];
	memcpy(out->port, buf + OFF_PORT, out->port_len);
	out->port[out->port_len] = '\0';
	return STREAM_HEADER_SIZE;
}

int stream_header_dial_addr(const struct stream_header *h, char *out, size_t cap)
{
	int v6 = memchr(h->host, ':', h->host_len) != NULL;
	size_t need = h->host_len + 1 + h->port_len + (v6 ? 2 : 0);
	char *p = out;

	/* A NUL would silently shorten the name handed to the resolver. */
	if (memchr(h->host, '\0', h->host_len) || memchr(h->port, '\0', h->port_len))
		return -1;
	if (need + 1 > cap)
		return -1;
	if (v6)
		*p++ = '[';
	memcpy(p, h->host, h->host_len);
	p += h->host_len;
	if (v6)
		*p++ = ']';
	*p++ = ':';
	memcpy(p, h->port, h->port_len);
	p += h->port_len;
	*p = '\0';
	return (int)need;
}

int stream_header_port_number(const struct stream_header *h)
{
	int n = 0;

	if (h->port_len == 0 || h->port_len > STREAM_HEADER_PORT_MAX)
		return -1;
	for (size_t i = 0; i < h->port_len; i++) {
		if (h->port[i] < '0' || h->port[i] > '9')
			return -1;
		n = n * 10 + (h->port[i] - '0');
	}
	return n > 65535 ? -1 : n;
}

const char *stream_header_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case STREAM_HEADER_ERR_VERSION:
		return "unsupported stream header version";
	case STREAM_HEADER_ERR_PORT_LENGTH:
		return "stream header port too long";
	case STREAM_HEADER_ERR_CHECKSUM:
		return "stream header checksum mismatch";
	default:
		return "unknown stream header error";
	}
}
