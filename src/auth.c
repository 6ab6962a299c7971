/* Users and bypass lists. */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model.h"
#include "util.h"

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

static int cidr_match(const char *pattern, const char *host)
{
	char net[64];
	const char *slash = strchr(pattern, '/');
	unsigned char a[16], b[16];
	int fam, bits, maxbits;
	if (!slash || (size_t)(slash - pattern) >= sizeof net)
		return 0;
	memcpy(net, pattern, (size_t)(slash - pattern));
	net[slash - pattern] = 0;
	bits = atoi(slash + 1);
	fam = strchr(net, ':') ? AF_INET6 : AF_INET;
	maxbits = fam == AF_INET ? 32 : 128;
	if (inet_pton(fam, net, a) != 1 || inet_pton(fam, host, b) != 1 || bits < 0 || bits > maxbits)
		return 0;
	for (int i = 0; i < bits; i++)
		if ((a[i / 8] ^ b[i / 8]) & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

static int pattern_match(const char *p, const char *host)
{
	if (strchr(p, '/'))
		return cidr_match(p, host);
	if (p[0] == '.') /* ".example.com": the domain and every subdomain */
		return !strcasecmp(host, p + 1) ||
		       (strlen(host) > strlen(p) && !strcasecmp(host + strlen(host) - strlen(p), p));
	if (strchr(p, '*') || strchr(p, '?'))
		return fnmatch(p, host, FNM_CASEFOLD) == 0;
	return !strcasecmp(p, host);
}

/* 1: the host bypasses (goes direct / is refused), 0: it does not. */
int bypass_match(const struct bypass *b, const char *host)
{
	int hit = 0;
	if (!b)
		return 0;
	for (size_t i = 0; i < b->n && !hit; i++)
		hit = pattern_match(b->patterns[i], host);
	return b->whitelist ? !hit : hit;
}
