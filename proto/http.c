/* HTTP/1.x heads and the helpers around them; see http.h. */
#include "proto/http.h"

#include <arpa/inet.h>
#include <string.h>

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field values and reason phrases: HTAB, SP, VCHAR, obs-text. */
static bool is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool mem_case_eq(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

bool http_slice_eq(struct http_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.p, lit, n) == 0;
}

bool http_slice_case_eq(struct http_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && mem_case_eq(s.p, lit, n);
}

const char *http_error_str(int err)
{
	switch (err) {
	case HTTP_ERR_REQUEST_LINE: return "malformed request line";
	case HTTP_ERR_METHOD: return "bad method";
	case HTTP_ERR_TARGET: return "bad request target";
	case HTTP_ERR_VERSION: return "unsupported HTTP version";
	case HTTP_ERR_STATUS: return "bad status code";
	case HTTP_ERR_HEADER: return "malformed header field";
	case HTTP_ERR_OBS_FOLD: return "obsolete line folding";
	case HTTP_ERR_CONTROL_CHAR: return "control character in head";
	case HTTP_ERR_TOO_MANY_HEADERS: return "too many header fields";
	case HTTP_ERR_TOO_LARGE: return "head too large";
	default: return "unknown error";
	}
}

/* ---- head parsing ---- */

/*
 * Finds the line starting at pos within the first max bytes: returns 1 with
 * its content [pos, *eol) (CR of a CRLF removed) and *next after the LF; 0 if
 * no LF arrived yet; HTTP_ERR_TOO_LARGE if none can arrive within max.
 */
static int next_line(const char *b, size_t len, size_t max, size_t pos, size_t *eol, size_t *next)
{
	size_t lim = len < max ? len : max;
	const char *lf = pos < lim ? memchr(b + pos, '\n', lim - pos) : NULL;

	if (!lf)
		return len >= max ? HTTP_ERR_TOO_LARGE : 0;
	*next = (size_t)(lf - b) + 1;
	*eol = (size_t)(lf - b);
	if (*eol > pos && b[*eol - 1] == '\r')
		(*eol)--;
	return 1;
}

