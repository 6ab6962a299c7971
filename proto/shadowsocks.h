/*
 * Shadowsocks AEAD stream framing (SIP004, the shadowsocks AEAD spec), without I/O.
 *
 * Each direction of a connection is: salt (as long as the key), then chunks
 *   [encrypted 2-byte big-endian length (at most 0x3FFF)][tag]
 *   [encrypted payload][tag]
 * with subkey = HKDF-SHA1(key, salt, "ss-subkey") and a 12-byte little-endian
 * nonce counter starting at zero, incremented after every seal and open (two
 * per chunk). The key comes from the password with shadowsocks' kdf (the MD5
 * chain of OpenSSL's EVP_BytesToKey). The first plaintext a client sends is
 * the target as SOCKS5 carries it: ATYP, address, port (proto/socks5.h).
 *
 * GOST's extra method "none" (alias "dummy") keeps the framing (a 16-byte
 * salt nobody reads, lengths, payloads) without encryption or tags.
 *
 * Crypto goes through OpenSSL's EVP; a decoder or encoder holds one
 * EVP_CIPHER_CTX, released by its _free function.
 */
#ifndef PORTWAY_SHADOWSOCKS_H
#define PORTWAY_SHADOWSOCKS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SS_KEY_MAX 32
#define SS_SALT_MAX 32
#define SS_TAG_LEN 16
#define SS_NONCE_LEN 12
#define SS_PAYLOAD_MAX 0x3FFF
/* The largest chunk on the wire: length, its tag, payload, its tag. */
#define SS_CHUNK_MAX (2 + SS_TAG_LEN + SS_PAYLOAD_MAX + SS_TAG_LEN)

enum ss_cipher {
	SS_CIPHER_NONE,
	SS_CIPHER_AES_128_GCM,
	SS_CIPHER_AES_192_GCM,
	SS_CIPHER_AES_256_GCM,
	SS_CIPHER_CHACHA20_POLY1305,
};

struct ss_method {
	const char *name;           /* as configured: "aes-256-gcm" */
	enum ss_cipher cipher;
	size_t key_len;             /* key and salt length (0 key for none) */
	size_t salt_len;
	size_t tag_len;             /* 16, or 0 for none */
};

/* Case-insensitive, as GOST's cipher lookup; NULL when unknown. */
const struct ss_method *ss_method_find(const char *name);
/* "aes-128-gcm, aes-192-gcm, ...": the supported names, for error messages. */
const char *ss_method_names(void);

/* shadowsocks' kdf: D1 = MD5(password), Di = MD5(Di-1 | password), key = D1 | D2 ... cut to key_len. */
int ss_password_key(const struct ss_method *m, const char *password, size_t len, uint8_t key[SS_KEY_MAX]);
/* HKDF-SHA1(key, salt, "ss-subkey"), key_len bytes. 0, or -1 if OpenSSL fails. */
int ss_subkey(const struct ss_method *m, const uint8_t *key, const uint8_t *salt, uint8_t subkey[SS_KEY_MAX]);

enum ss_error {
	SS_ERR_AUTH = -1,           /* a tag did not verify: wrong key, or tampered bytes */
	SS_ERR_LENGTH = -2,         /* a length over 0x3FFF (the reserved high bits set) */
	SS_ERR_CRYPTO = -3,         /* OpenSSL failed (no memory, cipher missing) */
	SS_ERR_SHORT = -4,          /* a UDP packet shorter than its salt and tag */
	SS_ERR_ADDRESS = -5,        /* a UDP packet's plaintext does not start with a valid SOCKS address */
	SS_ERR_SPACE = -6,          /* the output buffer is too small */
};
const char *ss_strerror(int err);

/* The state shared by both directions: one cipher context, its subkey and the nonce. */
struct ss_aead {
	const struct ss_method *m;
	void *ctx;                  /* EVP_CIPHER_CTX, owned */
	uint8_t nonce[SS_NONCE_LEN];
};

enum ss_dec_state {
	SS_DEC_SALT,                /* collecting the salt */
	SS_DEC_LENGTH,              /* collecting the length and its tag */
	SS_DEC_PAYLOAD,             /* collecting the payload and its tag */
	SS_DEC_FAILED,              /* an error was returned; every further call returns it again */
};

