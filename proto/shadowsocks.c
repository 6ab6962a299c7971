/* Shadowsocks AEAD stream framing (see shadowsocks.h). */
#include "proto/shadowsocks.h"
#include "proto/socks5.h"

#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>

static const struct ss_method methods[] = {
	{ "aes-128-gcm", SS_CIPHER_AES_128_GCM, 16, 16, SS_TAG_LEN },
	{ "aes-192-gcm", SS_CIPHER_AES_192_GCM, 24, 24, SS_TAG_LEN },
	{ "aes-256-gcm", SS_CIPHER_AES_256_GCM, 32, 32, SS_TAG_LEN },
	{ "chacha20-ietf-poly1305", SS_CIPHER_CHACHA20_POLY1305, 32, 32, SS_TAG_LEN },
	{ "none", SS_CIPHER_NONE, 0, 16, 0 },
	{ "dummy", SS_CIPHER_NONE, 0, 16, 0 },
};

const struct ss_method *ss_method_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
		if (!strcasecmp(methods[i].name, name))
			return &methods[i];
	return NULL;
}

const char *ss_method_names(void)
{
	return "aes-128-gcm, aes-192-gcm, aes-256-gcm, chacha20-ietf-poly1305, none (dummy)";
}

const char *ss_strerror(int err)
{
	switch (err) {
	case SS_ERR_AUTH:
		return "authentication failed (wrong key or corrupted data)";
	case SS_ERR_LENGTH:
		return "chunk length over 0x3FFF";
	case SS_ERR_CRYPTO:
		return "cipher failure";
	case SS_ERR_SHORT:
		return "packet shorter than its salt and tag";
	case SS_ERR_ADDRESS:
		return "no valid address in the packet";
	case SS_ERR_SPACE:
		return "output buffer too small";
	default:
		return "unknown error";
	}
}

/* ---- keys ---- */

int ss_password_key(const struct ss_method *m, const char *password, size_t len, uint8_t key[SS_KEY_MAX])
{
	uint8_t d[EVP_MAX_MD_SIZE], in[EVP_MAX_MD_SIZE];
	size_t got = 0, prev = 0;
	int ok = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		return -1;
	while (got < m->key_len) {
		unsigned dl = 0;
		if (EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1 || EVP_DigestUpdate(md, in, prev) != 1 ||
		    EVP_DigestUpdate(md, password, len) != 1 || EVP_DigestFinal_ex(md, d, &dl) != 1)
			goto out;
		size_t take = m->key_len - got < dl ? m->key_len - got : dl;
		memcpy(key + got, d, take);
		got += take;
		memcpy(in, d, dl);
		prev = dl;
	}
	ok = 1;
out:
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

int ss_subkey(const struct ss_method *m, const uint8_t *key, const uint8_t *salt, uint8_t subkey[SS_KEY_MAX])
{
	static const unsigned char info[] = "ss-subkey";
	size_t outlen = m->key_len;
	int ok = 0;
	if (!m->key_len)
		return 0;
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	if (p && EVP_PKEY_derive_init(p) > 0 && EVP_PKEY_CTX_set_hkdf_md(p, EVP_sha1()) > 0 &&
	    EVP_PKEY_CTX_set1_hkdf_salt(p, salt, (int)m->salt_len) > 0 &&
	    EVP_PKEY_CTX_set1_hkdf_key(p, key, (int)m->key_len) > 0 &&
	    EVP_PKEY_CTX_add1_hkdf_info(p, info, (int)sizeof info - 1) > 0 &&
	    EVP_PKEY_derive(p, subkey, &outlen) > 0 && outlen == m->key_len)
		ok = 1;
	EVP_PKEY_CTX_free(p);
	return ok ? 0 : -1;
}

/* ---- one AEAD context ---- */

static const EVP_CIPHER *evp_cipher(enum ss_cipher c)
{
	switch (c) {
	case SS_CIPHER_AES_128_GCM:
		return EVP_aes_128_gcm();
	case SS_CIPHER_AES_192_GCM:
		return EVP_aes_192_gcm();
	case SS_CIPHER_AES_256_GCM:
		return EVP_aes_256_gcm();
	case SS_CIPHER_CHACHA20_POLY1305:
		return EVP_chacha20_poly1305();
	default:
		return NULL;
	}
}

/* A new subkey from key and salt; the nonce restarts at zero. */
static int aead_init(struct ss_aead *a, const struct ss_method *m, const uint8_t *key, const uint8_t *salt, int enc)
{
	uint8_t subkey[SS_KEY_MAX];
	a->m = m;
	memset(a->nonce, 0, sizeof a->nonce);
	if (m->cipher == SS_CIPHER_NONE)
		return 0;
	if (ss_subkey(m, key, salt, subkey) < 0)
		return SS_ERR_CRYPTO;
	if (!a->ctx && !(a->ctx = EVP_CIPHER_CTX_new()))
		return SS_ERR_CRYPTO;
	int ok = EVP_CipherInit_ex(a->ctx, evp_cipher(m->cipher), NULL, NULL, NULL, enc) == 1 &&
		 EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_IVLEN, SS_NONCE_LEN, NULL) == 1 &&
		 EVP_CipherInit_ex(a->ctx, NULL, NULL, subkey, NULL, enc) == 1;
	memset(subkey, 0, sizeof subkey);
	return ok ? 0 : SS_ERR_CRYPTO;
}

