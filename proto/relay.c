/* GOST relay protocol codec. */
#include "proto/relay.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "proto/bytes.h"

static bool ip6_is_v4mapped(const uint8_t *ip)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(ip, prefix, sizeof(prefix)) == 0;
}

const char *relay_status_text(uint8_t status)
{
	switch (status) {
	case RELAY_STATUS_OK: return "OK";
	case RELAY_STATUS_BAD_REQUEST: return "Bad Request";
	case RELAY_STATUS_UNAUTHORIZED: return "Unauthorized";
	case RELAY_STATUS_FORBIDDEN: return "Forbidden";
	case RELAY_STATUS_TIMEOUT: return "Timeout";
	case RELAY_STATUS_SERVICE_UNAVAILABLE: return "Service Unavailable";
	case RELAY_STATUS_HOST_UNREACHABLE: return "Host Unreachable";
	case RELAY_STATUS_NETWORK_UNREACHABLE: return "Network Unreachable";
	case RELAY_STATUS_INTERNAL_SERVER_ERROR: return "Internal Server Error";
	default: return "Unknown";
	}
}

const char *relay_network_name(uint16_t network)
{
	switch (network) {
	case RELAY_NETWORK_UDP: return "udp";
	case RELAY_NETWORK_IP: return "ip";
	case RELAY_NETWORK_UNIX: return "unix";
	case RELAY_NETWORK_SERIAL: return "serial";
	default: return "tcp";
	}
}

void relay_msg_init(struct relay_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->version = RELAY_VERSION;
}

int relay_msg_set_user_auth(struct relay_msg *m, const char *user, const char *pass)
{
	size_t ulen = user ? strlen(user) : 0, plen = pass ? strlen(pass) : 0;

	if (ulen > RELAY_CRED_MAX || plen > RELAY_CRED_MAX)
		return -1;
	memcpy(m->username, user ? user : "", ulen + 1);
	memcpy(m->password, pass ? pass : "", plen + 1);
	m->username_len = (uint8_t)ulen;
	m->password_len = (uint8_t)plen;
	m->has_user_auth = true;
	return 0;
}

int relay_msg_add_addr(struct relay_msg *m, const struct relay_addr *a)
{
	if (m->naddr >= RELAY_MAX_ADDRS)
		return -1;
	m->addr[m->naddr++] = *a;
	return 0;
}

const struct relay_addr *relay_msg_last_addr(const struct relay_msg *m)
{
	if (m->naddr_total > RELAY_MAX_ADDRS)
		return &m->addr_extra;
	return m->naddr ? &m->addr[m->naddr - 1] : NULL;
}

/* ---- addresses ---- */

int relay_addr_parse(const uint8_t *buf, size_t len, struct relay_addr *a)
{
	size_t alen, hlen;

	if (len < 1)
		return 0;
	switch (buf[0]) {
	case RELAY_ATYP_IPV4: alen = 4; hlen = 1; break;
	case RELAY_ATYP_IPV6: alen = 16; hlen = 1; break;
	case RELAY_ATYP_DOMAIN:
		if (len < 2)
			return 0;
		alen = buf[1];
		hlen = 2;
		/* A C host string cannot carry NUL; refusing it keeps the
		 * name the handler checks and dials the name on the wire. */
		if (memchr(buf + 2, 0, len - 2 < alen ? len - 2 : alen))
			return -1;
		break;
	default:
		return -1;
	}
	if (len < hlen + alen + 2)
		return 0;
	a->atyp = buf[0];
	switch (buf[0]) {
	case RELAY_ATYP_IPV4: inet_ntop(AF_INET, buf + 1, a->host, sizeof(a->host)); break;
	case RELAY_ATYP_IPV6: inet_ntop(AF_INET6, buf + 1, a->host, sizeof(a->host)); break;
	default:
		memcpy(a->host, buf + 2, alen);
		a->host[alen] = '\0';
	}
	a->port = rd_be16(buf + hlen + alen);
	return (int)(hlen + alen + 2);
}