/* "HTTP/1.0" or "HTTP/1.1" exactly. */
static int parse_version(const char *p, size_t len)
{
	if (len != 8 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1'))
		return -1;
	return p[7] - '0';
}

/*
 * Parses header lines from pos to the empty line. Returns the head length,
 * 0 for more bytes, or an error.
 */
static ssize_t parse_fields(const char *b, size_t len, size_t max, size_t pos,
			    struct http_header *hdrs, size_t *nheaders)
{
	size_t n = 0;

	for (;;) {
		size_t eol, next;
		int rc = next_line(b, len, max, pos, &eol, &next);
		if (rc <= 0)
			return rc;
		if (eol == pos) {
			*nheaders = n;
			return (ssize_t)next;
		}
		if (is_ows(b[pos]))
			return HTTP_ERR_OBS_FOLD;
		size_t i = pos;
		while (i < eol && b[i] != ':') {
			if (!is_tchar((unsigned char)b[i]))
				return HTTP_ERR_HEADER;
			i++;
		}
		if (i == eol || i == pos)
			return HTTP_ERR_HEADER;
		if (n == HTTP_MAX_HEADERS)
			return HTTP_ERR_TOO_MANY_HEADERS;
		size_t v = i + 1, ve = eol;
		for (size_t k = v; k < eol; k++)
			if (!is_field_char((unsigned char)b[k]))
				return HTTP_ERR_CONTROL_CHAR;
		while (v < ve && is_ows(b[v]))
			v++;
		while (ve > v && is_ows(b[ve - 1]))
			ve--;
		hdrs[n].name = (struct http_slice){ b + pos, i - pos };
		hdrs[n].value = (struct http_slice){ b + v, ve - v };
		n++;
		pos = next;
	}
}

/* Checks the method token of a request line, complete or not, from pos. */
static int check_method(const char *b, size_t end, size_t pos, size_t *sp)
{
	size_t i = pos;
	while (i < end && b[i] != ' ') {
		if (!is_tchar((unsigned char)b[i]))
			return HTTP_ERR_METHOD;
		i++;
	}
	if (i < end && i == pos)
		return HTTP_ERR_METHOD;
	*sp = i;
	return 0;
}

static bool is_authority_ok(struct http_slice t)
{
	struct http_slice host;
	uint16_t port;
	return http_host_port_split(t.p, t.len, 0, &host, &port) == 0;
}

static int classify_target(struct http_request *req)
{
	struct http_slice t = req->target;
	struct http_uri uri;

	if (http_slice_eq(req->method, "CONNECT")) {
		req->form = HTTP_TARGET_AUTHORITY;
		return is_authority_ok(t) ? 0 : HTTP_ERR_TARGET;
	}
	if (t.p[0] == '/') {
		req->form = HTTP_TARGET_ORIGIN;
		return 0;
	}
	if (http_slice_eq(t, "*")) {
		req->form = HTTP_TARGET_ASTERISK;
		return http_slice_eq(req->method, "OPTIONS") ? 0 : HTTP_ERR_TARGET;
	}
	req->form = HTTP_TARGET_ABSOLUTE;
	return http_uri_parse(t.p, t.len, &uri) == 0 ? 0 : HTTP_ERR_TARGET;
}

static int parse_request_line(const char *b, size_t pos, size_t eol, struct http_request *req)
{
	size_t sp, i;
	int rc = check_method(b, eol, pos, &sp);
	if (rc < 0)
		return rc;
	if (sp == eol)
		return HTTP_ERR_REQUEST_LINE;
	req->method = (struct http_slice){ b + pos, sp - pos };

	for (i = sp + 1; i < eol && b[i] != ' '; i++) {
		unsigned char c = (unsigned char)b[i];
		if (c < 0x20 || c == 0x7f)
			return HTTP_ERR_CONTROL_CHAR;
		if (c > 0x7e || c == '#')
			return HTTP_ERR_TARGET;
	}
	if (i == sp + 1 || i == eol)
		return HTTP_ERR_REQUEST_LINE;
	req->target = (struct http_slice){ b + sp + 1, i - sp - 1 };

	req->version_minor = parse_version(b + i + 1, eol - i - 1);
	if (req->version_minor < 0)
		return HTTP_ERR_VERSION;
	return classify_target(req);
}

ssize_t http_request_parse(const void *buf, size_t len, size_t max_head, struct http_request *req)
{
	const char *b = buf;
	size_t pos = 0, eol, next, sp;
	int rc;

	if (max_head == 0)
		max_head = HTTP_HEAD_MAX_DEFAULT;
	req->nheaders = 0;

	for (;;) {
		if (pos >= len)
			return pos >= max_head ? HTTP_ERR_TOO_LARGE : 0;
		if (b[pos] == '\n') {
			pos++;
		} else if (b[pos] == '\r') {
			if (pos + 1 >= len)
				return pos + 1 >= max_head ? HTTP_ERR_TOO_LARGE : 0;
			if (b[pos + 1] != '\n')
				return HTTP_ERR_REQUEST_LINE;
			pos += 2;
		} else {
			break;
		}
		if (pos >= max_head)
			return HTTP_ERR_TOO_LARGE;
	}

	rc = next_line(b, len, max_head, pos, &eol, &next);
	if (rc <= 0) {
		/* Refuse a non-token early, before waiting for a whole line. */
		size_t lim = len < max_head ? len : max_head;
		int m = check_method(b, lim, pos, &sp);
		return m < 0 ? m : rc;
	}
	rc = parse_request_line(b, pos, eol, req);
	if (rc < 0)
		return rc;
	return parse_fields(b, len, max_head, next, req->headers, &req->nheaders);
}

ssize_t http_response_parse(const void *buf, size_t len, size_t max_head,
			    struct http_response *resp)
{
	static const char prefix[] = "HTTP/1.";
	const char *b = buf;
	size_t eol, next;
	int rc;

	if (max_head == 0)
		max_head = HTTP_HEAD_MAX_DEFAULT;
	resp->nheaders = 0;

	rc = next_line(b, len, max_head, 0, &eol, &next);
	if (rc <= 0) {
		size_t lim = len < max_head ? len : max_head;
		size_t k = lim < 7 ? lim : 7;
		return memcmp(b, prefix, k) != 0 ? HTTP_ERR_VERSION : rc;
	}
	/* "HTTP/1.1 200" with or without " reason" */
	if (eol < 8 || (resp->version_minor = parse_version(b, 8)) < 0 ||
	    (eol > 8 && b[8] != ' '))
		return HTTP_ERR_VERSION;
	if (eol < 12)
		return HTTP_ERR_STATUS;
	resp->status = 0;
	for (int i = 9; i < 12; i++) {
		if (b[i] < '0' || b[i] > '9')
			return HTTP_ERR_STATUS;
		resp->status = resp->status * 10 + (b[i] - '0');
	}
	if (resp->status < 100)
		return HTTP_ERR_STATUS;
	if (eol > 12 && b[12] != ' ')
		return HTTP_ERR_STATUS;
	size_t r = eol > 12 ? 13 : 12;
	for (size_t k = r; k < eol; k++)
		if (!is_field_char((unsigned char)b[k]))
			return HTTP_ERR_CONTROL_CHAR;
	resp->reason = (struct http_slice){ b + r, eol - r };
	return parse_fields(b, len, max_head, next, resp->headers, &resp->nheaders);
}

/* ---- header helpers ---- */

ssize_t http_header_index(const struct http_header *hdrs, size_t n, const char *name, size_t from)
{
	for (size_t i = from; i < n; i++)
		if (http_slice_case_eq(hdrs[i].name, name))
			return (ssize_t)i;
	return -1;
}

const struct http_header *http_header_find(const struct http_header *hdrs, size_t n,
					   const char *name)
{
	ssize_t i = http_header_index(hdrs, n, name, 0);
	return i < 0 ? NULL : &hdrs[i];
}

/*
 * Calls fn on each trimmed non-empty element of a comma list; stops and
 * returns true as soon as fn does.
 */
static bool list_any(struct http_slice list, bool (*fn)(struct http_slice, const void *),
		     const void *arg)
{
	size_t i = 0;
	while (i < list.len) {
		size_t s = i, e;
		while (i < list.len && list.p[i] != ',')
			i++;
		e = i++;
		while (s < e && is_ows(list.p[s]))
			s++;
		while (e > s && is_ows(list.p[e - 1]))
			e--;
		if (e > s && fn((struct http_slice){ list.p + s, e - s }, arg))
			return true;
	}
	return false;
}

static bool elem_is_token(struct http_slice e, const void *token)
{
	return http_slice_case_eq(e, token);
}

bool http_token_list_has(struct http_slice list, const char *token)
{
	return list_any(list, elem_is_token, token);
}

bool http_header_has_token(const struct http_header *hdrs, size_t n, const char *name,
			   const char *token)
{
	for (ssize_t i = 0; (i = http_header_index(hdrs, n, name, (size_t)i)) >= 0; i++)
		if (http_token_list_has(hdrs[i].value, token))
			return true;
	return false;
}

static bool elem_is_name(struct http_slice e, const void *name)
{
	const struct http_slice *nm = name;
	return e.len == nm->len && mem_case_eq(e.p, nm->p, e.len);
}

bool http_is_hop_by_hop(struct http_slice name, const struct http_header *hdrs, size_t n)
{
	static const char *const fixed[] = {
		"Connection",	    "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Connection", "TE",	  "Trailer",		"Transfer-Encoding",
		"Upgrade",
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (http_slice_case_eq(name, fixed[i]))
			return true;
	for (ssize_t i = 0; (i = http_header_index(hdrs, n, "Connection", (size_t)i)) >= 0; i++)
		if (list_any(hdrs[i].value, elem_is_name, &name))
			return true;
	return false;
}

/* ---- targets, hosts, ports ---- */

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* Decimal 1..65535 without sign; "" is allowed only with a default. */
static int parse_port(const char *p, size_t len, uint16_t *port)
{
	unsigned v = 0;
	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* port_required false: a missing port gives default_port, even 0. */
static int split_host_port(const char *s, size_t len, uint16_t default_port, bool port_required,
			   struct http_slice *host, uint16_t *port)
{
	size_t hs, he, rest;

	if (len == 0)
		return -1;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		char tmp[INET6_ADDRSTRLEN];
		struct in6_addr a;
		if (!rb)
			return -1;
		hs = 1;
		he = (size_t)(rb - s);
		if (he - hs == 0 || he - hs >= sizeof tmp)
			return -1;
		memcpy(tmp, s + hs, he - hs);
		tmp[he - hs] = 0;
		if (inet_pton(AF_INET6, tmp, &a) != 1)
			return -1;
		rest = he + 1;
		if (rest < len && s[rest] != ':')
			return -1;
	} else {
		hs = 0;
		he = 0;
		while (he < len && s[he] != ':') {
			if (!is_host_char(s[he]))
				return -1;
			he++;
		}
		if (he == 0 || he > HTTP_HOST_MAX)
			return -1;
		rest = he;
	}
	if (rest + 1 >= len) {
		/* no port, or "host:" */
		if (port_required && default_port == 0)
			return -1;
		*port = default_port;
	} else if (parse_port(s + rest + 1, len - rest - 1, port) < 0) {
		return -1;
	}
	*host = (struct http_slice){ s + hs, he - hs };
	return 0;
}

int http_host_port_split(const char *s, size_t len, uint16_t default_port,
			 struct http_slice *host, uint16_t *port)
{
	return split_host_port(s, len, default_port, true, host, port);
}

static uint16_t scheme_default_port(struct http_slice scheme)
{
	if (http_slice_case_eq(scheme, "http") || http_slice_case_eq(scheme, "ws"))
		return 80;
	if (http_slice_case_eq(scheme, "https") || http_slice_case_eq(scheme, "wss"))
		return 443;
	return 0;
}

int http_uri_parse(const char *s, size_t len, struct http_uri *uri)
{
	size_t i = 0, a, ae, at = 0, nat = 0;

	memset(uri, 0, sizeof *uri);
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	while (i < len && s[i] != ':') {
		char c = lower(s[i]);
		bool ok = (c >= 'a' && c <= 'z') ||
			  (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
		if (!ok)
			return -1;
		i++;
	}
	if (i == 0 || len - i < 3 || memcmp(s + i, "://", 3) != 0)
		return -1;
	uri->scheme = (struct http_slice){ s, i };
	a = i + 3;
	for (ae = a; ae < len && s[ae] != '/' && s[ae] != '?' && s[ae] != '#'; ae++)
		if (s[ae] == '@') {
			at = ae;
			nat++;
		}
	if (nat > 1)
		return -1;
	if (nat == 1) {
		uri->userinfo = (struct http_slice){ s + a, at - a };
		a = at + 1;
	}
	if (split_host_port(s + a, ae - a, scheme_default_port(uri->scheme), false, &uri->host,
			    &uri->port) < 0)
		return -1;
	uri->port_explicit = memchr(s + a, ':', ae - a) != NULL &&
			     s[ae - 1] != ':' && s[ae - 1] != ']';

	size_t p = ae, pe = ae;
	while (pe < len && s[pe] != '?' && s[pe] != '#')
		pe++;
	uri->path = pe > p ? (struct http_slice){ s + p, pe - p } : (struct http_slice){ "/", 1 };
	if (pe < len && s[pe] == '?') {
		size_t q = pe + 1, qe = q;
		while (qe < len && s[qe] != '#')
			qe++;
		uri->query = (struct http_slice){ s + q, qe - q };
		uri->has_query = true;
	}
	return 0;
}

int http_request_authority(const struct http_request *req, uint16_t default_port,
			   struct http_slice *host, uint16_t *port)
{
	if (req->form == HTTP_TARGET_AUTHORITY)
		return http_host_port_split(req->target.p, req->target.len, 0, host, port);
	if (req->form == HTTP_TARGET_ABSOLUTE) {
		struct http_uri uri;
		if (http_uri_parse(req->target.p, req->target.len, &uri) < 0)
			return -1;
		*host = uri.host;
		*port = uri.port ? uri.port : default_port;
		return *port ? 0 : -1;
	}
	ssize_t i = http_header_index(req->headers, req->nheaders, "Host", 0);
	if (i < 0 || http_header_index(req->headers, req->nheaders, "Host", (size_t)i + 1) >= 0)
		return -1;
	return http_host_port_split(req->headers[i].value.p, req->headers[i].value.len,
				    default_port, host, port);
}

/* ---- body framing ---- */

struct cl_state {
	uint64_t value;
	bool seen;
	bool bad;
};

static bool cl_elem(struct http_slice e, const void *arg)
{
	struct cl_state *st = (struct cl_state *)arg;
	uint64_t v = 0;
	for (size_t i = 0; i < e.len; i++) {
		if (e.p[i] < '0' || e.p[i] > '9' || v > (UINT64_MAX >> 1) / 10) {
			st->bad = true;
			return true;
		}
		v = v * 10 + (uint64_t)(e.p[i] - '0');
	}
	if (st->seen && st->value != v) {
		st->bad = true;
		return true;
	}
	st->seen = true;
	st->value = v;
	return false;
}

int http_content_length(const struct http_header *hdrs, size_t n, uint64_t *out)
{
	struct cl_state st = { 0, false, false };
	bool present = false;

	for (ssize_t i = 0; (i = http_header_index(hdrs, n, "Content-Length", (size_t)i)) >= 0;
	     i++) {
		present = true;
		list_any(hdrs[i].value, cl_elem, &st);
		if (st.bad)
			return -1;
	}
	if (!present)
		return 0;
	if (!st.seen) /* only empty values */
		return -1;
	*out = st.value;
	return 1;
}

struct te_state {
	int chunked;	/* count */
	bool last_chunked;
	bool any;
};

static bool te_elem(struct http_slice e, const void *arg)
{
	struct te_state *st = (struct te_state *)arg;
	/* a coding may carry parameters: "gzip;q=1" */
	size_t k = 0;
	while (k < e.len && e.p[k] != ';' && !is_ows(e.p[k]))
		k++;
	st->any = true;
	st->last_chunked = k == e.len && http_slice_case_eq(e, "chunked");
	if (st->last_chunked)
		st->chunked++;
	return false;
}

int http_transfer_chunked(const struct http_header *hdrs, size_t n)
{
	struct te_state st = { 0, false, false };
	bool present = false;

	for (ssize_t i = 0;
	     (i = http_header_index(hdrs, n, "Transfer-Encoding", (size_t)i)) >= 0; i++) {
		present = true;
		list_any(hdrs[i].value, te_elem, &st);
	}
	if (!present)
		return 0;
	return st.any && st.last_chunked && st.chunked == 1 ? 1 : -1;
}

int http_request_body(const struct http_request *req, struct http_body *body)
{
	int te = http_transfer_chunked(req->headers, req->nheaders);
	bool te_present = http_header_find(req->headers, req->nheaders, "Transfer-Encoding");
	int cl = http_content_length(req->headers, req->nheaders, &body->length);

	if (te_present) {
		if (te != 1 || cl != 0 || req->version_minor == 0)
			return -1;
		body->kind = HTTP_BODY_CHUNKED;
		body->length = 0;
		return 0;
	}
	if (cl < 0)
		return -1;
	if (cl == 0 || body->length == 0) {
		body->kind = HTTP_BODY_NONE;
		body->length = 0;
	} else {
		body->kind = HTTP_BODY_LENGTH;
	}
	return 0;
}

int http_response_body(const struct http_response *resp, struct http_slice req_method,
		       struct http_body *body)
{
	int s = resp->status;

	body->length = 0;
	if (http_slice_eq(req_method, "CONNECT") && s >= 200 && s < 300) {
		body->kind = HTTP_BODY_TUNNEL;
		return 0;
	}
	if (s == 101) {
		body->kind = HTTP_BODY_TUNNEL;
		return 0;
	}
	if (http_slice_eq(req_method, "HEAD") || s < 200 || s == 204 || s == 304) {
		body->kind = HTTP_BODY_NONE;
		return 0;
	}
	if (http_header_find(resp->headers, resp->nheaders, "Transfer-Encoding")) {
		body->kind = http_transfer_chunked(resp->headers, resp->nheaders) == 1
				     ? HTTP_BODY_CHUNKED
				     : HTTP_BODY_UNTIL_CLOSE;
		return 0;
	}
	int cl = http_content_length(resp->headers, resp->nheaders, &body->length);
	if (cl < 0)
		return -1;
	if (cl == 0)
		body->kind = HTTP_BODY_UNTIL_CLOSE;
	else
		body->kind = body->length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	return 0;
}

bool http_keep_alive(int version_minor, const struct http_header *hdrs, size_t n)
{
	if (http_header_has_token(hdrs, n, "Connection", "close"))
		return false;
	return version_minor >= 1 || http_header_has_token(hdrs, n, "Connection", "keep-alive");
}

/* ---- Basic credentials ---- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict RFC 4648 base64 with padding. Returns the decoded length or -1. */
static ssize_t b64_decode(const char *s, size_t len, uint8_t *out, size_t size)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64_value(s[i + k])) < 0) {
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		int n = 3 - pad;
		if (o + (size_t)n > size)
			return -1;
		for (int k = 0; k < n; k++)
			out[o++] = (uint8_t)(w >> (16 - 8 * k));
	}
	return (ssize_t)o;
}

