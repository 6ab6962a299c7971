/*
 * Bandwidth token buckets for the pipe (GOST's traffic limiters). A bucket is one
 * atomic word, so the service-level bucket can be shared by the connections of every
 * worker thread without a lock; a connection's streams carry a rate_conn naming the
 * buckets their bytes are charged to.
 */
#ifndef PORTWAY_RATE_H
#define PORTWAY_RATE_H
#include <stddef.h>
#include <stdint.h>

/*
 * GCRA form of a token bucket: instead of a token count and a refill time (two words
 * that would need a lock to change together), the bucket keeps the one instant `tat`
 * at which it would be full again. Bytes available at `now` are
 * (now + burst_time - max(tat, now)) * rate; charging n bytes moves tat by n / rate.
 * Charging is a compare-and-swap on tat, so workers sharing a bucket never wait for
 * each other; a charge may exceed what was available (a read already happened), which
 * pushes tat further and makes the next reader wait longer: the long-run rate holds.
 */
struct rate_bucket {
	uint64_t rate;          /* bytes per second, > 0 */
	uint64_t burst;         /* bytes, > 0 */
	uint64_t burst_ns;      /* burst / rate, in nanoseconds */
	uint64_t tat;           /* atomic: nanoseconds (CLOCK_MONOTONIC) at which the bucket is full */
};

/* burst 0: the rate (one second's worth), as go-gost's limiter does. Starts full. */
void rate_bucket_init(struct rate_bucket *b, uint64_t rate, uint64_t burst);
uint64_t rate_bucket_avail(struct rate_bucket *b, uint64_t now);
void rate_bucket_charge(struct rate_bucket *b, uint64_t n, uint64_t now);
/* Nanoseconds until `want` bytes (at most the burst) are available; 0: now. */
uint64_t rate_bucket_wait(struct rate_bucket *b, uint64_t want, uint64_t now);

uint64_t rate_now(void);        /* CLOCK_MONOTONIC in nanoseconds */

#define RATE_MAX_BUCKETS 3      /* connection, host, service */

/*
 * The limits of one client connection, carried by its stream: what it reads from the
 * client goes through `in`, what is written to it through `out`. Owned by the stream
 * (freed by stream_close through `release`); the buckets it points to in `in`/`out`
 * are either its own (`own`) or shared ones that outlive it (the configuration's).
 */
struct rate_conn {
	struct rate_bucket *in[RATE_MAX_BUCKETS], *out[RATE_MAX_BUCKETS];
	size_t n_in, n_out;
	struct rate_bucket own[2];
	void (*release)(struct rate_conn *r);   /* frees r and drops what it holds */
};

/* Bytes that may move now from the stream limited by `from` to that limited by `to` (either NULL). */
size_t rate_allow(const struct rate_conn *from, const struct rate_conn *to, size_t want, uint64_t now);
void rate_charge(const struct rate_conn *from, const struct rate_conn *to, size_t n, uint64_t now);
/* Seconds until `want` bytes may move. */
double rate_wait(const struct rate_conn *from, const struct rate_conn *to, size_t want, uint64_t now);
void rate_conn_release(struct rate_conn *r);

#endif
