/* smux sessions (src/smux_session.c) on a real worker loop: two sessions back to back over a
 * socketpair, or one session against raw frames. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/conf/cnode.h"
#include "src/conf/model.h"
#include "proto/smux.h"
#include "src/xprt/smux_session.h"
#include "src/core/stream.h"
#include "src/core/util.h"
#include "src/core/worker.h"

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

#define RUN_UNTIL(cond)                                                             \
	do {                                                                        \
		for (int spin_ = 0; spin_ < 50000 && !(cond); spin_++) {            \
			ev_run(W->loop, EVRUN_NOWAIT);                              \
			if (!(cond))                                                \
				usleep(100);                                        \
		}                                                           \
		assert_true(cond);                                                  \
	} while (0)

static void spin(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		ev_run(W->loop, EVRUN_NOWAIT);
		usleep(100);
	}
}

/* ---- a stream owner that records what it gets ---- */

struct sink {
	char *data;
	size_t len, cap;
	int eof, drained, errors, err;
};

static void sink_read(struct stream *s, const char *data, size_t len)
{
	struct sink *k = s->ud;
	if (!len) {
		k->eof = 1;
		return;
	}
	if (k->len + len > k->cap) {
		k->cap = (k->len + len) * 2;
		k->data = xrealloc(k->data, k->cap);
	}
	memcpy(k->data + k->len, data, len);
	k->len += len;
}

static void sink_event(struct stream *s, enum stream_event ev, int err)
{
	struct sink *k = s->ud;
	if (ev == STREAM_EV_DRAINED) {
		k->drained++;
	} else {
		k->errors++;
		k->err = err;
	}
}

/* ---- a session owner ---- */

struct owner {
	struct stream *accepted[8];
	int n_accepted;
	int closed, close_err;
	int auto_read;              /* start reading accepted streams into sinks[] */
	struct sink sinks[8];
};

static void owner_stream(void *ud, struct smux_session *s, struct stream *st)
{
	struct owner *o = ud;
	(void)s;
	assert_true(o->n_accepted < 8);
	int i = o->n_accepted++;
	o->accepted[i] = st;
	stream_set_callbacks(st, sink_read, sink_event, &o->sinks[i]);
	if (o->auto_read)
		stream_read_start(st);
}

static void owner_closed(void *ud, struct smux_session *s, int err)
{
	struct owner *o = ud;
	(void)s;
	o->closed++;
	o->close_err = err;
}

static const struct smux_callbacks owner_cb = { .on_stream = owner_stream, .on_closed = owner_closed };

static void socket_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

struct pairing {
	struct smux_session *cs, *ss;
	struct owner co, so;
};

static void pair_up(struct pairing *p, const struct smux_config *c)
{
	int sv[2];
	memset(p, 0, sizeof *p);
	socket_pair(sv);
	p->so.auto_read = 1;
	p->cs = smux_session_new(sock_stream_new(W, sv[0], 0), 1, c, &owner_cb, &p->co);
	p->ss = smux_session_new(sock_stream_new(W, sv[1], 0), 0, c, &owner_cb, &p->so);
}

static void pair_down(struct pairing *p)
{
	smux_session_close(p->cs);
	smux_session_close(p->ss);
	spin(20);
	for (int i = 0; i < 8; i++) {
		free(p->co.sinks[i].data);
		free(p->so.sinks[i].data);
	}
}

static char *pattern(size_t n)
{
	char *b = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (char)(i * 7 + i / 251);
	return b;
}

/* ---- tests ---- */

