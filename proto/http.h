/*
 * HTTP/1.x message heads (RFC 9110, RFC 9112) without I/O.
 *
 * The parsers take the whole buffer received so far and never copy: every
 * field is a slice into that buffer, valid while it is. A head is complete
 * at the first empty line (CRLF CRLF, or bare LF LF as RFC 9112 2.2 allows).
 * The same buffer may be passed again after more bytes arrived: parsing
 * restarts from the beginning, which costs at most max_head bytes per call.
 *
 * Also here: the helpers an HTTP proxy, the gateway's HTTP mux and an HTTP
 * connector need around a parsed head (header lookup, token lists, targets
 * and host:port, body framing, hop-by-hop headers, Basic credentials, the
 * chunked body scanner, query parameters).
 */
#ifndef PORTWAY_HTTP_H
#define PORTWAY_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS 64
/* Used when a parser is given max_head == 0. */
#define HTTP_HEAD_MAX_DEFAULT 16384
/* Longest host name accepted in a target, Host header or URI. */
#define HTTP_HOST_MAX 255

enum http_error {
	HTTP_ERR_REQUEST_LINE = -1,	/* request line is not "method SP target SP version" */
	HTTP_ERR_METHOD = -2,		/* method is not a token */
	HTTP_ERR_TARGET = -3,		/* target has a bad byte or does not fit its form */
	HTTP_ERR_VERSION = -4,		/* not HTTP/1.0 or HTTP/1.1 */
	HTTP_ERR_STATUS = -5,		/* status code is not three digits 100..999 */
	HTTP_ERR_HEADER = -6,		/* header line without colon, or bad field name */
	HTTP_ERR_OBS_FOLD = -7,		/* header line starting with SP or HTAB */
	HTTP_ERR_CONTROL_CHAR = -8,	/* control byte in a field value, reason or target */
	HTTP_ERR_TOO_MANY_HEADERS = -9, /* more than HTTP_MAX_HEADERS fields: answer 431 */
	HTTP_ERR_TOO_LARGE = -10,	/* head longer than max_head: answer 431 */
};

/* A view into the caller's buffer; not NUL-terminated. */
struct http_slice {
	const char *p;
	size_t len;
};

struct http_header {
	struct http_slice name;
	struct http_slice value; /* leading and trailing SP/HTAB removed */
};

enum http_target_form {
	HTTP_TARGET_ORIGIN,    /* "/path?query" */
	HTTP_TARGET_ABSOLUTE,  /* "scheme://authority/path?query" */
	HTTP_TARGET_AUTHORITY, /* "host:port", CONNECT only */
	HTTP_TARGET_ASTERISK,  /* "*", OPTIONS only */
};

struct http_request {
	struct http_slice method; /* case-sensitive token */
	struct http_slice target;
	enum http_target_form form;
	int version_minor; /* 0 or 1 */
	size_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
};

struct http_response {
	int version_minor;
	int status;
	struct http_slice reason; /* may be empty */
	size_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
};

/*
 * Parses a request head from buf[0..len). Returns the head length (through
 * the empty line) when complete, 0 when more bytes are needed, or a negative
 * enum http_error. max_head bounds the head (0: HTTP_HEAD_MAX_DEFAULT); a head
 * that does not end within it gives HTTP_ERR_TOO_LARGE. Empty lines before
 * the request line are skipped (RFC 9112 2.2) and count in the length.
 * Garbage is refused as soon as the method is seen to be no token, so a
 * caller peeking at a stream learns early that it is not HTTP.
 */
ssize_t http_request_parse(const void *buf, size_t len, size_t max_head, struct http_request *req);

/* Same for a response head; the version is checked as soon as it arrives. */
ssize_t http_response_parse(const void *buf, size_t len, size_t max_head,
			    struct http_response *resp);

/* A short English description of an enum http_error, for logs. */
const char *http_error_str(int err);

bool http_slice_eq(struct http_slice s, const char *lit);	/* exact */
bool http_slice_case_eq(struct http_slice s, const char *lit); /* ASCII case-insensitive */

/* First field named name (case-insensitive), or NULL. */
const struct http_header *http_header_find(const struct http_header *hdrs, size_t n,
					   const char *name);
/* Index of the next field named name at or after from, or -1. */
ssize_t http_header_index(const struct http_header *hdrs, size_t n, const char *name, size_t from);

/*
 * Whether a comma-separated list ("keep-alive, Upgrade") holds token,
 * compared case-insensitively; empty elements are ignored.
 */
bool http_token_list_has(struct http_slice list, const char *token);
/* The same over every field named name ("Connection" may appear twice). */
bool http_header_has_token(const struct http_header *hdrs, size_t n, const char *name,
			   const char *token);

/*
 * Whether a field must not be forwarded by a proxy: Connection, Keep-Alive,
 * Proxy-Authenticate, Proxy-Authorization, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade, and every name listed in a Connection field of
 * hdrs. Transfer-Encoding is hop-by-hop (RFC 9112 6.1), but a proxy that
 * relays the body bytes as received must keep it together with them.
 */
bool http_is_hop_by_hop(struct http_slice name, const struct http_header *hdrs, size_t n);

/*
 * Splits "host", "host:port" or "[v6]:port". host excludes the brackets.
 * A missing (or empty) port gives default_port; default_port 0 means the port
 * is required, as in a CONNECT target. Host names are DNS names or IPv4
 * literals ([A-Za-z0-9._-], 1..255 bytes) or bracketed IPv6 literals without
 * zone. Port 0 is refused. Returns 0 or -1.
 */
int http_host_port_split(const char *s, size_t len, uint16_t default_port,
			 struct http_slice *host, uint16_t *port);

