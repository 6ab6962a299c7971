/*
 * DTLS sessions with mbedTLS, driven by the worker's libev loop: the record
 * layer reads and writes through the lower datagram stream (custom bio
 * callbacks), the flight retransmission timer is an ev_timer, and the whole
 * handshake has a deadline.
 */
#include "src/xprt/dtls_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cookie.h>
#include <mbedtls/x509_crt.h>

#include "src/core/filter.h"
#include "src/core/log.h"
#include "src/core/util.h"

#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define DTLS_CONTENT_HANDSHAKE 22
#define DTLS_SOCKET_BUFFER (2 * 1024 * 1024)

struct dtls_conf {
	int refs;                       /* atomic: the owner's plus one per live session */
	int server;
	char label[96];                 /* who owns it, for log lines */
	mbedtls_ssl_config ssl;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;  /* shared by workers: mbedTLS locks it */
	mbedtls_x509_crt cert, ca;
	mbedtls_pk_context key;
	mbedtls_ssl_cookie_ctx cookie;  /* server: the HelloVerifyRequest secret */
	char *server_name;              /* client: SNI and the name to verify; owned, may be NULL */
	int check_name;                 /* client: the certificate must carry server_name */
	uint16_t mtu;
	double handshake_timeout;
};

/* pion/dtls's suites first; ECDHE-RSA only for operators who bring an RSA certificate. */
static const int dtls_suites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	0,
};

static const mbedtls_ecp_group_id dtls_curves[] = {
	MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE,
};

/* ---- configuration ---- */

int dtls_opts_parse(const struct cnode *md, struct dtls_opts *o, struct cfg_err *e)
{
	long mtu;
	memset(o, 0, sizeof *o);
	if (md_int(md, "mtu", 1200, 256, 16384, &mtu, e) < 0 ||
	    md_duration(md, "flightInterval", 1, &o->flight_interval, e) < 0 ||
	    md_duration(md, "handshakeTimeout", 30, &o->handshake_timeout, e) < 0)
		return -1;
	o->mtu = (int)mtu;
	if (o->flight_interval <= 0)
		o->flight_interval = 1;
	if (o->handshake_timeout <= 0)
		o->handshake_timeout = 30;
	return 0;
}

static int conf_fail(char *err, size_t errlen, int ret, const char *fmt, const char *arg)
{
	char m[160];
	mbedtls_strerror(ret, m, sizeof m);
	char what[256];
	snprintf(what, sizeof what, fmt, arg ? arg : "");
	snprintf(err, errlen, "%s: %s", what, m);
	return -1;
}

static void conf_free(struct dtls_conf *c)
{
	mbedtls_ssl_config_free(&c->ssl);
	mbedtls_ssl_cookie_free(&c->cookie);
	mbedtls_x509_crt_free(&c->cert);
	mbedtls_x509_crt_free(&c->ca);
	mbedtls_pk_free(&c->key);
	mbedtls_ctr_drbg_free(&c->drbg);
	mbedtls_entropy_free(&c->entropy);
	free(c->server_name);
	free(c);
}

void dtls_conf_unref(struct dtls_conf *c)
{
	if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		conf_free(c);
}

static struct dtls_conf *conf_new(int endpoint, const struct dtls_opts *o, const char *label, char *err,
				  size_t errlen)
{
	struct dtls_conf *c = xcalloc(1, sizeof *c);
	int ret;
	c->refs = 1;
	c->server = endpoint == MBEDTLS_SSL_IS_SERVER;
	snprintf(c->label, sizeof c->label, "%s", label);
	mbedtls_ssl_config_init(&c->ssl);
	mbedtls_ssl_cookie_init(&c->cookie);
	mbedtls_x509_crt_init(&c->cert);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_pk_init(&c->key);
	mbedtls_ctr_drbg_init(&c->drbg);
	mbedtls_entropy_init(&c->entropy);
	c->mtu = (uint16_t)(o->mtu > 0 ? o->mtu : 1200);
	c->handshake_timeout = o->handshake_timeout > 0 ? o->handshake_timeout : 30;

	ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, (const unsigned char *)"portway-dtls",
				    12);
	if (ret) {
		conf_fail(err, errlen, ret, "seeding the random generator%s", NULL);
		goto fail;
	}
	ret = mbedtls_ssl_config_defaults(&c->ssl, endpoint, MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret) {
		conf_fail(err, errlen, ret, "DTLS defaults%s", NULL);
		goto fail;
	}
	mbedtls_ssl_conf_rng(&c->ssl, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_min_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&c->ssl, dtls_suites);
	mbedtls_ssl_conf_curves(&c->ssl, dtls_curves);
	mbedtls_ssl_conf_extended_master_secret(&c->ssl, MBEDTLS_SSL_EXTENDED_MS_ENABLED);
	/* Our own deadline ends the handshake; mbedTLS only paces the retransmissions. */
	uint32_t first = (uint32_t)((o->flight_interval > 0 ? o->flight_interval : 1) * 1000);
	mbedtls_ssl_conf_handshake_timeout(&c->ssl, first ? first : 1, 60000);
	return c;
