/* GOST relay protocol codec (go-gost/relay v0.5 wire format), I/O-free.
 * See doc/protocols/gost-relay.md §1-§3. All integers on the wire are big-endian. */
#ifndef PORTWAY_RELAY_H
#define PORTWAY_RELAY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAY_VERSION 0x01
#define RELAY_HEADER_LEN 4

/* Request CMD/FLAGS byte: command in the low nibble, flags above. */
#define RELAY_CMD_CONNECT 0x01
#define RELAY_CMD_BIND 0x02
#define RELAY_CMD_ASSOCIATE 0x03
#define RELAY_CMD_MASK 0x0f
#define RELAY_FLAG_UDP 0x80

enum relay_status {
	RELAY_STATUS_OK = 0x00,
	RELAY_STATUS_BAD_REQUEST = 0x01,
	RELAY_STATUS_UNAUTHORIZED = 0x02,
	RELAY_STATUS_FORBIDDEN = 0x03,
	RELAY_STATUS_TIMEOUT = 0x04,
	RELAY_STATUS_SERVICE_UNAVAILABLE = 0x05,
	RELAY_STATUS_HOST_UNREACHABLE = 0x06,
	RELAY_STATUS_NETWORK_UNREACHABLE = 0x07,
	RELAY_STATUS_INTERNAL_SERVER_ERROR = 0x08,
};

enum relay_feature_type {
	RELAY_FEATURE_USER_AUTH = 0x01,
	RELAY_FEATURE_ADDR = 0x02,
	RELAY_FEATURE_TUNNEL = 0x03,
	RELAY_FEATURE_NETWORK = 0x04,
};

enum relay_atyp {
	RELAY_ATYP_IPV4 = 0x01,
	RELAY_ATYP_DOMAIN = 0x03,
	RELAY_ATYP_IPV6 = 0x04,
};

enum relay_network {
	RELAY_NETWORK_TCP = 0x0000,
	RELAY_NETWORK_UDP = 0x0001,
	RELAY_NETWORK_IP = 0x0002,
	RELAY_NETWORK_UNIX = 0x0010,
	RELAY_NETWORK_SERIAL = 0x0011,
};

#define RELAY_HOST_MAX 255      /* longest domain; IPv6 text is shorter */
#define RELAY_CRED_MAX 255      /* longest username or password */
#define RELAY_TUNNEL_LEN 20     /* ID(16) FLAG(1) RSV(2) WEIGHT(1) */
#define RELAY_MAX_ADDRS 2       /* BIND stream headers carry peer and optional host */
#define RELAY_ADDR_MAX_LEN (1 + 1 + RELAY_HOST_MAX + 2)
/* Largest message relay_*_encode() can produce from a struct relay_msg. */
#define RELAY_MSG_MAX_LEN (RELAY_HEADER_LEN + (3 + 2 + 2 * RELAY_CRED_MAX) + (3 + 2) + \
			   RELAY_MAX_ADDRS * (3 + RELAY_ADDR_MAX_LEN) + (3 + RELAY_TUNNEL_LEN))
/* UDP BIND frame header: RSV(2) FRAG(1) ATYP/ADDR/PORT. */
#define RELAY_UDP_BIND_HEADER_MAX (2 + 1 + RELAY_ADDR_MAX_LEN)
#define RELAY_UDP_MAX_PAYLOAD 65535

/* An Addr feature, or the SOCKS5 address in a UDP BIND frame. `host` is
 * NUL-terminated: IPv4/IPv6 as text, a domain as sent (may be empty, which
 * GOST v3.2.6 uses for a wildcard BIND). */
struct relay_addr {
	uint8_t atyp;
	uint16_t port;
	char host[RELAY_HOST_MAX + 1];
};

/* Order of the optional Network and UserAuth features on encode. GOST's
 * connector writes [Network][UserAuth]Addr for CONNECT (and for tunnel
 * BIND) but [UserAuth]Network Addr for a relay BIND; both must be
 * reproducible byte for byte. Addr features follow both, Tunnel is last. */
enum relay_feature_order {
	RELAY_ORDER_AUTO = 0,       /* AUTH_FIRST for CMD BIND, else NETWORK_FIRST */
	RELAY_ORDER_NETWORK_FIRST,
	RELAY_ORDER_AUTH_FIRST,
};

/* A decoded request or response. Parsers fill `cmd` (request) or `status`
 * (response); the other stays 0. Credentials are length-counted because
 * they are compared byte-exactly; the buffers are NUL-terminated too. */
struct relay_msg {
	uint8_t version;
	uint8_t cmd;                    /* raw CMD/FLAGS byte */
	uint8_t status;
	enum relay_feature_order order; /* parse: the order seen, if both were present */

	bool has_user_auth;
	uint8_t username_len, password_len;
	char username[RELAY_CRED_MAX + 1];
	char password[RELAY_CRED_MAX + 1];

