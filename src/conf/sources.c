/*
 * Where a configuration comes from, as GOST's parser reads it: several -C
 * sources merged in order, then the -L/-F URLs, or a default file when
 * nothing is named. The trees are merged before the model is built, so every
 * error still names the file, line and column it came from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "src/conf/model.h"
#include "src/core/util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

/* Top-level keys whose lists add up across sources (GOST's mergeConfig appends these). */
static const char *const list_keys[] = {
	"services", "chains", "hops", "authers", "admissions", "bypasses", "resolvers", "hosts",
	"ingresses", "sds", "recorders", "rewriters", "caches", "limiters", "quotas", "climiters",
	"rlimiters", "loggers", "routers", "observers",
};

static int is_list_key(const char *key)
{
	for (size_t i = 0; i < sizeof list_keys / sizeof *list_keys; i++)
		if (!strcasecmp(key, list_keys[i]))
			return 1;
	return 0;
}

/* Remove every top-level entry named key from map (freed). */
static void map_remove(struct cnode *map, const char *key)
{
	size_t kept = 0;
	for (size_t i = 0; i < map->n; i++) {
		if (!strcasecmp(map->items[i]->key, key))
			cnode_free(map->items[i]);
		else
			map->items[kept++] = map->items[i];
	}
	map->n = kept;
}

/* Move src's entries into dst (src is freed): lists append, anything else replaces. */
static void tree_merge(struct cnode *dst, struct cnode *src)
{
	for (size_t i = 0; i < src->n; i++) {
		struct cnode *c = src->items[i];
		struct cnode *have = cnode_get(dst, c->key);
		if (have && have->kind == CN_SEQ && c->kind == CN_SEQ && is_list_key(c->key)) {
			for (size_t k = 0; k < c->n; k++)
				cnode_append(have, c->items[k]);
			c->n = 0;
			cnode_free(c);
			continue;
		}
		map_remove(dst, c->key);
		cnode_append(dst, c);
	}
	src->n = 0;
	cnode_free(src);
}

/* One -C source as a tree; its name (for positions) lives in names. */
static struct cnode *load_source(const char *src, const char *name, struct cfg_err *e)
{
	if (!strcmp(src, "-"))
		return cnode_load_yaml_stream(stdin, name, e->msg, sizeof e->msg);
	size_t n = strlen(src);
	if (n >= 2 && src[0] == '{' && src[n - 1] == '}') {
		/* Inline JSON, which YAML reads too. */
		FILE *f = fmemopen((void *)src, n, "r");
		if (!f) {
			snprintf(e->msg, sizeof e->msg, "%s: cannot read: %m", name);
			return NULL;
		}
		struct cnode *root = cnode_load_yaml_stream(f, name, e->msg, sizeof e->msg);
		fclose(f);
		return root;
	}
	return cnode_load_yaml(src, e->msg, sizeof e->msg);
}

static const char *source_name(const char *src)
{
	if (!strcmp(src, "-"))
		return "stdin";
	size_t n = strlen(src);
	return n >= 2 && src[0] == '{' && src[n - 1] == '}' ? "inline JSON" : src;
}

struct config *config_load_sources(char **sources, int n_sources, char **L, int nL, char **F, int nF,
				   const char *api_flag, struct cfg_err *e)
{
	/* Every node points at its source's name: one buffer, "name\0name\0...", owned by the config. */
	size_t len = sizeof "command line";
	for (int i = 0; i < n_sources; i++)
		len += strlen(source_name(sources[i])) + 1;
	char *names = xmalloc(len), *p = names;
	const char *first = NULL;
	struct cnode *root = NULL;
	for (int i = 0; i < n_sources; i++) {
		p = stpcpy(p, source_name(sources[i])) + 1;
		const char *name = p - strlen(source_name(sources[i])) - 1;
		struct cnode *t = load_source(sources[i], name, e);
		if (!t)
			goto fail;
		if (!root) {
			root = t;
			first = name;
		} else {
			tree_merge(root, t);
		}
	}
	strcpy(p, "command line");
	if (nL || nF) {
		struct cnode *t = config_tree_from_urls(L, nL, F, nF, p, e);
		if (!t)
			goto fail;
		if (root)
			tree_merge(root, t);
		else
			root = t;
	}
	if (!root)
		root = cnode_new(CN_MAP, first ? first : p, 1, 1);
	if (api_flag && config_set_api_flag(root, api_flag, e) < 0)
		goto fail;
	/* The config owns the names from here; as its path they name the first source. */
	return config_from_tree(root, names, e);
fail:
	cnode_free(root);
	free(names);
	return NULL;
}

const char *config_default_path(char *buf, size_t cap)
{
	static const char *const exts[] = { "yaml", "yml", "json" };
	const char *home = getenv("HOME");
	snprintf(buf, cap, "%s/portway/portway.yaml", SYSCONFDIR);
	if (access(buf, R_OK) == 0)
		return buf;
	const char *dirs[] = { "/etc/gost", NULL, "." };
	char homedir[512] = "";
	if (home && *home) {
		snprintf(homedir, sizeof homedir, "%s/.gost", home);
		dirs[1] = homedir;
	}
	for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
		if (!dirs[d])
			continue;
		for (size_t x = 0; x < sizeof exts / sizeof *exts; x++) {
			snprintf(buf, cap, "%s/gost.%s", dirs[d], exts[x]);
			if (access(buf, R_OK) == 0)
				return buf;
		}
	}
	return NULL;
}