fail:
	conf_free(c);
	return NULL;
}

static int load_pair(struct dtls_conf *c, const struct tls_cfg *t, char *err, size_t errlen)
{
	int ret;
	if (!t->cert_file != !t->key_file) {
		snprintf(err, errlen, "certFile and keyFile must be given together");
		return -1;
	}
	if ((ret = mbedtls_x509_crt_parse_file(&c->cert, t->cert_file)) != 0)
		return conf_fail(err, errlen, ret, "certFile %s", t->cert_file);
	if ((ret = mbedtls_pk_parse_keyfile(&c->key, t->key_file, NULL)) != 0)
		return conf_fail(err, errlen, ret, "keyFile %s", t->key_file);
	if ((ret = mbedtls_pk_check_pair(&c->cert.pk, &c->key)) != 0)
		return conf_fail(err, errlen, ret, "keyFile %s does not match certFile", t->key_file);
	if ((ret = mbedtls_ssl_conf_own_cert(&c->ssl, &c->cert, &c->key)) != 0)
		return conf_fail(err, errlen, ret, "certFile %s", t->cert_file);
	return 0;
}

static int load_ca(struct dtls_conf *c, const char *path, int bundle, char *err, size_t errlen)
{
	int ret = mbedtls_x509_crt_parse_file(&c->ca, path);
	/* A system bundle may hold a few certificates mbedTLS cannot parse: skip those. */
	if (ret < 0 || (ret > 0 && !bundle))
		return conf_fail(err, errlen, ret < 0 ? ret : MBEDTLS_ERR_X509_INVALID_FORMAT, "caFile %s", path);
	mbedtls_ssl_conf_ca_chain(&c->ssl, &c->ca, NULL);
	mbedtls_ssl_conf_authmode(&c->ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
	return 0;
}

/* A listener with no certificate gets a fresh self-signed ECDSA P-256 one, as GOST does. */
static int make_self_signed(struct dtls_conf *c, char *err, size_t errlen)
{
	mbedtls_x509write_cert w;
	mbedtls_mpi serial;
	unsigned char der[2048];
	char from[16], until[16];
	time_t now = time(NULL), later = now + 10 * 365 * 86400L, before = now - 86400;
	int ret, len;

	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&serial);
	if ((ret = mbedtls_pk_setup(&c->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
	    (ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(c->key), mbedtls_ctr_drbg_random,
				       &c->drbg)) != 0)
		goto fail;
	strftime(from, sizeof from, "%Y%m%d%H%M%S", gmtime(&before));
	strftime(until, sizeof until, "%Y%m%d%H%M%S", gmtime(&later));
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &c->key);
	mbedtls_x509write_crt_set_issuer_key(&w, &c->key);
	if ((ret = mbedtls_mpi_fill_random(&serial, 16, mbedtls_ctr_drbg_random, &c->drbg)) != 0 ||
	    (ret = mbedtls_mpi_set_bit(&serial, 127, 0)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_serial(&w, &serial)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_subject_name(&w, "CN=portway,O=portway")) != 0 ||
	    (ret = mbedtls_x509write_crt_set_issuer_name(&w, "CN=portway,O=portway")) != 0 ||
	    (ret = mbedtls_x509write_crt_set_validity(&w, from, until)) != 0)
		goto fail;
	len = mbedtls_x509write_crt_der(&w, der, sizeof der, mbedtls_ctr_drbg_random, &c->drbg);
	if (len < 0) {
		ret = len;
		goto fail;
	}
	if ((ret = mbedtls_x509_crt_parse_der(&c->cert, der + sizeof der - len, (size_t)len)) != 0 ||
	    (ret = mbedtls_ssl_conf_own_cert(&c->ssl, &c->cert, &c->key)) != 0)
		goto fail;
	mbedtls_x509write_crt_free(&w);
	mbedtls_mpi_free(&serial);
	return 0;
fail:
	mbedtls_x509write_crt_free(&w);
	mbedtls_mpi_free(&serial);
	return conf_fail(err, errlen, ret, "generating a self-signed certificate%s", NULL);
}