int relay_addr_encode(uint8_t *buf, size_t cap, const struct relay_addr *a)
{
	uint8_t ip[16];
	size_t n;

	switch (a->atyp) {
	case RELAY_ATYP_IPV4:
		if (inet_pton(AF_INET, a->host, ip) != 1) {
			/* IPv4-mapped IPv6 text is an IPv4 address to GOST too. */
			if (inet_pton(AF_INET6, a->host, ip) != 1 ||
			    !ip6_is_v4mapped(ip))
				return -1;
			memmove(ip, ip + 12, 4);
		}
		n = 1 + 4 + 2;
		if (cap < n)
			return -1;
		memcpy(buf + 1, ip, 4);
		break;
	case RELAY_ATYP_IPV6:
		if (inet_pton(AF_INET6, a->host, ip) != 1) {
			if (inet_pton(AF_INET, a->host, ip + 12) != 1)
				return -1;
			memset(ip, 0, 10);
			ip[10] = ip[11] = 0xff;
		}
		n = 1 + 16 + 2;
		if (cap < n)
			return -1;
		memcpy(buf + 1, ip, 16);
		break;
	case RELAY_ATYP_DOMAIN: {
		size_t hlen = strnlen(a->host, sizeof(a->host));

		if (hlen > RELAY_HOST_MAX)
			return -1;
		n = 2 + hlen + 2;
		if (cap < n)
			return -1;
		buf[1] = (uint8_t)hlen;
		memcpy(buf + 2, a->host, hlen);
		break;
	}
	default:
		return -1;
	}
	buf[0] = a->atyp;
	wr_be16(buf + n - 2, a->port);
	return (int)n;
}

