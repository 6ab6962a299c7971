/* A growable byte buffer: bytes in arrival order, consumed from the front. */
#ifndef PORTWAY_CORE_BUF_H
#define PORTWAY_CORE_BUF_H
#include <stddef.h>

struct buf {
	char *p;                    /* owned */
	size_t len, cap;
};

void buf_append(struct buf *b, const void *data, size_t len);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

#endif
