/*
 * Unit tests for the small helpers (src/util.h) and the stream buffers:
 * durations, booleans, host:port and socket addresses, secret comparison,
 * pushed-back bytes (stream_unread) and the socket write queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/core/pipe.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/core/worker.h"

/* ---- durations ---- */

static void test_duration_units(void **state)
{
	(void)state;
	assert_true(duration_parse("10s") == 10);
	assert_true(duration_parse("1m30s") == 90);
	assert_true(duration_parse("500ms") == 0.5);
	assert_true(duration_parse("2h") == 7200);
	assert_true(duration_parse("1h1m1s") == 3661);
	assert_true(duration_parse("1.5s") == 1.5);
	assert_true(duration_parse("250us") == 250e-6);
	assert_true(duration_parse("100ns") == 100e-9);
	assert_true(duration_parse("1m") == 60); /* not 1 ms */
	assert_true(duration_parse("0") == 0);
	assert_true(duration_parse("0s") == 0);
}

static void test_duration_bare_number(void **state)
{
	(void)state;
	assert_true(duration_parse("5") == 5);
	assert_true(duration_parse("2.5") == 2.5);
}

static void test_duration_malformed(void **state)
{
	(void)state;
	const char *bad[] = { "", "s", "ms", "abc", "10x", "10 parsecs", "1mo", "10s5x", "-1s", "-5",
			      "1.2.3s", "inf", "infinity", "nan", "1e999s", "1e3s", "0x10s", " 10s", "10s " };
	assert_true(duration_parse(NULL) < 0);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (duration_parse(bad[i]) >= 0)
			fail_msg("duration_parse(\"%s\") accepted: %g", bad[i], duration_parse(bad[i]));
}

/* ---- booleans ---- */

static void test_bool_parse(void **state)
{
	(void)state;
	const char *yes[] = { "true", "TRUE", "True", "1", "yes", "on", "ON" };
	const char *no[] = { "false", "False", "0", "no", "off", "OFF" };
	const char *neither[] = { "", "2", "maybe", "t", "truee", "nope" };
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		assert_int_equal(bool_parse(yes[i]), 1);
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		assert_int_equal(bool_parse(no[i]), 0);
	for (size_t i = 0; i < sizeof neither / sizeof *neither; i++)
		assert_int_equal(bool_parse(neither[i]), -1);
}

/* ---- host:port ---- */

static void split_ok(const char *in, const char *host, unsigned port)
{
	char h[256] = "junk";
	uint16_t p = 1;
	if (hostport_split(in, h, sizeof h, &p) != 0)
		fail_msg("hostport_split(\"%s\") failed", in);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
}

static void test_hostport_split_ok(void **state)
{
	(void)state;
	split_ok("127.0.0.1:80", "127.0.0.1", 80);
	split_ok(":8080", "", 8080);
	split_ok("example.com:443", "example.com", 443);
	split_ok("[::1]:443", "::1", 443);
	split_ok("[fe80::1%eth0]:22", "fe80::1%eth0", 22);
	split_ok("[::]:0", "::", 0);
	split_ok("localhost:65535", "localhost", 65535);
	split_ok("h:0", "h", 0);
}

static void test_hostport_split_bad(void **state)
{
	(void)state;
	const char *bad[] = { "", "host", "host:", ":", "host:65536", "host:-1", "host:+1", "host: 80", "host:80 ",
			      "host:0x10", "host:8o", "::1:80", "::1", "[::1]", "[::1]:", "[::1]80", "[::1:80",
			      "host:99999999999999999999", "notaport" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char h[256];
		uint16_t p;
		if (hostport_split(bad[i], h, sizeof h, &p) == 0)
			fail_msg("hostport_split(\"%s\") accepted: host \"%s\" port %u", bad[i], h, p);
	}
}

static void test_hostport_split_host_too_long(void **state)
{
	char h[8];
	uint16_t p;
	(void)state;
	assert_int_equal(hostport_split("1234567:1", h, sizeof h, &p), 0); /* 7 chars + NUL fit */
	assert_string_equal(h, "1234567");
	assert_int_equal(hostport_split("12345678:1", h, sizeof h, &p), -1);
	assert_int_equal(hostport_split("[1234:5678]:1", h, sizeof h, &p), -1);
}

