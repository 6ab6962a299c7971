/*
 * libFuzzer target for the smux codec. The input is a byte stream of a v1
 * and then of a v2 session. It is cut into frames by smux_frame_parse() on
 * the whole buffer, and fed to the incremental reader in pieces whose sizes
 * come from the input itself and one byte at a time: all three must yield
 * the same frames and stop in the same way. Frames whose LENGTH matches
 * their body re-encode byte for byte.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smux.h"

#define MAX_FRAMES 4096

struct seen {
	struct smux_header hdr;
	size_t off;        /* of the payload in the input, for comparison */
	size_t payload_len;
};

static struct seen ref[MAX_FRAMES];
static uint8_t reader_buf[SMUX_MAX_FRAME_SIZE];
static uint8_t re[SMUX_HEADER_LEN + SMUX_MAX_FRAME_SIZE];

static bool same_header(const struct smux_header *a, const struct smux_header *b)
{
	return a->version == b->version && a->cmd == b->cmd && a->length == b->length &&
	       a->sid == b->sid;
}

/* Feed data to a reader in pieces; piece sizes cycle through `sizes`. */
static void run_reader(const uint8_t *data, size_t size, uint8_t version,
		       const uint8_t *sizes, size_t nsizes, size_t nref, int ref_end,
		       size_t ref_need)
{
	struct smux_reader r;
	size_t start = 0, count = 0, k = 0, used;
	int rc = 0;

	if (smux_reader_init(&r, version, reader_buf, sizeof(reader_buf)) != 0)
		abort();
	while (start < size) {
		size_t piece = nsizes ? (size_t)1 + sizes[k++ % nsizes] : size - start;
		const uint8_t *p = data + start;
		size_t left;
		struct smux_frame f;

		if (piece > size - start)
			piece = size - start;
		left = piece;
		while ((rc = smux_reader_next(&r, p, left, &used, &f)) == 1) {
			if (used == 0 || used > left || count >= nref)
				abort();
			if (!same_header(&f.hdr, &ref[count].hdr) ||
			    f.payload_len != ref[count].payload_len ||
			    (f.payload_len && memcmp(f.payload, data + ref[count].off, f.payload_len) != 0))
				abort();
			count++;
			p += used;
			left -= used;
		}
		if (rc < 0)
			break;
		if (used != left)
			abort();
		start += piece;
	}
	if (count != nref)
		abort();
	if (ref_end < 0) {
		if (rc >= 0)
			abort();
		/* The error sticks. */
		if (smux_reader_next(&r, data, size, &used, NULL) != -1)
			abort();
		return;
	}
	if (rc < 0)
		abort();
	if (smux_reader_need(&r) != ref_need)
		abort();
}

static void check_session(const uint8_t *data, size_t size, uint8_t version)
{
	size_t off = 0, nref = 0, need = 0, ref_need = SMUX_HEADER_LEN;
	int rc = 0;

	while (nref < MAX_FRAMES) {
		struct smux_frame f;

		rc = smux_frame_parse(data + off, size - off, version, &f, &need);
		if (rc <= 0)
			break;
		if ((size_t)rc != SMUX_HEADER_LEN + f.payload_len || (size_t)rc > size - off)
			abort();
		if (f.payload_len != smux_frame_body_len(&f.hdr) ||
		    (f.payload_len && f.payload != data + off + SMUX_HEADER_LEN))
			abort();
		if (f.hdr.length == f.payload_len) {
			int n = smux_frame_encode(re, sizeof(re), f.hdr.version, f.hdr.cmd,
						  f.hdr.sid, f.payload, f.payload_len);

			if (n != rc || memcmp(re, data + off, (size_t)n) != 0)
				abort();
		}
		if (f.hdr.cmd == SMUX_CMD_UPD) {
			uint32_t consumed, window;
			uint8_t upd[SMUX_UPD_LEN];

			if (smux_upd_decode(f.payload, f.payload_len, &consumed, &window) != 8 ||
			    smux_upd_encode(upd, sizeof(upd), consumed, window) != 8 ||
			    memcmp(upd, f.payload, 8) != 0)
				abort();
		}
		ref[nref].hdr = f.hdr;
		ref[nref].off = off + SMUX_HEADER_LEN;
		ref[nref].payload_len = f.payload_len;
		nref++;
		off += (size_t)rc;
	}
	if (nref == MAX_FRAMES)
		return;
	if (rc == 0) {
		if (need <= size - off || need > SMUX_HEADER_LEN + SMUX_MAX_FRAME_SIZE)
			abort();
		ref_need = need - (size - off);
	}

	run_reader(data, size, version, NULL, 0, nref, rc, ref_need);
	run_reader(data, size, version, data, size < 64 ? size : 64, nref, rc, ref_need);
	if (size <= 4096) {
		static const uint8_t one[1] = { 0 };

		run_reader(data, size, version, one, 1, nref, rc, ref_need);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smux_stream_ids ids;
	uint32_t sid;

	check_session(data, size, SMUX_VERSION_1);
	check_session(data, size, SMUX_VERSION_2);

	/* Ids keep their parity and grow until the space runs out. */
	if (size >= 5) {
		uint32_t prev;

		smux_stream_ids_init(&ids, data[0] & 1);
		ids.last = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
			   (uint32_t)data[3] << 8 | data[4];
		ids.last = (ids.last & ~1u) | (data[0] & 1);
		prev = ids.last;
		if (smux_stream_ids_next(&ids, &sid) == 0) {
			if (sid != prev + 2 || (sid & 1) != (data[0] & 1u))
				abort();
		} else if (prev + 2 > prev) {
			abort();
		}
	}
	return 0;
}
