/* SOCKS5 / RFC 1929 / SOCKS4(a) codecs; see socks5.h. */
#include "proto/socks5.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proto/bytes.h"

/* ---- addresses ---- */

int socks5_addr_parse(const uint8_t *buf, size_t len, struct socks5_addr *addr)
{
	size_t need;

	if (len < 1)
		return 0;
	switch (buf[0]) {
	case SOCKS5_ATYP_IPV4:
		need = 1 + 4 + 2;
		if (len < need)
			return 0;
		memcpy(addr->u.ipv4, buf + 1, 4);
		break;
	case SOCKS5_ATYP_IPV6:
		need = 1 + 16 + 2;
		if (len < need)
			return 0;
		memcpy(addr->u.ipv6, buf + 1, 16);
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (len < 2)
			return 0;
		if (buf[1] == 0)
			return SOCKS5_ERR_MALFORMED;
		need = 2 + (size_t)buf[1] + 2;
		if (len < need)
			return 0;
		if (memchr(buf + 2, 0, buf[1]))
			return SOCKS5_ERR_MALFORMED;
		memcpy(addr->u.domain, buf + 2, buf[1]);
		addr->u.domain[buf[1]] = 0;
		addr->domain_len = buf[1];
		break;
	default:
		return SOCKS5_ERR_ADDRESS;
	}
	addr->atyp = buf[0];
	addr->port = rd_be16(buf + need - 2);
	return (int)need;
}

int socks5_addr_size(const struct socks5_addr *addr)
{
	switch (addr->atyp) {
	case SOCKS5_ATYP_IPV4: return 1 + 4 + 2;
	case SOCKS5_ATYP_IPV6: return 1 + 16 + 2;
	case SOCKS5_ATYP_DOMAIN: return addr->domain_len ? 2 + addr->domain_len + 2 : -1;
	default: return -1;
	}
}

int socks5_addr_encode(uint8_t *out, size_t cap, const struct socks5_addr *addr)
{
	int n = socks5_addr_size(addr);

	if (n < 0 || (size_t)n > cap)
		return -1;
	out[0] = addr->atyp;
	switch (addr->atyp) {
	case SOCKS5_ATYP_IPV4:
		memcpy(out + 1, addr->u.ipv4, 4);
		break;
	case SOCKS5_ATYP_IPV6:
		memcpy(out + 1, addr->u.ipv6, 16);
		break;
	default:
		out[1] = addr->domain_len;
		memcpy(out + 2, addr->u.domain, addr->domain_len);
		break;
	}
	wr_be16(out + n - 2, addr->port);
	return n;
}

int socks5_addr_set_domain(struct socks5_addr *addr, const char *name, size_t len, uint16_t port)
{
	if (len == 0 || len > SOCKS5_DOMAIN_MAX || memchr(name, 0, len))
		return -1;
	addr->atyp = SOCKS5_ATYP_DOMAIN;
	addr->domain_len = (uint8_t)len;
	memcpy(addr->u.domain, name, len);
	addr->u.domain[len] = 0;
	addr->port = port;
	return 0;
}

void socks5_addr_host(const struct socks5_addr *a, char *out, size_t cap)
{
	if (a->atyp == SOCKS5_ATYP_IPV4)
		inet_ntop(AF_INET, a->u.ipv4, out, (socklen_t)cap);
	else if (a->atyp == SOCKS5_ATYP_IPV6)
		inet_ntop(AF_INET6, a->u.ipv6, out, (socklen_t)cap);
	else
		snprintf(out, cap, "%s", a->u.domain);
}

int socks5_addr_from_host(struct socks5_addr *a, const char *host, uint16_t port)
{
	memset(a, 0, sizeof *a);
	a->port = port;
	if (inet_pton(AF_INET, host, a->u.ipv4) == 1) {
		a->atyp = SOCKS5_ATYP_IPV4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, a->u.ipv6) == 1) {
		a->atyp = SOCKS5_ATYP_IPV6;
		return 0;
	}
	return socks5_addr_set_domain(a, host, strlen(host), port);
}

int socks5_addr_from_sockaddr(struct socks5_addr *addr, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		addr->atyp = SOCKS5_ATYP_IPV4;
		memcpy(addr->u.ipv4, &in->sin_addr, 4);
		addr->port = ntohs(in->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		addr->port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			addr->atyp = SOCKS5_ATYP_IPV4;
			memcpy(addr->u.ipv4, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			addr->atyp = SOCKS5_ATYP_IPV6;
			memcpy(addr->u.ipv6, &in6->sin6_addr, 16);
		}
		return 0;
	}
	return -1;
}

