#include "src/core/rate.h"

#include <time.h>

#define NS 1000000000ull

static uint64_t bytes_to_ns(uint64_t n, uint64_t rate) { return (uint64_t)((unsigned __int128)n * NS / rate); }

static uint64_t ns_to_bytes(uint64_t ns, uint64_t rate) { return (uint64_t)((unsigned __int128)ns * rate / NS); }

void rate_bucket_init(struct rate_bucket *b, uint64_t rate, uint64_t burst)
{
	b->rate = rate ? rate : 1;
	b->burst = burst ? burst : b->rate;
	b->burst_ns = bytes_to_ns(b->burst, b->rate);
	/* a burst of more than a day's worth (or one whose time overflowed) is a day's worth */
	if (b->burst_ns > 86400 * NS || b->burst_ns < b->burst / b->rate)
		b->burst_ns = 86400 * NS;
	b->tat = 0;
}

uint64_t rate_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

uint64_t rate_bucket_avail(struct rate_bucket *b, uint64_t now)
{
	uint64_t tat = __atomic_load_n(&b->tat, __ATOMIC_RELAXED);
	uint64_t base = tat > now ? tat : now;
	if (now + b->burst_ns <= base)
		return 0;
	uint64_t n = ns_to_bytes(now + b->burst_ns - base, b->rate);
	return n > b->burst ? b->burst : n;
}

void rate_bucket_charge(struct rate_bucket *b, uint64_t n, uint64_t now)
{
	uint64_t cost = bytes_to_ns(n, b->rate);
	uint64_t old = __atomic_load_n(&b->tat, __ATOMIC_RELAXED), next;
	do
		next = (old > now ? old : now) + cost;
	while (!__atomic_compare_exchange_n(&b->tat, &old, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

uint64_t rate_bucket_wait(struct rate_bucket *b, uint64_t want, uint64_t now)
{
	uint64_t tat = __atomic_load_n(&b->tat, __ATOMIC_RELAXED);
	if (want > b->burst)
		want = b->burst;
	/* available once now' + burst_ns - tat >= want / rate */
	uint64_t ready = tat + bytes_to_ns(want, b->rate);
	ready = ready > b->burst_ns ? ready - b->burst_ns : 0;
	return ready > now ? ready - now : 0;
}

/* Each direction from -> to draws on from's input buckets and to's output buckets. */
#define EACH_BUCKET(from, to, b, body)                                              \
	do {                                                                        \
		for (size_t k_ = 0; (from) && k_ < (from)->n_in; k_++) {            \
			struct rate_bucket *b = (from)->in[k_];                     \
			body;                                                       \
		}                                                                   \
		for (size_t k_ = 0; (to) && k_ < (to)->n_out; k_++) {               \
			struct rate_bucket *b = (to)->out[k_];                      \
			body;                                                       \
		}                                                                   \
	} while (0)

size_t rate_allow(const struct rate_conn *from, const struct rate_conn *to, size_t want, uint64_t now)
{
	uint64_t n = want;
	EACH_BUCKET(from, to, b, {
		uint64_t a = rate_bucket_avail(b, now);
		if (a < n)
			n = a;
	});
	return (size_t)n;
}

void rate_charge(const struct rate_conn *from, const struct rate_conn *to, size_t n, uint64_t now)
{
	EACH_BUCKET(from, to, b, rate_bucket_charge(b, n, now));
}

double rate_wait(const struct rate_conn *from, const struct rate_conn *to, size_t want, uint64_t now)
{
	uint64_t w = 0;
	EACH_BUCKET(from, to, b, {
		uint64_t t = rate_bucket_wait(b, want, now);
		if (t > w)
			w = t;
	});
	return (double)w / NS;
}

void rate_conn_release(struct rate_conn *r)
{
	if (r && r->release)
		r->release(r);
}
