/* GOST's gRPC tunnel over an HTTP/2 stream (grpc_stream.h). */
#include "src/xprt/grpc_stream.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/grpc.h"
#include "src/core/filter.h"
#include "src/core/log.h"
#include "src/core/util.h"

/* Bigger writes go out as several messages: grpc-go refuses messages over 4 MiB by default. */
#define GRPC_WRITE_MAX (1u << 20)

struct grpc_stream {
	struct filter f;
	struct grpc_reader r;
	int failed;                 /* the peer sent a malformed message: nothing more is read */
};

static void grpc_data(void *ud, const uint8_t *p, size_t n)
{
	struct grpc_stream *g = ud;
	if (!g->f.base.closed)
		stream_emit_read(&g->f.base, (const char *)p, n);
}

static void grpc_lower_read(struct stream *lower, const char *data, size_t len)
{
	struct grpc_stream *g = lower->ud;
	const char *why;
	if (g->failed)
		return;
	if (!len) {
		if (!grpc_reader_at_boundary(&g->r))
			log_debug("grpc %s: the call ended inside a message", g->f.base.peer);
		stream_emit_read(&g->f.base, NULL, 0);
		return;
	}
	if (grpc_reader_feed(&g->r, (const uint8_t *)data, len, grpc_data, g, &why) < 0 && !g->f.base.closed) {
		g->failed = 1;
		log_info("grpc %s: %s", g->f.base.peer, why);
		stream_read_stop(lower);
		stream_emit_event(&g->f.base, STREAM_EV_ERROR, EPROTO);
	}
}

static int grpc_write(struct stream *s, const char *data, size_t len)
{
	uint8_t hdr[GRPC_CHUNK_HEADER_MAX];
	do {
		size_t n = len < GRPC_WRITE_MAX ? len : GRPC_WRITE_MAX;
		size_t hl = grpc_chunk_header(hdr, n);
		/* Both land in the HTTP/2 stream's queue, and so in the same DATA frames. */
		if (filter_write(s, (const char *)hdr, hl) < 0 || (n && filter_write(s, data, n) < 0))
			return -1;
		data += n;
		len -= n;
	} while (len);
	return 0;
}

static const struct stream_ops grpc_ops = {
	.name = "grpc",
	.read_start = filter_read_start,
	.read_stop = filter_read_stop,
	.write = grpc_write,
	.shutdown = filter_shutdown,
	.close = filter_close,
};

struct stream *grpc_stream_new(struct stream *lower)
{
	struct grpc_stream *g = xcalloc(1, sizeof *g);
	grpc_reader_init(&g->r);
	filter_init(&g->f, &grpc_ops, lower, grpc_lower_read);
	return &g->f.base;
}