struct http_uri {
	struct http_slice scheme;   /* as written; compare case-insensitively */
	struct http_slice userinfo; /* before '@', empty if none */
	struct http_slice host;	    /* without brackets */
	uint16_t port;		    /* explicit, or 80/443 for http(s) and ws(s), else 0 */
	bool port_explicit;
	struct http_slice path;	 /* "/" (a static string) when the URI has none */
	struct http_slice query; /* after '?', without it */
	bool has_query;
};

/*
 * Parses "scheme://[userinfo@]host[:port][/path][?query][#fragment]"
 * (the fragment is dropped). Returns 0 or -1.
 */
int http_uri_parse(const char *s, size_t len, struct http_uri *uri);

/*
 * The destination of a request: the CONNECT target, the host of an
 * absolute-form target, or else the single Host field (two Host fields,
 * or none in HTTP/1.1, are an error). default_port applies when no port is
 * written (0: required). Returns 0 or -1.
 */
int http_request_authority(const struct http_request *req, uint16_t default_port,
			   struct http_slice *host, uint16_t *port);

/*
 * Content-Length over all its fields. Returns 1 with *out set, 0 if absent,
 * -1 if a value is no decimal number, overflows, or two values differ
 * ("5, 5" and a repeated field with the same value are accepted).
 */
int http_content_length(const struct http_header *hdrs, size_t n, uint64_t *out);

/*
 * Transfer-Encoding over all its fields: 0 if absent, 1 if the last coding
 * is chunked (and chunked appears once), -1 otherwise.
 */
int http_transfer_chunked(const struct http_header *hdrs, size_t n);

enum http_body_kind {
	HTTP_BODY_NONE,	       /* no body: the next message starts right after the head */
	HTTP_BODY_LENGTH,      /* exactly length bytes */
	HTTP_BODY_CHUNKED,     /* use struct http_chunked */
	HTTP_BODY_UNTIL_CLOSE, /* response only: read until the server closes */
	HTTP_BODY_TUNNEL,      /* 2xx to CONNECT, or 101: raw bytes both ways from here */
};

struct http_body {
	enum http_body_kind kind;
	uint64_t length;
};

/*
 * How a request's body is framed (RFC 9112 6.3). Returns 0, or -1 when the
 * proxy must answer 400 and close: Transfer-Encoding together with
 * Content-Length (a smuggling vector), a Transfer-Encoding whose last coding
 * is not chunked, any Transfer-Encoding in HTTP/1.0, or a bad Content-Length.
 */
int http_request_body(const struct http_request *req, struct http_body *body);

/*
 * How a response's body is framed, given the method of the request it
 * answers. Returns 0, or -1 on a bad Content-Length (without
 * Transfer-Encoding), which the proxy must treat as a bad gateway.
 */
int http_response_body(const struct http_response *resp, struct http_slice req_method,
		       struct http_body *body);

/*
 * Whether the connection stays open after this exchange according to the
 * message's version and Connection fields (1.1: unless "close"; 1.0: only
 * with "keep-alive").
 */
bool http_keep_alive(int version_minor, const struct http_header *hdrs, size_t n);

/*
 * Decodes a "Basic <base64(user:pass)>" credentials value (the scheme is
 * case-insensitive; the base64 must be canonical with padding). On success
 * buf holds user NUL pass NUL and *user, *pass point into it. Refused: another
 * scheme, bad base64, no colon, control bytes, buf too small (it needs the
 * decoded length + 1). Returns 0 or -1.
 */
int http_basic_auth_decode(struct http_slice value, char *buf, size_t size, const char **user,
			   const char **pass);

/*
 * Writes "Basic <base64(user:pass)>" and a NUL to out. Returns the length
 * without the NUL, or -1 if it does not fit or user contains a colon.
 */
ssize_t http_basic_auth_encode(const char *user, const char *pass, char *out, size_t size);

/*
 * Incremental scanner of a chunked body (RFC 9112 7.1), trailers included.
 * Chunk lines must end in CRLF here (a bare LF is refused): accepting what a
 * server behind the proxy refuses is harmless, but reading a length where it
 * reads none is how requests are smuggled.
 */
#define HTTP_CHUNKED_EXT_MAX 4096	/* bytes of extensions on one chunk line */
#define HTTP_CHUNKED_TRAILER_MAX 16384 /* bytes of trailer fields in all */

struct http_chunked {
	uint8_t state;
	uint8_t digits;
	uint64_t remaining; /* data bytes left in the current chunk */
	size_t count;	    /* extension bytes, or trailer bytes so far */
};

void http_chunked_init(struct http_chunked *c);
/*
 * Feeds the next bytes of the body. Returns how many of them belong to the
 * body: all of them until the end is reached, then the count up to and
 * including the final CRLF (the rest starts the next message); 0 once done.
 * Returns -1 on a malformed body, and keeps returning it.
 */
ssize_t http_chunked_scan(struct http_chunked *c, const void *buf, size_t len);
bool http_chunked_done(const struct http_chunked *c);

/* The query of a request target: after the first '?', up to any '#'. */
struct http_slice http_target_query(struct http_slice target);

#define HTTP_QUERY_NOT_FOUND (-1)
#define HTTP_QUERY_BAD (-2)
/*
 * Looks up key in "a=1&b=2" (as Go's url.Query: the first match wins, '+'
 * is a space, %XX is decoded in names and values, a name without '=' has an
 * empty value). Writes the decoded value and a NUL to out. Returns its
 * length, HTTP_QUERY_NOT_FOUND, or HTTP_QUERY_BAD for a bad %-escape, a
 * decoded NUL, or a value that does not fit.
 */
int http_query_get(struct http_slice query, const char *key, char *out, size_t size);

#endif
