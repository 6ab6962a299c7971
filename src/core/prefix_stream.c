/*
 * The first write carries a prefix. The relay handler uses it to send its OK
 * reply together with the target's first bytes (GOST's default, nodelay off).
 */
#include <stdlib.h>
#include <string.h>

#include "src/core/filter.h"
#include "src/core/util.h"

struct prefix_stream {
	struct filter f;
	char *prefix;               /* owned; NULL once written */
	size_t len;
};

static int prefix_write(struct stream *s, const char *data, size_t len)
{
	struct prefix_stream *p = (struct prefix_stream *)s;
	if (p->prefix) {
		char *buf = xmalloc(p->len + len);
		memcpy(buf, p->prefix, p->len);
		memcpy(buf + p->len, data, len);
		free(p->prefix);
		p->prefix = NULL;
		int r = filter_write(s, buf, p->len + len);
		free(buf);
		return r;
	}
	return filter_write(s, data, len);
}

static void prefix_close(struct stream *s)
{
	struct prefix_stream *p = (struct prefix_stream *)s;
	free(p->prefix);
	p->prefix = NULL;
	filter_close(s);
}

static int prefix_fd(struct stream *s)
{
	return ((struct prefix_stream *)s)->prefix ? -1 : filter_transparent_fd(s);
}

static const struct stream_ops prefix_ops = {
	.name = "prefix",
	.read_start = filter_read_start,
	.read_stop = filter_read_stop,
	.write = prefix_write,
	.shutdown = filter_shutdown,
	.close = prefix_close,
	.fd = prefix_fd,
};

struct stream *prefix_stream_new(struct stream *lower, const void *prefix, size_t len)
{
	struct prefix_stream *p = xcalloc(1, sizeof *p);
	filter_init(&p->f, &prefix_ops, lower, NULL);
	p->prefix = xmalloc(len);
	memcpy(p->prefix, prefix, len);
	p->len = len;
	return &p->f.base;
}
