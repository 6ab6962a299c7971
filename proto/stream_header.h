/*
 * GoDoxy agent stream header: the fixed 275-byte record a GoDoxy client sends
 * as the first bytes of a (D)TLS stream session (doc/protocols/godoxy-stream.md 1.2).
 *
 *   0   8  version "0.1.0\0\0\0"
 *   8   1  host length (0..255)
 *   9 255  host, zero-filled
 * 264   1  port length (0..5)
 * 265   5  port as decimal text, zero-filled
 * 270   1  flag (bit0 = close immediately: health check)
 * 271   4  CRC-32 (zlib) of bytes 0..270, big-endian
 */
#ifndef PORTWAY_STREAM_HEADER_H
#define PORTWAY_STREAM_HEADER_H
#include <stddef.h>
#include <stdint.h>

#define STREAM_HEADER_SIZE 275
#define STREAM_HEADER_HOST_MAX 255
#define STREAM_HEADER_PORT_MAX 5
#define STREAM_HEADER_FLAG_CLOSE_IMMEDIATELY 0x01
/* "[" host "]:" port NUL */
#define STREAM_HEADER_ADDR_MAX (1 + STREAM_HEADER_HOST_MAX + 2 + STREAM_HEADER_PORT_MAX + 1)

enum stream_header_error {
	STREAM_HEADER_ERR_VERSION = -1,     /* first 8 bytes are not "0.1.0\0\0\0" */
	STREAM_HEADER_ERR_PORT_LENGTH = -2, /* port length byte > 5 */
	STREAM_HEADER_ERR_CHECKSUM = -3,    /* CRC-32 of bytes 0..270 differs */
};

/*
 * A validated header. host and port hold exactly host_len / port_len bytes
 * followed by a NUL; the host may itself contain NUL bytes if the sender put
 * them there (the agent does not forbid it), which stream_header_dial_addr
 * refuses.
 */
struct stream_header {
	uint8_t flag;
	uint8_t host_len;
	uint8_t port_len;
	char host[STREAM_HEADER_HOST_MAX + 1];
	char port[STREAM_HEADER_PORT_MAX + 1];
};

/*
 * Writes a header for host/port (byte strings, not NUL-terminated) with the
 * given flag byte. Returns STREAM_HEADER_SIZE, or -1 if host_len > 255 or
 * port_len > 5 (the GoDoxy client refuses those too).
 */
int stream_header_encode(uint8_t out[STREAM_HEADER_SIZE], const char *host, size_t host_len,
			 const char *port, size_t port_len, uint8_t flag);

/* stream_header_encode with NUL-terminated host and port, flag 0. */
int stream_header_build(uint8_t out[STREAM_HEADER_SIZE], const char *host, const char *port);

/*
 * Splits "host:port" or "[ipv6]:port" the way Go's net.SplitHostPort does
 * (brackets removed; a bare host with a colon is refused) and builds the
 * header. Returns STREAM_HEADER_SIZE or -1.
 */
int stream_header_build_addr(uint8_t out[STREAM_HEADER_SIZE], const char *addr);

/* The health-check header: no host, no port, flag = close immediately. */
int stream_header_build_health_check(uint8_t out[STREAM_HEADER_SIZE]);

/*
 * Checks a complete header the way the agent does: version, port length,
 * checksum. Unknown flag bits and non-zero padding are accepted. Returns 0
 * or an enum stream_header_error.
 */
int stream_header_validate(const uint8_t buf[STREAM_HEADER_SIZE]);

/*
 * Validates the first STREAM_HEADER_SIZE bytes of buf and extracts the
 * fields into *out. Returns STREAM_HEADER_SIZE, 0 if len is shorter, or an
 * enum stream_header_error.
 */
int stream_header_parse(const uint8_t *buf, size_t len, struct stream_header *out);

/*
 * Formats the address to dial like Go's net.JoinHostPort: "host:port", or
 * "[host]:port" when the host contains a colon. Returns the string length,
 * or -1 if it does not fit in cap (STREAM_HEADER_ADDR_MAX always does) or the
 * host or port contains a NUL byte.
 */
int stream_header_dial_addr(const struct stream_header *h, char *out, size_t cap);

/* The port as a number 0..65535, or -1 if it is empty or not all digits. */
int stream_header_port_number(const struct stream_header *h);

/* A short English name for an enum stream_header_error. */
const char *stream_header_strerror(int err);

#endif