int http_basic_auth_decode(struct http_slice value, char *buf, size_t size, const char **user,
			   const char **pass)
{
	size_t i = 5;
	ssize_t n;
	char *colon;

	if (value.len < 6 || !mem_case_eq(value.p, "Basic", 5) || value.p[5] != ' ')
		return -1;
	while (i < value.len && value.p[i] == ' ')
		i++;
	if (size == 0 || i == value.len)
		return -1;
	n = b64_decode(value.p + i, value.len - i, (uint8_t *)buf, size - 1);
	if (n < 0)
		return -1;
	for (ssize_t k = 0; k < n; k++)
		if ((unsigned char)buf[k] < 0x20 || buf[k] == 0x7f)
			return -1;
	buf[n] = 0;
	colon = memchr(buf, ':', (size_t)n);
	if (!colon)
		return -1;
	*colon = 0;
	*user = buf;
	*pass = colon + 1;
	return 0;
}

ssize_t http_basic_auth_encode(const char *user, const char *pass, char *out, size_t size)
{
	size_t ul = strlen(user), pl = strlen(pass), in = ul + 1 + pl;
	size_t need = 6 + (in + 2) / 3 * 4;
	size_t o = 6;

	if (strchr(user, ':') || need + 1 > size)
		return -1;
	memcpy(out, "Basic ", 6);
	for (size_t i = 0; i < in; i += 3) {
		uint8_t b[3] = { 0, 0, 0 };
		size_t n = in - i < 3 ? in - i : 3;
		for (size_t k = 0; k < n; k++) {
			size_t j = i + k;
			b[k] = (uint8_t)(j < ul ? user[j] : j == ul ? ':' : pass[j - ul - 1]);
		}
		uint32_t w = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
		out[o++] = b64_alphabet[w >> 18];
		out[o++] = b64_alphabet[(w >> 12) & 63];
		out[o++] = n > 1 ? b64_alphabet[(w >> 6) & 63] : '=';
		out[o++] = n > 2 ? b64_alphabet[w & 63] : '=';
	}
	out[o] = 0;
	return (ssize_t)o;
}

