/*
 * The WebSocket opening handshake (RFC 6455 section 4) on top of the HTTP
 * head parser in proto/http.h, without I/O: checking an upgrade request and
 * the server's answer, and writing both, plus the small HTTP error answers a
 * WebSocket server gives to requests it will not upgrade.
 */
#ifndef PORTWAY_WS_UPGRADE_H
#define PORTWAY_WS_UPGRADE_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proto/http.h"

/* An extra header for a request or a 101 answer (from the configuration). */
struct ws_extra_header {
	const char *name, *value;
};

/* What a valid upgrade request carries; slices into the parsed buffer. */
struct ws_upgrade_request {
	struct http_slice path;      /* the target's path, without the query */
	struct http_slice query;     /* after '?', without it; empty when none */
	struct http_slice key;       /* Sec-WebSocket-Key, 24 base64 characters */
	struct http_slice host;      /* the Host field; empty when absent */
};

/*
 * Checks a parsed request head. Returns 0 when it is a valid WebSocket
 * upgrade, else the HTTP status to answer with *why set to a short English
 * reason: 405 (not GET), 426 (no "Upgrade: websocket", or a version other than
 * 13), 400 (not HTTP/1.1, no "Connection: upgrade", a missing, repeated or
 * malformed key, an unusable target). The path is not compared here.
 */
int ws_upgrade_request_check(const struct http_request *req, struct ws_upgrade_request *out, const char **why);

/* True if the request asks for a WebSocket at all (an Upgrade field naming websocket). */
bool ws_upgrade_requested(const struct http_request *req);

/*
 * Writes "GET path HTTP/1.1" with Host, Upgrade, Connection, Sec-WebSocket-Key
 * and Sec-WebSocket-Version, then the extra headers and the empty line.
 * Returns the length, or -1 when cap is too small or a value could split the
 * head (CR, LF or another control byte; a name that is no token; a path that
 * does not start with '/' or holds a space).
 */
ssize_t ws_upgrade_request_write(char *out, size_t cap, const char *host, const char *path, const char *key,
				 const struct ws_extra_header *extra, size_t n_extra);

/* Writes the 101 answer for key, with the extra headers. Same returns as above. */
ssize_t ws_upgrade_response_write(char *out, size_t cap, struct http_slice key, const struct ws_extra_header *extra,
				  size_t n_extra);

/*
 * Checks the server's answer to a request sent with key: 101, "Upgrade:
 * websocket", "Connection: upgrade", the right Sec-WebSocket-Accept, and no
 * extension or subprotocol (none is offered). Returns 0, or -1 with *why.
 */
int ws_upgrade_response_check(const struct http_response *resp, const char *key, const char **why);

/*
 * A complete error answer with a text/plain body (body_text and a newline)
 * and "Connection: close"; 405 carries "Allow: GET", 426 carries "Upgrade:
 * websocket" and "Sec-WebSocket-Version: 13". Returns the length or -1.
 */
ssize_t ws_http_error_write(char *out, size_t cap, int status, const char *body_text);

/* The standard reason phrase of a status code ("Bad Request"), or "Error". */
const char *ws_http_reason(int status);

/* Whether a configured header name is a token and a value has no control bytes. */
bool ws_header_name_ok(const char *name);
bool ws_header_value_ok(const char *value);

#endif