struct ss_decoder {
	const struct ss_method *m;
	uint8_t key[SS_KEY_MAX];
	uint8_t salt[SS_SALT_MAX];  /* once read (for a replay filter) */
	enum ss_dec_state state;
	int err;                    /* the error, in SS_DEC_FAILED */
	struct ss_aead aead;
	size_t need;                /* bytes of the current unit (salt, length, payload) */
	size_t have;                /* of them in buf */
	uint8_t buf[SS_PAYLOAD_MAX + SS_TAG_LEN];
};

/* 0, or SS_ERR_CRYPTO. The decoder must be released with ss_decoder_free either way. */
int ss_decoder_init(struct ss_decoder *d, const struct ss_method *m, const uint8_t *key);
void ss_decoder_free(struct ss_decoder *d);

/*
 * Feed bytes from in, any segmentation. Consumes (*used) up to the end of at
 * most one chunk. Returns 1 when a chunk is complete: its plaintext (*outlen
 * bytes, 0 for an empty chunk) is in out, which holds SS_PAYLOAD_MAX; 0 when
 * all of in was consumed without completing a chunk (need more); or an
 * enum ss_error, after which the decoder stays failed.
 */
int ss_decode(struct ss_decoder *d, const uint8_t *in, size_t len, size_t *used, uint8_t *out, size_t *outlen);
/* Whether the salt has been read (then d->salt holds it). */
int ss_decoder_has_salt(const struct ss_decoder *d);

struct ss_encoder {
	const struct ss_method *m;
	uint8_t salt[SS_SALT_MAX];
	int salt_sent;
	struct ss_aead aead;
};

/* salt: salt_len random bytes chosen by the caller. 0, or SS_ERR_CRYPTO (free it either way). */
int ss_encoder_init(struct ss_encoder *e, const struct ss_method *m, const uint8_t *key, const uint8_t *salt);
void ss_encoder_free(struct ss_encoder *e);
/* Bytes ss_encode writes for len plaintext bytes (the salt too if not sent yet). */
size_t ss_encoded_size(const struct ss_encoder *e, size_t len);
/*
 * The salt (first call only), then len bytes as chunks of at most
 * SS_PAYLOAD_MAX each; len 0 writes only a pending salt. Returns the bytes
 * written, -1 if cap is short, or SS_ERR_CRYPTO.
 */
ssize_t ss_encode(struct ss_encoder *e, const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/*
 * Shadowsocks AEAD UDP: every datagram stands alone,
 *   [salt][AEAD(subkey from HKDF-SHA1(key, salt, "ss-subkey"), nonce 0) of plaintext][tag]
 * and its plaintext is [SOCKS5 address][payload]: the target from a client,
 * the source of the reply from a server. With "none": [16-byte salt][plaintext].
 * a->ctx is a cipher context reused from packet to packet (NULL at first,
 * released with ss_aead_free); a->nonce is reset for every packet.
 */
void ss_aead_free(struct ss_aead *a);
/* Bytes a packet adds to its plaintext: the salt and the tag. */
size_t ss_packet_overhead(const struct ss_method *m);
/* salt: salt_len random bytes chosen by the caller. Returns the packet's length, or SS_ERR_SPACE
 * (cap short), SS_ERR_CRYPTO. in and out may not overlap. */
ssize_t ss_packet_seal(struct ss_aead *a, const struct ss_method *m, const uint8_t *key, const uint8_t *salt,
		       const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* The plaintext of pkt into out (pkt's length minus the overhead; cap at least that). Returns its length,
 * or SS_ERR_SHORT, SS_ERR_AUTH (wrong key, tampered), SS_ERR_SPACE, SS_ERR_CRYPTO. The salt is pkt's first
 * salt_len bytes (for a replay filter). */
ssize_t ss_packet_open(struct ss_aead *a, const struct ss_method *m, const uint8_t *key, const uint8_t *pkt,
		       size_t len, uint8_t *out, size_t cap);
/* The address in front of a packet's plaintext: its length (the payload follows), or SS_ERR_ADDRESS
 * (an unknown type, a truncated address, an empty domain). */
struct socks5_addr;
int ss_packet_addr(const uint8_t *plain, size_t len, struct socks5_addr *addr);

#endif
