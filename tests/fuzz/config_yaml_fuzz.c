/* fuzz-links: portway
 * The YAML loader and the model built from it (src/conf): any document is accepted or
 * rejected with a message, never a crash or a leak. The input is written to a file because
 * the loader reads files, as `portway -C` does. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/conf/model.h"
#include "src/core/log.h"

static char path[64];

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
	snprintf(path, sizeof path, "/tmp/portway-fuzz-%d.yaml", (int)getpid());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	struct cfg_err e = { { 0 } };
	struct config *c = config_load_file(path, &e);
	if (c)
		release(c);
	else if (!e.msg[0])
		abort(); /* a rejected file always says why */
	return 0;
}