/* DTLS 1.2 is all this offers: a minimum above it would not be enforced, so it is refused.
 * The version is read as the TLS code reads it (VersionTLS13, 1.3, tls13). */
static int min_version_offered(const struct tls_cfg *tls, char *err, size_t errlen)
{
	const char *v = tls->min_version;
	char digits[8] = "";
	size_t k = 0;
	for (const char *p = v; p && *p && k < sizeof digits - 1; p++)
		if (*p >= '0' && *p <= '9')
			digits[k++] = *p;
	digits[k] = 0;
	if (!v || !*v || !strcmp(digits, "10") || !strcmp(digits, "11") || !strcmp(digits, "12"))
		return 0;
	snprintf(err, errlen, "tls.options.minVersion %s: only DTLS 1.2 is offered, so it would not be enforced", v);
	return -1;
}

struct dtls_conf *dtls_conf_server(const struct tls_cfg *tls, const struct dtls_opts *o, const char *label,
				   char *err, size_t errlen)
{
	if (min_version_offered(tls, err, errlen) < 0)
		return NULL;
	struct dtls_conf *c = conf_new(MBEDTLS_SSL_IS_SERVER, o, label, err, errlen);
	int ret;
	if (!c)
		return NULL;
	if (tls->cert_file || tls->key_file) {
		if (load_pair(c, tls, err, errlen) < 0)
			goto fail;
	} else if (make_self_signed(c, err, errlen) < 0) {
		goto fail;
	}
	if (tls->ca_file) {
		if (load_ca(c, tls->ca_file, 0, err, errlen) < 0)
			goto fail;
	} else {
		mbedtls_ssl_conf_authmode(&c->ssl, MBEDTLS_SSL_VERIFY_NONE);
	}
	if ((ret = mbedtls_ssl_cookie_setup(&c->cookie, mbedtls_ctr_drbg_random, &c->drbg)) != 0) {
		conf_fail(err, errlen, ret, "cookie secret%s", NULL);
		goto fail;
	}
	mbedtls_ssl_conf_dtls_cookies(&c->ssl, mbedtls_ssl_cookie_write, mbedtls_ssl_cookie_check, &c->cookie);
	return c;
fail:
	conf_free(c);
	return NULL;
}

