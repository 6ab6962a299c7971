/*
 * A configuration tree to and from jansson values, for the web API (src/cli/api.c).
 * Scalars that read as numbers or booleans become JSON numbers and booleans (as
 * `portway -O json` writes them); JSON numbers come back as their shortest text.
 */
#ifndef PORTWAY_CNODE_JSON_H
#define PORTWAY_CNODE_JSON_H
#include <jansson.h>

#include "src/conf/cnode.h"

/* A new reference. */
json_t *cnode_to_json(const struct cnode *n);
/* A tree without positions; key names it when it is a map value (NULL otherwise). Object
 * members that are null are left out, as GOST reads them (the field stays unset). */
struct cnode *cnode_from_json(const json_t *j, const char *key);

#endif