static void test_open_data_fin(void **state)
{
	struct smux_config c;
	struct pairing p;
	struct sink k = { 0 };
	(void)state;
	smux_config_default(&c);
	pair_up(&p, &c);
	struct stream *st = smux_stream_open(p.cs);
	assert_non_null(st);
	stream_set_callbacks(st, sink_read, sink_event, &k);
	stream_read_start(st);
	assert_int_equal(stream_write(st, "hello", 5), 0);
	RUN_UNTIL(p.so.n_accepted == 1 && p.so.sinks[0].len == 5);
	assert_memory_equal(p.so.sinks[0].data, "hello", 5);
	/* a large write is split into frames and arrives whole */
	char *big = pattern(300000);
	assert_int_equal(stream_write(p.so.accepted[0], big, 300000), 0);
	RUN_UNTIL(k.len == 300000);
	assert_memory_equal(k.data, big, 300000);
	/* FIN is a half close: the other side reads EOF and may still write; the first side reads it */
	stream_shutdown(st);
	RUN_UNTIL(p.so.sinks[0].eof);
	assert_int_equal(stream_write(p.so.accepted[0], "after", 5), 0);
	RUN_UNTIL(k.len == 300005);
	assert_memory_equal(k.data + 300000, "after", 5);
	assert_int_equal(stream_write(st, "x", 1), -1); /* our own FIN ends our writes */
	assert_int_equal(smux_session_stream_count(p.cs), 1);
	/* the first side closes: data still written to it gets a second FIN, and the writer an error */
	stream_close(st);
	assert_int_equal(stream_write(p.so.accepted[0], "lost", 4), 0);
	RUN_UNTIL(p.so.sinks[0].errors == 1);
	assert_int_equal(p.so.sinks[0].err, EPIPE);
	assert_int_equal(stream_write(p.so.accepted[0], "x", 1), -1);
	stream_close(p.so.accepted[0]);
	RUN_UNTIL(smux_session_stream_count(p.ss) == 0 && smux_session_stream_count(p.cs) == 0);
	free(big);
	free(k.data);
	pair_down(&p);
}

static void test_many_streams_ids(void **state)
{
	struct smux_config c;
	struct pairing p;
	(void)state;
	smux_config_default(&c);
	pair_up(&p, &c);
	struct stream *st[5];
	for (int i = 0; i < 5; i++) {
		st[i] = smux_stream_open(p.cs);
		char m[16];
		int n = snprintf(m, sizeof m, "stream %d", i);
		stream_write(st[i], m, (size_t)n);
	}
	RUN_UNTIL(p.so.n_accepted == 5 && p.so.sinks[4].len == 8);
	for (int i = 0; i < 5; i++) {
		char m[16];
		snprintf(m, sizeof m, "stream %d", i);
		assert_int_equal(p.so.sinks[i].len, 8);
		assert_memory_equal(p.so.sinks[i].data, m, 8);
	}
	/* the server side opens streams too (even ids) */
	struct stream *back = smux_stream_open(p.ss);
	assert_non_null(back);
	stream_write(back, "b", 1);
	RUN_UNTIL(p.co.n_accepted == 1);
	for (int i = 0; i < 5; i++) {
		stream_close(st[i]);
		stream_close(p.so.accepted[i]);
	}
	stream_close(back);
	stream_close(p.co.accepted[0]);
	pair_down(&p);
}

/* Bytes pushed back on a stream come before data that arrives meanwhile. */
static void test_unread_before_new_data(void **state)
{
	struct smux_config c;
	struct pairing p;
	(void)state;
	smux_config_default(&c);
	pair_up(&p, &c);
	p.so.auto_read = 0;
	struct stream *st = smux_stream_open(p.cs);
	stream_write(st, "first", 5);
	RUN_UNTIL(p.so.n_accepted == 1);
	struct stream *a = p.so.accepted[0];
	stream_unread(a, "pushed ", 7);
	stream_read_start(a);
	stream_write(st, " second", 7);
	RUN_UNTIL(p.so.sinks[0].len == 19);
	assert_memory_equal(p.so.sinks[0].data, "pushed first second", 19);
	stream_close(st);
	stream_close(a);
	pair_down(&p);
}

/* v2: the sender stops at the peer's window and is DRAINED once the reader consumed. */
static void test_v2_window(void **state)
{
	struct smux_config c;
	struct pairing p;
	struct sink k = { 0 };
	(void)state;
	smux_config_default(&c);
	c.version = SMUX_VERSION_2;
	pair_up(&p, &c);
	p.so.auto_read = 0;
	struct stream *st = smux_stream_open(p.cs);
	stream_set_callbacks(st, sink_read, sink_event, &k);
	char *big = pattern(1 << 20);
	assert_int_equal(stream_write(st, big, 1 << 20), 0);
	/* beyond the 256 KiB initial window the bytes wait in the stream */
	assert_true(st->wqueued >= (1 << 20) - SMUX_V2_INITIAL_PEER_WINDOW);
	RUN_UNTIL(p.so.n_accepted == 1);
	spin(200);
	assert_int_equal(k.drained, 0);
	stream_read_start(p.so.accepted[0]);
	RUN_UNTIL(p.so.sinks[0].len == (1 << 20) && k.drained);
	assert_memory_equal(p.so.sinks[0].data, big, 1 << 20);
	assert_int_equal(st->wqueued, 0);
	free(big);
	stream_close(st);
	stream_close(p.so.accepted[0]);
	pair_down(&p);
}