static void test_hostport_format(void **state)
{
	char out[64];
	(void)state;
	hostport_format(out, sizeof out, "127.0.0.1", 80);
	assert_string_equal(out, "127.0.0.1:80");
	hostport_format(out, sizeof out, "::1", 443);
	assert_string_equal(out, "[::1]:443");
	hostport_format(out, sizeof out, "example.com", 65535);
	assert_string_equal(out, "example.com:65535");
	hostport_format(out, sizeof out, "", 8080);
	assert_string_equal(out, ":8080");
	/* truncates, never overflows */
	char small[6];
	hostport_format(small, sizeof small, "example.com", 1);
	assert_string_equal(small, "examp");
}

static void test_hostport_roundtrip(void **state)
{
	const char *in[] = { "10.1.2.3:9", "[2001:db8::1]:8443", "a.b:1", "[::]:65535" };
	(void)state;
	for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
		char h[256], out[300];
		uint16_t p;
		assert_int_equal(hostport_split(in[i], h, sizeof h, &p), 0);
		hostport_format(out, sizeof out, h, p);
		assert_string_equal(out, in[i]);
	}
}

/* ---- socket addresses ---- */

static void test_sockaddr_from_literal(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char out[64];
	(void)state;

	assert_int_equal(sockaddr_from_literal("127.0.0.1", 8080, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
	assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), 0x7f000001);
	sockaddr_format((struct sockaddr *)&ss, out, sizeof out);
	assert_string_equal(out, "127.0.0.1:8080");

	assert_int_equal(sockaddr_from_literal("::1", 53, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 53);
	sockaddr_format((struct sockaddr *)&ss, out, sizeof out);
	assert_string_equal(out, "[::1]:53");

	assert_int_equal(sockaddr_from_literal("::ffff:10.0.0.1", 1, &ss, &len), 0);
	sockaddr_format((struct sockaddr *)&ss, out, sizeof out);
	assert_string_equal(out, "[::ffff:10.0.0.1]:1");

	/* no DNS here: names and junk are refused */
	const char *bad[] = { "localhost", "example.com", "1.2.3", "256.1.1.1", "", "[::1]", "1.2.3.4:80" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(sockaddr_from_literal(bad[i], 1, &ss, &len), -1);
}

static void test_sockaddr_format_unknown(void **state)
{
	struct sockaddr_storage ss;
	char out[64];
	(void)state;
	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNSPEC;
	sockaddr_format((struct sockaddr *)&ss, out, sizeof out);
	assert_string_equal(out, "unknown");
	/* an unnamed unix socket (every client of a unix listener) is "@", as Go writes it */
	ss.ss_family = AF_UNIX;
	sockaddr_format((struct sockaddr *)&ss, out, sizeof out);
	assert_string_equal(out, "@");
}

/* ---- secrets and strings ---- */

static void test_secret_equal(void **state)
{
	(void)state;
	assert_true(secret_equal("s3cret", "s3cret"));
	assert_true(secret_equal("", ""));
	assert_false(secret_equal("s3cret", "s3creT"));
	assert_false(secret_equal("s3cret", "s3cre"));
	assert_false(secret_equal("", "x"));
	assert_false(secret_equal("x", ""));
}

static void test_xstr(void **state)
{
	(void)state;
	assert_null(xstrdup(NULL));
	char *s = xstrdup("hello");
	assert_string_equal(s, "hello");
	free(s);
	s = xstrndup("hello world", 5);
	assert_string_equal(s, "hello");
	free(s);
	s = xstrndup("ab\0cd", 4); /* copies n bytes, NUL-terminates */
	assert_int_equal(s[4], 0);
	assert_memory_equal(s, "ab\0c", 4);
	free(s);
	void *p = xcalloc(0, 0); /* never NULL, even for zero sizes */
	assert_non_null(p);
	p = xrealloc(p, 0);
	assert_non_null(p);
	free(p);
}

/* ---- stream buffers on a real worker loop ---- */

static struct worker *W;

static int setup_worker(void **state)
{
	(void)state;
	if (!W) {
		workers_init(1);
		W = workers[0];
	}
	return 0;
}

/* Run the worker's loop (in this thread) until cond holds or 5 s passed. cond is evaluated
 * once per round (it may have side effects, such as a recv). */
#define RUN_UNTIL(cond)                                                             \
	do {                                                                        \
		int ok_ = 0;                                                        \
		for (int spin_ = 0; spin_ < 50000; spin_++) {                       \
			ev_run(W->loop, EVRUN_NOWAIT);                              \
			if ((ok_ = (cond)))                                         \
				break;                                              \
			usleep(100);                                                \
		}                                                                   \
		if (!ok_)                                                           \
			fail_msg("timed out waiting for %s", #cond);                \
	} while (0)

struct sink {
	char *data;
	size_t len, cap;
	int eof, drained, errors;
};

static void sink_put(struct sink *k, const char *d, size_t n)
{
	if (k->len + n > k->cap) {
		k->cap = (k->len + n) * 2;
		k->data = xrealloc(k->data, k->cap);
	}
	memcpy(k->data + k->len, d, n);
	k->len += n;
}

static void sink_read(struct stream *s, const char *data, size_t len)
{
	struct sink *k = s->ud;
	if (!len)
		k->eof = 1;
	else
		sink_put(k, data, len);
}

static void sink_event(struct stream *s, enum stream_event ev, int err)
{
	struct sink *k = s->ud;
	(void)err;
	if (ev == STREAM_EV_DRAINED)
		k->drained++;
	else
		k->errors++;
}

static void socket_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* Pushed-back bytes come first, most recent push first, then the socket's own bytes. */
static void test_stream_unread_order(void **state)
{
	int sv[2];
	struct sink k = { 0 };
	(void)state;
	socket_pair(sv);
	struct stream *s = sock_stream_new(W, sv[0], 0);
	assert_int_equal(write(sv[1], "tail", 4), 4);
	stream_unread(s, "world ", 6);
	stream_unread(s, "hello ", 6);
	assert_int_equal(s->pending.len, 12);
	stream_set_callbacks(s, sink_read, sink_event, &k);
	stream_read_start(s);
	RUN_UNTIL(k.len >= 16);
	assert_int_equal(k.len, 16);
	assert_memory_equal(k.data, "hello world tail", 16);
	assert_int_equal(s->pending.len, 0);
	close(sv[1]);
	RUN_UNTIL(k.eof);
	stream_close(s);
	ev_run(W->loop, EVRUN_NOWAIT);
	free(k.data);
}

/* A reader that stops after the first chunk keeps the rest of the pushed-back bytes for later. */
static void stop_after_first(struct stream *s, const char *data, size_t len)
{
	sink_read(s, data, len);
	stream_read_stop(s);
	if (len)
		stream_unread(s, "!", 1);
}

static void test_stream_unread_while_stopped(void **state)
{
	int sv[2];
	struct sink k = { 0 };
	(void)state;
	socket_pair(sv);
	struct stream *s = sock_stream_new(W, sv[0], 0);
	stream_unread(s, "abc", 3);
	stream_set_callbacks(s, stop_after_first, sink_event, &k);
	stream_read_start(s);
	RUN_UNTIL(k.len == 3);
	for (int i = 0; i < 20; i++)
		ev_run(W->loop, EVRUN_NOWAIT);
	assert_int_equal(k.len, 3); /* stopped: nothing more delivered */
	assert_int_equal(s->pending.len, 1);
	stream_set_callbacks(s, sink_read, sink_event, &k);
	stream_read_start(s);
	RUN_UNTIL(k.len == 4);
	assert_memory_equal(k.data, "abc!", 4);
	stream_close(s);
	close(sv[1]);
	ev_run(W->loop, EVRUN_NOWAIT);
	free(k.data);
}

/* The write queue: what the kernel cannot take is queued, counted, drained in order,
 * and a shutdown waits until the queue is empty. */
static void test_sock_write_queue(void **state)
{
	int sv[2];
	struct sink k = { 0 };
	const size_t total = 8 << 20;
	char *buf = xmalloc(total);
	(void)state;
	for (size_t i = 0; i < total; i++)
		buf[i] = (char)(i * 7 + (i >> 13));
	socket_pair(sv);
	struct stream *s = sock_stream_new(W, sv[0], 0);
	stream_set_callbacks(s, sink_read, sink_event, &k);
	for (size_t off = 0; off < total; off += 1 << 20)
		assert_int_equal(stream_write(s, buf + off, 1 << 20), 0);
	assert_true(s->wqueued > 0);
	assert_true(s->wqueued <= total);
	stream_shutdown(s);
	assert_int_equal(stream_write(s, "x", 1), -1); /* no writes after shutdown */

	/* Read the other end while the loop flushes; EOF only after every byte. */
	char *got = xmalloc(total + 1);
	size_t have = 0;
	int eof = 0;
	for (int spin = 0; spin < 200000 && !eof; spin++) {
		ev_run(W->loop, EVRUN_NOWAIT);
		ssize_t n = read(sv[1], got + have, total + 1 - have);
		if (n > 0)
			have += (size_t)n;
		else if (n == 0)
			eof = 1;
		else if (errno == EAGAIN)
			usleep(50);
		else
			fail_msg("read: %s", strerror(errno));
	}
	assert_true(eof);
	assert_int_equal(have, total);
	assert_memory_equal(got, buf, total);
	assert_int_equal(s->wqueued, 0);
	assert_int_equal(k.drained, 1);
	assert_int_equal(k.errors, 0);
	stream_close(s);
	close(sv[1]);
	ev_run(W->loop, EVRUN_NOWAIT);
	free(got);
	free(buf);
}

/* A peer that went away: the write fails or raises an error event, never a crash or SIGPIPE. */
static void test_sock_write_to_closed_peer(void **state)
{
	int sv[2];
	struct sink k = { 0 };
	static char chunk[1 << 16];
	(void)state;
	socket_pair(sv);
	struct stream *s = sock_stream_new(W, sv[0], 0);
	stream_set_callbacks(s, sink_read, sink_event, &k);
	close(sv[1]);
	int failed = 0;
	for (int i = 0; i < 64 && !failed; i++)
		failed = stream_write(s, chunk, sizeof chunk) < 0;
	if (!failed)
		RUN_UNTIL(k.errors > 0);
	stream_close(s);
	ev_run(W->loop, EVRUN_NOWAIT);
}

/* ---- the pipe: splice and copy modes, back-pressure, half close, idle timeout ---- */

/* A connected loopback TCP pair, both ends non-blocking: [0] for portway, [1] for the test. */
static void tcp_pair(int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	fds[1] = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fds[1], (struct sockaddr *)&a, sizeof a), 0);
	fds[0] = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(fds[0] >= 0);
	close(l);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
}

struct pipe_result {
	int done;
	struct pipe_stats st;
};

static void pipe_done(void *ctx, const struct pipe_stats *st)
{
	struct pipe_result *r = ctx;
	r->done++;
	r->st = *st;
}

/* One direction of test traffic: bytes pushed into `out`, checked as they come out of `in`. */
struct flow {
	int out, in;
	size_t total, sent, got;
	int shut, eof;
	int slow;               /* read only now and then: the pipe must hold back, not hoard */
};

static char pattern_at(size_t i) { return (char)((i * 131) ^ (i >> 11)); }

static void flow_step(struct flow *f, int tick)
{
	char buf[65536];
	if (f->sent < f->total) {
		size_t n = f->total - f->sent < sizeof buf ? f->total - f->sent : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern_at(f->sent + i);
		ssize_t k = send(f->out, buf, n, MSG_NOSIGNAL);
		if (k > 0)
			f->sent += (size_t)k;
	} else if (!f->shut) {
		assert_int_equal(shutdown(f->out, SHUT_WR), 0);
		f->shut = 1;
	}
	if (f->eof || (f->slow && tick % 8))
		return;
	ssize_t k = recv(f->in, buf, sizeof buf, 0);
	if (k == 0) {
		f->eof = 1;
	} else if (k > 0) {
		for (ssize_t i = 0; i < k; i++)
			if (buf[i] != pattern_at(f->got + (size_t)i))
				fail_msg("byte %zu differs", f->got + (size_t)i);
		f->got += (size_t)k;
	}
}

static void pipe_bulk(int splice_mode)
{
	int a[2], b[2];
	struct pipe_result r = { 0 };
	size_t max_queued = 0;
	tcp_pair(a);
	tcp_pair(b);
	pipe_splice_enabled = splice_mode;
	struct stream *sa = sock_stream_new(W, a[0], 0), *sb = sock_stream_new(W, b[0], 0);
	pipe_start(sa, sb, 0, pipe_done, &r);
	struct flow ab = { .out = a[1], .in = b[1], .total = 24 << 20, .slow = 1 };
	struct flow ba = { .out = b[1], .in = a[1], .total = 16 << 20 };
	for (int tick = 0; tick < 2000000 && !(r.done && ab.eof && ba.eof); tick++) {
		ev_run(W->loop, EVRUN_NOWAIT);
		if (!r.done && sb->wqueued + sa->wqueued > max_queued)
			max_queued = sb->wqueued + sa->wqueued;
		flow_step(&ab, tick);
		flow_step(&ba, tick);
	}
	pipe_splice_enabled = 1;
	assert_true(ab.eof && ba.eof);
	assert_int_equal(ab.got, ab.total);
	assert_int_equal(ba.got, ba.total);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.st.bytes_ab, ab.total);
	assert_int_equal(r.st.bytes_ba, ba.total);
	/* back-pressure: a slow reader costs at most about the high-water mark plus one read */
	assert_true(max_queued <= 2 * (STREAM_HIGH_WATER + WORKER_SCRATCH_SIZE));
	assert_int_equal(W->connections, 0);
	close(a[1]);
	close(b[1]);
	for (int i = 0; i < 10; i++)
		ev_run(W->loop, EVRUN_NOWAIT);
}

