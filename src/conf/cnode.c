#include "src/conf/cnode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "src/core/util.h"

struct cnode *cnode_new(enum cnode_kind kind, const char *file, int line, int col)
{
	struct cnode *n = xcalloc(1, sizeof *n);
	n->kind = kind;
	n->file = file;
	n->line = line;
	n->col = col;
	return n;
}

void cnode_free(struct cnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		cnode_free(n->items[i]);
	free(n->items);
	free(n->key);
	free(n->value);
	free(n);
}

void cnode_append(struct cnode *parent, struct cnode *child)
{
	parent->items = xrealloc(parent->items, (parent->n + 1) * sizeof *parent->items);
	parent->items[parent->n++] = child;
}

struct cnode *cnode_get(const struct cnode *map, const char *key)
{
	if (!map || map->kind != CN_MAP)
		return NULL;
	/* Last one wins, as in most YAML loaders. */
	for (size_t i = map->n; i-- > 0;)
		if (!strcasecmp(map->items[i]->key, key))
			return map->items[i];
	return NULL;
}

const char *cnode_str(const struct cnode *map, const char *key)
{
	struct cnode *n = cnode_get(map, key);
	return n && n->kind == CN_SCALAR ? n->value : NULL;
}

struct cnode *cnode_map_child(struct cnode *map, const char *key)
{
	struct cnode *n = cnode_get(map, key);
	if (n && n->kind == CN_MAP)
		return n;
	n = cnode_new(CN_MAP, map->file, map->line, map->col);
	n->key = xstrdup(key);
	cnode_append(map, n);
	return n;
}

void cnode_set(struct cnode *map, const char *key, const char *value)
{
	struct cnode *n = cnode_new(CN_SCALAR, map->file, map->line, map->col);
	n->key = xstrdup(key);
	n->value = xstrdup(value);
	cnode_append(map, n);
}

struct cnode *cnode_clone(const struct cnode *n)
{
	struct cnode *c = cnode_new(n->kind, n->file, n->line, n->col);
	c->key = xstrdup(n->key);
	c->value = xstrdup(n->value);
	c->key_line = n->key_line;
	c->key_col = n->key_col;
	for (size_t i = 0; i < n->n; i++)
		cnode_append(c, cnode_clone(n->items[i]));
	return c;
}

struct cnode *cnode_clone_bare(const struct cnode *n)
{
	struct cnode *c = cnode_new(n->kind, NULL, 0, 0);
	c->key = n->key ? xstrdup(n->key) : NULL;
	c->value = n->value ? xstrdup(n->value) : NULL;
	for (size_t i = 0; i < n->n; i++)
		cnode_append(c, cnode_clone_bare(n->items[i]));
	return c;
}

struct fpbuf {
	char *p;
	size_t len, cap;
};

