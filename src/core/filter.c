#include "src/core/filter.h"

#include <string.h>

void filter_init_events(struct filter *f, const struct stream_ops *ops, struct stream *lower,
			stream_read_cb on_lower_read, stream_event_cb on_lower_event)
{
	stream_init(&f->base, ops, lower->w);
	f->lower = lower;
	stream_take_svc(&f->base, lower);
	memcpy(f->base.peer, lower->peer, sizeof f->base.peer);
	memcpy(f->base.local, lower->local, sizeof f->base.local);
	memcpy(f->base.alpn, lower->alpn, sizeof f->base.alpn);
	stream_set_callbacks(lower, on_lower_read ? on_lower_read : filter_pass_read,
			     on_lower_event ? on_lower_event : filter_lower_event, f);
}

void filter_init(struct filter *f, const struct stream_ops *ops, struct stream *lower, stream_read_cb on_lower_read)
{
	filter_init_events(f, ops, lower, on_lower_read, NULL);
}

void filter_read_start(struct stream *s) { stream_read_start(((struct filter *)s)->lower); }
void filter_read_stop(struct stream *s) { stream_read_stop(((struct filter *)s)->lower); }

int filter_write(struct stream *s, const char *data, size_t len)
{
	struct filter *f = (struct filter *)s;
	int r = stream_write(f->lower, data, len);
	s->wqueued = f->lower->wqueued;
	return r;
}

void filter_shutdown(struct stream *s) { stream_shutdown(((struct filter *)s)->lower); }
void filter_close(struct stream *s) { stream_close(((struct filter *)s)->lower); }

void filter_pass_read(struct stream *lower, const char *data, size_t len)
{
	struct filter *f = lower->ud;
	stream_emit_read(&f->base, data, len);
}

void filter_lower_event(struct stream *lower, enum stream_event ev, int err)
{
	struct filter *f = lower->ud;
	if (ev == STREAM_EV_DRAINED)
		f->base.wqueued = lower->wqueued;
	stream_emit_event(&f->base, ev, err);
}

int filter_transparent_fd(struct stream *s)
{
	struct filter *f = (struct filter *)s;
	if (s->pending.len || s->wqueued || f->lower->pending.len || f->lower->wqueued)
		return -1;
	return stream_fd(f->lower);
}
