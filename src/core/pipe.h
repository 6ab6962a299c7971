/*
 * The pipe joins two streams and copies both ways until both directions end
 * or the idle timeout fires; it owns both streams from then on. Two plain TCP
 * sockets are joined with splice(2) through a pooled kernel pipe; anything
 * else is copied through the worker's scratch buffer, with only the bytes a
 * slow side cannot take yet held in memory.
 */
#ifndef PORTWAY_PIPE_H
#define PORTWAY_PIPE_H
#include <stdint.h>

#include "src/core/stream.h"

struct pipe_stats {
	uint64_t bytes_ab, bytes_ba;
};

typedef void (*pipe_done_cb)(void *ctx, const struct pipe_stats *st);

extern int pipe_splice_enabled;

/* idle_timeout <= 0: no timeout. done may be NULL. */
void pipe_start(struct stream *a, struct stream *b, double idle_timeout, pipe_done_cb done, void *ctx);

#endif