static void fp_put(struct fpbuf *b, const char *s)
{
	size_t l = strlen(s);
	if (b->len + l + 1 > b->cap) {
		b->cap = (b->len + l + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, l + 1);
	b->len += l;
}

static void fp_walk(struct fpbuf *b, const struct cnode *n)
{
	if (n->key) {
		for (const char *k = n->key; *k; k++) {
			char c[2] = { (char)(*k >= 'A' && *k <= 'Z' ? *k + 32 : *k), 0 };
			fp_put(b, c);
		}
		fp_put(b, "=");
	}
	if (n->kind == CN_SCALAR) {
		fp_put(b, "\"");
		fp_put(b, n->value ? n->value : "");
		fp_put(b, "\"");
		return;
	}
	fp_put(b, n->kind == CN_MAP ? "{" : "[");
	for (size_t i = 0; i < n->n; i++) {
		fp_walk(b, n->items[i]);
		fp_put(b, ",");
	}
	fp_put(b, n->kind == CN_MAP ? "}" : "]");
}

char *cnode_fingerprint(const struct cnode *n)
{
	struct fpbuf b = { NULL, 0, 0 };
	fp_put(&b, "");
	if (n)
		fp_walk(&b, n);
	return b.p;
}

/* ---- YAML loading with libyaml's event parser ---- */

/* Anchors seen so far (&name), for aliases (*name) and merge keys (<<: *name). */
struct yaml_anchor {
	char *name;                 /* owned */
	const struct cnode *node;   /* in the tree being built, complete */
	size_t size;                /* nodes in it */
};

/* Aliases copy their anchor's subtree: a bound on what they may add keeps a small file from
 * expanding into an enormous tree ("billion laughs"). */
#define YAML_ALIAS_NODES_MAX 100000

struct yaml_loader {
	yaml_parser_t parser;
	const char *file;
	char *err;
	size_t errlen;
	struct yaml_anchor *anchors;    /* owned */
	size_t n_anchors;
	size_t alias_nodes;             /* nodes copied by aliases so far */
};

static size_t cnode_count(const struct cnode *n)
{
	size_t k = 1;
	for (size_t i = 0; i < n->n; i++)
		k += cnode_count(n->items[i]);
	return k;
}

static void anchor_add(struct yaml_loader *L, const yaml_char_t *name, const struct cnode *n)
{
	if (!name)
		return;
	L->anchors = xrealloc(L->anchors, (L->n_anchors + 1) * sizeof *L->anchors);
	L->anchors[L->n_anchors++] = (struct yaml_anchor){ xstrdup((const char *)name), n, cnode_count(n) };
}

static void anchors_free(struct yaml_loader *L)
{
	for (size_t i = 0; i < L->n_anchors; i++)
		free(L->anchors[i].name);
	free(L->anchors);
}

static int yaml_fail(struct yaml_loader *L, int line, int col, const char *msg)
{
	snprintf(L->err, L->errlen, "%s:%d:%d: %s", L->file, line, col, msg);
	return -1;
}

static struct cnode *yaml_node(struct yaml_loader *L, yaml_event_t *ev, int depth);

static int yaml_next(struct yaml_loader *L, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&L->parser, ev)) {
		yaml_fail(L, (int)L->parser.problem_mark.line + 1, (int)L->parser.problem_mark.column + 1,
			  L->parser.problem ? L->parser.problem : "YAML syntax error");
		return -1;
	}
	return 0;
}

/* *name: a copy of the anchored node, placed where the alias is. */
static struct cnode *yaml_alias(struct yaml_loader *L, yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
	for (size_t i = L->n_anchors; i-- > 0;) {
		if (strcmp(L->anchors[i].name, name))
			continue;
		if (L->alias_nodes + L->anchors[i].size > YAML_ALIAS_NODES_MAX) {
			yaml_fail(L, line, col, "aliases expand to too many nodes");
			return NULL;
		}
		L->alias_nodes += L->anchors[i].size;
		/* The copy stands where the alias is; what is inside keeps where it was written. */
		struct cnode *c = cnode_clone(L->anchors[i].node);
		free(c->key);
		c->key = NULL;
		c->line = line;
		c->col = col;
		return c;
	}
	char msg[300];
	snprintf(msg, sizeof msg, "unknown anchor \"%s\" (an alias must follow its anchor's complete node)", name);
	yaml_fail(L, line, col, msg);
	return NULL;
}

/* Merge keys: "<<: *base" (or a list of them) adds the base mapping's entries that the mapping
 * does not set itself, whatever their order; earlier bases win over later ones. */
static int yaml_merge(struct yaml_loader *L, struct cnode *map)
{
	size_t kept = 0;
	struct cnode **merges = NULL;
	size_t n_merges = 0;
	for (size_t i = 0; i < map->n; i++) {
		struct cnode *c = map->items[i];
		if (strcmp(c->key, "<<")) {
			map->items[kept++] = c;
			continue;
		}
		merges = xrealloc(merges, (n_merges + 1) * sizeof *merges);
		merges[n_merges++] = c;
	}
	map->n = kept;
	int r = 0;
	for (size_t m = 0; m < n_merges && r == 0; m++) {
		struct cnode *v = merges[m];
		struct cnode *const *bases = v->kind == CN_SEQ ? v->items : &v;
		size_t n_bases = v->kind == CN_SEQ ? v->n : 1;
		for (size_t b = 0; b < n_bases && r == 0; b++) {
			if (bases[b]->kind != CN_MAP) {
				r = yaml_fail(L, bases[b]->line, bases[b]->col, "a merge key (<<) takes a mapping or a list of them");
				break;
			}
			for (size_t i = 0; i < bases[b]->n; i++)
				if (!cnode_get(map, bases[b]->items[i]->key))
					cnode_append(map, cnode_clone(bases[b]->items[i]));
		}
	}
	for (size_t m = 0; m < n_merges; m++)
		cnode_free(merges[m]);
	free(merges);
	return r;
}

