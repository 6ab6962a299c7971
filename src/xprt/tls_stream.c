/*
 * TLS filter stream over buffer BIOs (see tls_stream.h).
 *
 * The record layer talks to two small BIOs of our own. Reading: SSL reads
 * records straight from the bytes the lower stream is delivering; only a
 * partial record (or what arrives while the owner is not reading) is kept,
 * and plaintext is delivered from a stack buffer (never the worker's scratch
 * buffer, which a stream below may still be delivering from). Writing:
 * SSL_write appends records to a buffer that is handed to the lower stream
 * after each call and freed; nothing is queued here, so wqueued mirrors the
 * lower stream's queue and DRAINED is raised when it empties. An idle
 * connection keeps no buffer at all.
 */
#include "src/xprt/tls_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "src/core/log.h"
#include "src/core/util.h"

#define TLS_READ_CHUNK 65536            /* plaintext gathered per delivery: up to four records */
#define TLS_DEFAULT_HANDSHAKE_TIMEOUT 10.0

struct tls_conf {
	SSL_CTX *ctx;               /* owned */
	int refs;                   /* atomic: the owner (listener or node) plus each handshake in flight */
	int server;
	unsigned char *alpn;        /* owned: protocols in wire format, server preference order */
	size_t alpn_len;
	char *server_name;          /* owned, client: SNI and the name verified; NULL: none */
	int name_is_ip;             /* server_name is an IP literal: no SNI, verify the IP */
	int verify_name;            /* client: check the certificate names server_name */
	double handshake_timeout;
	char label[128];
};

/* ---- the generated certificate ---- */

static pthread_mutex_t auto_lock = PTHREAD_MUTEX_INITIALIZER;
static X509 *auto_cert;         /* process lifetime, made on first use */
static EVP_PKEY *auto_key;
static char auto_fp[SHA256_DIGEST_LENGTH * 3 + 1];

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -1;
	int r = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return r ? 0 : -1;
}

