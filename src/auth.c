/* Users and bypass lists. */
#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model.h"
#include "util.h"

int service_auth_required(const struct service *s) { return s->handler.auth.username || s->handler.n_authers; }

/* Every candidate is compared, so the time taken does not tell which user exists. */
int service_auth_check(const struct service *s, const char *user, const char *pass)
{
	int ok = 0;
	if (!service_auth_required(s))
		return 1;
	if (!user)
		user = "";
	if (!pass)
		pass = "";
	if (s->handler.auth.username)
		ok |= secret_equal(s->handler.auth.username, user) & secret_equal(s->handler.auth.password, pass);
	for (size_t i = 0; i < s->handler.n_authers; i++) {
		const struct auther *a = s->handler.authers[i];
		for (size_t j = 0; j < a->n_users; j++)
			ok |= secret_equal(a->users[j].username, user) & secret_equal(a->users[j].password, pass);
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
