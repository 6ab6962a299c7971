/* Leveled logging, text or JSON lines. Workers never wait for the output (src/core/log.c). */
#ifndef PORTWAY_LOG_H
#define PORTWAY_LOG_H
#include <stddef.h>

struct log_rotation;

enum log_level { LOG_LVL_TRACE, LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR, LOG_LVL_FATAL };

int log_level_parse(const char *name, enum log_level *out); /* 0 ok, -1 unknown name */
int log_set_level(const char *name);      /* 0 ok, -1 unknown name */
int log_set_format(const char *name);     /* "text" or "json" */
int log_set_output(const char *path);     /* "stderr", "stdout", "none" or a file path; -1 with errno */
/* The same, a file rotated as r says (src/core/log_rotate.h; NULL or not enabled: never). */
int log_set_output_rotated(const char *path, const struct log_rotation *r);
/* Open the output file again under its name (after logrotate moved it: SIGUSR1). 0, 1 when the
 * output is no file, -1 with errno. */
int log_reopen(void);
enum log_level log_get_level(void);
/* This thread runs a loop: its lines go through the writer thread, never straight to the output. */
void log_thread_async(void);
/* Write out every queued line (before exit). */
void log_flush(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line with fields: in JSON, msg and each field as its own member; in text, text_fmt's line. */
enum log_field_type { LOG_FIELD_STR, LOG_FIELD_UINT };
struct log_field {
	const char *key;            /* a JSON name: not escaped */
	enum log_field_type type;
	const char *str;
	unsigned long long num;
};
void log_event(enum log_level lvl, const struct log_field *f, size_t nf, const char *msg, const char *text_fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Pieces, for the unit tests. Append s escaped for a JSON string to out[pos..cap) (invalid UTF-8
 * becomes U+FFFD), stopping short of the end; returns the new pos. */
size_t log_json_escape(char *out, size_t pos, size_t cap, const char *s);
/* Whether JOURNAL_STREAM's value env ("dev:ino") names the stream with that device and inode. */
int log_journal_stream_matches(const char *env, unsigned long long dev, unsigned long long ino);
/* The syslog priority a level goes to the journal with (<N> prefix). */
int log_syslog_priority(enum log_level lvl);

#define LOG_ENABLED(l) ((l) >= log_get_level())
#define log_trace(...) do { if (LOG_ENABLED(LOG_LVL_TRACE)) log_msg(LOG_LVL_TRACE, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (LOG_ENABLED(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