/* caFile without secure checks the chain only, as GOST does; secure checks the name too. */
static int verify_cb(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct dtls_conf *c = p;
	(void)crt;
	if (depth == 0 && !c->check_name)
		*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

static int is_ip_literal(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

struct dtls_conf *dtls_conf_client(const struct tls_cfg *tls, const struct dtls_opts *o, const char *default_name,
				   const char *label, char *err, size_t errlen)
{
	if (min_version_offered(tls, err, errlen) < 0)
		return NULL;
	struct dtls_conf *c = conf_new(MBEDTLS_SSL_IS_CLIENT, o, label, err, errlen);
	if (!c)
		return NULL;
	if ((tls->cert_file || tls->key_file) && load_pair(c, tls, err, errlen) < 0)
		goto fail;
	const char *name = tls->server_name && *tls->server_name ? tls->server_name : default_name;
	if (tls->ca_file) {
		if (load_ca(c, tls->ca_file, 0, err, errlen) < 0)
			goto fail;
		c->check_name = tls->secure;
	} else if (tls->secure) {
		if (load_ca(c, SYSTEM_CA_BUNDLE, 1, err, errlen) < 0)
			goto fail;
		c->check_name = 1;
	} else {
		mbedtls_ssl_conf_authmode(&c->ssl, MBEDTLS_SSL_VERIFY_NONE);
	}
	/* SNI carries names, not addresses; an address is still what secure compares against. */
	if (name && *name && (c->check_name || !is_ip_literal(name)))
		c->server_name = xstrdup(name);
	mbedtls_ssl_conf_verify(&c->ssl, verify_cb, c);
	return c;
fail:
	conf_free(c);
	return NULL;
}

void dtls_socket_buffers(int fd)
{
	int size = DTLS_SOCKET_BUFFER;
	if (fd < 0)
		return;
	/* The kernel caps these at net.core.[rw]mem_max; that is fine. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

/* ---- the stream ---- */

enum dtls_state {
	DTLS_HANDSHAKE,     /* flights going back and forth; only the starter's cb knows the stream */
	DTLS_OPEN,          /* records both ways */
	DTLS_PEER_CLOSED,   /* close_notify received and delivered as EOF; writes still go out */
	DTLS_FAILED,        /* fatal error delivered, lower closed */
};

struct dtls_stream {
	struct filter f;                /* base is dgram: one record per on_read; f.lower NULL once closed */
	struct dtls_conf *conf;         /* a reference */
	enum dtls_state state;
	mbedtls_ssl_context ssl;
	int ssl_ready;                  /* mbedtls_ssl_setup succeeded */
	const char *in;                 /* the lower datagram being handled, valid during its on_read */
	size_t in_len;
	int first_seen;                 /* server: the session's first datagram was checked */
	ev_timer retrans;               /* mbedTLS's flight timer */
	ev_tstamp timer_start;
	uint32_t int_ms, fin_ms;        /* fin_ms == 0: no timer */
	int timer_expired;
	ev_timer deadline;              /* the whole handshake */
	stream_done_cb cb;              /* handshake completion; NULL once reported */
	void *cb_ctx;
	int pump_queued;                /* a deferred pump is pending */
};

static void close_lower(struct dtls_stream *x)
{
	if (x->f.lower) {
		stream_close(x->f.lower);
		x->f.lower = NULL;
	}
}

/* ---- mbedTLS callbacks: records through the lower stream, timers on the loop ---- */

static int bio_send(void *p, const unsigned char *buf, size_t len)
{
	struct dtls_stream *x = p;
	if (!x->f.lower || stream_write(x->f.lower, buf, len) < 0)
		return MBEDTLS_ERR_NET_SEND_FAILED;
	return (int)len;
}

static int bio_recv(void *p, unsigned char *buf, size_t len)
{
	struct dtls_stream *x = p;
	if (!x->in)
		return MBEDTLS_ERR_SSL_WANT_READ;
	size_t n = x->in_len < len ? x->in_len : len;
	memcpy(buf, x->in, n);
	x->in = NULL;
	return (int)n;
}

static void set_timer_cb(void *p, uint32_t int_ms, uint32_t fin_ms)
{
	struct dtls_stream *x = p;
	struct ev_loop *loop = x->f.base.w->loop;
	x->int_ms = int_ms;
	x->fin_ms = fin_ms;
	x->timer_expired = 0;
	ev_timer_stop(loop, &x->retrans);
	if (fin_ms) {
		x->timer_start = ev_now(loop);
		ev_timer_set(&x->retrans, fin_ms / 1000.0, 0);
		ev_timer_start(loop, &x->retrans);
	}
}

static int get_timer_cb(void *p)
{
	struct dtls_stream *x = p;
	if (!x->fin_ms)
		return -1;
	if (x->timer_expired)
		return 2;
	double elapsed = (ev_now(x->f.base.w->loop) - x->timer_start) * 1000;
	if (elapsed >= x->fin_ms)
		return 2;
	return elapsed >= x->int_ms ? 1 : 0;
}

/* ---- handshake ---- */

static const char *alert_name(int a)
{
	switch (a) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 110: return "unsupported_extension";
	case 116: return "certificate_required";
	default: return "?";
	}
}

static void log_failure(struct dtls_stream *x, const char *what, int ret)
{
	char e[160], detail[320] = "";
	mbedtls_strerror(ret, e, sizeof e);
	if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		mbedtls_x509_crt_verify_info(detail, sizeof detail, "", mbedtls_ssl_get_verify_result(&x->ssl));
		for (char *p = detail; *p; p++)
			if (*p == '\n')
				*p = p[1] ? ';' : 0;
	} else if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && x->ssl.in_msg) {
		snprintf(detail, sizeof detail, "the peer sent alert %d (%s)", x->ssl.in_msg[1],
			 alert_name(x->ssl.in_msg[1]));
	}
	log_info("%s: dtls %s with %s failed: %s%s%s", x->conf->label, what, x->f.base.peer, e, *detail ? ": " : "",
		 detail);
}

