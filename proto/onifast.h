/*
 * The Onifast gateway's small wire rules, without I/O (doc/gateway.md):
 * which pool a host name routes to, what a tunnel name may be, and the
 * "CONNECT <port>\n" line that opens a tunnel worker.
 */
#ifndef PORTWAY_ONIFAST_H
#define PORTWAY_ONIFAST_H
#include <stdbool.h>
#include <stddef.h>

#define ONIFAST_NAME_MAX 63
#define ONIFAST_LINE_MAX 32

enum onifast_kind { ONIFAST_RELAY, ONIFAST_TUNNEL };

struct onifast_route {
	char name[ONIFAST_NAME_MAX + 1];
	enum onifast_kind kind;
	int port;                   /* tunnel: the agent-side port */
};

/* A tunnel name is a DNS label: 1-63 of [a-z0-9-], not starting or ending with '-'. */
bool onifast_name_valid(const char *name);

/*
 * Route a Host header value or SNI name (port allowed, case-insensitive).
 * With domains: "NAME.<domain>" is NAME's pool of default_kind (port
 * default_port), "p<PORT>.NAME.<domain>" NAME's tunnel pool with PORT; any
 * other host is not routed. Without domains the first label is the name (the
 * second after a p<PORT> label). 0, or -1 when not routable.
 */
int onifast_route_host(const char *const *domains, size_t n_domains, const char *host, size_t len,
		       enum onifast_kind default_kind, int default_port, struct onifast_route *r);

/* "CONNECT <port>\n": bytes consumed (through the newline), 0 when more are needed, -1 malformed. */
int onifast_connect_line_parse(const char *buf, size_t len, int *port);
int onifast_connect_line_write(char *out, size_t cap, int port);

#endif
