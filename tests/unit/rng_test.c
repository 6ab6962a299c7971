/*
 * Unit tests for the per-thread random generator (src/core/rng.h): threads
 * (and so processes) draw different sequences, and the ranges hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>

#include "src/core/rng.h"

#define DRAWS 8

struct draws {
	uint64_t v[DRAWS];
};

static void *draw_thread(void *arg)
{
	struct draws *d = arg;
	for (int i = 0; i < DRAWS; i++)
		d->v[i] = rng_u64();
	return NULL;
}

/* Each thread seeds itself from the OS: no two start the same sequence (as unseeded rand() did). */
static void test_rng_threads_differ(void **state)
{
	(void)state;
	struct draws d[3];
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, draw_thread, &d[i]), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	struct draws here;
	draw_thread(&here);
	assert_memory_not_equal(d[0].v, d[1].v, sizeof d[0].v);
	assert_memory_not_equal(d[0].v, d[2].v, sizeof d[0].v);
	assert_memory_not_equal(d[1].v, d[2].v, sizeof d[0].v);
	assert_memory_not_equal(here.v, d[0].v, sizeof here.v);
	/* and one thread does not repeat itself */
	assert_true(here.v[0] != here.v[1]);
}

static void test_rng_double_range(void **state)
{
	(void)state;
	double lo = 1, hi = 0, sum = 0;
	const int n = 100000;
	for (int i = 0; i < n; i++) {
		double x = rng_double();
		assert_true(x >= 0 && x < 1);
		lo = x < lo ? x : lo;
		hi = x > hi ? x : hi;
		sum += x;
	}
	/* uniform: spread over the whole interval, mean near 1/2 (sd of the mean ~0.001) */
	assert_true(lo < 0.001);
	assert_true(hi > 0.999);
	assert_true(sum / n > 0.49 && sum / n < 0.51);
}

static void test_rng_below_range(void **state)
{
	(void)state;
	int seen[7] = { 0 };
	assert_int_equal(rng_below(0), 0);
	assert_int_equal(rng_below(1), 0);
	for (int i = 0; i < 7000; i++) {
		uint32_t x = rng_below(7);
		assert_true(x < 7);
		seen[x]++;
	}
	for (int i = 0; i < 7; i++)
		assert_true(seen[i] > 700 && seen[i] < 1300);
	for (int i = 0; i < 1000; i++)
		assert_true(rng_below(65535) < 65535);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_threads_differ),
		cmocka_unit_test(test_rng_double_range),
		cmocka_unit_test(test_rng_below_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
