/*
 * Peeking at the first bytes of a connection: is it a TLS ClientHello
 * (RFC 8446 4.1.2, RFC 5246 7.4.1.2), and which host name does its
 * server_name extension (RFC 6066 3) ask for? Nothing is consumed; the
 * caller passes everything read so far and hands the same bytes on intact.
 *
 * A ClientHello spread over several handshake records is reassembled, as
 * long as every record it needs lies within the first TLS_PEEK_MAX bytes.
 */
#ifndef PORTWAY_TLS_PEEK_H
#define PORTWAY_TLS_PEEK_H
#include <stddef.h>

/* One full TLS plaintext record: 5-byte header and 2^14 bytes. */
#define TLS_PEEK_MAX (16384 + 5)
#define TLS_PEEK_HOST_MAX 255

enum tls_peek_result {
	TLS_PEEK_NOT_TLS = -1,	/* not a ClientHello, or a malformed one */
	TLS_PEEK_NEED_MORE = 0, /* so far a plausible ClientHello: read more */
	TLS_PEEK_SNI = 1,	/* host holds the server name */
	TLS_PEEK_NO_SNI = 2,	/* a well-formed ClientHello without host_name */
};

/*
 * Examines buf[0..len). On TLS_PEEK_SNI, host holds the first host_name
 * entry, lowercased (names are case-insensitive and routes compare them),
 * NUL-terminated, 1..255 bytes of [a-z0-9._-]; a name with other bytes makes
 * the hello malformed. Bytes that cannot start a ClientHello are refused as
 * soon as they arrive. Needing more than TLS_PEEK_MAX bytes is
 * TLS_PEEK_NOT_TLS, so a caller that stops reading at TLS_PEEK_MAX never
 * waits for ever.
 */
int tls_peek_sni(const void *buf, size_t len, char host[TLS_PEEK_HOST_MAX + 1]);

#endif
