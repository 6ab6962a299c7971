/* A configuration tree written back out, as `portway -O yaml|json` prints the effective
 * configuration (GOST's -O). YAML goes through libyaml's emitter (it quotes what needs it). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "src/conf/cnode.h"

/* ---- YAML ---- */

static int emit(yaml_emitter_t *em, yaml_event_t *ev) { return yaml_emitter_emit(em, ev) ? 0 : -1; }

static int emit_scalar(yaml_emitter_t *em, const char *s)
{
	yaml_event_t ev;
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, YAML_ANY_SCALAR_STYLE);
	return emit(em, &ev);
}

static int emit_node(yaml_emitter_t *em, const struct cnode *n)
{
	yaml_event_t ev;
	if (n->kind == CN_SCALAR)
		return emit_scalar(em, n->value ? n->value : "");
	if (n->kind == CN_SEQ)
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
	else
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	if (emit(em, &ev) < 0)
		return -1;
	for (size_t i = 0; i < n->n; i++)
		if ((n->kind == CN_MAP && emit_scalar(em, n->items[i]->key ? n->items[i]->key : "") < 0) ||
		    emit_node(em, n->items[i]) < 0)
			return -1;
	if (n->kind == CN_SEQ)
		yaml_sequence_end_event_initialize(&ev);
	else
		yaml_mapping_end_event_initialize(&ev);
	return emit(em, &ev);
}

static int write_yaml(const struct cnode *n, FILE *f)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	int r = -1;
	if (!yaml_emitter_initialize(&em))
		return -1;
	yaml_emitter_set_output_file(&em, f);
	yaml_emitter_set_unicode(&em, 1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (emit(&em, &ev) < 0)
		goto out;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	if (emit(&em, &ev) < 0 || emit_node(&em, n) < 0)
		goto out;
	yaml_document_end_event_initialize(&ev, 1);
	if (emit(&em, &ev) < 0)
		goto out;
	yaml_stream_end_event_initialize(&ev);
	r = emit(&em, &ev);
out:
	yaml_emitter_delete(&em);
	return r;
}

/* ---- JSON ---- */

/* Numbers and booleans as they are, everything else a string. */
static int json_literal(const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "false"))
		return 1;
	const char *p = s;
	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p) || (p[0] == '0' && isdigit((unsigned char)p[1])))
		return 0;
	char *end;
	strtod(s, &end);
	return !*end;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_node(FILE *f, const struct cnode *n, int depth)
{
	if (n->kind == CN_SCALAR) {
		const char *v = n->value ? n->value : "";
		if (json_literal(v))
			fputs(v, f);
		else
			json_string(f, v);
		return;
	}
	int map = n->kind == CN_MAP;
	fputc(map ? '{' : '[', f);
	for (size_t i = 0; i < n->n; i++) {
		fprintf(f, "%s\n%*s", i ? "," : "", (depth + 1) * 2, "");
		if (map) {
			json_string(f, n->items[i]->key ? n->items[i]->key : "");
			fputs(": ", f);
		}
		json_node(f, n->items[i], depth + 1);
	}
	if (n->n)
		fprintf(f, "\n%*s", depth * 2, "");
	fputc(map ? '}' : ']', f);
}

int cnode_write(const struct cnode *n, FILE *f, int json)
{
	if (!json)
		return write_yaml(n, f);
	json_node(f, n, 0);
	fputc('\n', f);
	return ferror(f) ? -1 : 0;
}