	bool has_network;
	uint16_t network;               /* raw id; see relay_network_name() */

	bool has_tunnel;
	uint8_t tunnel[RELAY_TUNNEL_LEN];

	size_t naddr;                   /* Addr features kept in addr[], in wire order */
	size_t naddr_total;             /* Addr features on the wire (parse only) */
	struct relay_addr addr[RELAY_MAX_ADDRS];
	struct relay_addr addr_extra;   /* the last one, when naddr_total > RELAY_MAX_ADDRS */
};

/* GOST's StatusText wording ("Bad Request", ...); "OK" for 0, "Unknown" otherwise. */
const char *relay_status_text(uint8_t status);
/* "tcp", "udp", "ip", "unix", "serial"; unknown ids are "tcp", as in GOST. */
const char *relay_network_name(uint16_t network);

void relay_msg_init(struct relay_msg *m);
/* Sets the UserAuth feature from C strings; -1 if either is longer than 255. */
int relay_msg_set_user_auth(struct relay_msg *m, const char *user, const char *pass);
/* Appends an Addr feature for encoding; -1 when RELAY_MAX_ADDRS are set. */
int relay_msg_add_addr(struct relay_msg *m, const struct relay_addr *a);
/* The last Addr feature of the message ("last one wins", as the GOST
 * handler reads it), or NULL when there is none. */
const struct relay_addr *relay_msg_last_addr(const struct relay_msg *m);

/* Parse a request/response at the start of buf. Returns 4+FEALEN (data may
 * follow), 0 if buf is a valid but incomplete prefix, -1 if malformed:
 * VER != 1, unknown feature type, short feature body, unknown ATYP, a
 * domain containing NUL, or FEALEN not made of whole features. Bytes beyond
 * a feature's own fields inside its LEN are ignored, as GOST does. */
int relay_request_parse(const uint8_t *buf, size_t len, struct relay_msg *m);
int relay_response_parse(const uint8_t *buf, size_t len, struct relay_msg *m);

/* Encode m (VER is always 1; m->cmd or m->status). Returns bytes written or
 * -1 if it does not fit in cap or a field is invalid. */
int relay_request_encode(uint8_t *buf, size_t cap, const struct relay_msg *m);
int relay_response_encode(uint8_t *buf, size_t cap, const struct relay_msg *m);
/* A response with a status and 0..RELAY_MAX_ADDRS Addr features. */
int relay_response_encode_addrs(uint8_t *buf, size_t cap, uint8_t status,
				const struct relay_addr *addrs, size_t naddrs);

/* Fill a from host and port by GOST's ParseFrom rules: an IPv4 literal (or
 * IPv4-mapped IPv6) is ATYP 1, another IP literal ATYP 4, anything else,
 * the empty host included, a domain. IP hosts are stored in canonical
 * text form. -1 if host is longer than 255. */
int relay_addr_set(struct relay_addr *a, const char *host, uint16_t port);
/* Same from "host:port", "[v6]:port", or a string without a port (unix
 * path, "::1") which gets port 0. -1 on a non-numeric or >65535 port. */
int relay_addr_from_string(struct relay_addr *a, const char *hostport);
/* "host:port", or "[host]:port" when host is IPv6 or has a colon, into
 * buf; returns the length or -1 if it does not fit. */
int relay_addr_format(const struct relay_addr *a, char *buf, size_t cap);
/* ATYP|ADDR|PORT, the body of an Addr feature and the SOCKS5 address of a
 * UDP BIND frame. Encode returns bytes written or -1; parse returns bytes
 * consumed, 0 if incomplete, -1 if malformed. */
int relay_addr_encode(uint8_t *buf, size_t cap, const struct relay_addr *a);
int relay_addr_parse(const uint8_t *buf, size_t len, struct relay_addr *a);

/* UDP over CONNECT: each datagram is LEN(2) | payload. The header encoder
 * returns 2 or -1 (payload > 65535). The parser returns 2+LEN with
 * *payload pointing into buf, or 0 if incomplete; it never fails. */
int relay_udp_len_header_encode(uint8_t *buf, size_t cap, size_t payload_len);
int relay_udp_len_frame_parse(const uint8_t *buf, size_t len,
			      const uint8_t **payload, size_t *payload_len);

/* UDP BIND frame: RSV(2)=payload length | FRAG 0xFF | ATYP ADDR PORT |
 * payload. Empty payloads are refused (RSV=0 means plain SOCKS5 to GOST and
 * desyncs the stream), as is a received RSV=0. */
int relay_udp_bind_header_encode(uint8_t *buf, size_t cap,
				 const struct relay_addr *a, size_t payload_len);
int relay_udp_bind_frame_encode(uint8_t *buf, size_t cap, const struct relay_addr *a,
				const uint8_t *payload, size_t payload_len);
int relay_udp_bind_frame_parse(const uint8_t *buf, size_t len, struct relay_addr *a,
			       const uint8_t **payload, size_t *payload_len);
#endif
