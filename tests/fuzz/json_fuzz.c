#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object o;
	if (json_object_parse((const char *)data, size, &o) == 0) {
		/* Every string value re-escaped must parse back to itself. */
		for (size_t i = 0; i < o.n; i++) {
			if (o.f[i].type != JSON_STRING)
				continue;
			char buf[8 * JSON_STR_MAX], doc[8 * JSON_STR_MAX + 16];
			json_escape(buf, sizeof buf, 0, o.f[i].str);
			strcpy(doc, "{\"k\":");
			strcat(doc, buf);
			strcat(doc, "}");
			struct json_object back;
			if (json_object_parse(doc, strlen(doc), &back) != 0 || strcmp(back.f[0].str, o.f[i].str))
				abort();
		}
	}
	return 0;
}