int relay_addr_set(struct relay_addr *a, const char *host, uint16_t port)
{
	uint8_t ip[16];
	size_t hlen;

	if (!host)
		host = "";
	hlen = strlen(host);
	if (hlen > RELAY_HOST_MAX)
		return -1;
	a->port = port;
	if (inet_pton(AF_INET, host, ip) == 1) {
		a->atyp = RELAY_ATYP_IPV4;
		inet_ntop(AF_INET, ip, a->host, sizeof(a->host));
	} else if (inet_pton(AF_INET6, host, ip) == 1) {
		if (ip6_is_v4mapped(ip)) {
			a->atyp = RELAY_ATYP_IPV4;
			inet_ntop(AF_INET, ip + 12, a->host, sizeof(a->host));
		} else {
			a->atyp = RELAY_ATYP_IPV6;
			inet_ntop(AF_INET6, ip, a->host, sizeof(a->host));
		}
	} else {
		a->atyp = RELAY_ATYP_DOMAIN;
		memcpy(a->host, host, hlen + 1);
	}
	return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	/* Empty port (as in "host:") is 0, like Go's failed Atoi in ParseFrom. */
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

int relay_addr_from_string(struct relay_addr *a, const char *hostport)
{
	char host[RELAY_HOST_MAX + 1];
	const char *colon, *end;
	uint16_t port = 0;
	size_t hlen;

	if (!hostport)
		hostport = "";
	if (hostport[0] == '[' && (end = strchr(hostport, ']')) != NULL &&
	    (end[1] == '\0' || end[1] == ':')) {
		hlen = (size_t)(end - hostport - 1);
		if (hlen > RELAY_HOST_MAX)
			return -1;
		memcpy(host, hostport + 1, hlen);
		host[hlen] = '\0';
		if (end[1] == ':' && parse_port(end + 2, &port) < 0)
			return -1;
		return relay_addr_set(a, host, port);
	}
	colon = strchr(hostport, ':');
	if (!colon || strchr(colon + 1, ':'))
		return relay_addr_set(a, hostport, 0);
	hlen = (size_t)(colon - hostport);
	if (hlen > RELAY_HOST_MAX)
		return -1;
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	if (parse_port(colon + 1, &port) < 0)
		return -1;
	return relay_addr_set(a, host, port);
}

int relay_addr_format(const struct relay_addr *a, char *buf, size_t cap)
{
	int n;

	/* Bracket any host with a colon, as Go's JoinHostPort does, so that
	 * an IPv6 literal sent as a domain (zone ids) stays splittable. */
	if (a->atyp == RELAY_ATYP_IPV6 || strchr(a->host, ':'))
		n = snprintf(buf, cap, "[%s]:%u", a->host, a->port);
	else
		n = snprintf(buf, cap, "%s:%u", a->host, a->port);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* ---- request / response ---- */

static int feature_decode(struct relay_msg *m, uint8_t type, const uint8_t *b, size_t len)
{
	switch (type) {
	case RELAY_FEATURE_USER_AUTH: {
		size_t ulen, plen;

		if (len < 2)
			return -1;
		ulen = b[0];
		if (len < 1 + ulen + 1)
			return -1;
		plen = b[1 + ulen];
		if (len < 2 + ulen + plen)
			return -1;
		memcpy(m->username, b + 1, ulen);
		m->username[ulen] = '\0';
		memcpy(m->password, b + 2 + ulen, plen);
		m->password[plen] = '\0';
		m->username_len = (uint8_t)ulen;
		m->password_len = (uint8_t)plen;
		if (m->has_network && !m->has_user_auth)
			m->order = RELAY_ORDER_NETWORK_FIRST;
		m->has_user_auth = true;
		return 0;
	}
	case RELAY_FEATURE_ADDR: {
		struct relay_addr *a = m->naddr < RELAY_MAX_ADDRS ? &m->addr[m->naddr] : &m->addr_extra;

		/* Incomplete inside a bounded body means a short body. */
		if (relay_addr_parse(b, len, a) <= 0)
			return -1;
		if (m->naddr < RELAY_MAX_ADDRS)
			m->naddr++;
		m->naddr_total++;
		return 0;
	}
	case RELAY_FEATURE_TUNNEL:
		/* go-gost/relay v0.5 needs 16 bytes (the ID), later versions 20. */
		if (len < 16)
			return -1;
		memset(m->tunnel, 0, sizeof(m->tunnel));
		memcpy(m->tunnel, b, len < RELAY_TUNNEL_LEN ? len : RELAY_TUNNEL_LEN);
		m->has_tunnel = true;
		return 0;
	case RELAY_FEATURE_NETWORK:
		if (len < 2)
			return -1;
		m->network = rd_be16(b);
		if (m->has_user_auth && !m->has_network)
			m->order = RELAY_ORDER_AUTH_FIRST;
		m->has_network = true;
		return 0;
	default:
		return -1;
	}
}

static int relay_parse(const uint8_t *buf, size_t len, struct relay_msg *m, bool request)
{
	size_t fealen, avail, off = 0;
	const uint8_t *f;

	if (len < 1)
		return 0;
	if (buf[0] != RELAY_VERSION)
		return -1;
	if (len < RELAY_HEADER_LEN)
		return 0;
	relay_msg_init(m);
	if (request)
		m->cmd = buf[1];
	else
		m->status = buf[1];
	fealen = rd_be16(buf + 2);
	avail = len - RELAY_HEADER_LEN;
	if (avail > fealen)
		avail = fealen;
	f = buf + RELAY_HEADER_LEN;

	/* Validate whatever whole features are present, so a bad request is
	 * refused before its FEALEN bytes have all arrived. */
	while (off < fealen) {
		size_t flen;

		if (avail - off < 1)
			return 0;
		if (f[off] < RELAY_FEATURE_USER_AUTH || f[off] > RELAY_FEATURE_NETWORK)
			return -1;
		if (fealen - off < 3)
			return -1;
		if (avail - off < 3)
			return 0;
		flen = rd_be16(f + off + 1);
		if (flen > fealen - off - 3)
			return -1;
		if (avail - off - 3 < flen) {
			/* An Addr body can be refused early (bad ATYP, NUL). */
			if (f[off] == RELAY_FEATURE_ADDR) {
				struct relay_addr tmp;

				if (relay_addr_parse(f + off + 3, avail - off - 3, &tmp) < 0)
					return -1;
			}
			return 0;
		}
		if (feature_decode(m, f[off], f + off + 3, flen) < 0)
			return -1;
		off += 3 + flen;
	}
	return (int)(RELAY_HEADER_LEN + fealen);
}

int relay_request_parse(const uint8_t *buf, size_t len, struct relay_msg *m)
{
	return relay_parse(buf, len, m, true);
}

int relay_response_parse(const uint8_t *buf, size_t len, struct relay_msg *m)
{
	return relay_parse(buf, len, m, false);
}

static int put_tlv_header(uint8_t *buf, size_t cap, size_t *off, uint8_t type, size_t len)
{
	if (cap - *off < 3 + len)
		return -1;
	buf[*off] = type;
	wr_be16(buf + *off + 1, (uint16_t)len);
	*off += 3;
	return 0;
}

static int put_user_auth(uint8_t *buf, size_t cap, size_t *off, const struct relay_msg *m)
{
	size_t len = 2 + (size_t)m->username_len + m->password_len;

	if (put_tlv_header(buf, cap, off, RELAY_FEATURE_USER_AUTH, len) < 0)
		return -1;
	buf[(*off)++] = m->username_len;
	memcpy(buf + *off, m->username, m->username_len);
	*off += m->username_len;
	buf[(*off)++] = m->password_len;
	memcpy(buf + *off, m->password, m->password_len);
	*off += m->password_len;
	return 0;
}

static int put_network(uint8_t *buf, size_t cap, size_t *off, const struct relay_msg *m)
{
	if (put_tlv_header(buf, cap, off, RELAY_FEATURE_NETWORK, 2) < 0)
		return -1;
	wr_be16(buf + *off, m->network);
	*off += 2;
	return 0;
}

static int relay_encode(uint8_t *buf, size_t cap, uint8_t second, const struct relay_msg *m)
{
	enum relay_feature_order order = m->order;
	size_t off = RELAY_HEADER_LEN, i;

	if (cap < RELAY_HEADER_LEN || m->naddr > RELAY_MAX_ADDRS)
		return -1;
	if (order == RELAY_ORDER_AUTO)
		order = (m->cmd & RELAY_CMD_MASK) == RELAY_CMD_BIND ?
			RELAY_ORDER_AUTH_FIRST : RELAY_ORDER_NETWORK_FIRST;
	if (order == RELAY_ORDER_AUTH_FIRST) {
		if (m->has_user_auth && put_user_auth(buf, cap, &off, m) < 0)
			return -1;
		if (m->has_network && put_network(buf, cap, &off, m) < 0)
			return -1;
	} else {
		if (m->has_network && put_network(buf, cap, &off, m) < 0)
			return -1;
		if (m->has_user_auth && put_user_auth(buf, cap, &off, m) < 0)
			return -1;
	}
	for (i = 0; i < m->naddr; i++) {
		int n;

		if (cap - off < 3)
			return -1;
		n = relay_addr_encode(buf + off + 3, cap - off - 3, &m->addr[i]);
		if (n < 0)
			return -1;
		put_tlv_header(buf, cap, &off, RELAY_FEATURE_ADDR, (size_t)n);
		off += (size_t)n;
	}
	if (m->has_tunnel) {
		if (put_tlv_header(buf, cap, &off, RELAY_FEATURE_TUNNEL, RELAY_TUNNEL_LEN) < 0)
			return -1;
		memcpy(buf + off, m->tunnel, RELAY_TUNNEL_LEN);
		off += RELAY_TUNNEL_LEN;
	}
	buf[0] = RELAY_VERSION;
	buf[1] = second;
	wr_be16(buf + 2, (uint16_t)(off - RELAY_HEADER_LEN));
	return (int)off;
}

int relay_request_encode(uint8_t *buf, size_t cap, const struct relay_msg *m)
{
	return relay_encode(buf, cap, m->cmd, m);
}

int relay_response_encode(uint8_t *buf, size_t cap, const struct relay_msg *m)
{
	return relay_encode(buf, cap, m->status, m);
}

int relay_response_encode_addrs(uint8_t *buf, size_t cap, uint8_t status,
				const struct relay_addr *addrs, size_t naddrs)
{
	struct relay_msg m;
	size_t i;

	if (naddrs > RELAY_MAX_ADDRS)
		return -1;
	relay_msg_init(&m);
	m.status = status;
	for (i = 0; i < naddrs; i++)
		m.addr[i] = addrs[i];
	m.naddr = naddrs;
	return relay_response_encode(buf, cap, &m);
}

/* ---- UDP framings ---- */

int relay_udp_len_header_encode(uint8_t *buf, size_t cap, size_t payload_len)
{
	if (cap < 2 || payload_len > RELAY_UDP_MAX_PAYLOAD)
		return -1;
	wr_be16(buf, (uint16_t)payload_len);
	return 2;
}

int relay_udp_len_frame_parse(const uint8_t *buf, size_t len,
			      const uint8_t **payload, size_t *payload_len)
{
	size_t n;

	if (len < 2)
		return 0;
	n = rd_be16(buf);
	if (len - 2 < n)
		return 0;
	*payload = buf + 2;
	*payload_len = n;
	return (int)(2 + n);
}

int relay_udp_bind_header_encode(uint8_t *buf, size_t cap,
				 const struct relay_addr *a, size_t payload_len)
{
	int n;

	if (cap < 3 || payload_len == 0 || payload_len > RELAY_UDP_MAX_PAYLOAD)
		return -1;
	n = relay_addr_encode(buf + 3, cap - 3, a);
	if (n < 0)
		return -1;
	wr_be16(buf, (uint16_t)payload_len);
	/* GOST marks its tunnelled datagrams with FRAG 0xFF. */
	buf[2] = 0xff;
	return 3 + n;
}

int relay_udp_bind_frame_encode(uint8_t *buf, size_t cap, const struct relay_addr *a,
				const uint8_t *payload, size_t payload_len)
{
	int n = relay_udp_bind_header_encode(buf, cap, a, payload_len);

	if (n < 0 || cap - (size_t)n < payload_len)
		return -1;
	memcpy(buf + n, payload, payload_len);
	return n + (int)payload_len;
}

int relay_udp_bind_frame_parse(const uint8_t *buf, size_t len, struct relay_addr *a,
			       const uint8_t **payload, size_t *payload_len)
{
	size_t rsv;
	int n;

	if (len < 2)
		return 0;
	rsv = rd_be16(buf);
	if (rsv == 0)
		return -1;
	if (len < 3)
		return 0;
	n = relay_addr_parse(buf + 3, len - 3, a);
	if (n <= 0)
		return n;
	if (len - 3 - (size_t)n < rsv)
		return 0;
	*payload = buf + 3 + n;
	*payload_len = rsv;
	return 3 + n + (int)rsv;
}
