/* Users and bypass lists. */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/conf/model.h"
#include "src/core/util.h"

/* As GOST: named authers replace the single auth, and an auth without a user name is none. */
int service_auth_required(const struct service *s)
{
	return (s->handler.auth.username && *s->handler.auth.username) || s->handler.n_authers;
}

/* GOST keeps users in a map: a later entry for a name replaces an earlier one, an empty
 * name is no user, and an empty password accepts any password. Every entry is compared,
 * so the time taken does not tell which user exists. */
static int users_check(const struct user *u, size_t n, const char *user, const char *pass)
{
	int ok = 0;
	for (size_t j = 0; j < n; j++) {
		int same = *u[j].username && secret_equal(u[j].username, user);
		int good = (u[j].password[0] == 0) | secret_equal(u[j].password, pass);
		ok = (ok & !same) | (good & same);
	}
	return ok;
}

int auth_cfg_set(const struct auth_cfg *a) { return a->username && *a->username; }

int auth_cfg_check(const struct auth_cfg *a, const char *user, const char *pass)
{
	if (!auth_cfg_set(a))
		return 1;
	struct user one = { a->username, a->password ? a->password : "" };
	return users_check(&one, 1, user ? user : "", pass ? pass : "");
}

int service_auth_check(const struct service *s, const char *user, const char *pass)
{
	int ok = 0;
	if (!service_auth_required(s))
		return 1;
	if (!user)
		user = "";
	if (!pass)
		pass = "";
	if (!s->handler.n_authers) {
		struct user one = { s->handler.auth.username, s->handler.auth.password ? s->handler.auth.password : "" };
		return users_check(&one, 1, user, pass);
	}
	for (size_t i = 0; i < s->handler.n_authers; i++) {
		const struct auther *a = s->handler.authers[i];
		ok |= users_check(a->users, a->n_users, user, pass);
	}
	return ok;
}

int api_auth_required(const struct api_cfg *a) { return (a->auth.username && *a->auth.username) || a->auther; }

/* Either api.auth or a user of api.auther, as GOST's authenticator group; every entry is compared. */
int api_auth_check(const struct api_cfg *a, const char *user, const char *pass)
{
	int ok = 0;
	if (!api_auth_required(a))
		return 1;
	if (!user)
		user = "";
	if (!pass)
		pass = "";
	if (a->auth.username && *a->auth.username) {
		struct user one = { a->auth.username, a->auth.password ? a->auth.password : "" };
		ok |= users_check(&one, 1, user, pass);
	}
	if (a->auther)
		ok |= users_check(a->auther->users, a->auther->n_users, user, pass);
	return ok;
}

/* A textual IP as 16 bytes (IPv4 mapped, as Go's netip.Unmap compares them); 0 if not an IP. */
static int ip_parse(const char *s, unsigned char out[16])
{
	unsigned char v4[4];
	if (inet_pton(AF_INET6, s, out) == 1)
		return 1;
	if (inet_pton(AF_INET, s, v4) != 1)
		return 0;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
	return 1;
}

static int is_mapped(const unsigned char a[16])
{
	static const unsigned char prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return !memcmp(a, prefix, 12);
}

