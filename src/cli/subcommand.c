/* portway SUBCOMMAND: one table, one entry per subcommand. */
#include <stdio.h>
#include <string.h>

#include "src/cli/main.h"

struct subcommand {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static int help_run(int argc, char **argv);


static const struct subcommand subcommands[] = {
	{ "help", "list the subcommands", help_run },
	{ "probe", "health-check an endpoint (stream+tls, stream+dtls, relay, http, tcp)", probe_main },
	{ "tunnel", "manage gateway tunnels: add NAME, del NAME, list (--db FILE)", tunnel_main },
	{ "gateway", "run the Onifast-compatible gateway with its preset", gateway_main },
	{ "cert", "make a CA, server and client certificates (GoDoxy style)", cert_main },
};

static int help_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("portway [-C FILE | -L URL... -F URL...]   run services\n");
	for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
		printf("portway %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	return 0;
}

int subcommand_run(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
		if (!strcmp(argv[0], subcommands[i].name))
			return subcommands[i].run(argc, argv);
	fprintf(stderr, "portway: unknown subcommand \"%s\" (portway help lists them)\n", argv[0]);
	return 2;
}
