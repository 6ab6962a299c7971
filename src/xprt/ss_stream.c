/*
 * Shadowsocks AEAD filter stream (see ss_stream.h).
 *
 * Reading: lower bytes go through the decoder as they come; each complete
 * chunk is handed up. When the owner stops reading in the middle, the
 * ciphertext not decoded yet waits in `inbuf` and the lower stream pauses;
 * read_start works through it (deferred, never inside the call).
 */
#include "src/xprt/ss_stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "proto/socks5.h"
#include "src/core/filter.h"
#include "src/core/log.h"
#include "src/core/util.h"

#define SS_STACK_ENCODE 8192   /* writes whose chunks fit here need no allocation */
#define REPLAY_SLOTS (1u << 18) /* per generation, a power of two */
#define REPLAY_PER_GEN 100000   /* salts a generation takes before it becomes the old one */

/*
 * The salts seen lately, process-wide (every worker): a stream whose salt is
 * one of them is a replay (a recorded client stream sent again) or a
 * reflection (our own stream sent back to us), refused as a failed
 * authentication, as shadowsocks-libev does. Salts are recorded once their
 * first chunk authenticates (a prober without the key adds nothing) and
 * when we make one. Two generations of an open-addressing set of 64-bit
 * fingerprints remember the last 100,000 to 200,000 salts (4 MiB, allocated
 * on first use).
 */
static struct {
	pthread_mutex_t lock;
	uint64_t *gen[2];           /* [0] current, [1] previous; 0 marks a free slot */
	size_t count;               /* in gen[0] */
} replay = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t salt_fp(const uint8_t *salt, size_t len)
{
	uint64_t a = 0, b = 0;
	memcpy(&a, salt, len < 8 ? len : 8);
	if (len > 8)
		memcpy(&b, salt + 8, len - 8 < 8 ? len - 8 : 8);
	uint64_t fp = a ^ (b * 0x9e3779b97f4a7c15ull);
	return fp ? fp : 1;
}

static int gen_has(const uint64_t *g, uint64_t fp)
{
	for (size_t i = (size_t)(fp * 0xff51afd7ed558ccdull >> 40) & (REPLAY_SLOTS - 1);; i = (i + 1) & (REPLAY_SLOTS - 1)) {
		if (g[i] == fp)
			return 1;
		if (!g[i])
			return 0;
	}
}

static void gen_add(uint64_t *g, uint64_t fp)
{
	size_t i = (size_t)(fp * 0xff51afd7ed558ccdull >> 40) & (REPLAY_SLOTS - 1);
	while (g[i] && g[i] != fp)
		i = (i + 1) & (REPLAY_SLOTS - 1);
	g[i] = fp;
}

/* Records the salt; returns 1 if it was already there. */
static int replay_check_add(const uint8_t *salt, size_t len)
{
	uint64_t fp = salt_fp(salt, len);
	int seen;
	pthread_mutex_lock(&replay.lock);
	if (!replay.gen[0]) {
		replay.gen[0] = xcalloc(REPLAY_SLOTS, sizeof(uint64_t));
		replay.gen[1] = xcalloc(REPLAY_SLOTS, sizeof(uint64_t));
	}
	seen = gen_has(replay.gen[0], fp) || gen_has(replay.gen[1], fp);
	if (!seen) {
		if (replay.count >= REPLAY_PER_GEN) {
			uint64_t *old = replay.gen[1];
			memset(old, 0, REPLAY_SLOTS * sizeof(uint64_t));
			replay.gen[1] = replay.gen[0];
			replay.gen[0] = old;
			replay.count = 0;
		}
		gen_add(replay.gen[0], fp);
		replay.count++;
	}
	pthread_mutex_unlock(&replay.lock);
	return seen;
}

int ss_cfg_parse(struct ss_cfg *c, const struct auth_cfg *auth, const struct cnode *where, const char *field,
		 struct cfg_err *e)
{
	memset(c, 0, sizeof *c);
	if (!auth || !auth->username || !*auth->username)
		return cfg_error(e, where, field,
				 "shadowsocks needs the method and password as auth (ss://METHOD:PASSWORD@host:port): "
				 "one of %s",
				 ss_method_names());
	c->m = ss_method_find(auth->username);
	if (!c->m)
		return cfg_error(e, where, field, "unknown shadowsocks method \"%s\": supported are %s", auth->username,
				 ss_method_names());
	const char *pw = auth->password ? auth->password : "";
	if (c->m->cipher != SS_CIPHER_NONE && !*pw)
		return cfg_error(e, where, field, "shadowsocks method %s needs a password", c->m->name);
	if (ss_password_key(c->m, pw, strlen(pw), c->key) < 0)
		return cfg_error(e, where, field, "cannot derive the %s key (OpenSSL)", c->m->name);
	return 0;
}

