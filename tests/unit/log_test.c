/*
 * Unit tests for logging (src/core/log.c): lines from loop threads go through
 * the writer thread whole, in each thread's order, and either arrive or are
 * counted as dropped; synchronous lines come after what was queued; JSON
 * escapes what it must.
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
#include <unistd.h>

#include "src/core/log.h"

#define THREADS 4
#define LINES 20000

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)n + 1);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = 0;
	fclose(f);
	return p;
}

static void temp_output(char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/portway-log-test-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_set_output(path), 0);
}

static void *loop_thread(void *arg)
{
	long id = (long)arg;
	log_thread_async();
	for (int i = 0; i < LINES; i++)
		log_info("thread %ld line %d padding-to-make-the-line-longer-than-a-few-bytes", id, i);
	return NULL;
}

static void test_loop_threads_lines_whole_ordered_or_counted(void **state)
{
	(void)state;
	char path[64];
	pthread_t t[THREADS];
	log_set_format("text");
	temp_output(path, sizeof path);
	for (long i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, loop_thread, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	log_info("after the threads");
	char *text = read_file(path);
	int next[THREADS] = { 0 }, seen = 0, last_line_is_sync = 0;
	unsigned long dropped = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		long id;
		int n;
		unsigned long d;
		last_line_is_sync = strstr(line, " info  after the threads") != NULL;
		if (sscanf(line, "log: %lu lines dropped", &d) == 1) {
			dropped += d;
			continue;
		}
		if (last_line_is_sync)
			continue;
		const char *m = strstr(line, " info  thread ");
		assert_non_null(m);
		assert_int_equal(sscanf(m, " info  thread %ld line %d", &id, &n), 2);
		assert_true(id >= 0 && id < THREADS);
		assert_true(n >= next[id]);   /* each thread's order is kept */
		assert_non_null(strstr(m, "padding-to-make-the-line-longer-than-a-few-bytes"));
		next[id] = n + 1;
		seen++;
	}
	assert_true(last_line_is_sync);   /* the synchronous line came after everything queued */
	assert_int_equal((unsigned long)seen + dropped, (unsigned long)THREADS * LINES);
	free(text);
	unlink(path);
}

static void test_json_escapes(void **state)
{
	(void)state;
	char path[64];
	temp_output(path, sizeof path);
	log_set_format("json");
	log_warn("a \"quoted\" \\ and a\ttab");
	log_set_format("text");
	char *text = read_file(path);
	assert_non_null(strstr(text, "\"level\":\"warn\",\"msg\":\"a \\\"quoted\\\" \\\\ and a\\u0009tab\"}\n"));
	free(text);
	unlink(path);
}

static void test_long_line_truncated_with_newline(void **state)
{
	(void)state;
	char path[64], big[6000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	temp_output(path, sizeof path);
	log_error("%s", big);
	log_info("next");
	char *text = read_file(path);
	char *nl = strchr(text, '\n');
	assert_non_null(nl);
	assert_non_null(strstr(nl + 1, " info  next\n"));
	free(text);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop_threads_lines_whole_ordered_or_counted),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_long_line_truncated_with_newline),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	log_set_output("stderr");
	return r;
}
