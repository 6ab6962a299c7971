/*
 * Unit tests for the reconnect back-off (src/core/backoff.h): the doubling
 * up to the cap, reset, the jitter band, and the retry timer on a real loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "src/core/backoff.h"

static void no_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
}

static void expect_waits(struct backoff *b, const double *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_true(backoff_next(b) == want[i]);
}

/* rtcp's: 1 s doubling to 5 s. */
static void test_backoff_doubles_to_cap(void **state)
{
	(void)state;
	struct backoff b;
	const double want[] = { 1, 2, 4, 5, 5, 5 };
	backoff_init(&b, 1, 5, 0, no_cb, NULL);
	expect_waits(&b, want, sizeof want / sizeof *want);
}

/* natrelay-server's: 1 s to 30 s. */
static void test_backoff_long_cap(void **state)
{
	(void)state;
	struct backoff b;
	const double want[] = { 1, 2, 4, 8, 16, 30, 30 };
	backoff_init(&b, 1, 30, 0, no_cb, NULL);
	expect_waits(&b, want, sizeof want / sizeof *want);
}

static void test_backoff_reset(void **state)
{
	(void)state;
	struct backoff b;
	const double again[] = { 1, 2 };
	backoff_init(&b, 1, 5, 0, no_cb, NULL);
	for (int i = 0; i < 5; i++)
		backoff_next(&b);
	backoff_reset(&b);
	expect_waits(&b, again, 2);
	/* a reset before any failure changes nothing */
	backoff_reset(&b);
	backoff_reset(&b);
	assert_true(backoff_next(&b) == 1);
}

/* The agent's: 0.5 s to 30 s, each wait within ±25 % of the unjittered one. */
static void test_backoff_jitter_band(void **state)
{
	(void)state;
	const double base[] = { 0.5, 1, 2, 4, 8, 16, 30, 30 };
	for (int round = 0; round < 200; round++) {
		struct backoff b;
		backoff_init(&b, 0.5, 30, 1, no_cb, NULL);
		for (size_t i = 0; i < sizeof base / sizeof *base; i++) {
			double d = backoff_next(&b);
			assert_true(d >= base[i] * 0.75 && d < base[i] * 1.25);
		}
	}
}

/* The jitter really spreads: over many waits both ends of the band are reached, and waits differ. */
static void test_backoff_jitter_spreads(void **state)
{
	(void)state;
	struct backoff b;
	double lo = 2, hi = 0;
	backoff_init(&b, 1, 1, 1, no_cb, NULL);
	for (int i = 0; i < 2000; i++) {
		double d = backoff_next(&b);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo >= 0.75 && lo < 0.76);
	assert_true(hi < 1.25 && hi > 1.24);
}

struct fired {
	int n;
	void *data;
};

static void count_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct fired *f = t->data;
	(void)loop;
	(void)revents;
	f->n++;
	f->data = t->data;
}

/* The timer: armed for the wait it returns, pending until it fires, then quiet; cancel stops it. */
static void test_backoff_timer(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct fired f = { 0 };
	struct backoff b;
	backoff_init(&b, 0.01, 0.04, 0, count_cb, &f);
	assert_false(backoff_pending(&b));
	double t0 = ev_time();
	assert_true(backoff_retry_later(&b, loop) == 0.01);
	assert_true(backoff_pending(&b));
	ev_run(loop, 0);
	assert_int_equal(f.n, 1);
	assert_ptr_equal(f.data, &f);
	assert_true(ev_time() - t0 >= 0.009);
	assert_false(backoff_pending(&b));
	assert_true(backoff_retry_later(&b, loop) == 0.02);
	backoff_cancel(&b, loop);
	assert_false(backoff_pending(&b));
	ev_run(loop, 0);
	assert_int_equal(f.n, 1);
	backoff_cancel(&b, loop); /* twice is harmless */
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_to_cap),
		cmocka_unit_test(test_backoff_long_cap),
		cmocka_unit_test(test_backoff_reset),
		cmocka_unit_test(test_backoff_jitter_band),
		cmocka_unit_test(test_backoff_jitter_spreads),
		cmocka_unit_test(test_backoff_timer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
