/* xtaci/smux frame codec. */
#include "proto/smux.h"

#include <string.h>

#include "proto/bytes.h"

static bool version_ok(uint8_t v)
{
	return v == SMUX_VERSION_1 || v == SMUX_VERSION_2;
}

int smux_header_encode(uint8_t *buf, size_t cap, const struct smux_header *h)
{
	if (cap < SMUX_HEADER_LEN || !version_ok(h->version) || h->cmd > SMUX_CMD_UPD)
		return -1;
	buf[0] = h->version;
	buf[1] = h->cmd;
	wr_le16(buf + 2, h->length);
	wr_le32(buf + 4, h->sid);
	return SMUX_HEADER_LEN;
}

int smux_header_decode(const uint8_t *buf, size_t len, struct smux_header *h)
{
	if (len < SMUX_HEADER_LEN)
		return 0;
	h->version = buf[0];
	h->cmd = buf[1];
	h->length = rd_le16(buf + 2);
	h->sid = rd_le32(buf + 4);
	return SMUX_HEADER_LEN;
}

size_t smux_frame_body_len(const struct smux_header *h)
{
	switch (h->cmd) {
	case SMUX_CMD_PSH: return h->length;
	case SMUX_CMD_UPD: return SMUX_UPD_LEN;
	default: return 0;
	}
}

int smux_frame_encode(uint8_t *buf, size_t cap, uint8_t version, uint8_t cmd,
		      uint32_t sid, const uint8_t *payload, size_t payload_len)
{
	struct smux_header h = { .version = version, .cmd = cmd, .sid = sid };

	switch (cmd) {
	case SMUX_CMD_PSH:
		if (payload_len > SMUX_MAX_FRAME_SIZE)
			return -1;
		break;
	case SMUX_CMD_UPD:
		if (payload_len != SMUX_UPD_LEN)
			return -1;
		break;
	default:
		if (payload_len != 0)
			return -1;
	}
	h.length = (uint16_t)payload_len;
	if (cap < SMUX_HEADER_LEN + payload_len || smux_header_encode(buf, cap, &h) < 0)
		return -1;
	if (payload_len)
		memcpy(buf + SMUX_HEADER_LEN, payload, payload_len);
	return (int)(SMUX_HEADER_LEN + payload_len);
}

int smux_upd_encode(uint8_t *buf, size_t cap, uint32_t consumed, uint32_t window)
{
	if (cap < SMUX_UPD_LEN)
		return -1;
	wr_le32(buf, consumed);
	wr_le32(buf + 4, window);
	return SMUX_UPD_LEN;
}

int smux_upd_decode(const uint8_t *buf, size_t len, uint32_t *consumed, uint32_t *window)
{
	if (len < SMUX_UPD_LEN)
		return 0;
	*consumed = rd_le32(buf);
	*window = rd_le32(buf + 4);
	return SMUX_UPD_LEN;
}

/* smux closes the session on a foreign version or an unknown command. */
static bool header_acceptable(const struct smux_header *h, uint8_t version)
{
	return h->version == version && h->cmd <= SMUX_CMD_UPD;
}

int smux_frame_parse(const uint8_t *buf, size_t len, uint8_t version,
		     struct smux_frame *f, size_t *need)
{
	struct smux_header h;
	size_t body;

	if (len >= 1 && buf[0] != version)
		return -1;
	if (len >= 2 && buf[1] > SMUX_CMD_UPD)
		return -1;
	if (smux_header_decode(buf, len, &h) == 0) {
		if (need)
			*need = SMUX_HEADER_LEN;
		return 0;
	}
	if (!header_acceptable(&h, version))
		return -1;
	body = smux_frame_body_len(&h);
	if (len - SMUX_HEADER_LEN < body) {
		if (need)
			*need = SMUX_HEADER_LEN + body;
		return 0;
	}
	f->hdr = h;
	f->payload = body ? buf + SMUX_HEADER_LEN : NULL;
	f->payload_len = body;
	return (int)(SMUX_HEADER_LEN + body);
}

int smux_reader_init(struct smux_reader *r, uint8_t version, uint8_t *buf, size_t cap)
{
	memset(r, 0, sizeof(*r));
	if (!version_ok(version) || !buf || cap < SMUX_MAX_FRAME_SIZE)
		return -1;
	r->version = version;
	r->buf = buf;
	r->cap = cap;
	return 0;
}

size_t smux_reader_need(const struct smux_reader *r)
{
	if (r->hdr_have < SMUX_HEADER_LEN)
		return SMUX_HEADER_LEN - r->hdr_have;
	return r->body_len - r->body_have;
}

int smux_reader_next(struct smux_reader *r, const uint8_t *data, size_t len,
		     size_t *consumed, struct smux_frame *f)
{
	size_t off = 0, missing;

	*consumed = 0;
	if (r->failed)
		return -1;

	/* Between frames, a frame wholly inside data needs no copy at all. */
	if (r->hdr_have == 0) {
		int n = smux_frame_parse(data, len, r->version, f, NULL);

		if (n > 0) {
			*consumed = (size_t)n;
			return 1;
		}
		if (n < 0) {
			r->failed = true;
			return -1;
		}
	}

	if (r->hdr_have < SMUX_HEADER_LEN) {
		size_t take = SMUX_HEADER_LEN - r->hdr_have;

		if (take > len)
			take = len;
		memcpy(r->hdr_buf + r->hdr_have, data, take);
		r->hdr_have += take;
		off = take;
		if (r->hdr_have < SMUX_HEADER_LEN) {
			/* Judge a partial header as early as its bytes allow. */
			if ((r->hdr_have >= 1 && r->hdr_buf[0] != r->version) ||
			    (r->hdr_have >= 2 && r->hdr_buf[1] > SMUX_CMD_UPD)) {
				r->failed = true;
				return -1;
			}
			*consumed = off;
			return 0;
		}
		smux_header_decode(r->hdr_buf, SMUX_HEADER_LEN, &r->hdr);
		if (!header_acceptable(&r->hdr, r->version)) {
			r->failed = true;
			return -1;
		}
		r->body_len = smux_frame_body_len(&r->hdr);
		r->body_have = 0;
	}

	missing = r->body_len - r->body_have;
	if (r->body_have == 0 && len - off >= missing) {
		f->payload = missing ? data + off : NULL;
		off += missing;
	} else {
		size_t take = len - off < missing ? len - off : missing;

		memcpy(r->buf + r->body_have, data + off, take);
		r->body_have += take;
		off += take;
		if (r->body_have < r->body_len) {
			*consumed = off;
			return 0;
		}
		f->payload = r->buf;
	}
	f->hdr = r->hdr;
	f->payload_len = r->body_len;
	r->hdr_have = 0;
	r->body_len = r->body_have = 0;
	*consumed = off;
	return 1;
}

void smux_stream_ids_init(struct smux_stream_ids *ids, bool client)
{
	ids->last = client ? 1 : 0;
	ids->exhausted = false;
}

int smux_stream_ids_next(struct smux_stream_ids *ids, uint32_t *sid)
{
	uint32_t next;

	if (ids->exhausted)
		return -1;
	next = ids->last + 2;
	/* Wrapping back to 0 or 1 is where smux refuses new streams (GoAway). */
	if (next < 2) {
		ids->exhausted = true;
		return -1;
	}
	ids->last = next;
	*sid = next;
	return 0;
}