static void test_pipe_splice_bulk_half_close(void **state)
{
	(void)state;
	pipe_bulk(1);
}

static void test_pipe_copy_bulk_half_close(void **state)
{
	(void)state;
	pipe_bulk(0);
}

/* One side half-closes and the other keeps talking for a while: the pipe stays up. */
static void pipe_half_open(int splice_mode)
{
	int a[2], b[2];
	struct pipe_result r = { 0 };
	char buf[16];
	tcp_pair(a);
	tcp_pair(b);
	pipe_splice_enabled = splice_mode;
	pipe_start(sock_stream_new(W, a[0], 0), sock_stream_new(W, b[0], 0), 0, pipe_done, &r);
	pipe_splice_enabled = 1;
	assert_int_equal(shutdown(a[1], SHUT_WR), 0);
	ssize_t k = -1;
	RUN_UNTIL((k = recv(b[1], buf, sizeof buf, 0)) == 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(send(b[1], "late", 4, 0), 4);
		k = -1;
		RUN_UNTIL((k = recv(a[1], buf, sizeof buf, 0)) > 0);
		assert_int_equal(k, 4);
		assert_memory_equal(buf, "late", 4);
		usleep(20000);
	}
	assert_int_equal(r.done, 0);
	assert_int_equal(shutdown(b[1], SHUT_WR), 0);
	RUN_UNTIL(r.done == 1);
	assert_int_equal(r.st.bytes_ab, 0);
	assert_int_equal(r.st.bytes_ba, 20);
	RUN_UNTIL(recv(a[1], buf, sizeof buf, 0) == 0);
	close(a[1]);
	close(b[1]);
	ev_run(W->loop, EVRUN_NOWAIT);
}

