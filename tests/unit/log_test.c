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

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "src/core/log.h"
#include "src/core/log_rotate.h"

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
		const char *note = strstr(line, " warn  log: ");
		if (note && sscanf(note, " warn  log: %lu lines dropped", &d) == 1) {
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

/* A loop thread whose output is a pipe nobody reads yet: the ring fills and lines are dropped. */
static void *flood_thread(void *arg)
{
	(void)arg;
	log_thread_async();
	for (int i = 0; i < 10000; i++)
		log_info("flood line %d padding-padding-padding-padding-padding-padding-padding-padding", i);
	return NULL;
}

struct drain {
	int fd;
	int stop;
};

static void *drain_thread(void *arg)
{
	struct drain *d = arg;
	char b[65536];
	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
		if (read(d->fd, b, sizeof b) <= 0)
			usleep(1000);
	return NULL;
}

static void test_dropped_note_is_a_json_line_in_json(void **state)
{
	(void)state;
	char fifo[64], *buf = malloc(1 << 22);
	size_t got = 0;
	pthread_t t;
	snprintf(fifo, sizeof fifo, "/tmp/portway-log-fifo-%d", (int)getpid());
	assert_int_equal(mkfifo(fifo, 0600), 0);
	int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	log_set_format("json");
	assert_int_equal(log_set_output(fifo), 0);
	assert_int_equal(pthread_create(&t, NULL, flood_thread, NULL), 0);
	pthread_join(t, NULL);
	char *note = NULL;
	for (int i = 0; i < 1000 && !note; i++) {
		ssize_t r = read(rfd, buf + got, (1 << 22) - 1 - got);
		if (r > 0)
			got += (size_t)r;
		else
			usleep(10000);
		buf[got] = 0;
		note = strstr(buf, "lines dropped");
	}
	assert_non_null(note);
	while (note > buf && note[-1] != '\n')
		note--;
	assert_true(!strncmp(note, "{\"time\":", 8));
	assert_non_null(strstr(note, "\"level\":\"warn\",\"msg\":\"log: "));
	/* The writer may still be inside a write to the fifo, holding the output: keep reading
	 * until the output is switched back, or the switch waits forever. */
	struct drain d = { .fd = rfd };
	assert_int_equal(pthread_create(&t, NULL, drain_thread, &d), 0);
	log_set_format("text");
	log_set_output("stderr");
	__atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	close(rfd);
	unlink(fifo);
	free(buf);
}

/* ---- rotation: names, selection ---- */

static void test_backup_name_as_lumberjack(void **state)
{
	(void)state;
	char out[256];
	/* 2016-11-04T18:30:00.007 UTC */
	int64_t ms = 1478284200LL * 1000 + 7;
	assert_int_equal(log_backup_name("/var/log/portway.log", ms, 0, out, sizeof out), 0);
	assert_string_equal(out, "/var/log/portway-2016-11-04T18-30-00.007.log");
	/* the extension is what follows the base name's last dot; none: nothing after the time */
	assert_int_equal(log_backup_name("/a.b/c.d.txt", ms, 0, out, sizeof out), 0);
	assert_string_equal(out, "/a.b/c.d-2016-11-04T18-30-00.007.txt");
	assert_int_equal(log_backup_name("/a.b/log", ms, 0, out, sizeof out), 0);
	assert_string_equal(out, "/a.b/log-2016-11-04T18-30-00.007");
	assert_int_equal(log_backup_name("rel.log", ms, 0, out, sizeof out), 0);
	assert_string_equal(out, "rel-2016-11-04T18-30-00.007.log");
	assert_int_equal(log_backup_name("/var/log/portway.log", ms, 0, out, 20), -1); /* does not fit */
}

static void test_backup_parse_round_trip_and_rejects(void **state)
{
	(void)state;
	int64_t ms;
	int gz;
	assert_true(log_backup_parse("/var/log/portway.log", "portway-2016-11-04T18-30-00.007.log", 0, &ms, &gz));
	assert_true(ms == 1478284200LL * 1000 + 7 && !gz);
	assert_true(log_backup_parse("/var/log/portway.log", "portway-2016-11-04T18-30-00.007.log.gz", 0, &ms, &gz));
	assert_true(gz);
	assert_true(log_backup_parse("log", "log-2000-01-01T00-00-00.000", 0, &ms, &gz));
	assert_true(ms == 946684800LL * 1000);
	static const char *const not_backups[] = {
		"portway.log", "portway-2016-11-04T18-30-00.007.log.bz2", "other-2016-11-04T18-30-00.007.log",
		"portway-2016-11-04T18-30-00.007.txt", "portway-2016-11-04 18-30-00.007.log",
		"portway-2016-13-04T18-30-00.007.log", "portway-2016-11-04T18-30-00.0x7.log",
		"portway-2016-11-04T18-30-00.log", "portway2016-11-04T18-30-00.007.log",
		"portway-2016-11-04T18-30-00.007.log.gz.tmp", "portway-2016-11-04T25-30-00.007.log", NULL,
	};
	for (size_t i = 0; not_backups[i]; i++)
		assert_false(log_backup_parse("/var/log/portway.log", not_backups[i], 0, &ms, &gz));
	/* local time: what the name says in this zone, both ways */
	char out[256];
	const char *slash;
	assert_int_equal(log_backup_name("/x/p.log", 1478284200LL * 1000, 1, out, sizeof out), 0);
	slash = strrchr(out, '/');
	assert_true(log_backup_parse("/x/p.log", slash + 1, 1, &ms, &gz));
	assert_true(ms == 1478284200LL * 1000);
}

static struct log_backup bk(const char *name, int64_t ms, int gz)
{
	struct log_backup b = { .ms = ms, .gz = gz };
	snprintf(b.name, sizeof b.name, "%s", name);
	return b;
}

static int removed(const struct log_backup *b, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(b[i].name, name))
			return b[i].remove;
	fail_msg("%s not listed", name);
	return -1;
}

