/*
 * Logging that never blocks a worker. A worker formats its line on its own
 * stack; when the output can take it at once (nobody else writing, nothing
 * queued, room in the pipe) it writes it, else it copies it into a ring under
 * a lock held only for that copy, and a writer thread empties the ring. When the ring is full the
 * line is dropped and counted, and the writer says how many it lost: a slow
 * disk or a stalled journal costs log lines, never latency on the loop.
 * Every other thread (main: start-up, reload, shutdown; the subcommands)
 * writes synchronously, after whatever the ring still holds, so lines keep
 * their order.
 */
#include "src/core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_RING_SIZE (256 * 1024)

static enum log_level current_level = LOG_LVL_INFO;
static int json_format;
static const char *level_names[] = { "trace", "debug", "info", "warn", "error", "fatal" };

/* Where lines go; the fd is swapped under write_lock. */
static int out_fd = STDERR_FILENO;
static int out_owned;

/* write_lock: whoever writes to out_fd (the writer thread, or a synchronous caller).
 * ring_lock: the ring, held only to copy bytes in or out. Order: write_lock, then ring_lock. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cond = PTHREAD_COND_INITIALIZER;
static char ring[LOG_RING_SIZE];
static size_t ring_head, ring_len;   /* bytes ring[head .. head+len) modulo the size */
static unsigned long ring_dropped;
static int writer_sleeping;
static int writer_running;           /* 0: not started (or could not be), lines go out synchronously */
static pthread_once_t writer_once = PTHREAD_ONCE_INIT;

static __thread int thread_async;

int log_set_level(const char *name)
{
	for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++)
		if (!strcasecmp(name, level_names[i])) {
			current_level = (enum log_level)i;
			return 0;
		}
	if (!strcasecmp(name, "warning")) {
		current_level = LOG_LVL_WARN;
		return 0;
	}
	return -1;
}

int log_set_format(const char *name)
{
	if (!strcasecmp(name, "json"))
		json_format = 1;
	else if (!strcasecmp(name, "text"))
		json_format = 0;
	else
		return -1;
	return 0;
}

int log_set_output(const char *path)
{
	int fd, owned = 0;
	if (!strcmp(path, "stderr") || !*path)
		fd = STDERR_FILENO;
	else if (!strcmp(path, "stdout"))
		fd = STDOUT_FILENO;
	else if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0)
		return -1;
	else
		owned = 1;
	pthread_mutex_lock(&write_lock);
	if (out_owned)
		close(out_fd);
	out_fd = fd;
	out_owned = owned;
	pthread_mutex_unlock(&write_lock);
	return 0;
}

enum log_level log_get_level(void) { return current_level; }

void log_thread_async(void) { thread_async = 1; }

/* ---- output ---- */

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(out_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to report a failing log output */
		p += w;
		n -= (size_t)w;
	}
}

/* Move what the ring holds to out (called with write_lock held, which also guards drain_buf). */
static char drain_buf[LOG_RING_SIZE];

static void ring_drain_locked(void)
{
	char *scratch = drain_buf;
	pthread_mutex_lock(&ring_lock);
	size_t n = ring_len, first = LOG_RING_SIZE - ring_head;
	if (first > n)
		first = n;
	memcpy(scratch, ring + ring_head, first);
	memcpy(scratch + first, ring, n - first);
	ring_head = (ring_head + n) % LOG_RING_SIZE;
	ring_len = 0;
	unsigned long dropped = ring_dropped;
	ring_dropped = 0;
	pthread_mutex_unlock(&ring_lock);
	write_all(scratch, n);
	if (dropped) {
		char note[128];
		int k = snprintf(note, sizeof note, "log: %lu lines dropped (the log output fell behind)\n", dropped);
		write_all(note, (size_t)k);
	}
}