static int auto_cert_make(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIGNUM *serial = BN_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int ok = 0;

	if (!key || !x || !serial || !BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) || !X509_set_pubkey(x, key))
		goto out;
	X509_NAME *name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"portway", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"portway", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto out;
	if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, NID_subject_alt_name, "DNS:localhost,DNS:portway,IP:127.0.0.1,IP:::1") < 0)
		goto out;
	if (!X509_sign(x, key, EVP_sha256()) || !X509_digest(x, EVP_sha256(), md, &mdlen))
		goto out;
	for (unsigned i = 0; i < mdlen && i < SHA256_DIGEST_LENGTH; i++)
		snprintf(auto_fp + i * 3, 4, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
	auto_cert = x;
	auto_key = key;
	x = NULL;
	key = NULL;
	ok = 1;
out:
	BN_free(serial);
	X509_free(x);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

const char *tls_auto_cert_fingerprint(void)
{
	pthread_mutex_lock(&auto_lock);
	const char *fp = auto_cert ? auto_fp : "";
	pthread_mutex_unlock(&auto_lock);
	return fp;
}

/* ---- building the context ---- */

static void openssl_reason(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	snprintf(buf, n, "%s", r ? r : "unknown OpenSSL error");
	ERR_clear_error();
}

static int alpn_add(struct tls_conf *c, const char *proto, const struct cnode *where, struct cfg_err *e)
{
	size_t l = strlen(proto);
	if (!l)
		return 0;
	if (l > 255)
		return cfg_error(e, where, "alpn", "protocol name \"%.40s...\" is longer than 255 bytes", proto);
	c->alpn = xrealloc(c->alpn, c->alpn_len + 1 + l);
	c->alpn[c->alpn_len] = (unsigned char)l;
	memcpy(c->alpn + c->alpn_len + 1, proto, l);
	c->alpn_len += 1 + l;
	return 0;
}

/* ALPN from tls.options.alpn, then metadata alpn: "a,b" or a YAML list. */
static int alpn_parse(struct tls_conf *c, const struct tls_cfg *tls, const struct cnode *md, struct cfg_err *e)
{
	for (size_t i = 0; tls && i < tls->n_alpn; i++)
		if (alpn_add(c, tls->alpn[i], NULL, e) < 0)
			return -1;
	const struct cnode *n = cnode_get(md, "alpn");
	if (!n)
		return 0;
	if (n->kind == CN_SEQ) {
		for (size_t i = 0; i < n->n; i++) {
			if (n->items[i]->kind != CN_SCALAR)
				return cfg_error(e, n->items[i], "alpn", "expected a protocol name");
			if (alpn_add(c, n->items[i]->value, n->items[i], e) < 0)
				return -1;
		}
		return 0;
	}
	if (n->kind != CN_SCALAR)
		return cfg_error(e, n, "alpn", "expected a comma-separated list or a list of protocol names");
	char *copy = xstrdup(n->value), *save = NULL;
	int r = 0;
	for (char *p = strtok_r(copy, ", ", &save); p && !r; p = strtok_r(NULL, ", ", &save))
		r = alpn_add(c, p, n, e);
	free(copy);
	return r;
}

static int min_version(const struct tls_cfg *tls, const struct cnode *where, const char *label, struct cfg_err *e)
{
	const char *v = tls ? tls->min_version : NULL;
	if (!v || !*v)
		return TLS1_2_VERSION;
	/* GOST writes VersionTLS12; accept "1.2", "TLS1.2", "tls12" as well. */
	char digits[8] = "";
	size_t k = 0;
	for (const char *p = v; *p && k < sizeof digits - 1; p++)
		if (*p >= '0' && *p <= '9')
			digits[k++] = *p;
	digits[k] = 0;
	if (!strcmp(digits, "13"))
		return TLS1_3_VERSION;
	if (!strcmp(digits, "12"))
		return TLS1_2_VERSION;
	if (!strcmp(digits, "10") || !strcmp(digits, "11")) {
		log_warn("%s: tls.options.minVersion %s: versions below TLS 1.2 are not offered; using 1.2", label, v);
		return TLS1_2_VERSION;
	}
	return cfg_error(e, where, "tls.options.minVersion", "expected VersionTLS12 or VersionTLS13, got \"%s\"", v);
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
			  unsigned inlen, void *arg)
{
	struct tls_conf *c = arg;
	(void)ssl;
	/* The first of our protocols that the client offers; none in common: no ALPN, not an error. */
	if (SSL_select_next_proto((unsigned char **)out, outlen, c->alpn, (unsigned)c->alpn_len, in, inlen) ==
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;
}

static struct tls_conf *conf_new(int server, const struct tls_cfg *tls, const struct cnode *md,
				 const struct cnode *where, const char *label, struct cfg_err *e)
{
	struct tls_conf *c = xcalloc(1, sizeof *c);
	c->refs = 1;
	c->server = server;
	snprintf(c->label, sizeof c->label, "%s", label ? label : "tls");
	if (md_duration(md, "handshakeTimeout", TLS_DEFAULT_HANDSHAKE_TIMEOUT, &c->handshake_timeout, e) < 0)
		goto fail;
	if (c->handshake_timeout <= 0)
		c->handshake_timeout = TLS_DEFAULT_HANDSHAKE_TIMEOUT;
	if (alpn_parse(c, tls, md, e) < 0)
		goto fail;
	int minv = min_version(tls, where, c->label, e);
	if (minv < 0)
		goto fail;
	c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!c->ctx) {
		cfg_error(e, where, "tls", "cannot create a TLS context");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(c->ctx, minv);
	/* Renegotiation is off so a write never has to wait for a read. Idle
	 * connections give their record buffers back. */
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS);
	return c;
fail:
	tls_conf_unref(c);
	return NULL;
}

static int load_cert_key(struct tls_conf *c, const struct tls_cfg *tls, const struct cnode *where, struct cfg_err *e)
{
	char why[256];
	const char *key = tls->key_file && *tls->key_file ? tls->key_file : tls->cert_file;
	if (SSL_CTX_use_certificate_chain_file(c->ctx, tls->cert_file) != 1) {
		openssl_reason(why, sizeof why);
		return cfg_error(e, where, "tls.certFile", "cannot load certificate %s: %s", tls->cert_file, why);
	}
	if (SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1) {
		openssl_reason(why, sizeof why);
		return cfg_error(e, where, "tls.keyFile", "cannot load private key %s: %s", key, why);
	}
	if (SSL_CTX_check_private_key(c->ctx) != 1) {
		openssl_reason(why, sizeof why);
		return cfg_error(e, where, "tls.keyFile", "%s does not match certificate %s: %s", key, tls->cert_file,
				 why);
	}
	return 0;
}

static int load_ca(struct tls_conf *c, const char *ca_file, const struct cnode *where, struct cfg_err *e)
{
	char why[256];
	if (SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) != 1) {
		openssl_reason(why, sizeof why);
		return cfg_error(e, where, "tls.caFile", "cannot load CA certificates from %s: %s", ca_file, why);
	}
	return 0;
}

