/*
 * A filter stream: a stream layered on one lower stream it owns. By default
 * every operation passes through; a filter overrides what it transforms.
 * Write back-pressure is the lower stream's: base.wqueued mirrors it, and
 * the lower's DRAINED becomes the filter's DRAINED.
 */
#ifndef PORTWAY_FILTER_H
#define PORTWAY_FILTER_H
#include "src/core/stream.h"

struct filter {
	struct stream base;
	struct stream *lower;       /* owned */
};

/* Take over lower: its callbacks now go to on_lower_read / filter_lower_event.
 * Moves the service reference and copies peer and alpn. */
void filter_init(struct filter *f, const struct stream_ops *ops, struct stream *lower, stream_read_cb on_lower_read);
/* The same for a filter that handles the lower stream's events itself (a handshake's
 * failures, DRAINED held back until it is open); it may pass them on to filter_lower_event. */
void filter_init_events(struct filter *f, const struct stream_ops *ops, struct stream *lower,
			stream_read_cb on_lower_read, stream_event_cb on_lower_event);

/* Pass-through implementations, for ops tables and overrides to call. */
void filter_read_start(struct stream *s);
void filter_read_stop(struct stream *s);
int filter_write(struct stream *s, const char *data, size_t len);
void filter_shutdown(struct stream *s);
void filter_close(struct stream *s);
void filter_pass_read(struct stream *lower, const char *data, size_t len);
void filter_lower_event(struct stream *lower, enum stream_event ev, int err);
/* For a filter's fd op once it passes bytes unchanged: the lower socket, if nothing is held above it. */
int filter_transparent_fd(struct stream *s);

/* Streams made of filters (src/core/prefix_stream.c, frame_stream.c, udp_tun_stream.c). */
/* The first write (and only it) is preceded by prefix. */
struct stream *prefix_stream_new(struct stream *lower, const void *prefix, size_t len);
/* Datagrams over a byte stream, each as LEN (uint16 BE) | payload: GOST relay's UDP framing. */
struct stream *frame_stream_new(struct stream *lower);
/* Datagrams over a byte stream as GOST's UDP-over-TCP frames them (socks5 0xF3, ssu over a stream):
 * SOCKS5 UDP header with RSV = length and FRAG 0xff, target as the address, then the data. Reads
 * are the data of each frame (the address is not checked); a malformed frame is STREAM_EV_ERROR
 * EPROTO, the lower's EOF ECONNRESET. target is copied. */
struct socks5_addr;
struct stream *udp_tun_stream_new(struct stream *lower, const struct socks5_addr *target);

#endif
