/*
 * SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), and
 * SOCKS4 / SOCKS4a, without I/O: both the server side (handlers) and the
 * client side (the socks5 connector).
 *
 * Parsers return the bytes consumed (> 0), 0 when more bytes are needed, or
 * a negative value when the bytes are malformed (-1, or a named
 * SOCKS5_ERR_* where the server owes the client a specific reply).
 * Encoders return the bytes written, or -1 if the output does not fit or the
 * value cannot be encoded.
 */
#ifndef PORTWAY_SOCKS5_H
#define PORTWAY_SOCKS5_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SOCKS5_VERSION 0x05
#define SOCKS5_AUTH_VERSION 0x01 /* RFC 1929 subnegotiation */

enum socks5_method {
	SOCKS5_METHOD_NONE = 0x00,
	SOCKS5_METHOD_GSSAPI = 0x01,
	SOCKS5_METHOD_USERPASS = 0x02,
	SOCKS5_METHOD_NO_ACCEPTABLE = 0xff,
};

enum socks5_cmd {
	SOCKS5_CMD_CONNECT = 0x01,
	SOCKS5_CMD_BIND = 0x02,
	SOCKS5_CMD_UDP_ASSOCIATE = 0x03,
	/* GOST's extensions: BIND whose accepted connections come back as smux
	 * streams on the connection, each starting with a reply naming the peer;
	 * and UDP datagrams framed on the TCP stream (port 0: relay, else BIND). */
	SOCKS5_CMD_MUX_BIND = 0xF2,
	SOCKS5_CMD_UDP_TUN = 0xF3,
};

enum socks5_atyp {
	SOCKS5_ATYP_IPV4 = 0x01,
	SOCKS5_ATYP_DOMAIN = 0x03,
	SOCKS5_ATYP_IPV6 = 0x04,
};

enum socks5_reply_code {
	SOCKS5_REP_SUCCEEDED = 0x00,
	SOCKS5_REP_GENERAL_FAILURE = 0x01,
	SOCKS5_REP_NOT_ALLOWED = 0x02,
	SOCKS5_REP_NETWORK_UNREACHABLE = 0x03,
	SOCKS5_REP_HOST_UNREACHABLE = 0x04,
	SOCKS5_REP_CONNECTION_REFUSED = 0x05,
	SOCKS5_REP_TTL_EXPIRED = 0x06,
	SOCKS5_REP_COMMAND_NOT_SUPPORTED = 0x07,
	SOCKS5_REP_ADDRESS_NOT_SUPPORTED = 0x08,
};

/* RFC 1929 status: 0 is success, anything else a failure. */
#define SOCKS5_AUTH_SUCCESS 0x00
#define SOCKS5_AUTH_FAILURE 0x01

/* Errors from socks5_request_parse that call for a reply before closing. */
enum socks5_error {
	SOCKS5_ERR_MALFORMED = -1,
	SOCKS5_ERR_COMMAND = -2, /* unknown CMD: reply SOCKS5_REP_COMMAND_NOT_SUPPORTED */
	SOCKS5_ERR_ADDRESS = -3, /* unknown ATYP: reply SOCKS5_REP_ADDRESS_NOT_SUPPORTED */
};

#define SOCKS5_DOMAIN_MAX 255
/* "[" IPv6 "]:" port NUL, or domain ":" port NUL */
#define SOCKS5_ADDR_STRLEN (SOCKS5_DOMAIN_MAX + 8)
/* Longest request/reply: VER CMD RSV ATYP LEN domain PORT */
#define SOCKS5_REQUEST_MAX (4 + 1 + SOCKS5_DOMAIN_MAX + 2)

/*
 * An address as SOCKS carries it. A domain is 1..255 bytes without NUL and
 * is kept NUL-terminated.
 */
