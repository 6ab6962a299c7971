/* Small helpers: checked allocation, durations, addresses. */
#ifndef PORTWAY_UTIL_H
#define PORTWAY_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Seconds on the monotonic clock (not the loop's cached time: callable from any thread). */
double mono_now(void);

/* "10s", "1m30s", "500ms", "2h", or a bare number of seconds. Returns seconds, -1 if malformed. */
double duration_parse(const char *s);
/* "true"/"false"/"1"/"0"/"yes"/"no"/"on"/"off"; -1 if neither. */
int bool_parse(const char *s);

/* Split "host:port", "[v6]:port", ":port". host may come back empty. Returns 0 or -1. */
int hostport_split(const char *s, char *host, size_t hostlen, uint16_t *port);
/* Format host and port, bracketing IPv6 literals. */
void hostport_format(char *out, size_t outlen, const char *host, uint16_t port);
/* An IPv4 address seen through a dual-stack socket (::ffff:a.b.c.d) as the IPv4 one it is. */
void sockaddr_unmap_v4(struct sockaddr_storage *ss);
/* Printable "ip:port" of a socket address. */
void sockaddr_format(const struct sockaddr *sa, char *out, size_t outlen);
/* Parse a numeric IPv4/IPv6 literal (no DNS) into a sockaddr; returns 0 or -1. */
int sockaddr_from_literal(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);
/* Constant-time comparison of two strings (length leak only). */
int secret_equal(const char *a, const char *b);

#endif