/* Report the handshake's outcome to the starter, exactly once. */
static void hs_finish(struct dtls_stream *x, int err)
{
	struct ev_loop *loop = x->f.base.w->loop;
	stream_done_cb cb = x->cb;
	void *ctx = x->cb_ctx;
	x->cb = NULL;
	ev_timer_stop(loop, &x->deadline);
	if (err) {
		ev_timer_stop(loop, &x->retrans);
		x->state = DTLS_FAILED;
		close_lower(x);
		stream_close(&x->f.base);
		if (cb)
			cb(ctx, NULL, err);
		return;
	}
	x->state = DTLS_OPEN;
	/* The MTU shapes handshake flights; a datagram of application data stays one record. */
	mbedtls_ssl_set_mtu(&x->ssl, 0);
	log_debug("%s: dtls with %s established (%s)", x->conf->label, x->f.base.peer,
		  mbedtls_ssl_get_ciphersuite(&x->ssl));
	if (!x->f.base.reading)
		stream_read_stop(x->f.lower);
	if (cb)
		cb(ctx, &x->f.base, 0);
}

static void hs_drive(struct dtls_stream *x)
{
	int ret = mbedtls_ssl_handshake(&x->ssl);
	if (ret == 0) {
		hs_finish(x, 0);
	} else if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
		return;
	} else if (ret == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED) {
		log_trace("%s: dtls cookie sent to %s", x->conf->label, x->f.base.peer);
		hs_finish(x, EAGAIN);
	} else {
		log_failure(x, "handshake", ret);
		/* mbedTLS refuses a missing client certificate without telling the client. */
		if (ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
			mbedtls_ssl_send_alert_message(&x->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
						       MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
		hs_finish(x, ret == MBEDTLS_ERR_SSL_TIMEOUT ? ETIMEDOUT : EPROTO);
	}
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct dtls_stream *x = t->data;
	(void)loop;
	(void)revents;
	log_info("%s: dtls handshake with %s timed out", x->conf->label, x->f.base.peer);
	hs_finish(x, ETIMEDOUT);
}

/* ---- established: records to the owner ---- */

static void fail(struct dtls_stream *x, int err)
{
	x->state = DTLS_FAILED;
	close_lower(x);
	stream_emit_event(&x->f.base, STREAM_EV_ERROR, err);
}

/* Hand every record mbedTLS can produce now to the owner, one on_read each. */
static void pump(struct dtls_stream *x)
{
	static __thread unsigned char buf[MBEDTLS_SSL_IN_CONTENT_LEN];
	/* After close_notify records are still read (and dropped) to notice a client reconnecting. */
	while (!x->f.base.closed && x->f.lower &&
	       (x->state == DTLS_PEER_CLOSED || (x->state == DTLS_OPEN && x->f.base.reading))) {
		int ret = mbedtls_ssl_read(&x->ssl, buf, sizeof buf);
		if (ret > 0) {
			if (x->state == DTLS_OPEN)
				stream_emit_read(&x->f.base, (const char *)buf, (size_t)ret);
			continue;
		}
		if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			return;
		if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			if (x->state == DTLS_OPEN) {
				log_debug("%s: dtls peer %s closed", x->conf->label, x->f.base.peer);
				x->state = DTLS_PEER_CLOSED;
				stream_emit_read(&x->f.base, NULL, 0);
			}
			return;
		}
		if (ret == MBEDTLS_ERR_SSL_CLIENT_RECONNECT) {
			/* A new client on the same address: end this session, it will come back on a fresh one. */
			log_debug("%s: dtls peer %s starts a new session", x->conf->label, x->f.base.peer);
			fail(x, ECONNRESET);
			return;
		}
		log_failure(x, "read", ret);
		fail(x, EPROTO);
		return;
	}
}

static void pump_deferred(void *arg)
{
	struct dtls_stream *x = arg;
	x->pump_queued = 0;
	if (!x->f.base.closed)
		pump(x);
}

/* ---- the lower stream's callbacks ---- */

