/* Leveled logging, text or JSON lines. Workers never wait for the output (src/core/log.c). */
#ifndef PORTWAY_LOG_H
#define PORTWAY_LOG_H

enum log_level { LOG_LVL_TRACE, LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR, LOG_LVL_FATAL };

int log_set_level(const char *name);      /* 0 ok, -1 unknown name */
int log_set_format(const char *name);     /* "text" or "json" */
int log_set_output(const char *path);     /* "stderr", "stdout" or a file path */
enum log_level log_get_level(void);
/* This thread runs a loop: its lines go through the writer thread, never straight to the output. */
void log_thread_async(void);
/* Write out every queued line (before exit). */
void log_flush(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_ENABLED(l) ((l) >= log_get_level())
#define log_trace(...) do { if (LOG_ENABLED(LOG_LVL_TRACE)) log_msg(LOG_LVL_TRACE, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (LOG_ENABLED(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
