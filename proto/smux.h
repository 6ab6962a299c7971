/* xtaci/smux v1/v2 frame codec (as pinned by GOST: v1.5.31), I/O-free.
 * See doc/protocols/gost-relay.md §4. Header integers are little-endian. */
#ifndef PORTWAY_SMUX_H
#define PORTWAY_SMUX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMUX_VERSION_1 1
#define SMUX_VERSION_2 2   /* adds UPD flow control; both ends must agree */

enum smux_cmd {
	SMUX_CMD_SYN = 0,  /* open a stream; no payload */
	SMUX_CMD_FIN = 1,  /* close a stream; no payload */
	SMUX_CMD_PSH = 2,  /* data */
	SMUX_CMD_NOP = 3,  /* keepalive, stream id 0; no payload */
	SMUX_CMD_UPD = 4,  /* v2 window update, 8-byte payload */
};

#define SMUX_HEADER_LEN 8
#define SMUX_UPD_LEN 8
#define SMUX_DEFAULT_MAX_FRAME_SIZE 32768
#define SMUX_MAX_FRAME_SIZE 65535              /* what receivers must accept */
#define SMUX_DEFAULT_KEEPALIVE_INTERVAL_MS 10000
#define SMUX_DEFAULT_KEEPALIVE_TIMEOUT_MS 30000
#define SMUX_DEFAULT_MAX_RECEIVE_BUFFER 4194304
#define SMUX_DEFAULT_MAX_STREAM_BUFFER 65536
#define SMUX_V2_INITIAL_PEER_WINDOW 262144

struct smux_header {
	uint8_t version;
	uint8_t cmd;
	uint16_t length;   /* as on the wire; see smux_frame_body_len() */
	uint32_t sid;
};

/* A complete frame. payload points into the caller's input or into the
 * reader's buffer and is NULL when payload_len is 0. */
struct smux_frame {
	struct smux_header hdr;
	const uint8_t *payload;
	size_t payload_len;
};

/* Write the 8-byte header. Returns 8, or -1 if cap < 8 or version/cmd is
 * not one smux knows. */
int smux_header_encode(uint8_t *buf, size_t cap, const struct smux_header *h);
/* Read the 8-byte header without judging it: 8, or 0 if len < 8. */
int smux_header_decode(const uint8_t *buf, size_t len, struct smux_header *h);
/* Bytes that follow the header as part of the frame. smux reads LENGTH
 * bytes only for PSH, always 8 for UPD, and nothing for SYN/FIN/NOP,
 * whatever LENGTH says; a parser must do the same to stay in step. */
size_t smux_frame_body_len(const struct smux_header *h);

/* Header + payload into buf. SYN/FIN/NOP take no payload, UPD exactly 8
 * bytes, PSH up to 65535. Returns bytes written or -1. */
int smux_frame_encode(uint8_t *buf, size_t cap, uint8_t version, uint8_t cmd,
		      uint32_t sid, const uint8_t *payload, size_t payload_len);

/* UPD payload: consumed(uint32 LE) | window(uint32 LE). */
int smux_upd_encode(uint8_t *buf, size_t cap, uint32_t consumed, uint32_t window);
int smux_upd_decode(const uint8_t *buf, size_t len, uint32_t *consumed, uint32_t *window);

/* Parse one frame from a contiguous buffer for a session configured with
 * `version`. Returns the frame size (>0) with f->payload pointing into buf;
 * 0 if incomplete, with *need (if not NULL) set to the total bytes the
 * frame needs (8 until the header is in); -1 if the version differs from
 * the session's or the command is unknown (smux then closes the session).
 * UPD is accepted in v1 sessions too, as smux does. */
int smux_frame_parse(const uint8_t *buf, size_t len, uint8_t version,
		     struct smux_frame *f, size_t *need);

/* Incremental reader for a byte stream arriving in arbitrary pieces.
 * Payloads are handed out in place when they arrive whole in one piece;
 * only a payload split across pieces is assembled in the caller's buffer. */
struct smux_reader {
	uint8_t version;
	bool failed;
	uint8_t hdr_buf[SMUX_HEADER_LEN];
	size_t hdr_have;
	struct smux_header hdr;   /* valid once hdr_have == SMUX_HEADER_LEN */
	size_t body_len, body_have;
	uint8_t *buf;
	size_t cap;
};

/* buf must hold SMUX_MAX_FRAME_SIZE bytes. Returns 0, or -1 on a bad
 * version or a too small buffer. */
int smux_reader_init(struct smux_reader *r, uint8_t version, uint8_t *buf, size_t cap);
/* Feed data[0..len). Sets *consumed to the bytes used and returns 1 with
 * *f filled when a frame is complete (call again with the rest), 0 when all
 * of data was absorbed and more is needed, -1 on a protocol error (sticky).
 * f->payload stays valid until the next call or until data is released. */
int smux_reader_next(struct smux_reader *r, const uint8_t *data, size_t len,
		     size_t *consumed, struct smux_frame *f);
/* Bytes still missing for the frame in progress: at least this many are
 * needed before smux_reader_next() can yield (8 between frames). */
size_t smux_reader_need(const struct smux_reader *r);

/* Stream id allocation: the session client uses odd ids from 3, the server
 * even ids from 2; after the 32-bit space wraps no more can be opened. */
struct smux_stream_ids {
	uint32_t last;
	bool exhausted;
};

void smux_stream_ids_init(struct smux_stream_ids *ids, bool client);
/* Returns 0 with *sid set, or -1 when the id space is exhausted. */
int smux_stream_ids_next(struct smux_stream_ids *ids, uint32_t *sid);
#endif