/* ---- chunked body ---- */

enum {
	CH_SIZE_START,
	CH_SIZE,
	CH_EXT,
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START,
	CH_TRAILER,
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE,
	CH_ERROR,
};

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof *c);
	c->state = CH_SIZE_START;
}

bool http_chunked_done(const struct http_chunked *c)
{
	return c->state == CH_DONE;
}

ssize_t http_chunked_scan(struct http_chunked *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i = 0;

	while (i < len) {
		uint8_t b = p[i];
		int h;

		switch (c->state) {
		case CH_SIZE_START:
			if ((h = hex_value((char)b)) < 0)
				goto bad;
			c->remaining = (uint64_t)h;
			c->digits = 1;
			c->state = CH_SIZE;
			break;
		case CH_SIZE:
			if ((h = hex_value((char)b)) >= 0) {
				if (++c->digits > 16)
					goto bad;
				c->remaining = c->remaining << 4 | (uint64_t)h;
			} else if (b == '\r') {
				c->state = CH_SIZE_LF;
			} else if (b == ';' || b == ' ' || b == '\t') {
				c->count = 1;
				c->state = CH_EXT;
			} else {
				goto bad;
			}
			break;
		case CH_EXT:
			if (b == '\r')
				c->state = CH_SIZE_LF;
			else if (!is_field_char(b) || ++c->count > HTTP_CHUNKED_EXT_MAX)
				goto bad;
			break;
		case CH_SIZE_LF:
			if (b != '\n')
				goto bad;
			c->count = 0;
			c->state = c->remaining ? CH_DATA : CH_TRAILER_START;
			break;
		case CH_DATA: {
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			c->remaining -= n;
			i += n;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		case CH_DATA_CR:
			if (b != '\r')
				goto bad;
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (b != '\n')
				goto bad;
			c->state = CH_SIZE_START;
			break;
		case CH_TRAILER_START:
			if (b == '\r') {
				c->state = CH_END_LF;
				break;
			}
			if (!is_tchar(b))
				goto bad;
			c->state = CH_TRAILER;
			goto count_trailer;
		case CH_TRAILER:
			if (b == '\r') {
				c->state = CH_TRAILER_LF;
				break;
			}
			if (!is_field_char(b))
				goto bad;
		count_trailer:
			if (++c->count > HTTP_CHUNKED_TRAILER_MAX)
				goto bad;
			break;
		case CH_TRAILER_LF:
			if (b != '\n')
				goto bad;
			c->state = CH_TRAILER_START;
			break;
		case CH_END_LF:
			if (b != '\n')
				goto bad;
			c->state = CH_DONE;
			return (ssize_t)(i + 1);
		case CH_DONE:
			return (ssize_t)i;
		default:
			goto bad;
		}
		i++;
	}
	if (c->state == CH_ERROR)
		goto bad;
	return (ssize_t)i;
bad:
	c->state = CH_ERROR;
	return -1;
}

/* ---- query strings ---- */

struct http_slice http_target_query(struct http_slice target)
{
	const char *q = memchr(target.p, '?', target.len);
	if (!q)
		return (struct http_slice){ target.p + target.len, 0 };
	size_t s = (size_t)(q - target.p) + 1, e = s;
	while (e < target.len && target.p[e] != '#')
		e++;
	return (struct http_slice){ target.p + s, e - s };
}

/* Decodes one form-encoded byte at p[*i]; returns it, or -1 on a bad escape. */
static int form_byte(const char *p, size_t len, size_t *i)
{
	char c = p[*i];
	if (c == '+') {
		(*i)++;
		return ' ';
	}
	if (c != '%') {
		(*i)++;
		return (unsigned char)c;
	}
	if (*i + 2 >= len)
		return -1;
	int hi = hex_value(p[*i + 1]), lo = hex_value(p[*i + 2]);
	if (hi < 0 || lo < 0)
		return -1;
	*i += 3;
	return hi << 4 | lo;
}

static bool form_name_eq(const char *p, size_t len, const char *key)
{
	size_t i = 0, k = 0, kl = strlen(key);
	while (i < len) {
		int c = form_byte(p, len, &i);
		if (c < 0 || k == kl || (unsigned char)key[k] != c)
			return false;
		k++;
	}
	return k == kl;
}

int http_query_get(struct http_slice query, const char *key, char *out, size_t size)
{
	size_t i = 0;

	while (i <= query.len) {
		size_t s = i, eq, e;
		while (i < query.len && query.p[i] != '&')
			i++;
		e = i++;
		for (eq = s; eq < e && query.p[eq] != '='; eq++)
			;
		if (e == s || !form_name_eq(query.p + s, eq - s, key))
			continue;
		size_t o = 0, v = eq < e ? eq + 1 : e;
		const char *vp = query.p + v;
		size_t vl = e - v, k = 0;
		while (k < vl) {
			int c = form_byte(vp, vl, &k);
			if (c <= 0 || o + 1 >= size)
				return HTTP_QUERY_BAD;
			out[o++] = (char)c;
		}
		if (size == 0)
			return HTTP_QUERY_BAD;
		out[o] = 0;
		return (int)o;
	}
	return HTTP_QUERY_NOT_FOUND;
}