enum ss_rstate {
	SS_R_OPEN,                  /* decoding */
	SS_R_FAILED,                /* a chunk did not authenticate: discarding */
};

struct ss_stream {
	struct filter f;
	enum ss_rstate rstate;
	struct ss_decoder dec;
	struct ss_encoder enc;
	char *inbuf;                /* owned: ciphertext not decoded yet */
	size_t inlen;
	char *prefix;               /* owned: plaintext for the first chunk; NULL once sent */
	size_t prefix_len;
	ev_timer prefix_timer;
	unsigned lower_eof : 1, eof_sent : 1, pump_queued : 1, salt_checked : 1;
	uint8_t pt[SS_PAYLOAD_MAX]; /* one chunk's plaintext */
};

/* ---- reading ---- */

static void ss_fail(struct ss_stream *x, int err)
{
	if (err)
		log_debug("shadowsocks %s: %s", x->f.base.peer, ss_strerror(err));
	else
		log_info("shadowsocks %s: a salt seen before (a replayed or reflected stream)", x->f.base.peer);
	x->rstate = SS_R_FAILED;
	free(x->inbuf);
	x->inbuf = NULL;
	x->inlen = 0;
	stream_emit_event(&x->f.base, STREAM_EV_ERROR, EBADMSG);
}

/* Decodes from p while the owner reads; returns the bytes used. */
static size_t ss_consume(struct ss_stream *x, const uint8_t *p, size_t len)
{
	size_t used = 0;
	while (used < len && x->f.base.reading && !x->f.base.closed && x->rstate == SS_R_OPEN) {
		size_t u, n;
		int r = ss_decode(&x->dec, p + used, len - used, &u, x->pt, &n);
		used += u;
		if (r < 0) {
			ss_fail(x, r);
			return len;
		}
		if (r == 1 && !x->salt_checked) {
			x->salt_checked = 1;
			if (replay_check_add(x->dec.salt, x->dec.m->salt_len)) {
				ss_fail(x, 0);
				return len;
			}
		}
		if (r == 1 && n)
			stream_emit_read(&x->f.base, (const char *)x->pt, n);
	}
	return used;
}

static void inbuf_keep(struct ss_stream *x, const char *p, size_t n)
{
	if (!n)
		return;
	x->inbuf = xrealloc(x->inbuf, x->inlen + n);
	memcpy(x->inbuf + x->inlen, p, n);
	x->inlen += n;
}

/* Work through what is buffered, then the EOF if the lower stream ended. */
static void ss_pump(struct ss_stream *x)
{
	if (x->inlen && x->f.base.reading) {
		size_t used = ss_consume(x, (const uint8_t *)x->inbuf, x->inlen);
		if (x->f.base.closed)
			return;
		if (x->inlen) {
			memmove(x->inbuf, x->inbuf + used, x->inlen - used);
			x->inlen -= used;
		}
		if (!x->inlen) {
			free(x->inbuf);
			x->inbuf = NULL;
		}
	}
	if (!x->inlen && x->lower_eof && x->f.base.reading && !x->eof_sent) {
		x->eof_sent = 1;
		stream_emit_read(&x->f.base, NULL, 0);
	}
}

static void ss_pump_deferred(void *arg)
{
	struct ss_stream *x = arg;
	x->pump_queued = 0;
	if (!x->f.base.closed)
		ss_pump(x);
}

static void ss_lower_read(struct stream *lower, const char *data, size_t len)
{
	struct ss_stream *x = lower->ud;
	if (!len) {
		x->lower_eof = 1;
		ss_pump(x);
		return;
	}
	if (x->rstate == SS_R_FAILED)
		return; /* discarded: no reply, nothing to learn */
	if (x->inlen || !x->f.base.reading) {
		inbuf_keep(x, data, len);
		ss_pump(x);
	} else {
		size_t used = ss_consume(x, (const uint8_t *)data, len);
		if (x->f.base.closed || x->rstate == SS_R_FAILED)
			return;
		inbuf_keep(x, data + used, len - used);
	}
	if (!x->f.base.closed && !x->f.base.reading)
		stream_read_stop(x->f.lower);
}