/* v1: a reader that does not read makes the session buffer, then stop reading; nothing is lost. */
static void test_v1_receive_budget(void **state)
{
	struct smux_config c;
	struct pairing p;
	(void)state;
	smux_config_default(&c);
	c.max_receive_buffer = 65536;
	c.max_stream_buffer = 65536;
	pair_up(&p, &c);
	p.so.auto_read = 0;
	struct stream *st = smux_stream_open(p.cs);
	char *big = pattern(2 << 20);
	stream_write(st, big, 2 << 20);
	RUN_UNTIL(p.so.n_accepted == 1);
	spin(300);
	/* the writer's queue stays: the receiver stopped taking bytes */
	assert_true(st->wqueued > 0);
	stream_read_start(p.so.accepted[0]);
	RUN_UNTIL(p.so.sinks[0].len == (2 << 20));
	assert_memory_equal(p.so.sinks[0].data, big, 2 << 20);
	free(big);
	stream_close(st);
	stream_close(p.so.accepted[0]);
	pair_down(&p);
}

static void test_session_close_notifies(void **state)
{
	struct smux_config c;
	struct pairing p;
	struct sink k = { 0 };
	(void)state;
	smux_config_default(&c);
	pair_up(&p, &c);
	struct stream *st = smux_stream_open(p.cs);
	stream_set_callbacks(st, sink_read, sink_event, &k);
	stream_write(st, "x", 1);
	RUN_UNTIL(p.so.n_accepted == 1);
	smux_session_close(p.cs);
	/* our own stream learns it later, from the loop, not inside the call */
	assert_int_equal(k.errors, 0);
	RUN_UNTIL(k.errors == 1 && p.so.closed == 1 && p.so.sinks[0].errors == 1);
	assert_int_equal(k.err, ECONNABORTED);
	assert_int_equal(p.co.closed, 0); /* no callback for the owner that closed it */
	assert_int_equal(stream_write(st, "y", 1), -1);
	assert_null(smux_stream_open(p.cs));
	stream_close(st);
	stream_close(p.so.accepted[0]);
	p.cs = p.ss = NULL;
	spin(20);
	free(k.data);
	free(p.so.sinks[0].data);
}

static void test_keepalive_timeout(void **state)
{
	struct smux_config c;
	struct owner o = { 0 };
	int sv[2];
	char buf[64];
	(void)state;
	smux_config_default(&c);
	c.keepalive_interval = 0.05;
	c.keepalive_timeout = 0.2;
	socket_pair(sv);
	smux_session_new(sock_stream_new(W, sv[0], 0), 1, &c, &owner_cb, &o);
	RUN_UNTIL(o.closed);
	assert_int_equal(o.close_err, ETIMEDOUT);
	/* NOPs went out meanwhile */
	ssize_t n = read(sv[1], buf, sizeof buf);
	assert_true(n >= 8);
	assert_memory_equal(buf, "\x01\x03\x00\x00\x00\x00\x00\x00", 8);
	close(sv[1]);
	spin(20);
}

static void test_protocol_error(void **state)
{
	struct smux_config c;
	struct owner o = { 0 };
	int sv[2];
	(void)state;
	smux_config_default(&c);
	socket_pair(sv);
	smux_session_new(sock_stream_new(W, sv[0], 0), 0, &c, &owner_cb, &o);
	/* a valid SYN, then a frame of version 2 in a version 1 session */
	assert_int_equal(write(sv[1], "\x01\x00\x00\x00\x03\x00\x00\x00" "\x02\x03\x00\x00\x00\x00\x00\x00", 16), 16);
	RUN_UNTIL(o.closed);
	assert_int_equal(o.close_err, EPROTO);
	assert_int_equal(o.n_accepted, 1);
	assert_int_equal(o.sinks[0].errors, 1); /* the stream heard first */
	stream_close(o.accepted[0]);
	close(sv[1]);
	spin(20);
}

