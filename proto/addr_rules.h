/*
 * Client address rules as GOST writes them (x/admission, x/limiter/conn,
 * x/limiter/rate): an IP address or a CIDR, and the limit lines of
 * climiters and rlimiters ("$ 1000", "$$ 100", "192.168.1.1 10",
 * "10.0.0.0/8 5"). Text in, struct out; no I/O.
 *
 * Addresses are 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), with a
 * family flag: as Go's netip.Addr.Unmap, a client "::ffff:10.1.2.3" is the
 * IPv4 address 10.1.2.3, and an IPv6 prefix never contains an IPv4 address.
 */
#ifndef PORTWAY_PROTO_ADDR_RULES_H
#define PORTWAY_PROTO_ADDR_RULES_H
#include <stddef.h>
#include <stdint.h>

struct ip_addr {
	unsigned char b[16];        /* IPv4: ::ffff:a.b.c.d */
	int v4;
};

/* An IP address or a network: bits counts from the start of b (IPv4 /N is N + 96). */
struct ip_prefix {
	struct ip_addr a;
	int bits;
	int is_net;                 /* written as a CIDR (a bare address is a /32 or /128 too) */
};

/* A textual IP ("10.1.2.3", "::1", "::ffff:10.1.2.3", no zone, no port). 0 on success. */
int ip_addr_parse(const char *s, size_t len, struct ip_addr *out);
/* The host of a printable peer "1.2.3.4:5", "[::1]:5", or a bare address. 0 on success. */
int ip_addr_from_peer(const char *peer, struct ip_addr *out);
/* An address or a CIDR "10.0.0.0/8", "fd00::/8" (Go's net.ParseCIDR: the host bits may be set;
 * an IPv4-mapped IPv6 network is the IPv4 one, at most /32, as GOST's matcher unmaps it). */
int ip_prefix_parse(const char *s, size_t len, struct ip_prefix *out);
int ip_prefix_contains(const struct ip_prefix *p, const struct ip_addr *a);

/* One limit line: "KEY VALUE", fields split by spaces or tabs; fields after the second are
 * ignored, as GOST does. */
enum limit_key { LIMIT_GLOBAL /* "$" */, LIMIT_PER_IP /* "$$" */, LIMIT_ADDR /* IP or CIDR */ };

struct limit_line {
	enum limit_key key;
	struct ip_prefix prefix;    /* LIMIT_ADDR */
	double value;               /* <= 0: GOST skips the line (no limit for that key) */
};

/* 0 on success; -1 with a reason in why (a static string). whole: the value must be a whole
 * number (climiters: connections); else a decimal (rlimiters: requests per second). Comments
 * ('#') are the file reader's to cut: here a '#' is an unknown key. */
int limit_line_parse(const char *line, size_t len, int whole, struct limit_line *out, const char **why);

#endif
