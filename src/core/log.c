#include "src/core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static enum log_level current_level = LOG_LVL_INFO;
static int json_format;
static FILE *out;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *level_names[] = { "trace", "debug", "info", "warn", "error", "fatal" };

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
	FILE *f;
	if (!strcmp(path, "stderr") || !*path)
		f = stderr;
	else if (!strcmp(path, "stdout"))
		f = stdout;
	else if (!(f = fopen(path, "a")))
		return -1;
	pthread_mutex_lock(&out_lock);
	if (out && out != stderr && out != stdout)
		fclose(out);
	out = f;
	pthread_mutex_unlock(&out_lock);
	return 0;
}

enum log_level log_get_level(void) { return current_level; }

static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char msg[2048], ts[64];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	if (lvl < current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
	pthread_mutex_lock(&out_lock);
	FILE *f = out ? out : stderr;
	if (json_format) {
		fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_names[lvl]);
		json_escape(f, msg);
		fputs("\"}\n", f);
	} else {
		fprintf(f, "%s %-5s %s\n", ts, level_names[lvl], msg);
	}
	fflush(f);
	pthread_mutex_unlock(&out_lock);
}