int socks5_addr_to_sockaddr(const struct socks5_addr *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (addr->atyp == SOCKS5_ATYP_IPV4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(addr->port);
		memcpy(&in->sin_addr, addr->u.ipv4, 4);
		return (int)sizeof *in;
	}
	if (addr->atyp == SOCKS5_ATYP_IPV6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(addr->port);
		memcpy(&in6->sin6_addr, addr->u.ipv6, 16);
		return (int)sizeof *in6;
	}
	return -1;
}

int socks5_addr_format(const struct socks5_addr *addr, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	switch (addr->atyp) {
	case SOCKS5_ATYP_IPV4:
		inet_ntop(AF_INET, addr->u.ipv4, ip, sizeof ip);
		n = snprintf(out, cap, "%s:%u", ip, addr->port);
		break;
	case SOCKS5_ATYP_IPV6:
		inet_ntop(AF_INET6, addr->u.ipv6, ip, sizeof ip);
		n = snprintf(out, cap, "[%s]:%u", ip, addr->port);
		break;
	case SOCKS5_ATYP_DOMAIN:
		n = snprintf(out, cap, "%.*s:%u", (int)addr->domain_len, addr->u.domain, addr->port);
		break;
	default:
		return -1;
	}
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* ---- method selection ---- */

int socks5_greeting_parse(const uint8_t *buf, size_t len, struct socks5_greeting *g)
{
	if (len < 1)
		return 0;
	if (buf[0] != SOCKS5_VERSION)
		return SOCKS5_ERR_MALFORMED;
	if (len < 2)
		return 0;
	if (buf[1] == 0)
		return SOCKS5_ERR_MALFORMED;
	if (len < 2 + (size_t)buf[1])
		return 0;
	g->nmethods = buf[1];
	memcpy(g->methods, buf + 2, buf[1]);
	return 2 + buf[1];
}

bool socks5_greeting_has(const struct socks5_greeting *g, uint8_t method)
{
	return memchr(g->methods, method, g->nmethods) != NULL;
}

int socks5_greeting_encode(uint8_t *out, size_t cap, const uint8_t *methods, size_t n)
{
	if (n == 0 || n > 255 || cap < 2 + n)
		return -1;
	out[0] = SOCKS5_VERSION;
	out[1] = (uint8_t)n;
	memcpy(out + 2, methods, n);
	return (int)(2 + n);
}

/* VER x: the method choice, and the RFC 1929 status with its own version. */
static int encode_vx(uint8_t *out, size_t cap, uint8_t ver, uint8_t x)
{
	if (cap < 2)
		return -1;
	out[0] = ver;
	out[1] = x;
	return 2;
}

static int parse_vx(const uint8_t *buf, size_t len, uint8_t ver, uint8_t *x)
{
	if (len < 1)
		return 0;
	if (buf[0] != ver)
		return SOCKS5_ERR_MALFORMED;
	if (len < 2)
		return 0;
	*x = buf[1];
	return 2;
}

int socks5_method_choice_encode(uint8_t *out, size_t cap, uint8_t method)
{
	return encode_vx(out, cap, SOCKS5_VERSION, method);
}

int socks5_method_choice_parse(const uint8_t *buf, size_t len, uint8_t *method)
{
	return parse_vx(buf, len, SOCKS5_VERSION, method);
}

/* ---- username/password ---- */

int socks5_userpass_parse(const uint8_t *buf, size_t len, struct socks5_userpass *up)
{
	size_t ul, pl;

	if (len < 1)
		return 0;
	if (buf[0] != SOCKS5_AUTH_VERSION)
		return SOCKS5_ERR_MALFORMED;
	if (len < 2)
		return 0;
	ul = buf[1];
	if (len < 2 + ul + 1)
		return 0;
	pl = buf[2 + ul];
	if (len < 3 + ul + pl)
		return 0;
	if (memchr(buf + 2, 0, ul) || memchr(buf + 3 + ul, 0, pl))
		return SOCKS5_ERR_MALFORMED;
	up->ulen = (uint8_t)ul;
	up->plen = (uint8_t)pl;
	memcpy(up->user, buf + 2, ul);
	up->user[ul] = 0;
	memcpy(up->pass, buf + 3 + ul, pl);
	up->pass[pl] = 0;
	return (int)(3 + ul + pl);
}

int socks5_userpass_encode(uint8_t *out, size_t cap, const char *user, size_t ulen,
			   const char *pass, size_t plen)
{
	if (ulen > 255 || plen > 255 || cap < 3 + ulen + plen)
		return -1;
	out[0] = SOCKS5_AUTH_VERSION;
	out[1] = (uint8_t)ulen;
	memcpy(out + 2, user, ulen);
	out[2 + ulen] = (uint8_t)plen;
	memcpy(out + 3 + ulen, pass, plen);
	return (int)(3 + ulen + plen);
}

int socks5_auth_reply_encode(uint8_t *out, size_t cap, uint8_t status)
{
	return encode_vx(out, cap, SOCKS5_AUTH_VERSION, status);
}

int socks5_auth_reply_parse(const uint8_t *buf, size_t len, uint8_t *status)
{
	return parse_vx(buf, len, SOCKS5_AUTH_VERSION, status);
}

/* ---- requests and replies ---- */

/* VER x RSV addr, shared by requests and replies. */
static int encode_vxr(uint8_t *out, size_t cap, uint8_t x, const struct socks5_addr *addr)
{
	int n;

	if (cap < 3)
		return -1;
	n = socks5_addr_encode(out + 3, cap - 3, addr);
	if (n < 0)
		return -1;
	out[0] = SOCKS5_VERSION;
	out[1] = x;
	out[2] = 0;
	return 3 + n;
}

int socks5_request_parse(const uint8_t *buf, size_t len, struct socks5_request *req)
{
	int n;

	if (len < 1)
		return 0;
	if (buf[0] != SOCKS5_VERSION)
		return SOCKS5_ERR_MALFORMED;
	if (len < 2)
		return 0;
	if ((buf[1] < SOCKS5_CMD_CONNECT || buf[1] > SOCKS5_CMD_UDP_ASSOCIATE) && buf[1] != SOCKS5_CMD_MUX_BIND &&
	    buf[1] != SOCKS5_CMD_UDP_TUN)
		return SOCKS5_ERR_COMMAND;
	if (len < 3)
		return 0;
	if (buf[2] != 0)
		return SOCKS5_ERR_MALFORMED;
	n = socks5_addr_parse(buf + 3, len - 3, &req->addr);
	if (n <= 0)
		return n;
	req->cmd = buf[1];
	return 3 + n;
}

int socks5_request_encode(uint8_t *out, size_t cap, uint8_t cmd, const struct socks5_addr *addr)
{
	return encode_vxr(out, cap, cmd, addr);
}

int socks5_reply_encode(uint8_t *out, size_t cap, uint8_t rep, const struct socks5_addr *bnd)
{
	static const struct socks5_addr zero = { .atyp = SOCKS5_ATYP_IPV4 };
	return encode_vxr(out, cap, rep, bnd ? bnd : &zero);
}

int socks5_reply_parse(const uint8_t *buf, size_t len, struct socks5_reply *rep)
{
	int n;

	if (len < 1)
		return 0;
	if (buf[0] != SOCKS5_VERSION)
		return SOCKS5_ERR_MALFORMED;
	if (len < 3)
		return 0;
	if (buf[2] != 0)
		return SOCKS5_ERR_MALFORMED;
	n = socks5_addr_parse(buf + 3, len - 3, &rep->addr);
	if (n < 0)
		return SOCKS5_ERR_MALFORMED;
	if (n == 0)
		return 0;
	rep->rep = buf[1];
	return 3 + n;
}

const char *socks5_reply_str(uint8_t rep)
{
	switch (rep) {
	case SOCKS5_REP_SUCCEEDED: return "succeeded";
	case SOCKS5_REP_GENERAL_FAILURE: return "general SOCKS server failure";
	case SOCKS5_REP_NOT_ALLOWED: return "connection not allowed by ruleset";
	case SOCKS5_REP_NETWORK_UNREACHABLE: return "network unreachable";
	case SOCKS5_REP_HOST_UNREACHABLE: return "host unreachable";
	case SOCKS5_REP_CONNECTION_REFUSED: return "connection refused";
	case SOCKS5_REP_TTL_EXPIRED: return "TTL expired";
	case SOCKS5_REP_COMMAND_NOT_SUPPORTED: return "command not supported";
	case SOCKS5_REP_ADDRESS_NOT_SUPPORTED: return "address type not supported";
	default: return "unknown reply code";
	}
}

/* ---- UDP ---- */

int socks5_udp_header_parse(const uint8_t *buf, size_t len, struct socks5_udp_header *h)
{
	int n;

	if (len < 3)
		return 0;
	n = socks5_addr_parse(buf + 3, len - 3, &h->addr);
	if (n < 0)
		return SOCKS5_ERR_MALFORMED;
	if (n == 0)
		return 0;
	h->rsv = rd_be16(buf);
	h->frag = buf[2];
	return 3 + n;
}

int socks5_udp_header_encode(uint8_t *out, size_t cap, uint16_t rsv, uint8_t frag,
			     const struct socks5_addr *addr)
{
	int n;

	if (cap < 3)
		return -1;
	n = socks5_addr_encode(out + 3, cap - 3, addr);
	if (n < 0)
		return -1;
	wr_be16(out, rsv);
	out[2] = frag;
	return 3 + n;
}

/* ---- SOCKS4 / 4a ---- */

/*
 * A NUL-terminated string of at most max bytes at buf[pos..len): returns its
 * length, -2 when more bytes are needed, -1 when it is too long already.
 */
static int cstring(const uint8_t *buf, size_t len, size_t pos, size_t max)
{
	size_t avail = len - pos, lim = avail < max + 1 ? avail : max + 1;
	const uint8_t *z = memchr(buf + pos, 0, lim);

	if (z)
		return (int)(z - (buf + pos));
	return avail > max ? -1 : -2;
}

int socks4_request_parse(const uint8_t *buf, size_t len, struct socks4_request *req)
{
	int ul, dl = 0;
	size_t pos;
	bool is_4a;

	if (len < 1)
		return 0;
	if (buf[0] != SOCKS4_VERSION)
		return -1;
	if (len < 2)
		return 0;
	if (buf[1] != SOCKS4_CMD_CONNECT && buf[1] != SOCKS4_CMD_BIND)
		return -1;
	if (len < 8)
		return 0;
	ul = cstring(buf, len, 8, SOCKS4_USERID_MAX);
	if (ul < 0)
		return ul == -2 ? 0 : -1;
	pos = 8 + (size_t)ul + 1;
	is_4a = buf[4] == 0 && buf[5] == 0 && buf[6] == 0 && buf[7] != 0;
	if (is_4a) {
		if (pos >= len)
			return 0;
		dl = cstring(buf, len, pos, SOCKS5_DOMAIN_MAX);
		if (dl == -2)
			return 0;
		if (dl <= 0)
			return -1;
		memcpy(req->domain, buf + pos, (size_t)dl);
		pos += (size_t)dl + 1;
	}
	req->domain[dl] = 0;
	req->domain_len = (uint8_t)dl;
	req->cmd = buf[1];
	req->port = rd_be16(buf + 2);
	memcpy(req->ip, buf + 4, 4);
	req->is_4a = is_4a;
	req->userid_len = (uint8_t)ul;
	memcpy(req->userid, buf + 8, (size_t)ul);
	req->userid[ul] = 0;
	return (int)pos;
}

int socks4_request_encode(uint8_t *out, size_t cap, uint8_t cmd, const uint8_t ip[4],
			  uint16_t port, const char *userid, const char *domain)
{
	static const uint8_t ip4a[4] = { 0, 0, 0, 1 };
	size_t ul = userid ? strlen(userid) : 0, dl = domain ? strlen(domain) : 0;
	size_t n = 8 + ul + 1 + (domain ? dl + 1 : 0);

	if (ul > SOCKS4_USERID_MAX || (domain && (dl == 0 || dl > SOCKS5_DOMAIN_MAX)) ||
	    (!domain && !ip) || cap < n)
		return -1;
	if (!domain && ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0)
		return -1; /* would read as SOCKS4a */
	out[0] = SOCKS4_VERSION;
	out[1] = cmd;
	wr_be16(out + 2, port);
	memcpy(out + 4, domain ? ip4a : ip, 4);
	memcpy(out + 8, userid ? userid : "", ul + 1);
	if (domain)
		memcpy(out + 9 + ul, domain, dl + 1);
	return (int)n;
}

int socks4_reply_encode(uint8_t *out, size_t cap, uint8_t code, const uint8_t ip[4],
			uint16_t port)
{
	if (cap < 8)
		return -1;
	out[0] = 0;
	out[1] = code;
	wr_be16(out + 2, port);
	if (ip)
		memcpy(out + 4, ip, 4);
	else
		memset(out + 4, 0, 4);
	return 8;
}

int socks4_reply_parse(const uint8_t *buf, size_t len, uint8_t *code, uint8_t ip[4],
		       uint16_t *port)
{
	if (len < 1)
		return 0;
	if (buf[0] != 0)
		return -1;
	if (len < 8)
		return 0;
	*code = buf[1];
	*port = rd_be16(buf + 2);
	memcpy(ip, buf + 4, 4);
	return 8;
}

void socks4_request_addr(const struct socks4_request *req, struct socks5_addr *addr)
{
	if (req->is_4a) {
		socks5_addr_set_domain(addr, req->domain, req->domain_len, req->port);
		return;
	}
	addr->atyp = SOCKS5_ATYP_IPV4;
	memcpy(addr->u.ipv4, req->ip, 4);
	addr->port = req->port;
}
