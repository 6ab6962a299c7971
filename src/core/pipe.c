#include "src/core/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/core/log.h"
#include "src/core/rate.h"
#include "src/core/splice.h"
#include "src/core/util.h"

#define SPLICE_CHUNK (256 * 1024)

int pipe_splice_enabled = 1;

enum pipe_mode { PIPE_COPY, PIPE_SPLICE };

struct pipe {
	struct worker *w;
	struct stream *side[2];         /* owned */
	int eof[2];                     /* side i has no more to read */
	enum pipe_mode mode;
	ev_timer idle;
	double idle_timeout;
	ev_tstamp last_activity;
	uint64_t bytes[2];              /* bytes read from side i */
	pipe_done_cb done;
	void *done_ctx;
	int finished;
	int counted;                    /* in w->connections: a stream connection, which SIGTERM lets drain */
	/* splice mode: kp[i] holds bytes read from side i not yet written to the other */
	ev_io rio[2], wio[2];
	struct splice_pipe kp[2];
	/* bandwidth limits (a side's stream->rate): reading side i waits on rate_timer[i] while rate_paused[i] */
	ev_timer rate_timer[2];
	int rate_paused[2];
};

/* How a pipe ends, for the connection's log line. */
enum pipe_end { PIPE_END_EOF, PIPE_END_IDLE, PIPE_END_ERROR };

/* err: the errno value of PIPE_END_ERROR. */
static void pipe_finish(struct pipe *p, enum pipe_end why, int err)
{
	char result[128];
	if (p->finished)
		return;
	p->finished = 1;
	if (why == PIPE_END_EOF)
		snprintf(result, sizeof result, "eof");
	else if (why == PIPE_END_IDLE)
		snprintf(result, sizeof result, "idle timeout");
	else
		snprintf(result, sizeof result, "error: %s", strerror(err ? err : EIO));
	ev_timer_stop(p->w->loop, &p->idle);
	ev_timer_stop(p->w->loop, &p->rate_timer[0]);
	ev_timer_stop(p->w->loop, &p->rate_timer[1]);
	/* Bytes read from side i came in from it; those of the other side went out to it. */
	for (int i = 0; i < 2; i++)
		stream_account_transfer(p->side[i], p->bytes[i], p->bytes[1 - i]);
	for (int i = 0; i < 2; i++)
		stream_pipe_ended(p->side[i], p->side[1 - i], p->bytes[i], p->bytes[1 - i], result);
	for (int i = 0; i < 2; i++) {
		ev_io_stop(p->w->loop, &p->rio[i]);
		ev_io_stop(p->w->loop, &p->wio[i]);
		/* A pipe still holding bytes is closed, never pooled: they must not reach another connection. */
		splice_pipe_put(p->w->splice, &p->kp[i]);
		stream_close(p->side[i]);
	}
	if (p->counted)
		__atomic_sub_fetch(&p->w->connections, 1, __ATOMIC_RELAXED);
	if (p->done) {
		struct pipe_stats st = { p->bytes[0], p->bytes[1] };
		p->done(p->done_ctx, &st);
	}
	free(p);
}

static int pipe_side(struct pipe *p, struct stream *s) { return p->side[0] == s ? 0 : 1; }

static void pipe_touch(struct pipe *p) { p->last_activity = ev_now(p->w->loop); }

static int pipe_all_done(struct pipe *p)
{
	return p->eof[0] && p->eof[1] && !p->side[0]->wqueued && !p->side[1]->wqueued && !p->kp[0].held &&
	       !p->kp[1].held;
}

/* ---- bandwidth limits ---- */

/* The wake-up granularity of a paused side: enough bytes not to wake for a few. */
#define RATE_RESUME_BYTES (16 * 1024)

static int pipe_limited(struct pipe *p, int i) { return p->side[i]->rate || p->side[1 - i]->rate; }

/* Bytes side i may be read for now (want if unlimited). */
static size_t pipe_rate_allow(struct pipe *p, int i, size_t want)
{
	if (!pipe_limited(p, i))
		return want;
	return rate_allow(p->side[i]->rate, p->side[1 - i]->rate, want, rate_now());
}

static void pipe_rate_charge(struct pipe *p, int i, size_t n)
{
	if (n && pipe_limited(p, i))
		rate_charge(p->side[i]->rate, p->side[1 - i]->rate, n, rate_now());
}

/* Side i has no tokens: stop reading it until its buckets have refilled (the caller stopped its reads). */
static void pipe_rate_pause(struct pipe *p, int i)
{
	double wait = rate_wait(p->side[i]->rate, p->side[1 - i]->rate, RATE_RESUME_BYTES, rate_now());
	p->rate_paused[i] = 1;
	ev_timer_stop(p->w->loop, &p->rate_timer[i]);
	ev_timer_set(&p->rate_timer[i], wait > 0.001 ? wait : 0.001, 0);
	ev_timer_start(p->w->loop, &p->rate_timer[i]);
}

