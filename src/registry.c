/*
 * Every type portway knows, by kind. Adding a type: one file, one line here.
 * The references are strong: a type whose file is not built fails the link.
 * This is the only file that names every type, so it sits above every layer;
 * the model (src/conf) sees only the lookup functions (src/conf/model.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "src/conf/model.h"
#include "src/core/stream.h"

extern const struct handler_type handler_tcp, handler_udp, handler_auto, handler_http, handler_socks5,
	handler_socks4, handler_relay, handler_rtcp, handler_rudp, handler_stream, handler_gateway,
	handler_natrelay, handler_natrelay_server, handler_agent, handler_ss, handler_ssu, handler_sshd;
extern const struct handler_type handler_http2;
extern const struct listener_type listener_http2, listener_h2, listener_h2c, listener_grpc;
extern const struct dialer_type dialer_http2, dialer_h2, dialer_h2c, dialer_grpc;
extern const struct connector_type connector_http2;
extern const struct listener_type listener_tcp, listener_udp, listener_tls, listener_ws, listener_wss,
	listener_dtls, listener_rtcp, listener_rudp, listener_natrelay_server, listener_agent, listener_mtcp,
	listener_mtls, listener_mws, listener_mwss, listener_sshd;
extern const struct dialer_type dialer_tcp, dialer_udp, dialer_tls, dialer_ws, dialer_wss, dialer_dtls, dialer_mtcp,
	dialer_mtls, dialer_mws, dialer_mwss;
extern const struct connector_type connector_forward, connector_http, connector_socks5, connector_socks4,
	connector_relay, connector_stream, connector_natrelay, connector_ss, connector_ssu;
extern const struct handler_type handler_sni, handler_red, handler_redu;
extern const struct listener_type listener_red, listener_redu;
extern const struct handler_type handler_unix;
extern const struct listener_type listener_unix;
extern const struct dialer_type dialer_unix;

static const struct handler_type *const handlers[] = {
	&handler_tcp,
	&handler_udp,
	&handler_auto,
	&handler_http,
	&handler_socks5,
	&handler_socks4,
	&handler_relay,
	&handler_rtcp,
	&handler_rudp,
	&handler_stream,
	&handler_gateway,
	&handler_natrelay,
	&handler_natrelay_server,
	&handler_agent,
	&handler_ss,
	&handler_ssu,
	&handler_sshd,
	&handler_sni,
	&handler_unix,
	&handler_http2,
	&handler_red,
	&handler_redu,
};

static const struct listener_type *const listeners[] = {
	&listener_tcp,
	&listener_udp,
	&listener_tls,
	&listener_ws,
	&listener_wss,
	&listener_dtls,
	&listener_rtcp,
	&listener_rudp,
	&listener_natrelay_server,
	&listener_agent,
	&listener_mtcp,
	&listener_mtls,
	&listener_mws,
	&listener_mwss,
	&listener_sshd,
	&listener_unix,
	&listener_http2,
	&listener_h2,
	&listener_h2c,
	&listener_grpc,
	&listener_red,
	&listener_redu,
};

static const struct dialer_type *const dialers[] = {
	&dialer_tcp,
	&dialer_udp,
	&dialer_tls,
	&dialer_ws,
	&dialer_wss,
	&dialer_dtls,
	&dialer_mtcp,
	&dialer_mtls,
	&dialer_mws,
	&dialer_mwss,
	&dialer_unix,
	&dialer_http2,
	&dialer_h2,
	&dialer_h2c,
	&dialer_grpc,
};

static const struct connector_type *const connectors[] = {
	&connector_forward,
	&connector_http,
	&connector_socks5,
	&connector_socks4,
	&connector_relay,
	&connector_stream,
	&connector_natrelay,
	&connector_ss,
	&connector_ssu,
	&connector_http2,
};

/* GOST's other names for the same thing. */
static const struct { const char *alias, *name; } aliases[] = {
	{ "forward", "tcp" },     /* handler forward == tcp port forwarding */
	{ "direct", "forward" },  /* connector */
	{ "socks", "socks5" },
	{ "socks4a", "socks4" },
	{ "https", "http" },
	{ "unix", "forward" },   /* connector: the stream to the socket is the target */
	{ "tcp", "forward" },    /* connector: GOST's tcp connector hands the stream on as is */
	{ "redir", "red" },      /* handler and listener: the transparent proxy */
	{ "redirect", "red" },
};

#define LOOKUP(table, name)                                                                         \
	do {                                                                                        \
		for (int pass = 0; pass < 2; pass++) {                                              \
			for (size_t i = 0; i < sizeof table / sizeof *table; i++)                   \
				if (!strcasecmp(table[i]->name, name))                  \
					return table[i];                                            \
			/* second pass: the alias's target, if that type exists in this table */   \
			const char *target = NULL;                                                  \
			for (size_t a = 0; a < sizeof aliases / sizeof *aliases && !target; a++)    \
				if (!strcasecmp(aliases[a].alias, name))                            \
					target = aliases[a].name;                                   \
			if (!target)                                                                \
				return NULL;                                                        \
			name = target;                                                              \
		}                                                                                   \
		return NULL;                                                                        \
	} while (0)

const struct handler_type *registry_handler(const char *name) { LOOKUP(handlers, name); }
const struct listener_type *registry_listener(const char *name) { LOOKUP(listeners, name); }
const struct dialer_type *registry_dialer(const char *name) { LOOKUP(dialers, name); }
const struct connector_type *registry_connector(const char *name) { LOOKUP(connectors, name); }

#define NAMES(table)                                                                                \
	for (size_t i = 0; i < sizeof table / sizeof *table; i++) {                                 \
		size_t l = strlen(out);                                                             \
		if (!keep || keep(table[i]))                                                        \
			snprintf(out + l, outlen - l, "%s%s", l ? ", " : "", table[i]->name);       \
	}

void registry_names_if(const char *kind, int (*keep)(const void *type), char *out, size_t outlen)
{
	out[0] = 0;
	if (!strcmp(kind, "handler")) {
		NAMES(handlers)
	} else if (!strcmp(kind, "listener")) {
		NAMES(listeners)
	} else if (!strcmp(kind, "dialer")) {
		NAMES(dialers)
	} else if (!strcmp(kind, "connector")) {
		NAMES(connectors)
	}
}

void registry_names(const char *kind, char *out, size_t outlen)
{
	registry_names_if(kind, NULL, out, outlen);
}