/* Record header: type, version(2), epoch(2), sequence(6), length(2); then the handshake type. */
static int is_client_hello(const unsigned char *d, size_t len)
{
	return len > 13 && d[0] == DTLS_CONTENT_HANDSHAKE && d[3] == 0 && d[4] == 0 && d[13] == 1;
}

static void lower_read_cb(struct stream *l, const char *data, size_t len)
{
	struct dtls_stream *x = l->ud;
	if (!len) {
		if (x->state == DTLS_HANDSHAKE) {
			log_info("%s: dtls handshake with %s: the transport closed", x->conf->label, x->f.base.peer);
			hs_finish(x, ECONNRESET);
		} else if (x->state == DTLS_OPEN) {
			x->state = DTLS_PEER_CLOSED;
			stream_emit_read(&x->f.base, NULL, 0);
		}
		return;
	}
	if (x->conf->server && !x->first_seen) {
		x->first_seen = 1;
		/* Only a ClientHello opens a session: anything else is noise, a stale peer, or the
		 * retransmitted flight of a client whose handshake was refused a moment ago. */
		if (!is_client_hello((const unsigned char *)data, len)) {
			log_debug("%s: %s: not a DTLS ClientHello, dropped", x->conf->label, x->f.base.peer);
			hs_finish(x, EPROTO);
			return;
		}
	}
	if (x->state == DTLS_OPEN && !x->f.base.reading) {
		/* The owner paused: keep this datagram for later and stop the flow. */
		if (!l->pending.len)
			stream_unread(l, data, len);
		stream_read_stop(l);
		return;
	}
	x->in = data;
	x->in_len = len;
	if (x->state == DTLS_HANDSHAKE)
		hs_drive(x);
	else if (x->state == DTLS_OPEN || x->state == DTLS_PEER_CLOSED)
		pump(x);
	x->in = NULL;
}

static void lower_event_cb(struct stream *l, enum stream_event ev, int err)
{
	struct dtls_stream *x = l->ud;
	if (ev == STREAM_EV_DRAINED) {
		if (x->state == DTLS_OPEN || x->state == DTLS_PEER_CLOSED)
			filter_lower_event(l, ev, err);
		else
			x->f.base.wqueued = l->wqueued;
		return;
	}
	if (x->state == DTLS_HANDSHAKE) {
		log_info("%s: dtls handshake with %s: %s", x->conf->label, x->f.base.peer, strerror(err));
		hs_finish(x, err ? err : EIO);
	} else if (x->state != DTLS_FAILED) {
		fail(x, err ? err : EIO);
	}
}

static void retrans_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct dtls_stream *x = t->data;
	(void)loop;
	(void)revents;
	x->timer_expired = 1;
	if (x->state == DTLS_HANDSHAKE)
		hs_drive(x);
	else
		pump(x);
}

/* ---- stream ops ---- */

static void dtls_read_start(struct stream *s)
{
	struct dtls_stream *x = (struct dtls_stream *)s;
	if (x->state == DTLS_HANDSHAKE || x->state == DTLS_FAILED || !x->f.lower)
		return;
	stream_read_start(x->f.lower);
	/* Records left inside the last datagram when the owner paused. */
	if (mbedtls_ssl_check_pending(&x->ssl) && !x->pump_queued) {
		x->pump_queued = 1;
		worker_defer(s->w, pump_deferred, x);
	}
}

static void dtls_read_stop(struct stream *s)
{
	struct dtls_stream *x = (struct dtls_stream *)s;
	if (x->state != DTLS_HANDSHAKE && x->f.lower)
		filter_read_stop(s);
}

static int dtls_write(struct stream *s, const char *data, size_t len)
{
	struct dtls_stream *x = (struct dtls_stream *)s;
	if ((x->state != DTLS_OPEN && x->state != DTLS_PEER_CLOSED) || !x->f.lower)
		return -1;
	int expansion = mbedtls_ssl_get_record_expansion(&x->ssl);
	int max = mbedtls_ssl_get_max_out_record_payload(&x->ssl);
	size_t chunk = DTLS_MAX_DATAGRAM - (size_t)(expansion > 0 && expansion < 1024 ? expansion : 64);
	if (max > 0 && (size_t)max < chunk)
		chunk = (size_t)max;
	while (len) {
		int ret = mbedtls_ssl_write(&x->ssl, (const unsigned char *)data, len < chunk ? len : chunk);
		if (ret < 0) {
			if (ret != MBEDTLS_ERR_NET_SEND_FAILED)
				log_failure(x, "write", ret);
			return -1;
		}
		data += ret;
		len -= (size_t)ret;
	}
	s->wqueued = x->f.lower ? x->f.lower->wqueued : 0;
	return 0;
}

