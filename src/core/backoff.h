/*
 * Reconnect with exponential back-off: the first retry after min seconds,
 * each failure doubling the wait up to max, a success starting over at min.
 * With jitter every wait is spread ±25 %, so a fleet of clients that lost
 * the same server does not return in lockstep. The struct owns the retry
 * timer; its callback gets the owner in t->data.
 *
 *   backoff_init(&n->retry, 1, 30, 0, retry_cb, n);
 *   double d = backoff_retry_later(&n->retry, loop);    (on failure)
 *   backoff_reset(&n->retry);                           (on success)
 *   backoff_cancel(&n->retry, loop);                    (on stop)
 */
#ifndef PORTWAY_BACKOFF_H
#define PORTWAY_BACKOFF_H
#include <ev.h>

#define BACKOFF_JITTER 0.25

typedef void (*backoff_cb)(struct ev_loop *loop, ev_timer *t, int revents);

struct backoff {
	double min, max;            /* the first wait, and the cap doubling stops at */
	double cur;                 /* the next wait, before jitter */
	int jitter;
	ev_timer timer;
};

void backoff_init(struct backoff *b, double min, double max, int jitter, backoff_cb cb, void *data);
/* The wait to use now (jittered if asked); the one after doubles, up to max. */
double backoff_next(struct backoff *b);
/* A success: the next wait is min again. */
void backoff_reset(struct backoff *b);
/* Start the timer for backoff_next() seconds; returns that wait (for the log line). */
double backoff_retry_later(struct backoff *b, struct ev_loop *loop);
void backoff_cancel(struct backoff *b, struct ev_loop *loop);
/* A retry is scheduled and has not fired yet. */
int backoff_pending(const struct backoff *b);

#endif