struct socks5_addr {
	uint8_t atyp;
	uint8_t domain_len;
	uint16_t port;
	union {
		uint8_t ipv4[4];
		uint8_t ipv6[16];
		char domain[SOCKS5_DOMAIN_MAX + 1];
	} u;
};

/* ATYP, address, port: the tail of requests, replies and UDP headers. */
int socks5_addr_parse(const uint8_t *buf, size_t len, struct socks5_addr *addr);
int socks5_addr_encode(uint8_t *out, size_t cap, const struct socks5_addr *addr);
/* Bytes socks5_addr_encode writes, or -1 for an unknown type or bad domain length. */
int socks5_addr_size(const struct socks5_addr *addr);
/* Sets a domain address; -1 if name is empty, longer than 255 bytes, or has a NUL. */
int socks5_addr_set_domain(struct socks5_addr *addr, const char *name, size_t len, uint16_t port);
/* A host as a connector names it: an IPv4 or IPv6 literal as such, anything else as a domain
 * (as GOST encodes targets). -1 for a name socks5_addr_set_domain refuses. */
int socks5_addr_from_host(struct socks5_addr *addr, const char *host, uint16_t port);
/* The host part as text: an IP address in its usual form, or the domain (for a dial, a bypass). */
void socks5_addr_host(const struct socks5_addr *addr, char *out, size_t cap);
/* From an AF_INET or AF_INET6 socket address (IPv4-mapped IPv6 becomes IPv4). */
int socks5_addr_from_sockaddr(struct socks5_addr *addr, const struct sockaddr *sa);
/* To a socket address; -1 for a domain. Returns the sockaddr length. */
int socks5_addr_to_sockaddr(const struct socks5_addr *addr, struct sockaddr_storage *ss);
/*
 * "1.2.3.4:80", "[::1]:80" or "example.com:80", NUL-terminated; returns its
 * length, or -1 if it does not fit. For logs and for a dialer's host:port.
 */
int socks5_addr_format(const struct socks5_addr *addr, char *out, size_t cap);

/* ---- method selection ---- */

struct socks5_greeting {
	uint8_t nmethods; /* 1..255 */
	uint8_t methods[255];
};

/* VER NMETHODS METHODS. NMETHODS 0 is malformed. */
int socks5_greeting_parse(const uint8_t *buf, size_t len, struct socks5_greeting *g);
bool socks5_greeting_has(const struct socks5_greeting *g, uint8_t method);
int socks5_greeting_encode(uint8_t *out, size_t cap, const uint8_t *methods, size_t n);
/* VER METHOD: the server's choice. */
int socks5_method_choice_encode(uint8_t *out, size_t cap, uint8_t method);
int socks5_method_choice_parse(const uint8_t *buf, size_t len, uint8_t *method);

/* ---- username/password (RFC 1929) ---- */

/*
 * RFC 1929 asks for 1..255 bytes each; an empty name or password is accepted
 * here (some clients send one) and left to the authenticator. A NUL inside
 * either is refused, since both are kept NUL-terminated.
 */
struct socks5_userpass {
	uint8_t ulen, plen;
	char user[256];
	char pass[256];
};

int socks5_userpass_parse(const uint8_t *buf, size_t len, struct socks5_userpass *up);
int socks5_userpass_encode(uint8_t *out, size_t cap, const char *user, size_t ulen,
			   const char *pass, size_t plen);
/* VER=1 STATUS. */
int socks5_auth_reply_encode(uint8_t *out, size_t cap, uint8_t status);
int socks5_auth_reply_parse(const uint8_t *buf, size_t len, uint8_t *status);

/* ---- requests and replies ---- */

struct socks5_request {
	uint8_t cmd; /* enum socks5_cmd */
	struct socks5_addr addr;
};

struct socks5_reply {
	uint8_t rep; /* enum socks5_reply_code */
	struct socks5_addr addr; /* BND.ADDR / BND.PORT */
};