static void aead_free(struct ss_aead *a)
{
	EVP_CIPHER_CTX_free(a->ctx);
	a->ctx = NULL;
}

static void nonce_increment(uint8_t *n)
{
	for (size_t i = 0; i < SS_NONCE_LEN; i++)
		if (++n[i])
			return;
}

/* in (len bytes) to out (len bytes) then the tag. */
static int aead_seal(struct ss_aead *a, const uint8_t *in, size_t len, uint8_t *out)
{
	int n = 0, fin = 0;
	if (a->m->cipher == SS_CIPHER_NONE) {
		memmove(out, in, len);
		return 0;
	}
	int ok = EVP_EncryptInit_ex(a->ctx, NULL, NULL, NULL, a->nonce) == 1 &&
		 EVP_EncryptUpdate(a->ctx, out, &n, in, (int)len) == 1 &&
		 EVP_EncryptFinal_ex(a->ctx, out + n, &fin) == 1 &&
		 EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, SS_TAG_LEN, out + len) == 1;
	nonce_increment(a->nonce);
	return ok ? 0 : SS_ERR_CRYPTO;
}

/* in: len ciphertext bytes then the tag; out: len plaintext bytes (not to be used on failure). */
static int aead_open(struct ss_aead *a, const uint8_t *in, size_t len, uint8_t *out)
{
	int n = 0, fin = 0;
	if (a->m->cipher == SS_CIPHER_NONE) {
		memmove(out, in, len);
		return 0;
	}
	if (EVP_DecryptInit_ex(a->ctx, NULL, NULL, NULL, a->nonce) != 1 ||
	    EVP_DecryptUpdate(a->ctx, out, &n, in, (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, SS_TAG_LEN, (void *)(in + len)) != 1)
		return SS_ERR_CRYPTO;
	int r = EVP_DecryptFinal_ex(a->ctx, out + n, &fin);
	nonce_increment(a->nonce);
	return r == 1 ? 0 : SS_ERR_AUTH;
}

/* ---- decoder ---- */

int ss_decoder_init(struct ss_decoder *d, const struct ss_method *m, const uint8_t *key)
{
	memset(d, 0, offsetof(struct ss_decoder, buf));
	d->m = m;
	if (m->key_len)
		memcpy(d->key, key, m->key_len);
	d->state = SS_DEC_SALT;
	d->need = m->salt_len;
	if (m->cipher != SS_CIPHER_NONE && !(d->aead.ctx = EVP_CIPHER_CTX_new())) {
		d->state = SS_DEC_FAILED;
		d->err = SS_ERR_CRYPTO;
		return SS_ERR_CRYPTO;
	}
	return 0;
}

void ss_decoder_free(struct ss_decoder *d)
{
	aead_free(&d->aead);
	memset(d->key, 0, sizeof d->key);
}

int ss_decoder_has_salt(const struct ss_decoder *d) { return d->state != SS_DEC_SALT; }

static int dec_fail(struct ss_decoder *d, int err)
{
	d->state = SS_DEC_FAILED;
	d->err = err;
	return err;
}

/* One complete unit (salt, length or payload with its tag) at p. Returns 1 when it ends a chunk. */
static int dec_unit(struct ss_decoder *d, const uint8_t *p, uint8_t *out, size_t *outlen)
{
	uint8_t len[2];
	int r;
	switch (d->state) {
	case SS_DEC_SALT:
		memcpy(d->salt, p, d->m->salt_len);
		if ((r = aead_init(&d->aead, d->m, d->key, d->salt, 0)) < 0)
			return dec_fail(d, r);
		d->state = SS_DEC_LENGTH;
		d->need = 2 + d->m->tag_len;
		return 0;
	case SS_DEC_LENGTH:
		if ((r = aead_open(&d->aead, p, 2, len)) < 0)
			return dec_fail(d, r);
		size_t n = (size_t)len[0] << 8 | len[1];
		if (n > SS_PAYLOAD_MAX)
			return dec_fail(d, SS_ERR_LENGTH);
		d->state = SS_DEC_PAYLOAD;
		d->need = n + d->m->tag_len;
		return 0;
	case SS_DEC_PAYLOAD:
		if ((r = aead_open(&d->aead, p, d->need - d->m->tag_len, out)) < 0)
			return dec_fail(d, r);
		*outlen = d->need - d->m->tag_len;
		d->state = SS_DEC_LENGTH;
		d->need = 2 + d->m->tag_len;
		return 1;
	default:
		return d->err;
	}
}

int ss_decode(struct ss_decoder *d, const uint8_t *in, size_t len, size_t *used, uint8_t *out, size_t *outlen)
{
	*used = 0;
	*outlen = 0;
	while (d->state != SS_DEC_FAILED) {
		const uint8_t *unit;
		size_t avail = len - *used;
		if (!d->have && avail >= d->need) {
			/* The whole unit is in the input: no copy. */
			unit = in + *used;
			*used += d->need;
		} else {
			if (!avail)
				return 0;
			size_t take = d->need - d->have < avail ? d->need - d->have : avail;
			memcpy(d->buf + d->have, in + *used, take);
			d->have += take;
			*used += take;
			if (d->have < d->need)
				return 0;
			unit = d->buf;
		}
		d->have = 0;
		int r = dec_unit(d, unit, out, outlen);
		if (r != 0)
			return r;
	}
	return d->err;
}

/* ---- encoder ---- */

int ss_encoder_init(struct ss_encoder *e, const struct ss_method *m, const uint8_t *key, const uint8_t *salt)
{
	memset(e, 0, sizeof *e);
	e->m = m;
	memcpy(e->salt, salt, m->salt_len);
	return aead_init(&e->aead, m, key, salt, 1);
}

void ss_encoder_free(struct ss_encoder *e) { aead_free(&e->aead); }

size_t ss_encoded_size(const struct ss_encoder *e, size_t len)
{
	size_t chunks = (len + SS_PAYLOAD_MAX - 1) / SS_PAYLOAD_MAX;
	return (e->salt_sent ? 0 : e->m->salt_len) + len + chunks * (2 + 2 * e->m->tag_len);
}

ssize_t ss_encode(struct ss_encoder *e, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	size_t off = 0;
	if (ss_encoded_size(e, len) > cap)
		return -1;
	if (!e->salt_sent) {
		memcpy(out, e->salt, e->m->salt_len);
		off = e->m->salt_len;
		e->salt_sent = 1;
	}
	while (len) {
		size_t n = len < SS_PAYLOAD_MAX ? len : SS_PAYLOAD_MAX;
		uint8_t l[2] = { (uint8_t)(n >> 8), (uint8_t)n };
		if (aead_seal(&e->aead, l, 2, out + off) < 0)
			return SS_ERR_CRYPTO;
		off += 2 + e->m->tag_len;
		if (aead_seal(&e->aead, in, n, out + off) < 0)
			return SS_ERR_CRYPTO;
		off += n + e->m->tag_len;
		in += n;
		len -= n;
	}
	return (ssize_t)off;
}

/* ---- UDP packets ---- */

void ss_aead_free(struct ss_aead *a) { aead_free(a); }

size_t ss_packet_overhead(const struct ss_method *m) { return m->salt_len + m->tag_len; }

ssize_t ss_packet_seal(struct ss_aead *a, const struct ss_method *m, const uint8_t *key, const uint8_t *salt,
		       const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	if (cap < ss_packet_overhead(m) || len > cap - ss_packet_overhead(m))
		return SS_ERR_SPACE;
	int r = aead_init(a, m, key, salt, 1);
	if (r < 0)
		return r;
	memcpy(out, salt, m->salt_len);
	if (aead_seal(a, in, len, out + m->salt_len) < 0)
		return SS_ERR_CRYPTO;
	return (ssize_t)(len + ss_packet_overhead(m));
}

ssize_t ss_packet_open(struct ss_aead *a, const struct ss_method *m, const uint8_t *key, const uint8_t *pkt,
		       size_t len, uint8_t *out, size_t cap)
{
	if (len < ss_packet_overhead(m))
		return SS_ERR_SHORT;
	size_t n = len - ss_packet_overhead(m);
	if (cap < n)
		return SS_ERR_SPACE;
	int r = aead_init(a, m, key, pkt, 0);
	if (r < 0)
		return r;
	if ((r = aead_open(a, pkt + m->salt_len, n, out)) < 0)
		return r;
	return (ssize_t)n;
}

int ss_packet_addr(const uint8_t *plain, size_t len, struct socks5_addr *addr)
{
	/* A datagram is complete: an address that needs more bytes is as bad as a wrong type. */
	int n = socks5_addr_parse(plain, len, addr);
	return n > 0 ? n : SS_ERR_ADDRESS;
}
