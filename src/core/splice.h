/* A per-worker pool of kernel pipes for splice(2): taken when data moves, returned when drained. */
#ifndef PORTWAY_SPLICE_H
#define PORTWAY_SPLICE_H
#include <stddef.h>

#define SPLICE_POOL_MAX 64
#define SPLICE_PIPE_SIZE (256 * 1024)

struct splice_pipe {
	int rfd, wfd;
	size_t held;   /* bytes inside the kernel pipe */
};

struct splice_pool;
struct splice_pool *splice_pool_new(void);
/* 0 and a pipe, or -1 (out of descriptors: the caller falls back to copying). */
int splice_pipe_get(struct splice_pool *p, struct splice_pipe *out);
void splice_pipe_put(struct splice_pool *p, struct splice_pipe *pp);

#endif