static void test_backup_select_counts_and_ages(void **state)
{
	(void)state;
	const int64_t day = 86400LL * 1000, now = 100 * day;
	struct log_backup b[] = {
		bk("a-1", now - 5 * day, 0), bk("a-4", now - 1 * day, 0), bk("a-2", now - 4 * day, 1),
		bk("a-3.gz", now - 2 * day, 1), bk("a-3", now - 2 * day, 0), bk("a-0", now - 11 * day, 0),
	};
	size_t n = sizeof b / sizeof *b;
	/* nothing limited: everything stays */
	log_backup_select(b, n, 0, 0, now);
	for (size_t i = 0; i < n; i++)
		assert_false(b[i].remove);
	/* newest first; a file and its .gz count as one backup */
	assert_int_equal(b[0].ms, now - day);
	log_backup_select(b, n, 2, 0, now);
	assert_false(removed(b, n, "a-4"));
	assert_false(removed(b, n, "a-3"));
	assert_false(removed(b, n, "a-3.gz"));
	assert_true(removed(b, n, "a-2"));
	assert_true(removed(b, n, "a-1"));
	assert_true(removed(b, n, "a-0"));
	/* older than maxAge days goes, whatever maxBackups says */
	log_backup_select(b, n, 10, 4, now);
	assert_false(removed(b, n, "a-4"));
	assert_false(removed(b, n, "a-3"));
	assert_false(removed(b, n, "a-2"));   /* exactly 4 days: not older */
	assert_true(removed(b, n, "a-1"));
	assert_true(removed(b, n, "a-0"));
	log_backup_select(NULL, 0, 3, 3, now); /* nothing to select from */
}

/* ---- rotation on a real file ---- */

