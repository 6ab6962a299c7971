/*
 * Datagrams over a byte stream: LEN (uint16 BE) | payload each way. The
 * upper side is a datagram stream (one message per read and per write).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/bytes.h"
#include "src/core/filter.h"
#include "src/core/log.h"
#include "src/core/util.h"

#define FRAME_MAX (2 + 65535)

struct frame_stream {
	struct filter f;
	char *acc;                  /* a partial frame, owned; NULL when none */
	size_t acc_len;
};

static void frame_emit(struct frame_stream *fs, const char *buf, size_t len, size_t *used)
{
	*used = 0;
	while (len - *used >= 2 && !fs->f.base.closed) {
		size_t n = rd_be16((const uint8_t *)buf + *used);
		if (len - *used < 2 + n)
			break;
		if (n) /* an empty datagram cannot be told from EOF upstream: drop it */
			stream_emit_read(&fs->f.base, buf + *used + 2, n);
		*used += 2 + n;
	}
}

static void frame_lower_read(struct stream *lower, const char *data, size_t len)
{
	struct frame_stream *fs = lower->ud;
	size_t used;
	if (!len) {
		stream_emit_read(&fs->f.base, NULL, 0);
		return;
	}
	if (!fs->acc) {
		frame_emit(fs, data, len, &used);
		if (fs->f.base.closed || used == len)
			return;
		fs->acc = xmalloc(FRAME_MAX);
		fs->acc_len = len - used;
		memcpy(fs->acc, data + used, fs->acc_len);
		return;
	}
	/* Complete the partial frame first, a little at a time, then go on from the new bytes. */
	while (len) {
		size_t want = fs->acc_len < 2 ? 2 - fs->acc_len : 2 + rd_be16((uint8_t *)fs->acc) - fs->acc_len;
		size_t take = want < len ? want : len;
		memcpy(fs->acc + fs->acc_len, data, take);
		fs->acc_len += take;
		data += take;
		len -= take;
		if (fs->acc_len >= 2 && fs->acc_len == 2 + (size_t)rd_be16((uint8_t *)fs->acc)) {
			char *acc = fs->acc;
			fs->acc = NULL;
			if (fs->acc_len > 2)
				stream_emit_read(&fs->f.base, acc + 2, fs->acc_len - 2);
			free(acc);
			fs->acc_len = 0;
			if (fs->f.base.closed)
				return;
			if (len)
				frame_lower_read(lower, data, len);
			return;
		}
	}
}

static int frame_write(struct stream *s, const char *data, size_t len)
{
	uint8_t hdr[2];
	if (len > 65535) {
		log_debug("relay udp: dropping a %zu-byte datagram (max 65535)", len);
		return 0;
	}
	wr_be16(hdr, (uint16_t)len);
	char *buf = xmalloc(2 + len);
	memcpy(buf, hdr, 2);
	memcpy(buf + 2, data, len);
	int r = filter_write(s, buf, 2 + len);
	free(buf);
	return r;
}

static void frame_close(struct stream *s)
{
	struct frame_stream *fs = (struct frame_stream *)s;
	free(fs->acc);
	fs->acc = NULL;
	filter_close(s);
}

static const struct stream_ops frame_ops = {
	.name = "udp-frame",
	.read_start = filter_read_start,
	.read_stop = filter_read_stop,
	.write = frame_write,
	.shutdown = filter_shutdown,
	.close = frame_close,
};

struct stream *frame_stream_new(struct stream *lower)
{
	struct frame_stream *fs = xcalloc(1, sizeof *fs);
	filter_init(&fs->f, &frame_ops, lower, frame_lower_read);
	fs->f.base.dgram = 1;
	return &fs->f.base;
}
