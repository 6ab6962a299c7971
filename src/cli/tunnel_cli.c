/* portway tunnel add|del|list [--db FILE]: manage the gateway's tunnels. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "src/cli/main.h"
#include "src/gateway/store.h"

#define DEFAULT_DB "onifast-relay.db"

static void tunnel_usage(FILE *f)
{
	fprintf(f, "Usage: portway tunnel add NAME [--db FILE]   create a tunnel; prints its secret once\n"
		   "       portway tunnel del NAME [--db FILE]   remove a tunnel\n"
		   "       portway tunnel list [--db FILE]       list tunnels\n"
		   "FILE defaults to ./" DEFAULT_DB ".\n");
}

static void print_tunnel(void *ctx, const char *name, long created_at)
{
	char when[32];
	time_t t = (time_t)created_at;
	struct tm tm;
	(void)ctx;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-32s %s\n", name, when);
}

int tunnel_main(int argc, char **argv)
{
	static const struct option longopts[] = { { "db", required_argument, NULL, 'd' },
						  { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	const char *db = DEFAULT_DB, *args[2] = { NULL, NULL };
	int nargs = 0, c;
	char err[512];

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		if (c == 'd') {
			db = optarg;
		} else {
			tunnel_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	for (; optind < argc && nargs < 2; optind++)
		args[nargs++] = argv[optind];
	if (!nargs || optind < argc) {
		tunnel_usage(stderr);
		return 2;
	}
	int needs_name = !strcmp(args[0], "add") || !strcmp(args[0], "del");
	if ((needs_name && nargs != 2) || (!needs_name && (strcmp(args[0], "list") || nargs != 1))) {
		tunnel_usage(stderr);
		return 2;
	}
	if (needs_name && !store_name_valid(args[1])) {
		fprintf(stderr, "portway tunnel: \"%s\" is not a valid name (1-63 of a-z, 0-9 and -, as a DNS label)\n",
			args[1]);
		return 2;
	}
	struct store *st = store_open(db, err, sizeof err);
	if (!st) {
		fprintf(stderr, "portway tunnel: %s\n", err);
		return 1;
	}
	int rc = 0;
	if (!strcmp(args[0], "add")) {
		char secret[STORE_SECRET_LEN + 1];
		int r = store_tunnel_add(st, args[1], secret);
		if (r == -1) {
			fprintf(stderr, "portway tunnel: a tunnel named \"%s\" exists already\n", args[1]);
			rc = 1;
		} else if (r < 0) {
			fprintf(stderr, "portway tunnel: cannot write %s\n", db);
			rc = 1;
		} else {
			/* The secret is the last word on stdout: scripts take it with `| tail -n1 | awk '{print $NF}'`. */
			printf("tunnel %s added; its secret is shown only now:\n%s\n", args[1], secret);
		}
	} else if (!strcmp(args[0], "del")) {
		int r = store_tunnel_del(st, args[1]);
		if (r == -1)
			fprintf(stderr, "portway tunnel: no tunnel named \"%s\"\n", args[1]);
		else if (r == 0)
			printf("tunnel %s removed\n", args[1]);
		rc = r ? 1 : 0;
	} else {
		rc = store_tunnel_list(st, print_tunnel, NULL) < 0;
	}
	store_close(st);
	return rc;
}