static void test_pipe_splice_half_open(void **state)
{
	(void)state;
	pipe_half_open(1);
}

static void test_pipe_copy_half_open(void **state)
{
	(void)state;
	pipe_half_open(0);
}

static void pipe_idle(int splice_mode)
{
	int a[2], b[2];
	struct pipe_result r = { 0 };
	char buf[8];
	tcp_pair(a);
	tcp_pair(b);
	pipe_splice_enabled = splice_mode;
	pipe_start(sock_stream_new(W, a[0], 0), sock_stream_new(W, b[0], 0), 0.3, pipe_done, &r);
	pipe_splice_enabled = 1;
	ev_tstamp t0 = ev_time();
	/* traffic keeps it alive past the timeout */
	while (ev_time() - t0 < 0.6) {
		assert_int_equal(send(a[1], "k", 1, 0), 1);
		RUN_UNTIL(recv(b[1], buf, sizeof buf, 0) == 1);
		usleep(50000);
	}
	assert_int_equal(r.done, 0);
	ev_tstamp quiet = ev_time();
	RUN_UNTIL(r.done == 1);
	double took = ev_time() - quiet;
	assert_true(took > 0.2 && took < 1.0);
	/* both clients see the end */
	RUN_UNTIL(recv(a[1], buf, sizeof buf, 0) == 0);
	RUN_UNTIL(recv(b[1], buf, sizeof buf, 0) == 0);
	close(a[1]);
	close(b[1]);
	ev_run(W->loop, EVRUN_NOWAIT);
}