static int cidr_match(const char *pattern, const char *host)
{
	char net[64];
	const char *slash = strchr(pattern, '/');
	unsigned char a[16], b[16];
	char *end;
	if (!slash || (size_t)(slash - pattern) >= sizeof net)
		return 0;
	memcpy(net, pattern, (size_t)(slash - pattern));
	net[slash - pattern] = 0;
	long bits = strtol(slash + 1, &end, 10);
	if (*end || slash[1] == 0 || !ip_parse(net, a) || !ip_parse(host, b) || is_mapped(a) != is_mapped(b))
		return 0;
	if (is_mapped(a))
		bits += 96;
	if (bits < 0 || bits > 128)
		return 0;
	for (long i = 0; i < bits; i++)
		if ((a[i / 8] ^ b[i / 8]) & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

/* A client allow-list entry: an IP address, a CIDR ("127.0.0.0/8", "::1/128") or a range
 * "a-b" of one family. IPv4-mapped IPv6 clients match IPv4 entries (ip_parse maps both). */
int addr_pattern_is_ip(const char *p)
{
	unsigned char a[16], b[16];
	char net[64];
	const char *sep = strchr(p, '/');
	if (!sep)
		sep = strchr(p, '-');
	if (!sep)
		return ip_parse(p, a);
	if ((size_t)(sep - p) >= sizeof net)
		return 0;
	memcpy(net, p, (size_t)(sep - p));
	net[sep - p] = 0;
	if (!ip_parse(net, a))
		return 0;
	if (*sep == '-')
		return ip_parse(sep + 1, b) && is_mapped(a) == is_mapped(b) && memcmp(a, b, 16) <= 0;
	char *end;
	long bits = strtol(sep + 1, &end, 10);
	return sep[1] && !*end && bits >= 0 && bits <= (is_mapped(a) && !strchr(net, ':') ? 32 : 128);
}

/* "lo-hi" of IP addresses of one family, inclusive. */
static int range_match(const char *p, const char *host)
{
	char lo[64];
	const char *dash = strchr(p, '-');
	unsigned char a[16], b[16], h[16];
	if (!dash || (size_t)(dash - p) >= sizeof lo)
		return 0;
	memcpy(lo, p, (size_t)(dash - p));
	lo[dash - p] = 0;
	if (!ip_parse(lo, a) || !ip_parse(dash + 1, b) || !ip_parse(host, h) || is_mapped(a) != is_mapped(h))
		return 0;
	return memcmp(a, h, 16) <= 0 && memcmp(h, b, 16) <= 0;
}

/* ":80" or ":8000-8100" after a pattern's host; no (or an unreadable) port spec means any port. */
static int port_match(const char *spec, uint16_t port)
{
	char *end;
	long lo, hi;
	if (!spec || !*spec)
		return 1;
	lo = strtol(spec, &end, 10);
	hi = lo;
	if (*end == '-')
		hi = strtol(end + 1, &end, 10);
	if (*end || lo < 0 || hi > 65535)
		return 1;
	return port >= lo && port <= hi;
}

/* Splits "host", "host:port", "[v6]:port" (a bare IPv6 literal has no port) into host and port spec. */
static const char *split_pattern(const char *p, char *host, size_t hostlen)
{
	const char *colon = strchr(p, ':'), *spec = NULL;
	size_t n = strlen(p);
	if (p[0] == '[' && strchr(p, ']')) {
		const char *rb = strchr(p, ']');
		n = (size_t)(rb - p - 1);
		p++;
		spec = rb[1] == ':' ? rb + 2 : NULL;
	} else if (colon && !strchr(colon + 1, ':')) {
		n = (size_t)(colon - p);
		spec = colon + 1;
	}
	if (n >= hostlen)
		n = hostlen - 1;
	memcpy(host, p, n);
	host[n] = 0;
	return spec;
}

/* GOST's matchers (x/internal/matcher): CIDR, "*?" wildcard, IP range "a-b", else an address:
 * the host itself, or ".example.com" for the domain and all its subdomains; the last three may
 * carry a port or a port range. */
static int pattern_match(const char *p, const char *host, uint16_t port)
{
	char ph[300];
	const char *spec;
	if (strchr(p, '/'))
		return cidr_match(p, host);
	spec = split_pattern(p, ph, sizeof ph);
	if (strpbrk(ph, "*?"))
		return fnmatch(ph, host, FNM_CASEFOLD) == 0 && port_match(spec, port);
	if (!spec && strchr(ph, '-') && range_match(ph, host))
		return 1;
	if (!port_match(spec, port))
		return 0;
	if (ph[0] == '.') /* ".example.com": the domain and every subdomain */
		return !strcasecmp(host, ph + 1) ||
		       (strlen(host) > strlen(ph) && !strcasecmp(host + strlen(host) - strlen(ph), ph));
	unsigned char a[16], b[16];
	if (ip_parse(ph, a) && ip_parse(host, b))
		return !memcmp(a, b, 16);
	return !strcasecmp(ph, host);
}

/* One list, as GOST's bypass decides: a list for another network does not apply; a list with a
 * network and no patterns takes that whole network (bypassed, or in whitelist mode the only one
 * proxied); else a match bypasses, or in whitelist mode a miss does. As in GOST, a list with
 * neither patterns nor network bypasses nothing, even in whitelist mode. */
static int bypass_list_match(const struct bypass *b, const char *network, const char *host, uint16_t port)
{
	int hit = 0;
	if (b->network && strcasecmp(b->network, network))
		return 0;
	if (!b->n)
		return b->network ? !b->whitelist : 0;
	for (size_t i = 0; i < b->n && !hit; i++)
		hit = pattern_match(b->patterns[i], host, port);
	return b->whitelist ? !hit : hit;
}

/* A group, as GOST's bypass group: bypassed when it has whitelists and every one of them bypasses,
 * or else when any blacklist does. */
static int bypass_group_match(const struct bypass *g, const char *network, const char *host, uint16_t port)
{
	int has_whitelist = 0, all_whitelists = 1;
	for (size_t i = 0; i < g->n_members; i++)
		if (g->members[i]->whitelist) {
			has_whitelist = 1;
			if (!bypass_list_match(g->members[i], network, host, port)) {
				all_whitelists = 0;
				break;
			}
		}
	if (has_whitelist && all_whitelists)
		return 1;
	for (size_t i = 0; i < g->n_members; i++)
		if (!g->members[i]->whitelist && bypass_list_match(g->members[i], network, host, port))
			return 1;
	return 0;
}

/* 1: host:port over network bypasses (goes direct / is refused), 0: it does not.
 * port 0: unknown (patterns with a port miss). */
int bypass_match_net(const struct bypass *b, const char *network, const char *host, uint16_t port)
{
	if (!b || !host || !*host)
		return 0;
	return b->members ? bypass_group_match(b, network, host, port) : bypass_list_match(b, network, host, port);
}

int bypass_match_port(const struct bypass *b, const char *host, uint16_t port)
{
	return bypass_match_net(b, "tcp", host, port);
}

int bypass_match(const struct bypass *b, const char *host) { return bypass_match_port(b, host, 0); }