struct tls_conf *tls_conf_server(const struct tls_cfg *tls, const struct cnode *md, const struct cnode *where,
				 const char *label, struct cfg_err *e)
{
	struct tls_conf *c = conf_new(1, tls, md, where, label, e);
	if (!c)
		return NULL;
	if (tls && tls->cert_file && *tls->cert_file) {
		if (load_cert_key(c, tls, where, e) < 0)
			goto fail;
	} else {
		if (tls && tls->key_file && *tls->key_file) {
			cfg_error(e, where, "tls.keyFile", "keyFile is set but certFile is not");
			goto fail;
		}
		pthread_mutex_lock(&auto_lock);
		int made = auto_cert != NULL;
		int ok = made || auto_cert_make() == 0;
		if (ok && (SSL_CTX_use_certificate(c->ctx, auto_cert) != 1 || SSL_CTX_use_PrivateKey(c->ctx, auto_key) != 1))
			ok = 0;
		pthread_mutex_unlock(&auto_lock);
		if (!ok) {
			char why[256];
			openssl_reason(why, sizeof why);
			cfg_error(e, where, "tls", "cannot make a self-signed certificate: %s", why);
			goto fail;
		}
		log_info("%s: no certificate configured; using a self-signed certificate (CN=portway), "
			 "SHA-256 fingerprint %s",
			 c->label, auto_fp);
	}
	if (tls && tls->ca_file && *tls->ca_file) {
		if (load_ca(c, tls->ca_file, where, e) < 0)
			goto fail;
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(tls->ca_file);
		if (names)
			SSL_CTX_set_client_CA_list(c->ctx, names);
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	/* Resumed sessions must stay bound to this context's client verification. */
	SSL_CTX_set_session_id_context(c->ctx, (const unsigned char *)"portway", 7);
	if (c->alpn_len)
		SSL_CTX_set_alpn_select_cb(c->ctx, alpn_select_cb, c);
	return c;
fail:
	tls_conf_unref(c);
	return NULL;
}

struct tls_conf *tls_conf_client(const struct tls_cfg *tls, const struct cnode *md, const struct cnode *where,
				 const char *default_name, const char *label, struct cfg_err *e)
{
	struct tls_conf *c = conf_new(0, tls, md, where, label, e);
	if (!c)
		return NULL;
	const char *name = tls && tls->server_name && *tls->server_name ? tls->server_name : default_name;
	if (name && *name) {
		unsigned char tmp[sizeof(struct in6_addr)];
		c->server_name = xstrdup(name);
		c->name_is_ip = inet_pton(AF_INET, name, tmp) == 1 || inet_pton(AF_INET6, name, tmp) == 1;
	}
	if (tls && tls->cert_file && *tls->cert_file && load_cert_key(c, tls, where, e) < 0)
		goto fail;
	if (tls && tls->key_file && *tls->key_file && !(tls->cert_file && *tls->cert_file)) {
		cfg_error(e, where, "tls.keyFile", "keyFile is set but certFile is not");
		goto fail;
	}
	int secure = tls && tls->secure;
	int have_ca = tls && tls->ca_file && *tls->ca_file;
	if (have_ca && load_ca(c, tls->ca_file, where, e) < 0)
		goto fail;
	if (secure && !have_ca) {
		/* The system bundle is read now, whole: a hashed directory would be
		 * searched file by file during handshakes, on the workers. */
		const char *bundle = getenv(X509_get_default_cert_file_env());
		if (!bundle || !*bundle)
			bundle = X509_get_default_cert_file();
		if (SSL_CTX_load_verify_locations(c->ctx, bundle, NULL) != 1) {
			ERR_clear_error();
			if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
				char why[256];
				openssl_reason(why, sizeof why);
				cfg_error(e, where, "tls.secure", "cannot load the system CA certificates: %s", why);
				goto fail;
			}
			log_warn("%s: no CA bundle at %s; system CA certificates will be looked up during handshakes",
				 c->label, bundle);
		}
	}
	/* As GOST: caFile alone verifies the chain; secure also verifies the name. */
	SSL_CTX_set_verify(c->ctx, secure || have_ca ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	c->verify_name = secure;
	if (secure && !c->server_name) {
		cfg_error(e, where, "tls.serverName", "secure is set but there is no server name to verify");
		goto fail;
	}
	if (c->alpn_len && SSL_CTX_set_alpn_protos(c->ctx, c->alpn, (unsigned)c->alpn_len) != 0) {
		cfg_error(e, where, "alpn", "cannot set the ALPN list");
		goto fail;
	}
	return c;
fail:
	tls_conf_unref(c);
	return NULL;
}

void tls_conf_ref(struct tls_conf *c) { __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED); }

