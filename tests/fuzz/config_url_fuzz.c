/* fuzz-links: portway
 * The -L/-F URL parser (src/conf/url.c) and the model built from it: one argument per
 * line, "L..." a service and "F..." a chain node; accepted or rejected with a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/conf/model.h"
#include "src/core/log.h"

#define ARGS_MAX 8

/* A config none of whose services started: each service holds a reference too (as main's
 * drop_unstarted). */
static void release(struct config *c)
{
	for (size_t i = 0; i < c->n_services; i++)
		service_unref(c->services[i]);
	config_unref(c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level("fatal");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *L[ARGS_MAX], *F[ARGS_MAX];
	int nL = 0, nF = 0;
	memcpy(text, data, size);
	text[size] = 0;
	for (char *line = text, *next; line && nL < ARGS_MAX && nF < ARGS_MAX; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (line[0] == 'L')
			L[nL++] = line + 1;
		else if (line[0] == 'F')
			F[nF++] = line + 1;
	}
	if (nL) {
		struct cfg_err e = { { 0 } };
		struct config *c = config_from_urls(L, nL, F, nF, &e);
		if (c)
			release(c);
		else if (!e.msg[0])
			abort();
	}
	free(text);
	return 0;
}
