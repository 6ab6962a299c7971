/*
 * Log file rotation as GOST's (lumberjack): when the file would pass maxSize it is
 * renamed to a backup named after the time (NAME-2006-01-02T15-04-05.000.EXT, UTC unless
 * localTime) and a new file is opened; backups beyond maxBackups or older than maxAge days
 * are deleted, the rest gzipped when compress. Naming and selection are I/O-free (unit
 * tested); log_rotation_mill does the file work, on the log writer thread only.
 */
#ifndef PORTWAY_LOG_ROTATE_H
#define PORTWAY_LOG_ROTATE_H
#include <stddef.h>
#include <stdint.h>

struct log_rotation {
	int enabled;
	uint64_t max_bytes;     /* maxSize (megabytes) in bytes; GOST's default 100 MB when 0 */
	int max_age_days;       /* 0: no age limit */
	int max_backups;        /* 0: keep all */
	int local_time;
	int compress;
};

/* The backup's path for path rotated at ms (milliseconds since the epoch). -1 if it does not fit. */
int log_backup_name(const char *path, int64_t ms, int local_time, char *out, size_t cap);
/* 1 when name (a file of path's directory, no directory part) is a backup of path: its time in
 * *ms and whether it is gzipped in *gz; else 0. */
int log_backup_parse(const char *path, const char *name, int local_time, int64_t *ms, int *gz);

struct log_backup {
	char name[256];         /* in path's directory */
	int64_t ms;
	int gz;
	int remove;             /* set by log_backup_select */
};
/* Mark what goes: sorts b newest first, keeps max_backups distinct backups (a file and its .gz
 * count once) and removes those older than max_age_days before now_ms. */
void log_backup_select(struct log_backup *b, size_t n, int max_backups, int max_age_days, int64_t now_ms);

/* Gzip src into dst (through dst.tmp, renamed when complete). 0 or -1 with errno. */
int log_gzip_file(const char *src, const char *dst);
/* Delete and compress path's backups as r says. Blocking file work: the log writer thread only. */
void log_rotation_mill(const char *path, const struct log_rotation *r);

#endif
