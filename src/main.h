/* Subcommands (portway probe, portway tunnel, ...): src/subcommand.c. */
#ifndef PORTWAY_MAIN_H
#define PORTWAY_MAIN_H
int subcommand_run(int argc, char **argv);
/* Run services as `portway [-C FILE | -L URL... -F URL...]` would (argv[0] is the program name). */
int portway_main(int argc, char **argv);
#endif
