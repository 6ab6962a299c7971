/*
 * GOST's web API (top-level `api`, the -api flag): HTTP/1.1 on the main thread's
 * loop, never on a worker. Reading is served from the running configuration's
 * tree; a change builds a new tree and hands it to main, which loads and applies
 * it as a reload does (src/cli/main.c).
 */
#ifndef PORTWAY_API_H
#define PORTWAY_API_H
#include <stddef.h>

struct ev_loop;
struct cnode;
struct config;
struct api_cfg;

/* What main offers the API. Statuses are HTTP's: 0 means done. */
struct api_ops {
	const struct config *(*current)(void); /* the running configuration (its root is the tree) */
	const char *(*config_path)(void);      /* the -C file, NULL with -L/-F */
	/* Load root (taken, whatever happens) as -C would and run it; 400: invalid, 409: cannot bind. */
	int (*apply)(struct cnode *root, char *msg, size_t len);
	/* As SIGHUP; 400 with the reason when refused. */
	int (*reload)(char *msg, size_t len);
};

void api_init(struct ev_loop *loop, const struct api_ops *ops);
/*
 * Serve as cfg says (NULL or no addr: stop listening). Binds anew only when the address
 * changed; cfg must live until the next call. -1 with err when the new address cannot be
 * bound (the old listener, if any, stays).
 */
int api_configure(const struct api_cfg *cfg, char *err, size_t len);
/* Stop listening and close every API connection (shutdown). */
void api_shutdown(void);
/* After the loop ended: free what is left. */
void api_fini(void);

#endif
