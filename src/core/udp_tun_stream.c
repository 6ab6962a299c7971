/*
 * GOST's UDP over a byte stream (its socks5 0xF3 command, and ssu over a
 * stream): each datagram is a SOCKS5 UDP header whose RSV is the data's
 * length and FRAG 0xff, the address, then the data (src/core/filter.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socks5.h"
#include "src/core/buf.h"
#include "src/core/filter.h"
#include "src/core/util.h"

struct udp_tun_stream {
	struct stream base;         /* dgram */
	struct stream *lower;       /* owned */
	struct socks5_addr target;
	struct buf in;             /* a partial frame */
};

static void udps_lower_read(struct stream *s, const char *data, size_t len)
{
	struct udp_tun_stream *u = s->ud;
	if (!len) {
		stream_emit_event(&u->base, STREAM_EV_ERROR, ECONNRESET);
		return;
	}
	buf_append(&u->in, data, len);
	while (u->in.len && !u->base.closed) {
		struct socks5_udp_header h;
		int hl = socks5_udp_header_parse((const uint8_t *)u->in.p, u->in.len, &h);
		if (hl < 0) {
			stream_emit_event(&u->base, STREAM_EV_ERROR, EPROTO);
			return;
		}
		if (hl == 0 || u->in.len < (size_t)hl + h.rsv)
			return;
		/* Deliver from a private copy: the reader may close us while it runs. */
		size_t n = h.rsv;
		char *msg = xmalloc(n ? n : 1);
		memcpy(msg, u->in.p + hl, n);
		buf_consume(&u->in, (size_t)hl + n);
		if (n)
			stream_emit_read(&u->base, msg, n);
		free(msg);
	}
}

static void udps_lower_event(struct stream *s, enum stream_event ev, int err)
{
	struct udp_tun_stream *u = s->ud;
	if (ev == STREAM_EV_DRAINED)
		u->base.wqueued = 0;
	stream_emit_event(&u->base, ev, err);
}

static void udps_read_start(struct stream *s) { stream_read_start(((struct udp_tun_stream *)s)->lower); }
static void udps_read_stop(struct stream *s) { stream_read_stop(((struct udp_tun_stream *)s)->lower); }

static int udps_write(struct stream *s, const char *data, size_t len)
{
	struct udp_tun_stream *u = (struct udp_tun_stream *)s;
	char stackbuf[2048];
	uint8_t hdr[3 + SOCKS5_REQUEST_MAX];
	if (!len || len > 0xffff)
		return 0; /* GOST reads an empty frame as "to EOF"; a datagram that big cannot exist */
	int n = socks5_udp_header_encode(hdr, sizeof hdr, (uint16_t)len, 0xff, &u->target);
	if (n < 0)
		return -1;
	/* one write: a filter below (Shadowsocks) makes one chunk of it */
	size_t total = (size_t)n + len;
	char *frame = total <= sizeof stackbuf ? stackbuf : xmalloc(total);
	memcpy(frame, hdr, (size_t)n);
	memcpy(frame + n, data, len);
	int r = stream_write(u->lower, frame, total);
	if (frame != stackbuf)
		free(frame);
	if (r < 0)
		return -1;
	s->wqueued = u->lower->wqueued;
	return 0;
}

static void udps_shutdown(struct stream *s) { (void)s; }

static void udps_close(struct stream *s)
{
	struct udp_tun_stream *u = (struct udp_tun_stream *)s;
	stream_close(u->lower);
	buf_free(&u->in);
}

static int udps_fd(struct stream *s)
{
	(void)s;
	return -1;
}

static const struct stream_ops udps_ops = {
	.name = "udp-tun",
	.read_start = udps_read_start,
	.read_stop = udps_read_stop,
	.write = udps_write,
	.shutdown = udps_shutdown,
	.close = udps_close,
	.fd = udps_fd,
};

struct stream *udp_tun_stream_new(struct stream *lower, const struct socks5_addr *target)
{
	struct udp_tun_stream *u = xcalloc(1, sizeof *u);
	stream_init(&u->base, &udps_ops, lower->w);
	u->base.dgram = 1;
	u->lower = lower;
	u->target = *target;
	memcpy(u->base.peer, lower->peer, sizeof u->base.peer);
	stream_set_callbacks(lower, udps_lower_read, udps_lower_event, u);
	return &u->base;
}
