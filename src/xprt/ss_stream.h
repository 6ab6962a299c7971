/*
 * Shadowsocks AEAD as a filter stream over any lower stream, shared by the
 * ss handler and the ss connector (the framing is proto/shadowsocks.c).
 *
 * Writes are encrypted into chunks; the first one carries a fresh random
 * salt. Reads are the decrypted payload, whatever the segmentation below.
 * A chunk that does not authenticate (a wrong key, garbage, a probe) fails
 * the stream for good: STREAM_EV_ERROR with EBADMSG once, then every byte
 * from below is read and discarded, writes fail, and the lower stream's
 * EOF still arrives as a read of length 0; so an owner may keep the
 * connection open and silent until the peer gives up (what ss-server does),
 * or close it. A stream whose salt was seen lately (a replay of a recorded
 * stream, or one of ours reflected back) fails the same way, once its first
 * chunk authenticates.
 */
#ifndef PORTWAY_SS_STREAM_H
#define PORTWAY_SS_STREAM_H
#include <stddef.h>
#include <stdint.h>

#include "proto/shadowsocks.h"
#include "src/conf/model.h"
#include "src/core/stream.h"

/* A method and the key derived from its password, parsed once from an auth. */
struct ss_cfg {
	const struct ss_method *m;
	uint8_t key[SS_KEY_MAX];
};

/*
 * From auth (username: the method, password: the password), as GOST reads
 * them. A missing auth or an unknown method is a configuration error at
 * where/field naming the supported methods. -1 with e filled.
 */
int ss_cfg_parse(struct ss_cfg *c, const struct auth_cfg *auth, const struct cnode *where, const char *field,
		 struct cfg_err *e);

/*
 * The filter over lower (owned from now on; NULL, with lower closed, only if
 * the cipher cannot be set up). c is copied. prefix (may be NULL): plaintext
 * that goes before the first write's bytes, in the same chunk (a client's
 * target address); if nothing is written within prefix_wait seconds, or the
 * owner shuts down first, it goes alone. prefix_wait <= 0: only with a write
 * or the shutdown.
 */
struct stream *ss_stream_new(struct stream *lower, const struct ss_cfg *c, const void *prefix, size_t prefix_len,
			     double prefix_wait);

/*
 * Shadowsocks UDP over a datagram stream (the ssu handler's and connector's;
 * the packet format is in proto/shadowsocks.h): every write is one packet
 * with a fresh random salt, every packet from below that opens is one read.
 * A packet that does not open (a wrong key, garbage, too short), whose salt
 * was seen lately (a replay), or whose plaintext does not start with a valid
 * SOCKS address is dropped without a word, as shadowsocks-libev does; so is
 * one with nothing after the address (an empty read would be an EOF).
 *  - target NULL (a server): reads and writes are the plaintext, the
 *    address in front (the target from the client, the source back to it).
 *  - target set (a client): the address goes in front of every write, and
 *    reads are what follows the address.
 * lower is owned from now on; c and target are copied. NULL (lower closed)
 * only if the target cannot be encoded.
 */
struct socks5_addr;
struct stream *ss_packet_stream_new(struct stream *lower, const struct ss_cfg *c, const struct socks5_addr *target);

#endif
