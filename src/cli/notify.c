/*
 * systemd's service notifications (Type=notify): READY once the services run,
 * RELOADING and READY again around a SIGHUP (with the outcome in STATUS),
 * STOPPING at shutdown, and the watchdog. The watchdog is fed only while every
 * worker loop answers: a wedged worker stops the pings and systemd restarts
 * the service. Without NOTIFY_SOCKET every call does nothing.
 */
#include <ev.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "src/cli/main.h"
#include "src/core/log.h"
#include "src/core/worker.h"

static ev_timer watchdog_timer;
static int pings_sent, pongs;        /* pongs: atomic, from the workers */
static int worker_stuck_logged;

void notify_ready(size_t n_services)
{
	sd_notifyf(0, "READY=1\nSTATUS=running %zu services", n_services);
}

void notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		   (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void notify_reload_done(int ok, size_t n_services)
{
	if (ok)
		sd_notifyf(0, "READY=1\nSTATUS=reload done: running %zu services", n_services);
	else
		sd_notifyf(0, "READY=1\nSTATUS=reload rejected, running the previous configuration (%zu services)",
			   n_services);
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: draining connections");
}

static void worker_pong(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&pongs, 1, __ATOMIC_RELAXED);
}

static void watchdog_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
	if (__atomic_load_n(&pongs, __ATOMIC_RELAXED) == pings_sent) {
		sd_notify(0, "WATCHDOG=1");
		worker_stuck_logged = 0;
	} else if (!worker_stuck_logged++) {
		log_error("watchdog: a worker loop did not answer within %.1fs; not feeding systemd's watchdog",
			  t->repeat);
	}
	for (int i = 0; i < worker_count; i++) {
		pings_sent++;
		worker_post(workers[i], worker_pong, NULL);
	}
}

void notify_watchdog_start(struct ev_loop *loop)
{
	uint64_t usec;
	if (sd_watchdog_enabled(0, &usec) <= 0 || !usec)
		return;
	/* Twice per period, as sd_watchdog_enabled(3) advises. */
	ev_timer_init(&watchdog_timer, watchdog_tick, 0, (double)usec / 2e6);
	ev_timer_again(loop, &watchdog_timer);
	sd_notify(0, "WATCHDOG=1");
	for (int i = 0; i < worker_count; i++) {
		pings_sent++;
		worker_post(workers[i], worker_pong, NULL);
	}
}

void notify_watchdog_stop(struct ev_loop *loop) { ev_timer_stop(loop, &watchdog_timer); }
