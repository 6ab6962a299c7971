/*
 * GOST's gRPC tunnel framing (go-gost/x internal/util/grpc/proto/gost.proto): the
 * bidirectional stream `GostTunel.Tunnel` of `Chunk { bytes data = 1; }` messages.
 * On the wire each message is gRPC's length prefix (compressed flag 0, uint32 BE
 * length) and the protobuf encoding of Chunk: tag 0x0a, a varint length, the bytes.
 *
 * The reader is a state machine fed with arbitrary pieces; it hands out the data bytes
 * as they arrive (never buffering a message) and skips fields other than data, as a
 * protobuf parser must. It refuses compressed messages (none is negotiated), messages
 * over GRPC_MESSAGE_MAX (grpc-go's default receive limit), malformed varints, wire
 * types 3/4 (groups) and 6/7, and fields that overrun their message.
 */
#ifndef PORTWAY_PROTO_GRPC_H
#define PORTWAY_PROTO_GRPC_H
#include <stddef.h>
#include <stdint.h>

#define GRPC_MESSAGE_MAX (4u << 20)
#define GRPC_CHUNK_HEADER_MAX 15   /* 5 (gRPC prefix) + 1 (tag) + 9 (varint, as we bound it) */

/* The HTTP/2 :path of the tunnel call for GOST's `path` metadata, as go-gost/x's
 * parsingMethod reads it: "" -> /GostTunel/Tunnel, "/svc" -> /svc/Tunnel, "/svc/a/b" ->
 * /svc/a-b (slashes of the method turned into dashes). Returns -1 if it does not fit. */
int grpc_method_path(const char *path, char *out, size_t cap);

/* The bytes before data_len bytes of data in one message; returns their count. */
size_t grpc_chunk_header(uint8_t out[GRPC_CHUNK_HEADER_MAX], size_t data_len);

enum grpc_read_state {
	GRPC_PREFIX,        /* the 5-byte gRPC message prefix */
	GRPC_TAG,           /* a field's key (varint) */
	GRPC_LEN,           /* a length-delimited field's length (varint) */
	GRPC_DATA,          /* the bytes of field 1 */
	GRPC_SKIP_BYTES,    /* the bytes of another length-delimited or fixed-size field */
	GRPC_SKIP_VARINT,   /* another field's varint value */
};

struct grpc_reader {
	enum grpc_read_state state;
	uint8_t prefix[5];
	size_t prefix_len;
	uint32_t msg_left;      /* bytes left in the current message */
	uint64_t varint;        /* the varint being read */
	unsigned varint_shift;
	uint32_t field_left;    /* bytes left of the current field's value */
	int is_data;            /* the current length-delimited field is data (1) */
};

void grpc_reader_init(struct grpc_reader *r);
typedef void (*grpc_data_cb)(void *ud, const uint8_t *p, size_t n);
/* Consume n bytes, calling on_data for each run of data bytes. 0, or -1 with *why set on
 * malformed input (the reader must not be fed again). */
int grpc_reader_feed(struct grpc_reader *r, const uint8_t *in, size_t n, grpc_data_cb on_data, void *ud,
		     const char **why);
/* 1 when the reader stands between messages: an EOF here is clean. */
int grpc_reader_at_boundary(const struct grpc_reader *r);

#endif
