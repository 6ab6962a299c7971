#include "src/core/log_rotate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define STAMP_LEN 23 /* 2006-01-02T15-04-05.000 */

/* path split as lumberjack does: directory, the base name's stem (up to its last dot) and extension. */
struct log_path_parts {
	const char *base;   /* the file name in path */
	size_t dir_len;     /* bytes of path before base */
	size_t stem_len;    /* bytes of base before the extension */
	const char *ext;    /* ".log", or "" */
};

static void split_path(const char *path, struct log_path_parts *pp)
{
	const char *slash = strrchr(path, '/');
	pp->base = slash ? slash + 1 : path;
	pp->dir_len = (size_t)(pp->base - path);
	const char *dot = strrchr(pp->base, '.');
	pp->ext = dot ? dot : pp->base + strlen(pp->base);
	pp->stem_len = (size_t)(pp->ext - pp->base);
}

int log_backup_name(const char *path, int64_t ms, int local_time, char *out, size_t cap)
{
	struct log_path_parts pp;
	struct tm tm;
	time_t sec = (time_t)(ms / 1000);
	split_path(path, &pp);
	if (local_time ? !localtime_r(&sec, &tm) : !gmtime_r(&sec, &tm))
		return -1;
	int n = snprintf(out, cap, "%.*s-%04d-%02d-%02dT%02d-%02d-%02d.%03d%s", (int)(pp.dir_len + pp.stem_len), path,
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000),
			 pp.ext);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int digits(const char *s, size_t n, int *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* "2006-01-02T15-04-05.000" to milliseconds since the epoch, in UTC or local time. */
static int parse_stamp(const char *s, int local_time, int64_t *ms)
{
	static const char shape[] = "dddd-dd-ddTdd-dd-dd.ddd";
	struct tm tm = { 0 };
	int msec;
	for (size_t i = 0; i < STAMP_LEN; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return -1;
	digits(s, 4, &tm.tm_year);
	digits(s + 5, 2, &tm.tm_mon);
	digits(s + 8, 2, &tm.tm_mday);
	digits(s + 11, 2, &tm.tm_hour);
	digits(s + 14, 2, &tm.tm_min);
	digits(s + 17, 2, &tm.tm_sec);
	digits(s + 20, 3, &msec);
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_isdst = -1;
	time_t t = local_time ? mktime(&tm) : timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000 + msec;
	return 0;
}

int log_backup_parse(const char *path, const char *name, int local_time, int64_t *ms, int *gz)
{
	struct log_path_parts pp;
	split_path(path, &pp);
	size_t n = strlen(name), ext_len = strlen(pp.ext);
	if (n < pp.stem_len + 1 + STAMP_LEN + ext_len || memcmp(name, pp.base, pp.stem_len) ||
	    name[pp.stem_len] != '-')
		return 0;
	const char *stamp = name + pp.stem_len + 1, *rest = stamp + STAMP_LEN;
	if (memcmp(rest, pp.ext, ext_len))
		return 0;
	rest += ext_len;
	if (!strcmp(rest, ""))
		*gz = 0;
	else if (!strcmp(rest, ".gz"))
		*gz = 1;
	else
		return 0;
	return parse_stamp(stamp, local_time, ms) == 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct log_backup *x = a, *y = b;
	if (x->ms != y->ms)
		return x->ms > y->ms ? -1 : 1;
	return x->gz - y->gz; /* the plain file of a pair first */
}

/* The name without a trailing .gz: a backup and its compressed copy are one backup. */
static int same_backup(const struct log_backup *a, const struct log_backup *b)
{
	size_t la = strlen(a->name) - (a->gz ? 3 : 0), lb = strlen(b->name) - (b->gz ? 3 : 0);
	return la == lb && !memcmp(a->name, b->name, la);
}

void log_backup_select(struct log_backup *b, size_t n, int max_backups, int max_age_days, int64_t now_ms)
{
	if (!n)
		return; /* b may be NULL */
	qsort(b, n, sizeof *b, newest_first);
	int kept = 0;
	for (size_t i = 0; i < n; i++) {
		b[i].remove = 0;
		if (max_backups > 0) {
			if (i > 0 && same_backup(&b[i], &b[i - 1]))
				b[i].remove = b[i - 1].remove;
			else
				b[i].remove = kept++ >= max_backups;
		}
		if (max_age_days > 0 && b[i].ms < now_ms - (int64_t)max_age_days * 86400 * 1000)
			b[i].remove = 1;
	}
}

int log_gzip_file(const char *src, const char *dst)
{
	char tmp[PATH_MAX], buf[65536];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", dst) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	struct stat st;
	int out = fstat(in, &st) < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777);
	gzFile gz = out < 0 ? NULL : gzdopen(out, "wb");
	if (!gz) {
		int e = errno;
		if (out >= 0)
			close(out);
		close(in);
		errno = e;
		return -1;
	}
	ssize_t r;
	int failed = 0;
	while ((r = read(in, buf, sizeof buf)) > 0)
		if (gzwrite(gz, buf, (unsigned)r) != (int)r) {
			failed = 1;
			break;
		}
	if (r < 0)
		failed = 1;
	int e = errno;
	if (gzclose(gz) != Z_OK)
		failed = 1;
	close(in);
	if (failed || rename(tmp, dst) < 0) {
		unlink(tmp);
		errno = failed ? (e ? e : EIO) : errno;
		return -1;
	}
	return 0;
}

/* path's backups, found in its directory. Returns how many were put in *out (owned by the caller). */
static size_t list_backups(const char *path, const struct log_rotation *r, struct log_backup **out)
{
	struct log_path_parts pp;
	char dir[PATH_MAX];
	split_path(path, &pp);
	snprintf(dir, sizeof dir, "%.*s", pp.dir_len ? (int)pp.dir_len : 1, pp.dir_len ? path : ".");
	DIR *d = opendir(dir);
	size_t n = 0, cap = 0;
	*out = NULL;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		struct log_backup b = { 0 };
		if (strlen(e->d_name) >= sizeof b.name || !log_backup_parse(path, e->d_name, r->local_time, &b.ms, &b.gz))
			continue;
		strcpy(b.name, e->d_name);
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct log_backup *g = realloc(*out, cap * sizeof **out);
			if (!g)
				break;
			*out = g;
		}
		(*out)[n++] = b;
	}
	closedir(d);
	return n;
}

void log_rotation_mill(const char *path, const struct log_rotation *r)
{
	struct log_backup *b;
	struct log_path_parts pp;
	struct timespec now;
	char full[PATH_MAX], gz[PATH_MAX];
	split_path(path, &pp);
	clock_gettime(CLOCK_REALTIME, &now);
	size_t n = list_backups(path, r, &b);
	log_backup_select(b, n, r->max_backups, r->max_age_days, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	for (size_t i = 0; i < n; i++) {
		snprintf(full, sizeof full, "%.*s%s", (int)pp.dir_len, path, b[i].name);
		if (b[i].remove) {
			unlink(full);
			continue;
		}
		if (!r->compress || b[i].gz)
			continue;
		if (i + 1 < n && b[i + 1].gz && same_backup(&b[i], &b[i + 1])) {
			unlink(full); /* its .gz is complete (written through a temporary name) */
			continue;
		}
		if (snprintf(gz, sizeof gz, "%s.gz", full) < (int)sizeof gz && log_gzip_file(full, gz) == 0)
			unlink(full);
	}
	free(b);
}