static size_t count_backups(const char *dir, const char *path, int want_gz, char *first, size_t cap)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	int64_t ms;
	int gz;
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		if (log_backup_parse(path, e->d_name, 0, &ms, &gz) && gz == want_gz) {
			if (!n++ && first)
				snprintf(first, cap, "%s/%s", dir, e->d_name);
		}
	closedir(d);
	return n;
}

static void wait_for(int (*cond)(void *), void *arg)
{
	for (int i = 0; i < 2000 && !cond(arg); i++)
		usleep(10000);
	assert_true(cond(arg));
}

struct rot_dir {
	char dir[64], path[128];
	size_t backups;
};

static int backups_compressed(void *arg)
{
	struct rot_dir *r = arg;
	return count_backups(r->dir, r->path, 0, NULL, 0) == 0 && count_backups(r->dir, r->path, 1, NULL, 0) == r->backups;
}

static void test_rotation_writes_gzipped_backups_within_size(void **state)
{
	(void)state;
	struct rot_dir r = { .backups = 2 };
	snprintf(r.dir, sizeof r.dir, "/tmp/portway-rot-XXXXXX");
	assert_non_null(mkdtemp(r.dir));
	snprintf(r.path, sizeof r.path, "%s/p.log", r.dir);
	struct log_rotation rot = { .enabled = 1, .max_bytes = 1000, .max_backups = 2, .compress = 1 };
	log_set_format("text");
	assert_int_equal(log_set_output_rotated(r.path, &rot), 0);
	for (int i = 0; i < 100; i++)
		log_info("line %03d of the rotation test, long enough to fill a file in a few lines", i);
	wait_for(backups_compressed, &r);
	/* each backup is whole lines within maxSize, and valid gzip */
	char first[256], buf[4096];
	count_backups(r.dir, r.path, 1, first, sizeof first);
	gzFile gz = gzopen(first, "rb");
	assert_non_null(gz);
	int n = gzread(gz, buf, sizeof buf - 1);
	assert_int_equal(gzclose(gz), Z_OK);
	assert_true(n > 0 && n <= 1000);
	buf[n] = 0;
	assert_int_equal(buf[n - 1], '\n');
	assert_non_null(strstr(buf, " of the rotation test"));
	struct stat st;
	assert_int_equal(stat(r.path, &st), 0);
	assert_true(st.st_size > 0 && st.st_size <= 1000);
	/* the newest line is in the current file */
	char *text = read_file(r.path);
	assert_non_null(strstr(text, "line 099 of"));
	free(text);
	log_set_output("stderr");
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", r.dir);
	assert_int_equal(system(cmd), 0);
}

static void test_reopen_after_the_file_moved(void **state)
{
	(void)state;
	char path[64], moved[80];
	temp_output(path, sizeof path);
	log_info("before the move");
	snprintf(moved, sizeof moved, "%s.1", path);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(log_reopen(), 0);
	log_info("after the move");
	char *old = read_file(moved), *now = read_file(path);
	assert_non_null(strstr(old, "before the move"));
	assert_null(strstr(old, "after the move"));
	assert_non_null(strstr(now, "after the move"));
	free(old);
	free(now);
	log_set_output("stderr");
	unlink(path);
	unlink(moved);
}

/* ---- JSON and the journal ---- */

static void test_json_escape_utf8(void **state)
{
	(void)state;
	char out[128];
	size_t n = log_json_escape(out, 0, sizeof out, "\xc3\xa9t\xc3\xa9 \xff \xc3( \xed\xa0\x80 \x7f \xf0\x9f\x98\x80");
	out[n] = 0;
	/* valid UTF-8 stays, invalid bytes and surrogates become U+FFFD, DEL is escaped */
	assert_string_equal(out, "\xc3\xa9t\xc3\xa9 \\ufffd \\ufffd( \\ufffd\\ufffd\\ufffd \\u007f \xf0\x9f\x98\x80");
	/* never past the end, however long */
	char big[300];
	memset(big, '"', sizeof big - 1);
	big[sizeof big - 1] = 0;
	n = log_json_escape(out, 0, sizeof out, big);
	assert_true(n < sizeof out);
}