void tls_conf_unref(struct tls_conf *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	SSL_CTX_free(c->ctx);
	free(c->alpn);
	free(c->server_name);
	free(c);
}

/* ---- the stream ---- */

enum tls_state {
	TLS_STARTING,   /* waiting for the deferred start */
	TLS_HANDSHAKE,
	TLS_OPEN,
};

struct tls_stream {
	struct stream base;
	struct stream *lower;        /* owned */
	SSL *ssl;                    /* owned; owns its two BIOs, whose data is this struct */
	const char *ext;             /* the lower stream's bytes, during its on_read call only */
	size_t ext_len, ext_off;
	char *in;                    /* owned: received bytes SSL has not read yet; NULL when none */
	size_t in_len, in_off;
	char *out;                   /* owned: records SSL wrote, until tls_flush; NULL when none */
	size_t out_len, out_cap;
	struct tls_conf *conf;       /* a reference, held until the handshake ends */
	enum tls_state state;
	stream_done_cb done;         /* handshake completion; NULL once called */
	void *done_ctx;
	ev_timer timer;              /* handshake deadline */
	unsigned lower_eof : 1, eof_sent : 1, drain_queued : 1;
	char label[128];
};

static void tls_drain(struct tls_stream *x);

/* ---- the BIOs under SSL ---- */

static int bio_out_write(BIO *b, const char *data, int len)
{
	struct tls_stream *x = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (x->out_len + (size_t)len > x->out_cap) {
		size_t cap = x->out_cap ? x->out_cap * 2 : 16384;
		while (cap < x->out_len + (size_t)len)
			cap *= 2;
		x->out = xrealloc(x->out, cap);
		x->out_cap = cap;
	}
	memcpy(x->out + x->out_len, data, (size_t)len);
	x->out_len += (size_t)len;
	return len;
}

static size_t bio_in_available(const struct tls_stream *x)
{
	return (x->in_len - x->in_off) + (x->ext_len - x->ext_off);
}

