/* GOST's gRPC Chunk framing (proto/grpc.h). */
#include "proto/grpc.h"

#include <stdio.h>
#include <string.h>

#include "proto/bytes.h"

int grpc_method_path(const char *path, char *out, size_t cap)
{
	const char *svc = "GostTunel", *p = path ? path : "";
	size_t svc_len = strlen(svc), len;
	while (*p == '/')
		p++;
	len = strlen(p);
	while (len && p[len - 1] == '/')
		len--;
	const char *slash = memchr(p, '/', len);
	size_t n;
	if (!len)
		n = (size_t)snprintf(out, cap, "/%s/Tunnel", svc);
	else if (!slash)
		n = (size_t)snprintf(out, cap, "/%.*s/Tunnel", (int)len, p);
	else {
		svc_len = (size_t)(slash - p);
		n = (size_t)snprintf(out, cap, "/%.*s/%.*s", (int)svc_len, p, (int)(len - svc_len - 1), slash + 1);
		if (n < cap)
			for (char *c = out + 1 + svc_len + 1; *c; c++)
				if (*c == '/')
					*c = '-';
	}
	return n < cap ? 0 : -1;
}

size_t grpc_chunk_header(uint8_t out[GRPC_CHUNK_HEADER_MAX], size_t data_len)
{
	uint8_t v[10];
	size_t vn = 0;
	uint64_t x = data_len;
	do {
		v[vn++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
		x >>= 7;
	} while (x);
	wr_be32(out + 1, (uint32_t)(1 + vn + data_len));
	out[0] = 0;
	out[5] = 0x0a; /* field 1, wire type 2 */
	for (size_t i = 0; i < vn; i++)
		out[6 + i] = v[i];
	return 6 + vn;
}

void grpc_reader_init(struct grpc_reader *r)
{
	*r = (struct grpc_reader){ .state = GRPC_PREFIX };
}

int grpc_reader_at_boundary(const struct grpc_reader *r) { return r->state == GRPC_PREFIX && !r->prefix_len; }

/* The field just ended (or was empty): the next key, or the next message. */
static void field_done(struct grpc_reader *r) { r->state = r->msg_left ? GRPC_TAG : GRPC_PREFIX; }

static int fail(const char **why, const char *msg)
{
	*why = msg;
	return -1;
}

/* One varint byte of the current message. 1: the varint is complete, 0: more, -1: malformed. */
static int varint_byte(struct grpc_reader *r, uint8_t b)
{
	if (r->varint_shift >= 64 || (r->varint_shift == 63 && (b & 0x7e)))
		return -1;
	r->varint |= (uint64_t)(b & 0x7f) << r->varint_shift;
	r->varint_shift += 7;
	return !(b & 0x80);
}

static int start_value(struct grpc_reader *r, const char **why)
{
	uint64_t key = r->varint;
	unsigned wire = (unsigned)(key & 7);
	uint64_t field = key >> 3;
	r->varint = 0;
	r->varint_shift = 0;
	if (!field)
		return fail(why, "protobuf field number 0");
	switch (wire) {
	case 0: r->state = GRPC_SKIP_VARINT; return 0;
	case 1: r->field_left = 8; break;
	case 5: r->field_left = 4; break;
	case 2:
		r->is_data = field == 1;
		r->state = GRPC_LEN;
		return 0;
	default: return fail(why, "protobuf wire type not allowed in Chunk");
	}
	if (r->field_left > r->msg_left)
		return fail(why, "protobuf field overruns its message");
	r->state = GRPC_SKIP_BYTES;
	return 0;
}

int grpc_reader_feed(struct grpc_reader *r, const uint8_t *in, size_t n, grpc_data_cb on_data, void *ud,
		     const char **why)
{
	size_t i = 0;
	while (i < n) {
		switch (r->state) {
		case GRPC_PREFIX:
			r->prefix[r->prefix_len++] = in[i++];
			if (r->prefix_len < 5)
				break;
			r->prefix_len = 0;
			if (r->prefix[0] != 0)
				return fail(why, r->prefix[0] == 1 ? "compressed gRPC message (no compression was agreed)"
								   : "bad gRPC message flag");
			r->msg_left = rd_be32(r->prefix + 1);
			if (r->msg_left > GRPC_MESSAGE_MAX)
				return fail(why, "gRPC message over 4 MiB");
			r->state = r->msg_left ? GRPC_TAG : GRPC_PREFIX;
			break;
		case GRPC_TAG:
		case GRPC_LEN:
		case GRPC_SKIP_VARINT: {
			int done = varint_byte(r, in[i++]);
			r->msg_left--;
			if (done < 0)
				return fail(why, "malformed protobuf varint");
			if (!done) {
				if (!r->msg_left)
					return fail(why, "protobuf varint overruns its message");
				break;
			}
			if (r->state == GRPC_TAG) {
				if (start_value(r, why) < 0)
					return -1;
				if (r->state != GRPC_SKIP_BYTES && !r->msg_left)
					return fail(why, "protobuf field without a value");
			} else if (r->state == GRPC_LEN) {
				if (r->varint > r->msg_left)
					return fail(why, "protobuf field overruns its message");
				r->field_left = (uint32_t)r->varint;
				r->varint = 0;
				r->varint_shift = 0;
				r->state = r->is_data ? GRPC_DATA : GRPC_SKIP_BYTES;
				if (!r->field_left)
					field_done(r);
			} else {
				r->varint = 0;
				r->varint_shift = 0;
				field_done(r);
			}
			break;
		}
		case GRPC_DATA:
		case GRPC_SKIP_BYTES: {
			size_t take = n - i < r->field_left ? n - i : r->field_left;
			if (r->state == GRPC_DATA)
				on_data(ud, in + i, take);
			i += take;
			r->field_left -= (uint32_t)take;
			r->msg_left -= (uint32_t)take;
			if (!r->field_left)
				field_done(r);
			break;
		}
		}
	}
	return 0;
}