static void rate_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pipe *p = t->data;
	int i = t == &p->rate_timer[0] ? 0 : 1, o = 1 - i;
	(void)loop;
	(void)revents;
	p->rate_paused[i] = 0;
	if (p->eof[i])
		return;
	if (p->mode == PIPE_SPLICE) {
		if (!p->kp[i].held)     /* else the flush of what it holds resumes it */
			ev_io_start(p->w->loop, &p->rio[i]);
	} else if (p->side[o]->wqueued <= STREAM_HIGH_WATER && !p->side[i]->reading) {
		stream_read_start(p->side[i]);
	}
}

/* ---- copy mode ---- */

static int pipe_can_splice(struct stream *a, struct stream *b);
static void pipe_enter_splice(struct pipe *p);

/*
 * A filter that has done its work (the relay's first reply, a lazy connector's
 * handshake) becomes transparent and shows its socket: from then on the two
 * sockets are joined with splice, as if no filter had been there.
 */
static void pipe_try_splice(struct pipe *p)
{
	if (p->mode == PIPE_COPY && !p->finished && !p->eof[0] && !p->eof[1] &&
	    pipe_can_splice(p->side[0], p->side[1]))
		pipe_enter_splice(p);
}

static void copy_read_cb(struct stream *s, const char *data, size_t len)
{
	struct pipe *p = s->ud;
	int i = pipe_side(p, s), o = 1 - i;

	pipe_touch(p);
	if (!len) {
		p->eof[i] = 1;
		stream_shutdown(p->side[o]);
		if (pipe_all_done(p))
			pipe_finish(p, PIPE_END_EOF, 0);
		return;
	}
	p->bytes[i] += len;
	/* The stream delivered what it read: it is charged now, and a debt makes the next read wait. */
	pipe_rate_charge(p, i, len);
	if (stream_write(p->side[o], data, len) < 0) {
		pipe_finish(p, PIPE_END_ERROR, EPIPE);
		return;
	}
	if (p->side[o]->wqueued > STREAM_HIGH_WATER) {
		stream_read_stop(s);
	} else if (pipe_limited(p, i) && !pipe_rate_allow(p, i, 1)) {
		stream_read_stop(s);
		pipe_rate_pause(p, i);
	} else {
		pipe_try_splice(p);
	}
}

static void copy_event_cb(struct stream *s, enum stream_event ev, int err)
{
	struct pipe *p = s->ud;
	int i = pipe_side(p, s), o = 1 - i;

	if (ev == STREAM_EV_ERROR) {
		log_debug("pipe: %s: %s", s->peer, strerror(err));
		pipe_finish(p, PIPE_END_ERROR, err);
		return;
	}
	/* s drained: resume reading the side that feeds it. */
	pipe_touch(p);
	if (pipe_all_done(p)) {
		pipe_finish(p, PIPE_END_EOF, 0);
		return;
	}
	if (!p->eof[o] && !p->side[o]->reading && !p->rate_paused[o])
		stream_read_start(p->side[o]);
	pipe_try_splice(p);
}

/* ---- splice mode ---- */

enum flush_result {
	FLUSH_MORE,     /* all moved on: the reading side may go on */
	FLUSH_BLOCKED,  /* the writing side is full: wait for it */
	FLUSH_ENDED,    /* EOF passed on or the pipe finished: p may be gone */
};

static enum flush_result splice_flush(struct pipe *p, int i)
{
	int o = 1 - i, out = stream_fd(p->side[o]);
	while (p->kp[i].held) {
		ssize_t m = splice(p->kp[i].rfd, NULL, out, NULL, p->kp[i].held, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (m < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				ev_io_stop(p->w->loop, &p->rio[i]);
				ev_io_start(p->w->loop, &p->wio[o]);
				return FLUSH_BLOCKED;
			}
			pipe_finish(p, PIPE_END_ERROR, errno);
			return FLUSH_ENDED;
		}
		p->kp[i].held -= (size_t)m;
	}
	ev_io_stop(p->w->loop, &p->wio[o]);
	splice_pipe_put(p->w->splice, &p->kp[i]);
	if (p->eof[i]) {
		shutdown(out, SHUT_WR);
		if (pipe_all_done(p))
			pipe_finish(p, PIPE_END_EOF, 0);
		return FLUSH_ENDED;
	}
	if (p->rate_paused[i])
		return FLUSH_BLOCKED;
	ev_io_start(p->w->loop, &p->rio[i]);
	return FLUSH_MORE;
}

/* Rounds per wake-up: fewer trips through the loop for a bulk transfer, still fair to other connections. */
#define SPLICE_ROUNDS 8

