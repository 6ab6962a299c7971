/* portway gateway: the Onifast gateway in one command, with the preset's defaults. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/main.h"

static void gateway_usage(FILE *f)
{
	fprintf(f, "Usage: portway gateway [--addr :4052] [--web :4053] [--db onifast-relay.db]\n"
		   "                       [--domain example.com]... [--token TOKEN] [--webhook URL]\n"
		   "Agents dial in on --addr (/relay, /tunnel), which also serves the management API;\n"
		   "browsers reach --web. Add tunnels with `portway tunnel add NAME --db FILE`.\n");
}

static void append(char *url, size_t cap, const char *key, const char *value)
{
	size_t n = strlen(url);
	snprintf(url + n, cap - n, "%s%s=%s", strchr(url, '?') ? "&" : "?", key, value);
}

int gateway_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "addr", required_argument, NULL, 'a' }, { "web", required_argument, NULL, 'w' },
		{ "db", required_argument, NULL, 'd' },   { "domain", required_argument, NULL, 'D' },
		{ "token", required_argument, NULL, 't' }, { "webhook", required_argument, NULL, 'k' },
		{ "debug", no_argument, NULL, 'g' },       { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = ":4052";
	char url[4096], domains[1024] = "";
	char opts[3072] = "";
	int c, debug = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': addr = optarg; break;
		case 'w': append(opts, sizeof opts, "webAddr", optarg); break;
		case 'd': append(opts, sizeof opts, "db", optarg); break;
		case 'D':
			snprintf(domains + strlen(domains), sizeof domains - strlen(domains), "%s%s", *domains ? "," : "",
				 optarg);
			break;
		case 't': append(opts, sizeof opts, "token", optarg); break;
		case 'k': append(opts, sizeof opts, "webhook", optarg); break;
		case 'g': debug = 1; break;
		case 'h': gateway_usage(stdout); return 0;
		default: gateway_usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		gateway_usage(stderr);
		return 2;
	}
	if (*domains)
		append(opts, sizeof opts, "domains", domains);
	snprintf(url, sizeof url, "gateway://%s%s", addr, opts);
	char *args[] = { "portway", "-L", url, debug ? "-D" : NULL, NULL };
	return portway_main(debug ? 4 : 3, args);
}
