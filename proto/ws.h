/*
 * WebSocket (RFC 6455) codec: frame headers, masking, close payloads and the
 * Sec-WebSocket-Key / Sec-WebSocket-Accept computations. No extensions are
 * negotiated, so every RSV bit must be zero. The HTTP upgrade request and
 * response themselves are parsed by proto/http.h.
 */
#ifndef PORTWAY_WS_H
#define PORTWAY_WS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_FRAME_HEADER_MAX 14       /* 2 + 8 (64-bit length) + 4 (mask key) */
#define WS_CONTROL_PAYLOAD_MAX 125
#define WS_CLOSE_REASON_MAX 123      /* control payload minus the 2-byte code */
#define WS_CLIENT_KEY_LEN 24         /* base64 of 16 bytes */
#define WS_ACCEPT_KEY_LEN 28         /* base64 of a SHA-1 digest */

enum ws_opcode {
	WS_OP_CONTINUATION = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* Who is parsing: a server requires masked frames, a client unmasked ones. */
enum ws_role {
	WS_ROLE_ANY = 0, /* do not check the mask bit */
	WS_ROLE_SERVER,
	WS_ROLE_CLIENT,
};

/* Status codes (RFC 6455 7.4.1 and the IANA registry). */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL_ERROR = 1002,
	WS_CLOSE_UNSUPPORTED_DATA = 1003,
	WS_CLOSE_NO_STATUS = 1005,   /* never on the wire: close frame without a body */
	WS_CLOSE_ABNORMAL = 1006,    /* never on the wire: connection dropped */
	WS_CLOSE_INVALID_PAYLOAD = 1007,
	WS_CLOSE_POLICY_VIOLATION = 1008,
	WS_CLOSE_MESSAGE_TOO_BIG = 1009,
	WS_CLOSE_MANDATORY_EXTENSION = 1010,
	WS_CLOSE_INTERNAL_ERROR = 1011,
	WS_CLOSE_SERVICE_RESTART = 1012,
	WS_CLOSE_TRY_AGAIN_LATER = 1013,
	WS_CLOSE_BAD_GATEWAY = 1014,
	WS_CLOSE_TLS_HANDSHAKE = 1015, /* never on the wire */
};

/*
 * Protocol errors. ws_error_close_code() gives the status code to send
 * before closing: 1009 for WS_ERR_TOO_BIG, 1007 for WS_ERR_CLOSE_UTF8,
 * 1002 for the rest.
 */
enum ws_error {
	WS_ERR_RSV = -1,                      /* an RSV bit is set */
	WS_ERR_OPCODE = -2,                   /* reserved or unknown opcode */
	WS_ERR_CONTROL_FRAGMENTED = -3,       /* control frame without FIN */
	WS_ERR_CONTROL_TOO_LONG = -4,         /* control payload > 125 */
	WS_ERR_LENGTH_OVERFLOW = -5,          /* 64-bit length with the top bit set */
	WS_ERR_MASK_REQUIRED = -6,            /* server got an unmasked frame */
	WS_ERR_MASK_FORBIDDEN = -7,           /* client got a masked frame */
	WS_ERR_TOO_BIG = -8,                  /* payload above the configured maximum */
	WS_ERR_UNEXPECTED_CONTINUATION = -9,  /* continuation with no message open */
	WS_ERR_EXPECTED_CONTINUATION = -10,   /* new data frame inside a fragmented message */
	WS_ERR_CLOSE_LENGTH = -11,            /* close payload of exactly 1 byte */
	WS_ERR_CLOSE_CODE = -12,              /* status code not allowed on the wire */
	WS_ERR_CLOSE_UTF8 = -13,              /* close reason is not valid UTF-8 */
};

struct ws_frame_header {
	bool fin;
	uint8_t opcode;      /* enum ws_opcode */
	bool masked;
	uint8_t mask_key[4]; /* meaningful only when masked */
	uint64_t payload_len;
};

/*
 * Parses a frame header at buf. max_payload = 0 means no limit. Returns the
 * header length (2..14), 0 if more bytes are needed, or an enum ws_error.
 * An error is reported as soon as the bytes seen prove it, even before the
 * whole header has arrived. Non-minimal length encodings are accepted.
 */