static void ss_read_start(struct stream *s)
{
	struct ss_stream *x = (struct ss_stream *)s;
	if (!x->lower_eof)
		stream_read_start(x->f.lower);
	if (!x->pump_queued && (x->inlen || (x->lower_eof && !x->eof_sent))) {
		x->pump_queued = 1;
		worker_defer(s->w, ss_pump_deferred, x);
	}
}

/* ---- writing ---- */

static int ss_send(struct ss_stream *x, const char *data, size_t len)
{
	uint8_t stackbuf[SS_STACK_ENCODE];
	size_t cap = ss_encoded_size(&x->enc, len);
	uint8_t *buf = cap <= sizeof stackbuf ? stackbuf : xmalloc(cap);
	ssize_t n = ss_encode(&x->enc, (const uint8_t *)data, len, buf, cap);
	int r = n < 0 ? -1 : filter_write(&x->f.base, (const char *)buf, (size_t)n);
	if (buf != stackbuf)
		free(buf);
	return r;
}

/* The pending prefix, with data after it in the same chunk(s). */
static int ss_send_prefixed(struct ss_stream *x, const char *data, size_t len)
{
	size_t total = x->prefix_len + len;
	char *p = xrealloc(x->prefix, total);
	if (len)
		memcpy(p + x->prefix_len, data, len);
	x->prefix = NULL;
	x->prefix_len = 0;
	ev_timer_stop(x->f.base.w->loop, &x->prefix_timer);
	int r = ss_send(x, p, total);
	free(p);
	return r;
}

static void ss_prefix_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ss_stream *x = t->data;
	(void)loop;
	(void)revents;
	if (x->prefix && ss_send_prefixed(x, NULL, 0) < 0)
		stream_emit_event(&x->f.base, STREAM_EV_ERROR, EPIPE);
}

static int ss_write(struct stream *s, const char *data, size_t len)
{
	struct ss_stream *x = (struct ss_stream *)s;
	if (x->rstate == SS_R_FAILED)
		return -1;
	if (x->prefix)
		return ss_send_prefixed(x, data, len);
	return ss_send(x, data, len);
}

static void ss_shutdown(struct stream *s)
{
	struct ss_stream *x = (struct ss_stream *)s;
	if (x->prefix && x->rstate == SS_R_OPEN)
		ss_send_prefixed(x, NULL, 0);
	filter_shutdown(s);
}

static void ss_close(struct stream *s)
{
	struct ss_stream *x = (struct ss_stream *)s;
	ev_timer_stop(s->w->loop, &x->prefix_timer);
	free(x->inbuf);
	x->inbuf = NULL;
	x->inlen = 0;
	free(x->prefix);
	x->prefix = NULL;
	ss_decoder_free(&x->dec);
	ss_encoder_free(&x->enc);
	filter_close(s);
}

static const struct stream_ops ss_ops = {
	.name = "shadowsocks",
	.read_start = ss_read_start,
	.read_stop = filter_read_stop,
	.write = ss_write,
	.shutdown = ss_shutdown,
	.close = ss_close,
	/* no fd: every byte goes through the cipher */
};

struct stream *ss_stream_new(struct stream *lower, const struct ss_cfg *c, const void *prefix, size_t prefix_len,
			     double prefix_wait)
{
	struct ss_stream *x = xcalloc(1, sizeof *x);
	uint8_t salt[SS_SALT_MAX];
	filter_init(&x->f, &ss_ops, lower, ss_lower_read);
	ev_timer_init(&x->prefix_timer, ss_prefix_timeout, prefix_wait > 0 ? prefix_wait : 1, 0);
	x->prefix_timer.data = x;
	if (RAND_bytes(salt, (int)c->m->salt_len) != 1 || ss_decoder_init(&x->dec, c->m, c->key) < 0 ||
	    ss_encoder_init(&x->enc, c->m, c->key, salt) < 0) {
		log_warn("shadowsocks %s: cannot set up %s (OpenSSL)", lower->peer, c->m->name);
		stream_close(&x->f.base);
		return NULL;
	}
	replay_check_add(salt, c->m->salt_len); /* our own: refused if it ever comes back */
	if (prefix && prefix_len) {
		x->prefix = xmalloc(prefix_len);
		memcpy(x->prefix, prefix, prefix_len);
		x->prefix_len = prefix_len;
		if (prefix_wait > 0)
			ev_timer_start(lower->w->loop, &x->prefix_timer);
	}
	return &x->f.base;
}

