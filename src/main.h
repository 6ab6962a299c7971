/* Subcommands (portway probe, portway tunnel, ...): src/subcommand.c. */
#ifndef PORTWAY_MAIN_H
#define PORTWAY_MAIN_H
int subcommand_run(int argc, char **argv);
#endif