static struct cnode *yaml_collection(struct yaml_loader *L, yaml_event_t *start, int depth)
{
	int is_map = start->type == YAML_MAPPING_START_EVENT;
	struct cnode *n = cnode_new(is_map ? CN_MAP : CN_SEQ, L->file, (int)start->start_mark.line + 1,
				    (int)start->start_mark.column + 1);
	for (;;) {
		yaml_event_t ev;
		if (yaml_next(L, &ev) < 0)
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			if (is_map && yaml_merge(L, n) < 0)
				goto fail;
			return n;
		}
		char *key = NULL;
		int key_line = 0, key_col = 0;
		if (is_map) {
			if (ev.type != YAML_SCALAR_EVENT) {
				yaml_fail(L, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
					  "a mapping key must be a plain string");
				yaml_event_delete(&ev);
				goto fail;
			}
			key = xstrdup((const char *)ev.data.scalar.value);
			key_line = (int)ev.start_mark.line + 1;
			key_col = (int)ev.start_mark.column + 1;
			yaml_event_delete(&ev);
			if (yaml_next(L, &ev) < 0) {
				free(key);
				goto fail;
			}
		}
		struct cnode *child = yaml_node(L, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (!child) {
			free(key);
			goto fail;
		}
		child->key = key;
		child->key_line = key_line;
		child->key_col = key_col;
		cnode_append(n, child);
	}
fail:
	cnode_free(n);
	return NULL;
}

static struct cnode *yaml_node(struct yaml_loader *L, yaml_event_t *ev, int depth)
{
	if (depth > 64) {
		yaml_fail(L, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "nested too deeply");
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		struct cnode *n = cnode_new(CN_SCALAR, L->file, (int)ev->start_mark.line + 1,
					    (int)ev->start_mark.column + 1);
		n->value = xstrdup((const char *)ev->data.scalar.value);
		/* A plain "~" or "null" is YAML's null; keep it as an empty string. */
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    (!strcmp(n->value, "~") || !strcmp(n->value, "null"))) {
			n->value[0] = 0;
		}
		anchor_add(L, ev->data.scalar.anchor, n);
		return n;
	}
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT: {
		/* The anchor counts once the collection is complete: an alias inside it is an error. */
		const yaml_char_t *anchor = ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.anchor
										 : ev->data.sequence_start.anchor;
		struct cnode *n = yaml_collection(L, ev, depth);
		if (n)
			anchor_add(L, anchor, n);
		return n;
	}
	case YAML_ALIAS_EVENT:
		return yaml_alias(L, ev);
	default:
		yaml_fail(L, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "unexpected YAML event");
		return NULL;
	}
}

struct cnode *cnode_load_yaml(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %m", path);
		return NULL;
	}
	struct cnode *root = cnode_load_yaml_stream(f, path, err, errlen);
	fclose(f);
	return root;
}

struct cnode *cnode_load_yaml_stream(FILE *f, const char *name, char *err, size_t errlen)
{
	struct yaml_loader L = { .file = name, .err = err, .errlen = errlen };
	struct cnode *root = NULL;
	yaml_event_t ev;
	const char *path = name;

	yaml_parser_initialize(&L.parser);
	yaml_parser_set_input_file(&L.parser, f);
	for (;;) {
		if (yaml_next(&L, &ev) < 0) {
			/* A syntax error after a complete first document still fails the file. */
			cnode_free(root);
			root = NULL;
			break;
		}
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			if (!root)
				root = cnode_new(CN_MAP, path, 1, 1); /* an empty file is an empty config */
			break;
		}
		if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_SCALAR_EVENT) {
			if (root) {
				yaml_fail(&L, (int)ev.start_mark.line + 1, 1, "only one YAML document is supported");
				yaml_event_delete(&ev);
				cnode_free(root);
				root = NULL;
				break;
			}
			root = yaml_node(&L, &ev, 0);
			yaml_event_delete(&ev);
			if (!root)
				break;
			if (root->kind != CN_MAP) {
				yaml_fail(&L, root->line, root->col, "the top level must be a mapping (services:, chains:, ...)");
				cnode_free(root);
				root = NULL;
				break;
			}
			continue;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&L.parser);
	anchors_free(&L);
	return root;
}
