#include "src/core/worker.h"

#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/core/resolve.h"
#include "src/core/splice.h"
#include "src/core/util.h"

struct worker **workers;
int worker_count;

struct worker *worker_of(struct ev_loop *loop) { return ev_userdata(loop); }

static void deferred_run(struct ev_loop *loop, ev_idle *idle, int revents)
{
	struct worker *w = idle->data;
	(void)revents;
	/* Run only what was queued so far; calls queued meanwhile wait for the next round. */
	struct deferred *d = w->deferred_head;
	w->deferred_head = NULL;
	w->deferred_tail = &w->deferred_head;
	ev_idle_stop(loop, idle);
	while (d) {
		struct deferred *next = d->next;
		d->fn(d->arg);
		free(d);
		d = next;
	}
}

void worker_defer(struct worker *w, worker_fn fn, void *arg)
{
	struct deferred *d = xmalloc(sizeof *d);
	d->fn = fn;
	d->arg = arg;
	d->next = NULL;
	*w->deferred_tail = d;
	w->deferred_tail = &d->next;
	ev_idle_start(w->loop, &w->deferred_watcher);
}

static void inbox_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = a->data;
	(void)loop;
	(void)revents;
	pthread_mutex_lock(&w->inbox_lock);
	struct worker_msg *m = w->inbox;
	w->inbox = NULL;
	pthread_mutex_unlock(&w->inbox_lock);
	/* The inbox is a stack; run in the order posted. */
	struct worker_msg *rev = NULL;
	while (m) {
		struct worker_msg *n = m->next;
		m->next = rev;
		rev = m;
		m = n;
	}
	while (rev) {
		struct worker_msg *n = rev->next;
		rev->fn(rev->arg);
		free(rev);
		rev = n;
	}
}

void worker_post(struct worker *w, worker_fn fn, void *arg)
{
	struct worker_msg *m = xmalloc(sizeof *m);
	m->fn = fn;
	m->arg = arg;
	pthread_mutex_lock(&w->inbox_lock);
	m->next = w->inbox;
	w->inbox = m;
	pthread_mutex_unlock(&w->inbox_lock);
	ev_async_send(w->loop, &w->wakeup);
}

static void worker_setup(struct worker *w, int id, struct ev_loop *loop)
{
	w->id = id;
	w->loop = loop;
	ev_set_userdata(w->loop, w);
	w->scratch = xmalloc(WORKER_SCRATCH_SIZE);
	w->deferred_head = NULL;
	w->deferred_tail = &w->deferred_head;
	ev_idle_init(&w->deferred_watcher, deferred_run);
	w->deferred_watcher.data = w;
	pthread_mutex_init(&w->inbox_lock, NULL);
	ev_async_init(&w->wakeup, inbox_cb);
	w->wakeup.data = w;
	ev_async_start(w->loop, &w->wakeup);
}

void workers_init(int n)
{
	worker_count = n;
	workers = xcalloc((size_t)n, sizeof *workers);
	for (int i = 0; i < n; i++) {
		struct worker *w = xcalloc(1, sizeof *w);
		worker_setup(w, i, ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK));
		w->resolver = resolver_new(w->loop);
		w->splice = splice_pool_new();
		workers[i] = w;
	}
}

struct worker *worker_control_new(struct ev_loop *loop)
{
	struct worker *w = ev_userdata(loop);
	if (w && w->id == -1) {
		w->control_refs++;
		return w;
	}
	w = xcalloc(1, sizeof *w);
	worker_setup(w, -1, loop);
	w->control_refs = 1;
	return w;
}

void worker_control_drain(struct worker *w)
{
	for (int round = 0; round < 16 && (w->inbox || w->deferred_head); round++) {
		inbox_cb(w->loop, &w->wakeup, 0);
		deferred_run(w->loop, &w->deferred_watcher, 0);
	}
}

void worker_control_free(struct worker *w)
{
	if (!w || --w->control_refs > 0)
		return;
	worker_control_drain(w);
	ev_set_userdata(w->loop, NULL);
	ev_async_stop(w->loop, &w->wakeup);
	ev_idle_stop(w->loop, &w->deferred_watcher);
	pthread_mutex_destroy(&w->inbox_lock);
	free(w->scratch);
	free(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	log_thread_async();
	ev_run(w->loop, 0);
	return NULL;
}

void workers_start_threads(void)
{
	for (int i = 0; i < worker_count; i++)
		if (pthread_create(&workers[i]->thread, NULL, worker_main, workers[i])) {
			log_error("cannot start worker thread %d", i);
			abort();
		}
}

static void worker_break(void *arg)
{
	struct worker *w = arg;
	ev_break(w->loop, EVBREAK_ALL);
}

void workers_join(void)
{
	for (int i = 0; i < worker_count; i++)
		worker_post(workers[i], worker_break, workers[i]);
	for (int i = 0; i < worker_count; i++)
		pthread_join(workers[i]->thread, NULL);
}

long workers_connection_total(void)
{
	long total = 0;
	for (int i = 0; i < worker_count; i++)
		total += __atomic_load_n(&workers[i]->connections, __ATOMIC_RELAXED);
	return total;
}
