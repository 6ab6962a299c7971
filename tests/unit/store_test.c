/*
 * Unit tests for the gateway's store (src/gateway/store.h): store_open starts the store's thread
 * and fails cleanly, with a message, when the thread cannot be created (pthread_create is wrapped:
 * the link uses --wrap=pthread_create); a job's completion comes back through the worker's loop;
 * store_close runs what is still queued before it joins.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "src/gateway/store.h"

static int fail_thread_create;

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	if (fail_thread_create)
		return EAGAIN;
	return __real_pthread_create(t, a, fn, arg);
}

static char db_path[256];

static int setup(void **state)
{
	(void)state;
	snprintf(db_path, sizeof db_path, "/tmp/portway-store-test-%d.db", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	char p[300];
	(void)state;
	unlink(db_path);
	snprintf(p, sizeof p, "%s-wal", db_path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", db_path);
	unlink(p);
	return 0;
}

static void test_open_fails_cleanly_without_a_thread(void **state)
{
	char err[512] = "";
	(void)state;
	fail_thread_create = 1;
	struct store *st = store_open(db_path, err, sizeof err);
	fail_thread_create = 0;
	assert_null(st);
	assert_non_null(strstr(err, "cannot start the database thread"));
	assert_non_null(strstr(err, strerror(EAGAIN)));
}

struct job_state {
	int ran, done;
	int exists;
	struct worker *w;
};

static void job_run(struct store *st, void *arg)
{
	struct job_state *j = arg;
	j->exists = store_tunnel_exists(st, "site");
	j->ran = 1;
}

static void job_done(void *arg)
{
	struct job_state *j = arg;
	j->done = 1;
	ev_break(j->w->loop, EVBREAK_ALL);
}

static void test_job_completes_on_the_worker(void **state)
{
	char err[512] = "", secret[STORE_SECRET_LEN + 1];
	(void)state;
	struct store *st = store_open(db_path, err, sizeof err);
	assert_non_null(st);
	assert_int_equal(store_tunnel_add(st, "site", secret), 0);
	workers_init(1);
	struct job_state j = { .w = workers[0] };
	store_async(st, workers[0], job_run, job_done, &j);
	ev_run(workers[0]->loop, 0);
	assert_int_equal(j.ran, 1);
	assert_int_equal(j.done, 1);
	assert_int_equal(j.exists, 1);
	/* Queued jobs run before the thread ends. */
	struct job_state late = { .w = workers[0] };
	store_async(st, workers[0], job_run, NULL, &late);
	store_close(st);
	assert_int_equal(late.ran, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_fails_cleanly_without_a_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_completes_on_the_worker, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
