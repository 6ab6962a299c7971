/* Every type portway knows, by kind. Adding a type: one file, one line here. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "model.h"

extern const struct handler_type handler_tcp, handler_udp;
extern const struct listener_type listener_tcp, listener_udp;
extern const struct dialer_type dialer_tcp, dialer_udp;
extern const struct connector_type connector_forward;

static const struct handler_type *const handlers[] = {
	&handler_tcp,
	&handler_udp,
};

static const struct listener_type *const listeners[] = {
	&listener_tcp,
	&listener_udp,
};

static const struct dialer_type *const dialers[] = {
	&dialer_tcp,
	&dialer_udp,
};

static const struct connector_type *const connectors[] = {
	&connector_forward,
};

/* GOST's other names for the same thing. */
static const struct { const char *alias, *name; } aliases[] = {
	{ "forward", "tcp" },   /* handler forward == tcp port forwarding */
	{ "direct", "forward" },
};

static const char *unalias(const char *name, const char *const *known, size_t n)
{
	for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
		if (!strcasecmp(name, aliases[i].alias)) {
			for (size_t k = 0; k < n; k++)
				if (!strcasecmp(known[k], aliases[i].name))
					return aliases[i].name;
		}
	return name;
}

#define LOOKUP(table, name)                                                                 \
	do {                                                                                \
		const char *names_[sizeof table / sizeof *table];                           \
		for (size_t i = 0; i < sizeof table / sizeof *table; i++)                   \
			names_[i] = table[i]->name;                                         \
		const char *n_ = unalias(name, names_, sizeof table / sizeof *table);       \
		for (size_t i = 0; i < sizeof table / sizeof *table; i++)                   \
			if (!strcasecmp(table[i]->name, n_))                                \
				return table[i];                                            \
		return NULL;                                                                \
	} while (0)

const struct handler_type *registry_handler(const char *name) { LOOKUP(handlers, name); }
const struct listener_type *registry_listener(const char *name) { LOOKUP(listeners, name); }
const struct dialer_type *registry_dialer(const char *name) { LOOKUP(dialers, name); }
const struct connector_type *registry_connector(const char *name) { LOOKUP(connectors, name); }

#define NAMES(table)                                                                        \
	for (size_t i = 0; i < sizeof table / sizeof *table; i++) {                         \
		size_t l = strlen(out);                                                     \
		snprintf(out + l, outlen - l, "%s%s", i ? ", " : "", table[i]->name);       \
	}

void registry_names(const char *kind, char *out, size_t outlen)
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