static void splice_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct pipe *p = io->data;
	int i = io == &p->rio[0] ? 0 : 1;
	(void)loop;
	(void)revents;

	pipe_touch(p);
	for (int round = 0; round < SPLICE_ROUNDS; round++) {
		/* at most the tokens there are; none: stop reading until the buckets refill */
		size_t chunk = pipe_rate_allow(p, i, SPLICE_CHUNK);
		if (!chunk) {
			ev_io_stop(p->w->loop, &p->rio[i]);
			pipe_rate_pause(p, i);
			return;
		}
		if (p->kp[i].rfd < 0 && splice_pipe_get(p->w->splice, &p->kp[i]) < 0) {
			log_warn("pipe: no descriptor for a kernel pipe: %s", strerror(errno));
			pipe_finish(p, PIPE_END_ERROR, errno);
			return;
		}
		ssize_t n = splice(stream_fd(p->side[i]), NULL, p->kp[i].wfd, NULL, chunk,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				splice_pipe_put(p->w->splice, &p->kp[i]);
				return;
			}
			pipe_finish(p, PIPE_END_ERROR, errno);
			return;
		}
		if (n == 0) {
			p->eof[i] = 1;
			ev_io_stop(p->w->loop, &p->rio[i]);
		}
		p->kp[i].held += (size_t)n;
		p->bytes[i] += (size_t)n;
		pipe_rate_charge(p, i, (size_t)n);
		if (splice_flush(p, i) != FLUSH_MORE)
			return;
	}
}

static void splice_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct pipe *p = io->data;
	int o = io == &p->wio[0] ? 0 : 1;
	(void)loop;
	(void)revents;
	pipe_touch(p);
	splice_flush(p, 1 - o);
}

static int pipe_can_splice(struct stream *a, struct stream *b)
{
	return pipe_splice_enabled && !a->dgram && !b->dgram && stream_fd(a) >= 0 && stream_fd(b) >= 0 &&
	       !a->pending.len && !b->pending.len && !a->wqueued && !b->wqueued && !a->shut_wr && !b->shut_wr;
}

static void pipe_enter_splice(struct pipe *p)
{
	p->mode = PIPE_SPLICE;
	for (int i = 0; i < 2; i++) {
		stream_read_stop(p->side[i]);
		stream_set_callbacks(p->side[i], NULL, NULL, p);
		ev_io_set(&p->rio[i], stream_fd(p->side[i]), EV_READ);
		ev_io_set(&p->wio[i], stream_fd(p->side[i]), EV_WRITE);
		if (!p->rate_paused[i])
			ev_io_start(p->w->loop, &p->rio[i]);
	}
}

/* ---- common ---- */

static void idle_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pipe *p = t->data;
	(void)revents;
	ev_tstamp left = p->last_activity + p->idle_timeout - ev_now(loop);
	if (left <= 0) {
		log_debug("pipe %s <-> %s: idle timeout", p->side[0]->peer, p->side[1]->peer);
		pipe_finish(p, PIPE_END_IDLE, 0);
		return;
	}
	t->repeat = left;
	ev_timer_again(loop, t);
}

void pipe_start(struct stream *a, struct stream *b, double idle_timeout, pipe_done_cb done, void *ctx)
{
	struct pipe *p = xcalloc(1, sizeof *p);
	p->w = a->w;
	p->side[0] = a;
	p->side[1] = b;
	p->done = done;
	p->done_ctx = ctx;
	p->idle_timeout = idle_timeout;
	p->kp[0].rfd = p->kp[0].wfd = p->kp[1].rfd = p->kp[1].wfd = -1;
	/* Shutdown waits for connections to drain; UDP sessions only ever end by timing out, so they do not count. */
	p->counted = !a->dgram && !b->dgram;
	if (p->counted)
		__atomic_add_fetch(&p->w->connections, 1, __ATOMIC_RELAXED);
	pipe_touch(p);
	ev_init(&p->idle, idle_cb);
	p->idle.data = p;
	if (idle_timeout > 0) {
		p->idle.repeat = idle_timeout;
		ev_timer_again(p->w->loop, &p->idle);
	}
	for (int i = 0; i < 2; i++) {
		ev_init(&p->rio[i], splice_read_cb);
		ev_init(&p->wio[i], splice_write_cb);
		p->rio[i].data = p->wio[i].data = p;
		ev_init(&p->rate_timer[i], rate_timer_cb);
		p->rate_timer[i].data = p;
	}
	if (pipe_can_splice(a, b)) {
		pipe_enter_splice(p);
		return;
	}
	p->mode = PIPE_COPY;
	for (int i = 0; i < 2; i++) {
		stream_set_callbacks(p->side[i], copy_read_cb, copy_event_cb, p);
		stream_read_start(p->side[i]);
	}
}
