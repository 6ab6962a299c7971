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
 *
 * A rotated file (log.rotation) is renamed and reopened by whoever writes under
 * write_lock except a worker: a worker whose line would pass maxSize queues it
 * instead, and the writer thread rotates. Deleting and gzipping old backups is
 * the writer thread's alone (log_rotation_mill), outside write_lock.
 */
#include "src/core/log.h"

#include "src/core/log_rotate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_RING_SIZE (256 * 1024)

static enum log_level current_level = LOG_LVL_INFO;
static int json_format;
static const char *level_names[] = { "trace", "debug", "info", "warn", "error", "fatal" };

/* Where lines go, all under write_lock: the fd (-1: output none), the file's path and size when
 * portway opened it, its rotation, and whether it is the systemd journal (a <N> prefix per line). */
static int out_fd = STDERR_FILENO;
static int out_owned;
static char out_path[PATH_MAX];
static uint64_t out_size;
static struct log_rotation out_rot;
static int out_journal;
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;

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
static int mill_pending;             /* the writer thread has backups to delete or compress */
static pthread_once_t writer_once = PTHREAD_ONCE_INIT;

static __thread int thread_async;

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++)
		if (!strcasecmp(name, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	if (!strcasecmp(name, "warning")) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -1;
}

int log_set_level(const char *name)
{
	enum log_level l;
	if (log_level_parse(name, &l) < 0)
		return -1;
	current_level = l;
	return 0;
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

int log_journal_stream_matches(const char *env, unsigned long long dev, unsigned long long ino)
{
	unsigned long long d, i;
	char end;
	return env && sscanf(env, "%llu:%llu%c", &d, &i, &end) == 2 && d == dev && i == ino;
}

int log_syslog_priority(enum log_level lvl)
{
	static const int prio[] = { 7, 7, 6, 4, 3, 2 }; /* debug, debug, info, warning, err, crit */
	return prio[lvl];
}

/* systemd sets JOURNAL_STREAM to the device and inode of the stream it connected to the journal. */
static int fd_is_journal(int fd)
{
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 &&
	       log_journal_stream_matches(getenv("JOURNAL_STREAM"), (unsigned long long)st.st_dev,
					  (unsigned long long)st.st_ino);
}

/* Until an output is set, lines go to stderr: is that the journal? */
static void journal_default(void)
{
	if (fd_is_journal(STDERR_FILENO))
		__atomic_store_n(&out_journal, 1, __ATOMIC_RELAXED);
}

static uint64_t fd_size(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

static int open_log_file(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

static void writer_start(void);

/* Ask the writer thread to delete and compress old backups (or do it here when it could not start). */
static void mill_request(void)
{
	pthread_once(&writer_once, writer_start);
	if (!__atomic_load_n(&writer_running, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&write_lock);
		struct log_rotation r = out_rot;
		char path[PATH_MAX];
		memcpy(path, out_path, sizeof path);
		pthread_mutex_unlock(&write_lock);
		if (r.enabled)
			log_rotation_mill(path, &r);
		return;
	}
	pthread_mutex_lock(&ring_lock);
	mill_pending = 1;
	if (writer_sleeping)
		pthread_cond_signal(&ring_cond);
	pthread_mutex_unlock(&ring_lock);
}

int log_set_output_rotated(const char *path, const struct log_rotation *rot)
{
	int fd, owned = 0;
	if (!strcmp(path, "stderr") || !*path)
		fd = STDERR_FILENO;
	else if (!strcmp(path, "stdout"))
		fd = STDOUT_FILENO;
	else if (!strcmp(path, "none") || !strcmp(path, "null"))
		fd = -1;
	else if (strlen(path) >= sizeof out_path) {
		errno = ENAMETOOLONG;
		return -1;
	} else if ((fd = open_log_file(path)) < 0)
		return -1;
	else
		owned = 1;
	int journal = fd_is_journal(fd);
	pthread_once(&journal_once, journal_default); /* not to overwrite what is set here later */
	pthread_mutex_lock(&write_lock);
	if (out_owned)
		close(out_fd);
	out_fd = fd;
	out_owned = owned;
	snprintf(out_path, sizeof out_path, "%s", owned ? path : "");
	out_size = owned ? fd_size(fd) : 0;
	memset(&out_rot, 0, sizeof out_rot);
	if (owned && rot && rot->enabled) {
		out_rot = *rot;
		if (!out_rot.max_bytes)
			out_rot.max_bytes = (uint64_t)100 << 20;
	}
	__atomic_store_n(&out_journal, journal, __ATOMIC_RELAXED);
	int milled = out_rot.enabled;
	pthread_mutex_unlock(&write_lock);
	if (milled)
		mill_request(); /* as lumberjack on opening: old backups beyond the limits go at once */
	return 0;
}

int log_set_output(const char *path) { return log_set_output_rotated(path, NULL); }

int log_reopen(void)
{
	pthread_mutex_lock(&write_lock);
	int r = out_owned ? 0 : 1;
	if (out_owned) {
		int fd = open_log_file(out_path);
		if (fd < 0) {
			r = -1;
		} else {
			close(out_fd);
			out_fd = fd;
			out_size = fd_size(fd);
		}
	}
	pthread_mutex_unlock(&write_lock);
	return r;
}

enum log_level log_get_level(void) { return current_level; }

void log_thread_async(void) { thread_async = 1; }

/* ---- output ---- */

static void write_all(const char *p, size_t n)
{
	while (n && out_fd >= 0) {
		ssize_t w = write(out_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to report a failing log output */
		p += w;
		n -= (size_t)w;
		out_size += (uint64_t)w;
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Rename the file to its backup and open a new one (write_lock held; never on a worker). The size
 * starts over even when this fails, so a failing rename is retried after maxSize more bytes,
 * not before every line. */
static void rotate_locked(void)
{
	char bak[PATH_MAX], gz[PATH_MAX + 3];
	out_size = 0;
	/* Two rotations within a millisecond (a tiny maxSize) must not overwrite a backup. */
	for (int64_t ms = now_ms();; ms++) {
		if (log_backup_name(out_path, ms, out_rot.local_time, bak, sizeof bak) < 0)
			return;
		snprintf(gz, sizeof gz, "%s.gz", bak);
		if (!path_exists(bak) && !path_exists(gz))
			break;
	}
	struct stat st;
	mode_t mode = fstat(out_fd, &st) == 0 ? st.st_mode & 0777 : 0640;
	if (rename(out_path, bak) < 0 && errno != ENOENT)
		return;
	int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
	if (fd < 0)
		return; /* the old descriptor (now the backup) keeps taking lines */
	close(out_fd);
	out_fd = fd;
	pthread_mutex_lock(&ring_lock);
	mill_pending = 1;
	if (writer_sleeping)
		pthread_cond_signal(&ring_cond);
	pthread_mutex_unlock(&ring_lock);
}

/* Whole lines of p[0..n) that fit in room bytes; 0 when the first does not. */
static size_t lines_within(const char *p, size_t n, uint64_t room)
{
	size_t take = 0;
	while (take < n) {
		const char *nl = memchr(p + take, '\n', n - take);
		size_t end = nl ? (size_t)(nl - p) + 1 : n;
		if (end > room)
			break;
		take = end;
	}
	return take;
}

/* Write to the output, rotating between lines where the file would pass maxSize (write_lock held). */
static void out_write(const char *p, size_t n)
{
	while (n) {
		size_t take = n;
		if (out_rot.enabled) {
			take = lines_within(p, n, out_size < out_rot.max_bytes ? out_rot.max_bytes - out_size : 0);
			if (!take && out_size) {
				rotate_locked();
				continue;
			}
			if (!take) { /* one line longer than maxSize: alone in its file */
				const char *nl = memchr(p, '\n', n);
				take = nl ? (size_t)(nl - p) + 1 : n;
			}
		}
		write_all(p, take);
		p += take;
		n -= take;
	}
}

/* Move what the ring holds to out (called with write_lock held, which also guards drain_buf). */
static char drain_buf[LOG_RING_SIZE];

static size_t format_line(char *line, size_t cap, enum log_level lvl, const char *msg, const char *text,
			  const struct log_field *f, size_t nf);

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
	out_write(scratch, n);
	if (dropped) {
		/* A line as any other (a JSON log stays JSON), at warn. */
		char msg[128], note[512];
		snprintf(msg, sizeof msg, "log: %lu lines dropped (the log output fell behind)", dropped);
		out_write(note, format_line(note, sizeof note, LOG_LVL_WARN, msg, NULL, NULL, 0));
	}
}

static void *writer_main(void *arg)
{
	(void)arg;
	char path[PATH_MAX];
	for (;;) {
		pthread_mutex_lock(&ring_lock);
		while (!ring_len && !ring_dropped && !mill_pending) {
			writer_sleeping = 1;
			pthread_cond_wait(&ring_cond, &ring_lock);
			writer_sleeping = 0;
		}
		pthread_mutex_unlock(&ring_lock);
		pthread_mutex_lock(&write_lock);
		ring_drain_locked();
		pthread_mutex_lock(&ring_lock);
		int mill = mill_pending;
		mill_pending = 0;
		pthread_mutex_unlock(&ring_lock);
		struct log_rotation rot = out_rot;
		memcpy(path, out_path, sizeof path);
		pthread_mutex_unlock(&write_lock);
		/* Outside write_lock: gzipping a large backup must not hold up anyone's line. */
		if (mill && rot.enabled)
			log_rotation_mill(path, &rot);
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
	out_write(line, n);
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
	/* A line that would pass maxSize waits for the writer thread, which rotates. */
	if (out_rot.enabled && out_size + n > out_rot.max_bytes)
		queued = 1;
	if (out_fd < 0) {
		done = 1;
	} else if (!queued && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT)) {
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

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t log_json_escape(char *out, size_t pos, size_t cap, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s && pos + 7 < cap) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') {
			out[pos++] = '\\';
			out[pos++] = (char)c;
			s++;
		} else if (c < 0x20 || c == 0x7f) {
			pos += (size_t)snprintf(out + pos, cap - pos, "\\u%04x", c);
			s++;
		} else if (c < 0x80) {
			out[pos++] = (char)c;
			s++;
		} else {
			/* A JSON reader rejects invalid UTF-8 (a client's bytes in a host name): U+FFFD instead. */
			size_t n = utf8_len(s);
			if (!n) {
				pos += (size_t)snprintf(out + pos, cap - pos, "\\ufffd");
				s++;
				continue;
			}
			memcpy(out + pos, s, n);
			pos += n;
			s += n;
		}
	}
	return pos;
}

/* The line's start: the journal's priority prefix, if it is the output, and the time. */
static size_t format_head(char *line, size_t cap, enum log_level lvl, char *ts, size_t ts_cap)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, ts_cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
	pthread_once(&journal_once, journal_default);
	if (!__atomic_load_n(&out_journal, __ATOMIC_RELAXED))
		return 0;
	return (size_t)snprintf(line, cap, "<%d>", log_syslog_priority(lvl));
}

/* One complete line, newline included, truncated to fit. */
static size_t format_line(char *line, size_t cap, enum log_level lvl, const char *msg, const char *text,
			  const struct log_field *f, size_t nf)
{
	char ts[64];
	size_t n = format_head(line, cap, lvl, ts, sizeof ts);
	if (json_format) {
		n += (size_t)snprintf(line + n, cap - n, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
				      level_names[lvl]);
		n = log_json_escape(line, n, cap - 4, msg);
		line[n++] = '"';
		for (size_t i = 0; i < nf && n + 64 < cap; i++) {
			n += (size_t)snprintf(line + n, cap - n, ",\"%s\":", f[i].key);
			if (f[i].type == LOG_FIELD_UINT) {
				n += (size_t)snprintf(line + n, cap - n, "%llu", f[i].num);
				continue;
			}
			line[n++] = '"';
			n = log_json_escape(line, n, cap - 4, f[i].str ? f[i].str : "");
			line[n++] = '"';
		}
		memcpy(line + n, "}\n", 2);
		return n + 2;
	}
	int k = snprintf(line + n, cap - n, "%s %-5s %s\n", ts, level_names[lvl], text ? text : msg);
	n += k < 0 ? 0 : (size_t)k;
	if (n >= cap) {
		n = cap - 1;
		line[n - 1] = '\n';
	}
	return n;
}

static void emit(const char *line, size_t n)
{
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

/* msg NULL: the formatted text is the message in both formats. */
static void log_v(enum log_level lvl, const struct log_field *f, size_t nf, const char *msg, const char *fmt,
		  va_list ap)
{
	char text[2048], line[LOG_LINE_MAX];
	vsnprintf(text, sizeof text, fmt, ap);
	emit(line, format_line(line, sizeof line, lvl, msg ? msg : text, text, f, nf));
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	if (lvl < current_level)
		return;
	va_start(ap, fmt);
	log_v(lvl, NULL, 0, NULL, fmt, ap);
	va_end(ap);
}

void log_event(enum log_level lvl, const struct log_field *f, size_t nf, const char *msg, const char *text_fmt, ...)
{
	va_list ap;
	if (lvl < current_level)
		return;
	va_start(ap, text_fmt);
	log_v(lvl, f, nf, msg, text_fmt, ap);
	va_end(ap);
}