static void test_pipe_splice_idle_timeout(void **state)
{
	(void)state;
	pipe_idle(1);
}

static void test_pipe_copy_idle_timeout(void **state)
{
	(void)state;
	pipe_idle(0);
}

/* A reset on one side ends the pipe and closes the other. */
static void pipe_reset(int splice_mode)
{
	int a[2], b[2];
	struct pipe_result r = { 0 };
	char buf[8];
	struct linger lg = { 1, 0 };
	tcp_pair(a);
	tcp_pair(b);
	pipe_splice_enabled = splice_mode;
	pipe_start(sock_stream_new(W, a[0], 0), sock_stream_new(W, b[0], 0), 0, pipe_done, &r);
	pipe_splice_enabled = 1;
	assert_int_equal(send(b[1], "hello", 5, 0), 5);
	RUN_UNTIL(recv(a[1], buf, sizeof buf, 0) == 5);
	assert_int_equal(setsockopt(a[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	close(a[1]);
	/* b keeps writing into a dead connection: the pipe must notice and end */
	for (int i = 0; i < 2000 && !r.done; i++) {
		send(b[1], "more", 4, MSG_NOSIGNAL);
		ev_run(W->loop, EVRUN_NOWAIT);
		usleep(500);
	}
	assert_int_equal(r.done, 1);
	ssize_t k;
	RUN_UNTIL((k = recv(b[1], buf, sizeof buf, 0)) == 0 || (k < 0 && errno == ECONNRESET));
	close(b[1]);
	ev_run(W->loop, EVRUN_NOWAIT);
}

static void test_pipe_splice_reset(void **state)
{
	(void)state;
	pipe_reset(1);
}

static void test_pipe_copy_reset(void **state)
{
	(void)state;
	pipe_reset(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_bare_number),
		cmocka_unit_test(test_duration_malformed),
		cmocka_unit_test(test_bool_parse),
		cmocka_unit_test(test_hostport_split_ok),
		cmocka_unit_test(test_hostport_split_bad),
		cmocka_unit_test(test_hostport_split_host_too_long),
		cmocka_unit_test(test_hostport_format),
		cmocka_unit_test(test_hostport_roundtrip),
		cmocka_unit_test(test_sockaddr_from_literal),
		cmocka_unit_test(test_sockaddr_format_unknown),
		cmocka_unit_test(test_secret_equal),
		cmocka_unit_test(test_xstr),
		cmocka_unit_test_setup(test_stream_unread_order, setup_worker),
		cmocka_unit_test_setup(test_stream_unread_while_stopped, setup_worker),
		cmocka_unit_test_setup(test_sock_write_queue, setup_worker),
		cmocka_unit_test_setup(test_sock_write_to_closed_peer, setup_worker),
		cmocka_unit_test_setup(test_pipe_splice_bulk_half_close, setup_worker),
		cmocka_unit_test_setup(test_pipe_copy_bulk_half_close, setup_worker),
		cmocka_unit_test_setup(test_pipe_splice_half_open, setup_worker),
		cmocka_unit_test_setup(test_pipe_copy_half_open, setup_worker),
		cmocka_unit_test_setup(test_pipe_splice_idle_timeout, setup_worker),
		cmocka_unit_test_setup(test_pipe_copy_idle_timeout, setup_worker),
		cmocka_unit_test_setup(test_pipe_splice_reset, setup_worker),
		cmocka_unit_test_setup(test_pipe_copy_reset, setup_worker),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
