/*
 * A configuration tree: what the YAML file or the -L/-F URLs say, with the
 * place each value came from, so every error can name file, line and column.
 * Keys are matched case-insensitively, as GOST (viper) does.
 */
#ifndef PORTWAY_CNODE_H
#define PORTWAY_CNODE_H
#include <stddef.h>
#include <stdio.h>

enum cnode_kind { CN_SCALAR, CN_MAP, CN_SEQ };

struct cnode {
	enum cnode_kind kind;
	char *key;              /* set when the node is a value in a map */
	char *value;            /* scalars */
	struct cnode **items;   /* map values or sequence items, owned */
	size_t n;
	const char *file;       /* points into a string owned by the root */
	int line, col;          /* 1-based; 0 when made from the command line */
	int key_line, key_col;  /* where the key of a map value is; 0 when unknown */
};

struct cnode *cnode_new(enum cnode_kind kind, const char *file, int line, int col);
void cnode_free(struct cnode *n);
void cnode_append(struct cnode *parent, struct cnode *child);
struct cnode *cnode_get(const struct cnode *map, const char *key);
const char *cnode_str(const struct cnode *map, const char *key);   /* scalar value or NULL */
/* Map helpers used to build trees from the command line. */
struct cnode *cnode_map_child(struct cnode *map, const char *key);  /* get or create a map */
void cnode_set(struct cnode *map, const char *key, const char *value);
struct cnode *cnode_clone(const struct cnode *n);
/* The same without positions (file NULL, lines 0): a tree that outlives the file's config. */
struct cnode *cnode_clone_bare(const struct cnode *n);
/* Canonical text of a subtree (keys lower-cased), to tell whether two configs differ. */
char *cnode_fingerprint(const struct cnode *n);
/* Write the tree as YAML, or as JSON (numbers and booleans bare): `portway -O`. 0 or -1. */
int cnode_write(const struct cnode *n, FILE *f, int json);
/* Load a YAML (or JSON) document. NULL on error, with "file:line:col: message" in err. */
struct cnode *cnode_load_yaml(const char *path, char *err, size_t errlen);
/* The same from an open stream (stdin, a string); name stands for the file in positions. */
struct cnode *cnode_load_yaml_stream(FILE *f, const char *name, char *err, size_t errlen);

#endif
