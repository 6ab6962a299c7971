/* The NAT relay's control lines, without I/O (doc/natrelay.md): "[PORT] <n>\n" and "[NEW] <n>\n". */
#ifndef PORTWAY_NATRELAY_H
#define PORTWAY_NATRELAY_H
#include <stddef.h>

#define NATRELAY_LINE_MAX 32

enum natrelay_line_kind { NATRELAY_PORT, NATRELAY_NEW };

/* One line from buf: bytes consumed (through '\n'), 0 when more are needed, -1 malformed or too long. */
int natrelay_line_parse(const char *buf, size_t len, enum natrelay_line_kind *kind, int *port);
int natrelay_line_write(char *out, size_t cap, enum natrelay_line_kind kind, int port);

#endif