/*
 * VER CMD RSV ATYP DST.ADDR DST.PORT. CMD is one of enum socks5_cmd (the RFC's
 * and GOST's); another CMD or an unknown ATYP is refused as soon as its byte
 * arrives, with the error naming the reply to send.
 */
int socks5_request_parse(const uint8_t *buf, size_t len, struct socks5_request *req);
int socks5_request_encode(uint8_t *out, size_t cap, uint8_t cmd, const struct socks5_addr *addr);
/* VER REP RSV ATYP BND.ADDR BND.PORT; bnd NULL means 0.0.0.0:0. BIND sends two: the
 * address it listens on, then the connected peer's (RFC 1928 section 4). */
int socks5_reply_encode(uint8_t *out, size_t cap, uint8_t rep, const struct socks5_addr *bnd);
/* The client's side; any REP value is returned for the caller to judge. */
int socks5_reply_parse(const uint8_t *buf, size_t len, struct socks5_reply *rep);
/* An English description of a reply code, for logs. */
const char *socks5_reply_str(uint8_t rep);

/* ---- UDP ASSOCIATE datagrams ---- */

/*
 * RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT, then the data. rsv is returned
 * rather than checked because GOST's UDP-over-stream frame carries the data
 * length there (doc/protocols/gost-relay.md 2.6); a plain SOCKS5 relay must drop a
 * datagram with rsv != 0 or frag != 0 (RFC 1928 7: no fragmentation). On a
 * datagram, 0 (need more) means truncated: drop it.
 */
struct socks5_udp_header {
	uint16_t rsv;
	uint8_t frag;
	struct socks5_addr addr;
};

int socks5_udp_header_parse(const uint8_t *buf, size_t len, struct socks5_udp_header *h);
int socks5_udp_header_encode(uint8_t *out, size_t cap, uint16_t rsv, uint8_t frag,
			     const struct socks5_addr *addr);

/* ---- SOCKS4 / SOCKS4a ---- */

#define SOCKS4_VERSION 0x04
#define SOCKS4_CMD_CONNECT 0x01
#define SOCKS4_CMD_BIND 0x02

enum socks4_reply_code {
	SOCKS4_REP_GRANTED = 90,
	SOCKS4_REP_REJECTED = 91,
	SOCKS4_REP_NO_IDENTD = 92,
	SOCKS4_REP_IDENTD_MISMATCH = 93,
};

#define SOCKS4_USERID_MAX 255

/*
 * VN CD DSTPORT DSTIP USERID NUL [domain NUL when DSTIP is 0.0.0.x, x != 0].
 * userid and domain are limited to 255 bytes; longer is malformed rather
 * than "need more", so a peer cannot make the server buffer without end.
 */
struct socks4_request {
	uint8_t cmd;
	uint16_t port;
	uint8_t ip[4];
	bool is_4a; /* the destination is domain, not ip */
	uint8_t userid_len;
	uint8_t domain_len;
	char userid[SOCKS4_USERID_MAX + 1];
	char domain[SOCKS5_DOMAIN_MAX + 1];
};

int socks4_request_parse(const uint8_t *buf, size_t len, struct socks4_request *req);
/* domain NULL: SOCKS4 to ip; else SOCKS4a with ip 0.0.0.1. */
int socks4_request_encode(uint8_t *out, size_t cap, uint8_t cmd, const uint8_t ip[4],
			  uint16_t port, const char *userid, const char *domain);
/* VN=0 CD DSTPORT DSTIP: 8 bytes. ip NULL means 0.0.0.0. */
int socks4_reply_encode(uint8_t *out, size_t cap, uint8_t code, const uint8_t ip[4],
			uint16_t port);
int socks4_reply_parse(const uint8_t *buf, size_t len, uint8_t *code, uint8_t ip[4],
		       uint16_t *port);
/* The destination as a socks5_addr (domain for 4a, IPv4 otherwise). */
void socks4_request_addr(const struct socks4_request *req, struct socks5_addr *addr);

#endif