static void test_json_fields_are_members(void **state)
{
	(void)state;
	char path[64];
	temp_output(path, sizeof path);
	log_set_format("json");
	struct log_field f[] = {
		{ "service", LOG_FIELD_STR, "s\"1", 0 },
		{ "inputBytes", LOG_FIELD_UINT, NULL, 18446744073709551615ULL },
	};
	log_event(LOG_LVL_INFO, f, 2, "a >-< b", "text %d", 1);
	log_set_format("text");
	log_event(LOG_LVL_INFO, f, 2, "a >-< b", "text %d", 2);
	char *text = read_file(path);
	assert_non_null(strstr(text, "\"level\":\"info\",\"msg\":\"a >-< b\",\"service\":\"s\\\"1\","
				     "\"inputBytes\":18446744073709551615}\n"));
	assert_non_null(strstr(text, " info  text 2\n"));
	free(text);
	unlink(path);
}

static void test_journal_stream_matching(void **state)
{
	(void)state;
	assert_true(log_journal_stream_matches("8:12345", 8, 12345));
	assert_false(log_journal_stream_matches("8:12345", 8, 12346));
	assert_false(log_journal_stream_matches("9:12345", 8, 12345));
	assert_false(log_journal_stream_matches("8:12345x", 8, 12345));
	assert_false(log_journal_stream_matches("8", 8, 12345));
	assert_false(log_journal_stream_matches("", 8, 12345));
	assert_false(log_journal_stream_matches(NULL, 8, 12345));
	assert_int_equal(log_syslog_priority(LOG_LVL_ERROR), 3);
	assert_int_equal(log_syslog_priority(LOG_LVL_WARN), 4);
	assert_int_equal(log_syslog_priority(LOG_LVL_INFO), 6);
	assert_int_equal(log_syslog_priority(LOG_LVL_DEBUG), 7);
	assert_int_equal(log_syslog_priority(LOG_LVL_FATAL), 2);
}

static void test_journal_prefix_when_output_is_the_journal(void **state)
{
	(void)state;
	char path[64], env[64];
	struct stat st;
	snprintf(path, sizeof path, "/tmp/portway-log-test-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0 && fstat(fd, &st) == 0);
	close(fd);
	snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	assert_int_equal(log_set_output(path), 0);
	log_error("bad");
	log_info("fine");
	unsetenv("JOURNAL_STREAM");
	assert_int_equal(log_set_output(path), 0);   /* no longer the journal */
	log_info("plain");
	char *text = read_file(path);
	assert_true(!strncmp(text, "<3>", 3));
	assert_non_null(strstr(text, "\n<6>"));
	assert_non_null(strstr(text, " info  fine\n"));
	char *plain = strstr(text, " info  plain\n");
	assert_non_null(plain);
	assert_true(plain[-1] == 'Z' && plain[-25] == '\n'); /* no prefix before its time */
	free(text);
	log_set_output("stderr");
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop_threads_lines_whole_ordered_or_counted),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_long_line_truncated_with_newline),
		cmocka_unit_test(test_dropped_note_is_a_json_line_in_json),
		cmocka_unit_test(test_backup_name_as_lumberjack),
		cmocka_unit_test(test_backup_parse_round_trip_and_rejects),
		cmocka_unit_test(test_backup_select_counts_and_ages),
		cmocka_unit_test(test_rotation_writes_gzipped_backups_within_size),
		cmocka_unit_test(test_reopen_after_the_file_moved),
		cmocka_unit_test(test_json_escape_utf8),
		cmocka_unit_test(test_json_fields_are_members),
		cmocka_unit_test(test_journal_stream_matching),
		cmocka_unit_test(test_journal_prefix_when_output_is_the_journal),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	log_set_output("stderr");
	return r;
}