/* Kept bytes first, then the ones being delivered; empty: "retry later". */
static int bio_in_read(BIO *b, char *out, int len)
{
	struct tls_stream *x = BIO_get_data(b);
	size_t n = 0;
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (x->in_off < x->in_len) {
		n = x->in_len - x->in_off < (size_t)len ? x->in_len - x->in_off : (size_t)len;
		memcpy(out, x->in + x->in_off, n);
		x->in_off += n;
		if (x->in_off == x->in_len) {
			free(x->in);
			x->in = NULL;
			x->in_len = x->in_off = 0;
		}
	} else if (x->ext_off < x->ext_len) {
		n = x->ext_len - x->ext_off < (size_t)len ? x->ext_len - x->ext_off : (size_t)len;
		memcpy(out, x->ext + x->ext_off, n);
		x->ext_off += n;
	}
	if (!n) {
		BIO_set_retry_read(b);
		return -1;
	}
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_stream *x = BIO_get_data(b);
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* tls_flush hands the records on after every SSL call */
	case BIO_CTRL_PENDING:
		return x ? (long)bio_in_available(x) : 0;
	case BIO_CTRL_WPENDING:
		return x ? (long)x->out_len : 0;
	case BIO_C_GET_FD:
		return -1;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_in_method, *bio_out_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_methods_init(void)
{
	bio_in_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portway stream in");
	bio_out_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portway stream out");
	if (bio_in_method) {
		BIO_meth_set_read(bio_in_method, bio_in_read);
		BIO_meth_set_ctrl(bio_in_method, bio_ctrl);
		BIO_meth_set_create(bio_in_method, bio_create);
	}
	if (bio_out_method) {
		BIO_meth_set_write(bio_out_method, bio_out_write);
		BIO_meth_set_ctrl(bio_out_method, bio_ctrl);
		BIO_meth_set_create(bio_out_method, bio_create);
	}
}

/* Hand what SSL wrote to the lower stream; wqueued follows the lower queue. */
static int tls_flush(struct tls_stream *x)
{
	int r = 0;
	if (x->out_len) {
		r = stream_write(x->lower, x->out, x->out_len);
		x->out_len = 0;
	}
	if (x->out_cap > 16384) {
		/* A bulk write's buffer is not kept for an idle connection. */
		free(x->out);
		x->out = NULL;
		x->out_cap = 0;
	}
	x->base.wqueued = x->lower->wqueued;
	return r;
}

/* After the lower stream's bytes were offered to SSL: keep what it did not take. */
static void tls_keep_rest(struct tls_stream *x)
{
	size_t rest = x->ext_len - x->ext_off;
	if (rest) {
		if (x->in_off) {
			memmove(x->in, x->in + x->in_off, x->in_len - x->in_off);
			x->in_len -= x->in_off;
			x->in_off = 0;
		}
		x->in = xrealloc(x->in, x->in_len + rest);
		memcpy(x->in + x->in_len, x->ext + x->ext_off, rest);
		x->in_len += rest;
	}
	x->ext = NULL;
	x->ext_len = x->ext_off = 0;
}

/* Why a handshake or a read failed, for the log. */
static void tls_reason(struct tls_stream *x, int ssl_err, char *buf, size_t n)
{
	unsigned long e = ERR_peek_error();
	long vr = SSL_get_verify_result(x->ssl);
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	int verifying = SSL_get_verify_mode(x->ssl) != SSL_VERIFY_NONE;
	if (verifying && vr != X509_V_OK && (!e || ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED))
		snprintf(buf, n, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
	else if (r)
		snprintf(buf, n, "%s", r);
	else if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_WANT_READ)
		snprintf(buf, n, "connection closed by the peer");
	else
		snprintf(buf, n, "TLS error %d", ssl_err);
	ERR_clear_error();
}

static void tls_handshake_fail(struct tls_stream *x, int err, const char *why)
{
	const char *name = x->conf && x->conf->server_name ? x->conf->server_name : NULL;
	if (x->conf && x->conf->server)
		log_info("%s: TLS handshake with %s failed: %s", x->label, x->base.peer, why);
	else
		log_warn("%s: TLS handshake with %s%s%s%s failed: %s", x->label, x->base.peer, name ? " (server name " : "",
			 name ? name : "", name ? ")" : "", why);
	stream_done_cb cb = x->done;
	void *ctx = x->done_ctx;
	x->done = NULL;
	stream_close(&x->base);
	if (cb)
		cb(ctx, NULL, err);
}

static void tls_established(struct tls_stream *x)
{
	const unsigned char *proto = NULL;
	unsigned plen = 0;
	ev_timer_stop(x->base.w->loop, &x->timer);
	x->state = TLS_OPEN;
	SSL_get0_alpn_selected(x->ssl, &proto, &plen);
	if (proto && plen < sizeof x->base.alpn) {
		memcpy(x->base.alpn, proto, plen);
		x->base.alpn[plen] = 0;
	}
	log_debug("%s: TLS with %s: %s %s%s%s", x->label, x->base.peer, SSL_get_version(x->ssl),
		  SSL_get_cipher_name(x->ssl), x->base.alpn[0] ? ", ALPN " : "", x->base.alpn);
	tls_conf_unref(x->conf);
	x->conf = NULL;
	/* Application data that came with the last flight waits in the BIO for the new owner. */
	stream_read_stop(x->lower);
	stream_done_cb cb = x->done;
	x->done = NULL;
	cb(x->done_ctx, &x->base, 0);
}

static void tls_handshake_step(struct tls_stream *x)
{
	char why[256];
	ERR_clear_error();
	int r = SSL_do_handshake(x->ssl);
	int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(x->ssl, r);
	if (r != 1 && err != SSL_ERROR_WANT_READ) {
		tls_reason(x, err, why, sizeof why);
		tls_flush(x); /* the alert, so the peer learns why */
		tls_handshake_fail(x, EPROTO, why);
		return;
	}
	if (tls_flush(x) < 0) {
		tls_handshake_fail(x, ECONNRESET, "cannot write to the connection");
		return;
	}
	if (r == 1) {
		tls_established(x);
		return;
	}
	if (x->lower_eof)
		tls_handshake_fail(x, ECONNRESET, "connection closed during the handshake");
}

static void tls_lower_read(struct stream *lower, const char *data, size_t len)
{
	struct tls_stream *x = lower->ud;
	if (!len)
		x->lower_eof = 1;
	x->ext = data;
	x->ext_len = len;
	x->ext_off = 0;
	if (x->state != TLS_OPEN)
		tls_handshake_step(x);
	else
		tls_drain(x);
	/* x may be closed by now (its memory lives until the loop's next turn). */
	if (x->base.closed)
		return;
	tls_keep_rest(x);
}

static void tls_lower_event(struct stream *lower, enum stream_event ev, int err)
{
	struct tls_stream *x = lower->ud;
	if (ev == STREAM_EV_ERROR) {
		if (x->state != TLS_OPEN)
			tls_handshake_fail(x, err ? err : ECONNRESET, strerror(err ? err : ECONNRESET));
		else
			stream_emit_event(&x->base, STREAM_EV_ERROR, err);
		return;
	}
	x->base.wqueued = lower->wqueued;
	if (x->state == TLS_OPEN && !x->base.wqueued)
		stream_emit_event(&x->base, STREAM_EV_DRAINED, 0);
}

/*
 * Deliver plaintext while the owner reads; then the EOF, once. Records are
 * gathered up to TLS_READ_CHUNK before each delivery: one 64 KiB write
 * downstream costs far less than four 16 KiB ones.
 */
static void tls_drain(struct tls_stream *x)
{
	char buf[TLS_READ_CHUNK];
	size_t have = 0;
	while (x->base.reading && !x->base.closed && !x->eof_sent) {
		ERR_clear_error();
		int n = SSL_read(x->ssl, buf + have, (int)(sizeof buf - have));
		if (n > 0) {
			have += (size_t)n;
			if (have < sizeof buf)
				continue;
		}
		if (have) {
			/* What came before a pause, an end or an error is delivered first;
			 * the next SSL_read reports the same condition again. */
			stream_emit_read(&x->base, buf, have);
			have = 0;
			continue;
		}
		int err = SSL_get_error(x->ssl, n);
		/* Reading may have produced records to send (a TLS 1.3 key update answer). */
		if (tls_flush(x) < 0) {
			stream_emit_event(&x->base, STREAM_EV_ERROR, ECONNRESET);
			return;
		}
		if (err == SSL_ERROR_WANT_READ && !x->lower_eof)
			return;
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_ZERO_RETURN) {
			char why[256];
			tls_reason(x, err, why, sizeof why);
			log_debug("%s: TLS read from %s: %s", x->label, x->base.peer, why);
			stream_emit_event(&x->base, STREAM_EV_ERROR, EPROTO);
			return;
		}
		/* close_notify, or the lower stream ended (a truncation we accept, as most peers do). */
		x->eof_sent = 1;
		stream_emit_read(&x->base, NULL, 0);
		return;
	}
}