/* DTLS has no half close: close_notify tells the peer we are done, it sees EOF. */
static void dtls_shutdown(struct stream *s)
{
	struct dtls_stream *x = (struct dtls_stream *)s;
	if ((x->state == DTLS_OPEN || x->state == DTLS_PEER_CLOSED) && x->f.lower)
		mbedtls_ssl_close_notify(&x->ssl);
}

/* Runs before the stream's memory is freed: stream_close defers that after this. */
static void ssl_release(void *arg)
{
	struct dtls_stream *x = arg;
	mbedtls_ssl_free(&x->ssl);
	x->ssl_ready = 0;
	dtls_conf_unref(x->conf);
	x->conf = NULL;
}

static void dtls_close(struct stream *s)
{
	struct dtls_stream *x = (struct dtls_stream *)s;
	struct ev_loop *loop = s->w->loop;
	ev_timer_stop(loop, &x->retrans);
	ev_timer_stop(loop, &x->deadline);
	if (x->state == DTLS_OPEN && x->f.lower && !s->shut_wr)
		mbedtls_ssl_close_notify(&x->ssl);
	close_lower(x);
	/* An mbedTLS call may still be on the stack (a lower stream failing inside a write). */
	worker_defer(s->w, ssl_release, x);
}

static const struct stream_ops dtls_ops = {
	.name = "dtls",
	.read_start = dtls_read_start,
	.read_stop = dtls_read_stop,
	.write = dtls_write,
	.shutdown = dtls_shutdown,
	.close = dtls_close,
};

/* Runs from the loop, so that the starter's cb never runs inside dtls_start. */
static void kick(void *arg)
{
	struct dtls_stream *x = arg;
	if (x->state != DTLS_HANDSHAKE || !x->cb)
		return;
	if (!x->ssl_ready) {
		log_error("%s: dtls session setup failed", x->conf->label);
		hs_finish(x, ENOMEM);
		return;
	}
	hs_drive(x);
}

void dtls_start(struct dtls_conf *c, struct stream *lower, stream_done_cb cb, void *ctx)
{
	struct dtls_stream *x = xmalloc(sizeof *x);
	struct ev_loop *loop = lower->w->loop;

	filter_init_events(&x->f, &dtls_ops, lower, lower_read_cb, lower_event_cb);
	x->f.base.dgram = 1;
	x->conf = c;
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	x->state = DTLS_HANDSHAKE;
	x->in = NULL;
	x->in_len = 0;
	x->first_seen = 0;
	x->int_ms = x->fin_ms = 0;
	x->timer_expired = 0;
	x->timer_start = 0;
	x->cb = cb;
	x->cb_ctx = ctx;
	x->pump_queued = 0;
	ev_timer_init(&x->retrans, retrans_cb, 1, 0);
	x->retrans.data = x;
	ev_timer_init(&x->deadline, deadline_cb, c->handshake_timeout, 0);
	x->deadline.data = x;

	mbedtls_ssl_init(&x->ssl);
	x->ssl_ready = mbedtls_ssl_setup(&x->ssl, &c->ssl) == 0;
	if (x->ssl_ready) {
		mbedtls_ssl_set_bio(&x->ssl, x, bio_send, bio_recv, NULL);
		mbedtls_ssl_set_timer_cb(&x->ssl, x, set_timer_cb, get_timer_cb);
		mbedtls_ssl_set_mtu(&x->ssl, c->mtu);
		if (c->server) {
			/* The cookie binds the client's address: a spoofed source never gets past HelloVerifyRequest. */
			const char *id = *lower->peer ? lower->peer : "?";
			mbedtls_ssl_set_client_transport_id(&x->ssl, (const unsigned char *)id, strlen(id));
		} else if (c->server_name) {
			mbedtls_ssl_set_hostname(&x->ssl, c->server_name);
		}
	}
	ev_timer_start(loop, &x->deadline);
	stream_read_start(lower);
	worker_defer(lower->w, kick, x);
}
