/* Gateway worker pools: FIFO eviction at the cap, newest-first hand-out, collection when idle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/gateway/gateway.h"
#include "proto/json.h"
#include "src/core/log.h"
#include "src/core/util.h"

const char *gw_kind_name(enum onifast_kind k) { return k == ONIFAST_RELAY ? "relay" : "tunnel"; }

struct gw_pool *gw_pool_find(struct gw *g, const char *name, enum onifast_kind kind, int create)
{
	for (struct gw_pool *p = g->pools; p; p = p->next)
		if (p->kind == kind && !strcmp(p->name, name))
			return p;
	if (!create)
		return NULL;
	struct gw_pool *p = xcalloc(1, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	p->kind = kind;
	p->wait_tail = &p->wait_head;
	p->last_activity = ev_now(g->w->loop);
	p->next = g->pools;
	g->pools = p;
	return p;
}

static void worker_unlink(struct gw_worker *wk)
{
	struct gw_pool *p = wk->pool;
	if (wk->prev)
		wk->prev->next = wk->next;
	else
		p->head = wk->next;
	if (wk->next)
		wk->next->prev = wk->prev;
	else
		p->tail = wk->prev;
	wk->prev = wk->next = NULL;
	p->count--;
}

static void worker_drop(struct gw_worker *wk, const char *why)
{
	log_debug("gateway: %s worker of %s (%s) dropped: %s", gw_kind_name(wk->pool->kind), wk->pool->name,
		  wk->ws->peer, why);
	worker_unlink(wk);
	wk->pool->last_activity = ev_now(wk->g->w->loop);
	stream_close(wk->ws);
	free(wk);
}

/* Idle workers only speak to say they are gone. */
static void idle_read(struct stream *s, const char *data, size_t len)
{
	(void)data;
	worker_drop(s->ud, len ? "sent data while idle" : "closed by the agent");
}

static void idle_event(struct stream *s, enum stream_event ev, int err)
{
	if (ev == STREAM_EV_ERROR)
		worker_drop(s->ud, strerror(err));
}

void gw_pool_add(struct gw *g, struct gw_pool *p, struct stream *ws)
{
	if (p->wait_head && gw_waiter_serve(g, p, ws)) {
		p->last_activity = ev_now(g->w->loop);
		return;
	}
	struct gw_worker *wk = xcalloc(1, sizeof *wk);
	wk->ws = ws;
	wk->g = g;
	wk->pool = p;
	if (p->count >= g->o.max_idle && p->head)
		worker_drop(p->head, "the pool is full; the oldest worker makes room");
	wk->prev = p->tail;
	if (p->tail)
		p->tail->next = wk;
	else
		p->head = wk;
	p->tail = wk;
	p->count++;
	if (p->count == 1)
		gw_notify(g, "connected", p);
	p->last_activity = ev_now(g->w->loop);
	stream_set_callbacks(ws, idle_read, idle_event, wk);
	stream_read_start(ws);
}

struct stream *gw_pool_take(struct gw *g, struct gw_pool *p)
{
	while (p->tail) {
		struct gw_worker *wk = p->tail;
		struct stream *ws = wk->ws;
		worker_unlink(wk);
		free(wk);
		p->last_activity = ev_now(g->w->loop);
		if (ws->closed)
			continue;
		stream_read_stop(ws);
		stream_set_callbacks(ws, NULL, NULL, NULL);
		return ws;
	}
	return NULL;
}

void gw_notify(struct gw *g, const char *event, const struct gw_pool *p)
{
	char body[1024], text[256], when[40];
	size_t n = 0;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(text, sizeof text, "%s %s: %s", p->kind == ONIFAST_RELAY ? "Web Proxy" : "Tunnel",
		 !strcmp(event, "connected") ? "Connected" : "Disconnected", p->name);
	log_info("gateway: %s (%d workers)", text, p->count);
	gw_event_record(g, p, !strcmp(event, "connected"));
	if (!g->o.has_webhook)
		return;
	n += (size_t)snprintf(body + n, sizeof body - n, "{\"event\":");
	n = json_escape(body, sizeof body, n, event);
	n += (size_t)snprintf(body + n, sizeof body - n, ",\"subdomain\":");
	n = json_escape(body, sizeof body, n, p->name);
	n += (size_t)snprintf(body + n, sizeof body - n, ",\"kind\":\"%s\",\"workers\":%d,\"time\":\"%s\",\"text\":",
			      gw_kind_name(p->kind), p->count, when);
	n = json_escape(body, sizeof body, n, text);
	snprintf(body + n, sizeof body - n, "}");
	webhook_post(g->w, &g->o.webhook, body);
}

void gw_pools_collect(struct gw *g, ev_tstamp now)
{
	struct gw_pool **pp = &g->pools;
	while (*pp) {
		struct gw_pool *p = *pp;
		if (!p->count && !p->waiting && now - p->last_activity > g->o.pool_idle) {
			gw_notify(g, "disconnected", p);
			*pp = p->next;
			free(p);
			continue;
		}
		pp = &p->next;
	}
}

void gw_pools_free(struct gw *g)
{
	while (g->pools) {
		struct gw_pool *p = g->pools;
		while (p->head)
			worker_drop(p->head, "the gateway stops");
		gw_waiters_drop(p);
		g->pools = p->next;
		free(p);
	}
}