/* Frames byte by byte, a PSH for an unknown stream, a second SYN for the same id. */
static void test_split_frames(void **state)
{
	struct smux_config c;
	struct owner o = { 0 };
	int sv[2];
	static const char in[] = "\x01\x00\x00\x00\x03\x00\x00\x00"   /* SYN 3 */
				 "\x01\x02\x03\x00\x09\x00\x00\x00zzz" /* PSH to unknown 9 */
				 "\x01\x00\x00\x00\x03\x00\x00\x00"   /* SYN 3 again: ignored */
				 "\x01\x02\x05\x00\x03\x00\x00\x00hello"
				 "\x01\x01\x00\x00\x03\x00\x00\x00";  /* FIN 3 */
	(void)state;
	smux_config_default(&c);
	o.auto_read = 1;
	socket_pair(sv);
	struct smux_session *s = smux_session_new(sock_stream_new(W, sv[0], 0), 0, &c, &owner_cb, &o);
	for (size_t i = 0; i < sizeof in - 1; i++) {
		assert_int_equal(write(sv[1], in + i, 1), 1);
		spin(2);
	}
	RUN_UNTIL(o.sinks[0].eof);
	assert_int_equal(o.n_accepted, 1);
	assert_int_equal(o.sinks[0].len, 5);
	assert_memory_equal(o.sinks[0].data, "hello", 5);
	/* the PSH to unknown 9 was answered with FIN 9 (stop writing); closing sends our FIN 3 */
	stream_close(o.accepted[0]);
	spin(5);
	char buf[32];
	assert_int_equal(read(sv[1], buf, sizeof buf), 16);
	assert_memory_equal(buf, "\x01\x01\x00\x00\x09\x00\x00\x00\x01\x01\x00\x00\x03\x00\x00\x00", 16);
	smux_session_close(s);
	close(sv[1]);
	spin(20);
	free(o.sinks[0].data);
}

static void test_config_parse(void **state)
{
	struct smux_config c;
	struct cfg_err e;
	(void)state;
	struct cnode *md = cnode_new(CN_MAP, "test", 0, 0);
	assert_int_equal(smux_config_parse(md, &c, &e), 0);
	assert_int_equal(c.version, 1);
	assert_int_equal(c.max_frame_size, 32768);
	assert_true(c.keepalive_interval == 10 && c.keepalive_timeout == 30);
	cnode_set(md, "mux.version", "2");
	cnode_set(md, "mux.keepaliveInterval", "1s");
	cnode_set(md, "mux.keepaliveTimeout", "3s");
	cnode_set(md, "mux.maxFrameSize", "0"); /* 0: the default, as GOST */
	assert_int_equal(smux_config_parse(md, &c, &e), 0);
	assert_int_equal(c.version, 2);
	assert_true(c.keepalive_interval == 1 && c.keepalive_timeout == 3);
	assert_int_equal(c.max_frame_size, 32768);
	cnode_set(md, "mux.keepaliveTimeout", "500ms");
	assert_int_equal(smux_config_parse(md, &c, &e), -1);
	assert_non_null(strstr(e.msg, "mux.keepaliveTimeout"));
	cnode_set(md, "mux.keepaliveTimeout", "3s");
	cnode_set(md, "mux.maxFrameSize", "70000");
	assert_int_equal(smux_config_parse(md, &c, &e), -1);
	cnode_free(md);
	/* nested form */
	md = cnode_new(CN_MAP, "test", 0, 0);
	cnode_set(cnode_map_child(md, "mux"), "version", "2");
	assert_int_equal(smux_config_parse(md, &c, &e), 0);
	assert_int_equal(c.version, 2);
	cnode_free(md);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_open_data_fin, setup_worker),
		cmocka_unit_test_setup(test_many_streams_ids, setup_worker),
		cmocka_unit_test_setup(test_unread_before_new_data, setup_worker),
		cmocka_unit_test_setup(test_v2_window, setup_worker),
		cmocka_unit_test_setup(test_v1_receive_budget, setup_worker),
		cmocka_unit_test_setup(test_session_close_notifies, setup_worker),
		cmocka_unit_test_setup(test_keepalive_timeout, setup_worker),
		cmocka_unit_test_setup(test_protocol_error, setup_worker),
		cmocka_unit_test_setup(test_split_frames, setup_worker),
		cmocka_unit_test(test_config_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
