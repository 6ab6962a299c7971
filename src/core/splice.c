#include "src/core/splice.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "src/core/util.h"

struct splice_pool {
	int count;
	struct splice_pipe spare[SPLICE_POOL_MAX];
};

struct splice_pool *splice_pool_new(void) { return xcalloc(1, sizeof(struct splice_pool)); }

int splice_pipe_get(struct splice_pool *p, struct splice_pipe *out)
{
	int fds[2];
	if (p->count) {
		*out = p->spare[--p->count];
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	/* A bigger pipe moves more per call; past the per-user budget the kernel refuses, which is fine. */
	fcntl(fds[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
	out->rfd = fds[0];
	out->wfd = fds[1];
	out->held = 0;
	return 0;
}

void splice_pipe_put(struct splice_pool *p, struct splice_pipe *pp)
{
	if (pp->rfd < 0)
		return;
	if (pp->held == 0 && p->count < SPLICE_POOL_MAX) {
		p->spare[p->count++] = *pp;
	} else {
		close(pp->rfd);
		close(pp->wfd);
	}
	pp->rfd = pp->wfd = -1;
	pp->held = 0;
}
