/* One libev loop per thread. Everything a connection touches lives on one worker. */
#ifndef PORTWAY_WORKER_H
#define PORTWAY_WORKER_H
#include <ev.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define WORKER_SCRATCH_SIZE (64 * 1024)

struct resolver;
struct splice_pool;

typedef void (*worker_fn)(void *arg);

struct deferred {
	worker_fn fn;
	void *arg;
	struct deferred *next;
};

/* Cross-thread message to a worker: run fn(arg) on its loop. */
struct worker_msg {
	worker_fn fn;
	void *arg;
	struct worker_msg *next;
};

struct worker {
	int id;
	int control_refs;            /* the control worker's users (worker_control_new) */
	struct ev_loop *loop;
	pthread_t thread;
	char *scratch;                  /* read buffer shared by every stream of this worker */
	struct resolver *resolver;      /* c-ares channel, owned */
	struct splice_pool *splice;     /* spare kernel pipes, owned */
	ev_idle deferred_watcher;       /* runs deferred calls after the current callbacks */
	struct deferred *deferred_head, **deferred_tail;
	ev_async wakeup;                /* delivers worker_msg from other threads */
	pthread_mutex_t inbox_lock;
	struct worker_msg *inbox;
	long connections;               /* open pipes on this worker */
	int stopping;
};

extern struct worker **workers;
extern int worker_count;

struct worker *worker_of(struct ev_loop *loop);
/* Create n workers, each with its own loop; the main thread keeps the control loop. */
void workers_init(int n);
void workers_start_threads(void);
void workers_join(void);
/* Run fn(arg) later on w's loop, after the current callback stack has unwound. */
void worker_defer(struct worker *w, worker_fn fn, void *arg);
/* Run fn(arg) on w's loop from any thread. */
void worker_post(struct worker *w, worker_fn fn, void *arg);
long workers_connection_total(void);

/* A worker around the main thread's control loop (id -1, not in workers[], no resolver nor
 * splice pool): its own sockets (the metrics endpoint, the web API) use the stream runtime
 * there, and workers post to it. One per loop, shared: each new takes a reference, each free
 * drops one. drain: run what is queued (after its loop stopped); the last free drains too. */
struct worker *worker_control_new(struct ev_loop *loop);
void worker_control_drain(struct worker *w);
void worker_control_free(struct worker *w);

#endif