int ws_frame_header_parse(const uint8_t *buf, size_t len, enum ws_role role, uint64_t max_payload,
			  struct ws_frame_header *out);

/*
 * Writes a frame header (always with the minimal length encoding; the mask
 * key is written when h->masked). Returns its length, or -1 if cap is too
 * small, the opcode is unknown, a control frame lacks FIN or exceeds 125
 * bytes, or the length has its top bit set.
 */
int ws_frame_header_encode(uint8_t *out, size_t cap, const struct ws_frame_header *h);

/*
 * Shorthand: a server passes mask_key = NULL (unmasked), a client passes
 * its 4 random bytes. Same return as ws_frame_header_encode.
 */
int ws_frame_header_write(uint8_t *out, size_t cap, bool fin, enum ws_opcode opcode,
			  uint64_t payload_len, const uint8_t *mask_key);

/*
 * XORs data with the mask key in place (masking and unmasking are the same
 * operation). offset is the position of data[0] within the payload, so a
 * payload may be processed in pieces. Returns the offset for the next piece
 * (only offset % 4 matters).
 */
size_t ws_mask(uint8_t *data, size_t len, const uint8_t key[4], size_t offset);

/*
 * Enforces message fragmentation (RFC 6455 5.4) across frames. Start with
 * *message_opcode = 0. Returns the opcode the frame belongs to (TEXT or
 * BINARY for data and continuation frames, its own opcode for control
 * frames), or WS_ERR_UNEXPECTED_CONTINUATION / WS_ERR_EXPECTED_CONTINUATION.
 */
int ws_frame_sequence_check(uint8_t *message_opcode, const struct ws_frame_header *h);

/* A close frame body: the status code (1005 if the body was empty) and reason. */
struct ws_close {
	uint16_t code;
	const char *reason; /* points into the parsed payload; not NUL-terminated */
	size_t reason_len;
};

/*
 * Parses an (already unmasked) close frame payload. Returns 0, or
 * WS_ERR_CLOSE_LENGTH, WS_ERR_CONTROL_TOO_LONG, WS_ERR_CLOSE_CODE or
 * WS_ERR_CLOSE_UTF8.
 */
int ws_close_payload_parse(const uint8_t *payload, size_t len, struct ws_close *out);

/*
 * Writes a close payload. code 0 means no status (empty body; the reason
 * must then be empty too). Returns the payload length, or -1 if the code may
 * not be sent, the reason exceeds 123 bytes or is not UTF-8, or cap is too small.
 */
int ws_close_payload_encode(uint8_t *out, size_t cap, uint16_t code, const char *reason,
			    size_t reason_len);

/* True for status codes that may appear in a close frame (RFC 6455 7.4). */
bool ws_close_code_valid(unsigned code);

/* True if s is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
bool ws_utf8_valid(const uint8_t *s, size_t len);

/* The close code to send for a ws_error, or 0 if err is not one. */
int ws_error_close_code(int err);

/* A short English description of a ws_error. */
const char *ws_strerror(int err);

/*
 * Sec-WebSocket-Accept for a Sec-WebSocket-Key value:
 * base64(SHA-1(key "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")). out receives 28
 * characters and a NUL. Returns 0, or -1 if the key is NULL or longer than
 * 256 bytes.
 */
int ws_accept_key(const char *client_key, char out[WS_ACCEPT_KEY_LEN + 1]);

/* True if accept is exactly the Sec-WebSocket-Accept expected for client_key. */
bool ws_accept_key_matches(const char *client_key, const char *accept);

/* Sec-WebSocket-Key from 16 caller-supplied random bytes: 24 characters and a NUL. */
void ws_client_key_make(const uint8_t random16[16], char out[WS_CLIENT_KEY_LEN + 1]);

/*
 * True if key is the base64 encoding of exactly 16 bytes (24 characters
 * ending in "=="; no surrounding whitespace). Non-zero pad bits are
 * tolerated as Go's decoder does.
 */
bool ws_client_key_valid(const char *key);

#endif
