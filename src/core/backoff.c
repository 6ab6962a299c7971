#include "src/core/backoff.h"

#include "src/core/rng.h"

void backoff_init(struct backoff *b, double min, double max, int jitter, backoff_cb cb, void *data)
{
	b->min = min;
	b->max = max;
	b->cur = min;
	b->jitter = jitter;
	ev_init(&b->timer, cb);
	b->timer.data = data;
}

double backoff_next(struct backoff *b)
{
	double d = b->cur;
	if (b->jitter)
		d *= 1 - BACKOFF_JITTER + 2 * BACKOFF_JITTER * rng_double();
	b->cur = b->cur * 2 > b->max ? b->max : b->cur * 2;
	return d;
}

void backoff_reset(struct backoff *b) { b->cur = b->min; }

double backoff_retry_later(struct backoff *b, struct ev_loop *loop)
{
	double d = backoff_next(b);
	ev_timer_set(&b->timer, d, 0);
	ev_timer_start(loop, &b->timer);
	return d;
}

void backoff_cancel(struct backoff *b, struct ev_loop *loop) { ev_timer_stop(loop, &b->timer); }

int backoff_pending(const struct backoff *b) { return ev_is_active(&b->timer); }