static void *writer_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&ring_lock);
		while (!ring_len && !ring_dropped) {
			writer_sleeping = 1;
			pthread_cond_wait(&ring_cond, &ring_lock);
			writer_sleeping = 0;
		}
		pthread_mutex_unlock(&ring_lock);
		pthread_mutex_lock(&write_lock);
		ring_drain_locked();
		pthread_mutex_unlock(&write_lock);
	}
	return NULL;
}

static void writer_start(void)
{
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, writer_main, NULL) == 0)
		__atomic_store_n(&writer_running, 1, __ATOMIC_RELEASE);
	pthread_attr_destroy(&a);
}

/* A worker's line: into the ring, or counted as dropped. Never waits for I/O. */
static void ring_push(const char *line, size_t n)
{
	pthread_mutex_lock(&ring_lock);
	if (ring_len + n > LOG_RING_SIZE) {
		ring_dropped++;
	} else {
		size_t tail = (ring_head + ring_len) % LOG_RING_SIZE, first = LOG_RING_SIZE - tail;
		if (first > n)
			first = n;
		memcpy(ring + tail, line, first);
		memcpy(ring, line + first, n - first);
		ring_len += n;
	}
	if (writer_sleeping)
		pthread_cond_signal(&ring_cond);
	pthread_mutex_unlock(&ring_lock);
}

/* Any other thread: what the ring holds first, then this line. */
static void write_sync(const char *line, size_t n)
{
	pthread_mutex_lock(&write_lock);
	ring_drain_locked();
	write_all(line, n);
	pthread_mutex_unlock(&write_lock);
}

/*
 * A worker's fast path: when nobody is writing, nothing is queued (so order holds) and the
 * output can take the line without waiting (a pipe or socket with room for it, or a file),
 * the line goes out at once; anything else goes through the ring.
 */
static int write_now_if_free(const char *line, size_t n)
{
	if (n > PIPE_BUF || pthread_mutex_trylock(&write_lock))
		return 0;
	int done = 0, queued;
	struct pollfd pfd = { .fd = out_fd, .events = POLLOUT };
	pthread_mutex_lock(&ring_lock);
	queued = ring_len || ring_dropped;
	pthread_mutex_unlock(&ring_lock);
	if (!queued && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT)) {
		write_all(line, n);
		done = 1;
	}
	pthread_mutex_unlock(&write_lock);
	return done;
}

void log_flush(void)
{
	write_sync("", 0);
}

/* ---- formatting ---- */

static size_t put_json_escaped(char *out, size_t pos, size_t cap, const char *s)
{
	for (; *s && pos + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[pos++] = '\\';
			out[pos++] = (char)c;
		} else if (c < 0x20) {
			pos += (size_t)snprintf(out + pos, cap - pos, "\\u%04x", c);
		} else {
			out[pos++] = (char)c;
		}
	}
	return pos;
}

/* One complete line, newline included, truncated to fit. */
static size_t format_line(char *line, size_t cap, enum log_level lvl, const char *msg)
{
	char ts[64];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
	size_t n;
	if (json_format) {
		n = (size_t)snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_names[lvl]);
		n = put_json_escaped(line, n, cap - 4, msg);
		memcpy(line + n, "\"}\n", 3);
		return n + 3;
	}
	int k = snprintf(line, cap, "%s %-5s %s\n", ts, level_names[lvl], msg);
	n = k < 0 ? 0 : (size_t)k;
	if (n >= cap) {
		n = cap - 1;
		line[n - 1] = '\n';
	}
	return n;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char msg[2048], line[LOG_LINE_MAX];
	va_list ap;

	if (lvl < current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t n = format_line(line, sizeof line, lvl, msg);
	if (thread_async) {
		if (write_now_if_free(line, n))
			return;
		pthread_once(&writer_once, writer_start);
		if (__atomic_load_n(&writer_running, __ATOMIC_ACQUIRE)) {
			ring_push(line, n);
			return;
		}
	}
	write_sync(line, n);
}