static void tls_drain_deferred(void *arg)
{
	struct tls_stream *x = arg;
	x->drain_queued = 0;
	if (!x->base.closed && x->state == TLS_OPEN)
		tls_drain(x);
}

static void tls_read_start(struct stream *s)
{
	struct tls_stream *x = (struct tls_stream *)s;
	if (x->state != TLS_OPEN)
		return;
	if (!x->lower_eof)
		stream_read_start(x->lower);
	if (!x->drain_queued && !x->eof_sent &&
	    (SSL_has_pending(x->ssl) || bio_in_available(x) || x->lower_eof)) {
		x->drain_queued = 1;
		worker_defer(s->w, tls_drain_deferred, x);
	}
}

static void tls_read_stop(struct stream *s)
{
	struct tls_stream *x = (struct tls_stream *)s;
	if (x->state == TLS_OPEN)
		stream_read_stop(x->lower);
}

static int tls_write(struct stream *s, const char *data, size_t len)
{
	struct tls_stream *x = (struct tls_stream *)s;
	if (x->state != TLS_OPEN)
		return -1;
	ERR_clear_error();
	while (len) {
		int chunk = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len;
		int n = SSL_write(x->ssl, data, chunk);
		if (n <= 0) {
			char why[256];
			tls_reason(x, SSL_get_error(x->ssl, n), why, sizeof why);
			log_debug("%s: TLS write to %s: %s", x->label, x->base.peer, why);
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return tls_flush(x);
}

static void tls_shutdown(struct stream *s)
{
	struct tls_stream *x = (struct tls_stream *)s;
	if (x->state == TLS_OPEN) {
		ERR_clear_error();
		SSL_shutdown(x->ssl); /* sends close_notify; the peer may go on writing (half close) */
		ERR_clear_error();
		tls_flush(x);
	}
	stream_shutdown(x->lower);
}

static void tls_close(struct stream *s)
{
	struct tls_stream *x = (struct tls_stream *)s;
	ev_timer_stop(s->w->loop, &x->timer);
	stream_close(x->lower);
	x->lower = NULL;
	SSL_free(x->ssl);
	x->ssl = NULL;
	free(x->in);
	x->in = NULL;
	free(x->out);
	x->out = NULL;
	tls_conf_unref(x->conf);
	x->conf = NULL;
}

static const struct stream_ops tls_ops = {
	.name = "tls",
	.read_start = tls_read_start,
	.read_stop = tls_read_stop,
	.write = tls_write,
	.shutdown = tls_shutdown,
	.close = tls_close,
	/* no fd: the pipe must copy through this layer, never splice past it */
};

static void tls_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct tls_stream *x = t->data;
	(void)loop;
	(void)revents;
	tls_handshake_fail(x, ETIMEDOUT, "timed out");
}

static void tls_start_deferred(void *arg)
{
	struct tls_stream *x = arg;
	if (!x->ssl) {
		tls_handshake_fail(x, ENOMEM, "cannot create a TLS session");
		return;
	}
	x->state = TLS_HANDSHAKE;
	ev_timer_start(x->base.w->loop, &x->timer);
	stream_read_start(x->lower);
	if (!x->conf->server)
		tls_handshake_step(x); /* the ClientHello */
}

static void tls_start(struct tls_conf *c, struct stream *lower, stream_done_cb cb, void *ctx)
{
	struct tls_stream *x = xcalloc(1, sizeof *x);
	stream_init(&x->base, &tls_ops, lower->w);
	x->lower = lower;
	stream_take_svc(&x->base, lower);
	memcpy(x->base.peer, lower->peer, sizeof x->base.peer);
	x->conf = c;
	tls_conf_ref(c);
	x->state = TLS_STARTING;
	x->done = cb;
	x->done_ctx = ctx;
	snprintf(x->label, sizeof x->label, "%s", c->label);
	ev_timer_init(&x->timer, tls_timeout_cb, c->handshake_timeout, 0);
	x->timer.data = x;
	stream_set_callbacks(lower, tls_lower_read, tls_lower_event, x);

	pthread_once(&bio_once, bio_methods_init);
	x->ssl = SSL_new(c->ctx);
	BIO *rbio = bio_in_method ? BIO_new(bio_in_method) : NULL;
	BIO *wbio = bio_out_method ? BIO_new(bio_out_method) : NULL;
	if (!x->ssl || !rbio || !wbio) {
		BIO_free(rbio);
		BIO_free(wbio);
		SSL_free(x->ssl);
		x->ssl = NULL;
	} else {
		BIO_set_data(rbio, x);
		BIO_set_data(wbio, x);
		SSL_set_bio(x->ssl, rbio, wbio);
		if (c->server) {
			SSL_set_accept_state(x->ssl);
		} else {
			SSL_set_connect_state(x->ssl);
			if (c->server_name && !c->name_is_ip)
				SSL_set_tlsext_host_name(x->ssl, c->server_name);
			if (c->verify_name) {
				X509_VERIFY_PARAM *vp = SSL_get0_param(x->ssl);
				if (c->name_is_ip)
					X509_VERIFY_PARAM_set1_ip_asc(vp, c->server_name);
				else
					SSL_set1_host(x->ssl, c->server_name);
			}
		}
	}
	worker_defer(lower->w, tls_start_deferred, x);
}

void tls_accept(struct tls_conf *c, struct stream *lower, stream_done_cb cb, void *ctx) { tls_start(c, lower, cb, ctx); }

void tls_connect(struct tls_conf *c, struct stream *lower, stream_done_cb cb, void *ctx)
{
	tls_start(c, lower, cb, ctx);
}