/* ---- UDP packets ---- */

#define SS_STACK_PACKET 2048    /* packets this size need no allocation to seal */

struct ss_packet_stream {
	struct filter f;
	struct ss_cfg c;
	struct ss_aead open_ctx, seal_ctx; /* cipher contexts reused from packet to packet; owned */
	uint8_t target[SOCKS5_REQUEST_MAX]; /* encoded, when a client's */
	size_t target_len;
	uint8_t *pt;                /* owned: the largest plaintext so far fits */
	size_t pt_cap;
};

static void ssp_lower_read(struct stream *lower, const char *data, size_t len)
{
	struct ss_packet_stream *x = lower->ud;
	struct socks5_addr a;
	if (!len) {
		stream_emit_read(&x->f.base, NULL, 0);
		return;
	}
	if (len > x->pt_cap) {
		x->pt = xrealloc(x->pt, len);
		x->pt_cap = len;
	}
	ssize_t n = ss_packet_open(&x->open_ctx, x->c.m, x->c.key, (const uint8_t *)data, len, x->pt, x->pt_cap);
	int hl = n < 0 ? (int)n : ss_packet_addr(x->pt, (size_t)n, &a);
	if (hl < 0) {
		log_debug("shadowsocks udp %s: a %zu-byte packet dropped: %s", x->f.base.peer, len, ss_strerror(hl));
		return;
	}
	if (replay_check_add((const uint8_t *)data, x->c.m->salt_len)) {
		log_info("shadowsocks udp %s: a packet with a salt seen before (replayed) dropped", x->f.base.peer);
		return;
	}
	size_t skip = x->target_len ? (size_t)hl : 0;
	if ((size_t)n > skip)
		stream_emit_read(&x->f.base, (const char *)x->pt + skip, (size_t)n - skip);
}

static int ssp_write(struct stream *s, const char *data, size_t len)
{
	struct ss_packet_stream *x = (struct ss_packet_stream *)s;
	uint8_t stackbuf[SS_STACK_PACKET], stackplain[SS_STACK_PACKET], salt[SS_SALT_MAX];
	size_t plen = x->target_len + len, cap = plen + ss_packet_overhead(x->c.m);
	uint8_t *buf = cap <= sizeof stackbuf ? stackbuf : xmalloc(cap);
	const uint8_t *plain = (const uint8_t *)data;
	uint8_t *own = NULL;
	int r = -1;
	if (x->target_len) {
		own = plen <= sizeof stackplain ? stackplain : xmalloc(plen);
		memcpy(own, x->target, x->target_len);
		memcpy(own + x->target_len, data, len);
		plain = own;
	}
	if (RAND_bytes(salt, (int)x->c.m->salt_len) == 1) {
		ssize_t n = ss_packet_seal(&x->seal_ctx, x->c.m, x->c.key, salt, plain, plen, buf, cap);
		if (n > 0)
			r = filter_write(s, (const char *)buf, (size_t)n);
	}
	if (own != stackplain)
		free(own);
	if (buf != stackbuf)
		free(buf);
	return r;
}

static void ssp_close(struct stream *s)
{
	struct ss_packet_stream *x = (struct ss_packet_stream *)s;
	ss_aead_free(&x->open_ctx);
	ss_aead_free(&x->seal_ctx);
	free(x->pt);
	x->pt = NULL;
	memset(x->c.key, 0, sizeof x->c.key);
	filter_close(s);
}

static const struct stream_ops ssp_ops = {
	.name = "shadowsocks-udp",
	.read_start = filter_read_start,
	.read_stop = filter_read_stop,
	.write = ssp_write,
	.shutdown = filter_shutdown,
	.close = ssp_close,
};

struct stream *ss_packet_stream_new(struct stream *lower, const struct ss_cfg *c, const struct socks5_addr *target)
{
	struct ss_packet_stream *x = xcalloc(1, sizeof *x);
	filter_init(&x->f, &ssp_ops, lower, ssp_lower_read);
	x->f.base.dgram = 1;
	x->c = *c;
	if (target) {
		int n = socks5_addr_encode(x->target, sizeof x->target, target);
		if (n <= 0) {
			stream_close(&x->f.base);
			return NULL;
		}
		x->target_len = (size_t)n;
	}
	return &x->f.base;
}
